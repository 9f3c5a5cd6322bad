"""The fixture records of GovStack's Identity compliance checks (the conformance profile), as real records.

`sandbox/conformance/identity.yaml` says what they are; `seed` creates them, or restores them when the checks
changed them (consumed transactions, bound wallet keys, a lockout): it is idempotent and is the reseed. Never
part of the default demo world. The CLI, run with the Identity service's own settings (environment
`IDENTITY_*`, e.g. `IDENTITY_DATA_DIR`, since the partner key and XSRF tokens are stored as keyed hashes with
that service's secret):

    python -m services.identity.conformance [--data-dir DIR] [--fixtures FILE]   # load or restore
    python -m services.identity.conformance --environment     # the profile's settings, IDENTITY_* lines
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete
from sqlalchemy.orm import Session

from services.common.clock import utcnow
from services.common.database import Database
from services.identity.clients import service as clients
from services.identity.clients.validation import create_errors, public_rsa_key
from services.identity.identities import service as identities
from services.identity.identities.models import Identity, Vid
from services.identity.linked.models import WalletBinding, WalletPartner
from services.identity.oidc.models import AuthTransaction
from services.identity.security import Secrets, check_pin, hash_pin
from services.identity.settings import IdentitySettings

FIXTURES = Path(__file__).resolve().parents[2] / "sandbox" / "conformance" / "identity.yaml"
MIGRATIONS = Path(__file__).with_name("migrations")
SOURCE = "conformance"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Partner(_Model):
    partner_id: str = Field(alias="partnerId", min_length=1, max_length=64)
    api_key: str = Field(alias="apiKey", min_length=1)


class Person(_Model):
    individual_id: str = Field(alias="individualId", pattern=f"^{identities.INDIVIDUAL_ID.pattern}$")
    attributes: dict[str, Any]
    pin: str | None = None
    password: str | None = None


class Completion(_Model):
    individual_id: str = Field(alias="individualId")
    acr: str


class TransactionDefaults(_Model):
    redirect_uri: str = Field(alias="redirectUri")
    scope: str
    acr_values: list[str] = Field(alias="acrValues")
    voluntary_claims: list[str] = Field(alias="voluntaryClaims", default_factory=list)
    xsrf_token: str = Field(alias="xsrfToken", min_length=1)
    lifetime_hours: float = Field(alias="lifetimeHours", gt=0)


class Transaction(_Model):
    transaction_id: str = Field(alias="transactionId", min_length=1, max_length=64)
    state: str | None = None
    nonce: str | None = None
    completed: Completion | None = None


class Fixtures(_Model):
    settings: dict[str, Any] = Field(default_factory=dict)
    wallet_partners: list[Partner] = Field(alias="walletPartners")
    client: dict[str, Any]
    identities: list[Person]
    transaction_defaults: TransactionDefaults = Field(alias="transactionDefaults")
    transactions: list[Transaction]


def read_fixtures(path: Path = FIXTURES) -> Fixtures:
    fixtures = Fixtures.model_validate(yaml.safe_load(path.read_text()))
    errors = create_errors(fixtures.client)
    if errors:
        raise ValueError(f"{path}: the fixture client is invalid: {errors}")
    people = {person.individual_id for person in fixtures.identities}
    strangers = {t.completed.individual_id for t in fixtures.transactions if t.completed} - people
    if strangers:
        raise ValueError(f"{path}: completed transactions name individuals that are not fixtures: {strangers}")
    return fixtures


def profile_settings(path: Path = FIXTURES) -> dict[str, Any]:
    """The IdentitySettings fields the conformance profile starts Identity with (e.g. a short link-code life)."""
    settings = read_fixtures(path).settings
    unknown = set(settings) - set(IdentitySettings.model_fields)
    if unknown:
        raise ValueError(f"{path}: unknown Identity settings {sorted(unknown)}")
    return settings


def profile_environment(path: Path = FIXTURES) -> dict[str, str]:
    """The same settings as environment variables of the Identity process."""
    return {f"IDENTITY_{name.upper()}": str(value) for name, value in profile_settings(path).items()}


# -- seeding (idempotent: every run restores the fixture state) ---------------------------------------------


def seed(session: Session, secrets_: Secrets, fixtures: Fixtures) -> dict[str, int]:
    for partner in fixtures.wallet_partners:
        _restore_partner(session, secrets_, partner)
    _restore_client(session, fixtures.client)
    people = {person.individual_id: _restore_identity(session, person) for person in fixtures.identities}
    for transaction in fixtures.transactions:
        _restore_transaction(session, secrets_, fixtures, transaction, people)
    return {
        "walletPartners": len(fixtures.wallet_partners),
        "clients": 1,
        "identities": len(people),
        "transactions": len(fixtures.transactions),
    }


def _restore_partner(session: Session, secrets_: Secrets, partner: Partner) -> None:
    record = session.get(WalletPartner, partner.partner_id)
    if record is None:
        record = WalletPartner(partner_id=partner.partner_id)
        session.add(record)
    record.api_key_hash = secrets_.keyed_hash("partner", partner.api_key)


def _restore_client(session: Session, request: dict[str, Any]) -> None:
    client = clients.get_client(session, request["clientId"])
    if client is None:
        clients.create_client(session, request)
        return
    clients.update_client(session, client, {**request, "status": "active", "encPublicKey": None})
    client.relying_party_id = request["relyingPartyId"]  # fixed after creation for any other caller
    client.public_key = public_rsa_key(request["publicKey"])


def _restore_identity(session: Session, person: Person) -> Identity:
    """The resident behind the fixture id (a VID): created once, then its factors, attributes, VID and lock
    state restored, and the wallet keys the checks bound to it removed."""
    vid = session.get(Vid, person.individual_id)
    if vid is None:
        identity, _ = identities.create_identity(
            session, person.attributes, source=SOURCE, vid=person.individual_id, pin=person.pin
        )
    else:
        identity = session.get(Identity, vid.identity_id)
        vid.revoked_at = None
        identities.update_identity(session, identity, person.attributes, source=SOURCE)
    identity.status = "active"
    identity.pin_hash = _same_or_new_hash(person.pin, identity.pin_hash)
    identity.password_hash = _same_or_new_hash(person.password, identity.password_hash)
    identity.auth_failures, identity.auth_lockouts, identity.locked_until = 0, 0, None
    identity.blocked_factors = {}
    session.execute(delete(WalletBinding).where(WalletBinding.identity_id == identity.id))
    session.flush()
    return identity


def _same_or_new_hash(secret: str | None, stored: str | None) -> str | None:
    if secret is None:
        return None
    return stored if check_pin(secret, stored) else hash_pin(secret)


def _restore_transaction(
    session: Session,
    secrets_: Secrets,
    fixtures: Fixtures,
    fixture: Transaction,
    people: dict[str, Identity],
) -> None:
    """A fresh pre-authorization transaction under the fixture id (the old one, consumed or not, is replaced)."""
    session.execute(delete(AuthTransaction).where(AuthTransaction.id == fixture.transaction_id))
    defaults = fixtures.transaction_defaults
    now = utcnow()
    transaction = AuthTransaction(
        id=fixture.transaction_id,
        client_id=fixtures.client["clientId"],
        redirect_uri=defaults.redirect_uri,
        scopes=defaults.scope.split(),
        essential_claims=[],
        voluntary_claims=list(defaults.voluntary_claims),
        acr_values=list(defaults.acr_values),
        state=fixture.state,
        nonce=fixture.nonce,
        code_challenge=None,  # no PKCE challenge: a code of a fixture login can never be exchanged
        xsrf_hash=secrets_.keyed_hash("xsrf", defaults.xsrf_token),
        created_at=now,
        expires_at=now + timedelta(hours=defaults.lifetime_hours),
        status="started",
        failed_attempts=0,
        accepted_claims=[],
        permitted_scopes=[],
        code_used=False,
        tokens_revoked=False,
    )
    if fixture.completed is not None:
        _complete(transaction, secrets_, people[fixture.completed.individual_id], fixture.completed.acr)
    session.add(transaction)
    session.flush()


def _complete(transaction: AuthTransaction, secrets_: Secrets, identity: Identity, acr: str) -> None:
    """Authenticated, consented, and its (unknown, already spent) authorization code handed out."""
    now = utcnow()
    transaction.status = "consented"
    transaction.identity_id = identity.id
    transaction.auth_time = now
    transaction.acr = acr
    transaction.permitted_scopes = list(transaction.scopes)
    transaction.code_hash = secrets_.keyed_hash("code", secrets.token_urlsafe(32))
    transaction.code_expires_at = now
    transaction.code_used = True


def reseed(settings: IdentitySettings, path: Path = FIXTURES) -> dict[str, int]:
    """Load or restore the fixtures in the database and with the secrets of the Identity service `settings`."""
    fixtures = read_fixtures(path)
    url, schema = settings.resolved_database()
    database = Database(url, schema)
    try:
        database.migrate(MIGRATIONS)
        with database.session() as session:
            return seed(session, Secrets(settings), fixtures)
    finally:
        database.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.identity.conformance",
        description="Load or restore the Identity conformance fixtures (other settings from IDENTITY_*).",
    )
    parser.add_argument("--data-dir", type=Path, help="the Identity service's data directory (IDENTITY_DATA_DIR)")
    parser.add_argument("--fixtures", type=Path, default=FIXTURES, help="the fixture file")
    parser.add_argument(
        "--environment", action="store_true", help="print the profile's IDENTITY_* settings instead of loading"
    )
    args = parser.parse_args(argv)
    if args.environment:
        for name, value in profile_environment(args.fixtures).items():
            sys.stdout.write(f"{name}={value}\n")
        return 0
    settings = IdentitySettings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    sys.stdout.write(json.dumps(reseed(settings, args.fixtures)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
