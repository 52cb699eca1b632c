"""The sweep writes a batch while it decides the next (PostgreSQL): batches commit in order, a batch is reported
only once committed, a failed write rolls back its own batch and stops the sweep, and the chains stay whole."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import ADMIN, Factory, bring_to, day, load, make_uscc

from pipeline.db import unit_of_work
from pipeline.dynamic import sweep as sweeping
from pipeline.history import verify


def test_a_failed_write_rolls_back_its_batch_and_stops_after_the_batches_before_it(
        session_factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    codes = [make_uscc("410106", n) for n in range(1, 6)]
    for uscc in codes:
        bring_to(session_factory, uscc, "innovative")  # → 2025-08-31
    real_write, calls = sweeping._write, []

    def failing_second(session: Any, firms: Any, events: Any) -> None:
        calls.append(len(events))
        if len(calls) == 2:
            real_write(session, firms, events)  # written, then the transaction fails before it commits
            raise RuntimeError("the database went away")
        real_write(session, firms, events)

    monkeypatch.setattr(sweeping, "_write", failing_second)
    reported: list[str] = []
    with pytest.raises(RuntimeError, match="went away"):
        sweeping.sweep(lambda: unit_of_work(session_factory), day("2025-09-01"), apply=True, requested_by=ADMIN,
                       batch_size=2, on_item=lambda item: reported.append(item.uscc))
    assert reported == codes[:2]  # the first batch only: the second rolled back, the third never reported
    assert [load(session_factory, uscc).state for uscc in codes[:4]] == ["reserve", "reserve",
                                                                         "innovative", "innovative"]
    monkeypatch.setattr(sweeping, "_write", real_write)
    report = sweeping.sweep(lambda: unit_of_work(session_factory), day("2025-09-01"), apply=True,
                            requested_by=ADMIN, batch_size=2)
    assert report.events == 3  # what was left
    assert {load(session_factory, uscc).state for uscc in codes} == {"reserve"}
    with session_factory() as session:
        assert verify.verify(session).ok
