"""Right to be forgotten leaves a chained tombstone per deleted record: the audit shows the forgetting
(without personal data) and still verifies; removing a tombstone breaks the integrity audit."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, text

from tests.services.consent.conftest import HEADER, PERMIT, assert_400

TOMBSTONE = "ConsentRecordTombstone"


def _engine(settings):
    url, schema = settings.resolved_database()
    args = {"options": f"-csearch_path={schema}"} if schema else {}
    return create_engine(url, connect_args=args)


def _consent_withdraw_forget(client, individual):
    record = client.post(
        f"/service/individual/record/data-agreement/{PERMIT}/", params={"individualId": individual}
    ).json()["consentRecord"]
    client.put(
        f"/service/individual/record/consent-record/{record['id']}/",
        headers={HEADER: individual},
        json={"consentRecord": {"optIn": False}},
    )
    forgotten = client.delete("/service/individual/record/", headers={HEADER: individual}).json()
    assert forgotten["deleted"] == [record["id"]]
    return record


def _tombstones(client):
    return client.get("/audit/revisions/", params={"schemaName": TOMBSTONE, "limit": 1000}).json()["revisions"]


def test_forgetting_leaves_a_tombstone_without_personal_data(client, individual):
    record = _consent_withdraw_forget(client, individual)

    shown = [t for t in _tombstones(client) if json.loads(t["serializedSnapshot"])["objectData"].get("consentRecordId")]
    assert len(shown) == 1
    tombstone = shown[0]
    data = json.loads(tombstone["serializedSnapshot"])["objectData"]
    assert data["consentRecordId"] == record["id"] and data["dataAgreementId"] == PERMIT
    assert data["revisionsDeleted"] == 2
    assert tombstone["authorizedByOther"] and tombstone["timestamp"]
    assert individual not in tombstone["serializedSnapshot"] and "authorizedByIndividual" not in tombstone

    body = assert_400(client.get(f"/audit/consent-record/{record['id']}/"))
    assert body["tombstone"]["id"] == tombstone["id"]
    assert client.get("/audit/integrity/").json()["ok"] is True


def test_deleting_a_tombstone_breaks_the_integrity_audit(client, individual, settings):
    _consent_withdraw_forget(client, individual)
    victim = [t for t in _tombstones(client) if "consentRecordId" in t["serializedSnapshot"]][-1]
    engine = _engine(settings)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM consent_revision WHERE id=:i"), {"i": victim["id"]})
    engine.dispose()
    report = client.get("/audit/integrity/").json()
    assert report["ok"] is False
    assert [b["schemaName"] for b in report["breaks"]] == [TOMBSTONE]
