"""A firm's whole life under dynamic management, 2019–2026: recognised, renewed, demoted, lapsed (by the
sweep), revoked, barred, and re-enrolled once the bar has passed — state and titles checked at each step."""

from __future__ import annotations

import datetime as dt

from helpers import ADMIN, Factory, day, enroll, events, fire, load, make_uscc

from pipeline.db import unit_of_work
from pipeline.dynamic.batches import BatchItem, BatchRefused, run_batch
from pipeline.dynamic.sweep import sweep


def open_titles(factory: Factory, uscc: str) -> dict[str, str]:
    """tier → valid_until of every title not yet ended."""
    return {t.tier: t.valid_until.isoformat() for t in load(factory, uscc).recognitions if t.ended_on is None}


def batch(factory: Factory, *items: BatchItem) -> None:
    with unit_of_work(factory) as session:
        run_batch(session, items, mode="all_or_nothing", actor=ADMIN)


def test_six_years_of_one_firm(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 2019)
    enroll(session_factory, uscc, "2019-01-10")
    assert (load(session_factory, uscc).state, open_titles(session_factory, uscc)) == ("reserve", {})

    fire(session_factory, uscc, "recognize_innovative", "2019-03-01")
    assert open_titles(session_factory, uscc) == {"innovative": "2022-02-28"}
    fire(session_factory, uscc, "recognize_provincial", "2020-06-01")
    fire(session_factory, uscc, "recognize_national", "2020-07-01")
    assert load(session_factory, uscc).state == "national"
    assert open_titles(session_factory, uscc) == {
        "innovative": "2022-02-28", "provincial": "2023-05-31", "national": "2023-06-30"}

    fire(session_factory, uscc, "renew", "2023-05-20")  # 复核通过: the next window follows on
    assert load(session_factory, uscc).state == "national"
    assert open_titles(session_factory, uscc)["national"] == "2026-06-30"

    batch(session_factory, BatchItem(uscc, "demote", day("2023-05-25"), "failed_review", "2023年复核未通过"))
    firm = load(session_factory, uscc)
    assert firm.state == "provincial"  # still valid until 2023-05-31
    assert open_titles(session_factory, uscc) == {"provincial": "2023-05-31"}  # innovative had lapsed in 2022

    report = sweep(lambda: unit_of_work(session_factory), day("2023-06-05"), apply=True, requested_by=ADMIN)
    assert report.by_tier == {"provincial": 1}
    assert (load(session_factory, uscc).state, open_titles(session_factory, uscc)) == ("reserve", {})
    expire = events(session_factory, uscc)[-1]
    assert (expire.trigger, expire.actor, expire.effective_date) == ("expire", "system", dt.date(2023, 6, 1))

    fire(session_factory, uscc, "recognize_innovative", "2023-07-01")
    assert open_titles(session_factory, uscc) == {"innovative": "2026-06-30"}
    batch(session_factory, BatchItem(uscc, "revoke", day("2023-09-01"), "false_information", "申报数据不实",
                                     {"document_no": "豫工信企业〔2023〕9号"}))
    firm = load(session_factory, uscc)
    assert (firm.state, firm.barred_until, open_titles(session_factory, uscc)) == ("revoked", dt.date(2026, 9, 1), {})

    too_early = BatchItem(uscc, "enroll", day("2026-08-31"), reason="重新申请纳入")
    try:
        batch(session_factory, too_early)
        raise AssertionError("enroll during the bar must be refused")
    except BatchRefused as refused:
        [failure] = refused.failures
        assert failure.error is not None
        assert "2026-09-01" in failure.error.detail  # says when enroll becomes possible
    assert load(session_factory, uscc).state == "revoked"

    batch(session_factory, BatchItem(uscc, "enroll", day("2026-09-01"), reason="撤销满三年，重新纳入"))
    firm = load(session_factory, uscc)
    assert (firm.state, firm.barred_until) == ("reserve", None)
    assert [e.trigger for e in events(session_factory, uscc)] == [
        "enroll", "recognize_innovative", "recognize_provincial", "recognize_national", "renew", "demote",
        "expire", "recognize_innovative", "revoke", "enroll"]
