"""A recognition that earns money writes its entitlements with its event: the statement that locks the firm
reads what deriving needs (and, on PostgreSQL, draws the new entitlements' ids), the one that writes the event
writes the entitlements and their sealed first records — and the ledger reads back as if derived alone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from helpers import Factory, enroll, fire, make_uscc
from sqlalchemy import Engine, event, select

from pipeline.awards import ledger
from pipeline.db import unit_of_work
from pipeline.history.verify import verify
from pipeline.models import Entitlement

SHANGJIE = "410106"  # 郑州市上街区: Zhengzhou's top-up pack and Shangjie's own
LAOCHENG = "410302"  # 洛阳市老城区: no pack


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def _entitlements(factory: Factory, uscc: str) -> list[Entitlement]:
    with factory() as session:
        return list(session.scalars(select(Entitlement).where(Entitlement.uscc == uscc).order_by(Entitlement.id)))


def test_an_earning_recognition_costs_no_statement_more_than_one_that_earns_nothing_on_postgresql(
        session_factory: Factory, engine: Engine, dialect: str) -> None:
    covered, uncovered = make_uscc(SHANGJIE, 1), make_uscc(LAOCHENG, 2)
    counts = {}
    for uscc in (covered, uncovered):
        enroll(session_factory, uscc, "2024-01-10")
        fire(session_factory, uscc, "recognize_innovative", "2024-02-01", evidence={"document_no": "豫工信〔2024〕1号"})
        with statements(engine) as seen:
            fire(session_factory, uscc, "recognize_provincial", "2024-03-01", evidence={"batch": "2024年第一批"})
        counts[uscc] = len([s for s in seen if not s.lstrip().upper().startswith(("SAVEPOINT", "RELEASE"))])
    assert _entitlements(session_factory, uncovered) == []
    assert [e.net_amount for e in _entitlements(session_factory, covered) if e.policy_id == "zhengzhou-2022-36"] == [
        500_000]
    if dialect == "postgresql":  # SQLite writes row by row, and finds the next id by a query
        assert counts[covered] == counts[uncovered] == 2  # lock and load; write event, firm, title, entitlements


def test_entitlements_written_with_the_event_stack_and_seal_as_derived(session_factory: Factory) -> None:
    uscc = make_uscc(SHANGJIE, 3)
    enroll(session_factory, uscc, "2024-01-10")
    for trigger, day, evidence in (("recognize_innovative", "2024-02-01", {"document_no": "豫工信〔2024〕1号"}),
                                   ("recognize_provincial", "2024-03-01", {"batch": "2024年第一批"}),
                                   ("recognize_national", "2024-04-01", {"document_no": "工信厅企业函〔2024〕1号"})):
        fire(session_factory, uscc, trigger, day, evidence=evidence)
    zhengzhou = [e for e in _entitlements(session_factory, uscc) if e.policy_id == "zhengzhou-2022-36"]
    provincial, national = zhengzhou
    assert (provincial.award_id, provincial.net_amount) == ("provincial", 500_000)
    assert (national.award_id, national.gross_amount, national.net_amount) == ("national", 2_000_000, 1_500_000)
    assert national.offsets[0]["entitlement_id"] == provincial.id  # 从高、不重复: the top-up names what it offsets
    with unit_of_work(session_factory) as session:
        for entitlement in zhengzhou:
            created = ledger.first_record(session, entitlement.id)
            assert created.details == ledger.view(session.get_one(Entitlement, entitlement.id))
        assert verify(session, uscc=uscc).problems == []  # the firm's chain and each entitlement's


def test_a_firm_registered_where_no_pack_pays_earns_where_it_is(session_factory: Factory) -> None:
    uscc = make_uscc(LAOCHENG, 4)  # registered in 洛阳, in the pool of 上街区: its USCC does not say so
    enroll(session_factory, uscc, "2024-01-10", region_code=SHANGJIE)
    fire(session_factory, uscc, "recognize_innovative", "2024-02-01", evidence={"document_no": "豫工信〔2024〕1号"})
    fire(session_factory, uscc, "recognize_provincial", "2024-03-01", evidence={"batch": "2024年第一批"})
    assert [(e.policy_id, e.net_amount, e.region_code) for e in _entitlements(session_factory, uscc)
            if e.policy_id == "zhengzhou-2022-36"] == [("zhengzhou-2022-36", 500_000, SHANGJIE)]
