"""Console accounts: a person who signs in with a name and a password and acts as one principal (its role and
region). Only an Argon2id hash of the password is kept."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.models.base import Base, UTCDateTime


class ConsoleUser(Base):
    __tablename__ = "console_users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    principal_id: Mapped[str] = mapped_column(String(40), ForeignKey("principals.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
