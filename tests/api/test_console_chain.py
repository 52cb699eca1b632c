"""The firm page's chain status recomputes every hash: an intact chain is reported intact, and a changed
field or a missing event is named by its seq."""

from __future__ import annotations

from api_support import SHANGJIE, Caller, enroll, fire, make_uscc
from console_support import sign_in
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.console.views import verify_chain
from pipeline.models import Enterprise, Event

FIRM = make_uscc(SHANGJIE, 41)


def _firm_and_events(factory: sessionmaker[Session]) -> tuple[Enterprise, list[Event]]:
    with factory() as session:
        firm = session.scalars(select(Enterprise).where(Enterprise.uscc == FIRM)).one()
        events = list(session.scalars(select(Event).where(Event.uscc == FIRM).order_by(Event.seq)))
        session.expunge_all()  # edits below stay in memory: the database refuses to change events
    return firm, events


def test_chain_status(client: TestClient, city: Caller, api_sessions: sessionmaker[Session]) -> None:
    enroll(client, city, FIRM)
    fire(client, city, FIRM, "recognize_innovative", "2025-02-01")
    fire(client, city, FIRM, "renew", "2025-03-01")
    sign_in(client, city)
    assert 'data-chain-ok="true"' in client.get(f"/console/enterprises/{FIRM}").text

    firm, events = _firm_and_events(api_sessions)
    assert verify_chain(firm, events).ok
    events[1].evidence = {**events[1].evidence, "document_no": "改过的文号"}
    status = verify_chain(firm, events)
    assert not status.ok
    assert "事件 #2" in status.summary
    assert [seq for seq, check in status.checks.items() if not check.ok] == [2]

    firm, events = _firm_and_events(api_sessions)
    status = verify_chain(firm, events[:-1])
    assert not status.ok
    assert "事件缺失" in status.summary


def test_audit_page_scope_and_export(client: TestClient, auditor: Caller, integrator: Caller, city: Caller) -> None:
    enroll(client, city, FIRM)
    sign_in(client, auditor)
    page = client.get("/console/audit?trigger=enroll")
    assert page.status_code == 200
    assert FIRM in page.text
    export = client.get("/console/audit/export.csv?trigger=enroll")
    assert export.headers["content-type"].startswith("text/csv")
    assert FIRM in export.text
    assert client.get("/console/audit/export.pdf").status_code == 422
    client.cookies.clear()
    sign_in(client, integrator)
    refused = client.get("/console/audit")
    assert refused.status_code == 403
    assert "审计查询仅限" in refused.text
