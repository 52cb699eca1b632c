"""Benchmark: the 创新型 candidate list (GET /api/v1/candidates) over 100,000 reserve firms with indicators.

    .venv/bin/python bench/candidates.py [--firms 100000] [--tier innovative] \
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Builds a scratch PostgreSQL database by the real migrations, bulk-inserts the firms (in the state one tier
below the list's, in 郑州) and one year of random indicators each (the generator of bench/eligibility.py), then
times :func:`pipeline.screening.candidates.candidates` as a city official calls it: one streamed query,
every firm judged in Python, the list ranked. Seeding is not timed. The database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import random
import time
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url
from stdnum.cn.uscc import calc_check_digit

from pipeline.access import Actor
from pipeline.migrate import upgrade
from pipeline.models import Enterprise, Recognition
from pipeline.models.dynamic import AnnualFiling
from pipeline.screening.candidates import LIST_STATE, candidates

_spec = importlib.util.spec_from_file_location("bench_eligibility", Path(__file__).with_name("eligibility.py"))
assert _spec is not None
assert _spec.loader is not None
_eligibility = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_eligibility)
random_firm = _eligibility.random_firm

DISTRICTS = ("410102", "410103", "410105", "410106", "410122")
CHUNK = 5_000


def seed(url: str, firms: int, tier: str, seed_value: int) -> None:
    rng = random.Random(seed_value)
    engine = create_engine(url)
    now = dt.datetime.now(dt.UTC)
    state = LIST_STATE[tier]
    with engine.begin() as conn:
        for start in range(0, firms, CHUNK):
            rows = []
            for n in range(start, min(start + CHUNK, firms)):
                body = f"91{DISTRICTS[n % len(DISTRICTS)]}{n:09d}"
                rows.append({"uscc": body + calc_check_digit(body), "name": f"基准企业{n}", "region_code": body[2:8],
                             "state": state, "version": 1, "last_seq": 1, "data": {}, "flags": {},
                             "created_at": now, "updated_at": now})
            ids = conn.execute(insert(Enterprise).returning(Enterprise.id), rows).scalars().all()
            conn.execute(insert(AnnualFiling), [
                {"enterprise_id": firm_id, "year": 2025, "filed_on": dt.date(2026, 4, 20), "recorded_at": now,
                 "actor": "bench", "indicators": {k: v for k, v in random_firm(rng).items() if v is not None}}
                for firm_id in ids])
            if state != "reserve":  # the lower title the list requires, valid today
                conn.execute(insert(Recognition), [
                    {"enterprise_id": firm_id, "tier": state, "recognized_on": dt.date(2025, 1, 1),
                     "valid_until": dt.date(2027, 12, 31), "granted_by_seq": 1} for firm_id in ids])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))  # what autovacuum does after a bulk load; without statistics the planner guesses
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--firms", type=int, default=100_000)
    parser.add_argument("--tier", default="innovative", choices=sorted(LIST_STATE))
    parser.add_argument("--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--seed", type=int, default=20260401)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    name = "pipeline_bench_candidates"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        from pipeline.db import make_engine, make_session_factory

        engine = make_engine(url)
        upgrade(engine)
        started = time.perf_counter()
        seed(url, args.firms, args.tier, args.seed)
        print(f"seeded {args.firms:,} {LIST_STATE[args.tier]} firms with 2025 indicators in "
              f"{time.perf_counter() - started:.1f} s (not timed below)")
        city = Actor(id="bench-city", role="official", level="city", region_code="410100")
        factory = make_session_factory(engine)
        for attempt in range(1, args.repeat + 1):
            with factory() as session:
                session.execute(select(1))  # connect outside the timer
                start, cpu = time.perf_counter(), time.process_time()
                listed = candidates(session, city, tier=args.tier)
                elapsed, cpu_used = time.perf_counter() - start, time.process_time() - cpu
            print(f"run {attempt}: tier {args.tier}, rulebook {listed.rulebook.id}: judged {listed.screened:,} firms, "
                  f"listed {len(listed.items):,} (passed {listed.count('pass'):,}, open {listed.count('unknown'):,}) "
                  f"in {elapsed:.2f} s — {listed.screened / elapsed:,.0f} firms/s (CPU {cpu_used:.2f} s; goal for "
                  f"100,000: ≤ 2 s) — load {os.getloadavg()[0]:.2f}")
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
