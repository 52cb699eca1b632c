"""`pipeline serve --workers 2` answers keep-alive requests without Nagle's delay.

With several workers uvicorn binds the listening socket itself, and asyncio's own loop then leaves Nagle's
algorithm on for every connection: a response's body waits for the client's delayed ACK of its headers, so
each request on a kept-alive connection took ≥ 40 ms (measured: 44–56 ms for `/healthz`, against ≈ 1 ms).
uvloop (a dependency for this reason) sets TCP_NODELAY. Each bare `/healthz` must come back well below 40 ms.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

REQUESTS = 20
NAGLE_DELAY_S = 0.040  # Linux's minimum delayed-ACK timeout: the floor of every stalled response


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_kept_alive_requests_are_not_held_back_by_nagle(sqlite_template: Path, tmp_path: Path) -> None:
    database = tmp_path / "pipeline.db"
    shutil.copyfile(sqlite_template, database)
    port = _free_port()
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "serve", "--workers", "2", "--port", str(port), "--log-level",
         "warning"],
        env={**os.environ, "PIPELINE_DATABASE_URL": f"sqlite:///{database}"}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, (tmp_path / "server.log").read_text()
                assert time.monotonic() < deadline, "the server did not become ready"
                time.sleep(0.1)
            durations = []
            for _ in range(REQUESTS):  # one connection, kept alive
                started = time.perf_counter()
                assert client.get("/healthz").status_code == 200
                durations.append(time.perf_counter() - started)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()
    assert statistics.median(durations) < NAGLE_DELAY_S * 0.75, [round(d * 1000, 1) for d in durations]
