"""The awards derivation at the end of a recognition import, on PostgreSQL: how long ``_Importer._entitle`` (that
is, :func:`pipeline.awards.reads.sync` for the firms the file touched) takes, beside the whole import.

A fresh database is migrated, N new firms are enrolled (``pipeline import FILE --action enroll --apply``) and
recognised 创新型 (``--action recognize_innovative``, which no pack pays for: the machine allows 省级 only after
it) — subprocesses, as ``bench/import.py`` runs them; then ``pipeline import FILE --action recognize_provincial
--effective-date 2025-06-01 --batch 2025年第一批 --apply`` runs in this process, ``_Importer._entitle`` wrapped to
time it. A 省级 recognition earns under the Zhengzhou and Zhanhe packs, whose regions hold four in six of the
firms: the import derives their entitlements (41,667 of 50,000).

Prints, per run: the import's wall time, this process's CPU time over the import (user + system: the importer's),
the derivation's wall and CPU time, and how long the cyclic garbage collector ran during the derivation.
``--runs`` repeats the whole (fresh database each time); on a shared machine compare CPU times, and alternate the
two versions being compared.

    PYTHONPATH=src:. .venv/bin/python bench/awards_sync.py --rows 20000
    PYTHONPATH=src:. .venv/bin/python bench/awards_sync.py --rows 50000 --runs 3
    PYTHONPATH=src:. .venv/bin/python bench/awards_sync.py --rows 20000 --profile /tmp/sync.prof

``--profile FILE`` runs the derivation under cProfile (its figures are then not comparable).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import cProfile
import gc
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).parent))  # bench/import.py's helpers

import pipeline
from pipeline.cli import main as pipeline_main
from pipeline.imports import engine

bench_import: Any = __import__("import")
DATABASE = "pipeline_bench_awards_sync"


def cpu() -> float:
    times = os.times()
    return times.user + times.system


@contextlib.contextmanager
def timed_entitle(spent: dict[str, float], profile: Path | None) -> Iterator[None]:
    """``_Importer._entitle`` timed (wall and CPU) into ``spent``, under cProfile when ``profile`` is a file."""
    original = engine._Importer._entitle

    collecting: list[float] = []
    spent["gc"] = 0.0

    def collector(phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            collecting.append(time.perf_counter())
        elif collecting:
            spent["gc"] += time.perf_counter() - collecting.pop()

    def wrapper(self: Any) -> None:
        profiler = cProfile.Profile() if profile else None
        started, started_cpu = time.perf_counter(), cpu()
        gc.callbacks.append(collector)
        if profiler:
            profiler.enable()
        try:
            original(self)
        finally:
            if profiler:
                profiler.disable()
                profiler.dump_stats(str(profile))
            gc.callbacks.remove(collector)
            spent["wall"] = time.perf_counter() - started
            spent["cpu"] = cpu() - started_cpu

    engine._Importer._entitle = wrapper  # type: ignore[method-assign]
    try:
        yield
    finally:
        engine._Importer._entitle = original  # type: ignore[method-assign]


def recognize_in_process(url: str, path: Path) -> str:
    """Run the recognition import through the CLI's entry point; its output, captured."""
    args = ["--database-url", url, "import", str(path), "--action", "recognize_provincial",
            "--effective-date", "2025-06-01", "--batch", "2025年第一批", "--apply"]
    with tempfile.TemporaryFile("w+") as out, contextlib.redirect_stdout(out):
        code = pipeline_main(args)
        out.seek(0)
        if code != 0:
            raise SystemExit(f"pipeline failed ({code}): {out.read()[-2000:]}")
        return out.read().strip()


def one_run(admin_url: str, rows: int, folder: Path, profile: Path | None) -> None:
    path = folder / f"list-{rows}.csv"
    if not path.exists():
        bench_import.generate(path, rows)
    url = bench_import.fresh_database(admin_url, DATABASE)
    for action in (["enroll"], ["recognize_innovative", "--effective-date", "2025-03-01",
                                "--document-no", "豫工信企业〔2025〕1号"]):
        bench_import.run_child([bench_import.PIPELINE, "--database-url", url, "import", str(path), "--action",
                                *action, "--apply"])
    spent: dict[str, float] = {}
    with timed_entitle(spent, profile):
        started, started_cpu = time.perf_counter(), cpu()
        output = recognize_in_process(url, path)
        wall, used = time.perf_counter() - started, cpu() - started_cpu
    print(f"{rows:,} rows: import {wall:6.2f} s wall, CPU {used:6.2f} s; derivation (_entitle) "
          f"{spent['wall']:6.2f} s wall, CPU {spent['cpu']:6.2f} s (cyclic GC {spent['gc']:5.2f} s)", flush=True)
    print(f"      {output.splitlines()[-1] if output else ''}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--url", default=os.environ.get("PIPELINE_BENCH_POSTGRES_URL", bench_import.DEFAULT_URL))
    parser.add_argument("--profile", type=Path, metavar="FILE", help="cProfile the derivation into FILE")
    args = parser.parse_args()
    compileall.compile_dir(Path(pipeline.__file__).parent, quiet=1)  # as bench/import.py does (see there)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.runs):
                one_run(args.url, args.rows, Path(tmp), args.profile)
    finally:
        with psycopg.connect(make_url(args.url).set(drivername="postgresql").render_as_string(
                hide_password=False), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    main()
