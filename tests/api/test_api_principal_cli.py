"""`pipeline principal add/list/revoke`: the token is printed once, alone on the last line, and only hashed."""

from __future__ import annotations

import pytest
from api_support import BASE, assert_problem
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pipeline import cli
from pipeline.models import Principal
from pipeline.principals.service import hash_token


def run(capsys: pytest.CaptureFixture[str], database_url: str, *args: str) -> tuple[int, str, str]:
    code = cli.main(["--database-url", database_url, *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_prints_a_working_token_and_stores_only_its_hash(
        capsys: pytest.CaptureFixture[str], database_url: str, client: TestClient,
        api_sessions: sessionmaker[Session]) -> None:
    code, out, _ = run(capsys, database_url, "principal", "add", "--name", "郑州市工信局", "--role", "official",
                       "--level", "city", "--region", "410100")
    assert code == 0
    token = out.splitlines()[-1]
    assert token.startswith("zjtx_")
    assert " " not in token
    with api_sessions() as session:
        principal = session.scalars(select(Principal)).one()
        assert principal.token_hash == hash_token(token)
        assert token not in {str(getattr(principal, column.key)) for column in Principal.__table__.columns}
    assert principal.id in out
    response = client.get(BASE, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_list_then_revoke(capsys: pytest.CaptureFixture[str], database_url: str, client: TestClient) -> None:
    run(capsys, database_url, "principal", "add", "--name", "财政系统", "--role", "integrator", "--region", "410000",
        "--grant", "enroll")
    _, out, _ = run(capsys, database_url, "principal", "add", "--name", "审计", "--role", "auditor",
                    "--region", "410100")
    token = out.splitlines()[-1]
    code, listing, _ = run(capsys, database_url, "principal", "list")
    assert code == 0
    assert "财政系统" in listing
    assert "enroll" in listing
    assert "审计" in listing
    assert token not in listing
    auditor_id = next(line.split()[0] for line in listing.splitlines() if "审计" in line)
    code, out, _ = run(capsys, database_url, "principal", "revoke", auditor_id)
    assert code == 0
    assert "revoked" in out
    _, listing, _ = run(capsys, database_url, "principal", "list")
    assert "revoked" in next(line for line in listing.splitlines() if "审计" in line)
    assert_problem(client.get(BASE, headers={"Authorization": f"Bearer {token}"}), 401, "unauthorized")


@pytest.mark.parametrize("args", [
    ["--role", "official", "--region", "410100"],                 # an official needs a level
    ["--role", "auditor", "--level", "city", "--region", "410100"],  # only officials have one
    ["--role", "auditor"],                                          # a region is required
    ["--role", "integrator", "--region", "410000", "--grant", "fly"],
    ["--role", "official", "--level", "city", "--region", "419999"],
])
def test_bad_principals_are_refused_in_one_line(capsys: pytest.CaptureFixture[str], database_url: str,
                                                args: list[str]) -> None:
    code, out, err = run(capsys, database_url, "principal", "add", "--name", "x", *args)
    assert code == 1
    assert err.startswith("pipeline: error: ")
    assert len(err.strip().splitlines()) == 1
    assert "zjtx_" not in out


def test_revoking_an_unknown_principal_fails(capsys: pytest.CaptureFixture[str], database_url: str) -> None:
    code, _, err = run(capsys, database_url, "principal", "revoke", "p-nobody")
    assert code == 1
    assert "p-nobody" in err
