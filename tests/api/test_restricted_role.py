"""The server runs as a PostgreSQL role made with exactly the README's GRANTs: every write the application
makes works under it, `serve` only checks the schema is at head, and the role can neither disable the
events trigger nor UPDATE, DELETE or TRUNCATE events."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import BASE, SHANGJIE, Caller, assert_problem, enroll, fire, make_uscc, transition_body
from console_support import sign_in
from fastapi.testclient import TestClient
from imports_support import write_csv
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from api.main import create_app
from pipeline import migrate
from pipeline.cli import main
from pipeline.db import make_engine, unit_of_work
from pipeline.errors import SchemaNotAtHead
from pipeline.history.anchor_signing import KEY_ENV, generate
from pipeline.principals.service import add_principal

README = Path(__file__).resolve().parents[2] / "README.md"
_roles = itertools.count()
DENIED = r"permission denied|must be owner"


def documented_grants(role: str) -> list[str]:
    """The GRANT statements of the README's "Running under a restricted database role", for ``role``."""
    section = README.read_text(encoding="utf-8").split("### Running under a restricted database role", 1)[1]
    block = re.search(r"```sql\n(.*?)```", section, re.S)
    assert block, "the README's restricted-role section has no sql block"
    statements = [line.strip().rstrip(";") for line in block.group(1).splitlines() if line.strip()]
    assert statements
    assert all(line.startswith("GRANT ") for line in statements)
    return [line.replace("pipeline_app", role) for line in statements]


@pytest.fixture
def restricted_url(database_url: str, engine: Engine) -> Iterator[str]:
    if engine.dialect.name != "postgresql":
        pytest.skip("database roles and GRANTs are PostgreSQL's; SQLite has neither")
    role = f"pipeline_app_{os.getpid()}_{next(_roles)}"
    owner = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with owner.connect() as connection:
        connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        connection.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        for statement in documented_grants(f'"{role}"'):
            connection.execute(text(statement))
    try:
        yield make_url(database_url).set(username=role, password=None).render_as_string(hide_password=False)
    finally:
        with owner.connect() as connection:
            connection.execute(text(f'DROP OWNED BY "{role}"'))
            connection.execute(text(f'DROP ROLE "{role}"'))
        owner.dispose()


@pytest.mark.postgres_only
def test_the_application_writes_under_the_restricted_role_and_cannot_touch_events(
    restricted_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    private = tmp_path / "anchor.key"
    generate(private)
    monkeypatch.setenv(KEY_ENV, str(private))
    app = create_app(restricted_url)
    callers = {}
    with unit_of_work(app.state.session_factory) as session:  # `pipeline principal add` under the role
        for name, role, level in (("city", "official", "city"), ("auditor", "auditor", None), ("admin", "admin", None)):
            created = add_principal(session, name=name, role=role, level=level,
                                    region_code=None if role == "admin" else "410100", grants=[], created_by="cli:t")
            callers[name] = Caller(created.principal.id, created.token)
    city, auditor, admin = callers["city"], callers["auditor"], callers["admin"]
    firm, other = make_uscc(SHANGJIE, 1), make_uscc(SHANGJIE, 2)

    with TestClient(app) as client:
        enroll(client, city, firm, on="2022-01-10")
        fire(client, city, firm, "recognize_innovative", "2022-02-01",
             headers={"Idempotency-Key": "rec-1"})  # idempotency record written and finished
        refused = client.post(f"{BASE}/{firm}/transitions", json=transition_body("recognize_national", "2022-03-01"),
                              headers=city.with_headers(Idempotency_Key="refused"))
        assert_problem(refused, 409, "illegal-transition")  # stored in its own transaction
        patched = client.patch(f"{BASE}/{firm}", json={"name": "改名"}, headers=city.headers)
        assert patched.status_code == 200, patched.text
        voided = client.post(f"{BASE}/{firm}/events/3/void", json={"reason": "录入错误"}, headers=city.headers)
        assert voided.status_code == 200, voided.text
        put = client.put(f"{BASE}/{firm}/filings/2024", json={"filed_on": "2025-03-01"}, headers=city.headers)
        assert put.status_code in (200, 201), put.text
        sweep = client.post("/api/v1/dynamic-management/sweeps", json={"apply": True},
                            headers=admin.headers)
        assert sweep.status_code == 200, sweep.text
        assert client.get(f"{BASE}/{firm}", headers=city.headers).json()["state"] == "reserve"  # expired
        csv = write_csv(tmp_path / "名单.csv", [(1, other, "乙公司", SHANGJIE, "2025-01-10", "")])
        with csv.open("rb") as stream:
            imported = client.post("/api/v1/imports", headers=city.headers, files={"file": (csv.name, stream)},
                                   data={"action": "enroll", "dry_run": "false"})
        assert imported.status_code == 200, imported.text
        assert imported.json()["applied"] is True
        anchor = client.post("/api/v1/audit/anchors", json={}, headers=admin.headers)
        assert anchor.status_code == 201, anchor.text
        assert client.get(f"/api/v1/audit/anchors/{anchor.json()['id']}/verify", headers=auditor.headers).json()["ok"]
        assert client.get(f"{BASE}/{firm}/history", headers=auditor.headers).status_code == 200  # read logged
        csrf = sign_in(client, auditor)
        assert client.get(f"/console/enterprises/{firm}").status_code == 200
        assert client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
        assert client.get("/api/v1/audit/verify", headers=auditor.headers).json()["ok"] is True

    restricted = make_engine(restricted_url)
    try:
        for statement in ("ALTER TABLE events DISABLE TRIGGER events_append_only",
                          "ALTER TABLE events DISABLE TRIGGER ALL",
                          "UPDATE events SET reason = 'rewritten'",
                          "DELETE FROM events",
                          "TRUNCATE events",
                          "SET session_replication_role = replica",
                          "CREATE TABLE events_copy (id int)"):
            with pytest.raises(DBAPIError, match=DENIED), restricted.begin() as connection:
                connection.execute(text(statement))
        with restricted.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM events WHERE uscc = :u"), {"u": firm}) >= 4
    finally:
        restricted.dispose()


@pytest.mark.postgres_only
def test_serve_under_the_restricted_role_checks_the_schema_instead_of_migrating(
    restricted_url: str, database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    restricted = make_engine(restricted_url)
    try:
        migrate.require_head(restricted)  # at head: serving may start
        with pytest.raises(DBAPIError, match=DENIED):
            migrate.downgrade(restricted, "-1")  # the role cannot change the schema
        migrate.downgrade(engine, "-1")  # the owner rolls back one revision
        with pytest.raises(SchemaNotAtHead, match="pipeline db upgrade"):
            migrate.require_head(restricted)
        monkeypatch.setenv("PIPELINE_MIGRATION_DATABASE_URL", database_url)
        assert main(["--database-url", restricted_url, "serve", "--port", "1"]) == 1  # refuses, does not migrate
        assert "pipeline db upgrade" in capsys.readouterr().err
        assert migrate.current_revision(restricted) != migrate.head_revision()
        assert main(["--database-url", restricted_url, "db", "upgrade"]) == 0  # runs as the owner
        migrate.require_head(restricted)
    finally:
        restricted.dispose()
