"""Every table, one module per aggregate. Importing this package registers all of them on
``Base.metadata`` (for Alembic and the tests), so ``from pipeline.models import Enterprise`` is the one
way in.
"""

from pipeline.models.audit import Anchor, AnchorHead, AuditRead
from pipeline.models.base import NAMING_CONVENTION, Base, BigId, JsonDoc, UTCDateTime
from pipeline.models.dynamic import AnnualFiling
from pipeline.models.firms import Enterprise, Event, Recognition
from pipeline.models.imports import ImportRun
from pipeline.models.principals import IdempotencyRecord, Principal
from pipeline.models.titles import SideTitle

__all__ = [
    "NAMING_CONVENTION", "Anchor", "AnchorHead", "AnnualFiling", "AuditRead", "Base", "BigId", "Enterprise",
    "Event", "IdempotencyRecord", "ImportRun", "JsonDoc", "Principal", "Recognition", "SideTitle",
    "UTCDateTime",
]
