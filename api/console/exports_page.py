"""/console/exports — the firm list and the roster of valid titles as the officials' own files: Chinese headers,
Chinese values (the code columns the API adds for machines are left out), region names with their city, real
date cells, and Chinese file names. They re-import unchanged: the importer reads tier labels and region codes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api import files
from api.console.pages import problem_of, render, signed_in
from api.console.session import ConsoleRoute
from api.deps import SessionDep
from pipeline.dates import business_today, parse_date
from pipeline.errors import InvalidInput, PipelineError
from pipeline.identifiers import region_full_name
from pipeline.imports import exports as export_lists

router = APIRouter(route_class=ConsoleRoute)

CODE_COLUMNS = ("状态代码", "层级代码")
"""Columns of machine codes (innovative, reserve …) that the console's files leave out."""
NAME_COLUMN = "地区名称"


def region_code(prefix: str) -> str | None:
    """A 2-, 4- or 6-digit region prefix typed in the console as the division code it stands for."""
    text = prefix.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) not in (2, 4, 6):
        raise InvalidInput("区划请填写2位（省）、4位（市）或6位（区县）代码", field="region")
    return text.ljust(6, "0")


def chinese(table: export_lists.Table) -> export_lists.Table:
    keep = [i for i, header in enumerate(table.headers) if header not in CODE_COLUMNS]
    region_at = list(table.headers).index("区划代码") if "区划代码" in table.headers else None
    name_at = list(table.headers).index(NAME_COLUMN) if NAME_COLUMN in table.headers else None

    def rows() -> Iterator[Sequence[Any]]:
        for row in table.rows:
            values = list(row)
            if region_at is not None and name_at is not None:
                values[name_at] = region_full_name(str(values[region_at])) or values[name_at]
            yield [values[i] for i in keep]

    headers = ["区划名称" if table.headers[i] == NAME_COLUMN else table.headers[i] for i in keep]
    return export_lists.Table(table.title, headers, rows())


def download(table: export_lists.Table, fmt: str, stem: str) -> Response:
    buffer = io.BytesIO()
    export_lists.write(table, fmt, buffer)
    name = f"{stem}-{business_today().isoformat()}.{fmt}"
    return Response(buffer.getvalue(), media_type=export_lists.MEDIA_TYPES[fmt],
                    headers=files.attachment(name, f"export.{fmt}"))


@router.get("/exports/enterprises.{fmt}")
def export_enterprises(
    request: Request, session: SessionDep, fmt: str, state: Annotated[str, Query(max_length=16)] = "",
    region: Annotated[str, Query(max_length=6)] = "",
) -> Response:
    current = signed_in(request, session)
    assert current.actor is not None
    try:
        table = export_lists.enterprises_table(session, current.actor, state=state or None,
                                               region=region_code(region))
        return download(chinese(table), fmt, "企业名单")
    except PipelineError as exc:
        problem = problem_of(exc)
        return render(request, "error.html", problem["status"], title=problem["title"], message=problem["detail"])


@router.get("/exports/roster.{fmt}")
def export_roster(
    request: Request, session: SessionDep, fmt: str, tier: Annotated[str, Query(max_length=32)] = "",
    as_of: Annotated[str, Query(max_length=10)] = "", region: Annotated[str, Query(max_length=6)] = "",
) -> Response:
    current = signed_in(request, session)
    assert current.actor is not None
    try:
        day = parse_date(as_of, field="as_of") if as_of else business_today()
        table = export_lists.roster_table(session, current.actor, tier=tier or None, as_of=day,
                                          region=region_code(region))
        return download(chinese(table), fmt, table.title.split("（")[0])
    except PipelineError as exc:
        problem = problem_of(exc)
        return render(request, "error.html", problem["status"], title=problem["title"], message=problem["detail"])
