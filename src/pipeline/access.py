"""Who is acting, what they may do, and where: roles and levels from the rulebook, scope by division code."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Select

from pipeline.errors import Forbidden
from pipeline.identifiers import region_covers, region_prefix, validate_region
from pipeline.models import Enterprise
from pipeline.rulebooks import Rulebook

_Q = TypeVar("_Q", bound="Select[*tuple[Any, ...]]")

ROLES = ("official", "auditor", "integrator", "finance", "admin")
"""``finance``: a payer region's finance bureau (财政局), which pays award shares of exactly its region."""
LEVELS = ("district", "city", "province")


@dataclass(frozen=True)
class Actor:
    id: str
    role: str
    level: str | None = None
    region_code: str | None = None
    """The jurisdiction; ``None`` means everywhere (administrators, the system, the CLI)."""
    grants: tuple[str, ...] = field(default_factory=tuple)
    user: str | None = None
    """The person acting for the principal (a console account's name); events keep it as ``evidence.user``."""

    def covers(self, region_code: str) -> bool:
        return region_covers(self.region_code, region_code)

    @property
    def region_prefix(self) -> str | None:
        return None if self.region_code is None else region_prefix(self.region_code)


SYSTEM = Actor(id="system", role="system")


def cli_actor(actor_id: str | None = None) -> Actor:
    """CLI commands act as ``cli:<OS user>`` with full rights, or as a named principal with ``--actor``."""
    return Actor(id=actor_id or f"cli:{getpass.getuser()}", role="admin")


def permission_refusal(rulebook: Rulebook, actor: Actor, action: str) -> str | None:
    """Why ``actor`` may not perform ``action`` under ``rulebook``, or ``None`` if it may."""
    if actor.role == "auditor":
        return f"审计人员只读 — auditors never write (rulebook {rulebook.id})"
    if actor.role == "integrator":
        if action in actor.grants and action in rulebook.integrator_grantable:
            return None
        if action in actor.grants:
            return (f"规则{rulebook.id}不允许向接入系统授予“{action}” — rulebook {rulebook.id} "
                    f"integrator_grantable does not list {action!r}, so this client's grant no longer works; "
                    f"grantable: {', '.join(rulebook.integrator_grantable) or 'nothing'}")
        return (f"接入系统未被授权“{action}” — this integration client is not granted {action!r}; "
                f"granted: {', '.join(actor.grants) or 'nothing'}")
    if rulebook.permits(action, actor.role, actor.level):
        return None
    who = f"{actor.role}:{actor.level}" if actor.level else actor.role
    allowed = ", ".join(rulebook.permissions.get(action, ())) or "nobody"
    return (f"规则{rulebook.id}不允许{who}执行“{action}” — rulebook {rulebook.id} permissions.{action} "
            f"allows {allowed}, not {who}")


def require_permission(rulebook: Rulebook, actor: Actor, action: str) -> None:
    refusal = permission_refusal(rulebook, actor, action)
    if refusal:
        raise Forbidden(refusal, rule=f"{rulebook.id}:permissions.{action}", action=action)


def in_jurisdiction(query: _Q, actor: Actor, region: str | None = None) -> _Q:
    """Only firms (``Enterprise`` rows in ``query``) in the actor's jurisdiction, and in ``region`` when given."""
    if actor.region_prefix:
        query = query.where(Enterprise.region_code.startswith(actor.region_prefix))
    if region is not None:
        query = query.where(Enterprise.region_code.startswith(region_prefix(validate_region(region, field="region"))))
    return query
