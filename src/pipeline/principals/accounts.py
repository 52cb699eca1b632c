"""Console accounts: people who sign in with a name and a password and act as a principal.

A user belongs to one principal and acts with its role and region; the events it records name the principal
as ``actor`` and the person as ``evidence.user``. Passwords are hashed with Argon2id (argon2-cffi's defaults,
RFC 9106's second recommended option); a hash made with older parameters is re-hashed at the next sign-in.
Five failed sign-ins in a row lock the account for :data:`LOCK_MINUTES` minutes; an unknown name and a wrong
password are refused with the same words, so the page does not tell which names exist.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.dates import utc_now
from pipeline.errors import AlreadyExists, InvalidInput, NotFound, PipelineError
from pipeline.models import ConsoleUser, Principal

MAX_FAILURES = 5
LOCK_MINUTES = 15
MIN_PASSWORD = 10

_hasher = PasswordHasher()


class SignInRefused(PipelineError):
    title = "Sign-in refused (登录失败)"


@dataclass(frozen=True)
class SignedIn:
    user: ConsoleUser
    principal: Principal


def add_user(session: Session, *, name: str, principal_id: str, password: str, created_by: str) -> ConsoleUser:
    name = name.strip()
    if not name:
        raise InvalidInput("用户名不能为空 — the name must not be empty", field="name")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"密码至少{MIN_PASSWORD}个字符 — the password needs at least {MIN_PASSWORD} characters",
                           field="password")
    principal = session.get(Principal, principal_id)
    if principal is None or principal.revoked_at is not None:
        raise NotFound(f"没有有效的主体{principal_id} — no active principal {principal_id!r}")
    if session.scalar(select(ConsoleUser.id).where(ConsoleUser.name == name)) is not None:
        raise AlreadyExists(f"用户名“{name}”已存在 — a user named {name!r} exists")
    user = ConsoleUser(id=f"u-{secrets.token_hex(6)}", name=name, principal_id=principal.id,
                       password_hash=_hasher.hash(password), failed_sign_ins=0, created_at=utc_now(),
                       created_by=created_by)
    session.add(user)
    session.flush()
    return user


def sign_in(session: Session, name: str, password: str) -> SignedIn:
    """The user and its principal if ``password`` is right and the account is neither locked nor disabled.

    A failure is counted on the account (the caller commits it even though it refuses the sign-in)."""
    now = utc_now()
    refused = "用户名或密码不正确"
    user = session.scalars(select(ConsoleUser).where(ConsoleUser.name == name.strip()).with_for_update()).first()
    if user is None:
        _hasher.hash(password)  # as long as a real check takes: the time does not tell which names exist
        raise SignInRefused(refused)
    if user.locked_until is not None and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        raise SignInRefused(f"连续{MAX_FAILURES}次登录失败，账户已锁定，请{minutes}分钟后再试")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_sign_ins += 1
        if user.failed_sign_ins >= MAX_FAILURES:
            user.failed_sign_ins = 0
            user.locked_until = now + dt.timedelta(minutes=LOCK_MINUTES)
            session.flush()
            raise SignInRefused(f"连续{MAX_FAILURES}次登录失败，账户已锁定{LOCK_MINUTES}分钟") from None
        session.flush()
        raise SignInRefused(refused) from None
    principal = session.get(Principal, user.principal_id)
    if user.disabled_at is not None or principal is None or principal.revoked_at is not None:
        raise SignInRefused("该账户已停用，请联系系统管理员")
    user.failed_sign_ins = 0
    user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    session.flush()
    return SignedIn(user, principal)


def list_users(session: Session) -> list[ConsoleUser]:
    return list(session.scalars(select(ConsoleUser).order_by(ConsoleUser.name)))
