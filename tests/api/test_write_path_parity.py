"""Every door records the same decision: the API, ``pipeline batch``, an API import and a CLI import write
events that agree field for field (evidence included, but for the keys that name the door), and an API
``expire`` records what the expiry sweep records. API doors carry the HTTP request id, CLI doors
``cli-<uuid>``."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from api_support import BASE, Caller, make_uscc
from fastapi.testclient import TestClient
from imports_support import write_csv
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.cli import main
from pipeline.dynamic.sweep import REASON as SWEEP_REASON
from pipeline.models import Event

COMPARED = ("kind", "trigger", "from_state", "to_state", "effective_date", "reason_code", "reason", "rulebook_id",
            "rulebook_hash")
DOOR_KEYS = {"import", "file_name", "file_sha256", "row", "source"}
BATCH = "2024-豫-3"
#: (trigger, effective date, 文号) — a firm walked up every tier and renewed
STEPS = [
    ("recognize_innovative", "2024-03-01", "豫工信企业〔2024〕11号"),
    ("recognize_provincial", "2024-06-03", "豫工信企业〔2024〕22号"),
    ("recognize_national", "2024-09-02", "工信厅企业函〔2024〕33号"),
    ("renew", "2025-05-06", "复核〔2025〕44号"),
]
ENROLLED_ON = "2024-01-10"
CLI_REQUEST_ID = re.compile(r"^cli-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _events(factory: sessionmaker[Session], uscc: str) -> list[Event]:
    with factory() as session:
        return list(session.scalars(select(Event).where(Event.uscc == uscc).order_by(Event.seq)))


def _decision(event: Event) -> dict[str, Any]:
    return {**{name: getattr(event, name) for name in COMPARED},
            "evidence": {k: v for k, v in event.evidence.items() if k not in DOOR_KEYS}}


def _cli(database_url: str, *argv: str) -> None:
    assert main(["--database-url", database_url, *argv]) == 0


def _import_file(tmp_path: Path, name: str, uscc: str, on: str, document_no: str) -> Path:
    return write_csv(tmp_path / name, [(1, uscc, "平等测试企业", "", on, document_no)])


def _through_api(client: TestClient, caller: Caller, uscc: str) -> set[str]:
    ids = set()
    response = client.post(BASE, headers=caller.headers,
                           json={"uscc": uscc, "name": "平等测试企业", "effective_date": ENROLLED_ON})
    assert response.status_code == 201, response.text
    ids.add(response.headers["X-Request-ID"])
    for trigger, on, document_no in STEPS:
        response = client.post(f"{BASE}/{uscc}/transitions", headers=caller.headers, json={
            "trigger": trigger, "effective_date": on, "evidence": {"document_no": document_no, "batch": BATCH}})
        assert response.status_code == 200, response.text
        ids.add(response.headers["X-Request-ID"])
    return ids


def _through_api_import(client: TestClient, caller: Caller, uscc: str, tmp_path: Path) -> set[str]:
    ids = set()
    for action, on, document_no in [("enroll", ENROLLED_ON, ""), *STEPS]:
        path = _import_file(tmp_path, f"api-{action}.csv", uscc, on, document_no)
        with path.open("rb") as stream:
            response = client.post("/api/v1/imports", headers=caller.headers, files={"file": (path.name, stream)},
                                   data={"action": action, "dry_run": "false",
                                         **({"batch": BATCH} if action != "enroll" else {})})
        assert response.status_code == 200, response.text
        assert response.json()["applied"] is True, response.text
        ids.add(response.headers["X-Request-ID"])
    return ids


def _through_cli_import(database_url: str, uscc: str, tmp_path: Path) -> None:
    for action, on, document_no in [("enroll", ENROLLED_ON, ""), *STEPS]:
        path = _import_file(tmp_path, f"cli-{action}.csv", uscc, on, document_no)
        _cli(database_url, "import", str(path), "--action", action, "--apply",
             *(["--batch", BATCH] if action != "enroll" else []))


def _through_batch(database_url: str, uscc: str, tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    lines = ["uscc,trigger,effective_date,reason_code,reason,document_no,batch,valid_until"]
    lines += [f"{uscc},{trigger},{on},,,{document_no},{BATCH}," for trigger, on, document_no in STEPS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _cli(database_url, "batch", str(path))


def test_every_door_records_the_same_decisions(
        client: TestClient, admin: Caller, database_url: str, api_sessions: sessionmaker[Session],
        tmp_path: Path) -> None:
    api, api_import, cli_import, batch = (make_uscc("410106", n) for n in (901, 902, 903, 904))
    api_ids = _through_api(client, admin, api)
    api_import_ids = _through_api_import(client, admin, api_import, tmp_path)
    _through_cli_import(database_url, cli_import, tmp_path)
    response = client.post(BASE, headers=admin.headers,
                           json={"uscc": batch, "name": "平等测试企业", "effective_date": ENROLLED_ON})
    assert response.status_code == 201, response.text
    _through_batch(database_url, batch, tmp_path)

    expected = [_decision(e) for e in _events(api_sessions, api)]
    assert [d["trigger"] for d in expected] == ["enroll", *(step[0] for step in STEPS)]
    assert "eligibility_warning" in expected[1]["evidence"]  # recorded by every door, not only the service
    for uscc in (api_import, cli_import, batch):
        assert [_decision(e) for e in _events(api_sessions, uscc)] == expected, uscc

    assert {e.request_id for e in _events(api_sessions, api)} == api_ids
    assert {e.request_id for e in _events(api_sessions, api_import)} == api_import_ids
    for uscc in (cli_import, batch):
        recorded = [e.request_id for e in _events(api_sessions, uscc)][1 if uscc == batch else 0:]
        assert all(CLI_REQUEST_ID.match(str(value)) for value in recorded), recorded


@pytest.mark.parametrize("door", ["cli", "api"])
def test_an_api_expire_records_what_the_sweep_records(
        client: TestClient, admin: Caller, database_url: str, api_sessions: sessionmaker[Session],
        door: str) -> None:
    by_hand, by_sweep = make_uscc("410106", 911), make_uscc("410106", 912)
    for uscc in (by_hand, by_sweep):
        response = client.post(BASE, headers=admin.headers,
                               json={"uscc": uscc, "name": "到期企业", "effective_date": "2022-01-04"})
        assert response.status_code == 201, response.text
        response = client.post(f"{BASE}/{uscc}/transitions", headers=admin.headers, json={
            "trigger": "recognize_innovative", "effective_date": "2022-01-10",
            "evidence": {"document_no": "豫工信企业〔2022〕1号"}})
        assert response.status_code == 200, response.text
    lapsed_on = _events(api_sessions, by_hand)[-1].evidence["valid_until"]

    expire_day = str(dt.date.fromisoformat(lapsed_on) + dt.timedelta(days=1))
    response = client.post(f"{BASE}/{by_hand}/transitions", headers=admin.headers, json={
        "trigger": "expire", "effective_date": expire_day, "reason_code": "expired", "reason": SWEEP_REASON})
    assert response.status_code == 200, response.text
    if door == "cli":
        _cli(database_url, "sweep", "--apply", "--as-of", "2025-06-30", "--no-flags")
    else:
        response = client.post("/api/v1/dynamic-management/sweeps", headers=admin.headers,
                               json={"as_of": "2025-06-30", "apply": True})
        assert response.status_code == 200, response.text

    hand, swept = _events(api_sessions, by_hand)[-1], _events(api_sessions, by_sweep)[-1]
    assert swept.trigger == "expire"
    assert _decision(swept) == _decision(hand)
    assert swept.evidence["lapsed"] == {"tier": "innovative", "valid_until": lapsed_on}
    assert "sweep" in swept.evidence["source"]
