"""Settings of the Payments building block (env prefix `PAYMENTS_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings

DEFAULT_SEED_FILE = Path(__file__).with_name("seed.yaml")


class PaymentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore")

    service_name: str = "payments"
    port: int = 8002
    im_client: str | None = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS"
    # FSPs, programmes, merchants and voucher groups seeded on start (idempotent).
    seed_file: Path = DEFAULT_SEED_FILE
    # Background processing (G2P batches, callbacks) in this process.
    worker_enabled: bool = True
    worker_poll_seconds: float = 0.2
    settle_chunk_size: int = 10000
    # Callback delivery: attempts with exponential back-off (base * 2**attempt, capped).
    callback_max_attempts: int = 8
    callback_backoff_seconds: float = 1.0
    callback_backoff_cap_seconds: float = 300.0
    callback_timeout_seconds: float = 10.0
    voucher_validity_days: int = 90
    # P2G: mark-bill-paid is sent again when the biller has not acknowledged within this wait (doubled
    # per send, capped like callbacks), at most this many times.
    p2g_ack_wait_seconds: float = 30.0
    p2g_mark_max_sends: int = 8
    # The simulated payer bank's session cookies are signed with a key under the keys directory.
    bank_session_hours: float = 8.0
