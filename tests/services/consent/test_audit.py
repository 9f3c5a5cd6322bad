from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import create_engine, text

from services.consent.cli import cli
from tests.services.consent.conftest import HEADER, USCT, assert_400

POLICY = {"name": "P", "version": "1", "url": "https://example.org/p"}


def _engine(settings):
    url, schema = settings.resolved_database()
    args = {"options": f"-csearch_path={schema}"} if schema else {}
    return create_engine(url, connect_args=args)


def _run_cli(settings):
    env = {"CONSENT_DATABASE_URL": settings.database_url, "CONSENT_DATA_DIR": str(settings.data_dir)}
    if settings.database_schema:
        env["CONSENT_DATABASE_SCHEMA"] = settings.database_schema
    return CliRunner().invoke(cli, ["audit", "--json"], env=env)


def test_long_sequence_keeps_every_chain_intact(client, individual, settings):
    policy_id = client.post("/config/policy/", json={"policy": POLICY}).json()["policy"]["id"]
    for version in range(2, 22):
        client.put(f"/config/policy/{policy_id}/", json={"policy": {**POLICY, "version": str(version)}})
    record = client.post(
        f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": individual}
    ).json()["consentRecord"]
    for i in range(20):
        client.put(
            f"/service/individual/record/consent-record/{record['id']}/",
            headers={HEADER: individual},
            json={"consentRecord": {"optIn": i % 2 == 1}},
        )
    history = client.get(f"/config/policy/{policy_id}/revisions/", params={"limit": 100}).json()["revisions"]
    assert len(history) == 21
    for previous, current in zip(history, history[1:]):
        assert current["predecessorHash"] == previous["serializedHash"] and previous["successor"] == current["id"]
    audited = client.get(f"/audit/consent-record/{record['id']}/").json()
    assert len(audited["revisions"]) == 21 and audited["integrity"]["ok"] is True
    report = client.get("/audit/integrity/").json()
    assert report["ok"] is True and report["breaks"] == []
    assert report["revisionsChecked"] >= 21 + 21 + 4
    result = _run_cli(settings)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ok"] is True


def test_audit_reports_a_tampered_snapshot_and_other_breaks(client, individual, settings):
    policy_id = client.post("/config/policy/", json={"policy": POLICY}).json()["policy"]["id"]
    for version in ("2", "3"):
        client.put(f"/config/policy/{policy_id}/", json={"policy": {**POLICY, "version": version}})
    record = client.post(
        f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": individual}
    ).json()["consentRecord"]
    history = client.get(f"/config/policy/{policy_id}/revisions/").json()["revisions"]
    engine = _engine(settings)
    with engine.begin() as conn:
        # rewrite what version 2 said, and even recompute its hash: the chain still breaks at the next link
        tampered = history[1]["serializedSnapshot"].replace('"version":"2"', '"version":"9"')
        import hashlib

        conn.execute(
            text("UPDATE consent_revision SET serialized_snapshot=:s, serialized_hash=:h WHERE id=:i"),
            {"s": tampered, "h": hashlib.sha256(tampered.encode()).hexdigest(), "i": history[1]["id"]},
        )
        # flip a consent record outside the API
        conn.execute(text("UPDATE consent_record SET opt_in=:f WHERE id=:i"), {"f": False, "i": record["id"]})
        # alter the seeded agreement's snapshot without fixing the hash
        conn.execute(
            text(
                "UPDATE consent_revision SET serialized_snapshot=replace(serialized_snapshot, 'USCT', 'XXXX') "
                "WHERE object_id=:i"
            ),
            {"i": USCT},
        )
    engine.dispose()

    report = client.get("/audit/integrity/").json()
    assert report["ok"] is False
    breaks = {(b["schemaName"], b["objectId"]): b for b in report["breaks"]}
    assert breaks[("Policy", policy_id)]["seq"] == 3 and "predecessorHash" in breaks[("Policy", policy_id)]["problem"]
    assert "differs from its newest revision" in breaks[("ConsentRecord", record["id"])]["problem"]
    assert "serializedHash" in breaks[("DataAgreement", USCT)]["problem"]
    assert len(report["breaks"]) == 3  # first break per object only
    assert client.get(f"/audit/consent-record/{record['id']}/").json()["integrity"]["ok"] is False

    result = _run_cli(settings)
    assert result.exit_code == 1
    assert json.loads(result.output)["ok"] is False


