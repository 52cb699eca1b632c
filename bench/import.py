"""`pipeline import --apply` on PostgreSQL against a plain COPY of the same rows, at two file sizes.

For each size a fresh database is migrated, a GB18030-free UTF-8 CSV of new firms is generated (a title row,
the header, then one firm per row), and four things are timed:

* COPY of the same rows into a scratch table (psycopg ``COPY … FROM STDIN``), the limit;
* ``pipeline import FILE --action enroll --apply`` as a subprocess (start-up, reading, validating every code,
  the guards and the machine, hashing, writing firm + event rows, one commit);
* ``pipeline import FILE --action recognize_innovative --apply`` on the same, now existing, firms (loading
  each chunk's firms and titles, writing event + title rows and updating the firm) — no pack pays for a
  创新型 recognition, so no entitlement is derived;
* ``pipeline import FILE --action recognize_provincial --apply`` on the same firms, the figure *with packs*: a
  省级 recognition earns under the Zhengzhou and Zhanhe packs, whose regions hold four in six of the firms, and
  the import derives their entitlements in the same run.

A fifth figure is the floor the database itself sets: COPY of as many ready-made event rows (sealed-looking,
one per firm, next seq) into the real ``events`` table — its eight indexes, the foreign key and the tx_id
trigger — rolled back. No import can write its events faster than that.

The package's bytecode is compiled before the children run (``compileall``), as installing it from a wheel
leaves it: on a machine with ``PYTHONDONTWRITEBYTECODE`` set (this one) an editable install is otherwise
compiled afresh by every ``pipeline`` process, about 0.2 s of each import's start-up.

The importer's own CPU time is printed beside its wall time: on a shared machine the wall time moves with
the load, the CPU time much less. Peak memory is each child's own maximum RSS (``os.wait4``;
``resource.getrusage(RUSAGE_CHILDREN)`` would give the maximum over all children so far). Prints rows/s, the
ratio to the floor and the peak RSS.

    .venv/bin/python bench/import.py --rows 100000 50000
    .venv/bin/python bench/import.py --rows 50000 --no-bombs --profile /tmp/prof   # then: python -m pstats FILE

``--profile DIR`` runs both imports under cProfile and leaves ``import-<action>-<rows>.prof`` in DIR (the
profiler slows them down: their figures are then not comparable with unprofiled runs).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import csv
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url
from stdnum.cn.uscc import calc_check_digit

import pipeline
from pipeline.config import ImportLimits
from pipeline.db import make_engine
from pipeline.errors import PipelineError
from pipeline.imports.xlsx import check_workbook
from pipeline.migrate import upgrade

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REGIONS = ("410106", "410102", "410103", "410105", "411202", "410411")
PIPELINE = str(Path(sys.executable).with_name("pipeline"))


def generate(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["2025年河南省培育库名单（基准测试）", "", "", "", ""])
        writer.writerow(["序号", "统一社会信用代码", "企业名称", "所在地区", "认定日期"])
        for n in range(1, rows + 1):
            region = REGIONS[n % len(REGIONS)]
            body = f"91{region}{n:09d}"
            writer.writerow([n, body + calc_check_digit(body), f"基准测试企业{n}有限公司", region, "2025-01-10"])


def fresh_database(admin_url: str, name: str) -> str:
    url = make_url(admin_url)
    with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    target = url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(target)
    upgrade(engine)
    engine.dispose()
    return target


def time_copy(url: str, path: Path) -> float:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE scratch_copy (serial int, uscc varchar(18), name varchar(200), "
                     "region_code varchar(6), effective_date date)")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cursor, path.open("rb") as stream:
            stream.readline()
            stream.readline()  # the title and header rows
            with cursor.copy("COPY scratch_copy FROM STDIN WITH (FORMAT csv)") as copy:
                while block := stream.read(1 << 16):
                    copy.write(block)
        conn.commit()
        return time.perf_counter() - started


def time_events_floor(url: str) -> tuple[float, int]:
    """Seconds to COPY one ready-made event per stored firm into ``events`` (then rolled back), and the count."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    columns = ("enterprise_id, uscc, seq, kind, trigger, from_state, to_state, effective_date, recorded_at, actor, "
               "reason_code, reason, evidence, rulebook_id, rulebook_hash, request_id, prev_hash, hash")
    now = dt.datetime.now(dt.UTC)
    evidence = json.dumps({"document_no": "豫工信企业〔2025〕2号", "import": {
        "file_name": "list.csv", "file_sha256": "0" * 64, "row": 3, "run": 0}}, ensure_ascii=False)
    with psycopg.connect(dsn) as conn, conn.transaction(force_rollback=True), conn.cursor() as cursor:
        firms = cursor.execute("SELECT id, uscc, last_seq FROM enterprises ORDER BY id").fetchall()
        started = time.perf_counter()
        for start in range(0, len(firms), 2000):
            with cursor.copy(f"COPY events ({columns}) FROM STDIN") as copy:
                for firm_id, uscc, last_seq in firms[start:start + 2000]:
                    copy.write_row((firm_id, uscc, last_seq + 1, "transition", "renew", "innovative", "innovative",
                                    dt.date(2025, 6, 1), now, "cli:bench", None, None, evidence, "miit-2022",
                                    "0" * 64, None, "0" * 64, "0" * 64))
        return time.perf_counter() - started, len(firms)


