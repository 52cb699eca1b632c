"""``PIPELINE_READ_DATABASE_URL`` on a real PostgreSQL streaming standby: reads go to the standby, writes and
auditors to the primary, and a lagging standby never serves a client a read older than its own write.

The standby is a second cluster made by ``pg_basebackup -R`` from the test server, run as the ``postgres``
user in a temporary directory on a free port; its replay is paused to simulate lag.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import BASE, Caller, make_uscc, transition_body
from fastapi.testclient import TestClient
from helpers import quiet_clones
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from pipeline.db import unit_of_work
from pipeline.principals.service import add_principal

pytestmark = pytest.mark.postgres_only
BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_postgres(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def standby() -> Iterator[str]:
    """One standby for the module, streaming from the test server: every test database made later appears on
    it too. Yields its URL without a database name."""
    admin = os.environ.get("PIPELINE_TEST_POSTGRES_URL")
    if not admin:
        pytest.skip("PIPELINE_TEST_POSTGRES_URL is not set: no server to stand by for")
    if shutil.which("runuser") is None or not (BIN / "pg_basebackup").exists():
        pytest.skip("PostgreSQL 15 server binaries or runuser are not installed")
    with quiet_clones():  # other workers' database copies would bury the standby in WAL while it catches up
        yield from _standby(admin)


def _standby(admin: str) -> Iterator[str]:
    primary = make_url(admin)
    directory = Path(tempfile.mkdtemp(prefix="pipeline-standby-"))
    shutil.chown(directory, "postgres", "postgres")
    data = directory / "data"
    # A replication slot keeps the primary's WAL until the standby has it: without one, a burst of WAL (a
    # parallel test worker cloning databases) can recycle segments the standby still needs and strand it.
    slot = f"{SLOT_PREFIX}{os.getpid()}"
    _drop_stale_slots(admin)
    made = _as_postgres(str(BIN / "pg_basebackup"), "-D", str(data), "-R", "-X", "stream", "-c", "fast",
                        "-C", "-S", slot,
                        "-h", primary.host or "127.0.0.1", "-p", str(primary.port or 5432), "-U", "postgres")
    if made.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        _drop_stale_slots(admin)
        pytest.skip(f"replication cannot be enabled here: {made.stderr.strip()[:200]}")
    port = _free_port()
    for name, content in (("postgresql.conf", ""), ("pg_ident.conf", ""),
                          ("pg_hba.conf", "local all all trust\nhost all all 127.0.0.1/32 trust\n")):
        (data / name).write_text(content)
        shutil.chown(data / name, "postgres", "postgres")
    options = f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={directory} -c hot_standby=on"
    started = _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(directory / "log"),
                           "-w", "-t", "30", "start")
    assert started.returncode == 0, started.stderr + (directory / "log").read_text()
    try:
        yield primary.set(port=port).render_as_string(hide_password=False)
    finally:
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(directory, ignore_errors=True)
        _drop_stale_slots(admin)


SLOT_PREFIX = "pipeline_test_standby_"


def _drop_stale_slots(admin: str) -> None:
    """Drop this suite's inactive replication slots (a slot left behind would keep WAL forever)."""
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                              "WHERE slot_name LIKE :prefix AND NOT active"), {"prefix": f"{SLOT_PREFIX}%"})
    finally:
        engine.dispose()


@pytest.fixture
def standby_url(database_url: str, dialect: str, request: pytest.FixtureRequest) -> str:
    """This test's database on the standby."""
    if dialect != "postgresql":
        pytest.skip("a streaming standby is PostgreSQL's")
    base: str = request.getfixturevalue("standby")
    return make_url(base).set(database=make_url(database_url).database).render_as_string(hide_password=False)


def _caught_up_when_it_exists(primary: str, standby: str) -> None:
    # generous: the standby replays the whole cluster's WAL, and a parallel test worker cloning databases
    # (CREATE DATABASE … TEMPLATE writes the template's pages to the WAL) can put it far behind for a while
    deadline = time.monotonic() + 90
    while True:
        try:
            _caught_up(primary, standby)
            return
        except OperationalError:  # the database's creation is not replayed yet
            assert time.monotonic() < deadline, "the test database never appeared on the standby"
            time.sleep(0.1)


