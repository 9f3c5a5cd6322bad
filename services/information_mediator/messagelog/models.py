from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.database import UTCDateTime

from ..base import Base


class LogRecord(Base):
    """One exchange across the IM. `record_hash` chains it to its predecessor; the last record of each
    stored batch carries the IM's `signature` over its hash, sealing the chain up to it."""

    __tablename__ = "im_message_log"
    __table_args__ = (
        UniqueConstraint("chain", "seq"),
        Index("ix_im_message_log_request_at", "request_at"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chain: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str] = mapped_column(String(128), index=True)
    # The id the client offered (X-Road-Id), kept next to the IM's own message id; NULL in older records.
    correlation_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(16), default="rest")
    client: Mapped[str] = mapped_column(String(512), index=True)
    service: Mapped[str] = mapped_column(String(640), index=True)
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(2048))
    status: Mapped[int] = mapped_column(Integer)
    error_type: Mapped[str | None] = mapped_column(String(128), nullable=True)
    request_at: Mapped[datetime] = mapped_column(UTCDateTime())
    response_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_ms: Mapped[float] = mapped_column(Float)
    request_size: Mapped[int] = mapped_column(BigInteger)
    response_size: Mapped[int] = mapped_column(BigInteger)
    request_hash: Mapped[str] = mapped_column(String(64))
    response_hash: Mapped[str] = mapped_column(String(64))
    request_body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    record_hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(256))


class ChainHead(Base):
    """The signed last record of each chain, so that deleting records at the tail is detected too."""

    __tablename__ = "im_chain_head"
    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    record_hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(256))
