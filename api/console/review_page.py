"""/console/review — the 复核 worklist: the list ``GET /dynamic-management/due`` returns
(:func:`pipeline.dynamic.worklist.due`), grouped by tier and batch, with the district of each firm, overdue
flags, titles already lapsed listed first, batch 续期/降级 of the firms ticked (all or nothing; 降级 is shown
with each firm's resulting tier from the lifecycle's decision function before it is recorded), and an Excel
download of the list."""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from api import files
from api.console import catalogue, views
from api.console.pages import book_now, check_csrf, problem_of, render, signed_in
from api.console.session import ConsoleRoute
from api.deps import SessionDep
from pipeline.access import Actor
from pipeline.dates import business_today, parse_date
from pipeline.dynamic import batches
from pipeline.errors import InvalidInput, PipelineError
from pipeline.firms import repository
from pipeline.identifiers import region_full_name
from pipeline.imports.exports import MEDIA_TYPES
from pipeline.spreadsheet import xlsx_text_cell

router = APIRouter(route_class=ConsoleRoute)

BATCH_TRIGGERS = {"renew": "复核通过（续期）", "demote": "降级"}
XLSX_HEADERS = ("称号", "批次", "企业名称", "统一社会信用代码", "区划代码", "区划名称", "有效期至", "剩余天数", "提示")


def _page(request: Request, session: SessionDep, actor: Actor, status: int = 200, **extra: Any) -> Response:
    today = business_today()
    groups = views.due_for_review(session, actor, today)
    for group in groups:  # flagged firms (annual data overdue, late change report) first, then by date
        group.items.sort(key=lambda item: (not item.flags, item.valid_until, item.uscc))
    context: dict[str, Any] = {"problem": None, "failures": [], "previews": None, "values": {}, "done": None,
                               "chosen": []}
    context.update(extra)
    return render(request, "review.html", status, groups=groups, total=sum(g.count for g in groups),
                  lapsed=views.lapsed_titles(session, actor, today), window=views.DUE_WINDOW_DAYS,
                  horizon=today + dt.timedelta(days=views.DUE_WINDOW_DAYS), batch_triggers=BATCH_TRIGGERS,
                  demote_reasons=dict(book_now().reasons_for("demote")),
                  can_batch=actor.role in ("official", "admin"), **context)


@router.get("/review")
def review_page(request: Request, session: SessionDep, done: int | None = None) -> Response:
    """The dashboard card's full list, the same as ``GET /dynamic-management/due``."""
    current = signed_in(request, session)
    assert current.actor is not None
    return _page(request, session, current.actor, done=done)


@router.post("/review/batch")
def review_batch(
    request: Request, session: SessionDep, csrf_token: Annotated[str, Form(max_length=200)] = "",
    uscc: Annotated[list[str] | None, Form()] = None, trigger: Annotated[str, Form(max_length=16)] = "",
    effective_date: Annotated[str, Form(max_length=10)] = "", document_no: Annotated[str, Form(max_length=100)] = "",
    reason_code: Annotated[str, Form(max_length=64)] = "", reason: Annotated[str, Form(max_length=2000)] = "",
    confirm: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    current = signed_in(request, session)
    check_csrf(request, current, csrf_token)
    actor = current.actor
    assert actor is not None
    chosen = list(dict.fromkeys(u.strip() for u in uscc or [] if u.strip()))[:500]
    values = {"trigger": trigger, "effective_date": effective_date, "document_no": document_no,
              "reason_code": reason_code, "reason": reason}
    try:
        if trigger not in BATCH_TRIGGERS:
            raise InvalidInput("请选择批量操作（续期或降级）", field="trigger")
        if not chosen:
            raise InvalidInput("请勾选至少一家企业", field="uscc")
        day = parse_date(effective_date, field="effective_date") if effective_date.strip() else business_today()
        evidence = {"document_no": document_no.strip()} if document_no.strip() else {}
        items = [batches.BatchItem(uscc=u, trigger=trigger, effective_date=day, reason_code=reason_code or None,
                                   reason=reason.strip() or None, evidence=evidence) for u in chosen]
        if trigger == "demote" and confirm != "yes":  # each firm's resulting tier, from the kernel, first
            previews = []
            for item in items:
                firm = repository.get_enterprise(session, item.uscc, actor)
                previews.append((firm, views.dry_run(firm, "demote", actor, effective_date=day,
                                                     reason_code=item.reason_code, reason=item.reason,
                                                     evidence=dict(evidence))))
            return _page(request, session, actor, previews=previews, chosen=chosen, values=values)
        with session.begin_nested():  # all or nothing: a refusal rolls back the items already done
            results = batches.run_batch(session, items, mode="all_or_nothing", actor=actor,
                                        request_id=str(request.state.request_id))
    except batches.BatchRefused as refused:
        session.expire_all()
        failures = [(f.uscc, catalogue.zh(f.error.detail)) for f in refused.failures if f.error is not None]
        return _page(request, session, actor, 409, failures=failures, values=values, chosen=chosen,
                     problem={"slug": "batch-refused", "title": catalogue.problem_title("batch-refused"),
                              "detail": f"{len(failures)}家企业不符合条件，全部未执行", "refusals": []})
    except PipelineError as exc:
        session.expire_all()
        problem = problem_of(exc)
        return _page(request, session, actor, problem["status"], problem=problem, values=values, chosen=chosen)
    return RedirectResponse(f"/console/review?done={len(results)}", status_code=303)


@router.get("/review.xlsx")
def review_export(request: Request, session: SessionDep) -> Response:
    from openpyxl import Workbook  # type: ignore[import-untyped]  # openpyxl only when writing xlsx

    current = signed_in(request, session)
    assert current.actor is not None
    today = business_today()
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title="复核清单")
    sheet.append(list(XLSX_HEADERS))
    for group in views.due_for_review(session, current.actor, today):
        for item in group.items:
            flags = "、".join(catalogue.zh(f) for f in item.flags)
            sheet.append([xlsx_text_cell(sheet, v) if isinstance(v, str) else v for v in (
                group.tier_label, group.batch or "", item.name, item.uscc, item.region_code,
                region_full_name(item.region_code) or "", item.valid_until, (item.valid_until - today).days, flags)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    name = f"复核清单-{today.isoformat()}.xlsx"
    return Response(buffer.getvalue(), media_type=MEDIA_TYPES["xlsx"],
                    headers=files.attachment(name, "review.xlsx"))
