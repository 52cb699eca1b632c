"""Benchmark: the expiry sweep over 1,000,000 titles on PostgreSQL, 10% of them lapsed.

    .venv/bin/python bench/sweep.py [--titles 1000000] [--due 0.10] [--batch-size 1000]
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Builds a scratch database ``pipeline_bench_sweep`` with the real migrations, loads one firm per title
(state ``innovative``, one open title, one genesis event with a correct hash) by COPY, then times
``pipeline.dynamic.sweep.sweep(..., apply=True)`` — the same code ``pipeline sweep --apply`` runs — and
prints titles per second. The USCCs are synthetic (the sweep never re-validates them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from pipeline.access import cli_actor
from pipeline.db import make_engine, make_session_factory, unit_of_work
from pipeline.dynamic.sweep import sweep
from pipeline.lifecycle.chain import GENESIS_HASH, JCS, chain_hash, format_timestamp
from pipeline.migrate import upgrade
from pipeline.models import Event
from pipeline.rulebooks import rulebook_in_force

AS_OF = dt.date(2026, 1, 1)
LAPSED_UNTIL = dt.date(2025, 6, 30)
VALID_UNTIL = dt.date(2027, 6, 30)
RECORDED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _recreate(admin_url: str, name: str) -> str:
    admin = create_engine(make_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def load(url: str, titles: int, due: float) -> None:
    engine = make_engine(url)
    upgrade(engine)
    every = round(1 / due)
    book = rulebook_in_force(dt.date(2022, 7, 1))
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        with conn.cursor() as cur:
            cur.execute("""
                INSERT INTO enterprises (id, uscc, name, region_code, state, version, barred_until, last_seq,
                                         last_effective_date, data, flags, created_at, updated_at)
                SELECT g, '91410106' || lpad(g::text, 9, '0') || 'X', '基准企业' || g, '410106', 'innovative', 1,
                       NULL, 1, DATE '2022-07-01', '{}'::jsonb, '{}'::jsonb, now(), now()
                FROM generate_series(1, %(n)s) AS g""", {"n": titles})
            cur.execute("""
                INSERT INTO recognitions (enterprise_id, tier, document_no, batch, recognized_on, valid_until,
                                          ended_on, end_reason, granted_by_seq, ended_by_seq)
                SELECT g, 'innovative', NULL, '基准批次' || (g %% 7), DATE '2022-07-01',
                       CASE WHEN g %% %(every)s = 0 THEN %(lapsed)s::date ELSE %(valid)s::date END,
                       NULL, NULL, 1, NULL
                FROM generate_series(1, %(n)s) AS g""",
                        {"n": titles, "every": every, "lapsed": LAPSED_UNTIL, "valid": VALID_UNTIL})
            columns = ("enterprise_id", "uscc", "seq", "kind", "trigger", "from_state", "to_state", "effective_date",
                       "recorded_at", "actor", "reason_code", "reason", "evidence", "rulebook_id", "rulebook_hash",
                       "request_id", "prev_hash", "hash", "hash_recipe")
            with cur.copy(f"COPY events ({', '.join(columns)}) FROM STDIN") as copy:
                for g in range(1, titles + 1):
                    uscc = f"91410106{g:09d}X"
                    fields = {"uscc": uscc, "seq": 1, "kind": "transition", "trigger": "enroll", "from_state": None,
                              "to_state": "reserve", "effective_date": "2022-07-01",
                              "recorded_at": format_timestamp(RECORDED), "actor": "bench", "reason_code": None,
                              "reason": "bench", "evidence": {}, "rulebook_id": book.id,
                              "rulebook_hash": book.content_hash, "request_id": None}
                    digest = chain_hash(GENESIS_HASH, fields, JCS)
                    copy.write_row((g, uscc, 1, "transition", "enroll", None, "reserve", "2022-07-01", RECORDED,
                                    "bench", None, "bench", "{}", book.id, book.content_hash, None, GENESIS_HASH,
                                    digest, JCS))
            cur.execute("SELECT setval(pg_get_serial_sequence('enterprises', 'id'), %(n)s)", {"n": titles})
        conn.commit()
    finally:
        raw.close()
    with engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--titles", type=int, default=1_000_000)
    parser.add_argument("--due", type=float, default=0.10)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    url = _recreate(args.admin_url, "pipeline_bench_sweep")
    started = time.perf_counter()
    load(url, args.titles, args.due)
    print(f"loaded {args.titles:,} firms/titles/genesis events in {time.perf_counter() - started:.1f}s")

    engine = make_engine(url)
    factory = make_session_factory(engine)
    started = time.perf_counter()
    report = sweep(lambda: unit_of_work(factory), AS_OF, apply=True, requested_by=cli_actor("cli:bench"),
                   batch_size=args.batch_size)
    elapsed = time.perf_counter() - started
    with factory() as session:
        written = session.scalar(select(func.count()).select_from(Event).where(Event.trigger == "expire"))
    print(f"sweep --apply as of {AS_OF}: {report.candidates:,} candidates, {report.events:,} expire events "
          f"({written:,} in the table) by tier {dict(report.by_tier)}")
    print(f"elapsed {elapsed:.1f}s — {args.titles / elapsed:,.0f} titles/s over all {args.titles:,} titles, "
          f"{report.events / elapsed:,.0f} expiries/s; 1,000,000 titles at this rate: "
          f"{1_000_000 / (args.titles / elapsed):.1f} s (goal ≤ 10 s, bar 20 s) — load {os.getloadavg()[0]:.2f}")
    started = time.perf_counter()
    again = sweep(lambda: unit_of_work(factory), AS_OF, apply=True, requested_by=cli_actor("cli:bench"),
                  batch_size=args.batch_size)
    print(f"second run: {again.events} events in {time.perf_counter() - started:.1f}s")
    engine.dispose()


if __name__ == "__main__":
    main()
