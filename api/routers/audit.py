"""/api/v1/audit — verification, anchors, auditor search and exports, the auditor read log; and the feed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from api.deps import CurrentActor, SessionDep, StrictQueryRoute
from api.idempotency import IdempotencyDep
from api.pagination import CursorParam, Limit, decode_cursor, encode_cursor
from api.presenters import ModelResponse, event_out
from api.responses import problems
from api.schemas.audit import (
    AnchorCreate,
    AnchorList,
    AnchorOut,
    AnchorSigned,
    AnchorVerifyOut,
    AuditEventPage,
    AuditReadOut,
    AuditReadPage,
    AwareTimestamp,
    FeedPage,
    ProblemItem,
    VerifyOut,
    WarningItem,
    as_utc,
)
from api.schemas.common import IsoDate
from pipeline.access import Actor
from pipeline.dates import utc_now
from pipeline.errors import Forbidden, NotFound
from pipeline.history import anchor_signing, feed, verify
from pipeline.history import reads as audit_reads
from pipeline.history import search as audit_query
from pipeline.identifiers import validate_uscc
from pipeline.lifecycle.chain import hash_recipes
from pipeline.models.audit import Anchor

router = APIRouter(prefix="/api/v1", tags=["audit 审计"], route_class=StrictQueryRoute)

CSV_MEDIA_TYPE = "text/csv"
MAX_BIGINT = 2**63 - 1
AnchorId = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="锚点编号 — the anchor's id")]
EXPORT_CONTENT = {200: {"content": {"application/json": {}, f"{CSV_MEDIA_TYPE}; charset=utf-8": {},
                                    audit_query.XLSX_MEDIA_TYPE: {}},
                        "description": "JSON page, or the whole result streamed as CSV (UTF-8 with BOM) or .xlsx "
                                       "according to `Accept`"}}


def _require_role(actor: Actor, roles: tuple[str, ...], what: str) -> None:
    if actor.role not in roles:
        raise Forbidden(f"{what}仅限{'/'.join(roles)} — {what} is for {', '.join(roles)}; you are {actor.role}",
                        rule=f"api:{what}", action=what)


def _anchor_out(anchor: Anchor) -> AnchorOut:
    signed = anchor.signature is not None
    return AnchorOut(id=anchor.id, digest=anchor.digest, firms=anchor.firms, events=anchor.events,
                     created_at=anchor.created_at, actor=anchor.actor, note=anchor.note,
                     signature=anchor.signature, public_key_id=anchor.public_key_id,
                     signature_algorithm=anchor_signing.ALGORITHM if signed else None,
                     signed=AnchorSigned(**verify.signed_fields(anchor)) if signed else None)


@router.get(
    "/audit/verify", response_model=VerifyOut, summary="校验审计链 Verify the chains",
    responses=problems(401, 403, 404, 422),
    description="逐企业按 seq 重算哈希链，并将存储的状态、禁入期、称号与事件重放结果比对。Recomputes every chain in "
                "your jurisdiction (or one firm's) and compares each firm's stored state, bar and titles with a "
                "replay of its events; every problem names the firm and the exact seq.",
)
def get_verify(
    session: SessionDep, actor: CurrentActor,
    uscc: Annotated[str | None, Query(max_length=40, description="只校验这家企业 — one firm only")] = None,
) -> VerifyOut:
    _require_role(actor, ("auditor", "admin"), "verify")
    code = validate_uscc(uscc) if uscc is not None else None
    report = verify.verify(session, uscc=code, region_prefix=actor.region_prefix)
    return VerifyOut(ok=report.ok, firms_checked=report.firms_checked, events_checked=report.events_checked,
                     problems=[ProblemItem(**p.as_dict()) for p in report.problems],
                     warnings=[WarningItem(**w.as_dict()) for w in report.warnings])


@router.post(
    "/audit/anchors", status_code=201, response_model=AnchorOut, summary="生成锚点 Anchor the chain heads",
    responses=problems(401, 403, 409, 422),
    description="对全部企业的链头（按 uscc 排序）计算一个 sha256 摘要并以 Ed25519 签名保存，可公开或交外部审计。One "
                "digest over every firm's chain head now, stored with the heads and signed with the key named by "
                "`PIPELINE_ANCHOR_KEY`; publish it or hand it to an auditor. No key configured → 409 "
                "`anchor-key-missing`, nothing written.",
)
def post_anchor(payload: AnchorCreate, session: SessionDep, actor: CurrentActor, idem: IdempotencyDep) -> Any:
    if (replay := idem.begin(session, actor)) is not None:
        return replay
    _require_role(actor, ("admin",), "anchor")
    anchor = verify.create_anchor(session, actor, payload.note)
    return idem.finish(session, ModelResponse(_anchor_out(anchor), status_code=201))


@router.get(
    "/audit/anchors", response_model=AnchorList, summary="锚点列表 Anchors", responses=problems(401, 403),
    description="最近的锚点（新的在前）。The latest anchors, newest first.",
)
def get_anchors(session: SessionDep, actor: CurrentActor) -> AnchorList:
    _require_role(actor, ("auditor", "admin"), "anchors")
    return AnchorList(items=[_anchor_out(a) for a in verify.anchors(session)])


@router.get(
    "/audit/anchors/{anchor_id}", response_model=AnchorOut, summary="锚点 One anchor",
    responses=problems(401, 403, 404, 422),
    description="锚点及其签名（Ed25519，签名对象为 `signed` 的 RFC 8785 形式）和公钥编号。The anchor with its "
                "signature over the RFC 8785 form of `signed` and the id of the public key that checks it.",
)
def get_anchor(anchor_id: AnchorId, session: SessionDep, actor: CurrentActor) -> AnchorOut:
    _require_role(actor, ("auditor", "admin"), "anchors")
    anchor = session.get(Anchor, anchor_id)
    if anchor is None:
        raise NotFound(f"未找到锚点{anchor_id} — no anchor {anchor_id}")
    return _anchor_out(anchor)


@router.get(
    "/audit/anchors/{anchor_id}/verify", response_model=AnchorVerifyOut, summary="校验锚点 Verify an anchor",
    responses=problems(401, 403, 404, 422),
    description="从创世哈希重算每条链直到锚定的序号，重算摘要并与锚点比对：锚定前记录的事件是否被改动。Recomputes "
                "each chain up to its anchored seq and the digest: proves nothing recorded before the anchor "
                "changed since.",
)
def get_anchor_verify(anchor_id: Annotated[int, Path(ge=1, le=MAX_BIGINT, description="锚点编号")],
                      session: SessionDep, actor: CurrentActor) -> AnchorVerifyOut:
    _require_role(actor, ("auditor", "admin"), "anchors")
    result = verify.verify_anchor(session, anchor_id)
    return AnchorVerifyOut(anchor=_anchor_out(result.anchor), ok=result.ok,
                           recomputed_digest=result.recomputed_digest, firms_checked=result.firms_checked,
                           events_checked=result.events_checked,
                           problems=[ProblemItem(**p.as_dict()) for p in result.problems])


def stream_events(factory: sessionmaker[Session], actor: Actor, flt: audit_query.EventFilter,
            accept: str) -> StreamingResponse | None:
    stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
    if audit_query.XLSX_MEDIA_TYPE in accept:
        return StreamingResponse(
            audit_query.xlsx_chunks(audit_query.iter_documents(factory, actor, flt)),
            media_type=audit_query.XLSX_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="events-{stamp}.xlsx"'})
    if CSV_MEDIA_TYPE in accept:
        return StreamingResponse(
            audit_query.csv_chunks(audit_query.iter_documents(factory, actor, flt)),
            media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="events-{stamp}.csv"'})
    return None


@router.get(
    "/audit/events", response_model=AuditEventPage, summary="审计查询与导出 Search and export events",
    responses={**problems(401, 403, 422), **EXPORT_CONTENT},  # type: ignore[dict-item]
    description="辖区内全部企业的事件，按条件筛选，新→旧或旧→新，游标分页；`Accept: text/csv` 或 .xlsx 时流式导出"
                "全部结果（中文表头）。Events across your jurisdiction; `Accept: text/csv` or the .xlsx media type "
                "streams every match (Chinese headers) with flat memory.",
)
def get_audit_events(
    request: Request, session: SessionDep, actor: CurrentActor,
    accept: Annotated[str, Header(description="application/json, text/csv or the .xlsx media type")] = "",
    actor_id: Annotated[str | None, Query(alias="actor", max_length=64, description="操作人")] = None,
    trigger: Annotated[str | None, Query(max_length=32, description="操作")] = None,
    kind: Annotated[str | None, Query(max_length=16, description="transition, amendment or correction")] = None,
    region: Annotated[str | None, Query(description="区划代码")] = None,
    uscc: Annotated[str | None, Query(max_length=40, description="统一社会信用代码")] = None,
    effective_from: IsoDate | None = None, effective_to: IsoDate | None = None,
    recorded_from: AwareTimestamp | None = None, recorded_to: AwareTimestamp | None = None,
    order: Annotated[Literal["asc", "desc"], Query(description="asc = oldest first")] = "asc",
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> Any:
    _require_role(actor, audit_query.SEARCH_ROLES, "audit events")
    flt = audit_query.EventFilter(
        actor=actor_id, trigger=trigger, kind=kind, region=region,
        uscc=validate_uscc(uscc) if uscc is not None else None,
        effective_from=effective_from, effective_to=effective_to,
        recorded_from=as_utc(recorded_from, "recorded_from"), recorded_to=as_utc(recorded_to, "recorded_to"),
        newest_first=order == "desc")
    audit_query.events_query(actor, flt)  # validates the region before a stream starts
    streamed = stream_events(request.app.state.session_factory, actor, flt, accept.lower())
    if streamed is not None:
        return streamed
    rows, more = audit_query.search(session, actor, flt, after_id=decode_cursor(cursor) if cursor else None,
                                    limit=limit)
    kept, recipes = hash_recipes(rows)
    rows, more = rows[:kept], more or kept < len(rows)
    return AuditEventPage(items=[event_out(e) for e in rows], hash_recipes=recipes,
                          next_cursor=encode_cursor(rows[-1].id) if more and rows else None)


@router.get(
    "/audit/reads", response_model=AuditReadPage, summary="审计查阅记录 Auditor read log",
    responses=problems(401, 403, 422),
    description="审计人员每次查阅企业数据的记录（谁、何时、查了什么）。管理员可见全部，审计人员可见本人的。"
                "Every read of firm data by an auditor; administrators see all, an auditor sees their own.",
)
def get_audit_reads(
    session: SessionDep, actor: CurrentActor,
    actor_id: Annotated[str | None, Query(alias="actor", max_length=64)] = None,
    uscc: Annotated[str | None, Query(max_length=40)] = None,
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> AuditReadPage:
    _require_role(actor, ("auditor", "admin"), "audit reads")
    who = actor.id if actor.role == "auditor" else actor_id
    rows = audit_reads.list_reads(session, actor_id=who, uscc=uscc, limit=limit + 1,
                                  before_id=decode_cursor(cursor) if cursor else None)
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditReadPage(
        items=[AuditReadOut(id=r.id, actor=r.actor, route=r.route, uscc=r.uscc, query=r.query,
                            request_id=r.request_id, read_at=r.read_at) for r in rows],
        next_cursor=encode_cursor(rows[-1].id) if more and rows else None)


@router.get(
    "/feed", response_model=FeedPage, summary="变更订阅 Change feed",
    responses=problems(401, 422),
    description="按提交顺序返回事件；从头跟随的客户端恰好看到每个事件一次（即使并发事务提交顺序与序号不同）。Events "
                "in commit order: a client following `next_cursor` from the start sees every event in its "
                "jurisdiction exactly once, even when concurrent transactions commit out of id order.",
)
def get_feed(
    session: SessionDep, actor: CurrentActor,
    after: Annotated[str | None, Query(max_length=200, description="上次返回的 next_cursor")] = None,
    limit: Limit = 100,
) -> FeedPage:
    rows, cursor = feed.page(session, actor, feed.Cursor.decode(after), limit)
    kept, recipes = hash_recipes(rows)
    if kept < len(rows):
        rows, cursor = rows[:kept], feed.Cursor.after(rows[kept - 1])
    return FeedPage(items=[event_out(e) for e in rows], hash_recipes=recipes, next_cursor=cursor.encode())
