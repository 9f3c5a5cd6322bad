"""Settings of the Identity building block (env prefix `IDENTITY_`)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.common import demo_world
from services.common.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    service_name: str = "identity"
    port: int = 8001

    admin_token: str | None = None  # else generated under <data_dir>/secrets/identity-admin-token
    sandbox_otp: str = demo_world.sandbox_otp()  # accepted as the delivered OTP (sandbox mode)
    sandbox_mode: bool = True
    demo_pin: str = "1234"  # PIN seeded for every demo resident

    otp_ttl_seconds: int = 180
    otp_max_attempts: int = 3
    otp_resend_seconds: int = 30  # a new OTP for the same login and resident no sooner than this
    provider_name: str = "National Identity Authority"  # shown on the login pages
    transaction_ttl_seconds: int = 600
    auth_code_ttl_seconds: int = 60
    access_token_ttl_seconds: int = 600
    id_token_ttl_seconds: int = 600
    assertion_max_age_seconds: int = 600
    # Threads exchanging codes at /oauth/token, per worker process. The exchange is CPU work (RSA) around a
    # short write: on SQLite writes queue anyway and more threads only fight over the GIL (measured: 1 thread
    # 515 req/s, 4 threads 370); PostgreSQL commits wait on the server, so a few threads overlap them.
    token_threads: int | None = None  # None: 1 on SQLite, 4 otherwise
    link_code_ttl_seconds: int = 120
    long_poll_seconds: float = 10.0
    wallet_binding_days: int = 365

    # Single sign-on (oidc/sso.py): a provider session ends after this long without use, or this long after login.
    session_idle_seconds: int = 1800
    session_max_seconds: int = 8 * 3600
    backchannel_logout_timeout_seconds: float = 3.0  # per relying party told of a logout
    credential_days: int = 365  # lifetime of a shared credential (SD-JWT VC)

    signing_key_days: int = 90  # a signing key signs for this long, then stays published until tokens expire

    # Failed factors (PIN, OTP, wallet) counted per identity across logins: this many in a row lock it for
    # lockout_base_seconds, a period that doubles with each further lockout up to lockout_max_seconds.
    lockout_threshold: int = 5
    lockout_base_seconds: int = 300
    lockout_max_seconds: int = 86400
    # Sliding windows per client id, in memory per process: authentication attempts (send-otp, authenticate,
    # wallet binding) per OIDC client or wallet partner, and verification calls per relying party.
    rate_window_seconds: float = 60.0
    auth_rate_limit: int = 600
    verification_rate_limit: int = 600
    # Distinct yes/no questions one relying party may ask about one person in 24 hours.
    verification_quota: int = 20