def build_bombs(folder: Path) -> list[tuple[str, Path]]:
    """Two hostile workbooks, written in streamed chunks (never 1.2 GB in memory here either)."""
    import openpyxl

    base = folder / "base.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["统一社会信用代码", "企业名称"])
    book.save(base)
    source = zipfile.ZipFile(base)
    main_ns = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    made = []
    for label, extra in (("1.2 GB sheet", "sheet"), ("20 M shared strings", "strings")):
        path = folder / f"bomb-{extra}.xlsx"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
            for info in source.infolist():
                content = source.read(info)
                if extra == "strings" and info.filename == "[Content_Types].xml":
                    content = content.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType='
                                              b'"application/vnd.openxmlformats-officedocument.spreadsheetml.'
                                              b'sharedStrings+xml"/></Types>')
                if extra == "sheet" and info.filename == "xl/worksheets/sheet1.xml":
                    with target.open(info.filename, "w", force_zip64=True) as member:
                        member.write(content.replace(b"</worksheet>", b""))
                        block = b"<row/>" * (1 << 20)
                        for _ in range(1_200_000_000 // len(block)):
                            member.write(block)
                        member.write(b"</worksheet>")
                    continue
                target.writestr(info.filename, content)
            if extra == "strings":
                with target.open("xl/sharedStrings.xml", "w", force_zip64=True) as member:
                    member.write(b"<sst " + main_ns + b">")
                    block = b"<si><t/></si>" * 100_000
                    for _ in range(200):
                        member.write(block)
                    member.write(b"</sst>")
        made.append((label, path))
    return made


def generate_xlsx(path: Path, rows: int) -> None:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("名单")
    sheet.append(["2025年河南省培育库名单（基准测试）"])
    sheet.append(["序号", "统一社会信用代码", "企业名称", "所在地区", "认定日期"])
    for n in range(1, rows + 1):
        region = REGIONS[n % len(REGIONS)]
        body = f"91{region}{n:09d}"
        sheet.append([n, body + calc_check_digit(body), f"基准测试企业{n}有限公司", region, dt.date(2025, 1, 10)])
    book.save(path)


def run_child(args: list[str], *, check: bool = True) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds, peak RSS in MiB and the last line of output of one ``pipeline`` run."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode("utf-8", "replace").strip()
    if check and child.returncode != 0:
        raise SystemExit(f"pipeline failed ({child.returncode}): {text[-2000:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024, text.splitlines()[-1]


def profiled(folder: Path | None, name: str) -> list[str]:
    """The ``pipeline`` command, under cProfile writing ``folder/import-<name>.prof`` when a folder is given."""
    if folder is None:
        return [PIPELINE]
    folder.mkdir(parents=True, exist_ok=True)
    return [sys.executable, "-m", "cProfile", "-o", str(folder / f"import-{name}.prof"), PIPELINE]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 50_000])
    parser.add_argument("--url", default=os.environ.get("PIPELINE_BENCH_POSTGRES_URL", DEFAULT_URL))
    parser.add_argument("--xlsx-rows", type=int, nargs="*", default=[], help="dry runs of .xlsx files this long")
    parser.add_argument("--no-bombs", dest="bombs", action="store_false", help="skip the hostile files")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="run the imports under cProfile, .prof files here")
    args = parser.parse_args()
    compileall.compile_dir(Path(pipeline.__file__).parent, quiet=1)  # as a wheel install leaves it (see above)
    with tempfile.TemporaryDirectory() as tmp:
        if args.bombs or args.xlsx_rows:
            url = fresh_database(args.url, "pipeline_bench_import")
        if args.bombs:
            for label, path in build_bombs(Path(tmp)):
                seconds, _, peak, line = run_child(
                    [PIPELINE, "--database-url", url, "import", str(path), "--action", "enroll"], check=False)
                declared = sum(info.file_size for info in zipfile.ZipFile(path).infolist())
                started = time.perf_counter()
                with path.open("rb") as stream, contextlib.suppress(PipelineError):
                    check_workbook(stream, ImportLimits.from_env())
                check_ms = (time.perf_counter() - started) * 1000
                print(f"\nbomb: {label} ({path.stat().st_size / 2**20:.1f} MiB file, {declared / 2**20:,.0f} MiB "
                      f"declared): refused in {seconds:.2f} s "
                      f"(CLI start-up included; the check itself {check_ms:.1f} ms), peak RSS {peak} MiB")
                print(f"      {line[:200]}")
        for rows in args.xlsx_rows:
            path = Path(tmp) / f"list-{rows}.xlsx"
            generate_xlsx(path, rows)
            declared = sum(info.file_size for info in zipfile.ZipFile(path).infolist())
            seconds, cpu, peak, line = run_child(
                [PIPELINE, "--database-url", url, "import", str(path), "--action", "enroll"])
            print(f"\n{rows:,}-row .xlsx ({path.stat().st_size / 2**20:.1f} MiB, {declared / 2**20:.0f} MiB "
                  f"uncompressed) dry run: {seconds:.2f} s, peak RSS {peak} MiB (CPU {cpu:.2f} s)")
            print(f"      {line}")
        for rows in args.rows:
            path = Path(tmp) / f"list-{rows}.csv"
            generate(path, rows)
            url = fresh_database(args.url, "pipeline_bench_import")
            copy_s = time_copy(url, path)
            enroll_s, enroll_cpu, enroll_mb, enroll_line = run_child(
                [*profiled(args.profile, f"enroll-{rows}"), "--database-url", url, "import", str(path),
                 "--action", "enroll", "--apply"])
            recog_s, recog_cpu, recog_mb, recog_line = run_child(
                [*profiled(args.profile, f"recognize_innovative-{rows}"), "--database-url", url, "import", str(path),
                 "--action", "recognize_innovative", "--effective-date", "2025-03-01",
                 "--document-no", "豫工信企业〔2025〕1号", "--apply"])
            # with packs: a 省级 recognition earns under the Zhengzhou and Zhanhe packs (their firms: 4 of 6 regions)
            packs_s, packs_cpu, packs_mb, packs_line = run_child(
                [*profiled(args.profile, f"recognize_provincial-{rows}"), "--database-url", url, "import", str(path),
                 "--action", "recognize_provincial", "--effective-date", "2025-06-01",
                 "--batch", "2025年第一批", "--apply"])
            floor_s, floor_rows = time_events_floor(url)
            size_mb = path.stat().st_size / 2**20
            copy_rate = rows / copy_s
            floor_rate = floor_rows / floor_s
            print(f"\n{rows:,} rows ({size_mb:.1f} MiB CSV) on PostgreSQL")
            print(f"  COPY into a scratch table   {copy_s:7.2f} s  {copy_rate:10,.0f} rows/s  (the limit)")
            print(f"  COPY ready events → events  {floor_s:7.2f} s  {floor_rate:10,.0f} rows/s  "
                  f"1/{copy_rate / floor_rate:.0f} of COPY  (the database's floor: indexes, foreign key, trigger)")
            for label, seconds, cpu, peak, line in (
                    ("import --action enroll", enroll_s, enroll_cpu, enroll_mb, enroll_line),
                    ("import recognize_innovative", recog_s, recog_cpu, recog_mb, recog_line),
                    ("… recognize_provincial (packs)", packs_s, packs_cpu, packs_mb, packs_line)):
                rate = rows / seconds
                print(f"  {label:<28}{seconds:7.2f} s  {rate:10,.0f} rows/s  {rate / floor_rate:.3f}× the floor  "
                      f"peak RSS {peak} MiB  (importer CPU {cpu:.2f} s: {rows / cpu:,.0f} rows per CPU-second)")
                print(f"      {line}")
        with psycopg.connect(make_url(args.url).set(drivername="postgresql").render_as_string(
                hide_password=False), autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "pipeline_bench_import" WITH (FORCE)')


if __name__ == "__main__":
    main()
