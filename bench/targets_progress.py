"""Benchmark: ``GET /targets/progress`` for Zhengzhou (410100) over N firms on PostgreSQL, as recorded now
(SQL over the title rows) and with a ``known_at`` (every firm replayed from its events).

    .venv/bin/python bench/targets_progress.py [--firms 20000]
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Builds a scratch database ``pipeline_bench_targets`` with the real migrations and loads, set by set, N firms
spread over six districts, each enrolled in 2023 with an innovative title and a provincial title recognised in
2024 or 2025 (three events, two title rows; the hashes are stand-ins: progress never reads them), then
ANALYZE. Prints the time of each call and the actuals (new = N/2, total = N).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from pipeline.access import cli_actor
from pipeline.db import make_engine, make_session_factory
from pipeline.migrate import upgrade
from pipeline.models import Enterprise, Event, Recognition
from pipeline.rulebooks import get_rulebook
from pipeline.targets import service

NAME = "pipeline_bench_targets"
DISTRICTS = ("410102", "410103", "410105", "410106", "410122", "410181")


def load(url: str, firms: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    book, now = get_rulebook("miit-2022"), dt.datetime.now(dt.UTC)
    rows: dict[str, list[dict[str, object]]] = {"firms": [], "events": [], "titles": []}
    for i in range(firms):
        uscc, region, year = f"X{i:017d}", DISTRICTS[i % len(DISTRICTS)], 2025 - i % 2
        rows["firms"].append(dict(id=i + 1, uscc=uscc, name=f"f{i}", region_code=region, state="provincial",
                                  version=3, last_seq=3, last_effective_date=dt.date(year, 3, 1), data={}, flags={},
                                  created_at=now, updated_at=now))
        base = dict(enterprise_id=i + 1, uscc=uscc, kind="transition", recorded_at=now, actor="bench",
                    rulebook_id=book.id, rulebook_hash=book.content_hash, prev_hash="0" * 64, hash="0" * 64)
        rows["events"] += [
            dict(base, seq=1, trigger="enroll", from_state=None, to_state="reserve",
                 effective_date=dt.date(2023, 1, 5), evidence={"name": f"f{i}", "region_code": region, "data": {}}),
            dict(base, seq=2, trigger="recognize_innovative", from_state="reserve", to_state="innovative",
                 effective_date=dt.date(2023, 2, 1), evidence={"document_no": "x", "tier": "innovative"}),
            dict(base, seq=3, trigger="recognize_provincial", from_state="innovative", to_state="provincial",
                 effective_date=dt.date(year, 3, 1), evidence={"batch": "b", "tier": "provincial"})]
        rows["titles"] += [
            dict(enterprise_id=i + 1, tier="innovative", recognized_on=dt.date(2023, 2, 1),
                 valid_until=dt.date(2026, 1, 31), granted_by_seq=2),
            dict(enterprise_id=i + 1, tier="provincial", recognized_on=dt.date(year, 3, 1),
                 valid_until=dt.date(year + 3, 2, 28), granted_by_seq=3)]
    with engine.begin() as connection:
        connection.execute(insert(Enterprise.__table__), rows["firms"])
        connection.execute(insert(Event.__table__), rows["events"])
        connection.execute(insert(Recognition.__table__), rows["titles"])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))
    factory = make_session_factory(engine)
    with factory() as session:
        service.put_targets(session, "410100", 2025, [
            {"tier": "provincial", "kind": "new", "value": 300, "document_no": "郑工信企业〔2025〕4号"},
            {"tier": "provincial", "kind": "total", "value": 500, "document_no": "郑政办〔2022〕36号"}],
            actor=cli_actor("bench"))
        session.commit()
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--firms", type=int, default=20_000)
    parser.add_argument("--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {NAME}"))
        connection.execute(text(f"CREATE DATABASE {NAME}"))
    url = make_url(args.admin_url).set(database=NAME).render_as_string(hide_password=False)
    load(url, args.firms)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    for known_at in (None, None, dt.datetime.now(dt.UTC), dt.datetime.now(dt.UTC)):
        with factory() as session:
            started = time.perf_counter()
            found = service.progress(session, cli_actor("bench"), year=2025, region="410100", known_at=known_at)
            elapsed = time.perf_counter() - started
        path = "as recorded now (SQL)" if known_at is None else "known_at (replay)"
        print(f"{args.firms} firms, {3 * args.firms} events, {path}: {elapsed:.2f} s; "
              f"new {found.items[0].actual}, total {found.items[1].actual}")
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {NAME}"))


if __name__ == "__main__":
    main()
