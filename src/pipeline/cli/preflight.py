"""Checks before a command touches anything, so that every set-up mistake is one line saying what to do.

The database: a URL we can use (:func:`pipeline.db.database_url`), an SQLite file in a folder that exists,
a file that exists unless the command creates it (only ``db upgrade`` and ``serve`` do — any other command
on a mistyped path would otherwise leave an empty ``pipeline.db`` behind), a server that answers, and a
schema at the head revision. ``serve``: the port is free, and several workers share one secret key.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from pipeline.migrate import HEAD_REVISION, current_revision, head_revision, is_known_revision

SECRET_ENV = "PIPELINE_SECRET_KEY"  # noqa: S105 — the variable's name, not a secret
LOG_FORMAT_ENV = "PIPELINE_LOG_FORMAT"
LOG_FORMATS = ("text", "json")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class SetupFailed(Exception):
    """The command cannot start; the message (one line) says why and what to do."""


def where(engine: Engine) -> str:
    """The database as an operator recognises it, without its password."""
    if engine.url.get_backend_name() == "sqlite":
        return f"SQLite {engine.url.database or ':memory:'}"
    return engine.url.render_as_string(hide_password=True)


def database_error(engine: Engine, exc: DBAPIError) -> str:
    """A driver's complaint on one line: psycopg's messages carry a newline and a tab-indented hint."""
    reason = " ".join(str(exc.orig).split()) if exc.orig is not None else type(exc).__name__
    if exc.connection_invalidated or "connect" in reason.lower() or "does not exist" in reason:
        return f"无法连接数据库 — cannot connect to {where(engine)}: {reason}"
    return f"数据库错误 — {where(engine)}: {reason}"


def check_sqlite_file(engine: Engine, *, creates: bool) -> None:
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return
    path = Path(database)
    if not path.parent.is_dir():
        raise SetupFailed(f"数据库目录不存在 — the folder {path.parent} of the SQLite database does not exist; "
                          "create it or point PIPELINE_DATABASE_URL elsewhere")
    if path.is_dir():
        raise SetupFailed(f"数据库路径是目录 — {path} is a folder, not an SQLite database file")
    if not creates and not path.exists():
        raise SetupFailed(f"数据库不存在 — no database at {path}; run `pipeline db upgrade` to create it "
                          "(or set PIPELINE_DATABASE_URL)")


def check_schema(engine: Engine) -> None:
    """Refuse a database that is unreachable or not at the head revision (never migrate implicitly here)."""
    try:
        current = current_revision(engine)
    except DBAPIError as exc:
        raise SetupFailed(database_error(engine, exc)) from None
    if current == HEAD_REVISION:
        return
    head = head_revision()
    if current is None:
        raise SetupFailed(f"数据库尚未初始化 — {where(engine)} has no schema yet; run `pipeline db upgrade`")
    if not all(is_known_revision(revision) for revision in current.split(",")):
        raise SetupFailed(f"数据库版本高于本程序 — {where(engine)} is at revision {current}, which this pipeline "
                          f"({head}) does not know; install the newer pipeline")
    raise SetupFailed(f"数据库需要升级 — {where(engine)} is at revision {current}, this pipeline needs {head}; "
                      "run `pipeline db upgrade`")


def check_serve(host: str, port: int, workers: int) -> None:
    if workers > 1 and not os.environ.get(SECRET_ENV):
        raise SetupFailed(f"缺少 {SECRET_ENV} — --workers {workers} needs {SECRET_ENV}: without one shared key each "
                          "worker signs console sessions with its own and users are signed out between requests; "
                          "set it to a random value, e.g. "
                          "`export PIPELINE_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')`")
    log_format = os.environ.get(LOG_FORMAT_ENV) or "text"
    if log_format not in LOG_FORMATS:
        raise SetupFailed(f"{LOG_FORMAT_ENV}={log_format!r} — the request log format is one of: "
                          f"{', '.join(LOG_FORMATS)}")
    refusal = port_refusal(host, port)
    if refusal:
        raise SetupFailed(refusal)


def port_refusal(host: str, port: int) -> str | None:
    """Why uvicorn could not listen on ``host:port``, found by binding it the way uvicorn does, or ``None``."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        return f"无法解析主机 — cannot listen on {host}:{port}: {exc.strerror}"
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a TIME_WAIT port is free
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"端口已被占用 — port {port} on {host} is already in use (another `pipeline serve`?); "
                        f"choose another with --port, e.g. --port {port + 1}")
            return f"无法监听 — cannot listen on {host}:{port}: {exc.strerror}"
    return None


@contextmanager
def metrics_directory() -> Iterator[Path]:
    """``PROMETHEUS_MULTIPROC_DIR`` for the workers' metric files: the operator's (emptied, as
    prometheus-client requires at each start) or a temporary one removed afterwards."""
    configured = os.environ.get(MULTIPROC_ENV)
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        yield directory
        return
    directory = Path(tempfile.mkdtemp(prefix="pipeline-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)
    try:
        yield directory
    finally:
        del os.environ[MULTIPROC_ENV]
        shutil.rmtree(directory, ignore_errors=True)
