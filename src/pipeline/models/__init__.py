"""Every table, one module per aggregate. Importing this package registers all of them on
``Base.metadata`` (for Alembic and the tests), so ``from pipeline.models import Enterprise`` is the one
way in.
"""

from pipeline.models.audit import Anchor, AnchorHead, AuditRead
from pipeline.models.awards import AwardBudget, Entitlement, EntitlementRecord, PolicyVersion
from pipeline.models.base import NAMING_CONVENTION, Base, BigId, JsonDoc, UTCDateTime
from pipeline.models.credit import Loan
from pipeline.models.dynamic import AnnualFiling
from pipeline.models.firms import Enterprise, Event, Recognition
from pipeline.models.imports import ImportRun
from pipeline.models.ledger import ChainRecord
from pipeline.models.principals import ConsoleSessionRecord, IdempotencyRecord, Principal
from pipeline.models.titles import SideTitle
from pipeline.models.webhooks import WebhookDelivery, WebhookSubscription

__all__ = [
    "NAMING_CONVENTION", "Anchor", "AnchorHead", "AnnualFiling", "AuditRead", "AwardBudget", "Base", "BigId",
    "ChainRecord", "ConsoleSessionRecord", "Enterprise", "Entitlement", "EntitlementRecord", "Event",
    "IdempotencyRecord", "ImportRun", "JsonDoc", "Loan", "PolicyVersion", "Principal", "Recognition", "SideTitle",
    "UTCDateTime", "WebhookDelivery", "WebhookSubscription",
]
