"""Simulated financial service providers (banks, mobile money operators) and their customer accounts."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base


class FSP(Base):
    __tablename__ = "fsps"

    code: Mapped[str] = mapped_column(String(11), primary_key=True)  # BIC-like institution code
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))  # bank | mobile_money | wallet
    # Addresses matching this pattern are open accounts unless listed otherwise (e.g. a numbering plan).
    account_pattern: Mapped[str | None] = mapped_column(String(200), nullable=True)


class FSPAccount(Base):
    __tablename__ = "fsp_accounts"
    __table_args__ = (UniqueConstraint("fsp_code", "financial_address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fsp_code: Mapped[str] = mapped_column(ForeignKey("fsps.code"))
    financial_address: Mapped[str] = mapped_column(String(30))
    holder: Mapped[str | None] = mapped_column(String(120), nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | closed
