"""Point in time and corrections: a firm on a date, the roster and counts of a date, voiding an event."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from api.deps import CurrentActor, RequestId, SessionDep, StrictQueryRoute
from api.idempotency import IdempotencyDep
from api.pagination import CursorParam, Limit, decode_cursor, encode_cursor
from api.presenters import ModelResponse, detail, etag, event_out
from api.replica import ReadSessionDep
from api.responses import problems
from api.schemas.audit import (
    AwareTimestamp,
    CountsOut,
    FirmStateOut,
    RegionCountOut,
    RosterItem,
    RosterPage,
    TitleAtOut,
    VoidRequest,
    as_utc,
)
from api.schemas.common import IsoDate
from api.schemas.enterprises import TransitionOut
from pipeline.dates import business_today
from pipeline.firms import repository
from pipeline.history import corrections, timetravel
from pipeline.rulebooks import rulebook_in_force, title_label

router = APIRouter(prefix="/api/v1", tags=["time travel 时点查询与更正"], route_class=StrictQueryRoute)

AsOf = Annotated[IsoDate | None, Query(description="业务日期 — the business date (default today, CST)")]
KnownAt = Annotated[AwareTimestamp | None, Query(description="记录时刻 — as recorded by this time (ISO 8601 with "
                                                          "zone; default now)")]


def _titles(titles: Iterable[Any], on: dt.date) -> list[TitleAtOut]:
    return [TitleAtOut(tier=t.tier, tier_label=title_label(t.tier, t.recognized_on), recognized_on=t.recognized_on,
                       valid_until=t.valid_until, document_no=t.document_no, batch=t.batch) for t in titles]


@router.get(
    "/enterprises/{uscc}/state", response_model=FirmStateOut, summary="某日状态 A firm on a date",
    responses=problems(401, 404, 422),
    description="企业在 as_of 当日的状态和有效称号，依据 known_at 时刻前已记录的事件（含更正）。The firm's state "
                "and valid titles on `as_of`, according to what had been recorded by `known_at` (default now); "
                "the two differ when a decision was keyed in late or corrected.",
)
def get_state_at(uscc: str, session: ReadSessionDep, actor: CurrentActor, as_of: AsOf = None,
                 known_at: KnownAt = None) -> FirmStateOut:
    enterprise = repository.get_enterprise(session, uscc, actor)
    day, known = as_of or business_today(), as_utc(known_at, "known_at")
    firm = timetravel.firm_at(session, enterprise, as_of=day, known_at=known)
    book = rulebook_in_force(day)
    return FirmStateOut(
        uscc=enterprise.uscc, as_of=day, known_at=known, state=firm.state,
        state_label=book.label(firm.state) if firm.state else None, barred_until=firm.barred_until,
        titles=_titles(firm.titles_on(day), day), events_considered=firm.last_seq,
    )


@router.get(
    "/roster", response_model=RosterPage, summary="在册名单 Roster of titled firms on a date",
    responses=problems(401, 422),
    description="as_of 当日持有称号（可按 tier 筛选）的企业，游标分页。Firms holding a title (of `tier`) on "
                "`as_of` within your jurisdiction (and `region`), keyset-paginated by firm. With `known_at` "
                "in the past the firms are replayed from the events recorded by then.",
)
def get_roster(
    session: ReadSessionDep, actor: CurrentActor, as_of: AsOf = None, known_at: KnownAt = None,
    tier: Annotated[str | None, Query(description="innovative, provincial, national, or a side-title kind "
                                                  "(champion_enterprise, high_tech_enterprise …)")] = None,
    region: Annotated[str | None, Query(description="区划代码 — GB/T 2260 code")] = None,
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> RosterPage:
    day, known = as_of or business_today(), as_utc(known_at, "known_at")
    entries, more = timetravel.roster(session, actor, as_of=day, tier=tier, region=region, known_at=known,
                                      after_id=decode_cursor(cursor) if cursor else 0, limit=limit)
    items = [RosterItem(uscc=e.uscc, name=e.name, region_code=e.region_code, highest_tier=e.highest_tier,
                        titles=_titles(e.titles, day)) for e in entries]
    return RosterPage(as_of=day, known_at=known, source="replay" if timetravel.uses_replay(known) else "recognitions",
                      items=items, next_cursor=encode_cursor(entries[-1].enterprise_id) if more and entries else None)


@router.get(
    "/reports/counts", response_model=CountsOut, summary="统计 Counts per state and region level",
    responses=problems(401, 422),
    description="as_of 当日各级区划（省/市/区县）的分状态企业数和各称号企业数，用于向上报送。Firms per state and "
                "per title held on `as_of`, for every province, city and district in your jurisdiction.",
)
def get_counts(
    session: ReadSessionDep, actor: CurrentActor, as_of: AsOf = None,
    region: Annotated[str | None, Query(description="区划代码 — GB/T 2260 code")] = None,
) -> CountsOut:
    day = as_of or business_today()
    rows = timetravel.counts(session, actor, as_of=day, region=region)
    return CountsOut(as_of=day, region=region, levels=[
        RegionCountOut(region_code=r.region_code, level=r.level, states=r.states, titles=r.titles,
                       side_titles=r.side_titles) for r in rows])


@router.post(
    "/enterprises/{uscc}/events/{seq}/void", response_model=TransitionOut,
    summary="作废最近一次事件 Void the latest event", responses=problems(401, 403, 404, 409, 422),
    description="追加一条 correction 事件，撤回该企业最近一次事件的效果（状态、称号、禁入期）；仅限最近一次事件，且在"
                "规则的更正期限内。The voided event stays in the history (its `voided_by` entry names the "
                "correction); older mistakes are fixed by ordinary compensating transitions.",
)
def post_void(
    uscc: str, seq: Annotated[int, Path(ge=1, le=2**31 - 1, description="事件序号")], payload: VoidRequest,
    session: SessionDep, actor: CurrentActor,
    idem: IdempotencyDep, request_id: RequestId,
) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    outcome = corrections.void(session, uscc, seq, actor=actor, reason=payload.reason, request_id=request_id)
    body = TransitionOut(enterprise=detail(outcome.enterprise, actor), event=event_out(outcome.event))
    response = ModelResponse(body, headers={"ETag": etag(outcome.enterprise)})
    return idem.finish(session, response)
