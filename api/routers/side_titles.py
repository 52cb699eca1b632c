"""/api/v1/enterprises/{uscc}/side-titles — titles beside the tiers (单项冠军, 高新技术企业 …)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import CurrentActor, RequestId, SessionDep, StrictQueryRoute
from api.idempotency import IdempotencyDep
from api.presenters import ModelResponse, event_out
from api.responses import problems
from api.routers.enterprises import IfMatch, _expected_version
from api.schemas.common import IsoDate
from api.schemas.side_titles import SideTitleEnd, SideTitleEventOut, SideTitleGrant, SideTitleOut, SideTitlePage
from pipeline.models import SideTitle
from pipeline.rulebooks import rulebook_in_force
from pipeline.titles import service

router = APIRouter(prefix="/api/v1/enterprises", tags=["side titles 并列称号"], route_class=StrictQueryRoute)












def side_title_out(title: SideTitle) -> SideTitleOut:
    """A side title with the label of the rulebook that granted it."""
    spec = rulebook_in_force(title.granted_on).side_titles.get(title.kind)
    return SideTitleOut(
        id=title.id, kind=title.kind, kind_label=spec.label if spec else title.kind, granted_on=title.granted_on,
        valid_until=title.valid_until, issuer_level=title.issuer_level, document_no=title.document_no,
        product=title.product, ended_on=title.ended_on, end_reason_code=title.end_reason_code)


@router.post(
    "/{uscc}/side-titles", status_code=201, response_model=SideTitleEventOut, summary="授予并列称号 Grant a side title",
    responses=problems(401, 403, 404, 409, 412, 422),
    description="单项冠军、重点“小巨人”、高新技术企业等：记为 side_title 事件（trigger grant_side_title），状态不变。"
                "A `side_title` event in the firm's chain; same jurisdiction, permission, If-Match and "
                "Idempotency-Key rules as transitions.",
)
async def grant_side_title(
    uscc: str, payload: SideTitleGrant, session: SessionDep, actor: CurrentActor, idem: IdempotencyDep,
    request_id: RequestId, if_match: IfMatch = None,
) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    outcome = service.grant(
        session, uscc, kind=payload.kind, granted_on=payload.granted_on, document_no=payload.document_no,
        valid_until=payload.valid_until, issuer_level=payload.issuer_level, product=payload.product,
        reason=payload.reason, actor=actor, expected_version=_expected_version(if_match), request_id=request_id,
        evidence=None if payload.funds_yuan is None else {"funds_yuan": payload.funds_yuan},
    )
    body = SideTitleEventOut(side_title=side_title_out(outcome.side_title), event=event_out(outcome.event))
    response = ModelResponse(body, status_code=201, headers={"ETag": f'"{outcome.enterprise.version}"'})
    return idem.finish(session, response)


@router.post(
    "/{uscc}/side-titles/{side_title_id}/end", response_model=SideTitleEventOut,
    summary="结束并列称号 End a side title",
    responses=problems(401, 403, 404, 409, 412, 422),
    description="记为 side_title 事件（trigger end_side_title）。An `end_side_title` event; the reason code comes "
                "from the rulebook's catalogue.",
)
async def end_side_title(
    uscc: str, side_title_id: int, payload: SideTitleEnd, session: SessionDep, actor: CurrentActor,
    idem: IdempotencyDep, request_id: RequestId, if_match: IfMatch = None,
) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    outcome = service.end(
        session, uscc, side_title_id, ended_on=payload.ended_on, reason_code=payload.reason_code,
        reason=payload.reason, actor=actor, expected_version=_expected_version(if_match), request_id=request_id,
    )
    body = SideTitleEventOut(side_title=side_title_out(outcome.side_title), event=event_out(outcome.event))
    response = ModelResponse(body, headers={"ETag": f'"{outcome.enterprise.version}"'})
    return idem.finish(session, response)


@router.get(
    "/{uscc}/side-titles", response_model=SideTitlePage,
    summary="并列称号 Side titles", responses=problems(401, 404, 422),
    description="as_of 给定时列出当日持有的称号，否则列出全部（作废的除外）。With `as_of`, the side titles held on "
                "that date; without, every side title the firm has held (voided grants left out).",
)
def list_side_titles(
    uscc: str, session: SessionDep, actor: CurrentActor,
    as_of: Annotated[IsoDate | None, Query(description="持有日期 — held on this date")] = None,
) -> SideTitlePage:
    return SideTitlePage(items=[side_title_out(t) for t in service.held(session, uscc, actor, as_of)])
