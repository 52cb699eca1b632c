"""Domain errors. They speak to the person who caused them; the API maps them to HTTP in one place."""

from __future__ import annotations

from typing import Any


class PipelineError(Exception):
    """Base of every refusal the domain can give. ``extra`` carries machine-readable details."""

    title = "Request refused"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(PipelineError):
    """A value that cannot be accepted (a date in the wrong form, an unknown reason code …)."""

    title = "Invalid input"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.field = field


class FileTooLarge(PipelineError):
    """An uploaded workbook that would inflate past a configured limit (size, ratio, members, shared strings)."""

    title = "File too large (文件超出限制)"


class InvalidFile(PipelineError):
    """A file whose structure is broken (a zip that is not a workbook, bad XML, a cell of an impossible type)."""

    title = "Invalid file (文件结构无效)"


class InvalidUSCC(InvalidInput):
    title = "Invalid unified social credit code (统一社会信用代码无效)"


class InvalidRegion(InvalidInput):
    title = "Unknown administrative division code (行政区划代码无效)"


class NotFound(PipelineError):
    title = "Not found (未找到)"


class AlreadyExists(PipelineError):
    title = "Already exists (已存在)"


class Forbidden(PipelineError):
    title = "Not permitted (无权操作)"


class IllegalTransition(PipelineError):
    title = "Illegal transition (当前状态不允许该操作)"


class GuardFailed(PipelineError):
    title = "Guard failed (不满足操作条件)"


class QuotaExceeded(PipelineError):
    """A recommendation past the child region's recommendation quota (推荐名额) for the year and tier."""

    title = "Quota exceeded (超出推荐名额)"


class VersionMismatch(PipelineError):
    title = "Version mismatch (版本不一致)"


class Conflict(PipelineError):
    """A concurrent writer changed the firm first; retrying with fresh data is safe."""

    title = "Concurrent change (并发修改冲突)"


class AnchorKeyMissing(PipelineError):
    """Anchors are signed; without a signing key none is made."""

    title = "Anchor signing key missing (未配置锚点签名密钥)"


class SchemaNotAtHead(PipelineError):
    """The database schema is not the one this code needs, and this process may not migrate it."""

    title = "Database schema not at head (数据库结构不是最新版本)"
