"""Province-scale audit reads on PostgreSQL: one firm's history, a whole-province roster as of a date,
verification throughput, CSV export rate and peak memory, and the query plans behind them.

The dataset is generated set-based (generate_series, triggers off for the load): ``--firms`` firms
(default 1,000,000) with ``--events-per-firm`` events each (default 10 → 10,000,000). The chains are real:
each event is hashed in SQL by the jcs-1 recipe (a window aggregate over the firm's events in seq order),
and the firms' state and title rows equal a replay of their events — verification finds no problem, and is
timed doing all of its work on every event.

    .venv/bin/python bench/audit_scale.py --firms 100000            # a tenth of the default
    .venv/bin/python bench/audit_scale.py --reuse --firms 100000    # skip generation
    .venv/bin/python bench/audit_scale.py --reuse --only verify --only roster
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import time

from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url

from pipeline.access import Actor
from pipeline.db import make_engine, make_session_factory
from pipeline.history import feed, timetravel, verify
from pipeline.imports import exports
from pipeline.lifecycle.chain import GENESIS_HASH, JCS
from pipeline.migrate import upgrade
from pipeline.models import Event
from pipeline.rulebooks import get_rulebook

REGIONS = ["410102", "410103", "410104", "410105", "410106", "410108", "410122", "410181", "410182", "410183",
           "410202", "410302", "410305", "410411", "410421", "410502", "410602", "410702", "410802", "410902",
           "411002", "411102", "411202", "411221", "411302", "411402", "411502", "411602", "411702"]
PROVINCE = Actor(id="bench-province", role="auditor", region_code="410000")


CHAIN_FUNCTIONS = [
    # sha256 of the running hash and the next canonical text: as an aggregate run over one firm's events in
    # seq order (a window), it yields each event's hash under the chain recipe (pipeline.lifecycle.chain).
    """CREATE OR REPLACE FUNCTION pg_temp.chain_step(prev text, body text) RETURNS text
       LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT encode(sha256(convert_to(prev || body, 'UTF8')), 'hex') $$""",
    f"""CREATE AGGREGATE pg_temp.chain_of(text) (SFUNC = pg_temp.chain_step, STYPE = text,
       INITCOND = '{GENESIS_HASH}')""",
]


def _state(s: str) -> str:
    """The to_state of event ``s`` of firm ``f`` (SQL)."""
    return (f"CASE WHEN f.id % 10 = 0 AND {s} >= 3 THEN 'provincial' WHEN f.id % 3 = 0 AND {s} >= 2 "
            f"THEN 'innovative' ELSE 'reserve' END")


def generate(engine: Engine, firms: int, per_firm: int) -> None:
    """Firms whose chains are real (hashed by the jcs-1 recipe, which for these plain documents is the text
    ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` builds) and whose state and
    title rows equal a replay of their events: verifying them finds nothing."""
    book = get_rulebook("miit-2022")
    regions = "ARRAY[" + ",".join(f"'{r}'" for r in REGIONS) + "]"
    recognized = "(s = 2 AND f.id % 3 = 0) OR (s = 3 AND f.id % 10 = 0)"
    events = f"""
        SELECT f.id AS enterprise_id, f.uscc, s AS seq,
               CASE WHEN s = 1 OR {recognized} THEN 'transition' ELSE 'amendment' END AS kind,
               CASE WHEN s = 1 THEN 'enroll' WHEN s = 2 AND f.id % 3 = 0 THEN 'recognize_innovative'
                    WHEN s = 3 AND f.id % 10 = 0 THEN 'recognize_provincial' END AS trigger,
               CASE WHEN s = 1 THEN NULL ELSE {_state("(s - 1)")} END AS from_state,
               {_state("s")} AS to_state,
               DATE '2023-01-01' + s AS effective_date,
               date_trunc('second', TIMESTAMPTZ '2026-01-01 00:00:00+00') - interval '1 day' * ({per_firm} - s)
                   + interval '1 microsecond' * (f.id % 999983) AS recorded_at,
               'p-bench-' || (f.id % 50) AS actor,
               CASE WHEN s > 1 AND NOT ({recognized})
                    THEN '{{"changes":{{"data":{{"from":{{}},"to":{{"员工":' || s || '}}}}}}}}'
                    ELSE '{{"document_no":"豫工信〔2023〕' || s || '号"}}' END AS evidence_text,
               1000 + f.id * {per_firm} + s AS tx_id
        FROM enterprises f CROSS JOIN generate_series(1, {per_firm}) s"""
    body = """'{"actor":"' || actor || '","effective_date":"' || effective_date || '","evidence":' || evidence_text
              || ',"from_state":' || COALESCE('"' || from_state || '"', 'null') || ',"kind":"' || kind
              || '","reason":"批量生成的测试数据","reason_code":null,"recorded_at":"'
              || to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
              || '","request_id":null,"rulebook_hash":"RULEBOOK_HASH","rulebook_id":"miit-2022","seq":'
              || seq || ',"to_state":"' || to_state || '","trigger":' || COALESCE('"' || trigger || '"', 'null')
              || ',"uscc":"' || uscc || '"}'"""
    statements = [
        "SET session_replication_role = replica",  # the load only: append-only and tx_id triggers off
        *CHAIN_FUNCTIONS,
        f"""INSERT INTO enterprises (id, uscc, name, region_code, state, version, barred_until, last_seq,
                last_effective_date, data, flags, created_at, updated_at)
            SELECT g, '91' || ({regions})[1 + g % {len(REGIONS)}] || lpad(g::text, 9, '0') || 'X',
                   '企业' || g, ({regions})[1 + g % {len(REGIONS)}],
                   CASE WHEN g % 10 = 0 THEN 'provincial' WHEN g % 3 = 0 THEN 'innovative' ELSE 'reserve' END,
                   {per_firm}, NULL, {per_firm}, DATE '2023-01-01' + {per_firm}, '{{}}', '{{}}', now(), now()
            FROM generate_series(1, {firms}) g""",
        f"""INSERT INTO events (enterprise_id, uscc, seq, kind, trigger, from_state, to_state, effective_date,
                recorded_at, actor, reason_code, reason, evidence, rulebook_id, rulebook_hash, request_id,
                prev_hash, hash, hash_recipe, tx_id)
            SELECT enterprise_id, uscc, seq, kind, trigger, from_state, to_state, effective_date, recorded_at, actor,
                   NULL, '批量生成的测试数据', evidence_text::jsonb, 'miit-2022', 'RULEBOOK_HASH', NULL,
                   lag(hash, 1, '{GENESIS_HASH}') OVER (PARTITION BY enterprise_id ORDER BY seq), hash, '{JCS}', tx_id
            FROM (SELECT *, pg_temp.chain_of({body}) OVER (PARTITION BY enterprise_id ORDER BY seq) AS hash
                  FROM ({events}) ev) chained""",
        """INSERT INTO recognitions (enterprise_id, tier, document_no, batch, recognized_on, valid_until, ended_on,
                end_reason, granted_by_seq, ended_by_seq)
            SELECT id, 'innovative', '豫工信〔2023〕2号', NULL::text, DATE '2023-01-03', DATE '2026-01-02',
                   NULL::date, NULL::text, 2, NULL::int
            FROM enterprises WHERE id % 3 = 0
            UNION ALL
            SELECT id, 'provincial', '豫工信〔2023〕3号', NULL::text, DATE '2023-01-04', DATE '2026-01-03',
                   NULL::date, NULL::text, 3, NULL::int
            FROM enterprises WHERE id % 10 = 0""",
        "SELECT setval(pg_get_serial_sequence('enterprises', 'id'), (SELECT max(id) FROM enterprises))",
        "SELECT setval(pg_get_serial_sequence('events', 'id'), (SELECT max(id) FROM events))",
    ]
    with engine.begin() as connection:
        driver = connection.connection.driver_connection  # plain SQL, no placeholders: psycopg leaves % alone
        assert driver is not None
        for statement in statements:
            started = time.perf_counter()
            driver.execute(statement.replace("RULEBOOK_HASH", book.content_hash))
            words = statement.split()
            print(f"  {words[0]} {words[2] if len(words) > 2 else ''}: {time.perf_counter() - started:.1f} s",
                  flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))


def explain(engine: Engine, title: str, sql: str, params: dict[str, object]) -> None:
    with engine.connect() as connection:
        plan = connection.execute(text("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql), params).scalars().all()
    print(f"\n-- EXPLAIN {title}\n" + "\n".join(plan))


def bench_history(engine: Engine, firms: int, samples: int = 1000) -> None:
    factory = make_session_factory(engine)
    rng = random.Random(7)
    timings = []
    with engine.connect() as connection:
        usccs = [connection.execute(text("SELECT uscc FROM enterprises WHERE id = :i"),
                                    {"i": rng.randint(1, firms)}).scalar_one() for _ in range(samples)]
    for uscc in usccs:
        started = time.perf_counter()
        with factory() as session:
            rows = list(session.scalars(select(Event).where(Event.uscc == uscc).order_by(Event.seq)))
        timings.append((time.perf_counter() - started) * 1000)
        assert rows
    timings.sort()
    print(f"history of one firm ({len(rows)} events, ORM, new session each): p50 {statistics.median(timings):.2f} ms, "
          f"p99 {timings[int(len(timings) * 0.99) - 1]:.2f} ms over {samples} random firms")
    explain(engine, "one firm's history", "SELECT * FROM events WHERE uscc = :u ORDER BY seq", {"u": usccs[0]})


def _backend_cpu(pid: int) -> float | None:
    """CPU seconds used so far by a PostgreSQL backend running on this machine (from /proc); None when the
    process is not a local postgres one — on a shared machine, CPU time says more than wall time."""
    try:
        with open(f"/proc/{pid}/comm") as comm, open(f"/proc/{pid}/stat") as stat:
            if comm.read().strip() != "postgres":
                return None
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime, in clock ticks


def bench_roster(engine: Engine) -> None:
    import datetime as dt

    factory = make_session_factory(engine)
    as_of = dt.date(2024, 6, 1)
    started, cpu = time.perf_counter(), time.process_time()
    total, pages, after = 0, 0, 0
    with factory() as session:
        driver = session.connection().connection.driver_connection
        assert driver is not None
        backend = driver.info.backend_pid
        backend_cpu = _backend_cpu(backend)
        while True:
            entries, more = timetravel.roster(session, PROVINCE, as_of=as_of, after_id=after, limit=500)
            total += len(entries)
            pages += 1
            if not more:
                break
            after = entries[-1].enterprise_id
        backend_after = _backend_cpu(backend)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    server = (f", PostgreSQL's backend {backend_after - backend_cpu:.2f} s" if backend_cpu is not None
              and backend_after is not None else "")
    print(f"\nroster of the whole province as of {as_of}: {total} firms in {pages} pages of 500, {elapsed:.2f} s "
          f"({elapsed / pages * 1000:.1f} ms/page; goal ≤ 1 s, bar 2 s) — load {os.getloadavg()[0]:.2f}; CPU: this "
          f"process {cpu:.2f} s{server}")
    sql, fixed = timetravel._compiled_page(False, 1, engine.dialect)  # what roster() runs per page
    params = {**fixed, "day": as_of, "after": after // 2, "firms": 501, "rows": 501 * timetravel.ROWS_PER_FIRM,
              "prefix0": "41"}
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        plan = [row[0] for row in driver.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)]
    print("\n-- EXPLAIN one roster page (the statement roster() runs)\n" + "\n".join(plan))
    started = time.perf_counter()
    with factory() as session:
        table = exports.roster_table(session, PROVINCE, as_of=as_of)
        exported = sum(1 for _ in table.rows)
    print(f"roster export rows (GET /api/v1/exports/roster, before the file is written): {exported} titles in "
          f"{time.perf_counter() - started:.2f} s — load {os.getloadavg()[0]:.2f}")
    started = time.perf_counter()
    with factory() as session:
        exported = sum(1 for _ in exports.enterprises_table(session, PROVINCE).rows)
    print(f"firms export rows (GET /api/v1/exports/enterprises, before the file is written): {exported} firms in "
          f"{time.perf_counter() - started:.2f} s — load {os.getloadavg()[0]:.2f}")
    started = time.perf_counter()
    with factory() as session:
        rows = timetravel.counts(session, PROVINCE, as_of=as_of)
    print(f"counts per state and region level as of {as_of}: {len(rows)} regions in "
          f"{time.perf_counter() - started:.2f} s")


def bench_verify(engine: Engine, workers: int) -> None:
    """``pipeline audit verify`` over the whole database: what the CLI runs (worker processes sharing the firm
    ranges, one snapshot), beside the goal of 10 M events in 2 minutes."""
    started, children = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    report = verify.verify_parallel(engine, workers=workers)
    elapsed, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    rate = report.events_checked / elapsed
    print(f"\nverification (pipeline audit verify --workers {workers}): {report.events_checked:,} events of "
          f"{report.firms_checked:,} firms in {elapsed:.1f} s = {rate:,.0f} events/s "
          f"({len(report.problems)} problems); 10 M events at this rate: {10_000_000 / rate:.0f} s "
          f"(goal ≤ 120 s) — load {os.getloadavg()[0]:.2f}; the workers' CPU {cpu:.1f} s = "
          f"{cpu / max(report.events_checked, 1) * 1e6:.1f} µs per event (PostgreSQL's own not counted)")


EXPORT_CHILD = """
import resource, sys, time
from pipeline.history import search as audit_query
from pipeline.access import Actor
from pipeline.db import make_engine, make_session_factory
engine = make_engine(sys.argv[1])
factory = make_session_factory(engine)
flt = audit_query.EventFilter(recorded_to=None)
actor = Actor(id="bench", role="auditor", region_code="410000")
started = time.perf_counter(); size = 0; rows = 0
limit = int(sys.argv[2])
def limited():
    global rows
    for doc in audit_query.iter_documents(factory, actor, flt):
        rows += 1
        if rows > limit:
            return
        yield doc
with open("/dev/null", "wb") as sink:
    for chunk in audit_query.csv_chunks(limited()):
        size += len(chunk); sink.write(chunk)
elapsed = time.perf_counter() - started
print(f"{min(rows, limit)} {size} {elapsed} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
"""


def bench_export(url: str, rows: int) -> None:
    for n in (rows // 10, rows):
        out = subprocess.run([sys.executable, "-c", EXPORT_CHILD, url, str(n)], capture_output=True, text=True,
                             check=True).stdout.split()
        count, size, elapsed, rss = int(out[0]), int(out[1]), float(out[2]), int(out[3])
        print(f"CSV export of {count:,} events: {size / 1e6:.0f} MB in {elapsed:.1f} s = "
              f"{count / elapsed:,.0f} rows/s, "
              f"peak RSS {rss / 1024:.0f} MB (whole process)")


def explain_search(engine: Engine) -> None:
    explain(engine, "auditor search, newest first, province scope, by actor",
            "SELECT ev.* FROM events ev JOIN enterprises e ON e.id = ev.enterprise_id WHERE e.region_code LIKE '41%' "
            "AND ev.actor = 'p-bench-7' ORDER BY ev.id DESC LIMIT 101", {})
    explain(engine, "change feed page",
            f"SELECT * FROM events WHERE tx_id < ({feed.HORIZON_SQL}) "
            "AND (tx_id, id) > (5000000, 0) ORDER BY tx_id, id LIMIT 100", {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/audit_bench")
    parser.add_argument("--firms", type=int, default=1_000_000)
    parser.add_argument("--events-per-firm", type=int, default=10)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="verification worker processes")
    parser.add_argument("--only", choices=["history", "roster", "verify", "export", "explain"], action="append",
                        help="run only these parts (repeatable)")
    parser.add_argument("--export-rows", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="keep an already generated database")
    args = parser.parse_args()
    url = make_url(args.url)
    if not args.reuse:
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{url.database}"'))
        admin.dispose()
    engine = make_engine(args.url)
    if not args.reuse:
        upgrade(engine)
        print(f"generating {args.firms:,} firms × {args.events_per_firm} events …", flush=True)
        started = time.perf_counter()
        generate(engine, args.firms, args.events_per_firm)
        print(f"generated in {time.perf_counter() - started:.0f} s")
    parts = set(args.only or ["history", "roster", "verify", "export", "explain"])
    if "history" in parts:
        bench_history(engine, args.firms)
    if "roster" in parts:
        bench_roster(engine)
    if "verify" in parts:
        bench_verify(engine, args.workers)
    if "export" in parts:
        bench_export(args.url, args.export_rows)
    if "explain" in parts:
        explain_search(engine)
    engine.dispose()


if __name__ == "__main__":
    main()
