"""The tiers and how a firm moves between them — SPEC §2 as one table.

The table compiles into one shared ``transitions.Machine(model=None)`` per rulebook. The service fires it
on plain ORM objects (``Event.trigger(model, ...)``), so no machine is ever built per firm.
Where a trigger has several destinations (``demote``, ``expire``, ``enroll`` of a removed firm) the guards
compute where the firm lands and the machine's ``lands_on`` condition picks that row.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Final, Literal, get_args

from transitions import EventData, Machine, MachineError

from pipeline.errors import IllegalTransition
from pipeline.rulebooks import Rulebook, all_rulebooks, get_rulebook

State = Literal["new", "reserve", "innovative", "provincial", "national", "revoked", "removed"]
Trigger = Literal["enroll", "recognize_innovative", "recognize_provincial", "recognize_national", "renew", "demote",
                  "expire", "revoke", "remove"]

NEW: Final = "new"
"""Pseudo-state of a firm not yet in the pool; never stored."""

STATES: tuple[str, ...] = get_args(State)

#: what each recognition trigger grants
RECOGNITION_TIER: Final[dict[str, str]] = {
    "recognize_innovative": "innovative",
    "recognize_provincial": "provincial",
    "recognize_national": "national",
}
#: the trigger that recognises each tier
RECOGNIZE: Final[dict[str, str]] = {tier: trigger for trigger, tier in RECOGNITION_TIER.items()}
#: recognitions that need a lower title valid on the decision date
PREREQUISITE: Final[dict[str, str]] = {"recognize_provincial": "innovative", "recognize_national": "provincial"}
#: triggers that land on the highest lower title still valid on the date
DEMOTING: Final = ("demote", "expire")
#: triggers that end every title
ENDING: Final = ("revoke", "remove")
#: triggers that take a title or the firm away: the console sets them apart and confirms their outcome first
DESTRUCTIVE: Final = ("demote", "revoke", "remove")

#: trigger, from, to — read it as a list of every move the law allows.
TRANSITION_TABLE: tuple[tuple[str, str, str], ...] = (
    ("enroll", NEW, "reserve"),
    ("enroll", "removed", "reserve"),
    # a firm removed without ending its titles (relocated) gets back its highest title still valid (guard)
    ("enroll", "removed", "innovative"),
    ("enroll", "removed", "provincial"),
    ("enroll", "removed", "national"),
    ("enroll", "revoked", "reserve"),  # only once barred_until has passed (guard)
    ("recognize_innovative", "reserve", "innovative"),
    ("recognize_provincial", "innovative", "provincial"),  # innovative title valid on the date (guard)
    ("recognize_national", "provincial", "national"),  # provincial title valid on the date (guard)
    ("renew", "innovative", "innovative"),
    ("renew", "provincial", "provincial"),
    ("renew", "national", "national"),
    # demote and expire land on the highest lower title still valid on the date, else reserve
    ("demote", "national", "provincial"),
    ("demote", "national", "innovative"),
    ("demote", "national", "reserve"),
    ("demote", "provincial", "innovative"),
    ("demote", "provincial", "reserve"),
    ("demote", "innovative", "reserve"),
    ("expire", "national", "provincial"),
    ("expire", "national", "innovative"),
    ("expire", "national", "reserve"),
    ("expire", "provincial", "innovative"),
    ("expire", "provincial", "reserve"),
    ("expire", "innovative", "reserve"),
    ("revoke", "reserve", "revoked"),
    ("revoke", "innovative", "revoked"),
    ("revoke", "provincial", "revoked"),
    ("revoke", "national", "revoked"),
    ("remove", "reserve", "removed"),
    ("remove", "innovative", "removed"),
    ("remove", "provincial", "removed"),
    ("remove", "national", "removed"),
    ("remove", "revoked", "removed"),
)

TRIGGERS: tuple[str, ...] = get_args(Trigger)
assert tuple(dict.fromkeys(trigger for trigger, _, _ in TRANSITION_TABLE)) == TRIGGERS, "Trigger and the table agree"


@dataclass(frozen=True)
class TriggerShape:
    trigger: str
    sources: tuple[str, ...]
    destinations: tuple[str, ...]


def trigger_shapes() -> list[TriggerShape]:
    shapes = []
    for trigger in TRIGGERS:
        rows = [(src, dst) for name, src, dst in TRANSITION_TABLE if name == trigger]
        shapes.append(
            TriggerShape(
                trigger,
                tuple(dict.fromkeys(src for src, _ in rows)),
                tuple(dict.fromkeys(dst for _, dst in rows)),
            )
        )
    return shapes


_TRIGGERS_FROM: dict[str, tuple[str, ...]] = {
    state: tuple(trigger for trigger in TRIGGERS if any(t == trigger and s == state for t, s, _ in TRANSITION_TABLE))
    for state in STATES
}


def triggers_from(state: str) -> list[str]:
    return list(_TRIGGERS_FROM.get(state, ()))


def _unknown_trigger(trigger: str, state: str) -> IllegalTransition:
    return IllegalTransition(
        f"未知操作'{trigger}' — unknown trigger {trigger!r}; triggers: {', '.join(TRIGGERS)}",
        state=state,
        allowed_triggers=triggers_from(state),
    )


def _not_allowed(rulebook: Rulebook, trigger: str, state: str) -> IllegalTransition:
    allowed = triggers_from(state)
    return IllegalTransition(
        f"当前状态“{rulebook.label(state)}”不允许“{trigger}” — trigger {trigger!r} is not allowed "
        f"from state {state!r}; allowed from here: {', '.join(allowed) or 'none'}",
        state=state,
        trigger=trigger,
        allowed_triggers=allowed,
    )


def required_permissions(trigger: str, state: str) -> tuple[str, ...]:
    """The rulebook permissions firing ``trigger`` from ``state`` needs: the trigger's own, and — removing a
    titled firm — the permission to recognise its title (a district may not remove a 小巨人)."""
    if trigger == "remove" and state in RECOGNIZE:
        return (trigger, RECOGNIZE[state])
    return (trigger,)


def require_known(trigger: str, state: str) -> None:
    """Refuse a trigger the table does not have, listing those it has."""
    if trigger not in TRIGGERS:
        raise _unknown_trigger(trigger, state)


def require_allowed(rulebook: Rulebook, trigger: str, state: str) -> None:
    """Refuse a trigger the table does not allow from ``state``, before any guard runs."""
    require_known(trigger, state)
    if trigger not in _TRIGGERS_FROM.get(state, ()):
        raise _not_allowed(rulebook, trigger, state)


def _lands_on(event: EventData) -> bool:
    landing = event.kwargs.get("landing")
    return landing is None or (event.transition is not None and landing == event.transition.dest)


def _build(rulebook: Rulebook) -> Machine:
    machine = Machine(
        model=None,
        states=list(STATES),
        initial=NEW,
        auto_transitions=False,
        send_event=True,
        model_attribute="state",
        name=rulebook.id,
    )
    for trigger, source, dest in TRANSITION_TABLE:
        machine.add_transition(trigger, source, dest, conditions=[_lands_on])
    return machine


@cache
def machine_for(rulebook_id: str) -> Machine:
    return _build(get_rulebook(rulebook_id))


def machines() -> dict[str, Machine]:
    return {book.id: machine_for(book.id) for book in all_rulebooks()}


def fire(rulebook: Rulebook, trigger: str, model: Any, *, landing: str | None = None) -> None:
    """Move ``model.state`` by ``trigger``; ``landing`` picks the destination where there are several."""
    if trigger not in machine_for(rulebook.id).events:
        raise _unknown_trigger(trigger, model.state)
    destination = _destination(rulebook.id, trigger, model.state, landing)
    if destination is None:
        raise _not_allowed(rulebook, trigger, model.state)
    model.state = destination


class _Probe:
    def __init__(self, state: str) -> None:
        self.state = state


@cache
def _destination(rulebook_id: str, trigger: str, state: str, landing: str | None) -> str | None:
    """Where the shared machine moves a firm in ``state`` by ``trigger`` (``None``: it refuses), asked of the
    machine once per combination: firing it on a probe does to a firm exactly what firing it on the firm does
    (it has no callbacks; its one condition reads the landing and the row), and a bulk import fires it on a
    hundred thousand firms, where the library's own dispatch cost more than the rest of the decision."""
    probe = _Probe(state)
    try:
        moved = machine_for(rulebook_id).events[trigger].trigger(probe, landing=landing)
    except MachineError:
        moved = False
    return probe.state if moved else None


def mermaid(rulebook: Rulebook) -> str:
    """A Mermaid state diagram of the table, labelled with the rulebook's Chinese state names."""
    lines = ["stateDiagram-v2"]
    for state in STATES[1:]:
        lines.append(f'    state "{rulebook.label(state)} ({state})" as {state}')
    for trigger, source, dest in TRANSITION_TABLE:
        lines.append(f"    {'[*]' if source == NEW else source} --> {dest} : {trigger}")
    return "\n".join(lines) + "\n"
