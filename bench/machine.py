"""What the shared machine saves: firing through ``pipeline.lifecycle.machine.fire`` versus a Machine per firm.

Each firm takes the same four transitions (recognize_innovative, recognize_provincial, recognize_national,
demote → provincial). The per-firm variant builds one ``transitions.Machine`` from the same table for each
firm and fires the four on it; its build cost is thus shared by four transitions, the most favourable case
for it (a service that built a machine per loaded row would build one per request). Prints µs per
transition and the ratio.

    .venv/bin/python bench/machine.py --firms 20000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from transitions import Machine

from pipeline.lifecycle import machine
from pipeline.rulebooks import get_rulebook

STEPS: tuple[tuple[str, str | None], ...] = (
    ("recognize_innovative", None),
    ("recognize_provincial", None),
    ("recognize_national", None),
    ("demote", "provincial"),
)
FINAL_STATE = "provincial"


class Firm:
    __slots__ = ("__dict__", "state")  # __dict__: a per-firm Machine binds its trigger methods here

    def __init__(self) -> None:
        self.state = "reserve"


def shared(firms: list[Firm]) -> None:
    book = get_rulebook("miit-2026")
    for firm in firms:
        for trigger, landing in STEPS:
            machine.fire(book, trigger, firm, landing=landing)


def per_firm(firms: list[Firm]) -> None:
    for firm in firms:
        own = Machine(
            model=firm, states=list(machine.STATES), initial=firm.state, auto_transitions=False,
            send_event=True, model_attribute="state",
        )
        for name, source, dest in machine.TRANSITION_TABLE:
            own.add_transition(name, source, dest, conditions=[machine._lands_on])  # the same condition
        for trigger, landing in STEPS:
            if not getattr(firm, trigger)(landing=landing):
                raise RuntimeError(f"{trigger} did not fire from {firm.state}")


def timed(run: Callable[[list[Firm]], None], count: int) -> float:
    firms = [Firm() for _ in range(count)]
    started = time.perf_counter()
    run(firms)
    elapsed = time.perf_counter() - started
    if any(firm.state != FINAL_STATE for firm in firms):
        raise RuntimeError(f"{run.__name__}: not every firm reached {FINAL_STATE}")
    return elapsed / (count * len(STEPS)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--firms", type=int, default=20_000)
    args = parser.parse_args()

    timed(shared, 200)  # warm the caches and the shared machine
    timed(per_firm, 200)
    models_before = len(machine.machine_for("miit-2026").models)
    shared_us = timed(shared, args.firms)
    per_firm_us = timed(per_firm, args.firms)
    models_after = len(machine.machine_for("miit-2026").models)

    transitions_fired = args.firms * len(STEPS)
    print(f"firms: {args.firms:,}   transitions per variant: {transitions_fired:,}")
    print(f"shared machine (pipeline.lifecycle.machine.fire):    {shared_us:8.2f} µs per transition")
    print(f"Machine built per firm, then fired:        {per_firm_us:8.2f} µs per transition")
    print(f"ratio (per-firm / shared):                 {per_firm_us / shared_us:8.1f}x")
    print(f"models registered on the shared machine:   {models_before} before, {models_after} after")


if __name__ == "__main__":
    main()
