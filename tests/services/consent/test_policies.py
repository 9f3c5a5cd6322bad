from __future__ import annotations

from tests.services.consent.conftest import USCT, assert_400

POLICY = {
    "name": "Test policy",
    "version": "1",
    "url": "https://example.org/p/1",
    "jurisdiction": "SR",
    "dataRetentionPeriodDays": 30,
}
AGREEMENT = {"version": "1", "purpose": "Testing", "lawfulBasis": "consent", "dpia": "none"}


def test_policy_lifecycle_writes_revisions(client):
    created = client.post("/config/policy/", json={"policy": POLICY}).json()
    policy_id = created["policy"]["id"]
    assert created["policy"]["name"] == "Test policy" and created["policy"]["dataRetentionPeriodDays"] == 30
    first = created["revision"]
    assert first["schemaName"] == "Policy" and first["objectId"] == policy_id and "predecessorHash" not in first

    updated = client.put(f"/config/policy/{policy_id}/", json={"policy": {**POLICY, "version": "2"}}).json()
    assert updated["policy"]["version"] == "2"
    assert updated["revision"]["predecessorHash"] == first["serializedHash"]

    current = client.get(f"/config/policy/{policy_id}/").json()
    assert current["policy"]["version"] == "2" and current["revision"]["id"] == updated["revision"]["id"]
    old = client.get(f"/config/policy/{policy_id}/", params={"revisionId": first["id"]}).json()
    assert old["policy"]["version"] == "1"
    assert (
        client.get(f"/service/policy/{policy_id}/", params={"revisionId": first["id"]}).json()["policy"]["version"]
        == "1"
    )

    history = client.get(f"/config/policy/{policy_id}/revisions/").json()
    assert history["policy"]["version"] == "2"
    assert [r["id"] for r in history["revisions"]] == [first["id"], updated["revision"]["id"]]
    assert history["revisions"][0]["successor"] == updated["revision"]["id"]

    listed = client.get("/config/policies/").json()["policies"]
    assert policy_id in [p["id"] for p in listed]

    deleted = client.delete(f"/config/policy/{policy_id}/").json()
    assert deleted["revision"]["predecessorHash"] == updated["revision"]["serializedHash"]
    assert_400(client.get(f"/config/policy/{policy_id}/"))
    assert policy_id not in [p["id"] for p in client.get("/config/policies/").json()["policies"]]


def test_policy_bad_input_and_unknown_ids(client):
    assert_400(client.post("/config/policy/", json={"policy": {"name": "x"}}))
    assert_400(client.post("/config/policy/", json={}))
    assert_400(client.post("/config/policy/", content=b"not json", headers={"Content-Type": "application/json"}))
    assert_400(client.post("/config/policy/", json={"policy": {**POLICY, "dataRetentionPeriodDays": -1}}))
    assert_400(client.get("/config/policy/nope/"))
    assert_400(client.get("/service/policy/nope/"))
    assert_400(client.put("/config/policy/nope/", json={"policy": POLICY}))
    assert_400(client.delete("/config/policy/nope/"))
    assert_400(client.get("/config/policy/nope/revisions/"))
    assert_400(client.get("/config/policies/", params={"revisionId": "nope"}))
    assert_400(client.get("/config/policies/", params={"limit": 0}))
    assert_400(client.get("/config/policies/", params={"offset": "x"}))
    seeded = client.get("/config/policy/pol-sandbox-social-protection/").json()
    other = client.post("/config/policy/", json={"policy": POLICY}).json()
    # a revision of another policy does not resolve for this one
    assert_400(
        client.get("/config/policy/pol-sandbox-social-protection/", params={"revisionId": other["revision"]["id"]})
    )
    assert seeded["policy"]["name"]


def test_policy_update_does_not_change_agreements_and_in_use_policy_cannot_be_deleted(client):
    policy = client.post("/config/policy/", json={"policy": POLICY}).json()
    policy_id = policy["policy"]["id"]
    agreement = client.post(
        "/config/data-agreement/", json={"dataAgreement": {**AGREEMENT, "policy": policy_id}}
    ).json()
    agreement_id = agreement["dataAgreement"]["id"]
    assert agreement["dataAgreement"]["policyRevision"] == policy["revision"]["id"]

    client.put(f"/config/policy/{policy_id}/", json={"policy": {**POLICY, "name": "Renamed", "version": "2"}})
    read = client.get(f"/config/data-agreement/{agreement_id}/").json()["dataAgreement"]
    assert read["policy"]["name"] == "Test policy" and read["policy"]["version"] == "1"
    assert read["policyRevision"] == policy["revision"]["id"]

    body = assert_400(client.delete(f"/config/policy/{policy_id}/"))
    assert agreement_id in body["dataAgreements"]
    assert client.get(f"/config/policy/{policy_id}/").status_code == 200

    # moving the agreement to the new policy revision is explicit
    newest = client.get(f"/config/policy/{policy_id}/").json()["revision"]["id"]
    moved = client.put(
        f"/config/data-agreement/{agreement_id}/",
        json={"dataAgreement": {**AGREEMENT, "policy": policy_id, "policyRevision": newest}},
    ).json()["dataAgreement"]
    assert moved["policy"]["name"] == "Renamed"

    # once the agreement is inactive the policy may go
    client.put(
        f"/config/data-agreement/{agreement_id}/",
        json={"dataAgreement": {**AGREEMENT, "policy": policy_id, "active": False}},
    )
    assert client.delete(f"/config/policy/{policy_id}/").status_code == 200
    # the seeded policy is used by the seeded USCT agreement
    assert_400(client.delete("/config/policy/pol-sandbox-social-protection/"))
    assert client.get(f"/config/data-agreement/{USCT}/").status_code == 200
