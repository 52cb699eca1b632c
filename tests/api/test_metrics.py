"""`/metrics` in Prometheus format for auditors and admins, counters that add up across workers, and one
structured log line per request."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from api_support import Caller, assert_problem, enroll, fire
from fastapi.testclient import TestClient
from helpers import make_uscc
from server_process import serve

from pipeline.db import make_engine, make_session_factory, unit_of_work
from pipeline.principals.service import add_principal


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus exposition (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{key}="{value}"' in match.group(1) for key, value in labels.items()):
            total += float(match.group(2))
    return total


def scrape(client: TestClient, caller: Caller) -> str:
    response = client.get("/metrics", headers=caller.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def test_metrics_are_for_auditors_and_admins_only(client: TestClient, auditor: Caller, admin: Caller,
                                                  city: Caller, integrator: Caller) -> None:
    for caller in (auditor, admin):
        text = scrape(client, caller)
        assert "# TYPE pipeline_http_requests_total counter" in text
        assert "# TYPE pipeline_http_request_duration_seconds histogram" in text
        names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
        assert all(name.startswith("pipeline_") for name in names if not name.startswith(("python_", "process_")))
    for caller in (city, integrator):
        assert_problem(client.get("/metrics", headers=caller.headers), 403, "forbidden")
    assert_problem(client.get("/metrics"), 401, "unauthorized")


def test_requests_transitions_and_refusals_are_counted(client: TestClient, admin: Caller, city: Caller) -> None:
    before = scrape(client, admin)
    uscc = make_uscc("410106", 7001)
    enroll(client, city, uscc)
    fire(client, city, uscc, "recognize_innovative", "2025-06-30")
    fire(client, city, uscc, "recognize_national", "2025-07-01", expect=409)  # not from innovative
    after = scrape(client, admin)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("pipeline_events_total", kind="transition", trigger="enroll") == 1
    assert grew("pipeline_events_total", kind="transition", trigger="recognize_innovative") == 1
    assert grew("pipeline_events_total", trigger="recognize_national") == 0
    assert grew("pipeline_refusals_total", type="illegal-transition") == 1
    assert grew("pipeline_http_requests_total", method="POST", route="/api/v1/enterprises/{uscc}/transitions",
                status="200") == 1
    assert grew("pipeline_http_requests_total", method="POST", route="/api/v1/enterprises/{uscc}/transitions",
                status="409") == 1
    assert grew("pipeline_http_request_duration_seconds_count", route="/api/v1/enterprises") == 1
    assert 'pipeline_db_pool_connections{state="checked_out"}' in after


def test_counters_add_up_across_workers_and_each_request_logs_one_json_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_template: Path) -> None:
    database = tmp_path / "pipeline.db"
    database.write_bytes(sqlite_template.read_bytes())
    engine = make_engine(f"sqlite:///{database}")
    with unit_of_work(make_session_factory(engine)) as session:
        token = add_principal(session, name="审计", role="auditor", region_code="410100", created_by="t").token
    engine.dispose()
    monkeypatch.setenv("PIPELINE_LOG_FORMAT", "json")
    log = tmp_path / "server.log"
    requests = 40
    with serve(f"sqlite:///{database}", 2, log, ready="/healthz") as base_url, \
            httpx.Client(base_url=base_url) as http:
        # separate connections, so that both workers answer some
        for index in range(requests):
            http.get("/healthz", headers={"X-Request-ID": f"probe-{index}", "Connection": "close"})
        scrapes = [http.get("/metrics", headers={"Authorization": f"Bearer {token}", "Connection": "close"})
                   for _ in range(4)]
    for response in scrapes:
        assert response.status_code == 200
        # /readyz and /healthz polls of the start-up wait count too: at least every probe, whichever worker
        assert sample(response.text, "pipeline_http_requests_total", route="/healthz", status="200") >= requests
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.startswith("{")]
    probes = [line for line in lines if str(line.get("request_id", "")).startswith("probe-")]
    assert len(probes) == requests
    assert {line["route"] for line in probes} == {"/healthz"}
    assert all(line["status"] == 200 and line["duration_ms"] >= 0 and "principal" in line for line in probes)
    metrics_lines = [line for line in lines if line.get("route") == "/metrics"]
    assert metrics_lines
    assert all(line["principal"] for line in metrics_lines)


def sample_bare(text: str, name: str) -> float:
    return next(float(line.split()[1]) for line in text.splitlines() if line.startswith(f"{name} "))


def test_feed_lag_counts_what_an_open_transaction_holds_back(client: TestClient, admin: Caller, city: Caller,
                                                             database_url: str) -> None:
    quiet = scrape(client, admin)
    assert sample_bare(quiet, "pipeline_feed_held_back_events") == 0
    assert sample_bare(quiet, "pipeline_feed_lag_seconds") == 0
    engine = make_engine(database_url)
    try:
        with engine.connect() as straggler:
            if engine.dialect.name == "postgresql":  # an older transaction, still running, holds the feed back
                straggler.exec_driver_sql("SELECT pg_current_xact_id()")
            enroll(client, city, make_uscc("410106", 7002))
            held = scrape(client, admin)
            straggler.rollback()
    finally:
        engine.dispose()
    expected = 1 if engine.dialect.name == "postgresql" else 0  # SQLite: id order is commit order
    assert sample_bare(held, "pipeline_feed_held_back_events") == expected
    assert (sample_bare(held, "pipeline_feed_lag_seconds") > 0) is bool(expected)
    assert sample_bare(scrape(client, admin), "pipeline_feed_held_back_events") == 0
