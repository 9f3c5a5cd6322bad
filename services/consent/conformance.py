"""The fixture records of GovStack's Consent compliance checks (the conformance profile), as real records.

`sandbox/conformance/consent.yaml` says what they are: policy `1` and data agreement `1`, owned and controlled
by a conformance member. `seed` creates them, or restores them when the checks changed or deleted them: a
restoration is one more revision through the service's own update (the agreement's signed with the
organisation key), so every revision chain stays whole (`sandbox consent audit`); when they are as the file
says, nothing is written. Idempotent: it is the reseed. Never part of the default demo world. Run with the
Consent service's own settings (environment `CONSENT_*`: its database and its organisation key):

    python -m services.consent.conformance [--data-dir DIR] [--fixtures FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from services.common.database import Database
from services.consent.agreements import service as agreements
from services.consent.agreements.models import DataAgreement
from services.consent.agreements.schemas import MEMBER_ID, DataAgreementIn
from services.consent.policies import service as policies
from services.consent.policies.models import Policy
from services.consent.policies.schemas import PolicyIn
from services.consent.revisions import service as revisions
from services.consent.settings import ConsentSettings
from services.consent.signatures.service import Signer

FIXTURES = Path(__file__).resolve().parents[2] / "sandbox" / "conformance" / "consent.yaml"
MIGRATIONS = Path(__file__).with_name("migrations")
BY = "conformance"  # authorizedByOther of the revisions the fixtures write


class Fixtures(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    member: str = Field(pattern=MEMBER_ID.pattern, max_length=64)
    policy_id: str = Field(alias="policyId", min_length=1, max_length=64)
    policy: PolicyIn
    agreement_id: str = Field(alias="dataAgreementId", min_length=1, max_length=64)
    agreement: DataAgreementIn = Field(alias="dataAgreement")


def read_fixtures(path: Path = FIXTURES) -> Fixtures:
    fixtures = Fixtures.model_validate(yaml.safe_load(path.read_text()))
    if fixtures.agreement.controller is None:
        raise ValueError(f"{path}: the data agreement needs a controller (its id is the fixture member)")
    unnamed = [a.name for a in fixtures.agreement.dataAttributes if not a.id]
    if unnamed:
        raise ValueError(f"{path}: give every data attribute an id (else each reseed writes new ones): {unnamed}")
    return fixtures


def seed(session: Session, signer: Signer, fixtures: Fixtures) -> dict[str, str]:
    """Creates or restores both records; says of each whether it was `created`, `restored` or `unchanged`."""
    return {
        "policy": restore_policy(session, fixtures),
        "dataAgreement": restore_agreement(session, signer, fixtures),
    }


def restore_policy(session: Session, fixtures: Fixtures) -> str:
    policy = session.get(Policy, fixtures.policy_id)
    if policy is None:
        policies.create(session, fixtures.policy, BY, policy_id=fixtures.policy_id, owner=fixtures.member)
        return "created"

    def restore() -> None:
        policy.deleted, policy.owner = False, fixtures.member
        policies.update(session, fixtures.policy_id, fixtures.policy, BY)

    return _revise_if_changed(session, lambda: (policies.serialize(policy), policy.owner), restore)


def restore_agreement(session: Session, signer: Signer, fixtures: Fixtures) -> str:
    """The agreement as the file says, controlled by the fixture member, pointing at the policy's current
    revision."""
    policy_revision = revisions.head(session, revisions.POLICY, fixtures.policy_id)
    controller = fixtures.agreement.controller.model_copy(update={"id": fixtures.member})
    wanted = fixtures.agreement.model_copy(
        update={"controller": controller, "policy": fixtures.policy_id, "policyRevision": policy_revision.id}
    )
    agreement = session.get(DataAgreement, fixtures.agreement_id)
    if agreement is None:
        agreements.create(session, signer, wanted, BY, agreement_id=fixtures.agreement_id)
        return "created"

    def restore() -> None:
        agreement.deleted = False
        agreements.update(session, signer, fixtures.agreement_id, wanted, BY)

    return _revise_if_changed(session, lambda: (agreements.serialize(agreement), agreement.controller_id), restore)


def _revise_if_changed(session: Session, state: Callable[[], Any], restore: Callable[[], None]) -> str:
    """Runs `restore` (which writes a revision) in a savepoint, kept only if it changed the record's state."""
    before = state()
    savepoint = session.begin_nested()
    try:
        restore()
        if state() == before:
            savepoint.rollback()
            return "unchanged"
        savepoint.commit()
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise
    return "restored"


def reseed(settings: ConsentSettings, path: Path = FIXTURES) -> dict[str, str]:
    """Load or restore the fixtures in the database and with the organisation key of the Consent `settings`."""
    fixtures = read_fixtures(path)
    database = Database(*settings.resolved_database())
    try:
        database.migrate(MIGRATIONS)
        with database.session() as session:
            return seed(session, Signer(settings.keys_dir), fixtures)
    finally:
        database.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.consent.conformance",
        description="Load or restore the Consent conformance fixtures (other settings from CONSENT_*).",
    )
    parser.add_argument("--data-dir", type=Path, help="the Consent service's data directory (CONSENT_DATA_DIR)")
    parser.add_argument("--fixtures", type=Path, default=FIXTURES, help="the fixture file")
    args = parser.parse_args(argv)
    settings = ConsentSettings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    sys.stdout.write(json.dumps(reseed(settings, args.fixtures)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
