"""Chains written before hash recipes were recorded, for the tests of old-recipe (pyjson-1) events."""

from __future__ import annotations

import datetime as dt
from typing import Any

from helpers import ADMIN, Factory
from sqlalchemy import insert

from pipeline.db import unit_of_work
from pipeline.lifecycle import chain
from pipeline.models import Enterprise, Event
from pipeline.rulebooks import rulebook_in_force

T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


def old_recipe_firm(factory: Factory, uscc: str, evidence: dict[str, Any], *, decreasing: bool = False) -> None:
    """A firm written before recipes were recorded: two events sealed with pyjson-1 (hash_recipe NULL), the
    second an amendment carrying ``evidence`` as it was then stored (numbers not canonicalised)."""
    day = dt.date(2025, 1, 10)
    book = rulebook_in_force(day)
    second_at = T0 - dt.timedelta(seconds=5) if decreasing else T0 + dt.timedelta(seconds=5)
    with unit_of_work(factory) as session:
        firm = Enterprise(uscc=uscc, name="旧企业", region_code="410106", state="reserve", version=2, last_seq=2,
                          last_effective_date=day, data={}, flags={}, created_at=T0, updated_at=second_at)
        session.add(firm)
        session.flush()
        prev = chain.GENESIS_HASH
        for seq, kind, trigger, to_state, at, facts in (
                (1, "transition", "enroll", "reserve", T0, {"name": "旧企业", "region_code": "410106"}),
                (2, "amendment", None, "reserve", second_at, evidence)):
            fields = {"uscc": uscc, "seq": seq, "kind": kind, "trigger": trigger,
                      "from_state": None if seq == 1 else "reserve", "to_state": to_state,
                      "effective_date": day.isoformat(), "recorded_at": chain.format_timestamp(at),
                      "actor": ADMIN.id, "reason_code": None, "reason": "old", "evidence": facts,
                      "rulebook_id": book.id, "rulebook_hash": book.content_hash, "request_id": None}
            digest = chain.chain_hash(prev, fields, chain.PYJSON)
            session.execute(insert(Event).values(
                enterprise_id=firm.id, **{**fields, "effective_date": day, "recorded_at": at},
                prev_hash=prev, hash=digest, hash_recipe=None))
            prev = digest
