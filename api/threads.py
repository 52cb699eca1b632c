"""Worker threads for the short write units (enroll, transitions, PATCH: :func:`api.deps.write_unit`) on SQLite,
and on PostgreSQL for a unit that has to wait for a lock.

What ``anyio.to_thread.run_sync`` does for them, with less per call: the job goes to one queue that every
worker thread takes from (``queue.SimpleQueue``, whose put and get are C, where anyio hands a job to an idle
worker through a ``queue.Queue`` and its Python ``Condition``), and the result comes back with one
``call_soon_threadsafe``. The hop was about 8 % of a write's server CPU under ``bench/api_load.py`` (py-spy).

Semantics kept from anyio's: at most :data:`THREADS` units run at once (anyio's default limit, 40); a unit
whose request is cancelled (the client went away, the server is stopping) still runs to its end — its commit or
rollback — and the cancellation goes on after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

THREADS = 40
"""Units at once; more wait in the queue. Each holds a database connection while it runs, so the database
pool (``pipeline.db.POOL_SIZE`` and its overflow), not this, bounds the writes in flight."""

Job = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]", asyncio.AbstractEventLoop]

_jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
_started = 0
_start_lock = threading.Lock()


async def run(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` on a worker thread; its result, or its exception raised here."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    if _started < THREADS:
        _start_workers()
    _jobs.put((function, args, future, loop))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        while not future.done():  # the unit runs to its commit or rollback before the cancellation goes on
            try:
                await asyncio.shield(future)
            except asyncio.CancelledError:
                continue
            except BaseException:  # noqa: S110 — its outcome no longer matters to a cancelled request
                pass
        raise


def _start_workers() -> None:
    global _started
    with _start_lock:
        while _started < THREADS:
            threading.Thread(target=_work, name=f"pipeline-unit-{_started}", daemon=True).start()
            _started += 1


def _work() -> None:
    while True:
        function, args, future, loop = _jobs.get()
        try:
            result, error = function(*args), None
        except BaseException as exc:  # handed to the awaiting request, which raises it
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # its event loop is closed: nobody awaits the result
            loop.call_soon_threadsafe(_settle, future, result, error)
        del function, args, future, result, error  # hold nothing of a finished request while idle


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
