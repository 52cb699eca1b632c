"""A real ``pipeline serve`` in a subprocess for the tests that need one: a free port, readiness, and a clean stop.

(bench/api_load.py keeps its own copy: the benchmark imports nothing from the tests.)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    """The server and its worker processes share a process group we created: end that group only."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextmanager
def serve(database_url: str, workers: int, log_path: Path, ready: str = "/readyz",
          timeout: float = 30) -> Iterator[str]:
    """``pipeline serve --workers N`` on a free port, logging to ``log_path``; yields its base URL once
    ``ready`` answers 200, and stops the whole process group afterwards."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "serve", "--workers", str(workers), "--port", str(port),
             "--log-level", "warning"],
            env={"PIPELINE_SECRET_KEY": "test-shared-secret", **os.environ, "PIPELINE_DATABASE_URL": database_url},
            stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    if httpx.get(f"{base_url}{ready}", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not become ready: {log_path.read_text()}")
                time.sleep(0.1)
            yield base_url
        finally:
            _stop(process)
