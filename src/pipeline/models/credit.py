"""Loans that banks record (专精特新贷) — the current view of each; every change is also sealed in the bank's
own record chain (``chain_records``, chain ``"loans"``, key = the bank's principal id)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.models.base import Base, BigId, JsonDoc, UTCDateTime


class Loan(Base):
    """One loan contract of one bank to one firm, with the ceiling that applied on the day it was signed."""

    __tablename__ = "loans"
    __table_args__ = (UniqueConstraint("bank_id", "contract_no"), Index("ix_loans_uscc", "uscc"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bank_id: Mapped[str] = mapped_column(String(40))
    """The recording principal (the bank's integration client)."""
    bank: Mapped[str] = mapped_column(String(200))
    """The bank's display name, as it sent it."""
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="RESTRICT"))
    uscc: Mapped[str] = mapped_column(String(18))
    region_code: Mapped[str] = mapped_column(String(6))
    product: Mapped[str] = mapped_column(String(200))
    contract_no: Mapped[str] = mapped_column(String(100))
    amount_yuan: Mapped[int] = mapped_column(BigInteger)
    signed_on: Mapped[dt.date] = mapped_column(Date)
    matures_on: Mapped[dt.date] = mapped_column(Date)
    secured: Mapped[bool] = mapped_column(Boolean)
    ceiling_yuan: Mapped[int | None] = mapped_column(BigInteger)
    """The unsecured ceiling on ``signed_on`` (``None``: no pack in force offered one)."""
    headroom_yuan: Mapped[int | None] = mapped_column(BigInteger)
    """The ceiling less the firm's other unsecured loans outstanding on ``signed_on``."""
    over_ceiling: Mapped[bool] = mapped_column(Boolean)
    ceiling_checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ceiling_basis: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    """``{basis, policies, highest_title}`` of the credit answer the ceiling came from."""
    repayments: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc, default=list)
    """``[{repaid_on, amount_yuan, recorded_at}]`` in the order recorded."""
    repaid_yuan: Mapped[int] = mapped_column(BigInteger, default=0)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
