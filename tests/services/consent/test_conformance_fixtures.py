"""The conformance fixtures (sandbox/conformance/consent.yaml): policy `1` and data agreement `1`, loaded
idempotently, read back through the API as GovStack's checks call it (directly, no IM caller, in the profile),
changed or deleted by the checks and restored by a reseed, every revision chain whole afterwards."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from services.consent import conformance
from services.consent.app import create_app
from services.consent.audit import service as audit
from services.consent.revisions.models import Revision
from tests.support import TEST_DATABASE_URL

MEMBER = "SANDBOX/GOV/CONFORMANCE"


@pytest.fixture
def direct(settings):
    """Consent as the conformance profile runs it: spec paths served to direct calls."""
    app = create_app(settings.model_copy(update={"require_im_assertion": False}))
    with TestClient(app) as client:
        yield client


def load(client: TestClient) -> dict[str, str]:
    app = client.app
    with app.state.db.session() as session:
        return conformance.seed(session, app.state.signer, conformance.read_fixtures())


def revision_count(client: TestClient) -> int:
    with client.app.state.db.session() as session:
        return session.scalar(select(func.count()).select_from(Revision))


def assert_chains_whole(client: TestClient) -> None:
    with client.app.state.db.session() as session:
        report = audit.verify_all(session)
    assert report["ok"], report["breaks"]


def assert_fixture_state(client: TestClient) -> None:
    policy = client.get("/config/policy/1/")
    assert policy.status_code == 200, policy.text
    assert policy.json()["policy"]["name"] == "GovStack conformance checks data policy"
    assert policy.json()["policy"]["owner"] == MEMBER
    agreement = client.get("/config/data-agreement/1/")
    assert agreement.status_code == 200, agreement.text
    body = agreement.json()["dataAgreement"]
    assert body["controller"]["id"] == MEMBER and body["policy"]["id"] == "1" and body["active"] is True
    assert body["version"] == "1.0.0" and [a["name"] for a in body["dataAttributes"]] == ["name", "email"]
    assert client.get("/service/data-agreement/1/").status_code == 200


def test_the_default_demo_world_has_no_fixtures(direct):
    assert direct.get("/config/policy/1/").status_code == 400
    assert direct.get("/config/data-agreement/1/").status_code == 400


def test_each_fixture_reads_back_and_a_second_load_writes_nothing(direct):
    assert load(direct) == {"policy": "created", "dataAgreement": "created"}
    written = revision_count(direct)
    assert load(direct) == {"policy": "unchanged", "dataAgreement": "unchanged"}
    assert revision_count(direct) == written
    assert_fixture_state(direct)
    assert_chains_whole(direct)


def test_a_reseed_restores_what_the_checks_changed_or_deleted(direct):
    load(direct)
    policy = direct.get("/config/policy/1/").json()["policy"]
    changed = {k: v for k, v in policy.items() if k not in ("id", "owner")} | {"name": "Changed by a check"}
    assert direct.put("/config/policy/1/", json={"policy": changed}).status_code == 200
    assert direct.delete("/config/data-agreement/1/").status_code == 200
    assert direct.get("/config/data-agreement/1/").status_code == 400

    assert load(direct) == {"policy": "restored", "dataAgreement": "restored"}

    assert_fixture_state(direct)
    agreement = direct.get("/config/data-agreement/1/").json()
    current_policy = direct.get("/config/policy/1/").json()["revision"]["id"]
    assert agreement["dataAgreement"]["policyRevision"] == current_policy  # the restored policy, not the changed one
    assert_chains_whole(direct)  # restored by new revisions, history kept
    assert load(direct) == {"policy": "unchanged", "dataAgreement": "unchanged"}


def test_a_fixture_file_without_attribute_ids_is_refused(tmp_path):
    text = conformance.FIXTURES.read_text().replace("id: attr-conformance-email, ", "")
    (tmp_path / "consent.yaml").write_text(text)
    with pytest.raises(ValueError, match="give every data attribute an id"):
        conformance.read_fixtures(tmp_path / "consent.yaml")


@pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="the command line reads the service's own settings (SQLite here)")
def test_the_command_line_loads_the_fixtures_in_a_data_directory(tmp_path, monkeypatch, capsys):
    for name in ("CONSENT_DATABASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert conformance.main(["--data-dir", str(tmp_path)]) == 0
    assert conformance.main(["--data-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        '{"policy": "created", "dataAgreement": "created"}',
        '{"policy": "unchanged", "dataAgreement": "unchanged"}',
    ]
