"""Amendments are dated today but change no state, so a decision keyed in late is not blocked by them."""

from __future__ import annotations

import pytest
from helpers import ADMIN, enroll, events, fire, load, make_uscc
from sqlalchemy.orm import Session, sessionmaker

from pipeline.db import unit_of_work
from pipeline.errors import GuardFailed
from pipeline.firms import service


def test_a_rename_today_does_not_block_last_months_recognition(session_factory: sessionmaker[Session]) -> None:
    uscc = make_uscc(serial=71)
    enroll(session_factory, uscc, "2024-01-10")
    with unit_of_work(session_factory) as session:
        service.amend(session, uscc, changes={"name": "更名后的企业"}, actor=ADMIN)

    fire(session_factory, uscc, "recognize_innovative", "2024-03-01")

    assert load(session_factory, uscc).state == "innovative"
    assert [e.kind for e in events(session_factory, uscc)] == ["transition", "amendment", "transition"]


def test_transitions_still_order_the_firm(session_factory: sessionmaker[Session]) -> None:
    uscc = make_uscc(serial=72)
    enroll(session_factory, uscc, "2024-01-10")
    fire(session_factory, uscc, "recognize_innovative", "2024-03-01")
    with pytest.raises(GuardFailed, match="before the firm's latest event"):
        fire(session_factory, uscc, "remove", "2024-02-01", reason_code="voluntary")
