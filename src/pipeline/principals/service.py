"""Principals: officials, auditors, integration clients, administrators — and their bearer tokens.

Only the SHA-256 of a token is stored. Tokens are 256-bit random strings, so a fast hash is enough:
there is nothing to brute-force that a slow hash would protect.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from pipeline.access import LEVELS, ROLES, Actor
from pipeline.dates import business_today, utc_now
from pipeline.errors import InvalidInput, NotFound
from pipeline.identifiers import region_level, region_name, validate_region
from pipeline.models import Principal
from pipeline.rulebooks import Rulebook, rulebook_in_force

TOKEN_PREFIX = "zjtx_"  # noqa: S105 — a public marker that makes leaked tokens greppable, not a secret


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewPrincipal:
    principal: Principal
    token: str


def add_principal(
    session: Session,
    *,
    name: str,
    role: str,
    region_code: str | None,
    created_by: str,
    level: str | None = None,
    grants: list[str] | None = None,
) -> NewPrincipal:
    name = name.strip()
    if not name:
        raise InvalidInput("名称不能为空 — name must not be empty", field="name")
    if role not in ROLES:
        raise InvalidInput(f"未知角色 — unknown role {role!r}; roles: {', '.join(ROLES)}", field="role")
    if role == "official" and level not in LEVELS:
        raise InvalidInput(f"官员须指定层级 — an official needs --level, one of: {', '.join(LEVELS)}",
                           field="level")
    if role != "official" and level is not None:
        raise InvalidInput("只有 official 有层级 — only officials have a level", field="level")
    if role != "admin" and not region_code:
        raise InvalidInput(f"{role} 须指定辖区 — {_a(role)} needs --region (GB/T 2260 code)", field="region")
    region = validate_region(region_code, field="region") if region_code else None
    if role == "official" and region is not None and level != region_level(region):
        actual = region_level(region)
        raise InvalidInput(f"层级与辖区不符 — --level {level} does not match region {region} ({region_name(region)}), "
                           f"which is {actual} level; use --level {actual} or a {level}-level code", field="level")
    grants = list(dict.fromkeys(grants or []))
    rulebook = rulebook_in_force(business_today())
    unknown = [g for g in grants if g not in rulebook.integrator_grantable]
    if unknown:
        raise InvalidInput(f"规则{rulebook.id}不允许授予“{unknown[0]}” — rulebook {rulebook.id} does not let an "
                           f"integrator be granted {unknown[0]!r}; grantable: "
                           f"{', '.join(rulebook.integrator_grantable)}", field="grant")
    if grants and role != "integrator":
        raise InvalidInput("只有 integrator 需要授权 — --grant applies to integrators only", field="grant")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    principal = Principal(
        id=f"p-{secrets.token_hex(6)}", name=name, role=role, level=level, region_code=region,
        grants=grants, token_hash=hash_token(token), created_at=utc_now(), created_by=created_by,
    )
    session.add(principal)
    session.flush()
    return NewPrincipal(principal, token)


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def list_principals(session: Session) -> list[Principal]:
    return list(session.scalars(select(Principal).order_by(Principal.created_at, Principal.id)))


def stale_grants(principal: Principal, rulebook: Rulebook) -> list[str]:
    """The principal's grants the rulebook no longer lets an integrator hold (they stopped working)."""
    if principal.role != "integrator":
        return []
    return [grant for grant in principal.grants or () if grant not in rulebook.integrator_grantable]


CHANGES_CHANNEL = "pipeline_principals"
"""PostgreSQL ``NOTIFY`` channel: a principal was revoked; API processes drop their cached tokens."""


REVOCATION_HOOKS: list[Callable[[], None]] = []
"""Called when a revocation made in this process commits: the token caches of this process forget at once,
without waiting for their ``NOTIFY`` (which reaches every other process)."""


def _revoked(_: Session) -> None:
    for hook in list(REVOCATION_HOOKS):
        hook()


def revoke_principal(session: Session, principal_id: str) -> Principal:
    principal = session.get(Principal, principal_id)
    if principal is None:
        raise NotFound(f"未找到主体 — no principal {principal_id!r}")
    if principal.revoked_at is None:
        principal.revoked_at = utc_now()
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text(f"NOTIFY {CHANGES_CHANNEL}"))  # delivered when this transaction commits
        event.listen(session, "after_commit", _revoked, once=True)
    return principal


def actor_of(principal: Principal) -> Actor:
    return Actor(
        id=principal.id,
        role=principal.role,
        level=principal.level,
        region_code=None if principal.role == "admin" else principal.region_code,
        grants=tuple(principal.grants or ()),
    )


def authenticate(session: Session, token: str) -> Actor | None:
    """The actor behind a bearer token, or ``None`` when it is unknown or revoked."""
    principal = session.scalars(select(Principal).where(Principal.token_hash == hash_token(token))).one_or_none()
    if principal is None or principal.revoked_at is not None:
        return None
    return actor_of(principal)
