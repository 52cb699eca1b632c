"""/api/v1/enterprises — firms, their transitions and their history."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from api.deps import (
    USCC_PATH,
    CurrentActor,
    SessionDep,
    StrictQueryRoute,
    header_parameter,
    unit_openapi,
    write_unit,
)
from api.idempotency import IDEMPOTENCY_KEY_DESCRIPTION, IDEMPOTENCY_KEY_MAX, idempotency_from_headers
from api.pagination import CursorParam, Limit, decode_cursor, encode_cursor
from api.presenters import ModelResponse, detail, etag, event_out, summary
from api.replica import ReadSessionDep
from api.responses import problems
from api.schemas.common import IsoDate
from api.schemas.enterprises import (
    EnterpriseCreate,
    EnterpriseOut,
    EnterprisePage,
    EnterprisePatch,
    HistoryOut,
    TransitionOut,
    TransitionRequest,
)
from pipeline.access import Actor
from pipeline.dates import business_today
from pipeline.errors import InvalidInput, VersionMismatch
from pipeline.firms import repository, service
from pipeline.history.replay import voided_seqs
from pipeline.identifiers import region_prefix, validate_region
from pipeline.lifecycle.chain import hash_recipes
from pipeline.lifecycle.machine import STATES
from pipeline.models import Enterprise, Recognition

router = APIRouter(prefix="/api/v1/enterprises", tags=["enterprises 企业"], route_class=StrictQueryRoute)

IF_MATCH_DESCRIPTION = "乐观锁 — the firm's version (its ETag); stale → 412"
IfMatch = Annotated[str | None, Header(description=IF_MATCH_DESCRIPTION)]
IDEMPOTENCY_KEY = header_parameter("idempotency-key", "Idempotency-Key", IDEMPOTENCY_KEY_DESCRIPTION,
                                   max_length=IDEMPOTENCY_KEY_MAX)
IF_MATCH = header_parameter("if-match", "If-Match", IF_MATCH_DESCRIPTION)


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    try:
        return int(text)
    except ValueError:
        raise VersionMismatch(f"If-Match 应为版本号 — If-Match must be the firm's version (its ETag), got "
                              f"{if_match!r}") from None


_FIRM_PATHS: dict[str, str] = {}


def _firm_path(request: Request, uscc: str) -> str:
    """The firm's own URL path (the ``Location`` of a new firm): ``url_for`` once per root path, then filled in —
    it walks every route, raising and catching a ``NoMatchFound`` for each that is not it (about 50 µs)."""
    root = str(request.scope.get("root_path", ""))
    prefix = _FIRM_PATHS.get(root)
    if prefix is None:
        prefix = _FIRM_PATHS[root] = str(request.url_for("get_enterprise", uscc="-").path).removesuffix("-")
    return prefix + uscc  # a USCC is 18 letters and digits: nothing to quote


def _region_filter(region: str) -> str:
    """``41`` (province), ``4101`` (city), ``410106`` (district) or a full 6-digit code → the prefix to match."""
    code = region.strip()
    if len(code) in (2, 4) and code.isascii() and code.isdigit():
        return code
    if len(code) == 6:
        return region_prefix(validate_region(code, field="region"))
    raise InvalidInput(f"区划应为2位（省）、4位（市）或6位代码 — region must be a 2-digit (province), 4-digit (city) "
                       f"or 6-digit (GB/T 2260) code, got {region!r}", field="region")


def _search_terms(q: str) -> list[str]:
    """The words of ``q`` after NFKC folding (full-width ９１ → 91, the ideographic space splits too), escaped."""
    if any(ord(ch) < 32 or 0xD800 <= ord(ch) <= 0xDFFF for ch in q):
        raise InvalidInput("q 不得包含控制字符 — q must not contain control characters", field="q")
    words = unicodedata.normalize("NFKC", q).split()
    return [w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for w in words]


@router.post(
    "", status_code=201, response_model=EnterpriseOut,
    summary="纳入培育库 Enroll a firm", responses=problems(401, 403, 404, 409, 422),
    description="新建企业并纳入后备清单（reserve），首个事件为 enroll。Creates the firm in `reserve`; "
                "its first event is `enroll`. An existing USCC → 409 `already-exists`.",
    openapi_extra=unit_openapi(IDEMPOTENCY_KEY),
)
async def create_enterprise(payload: EnterpriseCreate, request: Request) -> Response:
    idem = await idempotency_from_headers(request)
    request_id = str(request.state.request_id)

    def work(session: Session, actor: Actor) -> Response:
        if (replay := idem.begin(session, actor)) is not None:
            return replay
        outcome = service.enroll(
            session, uscc=payload.uscc, name=payload.name, region_code=payload.region_code,
            effective_date=payload.effective_date, reason=payload.reason, data=payload.data, actor=actor,
            request_id=request_id,
        )
        headers = {"Location": _firm_path(request, outcome.enterprise.uscc), "ETag": etag(outcome.enterprise)}
        return idem.finish(session, ModelResponse(detail(outcome.enterprise, actor), status_code=201, headers=headers))

    return await write_unit(request, work)


@router.get(
    "", response_model=EnterprisePage, summary="企业列表 List firms",
    responses=problems(401, 422),
    description="按状态、区划（省2位/市4位/区县6位前缀）、到期日、名称筛选；游标分页。Filter by state, region "
                "prefix, titles expiring before a date, name; keyset pagination stable under inserts.",
)
def list_enterprises(
    session: SessionDep, actor: CurrentActor,
    state: Annotated[str | None, Query(description="状态 — state code")] = None,
    region: Annotated[str | None, Query(max_length=6, description=(
        "区划前缀 — province 2 digits (41), city 4 (4101) or a 6-digit GB/T 2260 code (410106, 410100)"))] = None,
    expiring_before: Annotated[IsoDate | None, Query(description="有效期在此日期前届满的在册称号")] = None,
    q: Annotated[str | None, Query(max_length=100, description="名称或信用代码关键词")] = None,
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> EnterprisePage:
    query = select(Enterprise).order_by(Enterprise.id).limit(limit + 1)
    if actor.region_prefix:
        query = query.where(Enterprise.region_code.startswith(actor.region_prefix))
    if state is not None:
        if state not in STATES[1:]:
            raise InvalidInput(f"未知状态 — unknown state {state!r}; states: {', '.join(STATES[1:])}", field="state")
        query = query.where(Enterprise.state == state)
    if region is not None:
        query = query.where(Enterprise.region_code.startswith(_region_filter(region)))
    if expiring_before is not None:
        query = query.where(exists().where(
            Recognition.enterprise_id == Enterprise.id, Recognition.ended_on.is_(None),
            Recognition.valid_until < expiring_before))
    for term in _search_terms(q or ""):  # every word must match the name or a USCC prefix
        query = query.where(Enterprise.name.contains(term, autoescape=False, escape="\\")
                            | Enterprise.uscc.startswith(term.upper(), escape="\\"))
    if cursor:
        query = query.where(Enterprise.id > decode_cursor(cursor))
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    today = business_today()
    return EnterprisePage(items=[summary(row, today) for row in rows],
                          next_cursor=encode_cursor(rows[-1].id) if more and rows else None)


@router.get(
    "/{uscc}", response_model=EnterpriseOut, summary="企业详情 One firm",
    responses=problems(401, 404, 422),
    description="当前状态、称号及各操作是否可行（不可行时说明原因）。State, titles, and for every trigger whether "
                "the caller may fire it now and why not.",
)
def get_enterprise(uscc: str, session: SessionDep, actor: CurrentActor) -> JSONResponse:
    enterprise = repository.get_enterprise(session, uscc, actor)
    return ModelResponse(detail(enterprise, actor), headers={"ETag": etag(enterprise)})


@router.patch(
    "/{uscc}", response_model=EnterpriseOut, summary="修改企业信息 Edit a firm's data",
    responses=problems(401, 403, 404, 409, 412, 422),
    description="修改名称、区划或其他信息，记为 amendment 事件；支持 If-Match。Edits are `amendment` events.",
    openapi_extra=unit_openapi(USCC_PATH, IDEMPOTENCY_KEY, IF_MATCH),
)
async def patch_enterprise(payload: EnterprisePatch, request: Request) -> Response:
    uscc: str = request.path_params["uscc"]
    idem = await idempotency_from_headers(request)
    if_match = request.headers.get("if-match")
    request_id = str(request.state.request_id)

    def work(session: Session, actor: Actor) -> Response:
        if (replay := idem.begin(session, actor)) is not None:
            return replay
        changes = payload.model_dump(exclude_unset=True, exclude={"reason"})
        outcome = service.amend(session, uscc, changes=changes, actor=actor, reason=payload.reason,
                                expected_version=_expected_version(if_match), request_id=request_id)
        response = ModelResponse(detail(outcome.enterprise, actor),
                                headers={"ETag": etag(outcome.enterprise)})
        return idem.finish(session, response)

    return await write_unit(request, work)


@router.post(
    "/{uscc}/transitions", response_model=TransitionOut, summary="状态变更 Fire a trigger",
    responses=problems(401, 403, 404, 409, 412, 422),
    description="认定、复核续期、降级、撤销、移出等。Recognitions, renewals, demotions, revocations, removals: "
                "guards are checked, the firm's row is locked, and the event is written in the same transaction.",
    openapi_extra=unit_openapi(USCC_PATH, IDEMPOTENCY_KEY, IF_MATCH),
)
async def post_transition(payload: TransitionRequest, request: Request) -> Response:
    uscc: str = request.path_params["uscc"]
    idem = await idempotency_from_headers(request)
    if_match = request.headers.get("if-match")
    request_id = str(request.state.request_id)

    def work(session: Session, actor: Actor) -> Response:
        if (replay := idem.begin(session, actor)) is not None:
            return replay
        evidence = payload.evidence.model_dump(exclude_none=True) if payload.evidence else {}
        outcome = service.transition(
            session, uscc, trigger=payload.trigger, effective_date=payload.effective_date,
            reason_code=payload.reason_code, reason=payload.reason, evidence=evidence, actor=actor,
            expected_version=_expected_version(if_match), request_id=request_id, arrives_in=payload.region_code,
        )
        body = TransitionOut(enterprise=detail(outcome.enterprise, actor), event=event_out(outcome.event))
        return idem.finish(session, ModelResponse(body, headers={"ETag": etag(outcome.enterprise)}))

    return await write_unit(request, work)


@router.get(
    "/{uscc}/history", response_model=HistoryOut, summary="事件历史 History",
    responses=problems(401, 404, 422),
    description="按 seq 顺序的全部事件及哈希链。Every event in seq order with its hash chain fields.",
)
def get_history(uscc: str, session: ReadSessionDep, actor: CurrentActor) -> HistoryOut:
    enterprise = repository.get_enterprise(session, uscc, actor)
    events = repository.history(session, enterprise)
    return HistoryOut(items=[event_out(e) for e in events], hash_recipes=hash_recipes(events)[1],
                      voided_by={str(seq): by for seq, by in voided_seqs(events).items()})

