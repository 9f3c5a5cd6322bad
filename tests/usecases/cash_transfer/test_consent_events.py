"""How a Consent webhook changes a candidate's consent status (a real, migrated database; no stack)."""

from __future__ import annotations

import pytest

from services.common.database import Database
from usecases.cash_transfer import service
from usecases.cash_transfer.app import HERE
from usecases.cash_transfer.models import Candidate
from usecases.cash_transfer.settings import CashTransferSettings


@pytest.fixture
def db(db_fields, tmp_path):
    settings = CashTransferSettings(**db_fields, data_dir=tmp_path / "usct")
    database = Database(*settings.resolved_database())
    database.migrate(HERE / "migrations")
    yield database
    database.dispose()


def _event(event: str, opt_in: bool, state: str) -> dict:
    return {"event": event, "data": {"consentRecordId": "rec-1", "optIn": opt_in, "state": state}}


@pytest.mark.parametrize(
    ("before", "event", "after"),
    [
        # Our own request: a record with optIn=false nobody has signed yet; Consent calls it consent.refused.
        ("requested", _event("consent.refused", False, "unsigned"), "requested"),
        # ... and when that webhook arrives late, after the candidate agreed, it changes nothing either.
        ("given", _event("consent.refused", False, "unsigned"), "given"),
        # An opt-out the individual signed is an explicit refusal.
        ("requested", _event("consent.refused", False, "signed"), "refused"),
        ("given", _event("consent.refused", False, "signed"), "withdrawn"),
        # Taking back a given consent is a withdrawal, signed or not.
        ("given", _event("consent.withdrawn", False, "unsigned"), "withdrawn"),
        # A given consent counts once signed: the live verification decides.
        ("requested", _event("consent.given", True, "unsigned"), "requested"),
    ],
)
def test_only_an_explicit_opt_out_or_withdrawal_changes_the_status(db, before, event, after):
    with db.session() as session:
        session.add(
            Candidate(
                uin="1234567890",
                name="A",
                email="a@example.org",
                phone="1",
                locality="X",
                consent_record_id="rec-1",
                consent_status=before,
            )
        )
    with db.session() as session:
        service.consent_event(session, event)
    with db.session() as session:
        assert session.query(Candidate).one().consent_status == after
