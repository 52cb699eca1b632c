"""The change feed: every event exactly once in commit order, also when PostgreSQL transactions commit out
of id order (a plain ``id > last`` feed skips those)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers import ADMIN, Factory, enroll, make_uscc, walk
from sqlalchemy import Engine

from api.main import create_app
from pipeline.db import unit_of_work
from pipeline.firms import service
from pipeline.history import feed
from pipeline.principals.service import add_principal


def _follow(factory: Factory, cursor: feed.Cursor, seen: list[tuple[str, int]], until: int = 0) -> feed.Cursor:
    """Poll like a follower: page on until a page is empty and ``until`` events were seen (or 10 s passed).

    On PostgreSQL the horizon is cluster-wide, so a transaction in another database (another test run)
    can hold the feed back for a moment; it never makes it skip.
    """
    deadline = time.monotonic() + 10
    while True:
        with factory() as session:
            rows, cursor = feed.page(session, ADMIN, cursor, limit=2)
            seen.extend((e.uscc, e.seq) for e in rows)
        if not rows and (len(seen) >= until or time.monotonic() > deadline):
            return cursor
        if not rows:
            time.sleep(0.05)


def test_a_follower_sees_every_event_once_in_pages(database_url: str, session_factory: Factory) -> None:
    firms = [make_uscc("410106", 1), make_uscc("411200", 2)]
    for uscc in firms:
        walk(session_factory, uscc, [("enroll", "2022-09-01"), ("recognize_innovative", "2022-09-01")])
    seen: list[tuple[str, int]] = []
    cursor = _follow(session_factory, feed.Cursor.decode(None), seen, until=4)
    assert seen == [(firms[0], 1), (firms[0], 2), (firms[1], 1), (firms[1], 2)]
    enroll(session_factory, make_uscc("410106", 3))
    _follow(session_factory, cursor, seen, until=5)
    assert len(seen) == 5 == len(set(seen))

    with unit_of_work(session_factory) as session:
        token = add_principal(session, name="财政局", role="integrator", region_code="410100", created_by="t").token
    with TestClient(create_app(database_url)) as client:
        auth = {"Authorization": f"Bearer {token}"}
        page: dict[str, Any] = {"items": []}
        for _ in range(200):  # see _follow: wait out other databases' transactions
            page = client.get("/api/v1/feed", params={"limit": 10}, headers=auth).json()
            if len(page["items"]) == 3:
                break
            time.sleep(0.05)
        assert [(e["uscc"], e["seq"]) for e in page["items"]] == [(firms[0], 1), (firms[0], 2),
                                                                  (make_uscc("410106", 3), 1)]
        again = client.get("/api/v1/feed", params={"after": page["next_cursor"]}, headers=auth).json()
        assert again == {"items": [], "hash_recipes": {}, "next_cursor": page["next_cursor"]}
        assert client.get("/api/v1/feed", params={"after": "garbage"}, headers=auth).status_code == 422


def test_overlapping_transactions_never_make_the_feed_skip(engine: Engine, session_factory: Factory,
                                                           dialect: str) -> None:
    if dialect != "postgresql":
        pytest.skip("SQLite serialises writers: id order is commit order there")
    first, second = make_uscc("410106", 1), make_uscc("410106", 2)
    day = dt.date(2022, 9, 1)
    seen: list[tuple[str, int]] = []
    cursor = feed.Cursor.decode(None)
    slow = session_factory()
    slow.begin()
    service.enroll(slow, uscc=first, name="先写后提交", actor=ADMIN, effective_date=day)  # takes the lower id
    try:
        enroll(session_factory, second)  # inserted later, committed first
        cursor = _follow(session_factory, cursor, seen)
        assert seen == []  # held back: an older transaction is still open, and may yet commit an event
    finally:
        slow.commit()
        slow.close()
    _follow(session_factory, cursor, seen, until=2)
    assert sorted(seen) == [(first, 1), (second, 1)]
    with session_factory() as session:
        ids = {e.uscc: e.id for e in feed.page(session, ADMIN, feed.Cursor.decode(None), 10)[0]}
    assert ids[first] < ids[second]  # the lower id committed last: an `id > last` feed would have skipped it
