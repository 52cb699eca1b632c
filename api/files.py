"""Files the API hands out: which format a client asked for (``?format=`` or ``Accept``), the
``Content-Disposition`` of a Chinese file name (RFC 6266: an ASCII fallback and ``filename*``), and a list
written to a spooled temporary file while the session is open, then streamed.
导出文件：格式协商、中文文件名、临时文件分块输出。
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO, Any
from urllib.parse import quote

from fastapi.responses import StreamingResponse

from pipeline.imports import exports as export_lists

CHUNK_BYTES = 64 * 1024
SPOOL_IN_MEMORY = 8 * 1024 * 1024


def wanted_format(format: str | None, accept: str | None) -> str:
    """``format`` if given, else what ``Accept`` names (the .xlsx media type or ``text/csv``), else ``json``."""
    if format:
        return format
    accept = (accept or "").lower()
    if export_lists.MEDIA_TYPES["xlsx"] in accept:
        return "xlsx"
    return "csv" if "text/csv" in accept else "json"


def file_response(description: str | None = None) -> dict[str, Any]:
    """The OpenAPI 200 entry of a route that can answer with an .xlsx or CSV file."""
    entry: dict[str, Any] = {"content": {
        export_lists.MEDIA_TYPES["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
        "text/csv": {"schema": {"type": "string"}}}}
    if description is not None:
        entry["description"] = description
    return entry


def attachment(file_name: str, ascii_name: str | None = None) -> dict[str, str]:
    """The header that names a download: browsers show ``filename*`` (UTF-8), old clients the ASCII form —
    ``ascii_name``, else the ASCII part of ``file_name``."""
    if ascii_name is None:
        ascii_name = "".join(c for c in file_name if c.isascii() and c.isprintable() and c not in '"\\')
        ascii_name = ascii_name.lstrip("-_ ")
        if ascii_name.startswith(".") or not ascii_name:
            ascii_name = f"download{ascii_name}"
    return {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name)}"}


def table_response(table: export_lists.Table, fmt: str, file_name: str) -> StreamingResponse:
    """``table`` as an .xlsx or CSV download: written now (while the caller's session is open) to a spooled
    temporary file — memory up to 8 MiB, disk beyond — and streamed from there."""
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 — closed below
    try:
        export_lists.write(table, fmt, spool)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise

    def chunks() -> Iterator[bytes]:
        try:
            while chunk := spool.read(CHUNK_BYTES):
                yield chunk
        finally:
            spool.close()

    return StreamingResponse(chunks(), media_type=export_lists.MEDIA_TYPES[fmt], headers=attachment(file_name))
