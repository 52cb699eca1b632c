"""/api/v1/machine — the state machine of a rulebook, as data and as a Mermaid diagram."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from api.deps import CurrentActor, StrictQueryRoute
from api.responses import problems
from api.schemas.machine import MachineOut, StateOut, TriggerOut
from pipeline.dates import business_today
from pipeline.lifecycle.machine import NEW, STATES, mermaid, trigger_shapes
from pipeline.rulebooks import Rulebook, get_rulebook, rulebook_in_force

router = APIRouter(prefix="/api/v1/machine", tags=["machine 状态机"], route_class=StrictQueryRoute)

RulebookQuery = Annotated[str | None, Query(max_length=32, description="规则版本，如 miit-2022；默认现行")]


def _rulebook(rulebook: str | None) -> Rulebook:
    return get_rulebook(rulebook) if rulebook else rulebook_in_force(business_today())


@router.get("", response_model=MachineOut, summary="状态与操作 States and triggers",
            responses=problems(401, 404, 422),
            description="状态（代码与中文名）、操作及其起止状态；`null` 来源表示新企业。States with Chinese labels, "
                        "and each trigger's sources and destinations (`null` source: a firm not yet enrolled).")
def get_machine(actor: CurrentActor, rulebook: RulebookQuery = None) -> MachineOut:
    book = _rulebook(rulebook)
    return MachineOut(
        rulebook_id=book.id, rulebook_hash=book.content_hash, in_force_from=book.in_force_from,
        states=[StateOut(code=s, label=book.label(s)) for s in STATES[1:]],
        triggers=[TriggerOut(trigger=t.trigger, sources=[None if s == NEW else s for s in t.sources],
                             destinations=list(t.destinations)) for t in trigger_shapes()],
    )


@router.get("/diagram", response_class=PlainTextResponse, summary="状态图 Mermaid diagram",
            responses={**problems(401, 404, 422), 200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
            description="Mermaid stateDiagram-v2 源文本。Mermaid source of the state diagram.")
def get_diagram(actor: CurrentActor, rulebook: RulebookQuery = None) -> PlainTextResponse:
    return PlainTextResponse(mermaid(_rulebook(rulebook)))
