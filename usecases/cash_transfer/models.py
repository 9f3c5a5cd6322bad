"""The programme registry: candidates, benefit packages, enrollments, payment orders, sessions, callbacks."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime, declarative_base
from usecases.common.models import LoginStateColumns, UserSessionColumns
from usecases.common.roles import RoleAssignmentColumns

Base = declarative_base()


def new_id() -> str:
    return str(uuid.uuid4())


class Candidate(Base):
    __tablename__ = "usct_candidate"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    uin: Mapped[str] = mapped_column(String(20), unique=True)  # links to the Identity resident; never shown
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200), index=True)  # contact only: never links or grants anything
    # the beneficiary's pairwise subject at our OIDC client, once Identity confirmed it is this UIN's person
    sub: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)
    phone: Mapped[str] = mapped_column(String(40))
    locality: Mapped[str] = mapped_column(String(100))
    consent_record_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # none | requested | given | refused | withdrawn (our view; Consent's verification is the truth)
    consent_status: Mapped[str] = mapped_column(String(16), default="none")
    consent_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Package(Base):
    __tablename__ = "usct_package"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(500), default="")
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # cents: money stays exact on SQLite too
    currency: Mapped[str] = mapped_column(String(3))


class Enrollment(Base):
    __tablename__ = "usct_enrollment"
    __table_args__ = (UniqueConstraint("candidate_id", name="uq_usct_enrollment_candidate"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    candidate_id: Mapped[str] = mapped_column(ForeignKey("usct_candidate.id"))
    package_id: Mapped[str] = mapped_column(ForeignKey("usct_package.id"))
    functional_id: Mapped[str] = mapped_column(String(20))
    mapper_request_id: Mapped[str] = mapped_column(String(12), unique=True)
    # pending | onboarded | failed (from the account mapper's callback)
    onboarding_status: Mapped[str] = mapped_column(String(16), default="pending")
    onboarding_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    enrolled_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaymentOrder(Base):
    __tablename__ = "usct_payment_order"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    enrollment_id: Mapped[str] = mapped_column(ForeignKey("usct_enrollment.id"), index=True)
    batch_id: Mapped[str] = mapped_column(String(12), index=True)  # our BatchID
    request_id: Mapped[str] = mapped_column(String(12), index=True)  # our RequestID / X-CorrelationID
    instruction_id: Mapped[str] = mapped_column(String(16), unique=True)
    payments_batch_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # ordered | accepted | paid | failed
    status: Mapped[str] = mapped_column(String(16), default="ordered")
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    ordered_by: Mapped[str] = mapped_column(String(200))
    client_request_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginState(LoginStateColumns, Base):
    __tablename__ = "usct_login_state"


class UserSession(UserSessionColumns, Base):
    __tablename__ = "usct_session"
    candidate_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class RoleAssignment(RoleAssignmentColumns, Base):
    """Officers and administrators (usecases/common/roles.py)."""

    __tablename__ = "usct_role_assignment"


class CallbackReceived(Base):
    __tablename__ = "usct_callback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str | None] = mapped_column(String(64), nullable=True)
    caller: Mapped[str | None] = mapped_column(String(200), nullable=True)
    body: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Action(Base):
    """One user action and the IM message id its building-block calls shared (the behind-the-scenes panel)."""

    __tablename__ = "usct_action"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