def _replay(url: str, *, paused: bool) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_wal_replay_pause()" if paused else "SELECT pg_wal_replay_resume()"))
    engine.dispose()


def _caught_up(primary: str, standby: str) -> None:
    engine = create_engine(primary, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        target = conn.execute(text("SELECT pg_current_wal_insert_lsn()")).scalar_one()
    engine.dispose()
    engine = create_engine(standby, isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + 90
    with engine.connect() as conn:
        while not conn.execute(text("SELECT pg_last_wal_replay_lsn() >= CAST(:l AS pg_lsn)"), {"l": target}).scalar():
            assert time.monotonic() < deadline, "the standby never caught up"
            time.sleep(0.05)
    engine.dispose()


@pytest.fixture
def replica_client(database_url: str, standby_url: str) -> Iterator[tuple[TestClient, dict[str, Caller]]]:
    app = create_app(database_url, read_database_url=standby_url)
    factory: sessionmaker[Session] = app.state.session_factory
    callers = {}
    with unit_of_work(factory) as session:
        for name, role, level in (("writer", "official", "city"), ("reader", "official", "city"),
                                  ("auditor", "auditor", None)):
            made = add_principal(session, name=name, role=role, level=level, region_code="410100", grants=[],
                                 created_by="cli:test")
            callers[name] = Caller(made.principal.id, made.token)
    _caught_up_when_it_exists(database_url, standby_url)
    with TestClient(app) as client:
        yield client, callers


def _history(client: TestClient, caller: Caller, uscc: str, **headers: str) -> tuple[list[str], bool]:
    response = client.get(f"{BASE}/{uscc}/history", headers={**caller.headers, **headers})
    assert response.status_code == 200, response.text
    return [e["trigger"] for e in response.json()["items"]], "x-data-replayed-at" in response.headers


def test_reads_go_to_the_standby_and_writes_and_auditors_to_the_primary(
        replica_client: tuple[TestClient, dict[str, Caller]], database_url: str, standby_url: str) -> None:
    client, who = replica_client
    uscc = make_uscc("410106", 701)
    written = client.post(BASE, headers=who["writer"].headers, json={"uscc": uscc, "name": "备库企业",
                                                                     "effective_date": "2025-01-10"})
    assert written.status_code == 201, written.text
    assert written.headers["x-pipeline-lsn"]
    _caught_up(database_url, standby_url)
    triggers, from_standby = _history(client, who["reader"], uscc)
    assert (triggers, from_standby) == (["enroll"], True)
    triggers, from_standby = _history(client, who["auditor"], uscc)  # auditors write the read log
    assert (triggers, from_standby) == (["enroll"], False)


def test_a_lagging_standby_never_serves_a_read_older_than_the_readers_own_write(
        replica_client: tuple[TestClient, dict[str, Caller]], database_url: str, standby_url: str) -> None:
    client, who = replica_client
    uscc = make_uscc("410106", 702)
    assert client.post(BASE, headers=who["writer"].headers, json={
        "uscc": uscc, "name": "滞后企业", "effective_date": "2025-01-10"}).status_code == 201
    _caught_up(database_url, standby_url)
    _replay(standby_url, paused=True)
    try:
        fired = client.post(f"{BASE}/{uscc}/transitions", headers=who["writer"].headers,
                            json=transition_body("recognize_innovative", "2025-02-01"))
        assert fired.status_code == 200, fired.text
        lsn = fired.headers["x-pipeline-lsn"]
        # the writer reads its own write (same principal within 30 s): the primary answers
        assert _history(client, who["writer"], uscc) == (["enroll", "recognize_innovative"], False)
        # someone else, with no claim on that write, may read the lagging standby
        assert _history(client, who["reader"], uscc) == (["enroll"], True)
        # presenting the write's LSN: the standby has not replayed it, so the primary answers
        assert _history(client, who["reader"], uscc, **{"X-Pipeline-LSN": lsn}) == (
            ["enroll", "recognize_innovative"], False)
    finally:
        _replay(standby_url, paused=False)
    _caught_up(database_url, standby_url)
    assert _history(client, who["reader"], uscc, **{"X-Pipeline-LSN": lsn}) == (
        ["enroll", "recognize_innovative"], True)
