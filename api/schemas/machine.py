"""Bodies of /api/v1/machine: the state/trigger table as data."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel


class StateOut(BaseModel):
    code: str
    label: str


class TriggerOut(BaseModel):
    trigger: str
    sources: list[str | None]
    destinations: list[str]


class MachineOut(BaseModel):
    rulebook_id: str
    rulebook_hash: str
    in_force_from: dt.date
    states: list[StateOut]
    triggers: list[TriggerOut]
