"""Applications, their parties, documents, clearances and history; bills (P2G biller side); notifications."""

from __future__ import annotations

import secrets
import string
from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime, declarative_base
from usecases.common.models import LoginStateColumns, UserSessionColumns
from usecases.common.roles import RoleAssignmentColumns

Base = declarative_base()


class Bill(Base):
    """A fee bill. Amounts are whole USD, as the P2G APIs carry integers."""

    __tablename__ = "cp_bill"
    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    reference: Mapped[str] = mapped_column(String(64))  # what the bill is for, e.g. an application id
    amount: Mapped[int] = mapped_column(Integer)
    amount_after_due: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default="UNPAID")  # UNPAID | PAID
    # the hub's payment reference; one payment per bill, a resent mark-bill-paid carries the same one
    payment_reference: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payer_fi: Mapped[str | None] = mapped_column(String(40), nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rtp_status: Mapped[str | None] = mapped_column(String(10), nullable=True)  # 00 accepted, 01 refused
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def new_public_id(prefix: str) -> str:
    """Random, not sequential (ids are shown and typed; they must not reveal how many there are)."""
    alphabet = string.ascii_uppercase.replace("O", "").replace("I", "") + "23456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(8))


class Application(Base):
    __tablename__ = "cp_application"
    __table_args__ = (UniqueConstraint("applicant_sub", "idempotency_key", name="uq_cp_application_retry"),)
    id: Mapped[str] = mapped_column(String(20), primary_key=True, default=lambda: new_public_id("APP-"))
    state: Mapped[str] = mapped_column(String(30), default="draft", index=True)
    applicant_sub: Mapped[str] = mapped_column(String(200), index=True)
    applicant_name: Mapped[str] = mapped_column(String(200))
    parcel_id: Mapped[str] = mapped_column(String(40))
    building_type: Mapped[str] = mapped_column(String(40))
    floor_area_m2: Mapped[float] = mapped_column(Float)
    description: Mapped[str] = mapped_column(String(1000), default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(64), nullable=True)  # a retried start finds it
    # the owner's consent (Consent BB) when the owner is not the applicant
    consent_record_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    consent_status: Mapped[str] = mapped_column(String(16), default="none")  # none|not_needed|requested|given|refused
    visit_slots: Mapped[list] = mapped_column(JSON, default=list)  # ISO datetimes the officer proposed
    visit_at: Mapped[str | None] = mapped_column(String(40), nullable=True)
    visit_report: Mapped[str | None] = mapped_column(Text, nullable=True)
    documents_requested: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    decision_note: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    fee: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bill_id: Mapped[str | None] = mapped_column(String(20), nullable=True, unique=True)
    rtp_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    permit_number: Mapped[str | None] = mapped_column(String(20), nullable=True, unique=True)
    permit_seal: Mapped[str | None] = mapped_column(Text, nullable=True)
    permit_code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Party(Base):
    """Owner, lead architect or contractor, named by VID and checked with the Identity verification API."""

    __tablename__ = "cp_party"
    __table_args__ = (UniqueConstraint("application_id", "role", name="uq_cp_party_role"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("cp_application.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))  # owner | architect | contractor
    vid: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # the logged-in person proven to be this party (Identity: `subject_matches` on the VID for their login)
    sub: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)


class Document(Base):
    __tablename__ = "cp_document"
    __table_args__ = (UniqueConstraint("application_id", "kind", "sha256", name="uq_cp_document_content"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("cp_application.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Clearance(Base):
    __tablename__ = "cp_clearance"
    __table_args__ = (UniqueConstraint("application_id", "authority", name="uq_cp_clearance"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("cp_application.id"), index=True)
    authority: Mapped[str] = mapped_column(String(30))  # civil_protection | utilities
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | granted | refused
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    note: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class HistoryEntry(Base):
    """Every action on an application, with the IM message id its building-block calls shared."""

    __tablename__ = "cp_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("cp_application.id"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    from_state: Mapped[str] = mapped_column(String(30))
    to_state: Mapped[str] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # who is told about it ("sub:<sub>", "role:<role>", "vid:<vid>") and what they are told
    audiences: Mapped[list] = mapped_column(JSON, default=list)
    summary: Mapped[str] = mapped_column(String(500), default="")
    # the notification event published to the IM room for this entry (None until the IM took it)
    event_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(Base):
    """An event delivered back to us by the IM room (PUSH), addressed to a person or a role."""

    __tablename__ = "cp_notification"
    __table_args__ = (UniqueConstraint("event_id", "audience", name="uq_cp_notification"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64))
    audience: Mapped[str] = mapped_column(String(220), index=True)  # "sub:<sub>" or "role:<role>"
    application_id: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginState(LoginStateColumns, Base):
    __tablename__ = "cp_login_state"


class UserSession(UserSessionColumns, Base):
    __tablename__ = "cp_session"


class RoleAssignment(RoleAssignmentColumns, Base):
    """Officers, the mayor and administrators (usecases/common/roles.py)."""

    __tablename__ = "cp_role_assignment"