def test_audit_reads_and_verification_log(client, individual):
    record = client.post(
        f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": individual}
    ).json()["consentRecord"]
    listed = client.get("/audit/consent-records/").json()["consentRecords"]
    assert record["id"] in [r["id"] for r in listed]
    assert client.get(f"/audit/consent-record/{record['id']}/").json()["consentRecord"] == record
    assert_400(client.get("/audit/consent-record/nope/"))
    assert_400(client.get("/audit/consent-records/", params={"limit": "many"}))
    client.get("/service/verification/consent-records/", params={"dataAgreementId": USCT, "individualId": individual})
    client.get(f"/service/verification/consent-record/{record['id']}/")
    log = client.get("/audit/verifications/", params={"individualId": individual}).json()["verifications"]
    assert len(log) == 2 and all(e["consent"] is True and e["consentRecordId"] == record["id"] for e in log)
    assert log[0]["caller"] == "SANDBOX/GOV/TEST-MEMBER/TESTER"


def test_audit_reports_a_forged_stored_signature(client, individual, holder, settings):
    draft = client.post(
        "/service/individual/record/consent-record/draft/", params={"individualId": individual, "dataAgreementId": USCT}
    ).json()
    stored = client.post(
        "/service/individual/record/consent-record/",
        json={
            "consentRecord": draft["consentRecord"],
            "signature": {
                **draft["signature"],
                "signature": holder.sign(draft["signature"]["verificationPayload"]),
                "verificationSignedBy": holder.public_jwk,
            },
        },
    ).json()
    assert client.get("/audit/integrity/").json()["ok"] is True
    other = type(holder)()
    engine = _engine(settings)
    with engine.begin() as conn:  # swap in another key's signature over the same snapshot
        conn.execute(
            text("UPDATE consent_signature SET signature=:s WHERE id=:i"),
            {"s": other.sign(draft["signature"]["verificationPayload"]), "i": stored["signature"]["id"]},
        )
    engine.dispose()
    report = client.get("/audit/integrity/").json()
    assert report["ok"] is False
    assert [b["objectId"] for b in report["breaks"]] == [stored["consentRecord"]["id"]]
    assert "does not verify" in report["breaks"][0]["problem"]


def test_revision_histories_can_be_filtered_and_sorted(client, individual):
    before = client.get("/audit/revisions/", params={"order": "desc", "limit": 1}).json()["revisions"][0]["timestamp"]
    policy_id = client.post("/config/policy/", json={"policy": POLICY}).json()["policy"]["id"]
    client.put(f"/config/policy/{policy_id}/", json={"policy": {**POLICY, "version": "2"}})
    client.post(f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": individual})
    mine = client.get("/audit/revisions/", params={"schemaName": "Policy", "objectId": policy_id}).json()["revisions"]
    assert [json.loads(r["serializedSnapshot"])["objectData"]["version"] for r in mine] == ["1", "2"]
    newest = client.get("/audit/revisions/", params={"order": "desc", "since": before.replace("Z", "+00:00")}).json()
    assert [r["schemaName"] for r in newest["revisions"]][:3] == ["ConsentRecord", "Policy", "Policy"]
    by_individual = client.get("/audit/revisions/", params={"authorizedBy": individual}).json()["revisions"]
    assert [r["schemaName"] for r in by_individual] == ["ConsentRecord"]
    assert_400(client.get("/audit/revisions/", params={"schemaName": "Webhook"}))
    assert_400(client.get("/audit/revisions/", params={"since": "yesterday"}))
