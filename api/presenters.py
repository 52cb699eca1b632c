"""ORM objects → response models."""

from __future__ import annotations

import datetime as dt
from typing import Any

from api.schemas import EnterpriseOut, EnterpriseSummary, EventOut, RecognitionOut, TriggerOptionOut
from pipeline.access import Actor
from pipeline.dates import business_today
from pipeline.firms.service import trigger_options
from pipeline.lifecycle.chain import event_document
from pipeline.models import Enterprise, Event
from pipeline.rulebooks import rulebook_in_force


def etag(enterprise: Enterprise) -> str:
    return f'"{enterprise.version}"'


def summary(enterprise: Enterprise, today: dt.date | None = None) -> EnterpriseSummary:
    return EnterpriseSummary(**_summary_fields(enterprise, today or business_today()))


def _summary_fields(enterprise: Enterprise, today: dt.date) -> dict[str, Any]:
    book = rulebook_in_force(today)
    return dict(
        uscc=enterprise.uscc, name=enterprise.name, region_code=enterprise.region_code,
        state=enterprise.state, state_label=book.label(enterprise.state), version=enterprise.version,
        barred_until=enterprise.barred_until,
        recognitions=[
            RecognitionOut(
                tier=r.tier, tier_label=book.label(r.tier), document_no=r.document_no, batch=r.batch,
                recognized_on=r.recognized_on, valid_until=r.valid_until, ended_on=r.ended_on,
                end_reason=r.end_reason, valid_today=r.valid_on(today),
            )
            for r in enterprise.recognitions
        ],
        data=dict(enterprise.data or {}), flags=dict(enterprise.flags or {}),
    )


def detail(enterprise: Enterprise, actor: Actor) -> EnterpriseOut:
    options = [TriggerOptionOut(trigger=o.trigger, allowed=o.allowed, reasons=o.reasons)
               for o in trigger_options(enterprise, actor)]
    return EnterpriseOut(**_summary_fields(enterprise, business_today()), allowed_triggers=options)


def event_out(event: Event) -> EventOut:
    return EventOut(**event_document(event))


def jsonable(model: Any) -> Any:
    return model.model_dump(mode="json")
