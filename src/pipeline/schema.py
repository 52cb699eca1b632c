"""Every ORM module, imported so that ``Base.metadata`` is the whole schema (for Alembic and the tests).

A feature that adds tables keeps them in its own module and lists it here.
"""

from pipeline import audit_models, models
from pipeline.dynamic import models as dynamic_models  # noqa: F401 — annual_filings (dynamic management)
from pipeline.imports import models as import_models  # noqa: F401 — import_runs (imports)

__all__ = ["audit_models", "models"]
