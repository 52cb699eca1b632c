"""Every ORM module, imported so that ``Base.metadata`` is the whole schema (for Alembic and the tests).

A feature that adds tables keeps them in its own module and lists it here.
"""

from pipeline import models

__all__ = ["models"]
