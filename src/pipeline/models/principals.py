"""Principals (API callers), their console sessions and stored idempotent responses."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.models.base import Base, BigId, JsonDoc, UTCDateTime


class Principal(Base):
    """Someone or some system that calls the API. Only a hash of its bearer token is kept."""

    __tablename__ = "principals"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    level: Mapped[str | None] = mapped_column(String(16))
    region_code: Mapped[str | None] = mapped_column(String(6))
    grants: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class IdempotencyRecord(Base):
    """The stored outcome of a write, so a retried request returns it instead of writing twice."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("principal_id", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    principal_id: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    response_headers: Mapped[dict[str, str]] = mapped_column(JsonDoc)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class ConsoleSessionRecord(Base):
    """A signed-in console session, server-side: signing out ends it for every copy of its cookie.

    ``id`` is the SHA-256 of the random session id the cookie carries, so a copy of this table cannot be
    turned back into cookies.
    """

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    user_id: Mapped[str | None] = mapped_column(String(40))
    """The account (:class:`pipeline.models.ConsoleUser`) that signed in; ``None`` for a token sign-in."""
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """The last request: the session ends after ``PIPELINE_SESSION_IDLE_MINUTES`` without one."""
