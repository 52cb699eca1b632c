"""Loans recorded by banks: the ceiling on the signing day kept with each loan, bank isolation, the report."""

from __future__ import annotations

from typing import Any

from api_support import Caller, assert_problem, enroll, fire, make_uscc
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from pipeline.db import unit_of_work
from pipeline.history import ledger
from pipeline.principals.service import add_principal

ZZ_DISTRICT = "410102"


def _bank(factory: sessionmaker[Session], name: str) -> Caller:
    with unit_of_work(factory) as session:
        created = add_principal(session, name=name, role="integrator", level=None, region_code="410000",
                                grants=["record_loan"], created_by="cli:test")
        return Caller(created.principal.id, created.token)


def _loan(contract_no: str, amount: int, *, signed_on: str = "2025-03-01", matures_on: str = "2026-02-28",
          secured: bool = False, bank: str = "郑州银行") -> dict[str, Any]:
    return {"bank": bank, "product": "专精特新贷", "contract_no": contract_no, "amount_yuan": amount,
            "signed_on": signed_on, "matures_on": matures_on, "secured": secured}


def _post(client: TestClient, bank: Caller, uscc: str, body: dict[str, Any], expect: int = 201,
          **headers: str) -> dict[str, Any]:
    response = client.post(f"/api/v1/enterprises/{uscc}/loans", json=body, headers=bank.with_headers(**headers))
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


def test_banks_record_loans_against_the_ceiling_of_the_signing_day_and_see_only_their_own(
        client: TestClient, principals: dict[str, Caller], api_sessions: sessionmaker[Session]) -> None:
    city = principals["city"]
    firm = make_uscc(ZZ_DISTRICT, 1601)
    enroll(client, city, firm, on="2022-01-10")
    fire(client, city, firm, "recognize_innovative", "2022-03-01")
    fire(client, city, firm, "recognize_provincial", "2024-06-01")
    bank_a, bank_b = _bank(api_sessions, "郑州银行"), _bank(api_sessions, "中原银行")

    first = _post(client, bank_a, firm, _loan("ZZB-1", 20_000_000), Idempotency_Key="loan-zzb-1")
    assert (first["ceiling_yuan"], first["headroom_yuan"], first["over_ceiling"]) == (30_000_000, 30_000_000, False)
    assert first["bank_id"] == bank_a.id
    assert first["ceiling_checked_at"]
    assert [p["id"] for p in first["policies"] if p["used_for"] == "ceiling"] == ["zhengzhou-2025-4"]
    again = _post(client, bank_a, firm, _loan("ZZB-1", 20_000_000), Idempotency_Key="loan-zzb-1")
    assert again == first  # the retried request is answered from the stored response
    assert_problem(client.post(f"/api/v1/enterprises/{firm}/loans", json=_loan("ZZB-1", 1_000_000),
                               headers=bank_a.headers), 409, "already-exists")
    over = _post(client, bank_b, firm, _loan("ZYB-1", 15_000_000, signed_on="2025-04-01", matures_on="2025-06-30",
                                              bank="中原银行"))
    assert (over["headroom_yuan"], over["over_ceiling"]) == (10_000_000, True)
    secured = _post(client, bank_b, firm, _loan("ZYB-2", 80_000_000, signed_on="2025-04-01", secured=True))
    assert secured["over_ceiling"] is False
    before_pack = _post(client, bank_b, firm, _loan("ZYB-3", 1_000_000, signed_on="2025-01-05"))
    assert (before_pack["ceiling_yuan"], before_pack["over_ceiling"]) == (None, False)

    credit = client.get(f"/api/v1/enterprises/{firm}/credit", params={"as_of": "2025-05-01"},
                        headers=bank_a.headers).json()
    assert (credit["outstanding_yuan"], credit["headroom_yuan"]) == (36_000_000, 0)  # secured loans do not count

    # bank isolation: another bank's loan is absent, to read and to repay
    assert_problem(client.get(f"/api/v1/loans/{first['id']}", headers=bank_b.headers), 404, "not-found")
    assert_problem(client.post(f"/api/v1/loans/{first['id']}/repay", json={"repaid_on": "2025-05-01"},
                               headers=bank_b.headers), 404, "not-found")
    own = client.get("/api/v1/loans", params={"as_of": "2025-12-01"}, headers=bank_b.headers).json()["items"]
    assert {loan["contract_no"] for loan in own} == {"ZYB-1", "ZYB-2", "ZYB-3"}
    assert next(loan for loan in own if loan["contract_no"] == "ZYB-1")["overdue"] is True  # matured 2025-06-30

    repaid = client.post(f"/api/v1/loans/{first['id']}/repay", json={"repaid_on": "2025-06-01",
                                                                     "amount_yuan": 5_000_000},
                         headers=bank_a.headers)
    assert repaid.status_code == 200, repaid.text
    assert (repaid.json()["repaid_yuan"], repaid.json()["outstanding_yuan"]) == (5_000_000, 15_000_000)
    assert_problem(client.post(f"/api/v1/loans/{first['id']}/repay", json={"repaid_on": "2025-06-02",
                                                                           "amount_yuan": 16_000_000},
                               headers=bank_a.headers), 422, "validation-error")
    for day, owed in (("2025-05-31", 36_000_000), ("2025-06-01", 31_000_000)):
        assert client.get(f"/api/v1/enterprises/{firm}/credit", params={"as_of": day},
                          headers=city.headers).json()["outstanding_yuan"] == owed

    # officials see every bank's loans in their jurisdiction; they record none
    listed = client.get("/api/v1/loans", params={"as_of": "2025-12-01", "bank": bank_a.id},
                        headers=city.headers).json()["items"]
    assert [loan["contract_no"] for loan in listed] == ["ZZB-1"]
    assert client.get("/api/v1/loans", headers=principals["sanmenxia"].headers).json()["items"] == []
    assert_problem(client.post(f"/api/v1/enterprises/{firm}/loans", json=_loan("X-1", 1), headers=city.headers),
                   403, "forbidden")
    assert_problem(client.post(f"/api/v1/enterprises/{firm}/loans", json=_loan("X-1", 1),
                               headers=principals["integrator"].headers), 403, "forbidden")  # not granted

    # each bank's loans are its own chain; the firm's chain has no loan in it
    with api_sessions() as session:
        chain = ledger.records(session, "loans", bank_a.id)
        assert [(r.seq, r.action) for r in chain] == [(1, "record"), (2, "repay")]
        assert ledger.verify_chains(session, "loans") == []
    history = client.get(f"/api/v1/enterprises/{firm}/history", headers=city.headers).json()["items"]
    assert [e["trigger"] for e in history] == ["enroll", "recognize_innovative", "recognize_provincial"]

    report = client.get("/api/v1/reports/credit", params={"as_of": "2025-05-01"}, headers=principals["auditor"].headers)
    assert report.status_code == 200, report.text
    tiers = {row["tier"]: row for row in report.json()["tiers"]}
    assert {k: tiers["provincial"][k] for k in ("firms", "whitelisted", "firms_with_loan", "loans",
                                                  "outstanding_yuan", "ceilings_yuan", "ceiling_used")} == {
        "firms": 1, "whitelisted": 1, "firms_with_loan": 1, "loans": 4, "outstanding_yuan": 116_000_000,
        "ceilings_yuan": 30_000_000, "ceiling_used": 1.2}
    assert tiers["national"]["firms"] == 0
    assert_problem(client.get("/api/v1/reports/credit", headers=bank_a.headers), 403, "forbidden")
