"""The transition table and the one shared machine per rulebook it compiles into (no database)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from transitions import Machine

from pipeline.errors import IllegalTransition
from pipeline.lifecycle import machine
from pipeline.rulebooks import Rulebook, all_rulebooks, get_rulebook

BOOK = get_rulebook("miit-2022")
MULTI_DESTINATION = ("demote", "expire", "enroll")  # enroll: a removed firm gets back its highest title


def firm(state: str) -> SimpleNamespace:
    return SimpleNamespace(state=state)


def test_every_shipped_rulebook_has_exactly_one_shared_machine() -> None:
    ids = [book.id for book in all_rulebooks()]
    assert {"miit-2022", "miit-2026"} <= set(ids)
    for rulebook_id in ids:
        shared = machine.machine_for(rulebook_id)
        assert isinstance(shared, Machine)
        assert machine.machine_for(rulebook_id) is shared
        assert machine.machines()[rulebook_id] is shared
    assert machine.machine_for("miit-2022") is not machine.machine_for("miit-2026")


def test_firing_on_many_firms_registers_none_of_them_with_the_machine() -> None:
    shared = machine.machine_for(BOOK.id)
    assert shared.models == []
    firms = [firm(machine.NEW) for _ in range(500)]
    for one in firms:
        machine.fire(BOOK, "enroll", one)
        machine.fire(BOOK, "recognize_innovative", one)
    assert {one.state for one in firms} == {"innovative"}
    assert shared.models == []
    assert not hasattr(firms[0], "trigger")
    assert not hasattr(firms[0], "is_reserve")


@pytest.mark.parametrize(("trigger", "source", "dest"), machine.TRANSITION_TABLE,
                         ids=[f"{t}:{s}->{d}" for t, s, d in machine.TRANSITION_TABLE])
def test_every_row_of_the_table_reaches_its_destination(trigger: str, source: str, dest: str) -> None:
    one = firm(source)
    machine.fire(BOOK, trigger, one, landing=dest if trigger in MULTI_DESTINATION else None)
    assert one.state == dest


@pytest.mark.parametrize("trigger", MULTI_DESTINATION)
def test_a_landing_outside_the_table_is_refused(trigger: str) -> None:
    one = firm("provincial")
    with pytest.raises(IllegalTransition):
        machine.fire(BOOK, trigger, one, landing="national")
    assert one.state == "provincial"


def _illegal_pairs() -> list[tuple[str, str]]:
    allowed = {(trigger, source) for trigger, source, _ in machine.TRANSITION_TABLE}
    return [(t, s) for t in machine.TRIGGERS for s in machine.STATES if (t, s) not in allowed]


def test_the_table_has_illegal_pairs_to_check() -> None:
    pairs = _illegal_pairs()
    assert ("recognize_national", "reserve") in pairs
    assert ("remove", "removed") in pairs
    assert ("enroll", "reserve") in pairs


@pytest.mark.parametrize(("trigger", "state"), _illegal_pairs())
def test_an_illegal_pair_is_refused_listing_what_is_allowed(trigger: str, state: str) -> None:
    one = firm(state)
    with pytest.raises(IllegalTransition) as refused:
        machine.fire(BOOK, trigger, one)
    allowed = machine.triggers_from(state)
    assert refused.value.extra["allowed_triggers"] == allowed
    assert refused.value.extra["state"] == state
    for name in allowed:
        assert name in refused.value.detail
    assert one.state == state


def test_allowed_triggers_per_state_follow_the_spec() -> None:
    assert machine.triggers_from("reserve") == ["recognize_innovative", "revoke", "remove"]
    assert machine.triggers_from("national") == ["renew", "demote", "expire", "revoke", "remove"]
    assert machine.triggers_from("revoked") == ["enroll", "remove"]
    assert machine.triggers_from("removed") == ["enroll"]


def test_an_unknown_trigger_names_the_known_ones() -> None:
    with pytest.raises(IllegalTransition) as refused:
        machine.fire(BOOK, "promote", firm("reserve"))
    for trigger in machine.TRIGGERS:
        assert trigger in refused.value.detail


@pytest.mark.parametrize("rulebook", all_rulebooks(), ids=lambda book: book.id)
def test_mermaid_lists_every_row_and_labels_states(rulebook: Rulebook) -> None:
    diagram = machine.mermaid(rulebook)
    lines = diagram.splitlines()
    assert lines[0] == "stateDiagram-v2"
    for trigger, source, dest in machine.TRANSITION_TABLE:
        start = "[*]" if source == machine.NEW else source
        assert f"    {start} --> {dest} : {trigger}" in lines
    assert sum("-->" in line for line in lines) == len(machine.TRANSITION_TABLE)
    assert f"{rulebook.label('innovative')} (innovative)" in diagram


def test_the_2026_rulebook_renames_tier_one_in_the_diagram() -> None:
    assert "科技和创新型中小企业 (innovative)" in machine.mermaid(get_rulebook("miit-2026"))
    assert "科技和创新型" not in machine.mermaid(BOOK)
