"""Transitions in batches: "the 37 firms that failed re-review" as one request or one CSV file.

``all_or_nothing``: every item is tried (each in its own SAVEPOINT, so every bad item is found, not just
the first) and a single failure raises :class:`BatchRefused` naming them all — the caller's transaction
then rolls back and nothing is written. ``each``: every item gets its own result and the good ones stay.
Items run in order, so a later item sees an earlier one's effect on the same firm.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from pipeline.access import Actor
from pipeline.errors import PipelineError
from pipeline.firms import service

MODES = ("all_or_nothing", "each")


@dataclass(frozen=True)
class BatchItem:
    uscc: str
    trigger: str
    effective_date: dt.date
    reason_code: str | None = None
    reason: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemResult:
    index: int
    uscc: str
    outcome: service.Outcome | None = None
    error: PipelineError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class BatchRefused(PipelineError):
    """An all-or-nothing batch with at least one bad item: nothing of it may be written."""

    title = "Batch refused (批量操作未执行)"

    def __init__(self, failures: Sequence[ItemResult], total: int) -> None:
        super().__init__(
            f"{len(failures)}/{total}项不符合条件，全部未执行 — {len(failures)} of {total} items failed "
            f"(items {', '.join(str(f.index) for f in failures)}); nothing was written")
        self.failures = list(failures)


def run_batch(session: Session, items: Sequence[BatchItem], *, mode: str, actor: Actor,
              request_id: str | None = None, on_item: Callable[[int], None] | None = None) -> list[ItemResult]:
    """Fire every item through ``service.transition``, each in a SAVEPOINT of the caller's transaction;
    ``on_item(done)`` after each."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    results = []
    for index, item in enumerate(items):
        try:
            with session.begin_nested():
                outcome = service.transition(
                    session, item.uscc, trigger=item.trigger, effective_date=item.effective_date, actor=actor,
                    reason_code=item.reason_code, reason=item.reason, evidence=item.evidence,
                    request_id=request_id,
                )
            results.append(ItemResult(index, item.uscc, outcome=outcome))
        except PipelineError as exc:
            results.append(ItemResult(index, item.uscc, error=exc))
        if on_item is not None:
            on_item(index + 1)
    failures = [r for r in results if not r.ok]
    if mode == "all_or_nothing" and failures:
        raise BatchRefused(failures, len(items))
    return results
