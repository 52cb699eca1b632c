"""Correction 2: the rulebook bounds what an integration client may ever be granted (`integrator_grantable`);
`principal add --grant` refuses anything else, and a grant made before the bound stops working, with a
one-line warning in `principal list`."""

from __future__ import annotations

import pytest
from api_support import BASE, Caller, assert_problem, enroll, make_uscc, transition_body
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from test_api_principal_cli import run

from pipeline.models import Principal


def test_principal_add_refuses_a_decision_as_an_integrator_grant(
        capsys: pytest.CaptureFixture[str], database_url: str) -> None:
    for grant in ("recognize_national", "renew", "remove", "grant_side_title"):
        code, out, err = run(capsys, database_url, "principal", "add", "--name", "银行平台", "--role", "integrator",
                             "--region", "410000", "--grant", grant)
        assert code == 1
        assert len(err.strip().splitlines()) == 1
        assert f"does not let an integrator be granted {grant!r}" in err
        assert "zjtx_" not in out


def test_principal_add_accepts_record_loan_of_the_credit_platform(
        capsys: pytest.CaptureFixture[str], database_url: str) -> None:
    code, out, _ = run(capsys, database_url, "principal", "add", "--name", "专精特新贷平台", "--role", "integrator",
                       "--region", "410000", "--grant", "record_loan", "--grant", "enroll")
    assert code == 0
    assert out.splitlines()[-1].startswith("zjtx_")


def test_an_earlier_grant_outside_the_list_stops_working_and_is_flagged_in_the_list(
        capsys: pytest.CaptureFixture[str], database_url: str, client: TestClient, city: Caller,
        integrator: Caller, api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 91)
    enroll(client, city, uscc)
    with api_sessions() as session:  # as a grant made before the rulebook bounded them would be stored
        session.execute(update(Principal).where(Principal.id == integrator.id)
                        .values(grants=["enroll", "recognize_innovative"]))
        session.commit()
    refused = client.post(f"{BASE}/{uscc}/transitions", headers=integrator.headers,
                          json=transition_body("recognize_innovative", "2025-02-01"))
    body = assert_problem(refused, 403, "forbidden")
    assert "integrator_grantable" in body["detail"]
    code, listing, _ = run(capsys, database_url, "principal", "list")
    assert code == 0
    warnings = [line for line in listing.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert integrator.id in warnings[0]
    assert "recognize_innovative" in warnings[0]
