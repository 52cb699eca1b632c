"""The write units' worker threads (:mod:`api.threads`): results and errors come back to the request, and a
request cancelled mid-unit (its client went away) waits for the unit's commit or rollback before it ends."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from api import threads


def test_the_result_and_the_error_come_back() -> None:
    async def main() -> tuple[int, str]:
        value = await threads.run(lambda a, b: a + b, 2, 3)
        name = await threads.run(lambda: threading.current_thread().name)
        with pytest.raises(ValueError, match="refused"):
            await threads.run(_refuse)
        return value, name

    value, name = asyncio.run(main())
    assert value == 5
    assert name.startswith("pipeline-unit-")  # not the event loop's thread


def _refuse() -> None:
    raise ValueError("refused")


def test_units_run_off_the_event_loop_side_by_side() -> None:
    async def main() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(threads.run(time.sleep, 0.2) for _ in range(8)))
        return time.perf_counter() - started

    assert asyncio.run(main()) < 0.2 * 4  # eight 0.2-s waits at once, not one after another


def test_a_cancelled_request_waits_for_its_unit_to_finish() -> None:
    finished = threading.Event()

    def unit() -> str:
        time.sleep(0.3)
        finished.set()  # the commit
        return "committed"

    async def main() -> bool:
        task = asyncio.create_task(threads.run(unit))
        await asyncio.sleep(0.05)
        task.cancel()  # the client hung up while the unit was running
        with pytest.raises(asyncio.CancelledError):
            await task
        return finished.is_set()

    assert asyncio.run(main()) is True
