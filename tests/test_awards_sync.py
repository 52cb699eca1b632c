"""`pipeline awards sync`: history recorded before an amount was entered is derived later — dry run first,
idempotent after; and a paid share falls due for clawback when the firm is revoked for false information."""

from __future__ import annotations

import pytest
from helpers import ADMIN, Factory, fire, make_uscc, walk
from sqlalchemy import select

from pipeline.awards import reads
from pipeline.cli import main
from pipeline.db import unit_of_work
from pipeline.models import Entitlement
from pipeline.policies import service as policies

FIRM = make_uscc("411202", 1451)  # 三门峡市湖滨区


def _count(factory: Factory) -> int:
    with factory() as session:
        return len(list(session.scalars(select(Entitlement).where(Entitlement.uscc == FIRM))))


def test_sync_derives_what_history_is_owed_once_an_amount_is_entered(
        database_url: str, session_factory: Factory, capsys: pytest.CaptureFixture[str]) -> None:
    walk(session_factory, FIRM, [("enroll", "2022-01-10"), ("recognize_innovative", "2022-02-01"),
                                 ("recognize_provincial", "2023-03-01")])
    assert _count(session_factory) == 0
    with unit_of_work(session_factory) as session:
        (why,) = reads.firm_awards(session, FIRM, ADMIN)["unearned"]
        assert why["reason"].startswith("amount_not_set")
        policies.set_award_amount(session, "sanmenxia-2022-8", "provincial", 300_000, actor=ADMIN)
    db = ["--database-url", database_url]
    assert main([*db, "awards", "sync"]) == 0
    assert "would create (dry run" in capsys.readouterr().out
    assert _count(session_factory) == 0
    assert main([*db, "awards", "sync", "--apply"]) == 0
    assert "created 1 entitlements" in capsys.readouterr().out
    assert main([*db, "awards", "sync", "--apply"]) == 0
    assert "created 0 entitlements" in capsys.readouterr().out
    with session_factory() as session:
        (entitlement,) = session.scalars(select(Entitlement).where(Entitlement.uscc == FIRM))
        assert (entitlement.net_amount, entitlement.policy_version, entitlement.status) == (300_000, 2, "entitled")


def test_sync_with_settled_records_history_as_paid_outside_the_system_and_revoke_claws_it_back(
        database_url: str, session_factory: Factory) -> None:
    walk(session_factory, FIRM, [("enroll", "2022-01-10"), ("recognize_innovative", "2022-02-01"),
                                 ("recognize_provincial", "2023-03-01")])
    with unit_of_work(session_factory) as session:
        policies.set_award_amount(session, "sanmenxia-2022-8", "provincial", 300_000, actor=ADMIN)
    assert main(["--database-url", database_url, "awards", "sync", "--apply", "--awards", "settled"]) == 0
    with session_factory() as session:
        (entitlement,) = session.scalars(select(Entitlement).where(Entitlement.uscc == FIRM))
        assert (entitlement.status, entitlement.settled_outside_system) == ("paid", True)
    fire(session_factory, FIRM, "revoke", "2024-01-10", reason_code="false_information", reason="申报材料不实")
    with session_factory() as session:
        (entitlement,) = session.scalars(select(Entitlement).where(Entitlement.uscc == FIRM))
        assert entitlement.status == "clawback_due"
        assert [share["status"] for share in entitlement.payers] == ["clawback_due"]
