"""`pipeline serve --workers 2` answers keep-alive requests without Nagle's delay.

With several workers uvicorn binds the listening socket itself, and asyncio's own loop then leaves Nagle's
algorithm on for every connection: a response's body waits for the client's delayed ACK of its headers, so
each request on a kept-alive connection took ≥ 40 ms (measured: 44–56 ms for `/healthz`, against ≈ 1 ms).
uvloop (a dependency for this reason) sets TCP_NODELAY. Each bare `/healthz` must come back well below 40 ms.
"""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path

import httpx
from server_process import serve

REQUESTS = 20
NAGLE_DELAY_S = 0.040  # Linux's minimum delayed-ACK timeout: the floor of every stalled response


def test_kept_alive_requests_are_not_held_back_by_nagle(sqlite_template: Path, tmp_path: Path) -> None:
    database = tmp_path / "pipeline.db"
    shutil.copyfile(sqlite_template, database)
    with serve(f"sqlite:///{database}", 2, tmp_path / "server.log", ready="/healthz") as base_url, \
            httpx.Client(base_url=base_url, timeout=5) as client:
        durations = []
        for _ in range(REQUESTS):  # one connection, kept alive
            started = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            durations.append(time.perf_counter() - started)
    assert statistics.median(durations) < NAGLE_DELAY_S * 0.75, [round(d * 1000, 1) for d in durations]
