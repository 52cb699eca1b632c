"""Bodies of /healthz and /readyz."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    """``ok`` when the database answers and is migrated to the head revision; otherwise ``unavailable``."""

    status: Literal["ok", "unavailable"]
    revision: str | None = None
    head: str | None = None
    detail: str | None = None
