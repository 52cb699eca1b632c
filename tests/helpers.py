"""Shared test helpers: valid codes, actors, and one-call business actions (each its own unit of work)."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from stdnum.cn.uscc import calc_check_digit

from pipeline.access import Actor, cli_actor
from pipeline.db import unit_of_work
from pipeline.firms import service
from pipeline.history.anchor_signing import SigningKey, key_id
from pipeline.models import Enterprise, Event, Recognition

Factory = sessionmaker[Session]

ADMIN = cli_actor("cli:test")
CITY = Actor(id="zz-city", role="official", level="city", region_code="410100")
DISTRICT = Actor(id="sj-district", role="official", level="district", region_code="410106")
AUDITOR = Actor(id="zz-audit", role="auditor", region_code="410100")

#: What each trigger must carry when a test does not care about the details.
REQUIRED: dict[str, dict[str, Any]] = {
    "recognize_innovative": {"evidence": {"document_no": "豫工信企业〔2022〕1号"}},
    "recognize_provincial": {"evidence": {"batch": "2022-豫-1"}},
    "recognize_national": {"evidence": {"document_no": "工信厅企业函〔2022〕191号"}},
    "renew": {"evidence": {"document_no": "复核〔2023〕1号"}},
    "demote": {"reason_code": "failed_review", "reason": "复核未通过"},
    "expire": {"reason_code": "expired"},
    "revoke": {"reason_code": "false_information", "reason": "申报材料造假",
               "evidence": {"document_no": "撤销〔2022〕1号"}},
    "remove": {"reason_code": "deregistered", "evidence": {"document_no": "移出〔2022〕1号"}},
    "enroll": {"reason": "重新纳入培育库"},
}


def make_uscc(region: str = "410106", serial: int = 1) -> str:
    """A valid 18-character code: authority 9, type 1, the region, a 9-digit organisation code, check."""
    body = f"91{region}{serial:09d}"
    return body + calc_check_digit(body)


def day(value: str | dt.date) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def enroll(factory: Factory, uscc: str, on: str | dt.date = "2022-09-01", *, actor: Actor = ADMIN,
           **kwargs: Any) -> service.Outcome:
    with unit_of_work(factory) as session:
        return service.enroll(session, uscc=uscc, name=kwargs.pop("name", f"测试企业{uscc[-6:]}"),
                              actor=actor, effective_date=day(on), **kwargs)


def fire(factory: Factory, uscc: str, trigger: str, on: str | dt.date, *, actor: Actor = ADMIN,
         **overrides: Any) -> service.Outcome:
    """Fire ``trigger`` with what it must carry; ``overrides`` replace (or, as None, drop) any of it."""
    kwargs = {**REQUIRED.get(trigger, {}), **overrides}
    with unit_of_work(factory) as session:
        return service.transition(session, uscc, trigger=trigger, effective_date=day(on), actor=actor, **kwargs)


def walk(factory: Factory, uscc: str, steps: list[tuple[str, str]]) -> None:
    """Enroll on the first step's date when the first trigger is ``enroll``, then fire the rest."""
    for trigger, on in steps:
        if trigger == "enroll" and not exists(factory, uscc):
            enroll(factory, uscc, on)
        else:
            fire(factory, uscc, trigger, on)


def exists(factory: Factory, uscc: str) -> bool:
    with factory() as session:
        return session.scalars(select(Enterprise.id).where(Enterprise.uscc == uscc)).first() is not None


def load(factory: Factory, uscc: str) -> Enterprise:
    """The firm as a fresh session sees it, with its titles loaded."""
    with factory() as session:
        return session.scalars(select(Enterprise).where(Enterprise.uscc == uscc)).one()


def titles(factory: Factory, uscc: str) -> list[Recognition]:
    return list(load(factory, uscc).recognitions)


def events(factory: Factory, uscc: str) -> list[Event]:
    with factory() as session:
        return list(session.scalars(select(Event).where(Event.uscc == uscc).order_by(Event.seq)))


def footprint(factory: Factory, uscc: str) -> tuple[int, int, int, str]:
    """Event count, title rows, version and state, read in a new session: what a refusal must leave alone."""
    with factory() as session:
        firm = session.scalars(select(Enterprise).where(Enterprise.uscc == uscc)).one()
        count = session.scalar(select(func.count()).select_from(Event).where(Event.uscc == uscc))
        rows = session.scalar(select(func.count()).select_from(Recognition)
                              .where(Recognition.enterprise_id == firm.id))
        return int(count or 0), int(rows or 0), firm.version, firm.state


def highest_valid_title(firm: Enterprise, on: dt.date) -> str:
    held = {title.tier for title in firm.recognitions if title.valid_on(on)}
    for tier in ("national", "provincial", "innovative"):
        if tier in held:
            return tier
    return "reserve"


#: A standard road to each state. Titles: innovative 2022-09-01 → 2025-08-31, provincial 2022-10-01 →
#: 2025-09-30, national 2022-11-01 → 2025-10-31; revoked and removed leave reserve on 2022-12-01.
ROADS: dict[str, list[tuple[str, str]]] = {
    "reserve": [("enroll", "2022-09-01")],
    "innovative": [("enroll", "2022-09-01"), ("recognize_innovative", "2022-09-01")],
    "provincial": [("enroll", "2022-09-01"), ("recognize_innovative", "2022-09-01"),
                   ("recognize_provincial", "2022-10-01")],
    "national": [("enroll", "2022-09-01"), ("recognize_innovative", "2022-09-01"),
                 ("recognize_provincial", "2022-10-01"), ("recognize_national", "2022-11-01")],
    "revoked": [("enroll", "2022-09-01"), ("revoke", "2022-12-01")],
    "removed": [("enroll", "2022-09-01"), ("remove", "2022-12-01")],
}


def bring_to(factory: Factory, uscc: str, state: str) -> None:
    walk(factory, uscc, ROADS[state])
    assert load(factory, uscc).state == state


def signing_key() -> SigningKey:
    """A fresh Ed25519 anchor signing key, in memory."""
    private = Ed25519PrivateKey.generate()
    return SigningKey(private, key_id(private.public_key()))


_CLONE_GATE = Path(tempfile.gettempdir()) / f"pipeline-tests-clone-{os.getuid()}.lock"
_holding_gate = False


@contextmanager
def clone_gate() -> Iterator[None]:
    """Held (shared) while a test worker creates a database from its template. ``CREATE DATABASE`` writes
    the template's every page to the WAL: :func:`quiet_clones` holds the gate exclusively so that a streaming
    standby (the read-replica tests) is not buried under the other workers' copies while it catches up."""
    if _holding_gate:
        yield
        return
    with _CLONE_GATE.open("a") as gate:
        fcntl.flock(gate, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)


@contextmanager
def quiet_clones() -> Iterator[None]:
    """No other test worker clones a database meanwhile (this one still may)."""
    global _holding_gate
    with _CLONE_GATE.open("a") as gate:
        fcntl.flock(gate, fcntl.LOCK_EX)
        _holding_gate = True
        try:
            yield
        finally:
            _holding_gate = False
            fcntl.flock(gate, fcntl.LOCK_UN)


@contextmanager
def template_copy(request: pytest.FixtureRequest, folder: Path) -> Iterator[str]:
    """A fresh copy of the migrated template for ``request.param`` (``sqlite``: a file in ``folder``;
    ``postgresql``: a database dropped afterwards) — for fixtures of any scope."""
    if request.param == "sqlite":
        path = folder / "pipeline.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("postgres_template")
    url = template.clone()
    try:
        yield url
    finally:
        template.drop(url)
