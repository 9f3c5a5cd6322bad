"""The registry: instance, members, applications, services and access rights (X-Road's global conf)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.common.database import UTCDateTime

from ..base import Base


class Instance(Base):
    __tablename__ = "im_instance"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    domain: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer, default=0)  # bumped on every change; replicas reload on it


class Member(Base):
    __tablename__ = "im_member"
    __table_args__ = (UniqueConstraint("member_class", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_class: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(255))
    applications: Mapped[list[Application]] = relationship(
        back_populates="member", cascade="all, delete-orphan", order_by="Application.code"
    )


class Application(Base):
    __tablename__ = "im_application"
    __table_args__ = (UniqueConstraint("member_id", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("im_member.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(128))
    connection: Mapped[str] = mapped_column(String(16), default="http")
    secret_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    member: Mapped[Member] = relationship(back_populates="applications")
    services: Mapped[list[Service]] = relationship(
        back_populates="application", cascade="all, delete-orphan", order_by="Service.code"
    )


class Service(Base):
    __tablename__ = "im_service"
    __table_args__ = (UniqueConstraint("application_id", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("im_application.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(128))
    service_url: Mapped[str] = mapped_column(String(1024))
    spec_url: Mapped[str] = mapped_column(String(1024))
    description: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    openapi_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    openapi_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    application: Mapped[Application] = relationship(back_populates="services")
    rights: Mapped[list[AccessRight]] = relationship(
        back_populates="service",
        cascade="all, delete-orphan",
        order_by="(AccessRight.client_class, AccessRight.client_code, AccessRight.client_application)",
    )


class AccessRight(Base):
    __tablename__ = "im_access_right"
    __table_args__ = (UniqueConstraint("service_id", "client_class", "client_code", "client_application"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("im_service.id", ondelete="CASCADE"))
    client_class: Mapped[str] = mapped_column(String(64))
    client_code: Mapped[str] = mapped_column(String(128))
    client_application: Mapped[str] = mapped_column(String(128))
    # The operations ([{"method", "path"}], see registry/endpoints.py) the right is limited to; NULL: every one.
    endpoints: Mapped[list[dict[str, str]] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    service: Mapped[Service] = relationship(back_populates="rights")


class FederatedInstance(Base):
    """An instance this one federates with (X-Road federation): its members, applications and services as
    declared in the configuration (`conf.FederatedInstanceConf.declaration()`), for the directory. Its
    services are reached through that instance's own IM, never through a service URL of ours."""

    __tablename__ = "im_federated_instance"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(128), unique=True)
    declaration: Mapped[dict] = mapped_column(JSON)
