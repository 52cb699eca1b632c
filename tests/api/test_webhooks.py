"""Signed webhooks: Standard Webhooks signatures, commit order, retries with backoff, pause and resume, a killed
delivery process — against a real receiver on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from api_support import Caller, assert_problem, enroll, fire, make_uscc
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook

from pipeline.db import unit_of_work
from pipeline.models import WebhookDelivery
from pipeline.principals.service import add_principal
from pipeline.webhooks import delivery

FAST = delivery.DeliverySettings(retry_schedule=(0.1, 0.2, 0.4), pause_after=3600, poll=0.05)


@dataclass
class Receiver:
    """A tiny HTTP receiver: records every request; fails the first ``failures`` of them; can hold responses."""

    failures: int = 0
    requests: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)
    hold: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        self.arrived.set()
        if self.hold is not None:
            self.hold.wait(10)
        status = 500 if self.failures > 0 else 200
        self.failures -= status == 500
        self.requests.append((headers, body, status))
        return status

    def delivered(self) -> list[dict[str, Any]]:
        """The messages answered 200, in the order they came."""
        return [json.loads(body) | {"_id": headers["webhook-id"]} for headers, body, status in self.requests
                if status == 200]


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setenv("PIPELINE_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            status = state.answer({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    if state.hold is not None:
        state.hold.set()
    server.shutdown()
    server.server_close()


def _integrator(factory: sessionmaker[Session], name: str, region: str) -> Caller:
    with unit_of_work(factory) as session:
        created = add_principal(session, name=name, role="integrator", level=None, region_code=region,
                                grants=["record_loan"], created_by="cli:test")
        return Caller(created.principal.id, created.token)


def _subscribe(client: TestClient, caller: Caller, url: str, events: list[str]) -> dict[str, Any]:
    response = client.post("/api/v1/webhooks", json={"url": url, "events": events}, headers=caller.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_signed_deliveries_in_order_only_in_jurisdiction_and_only_the_banks_own_loans(
        client: TestClient, principals: dict[str, Caller], api_sessions: sessionmaker[Session],
        receiver: Receiver) -> None:
    city = principals["city"]
    bank, other_bank = _integrator(api_sessions, "郑州银行", "410100"), _integrator(api_sessions, "中原银行", "410100")
    assert_problem(client.post("/api/v1/webhooks", json={"url": "http://example.com/hook", "events": ["loan"]},
                               headers=bank.headers), 422, "validation-error")
    assert_problem(client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["loan"]},
                               headers=city.headers), 403, "forbidden")
    subscription = _subscribe(client, bank, receiver.url,
                              ["transition", "side_title", "award", "loan", "amendment", "correction"])
    assert subscription["secret"].startswith("whsec_")
    assert "secret" not in client.get(f"/api/v1/webhooks/{subscription['id']}", headers=bank.headers).json()

    firm = make_uscc("410102", 1701)
    enroll(client, city, firm, on="2022-01-10")
    fire(client, city, firm, "recognize_innovative", "2022-03-01")
    fire(client, city, firm, "recognize_provincial", "2024-06-01")  # Zhengzhou's ¥500,000 award with it
    enroll(client, principals["province"], make_uscc("411202", 1702), on="2022-01-10")  # outside 410100
    loan = {"product": "专精特新贷", "amount_yuan": 1_000_000, "signed_on": "2025-03-01",
            "matures_on": "2026-02-28", "secured": False}
    for caller, name in ((bank, "郑州银行"), (other_bank, "中原银行")):
        response = client.post(f"/api/v1/enterprises/{firm}/loans", json={**loan, "bank": name, "contract_no": "C-1"},
                               headers=caller.headers)
        assert response.status_code == 201, response.text
    side_title = client.post(f"/api/v1/enterprises/{firm}/side-titles", headers=city.headers, json={
        "kind": "champion_enterprise", "granted_on": "2025-05-01", "document_no": "工信部产业函〔2025〕1号"})
    assert side_title.status_code == 201, side_title.text
    amended = client.patch(f"/api/v1/enterprises/{firm}", json={"name": "新名称有限公司"}, headers=city.headers)
    assert amended.status_code == 200, amended.text
    void = client.post(f"/api/v1/enterprises/{firm}/events/5/void", json={"reason": "录入错误"}, headers=city.headers)
    assert void.status_code == 200, void.text

    assert delivery.run(api_sessions, threading.Event(), FAST, once=True) == 9
    verifier = Webhook(subscription["secret"])
    for headers, body, _ in receiver.requests:
        assert verifier.verify(body, headers)["type"]  # raises on a bad signature
    got = receiver.delivered()
    assert [m["type"] for m in got if m["type"] == "loan"] == ["loan"]  # not the other bank's
    assert next(m for m in got if m["type"] == "loan")["data"]["loan"]["bank_id"] == bank.id
    firm_messages = [(m["type"], m["data"].get("seq")) for m in got if m["type"] != "loan"]
    awards = [(m["data"]["award_id"], m["data"]["net_amount"]) for m in got if m["type"] == "award"]
    assert awards == [("provincial", 500_000), ("champion_enterprise", 4_500_000)]  # topped up: 从高、不重复
    assert firm_messages == [("transition", 1), ("transition", 2), ("transition", 3), ("award", None),
                             ("side_title", 4), ("award", None), ("amendment", 5), ("correction", 6)]
    # in commit order; nothing of the Sanmenxia firm
    page = client.get(f"/api/v1/webhooks/{subscription['id']}/deliveries", headers=bank.headers).json()
    assert [d["status"] for d in page["items"]] == ["delivered"] * 9
    assert page["items"][0]["attempt_log"][0]["status_code"] == 200
    assert_problem(client.get(f"/api/v1/webhooks/{subscription['id']}/deliveries", headers=other_bank.headers),
                   404, "not-found")


def test_a_receiver_failing_three_times_then_recovering_gets_every_event_once_more_in_order(
        client: TestClient, principals: dict[str, Caller], api_sessions: sessionmaker[Session],
        receiver: Receiver) -> None:
    bank = _integrator(api_sessions, "郑州银行", "410100")
    subscription = _subscribe(client, bank, receiver.url, ["transition"])
    firms = [make_uscc("410102", serial) for serial in (1711, 1712, 1713)]
    for firm in firms:
        enroll(client, principals["city"], firm, on="2022-01-10")
    receiver.failures = 3
    stop = threading.Event()
    worker = threading.Thread(target=delivery.run, args=(api_sessions, stop, FAST))
    worker.start()
    try:
        _until(lambda: len(receiver.delivered()) == 3)
    finally:
        stop.set()
        worker.join(10)
    assert [m["data"]["uscc"] for m in receiver.delivered()] == firms
    assert [status for _, _, status in receiver.requests] == [500, 500, 500, 200, 200, 200]
    assert len({headers["webhook-id"] for headers, _, _ in receiver.requests[:4]}) == 1  # the same message retried
    first = client.get(f"/api/v1/webhooks/{subscription['id']}/deliveries", headers=bank.headers).json()["items"][0]
    assert [a["status_code"] for a in first["attempt_log"]] == [500, 500, 500, 200]


def test_after_a_day_of_failures_the_subscription_pauses_and_a_retry_resumes_it_in_order(
        client: TestClient, principals: dict[str, Caller], api_sessions: sessionmaker[Session],
        receiver: Receiver) -> None:
    bank = _integrator(api_sessions, "郑州银行", "410100")
    subscription = _subscribe(client, bank, receiver.url, ["transition"])
    url = f"/api/v1/webhooks/{subscription['id']}"
    firms = [make_uscc("410102", serial) for serial in (1721, 1722)]
    enroll(client, principals["city"], firms[0], on="2022-01-10")
    receiver.failures = 10**6
    a_day = delivery.DeliverySettings(retry_schedule=(0.05,), pause_after=0.3, poll=0.05)  # a "day" of 0.3 s
    _until(lambda: delivery.deliver_pass(api_sessions, a_day) == 0
           and client.get(url, headers=bank.headers).json()["status"] == "paused")
    enroll(client, principals["city"], firms[1], on="2022-01-10")  # waits behind the paused one
    tried = len(receiver.requests)
    receiver.failures = 0
    delivery.deliver_pass(api_sessions, a_day)
    assert len(receiver.requests) == tried  # paused: nothing is sent
    pending = client.get(f"{url}/deliveries", headers=bank.headers).json()["items"]
    assert [d["status"] for d in pending] == ["pending", "pending"]
    stuck = _gauges(client, principals["admin"])
    assert (stuck["pipeline_webhook_backlog_deliveries"], stuck["pipeline_webhook_paused_subscriptions"]) == (2, 1)
    assert stuck["pipeline_webhook_oldest_pending_seconds"] > 0
    retried = client.post(f"{url}/deliveries/{pending[0]['id']}/retry", headers=bank.headers)
    assert retried.status_code == 200, retried.text
    assert client.get(url, headers=bank.headers).json()["status"] == "active"
    assert delivery.deliver_pass(api_sessions, a_day) == 2
    assert [m["data"]["uscc"] for m in receiver.delivered()] == firms
    cleared = _gauges(client, principals["admin"])
    assert (cleared["pipeline_webhook_backlog_deliveries"], cleared["pipeline_webhook_paused_subscriptions"]) == (0, 0)


def _gauges(client: TestClient, admin: Caller) -> dict[str, float]:
    """The webhook gauges of a ``/metrics`` scrape (operators watch the backlog)."""
    text = client.get("/metrics", headers=admin.headers).text
    return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
            if line.startswith("pipeline_webhook_")}


def test_killing_the_delivery_process_mid_delivery_loses_nothing(
        client: TestClient, principals: dict[str, Caller], api_sessions: sessionmaker[Session],
        receiver: Receiver, database_url: str) -> None:
    bank = _integrator(api_sessions, "郑州银行", "410100")
    _subscribe(client, bank, receiver.url, ["transition"])
    firms = [make_uscc("410102", serial) for serial in (1731, 1732, 1733)]
    for firm in firms:
        enroll(client, principals["city"], firm, on="2022-01-10")
    receiver.hold = threading.Event()  # the first request waits: the process is killed while it is in flight
    env = {**os.environ, "PIPELINE_DATABASE_URL": database_url, "PIPELINE_WEBHOOK_RETRY_SCHEDULE": "0.1"}
    process = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "webhooks", "deliver"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert receiver.arrived.wait(30), process.stderr.read() if process.stderr else ""
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)
    receiver.hold.set()  # its answer goes to a dead process: the delivery was never marked delivered
    receiver.hold = None
    # PostgreSQL: the killed process's advisory lock goes with its connection, as soon as the server notices
    _until(lambda: delivery.run(api_sessions, threading.Event(), FAST, once=True) >= 0
           and len(receiver.delivered()) == 4)
    received = [m["data"]["uscc"] for m in receiver.delivered()]
    assert received == [firms[0], *firms]  # the one in flight is sent again, then the rest, in order
    with api_sessions() as session:
        assert set(session.scalars(select(WebhookDelivery.status))) == {"delivered"}


@pytest.mark.postgres_only
def test_on_postgresql_one_process_delivers_at_a_time(database_url: str, request: pytest.FixtureRequest) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("the delivery lock is a PostgreSQL advisory lock")
    client: TestClient = request.getfixturevalue("client")
    principals: dict[str, Caller] = request.getfixturevalue("principals")
    api_sessions: sessionmaker[Session] = request.getfixturevalue("api_sessions")
    receiver: Receiver = request.getfixturevalue("receiver")
    bank = _integrator(api_sessions, "郑州银行", "410100")
    _subscribe(client, bank, receiver.url, ["transition"])
    enroll(client, principals["city"], make_uscc("410102", 1741), on="2022-01-10")
    engine = api_sessions.kw["bind"]
    held = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :key")
    with engine.connect() as other_process:
        other_process.execute(text("SELECT pg_advisory_lock(:key)"), {"key": delivery.ADVISORY_LOCK_KEY})
        assert other_process.scalar(held, {"key": delivery.ADVISORY_LOCK_KEY}) == 1
        assert delivery.run(api_sessions, threading.Event(), FAST, once=True) == 0  # another process delivers
        assert receiver.requests == []
        other_process.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": delivery.ADVISORY_LOCK_KEY})
    assert delivery.run(api_sessions, threading.Event(), FAST, once=True) == 1  # now this one delivers
    with engine.connect() as connection:  # and released its lock when done (a pooled connection would keep it)
        assert connection.scalar(held, {"key": delivery.ADVISORY_LOCK_KEY}) == 0
