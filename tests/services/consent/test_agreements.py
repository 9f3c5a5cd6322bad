from __future__ import annotations

import json

from joserfc import jws
from joserfc.jwk import KeySet

from tests.services.consent.conftest import PERMIT, USCT, assert_400

AGREEMENT = {
    "version": "1",
    "purpose": "Testing",
    "lawfulBasis": "public_task",
    "dpia": "none",
    "controller": {"name": "Ministry", "url": "https://example.org"},
    "policy": "pol-sandbox-social-protection",
    "dataAttributes": [{"name": "uin", "sensitivity": "sensitive", "category": "identifier"}],
}


def test_seeded_cash_transfer_agreement_describes_the_sharing(client):
    body = client.get(f"/service/data-agreement/{USCT}/").json()
    agreement = body["dataAgreement"]
    assert agreement["lawfulBasis"] == "consent" and agreement["active"] is True
    assert agreement["controller"]["name"] == "Ministry of Social Welfare"
    assert "USCT" in agreement["purpose"]
    assert agreement["policy"]["dataRetentionPeriodDays"] == 1825
    assert {"uin", "name", "birthdate", "payment_account"} <= {a["name"] for a in agreement["dataAttributes"]}
    permit = client.get(f"/config/data-agreement/{PERMIT}/").json()["dataAgreement"]
    assert permit["forgettable"] is True and "parcel_id" in {a["name"] for a in permit["dataAttributes"]}


def test_agreement_is_signed_by_the_organisation_key_from_jwks(client):
    created = client.post("/config/data-agreement/", json={"dataAgreement": AGREEMENT}).json()
    signature, revision = created["dataAgreement"]["signature"], created["revision"]
    assert signature["objectReference"] == revision["id"] and signature["verificationSignedAs"] == "organisation"
    keys = KeySet.import_key_set(client.get("/.well-known/jwks.json").json())
    verified = jws.deserialize_compact(signature["signature"], keys, algorithms=["ES256"])
    assert verified.payload.decode() == revision["serializedSnapshot"]
    assert json.loads(revision["serializedSnapshot"])["objectData"]["purpose"] == "Testing"


def test_agreement_crud_and_listings(client):
    created = client.post("/config/data-agreement/", json={"dataAgreement": AGREEMENT}).json()
    agreement_id = created["dataAgreement"]["id"]
    updated = client.put(
        f"/config/data-agreement/{agreement_id}/", json={"dataAgreement": {**AGREEMENT, "purpose": "Changed"}}
    ).json()
    assert updated["dataAgreement"]["purpose"] == "Changed"
    assert updated["revision"]["predecessorHash"] == created["revision"]["serializedHash"]
    assert updated["dataAgreement"]["signature"]["objectReference"] == updated["revision"]["id"]
    old = client.get(f"/config/data-agreement/{agreement_id}/", params={"revisionId": created["revision"]["id"]}).json()
    assert old["dataAgreement"]["purpose"] == "Testing"

    listing = client.get("/config/data-agreements/").json()
    assert agreement_id in [a["id"] for a in listing["dataAgreements"]]
    assert listing["dataAgreement"] == listing["dataAgreements"]
    assert [a["id"] for a in client.get("/config/data-agreements/", params={"limit": 1}).json()["dataAgreements"]] == [
        USCT
    ]

    client.put(f"/config/data-agreement/{agreement_id}/", json={"dataAgreement": {**AGREEMENT, "active": False}})
    active = [a["id"] for a in client.get("/service/verification/data-agreements/").json()["dataAgreements"]]
    assert agreement_id not in active and USCT in active

    deleted = client.delete(f"/config/data-agreement/{agreement_id}/").json()
    assert deleted["revision"]["objectId"] == agreement_id
    assert_400(client.get(f"/config/data-agreement/{agreement_id}/"))
    assert_400(client.get(f"/service/data-agreement/{agreement_id}/"))
    assert agreement_id not in [a["id"] for a in client.get("/config/data-agreements/").json()["dataAgreements"]]
    audited = client.get(f"/audit/data-agreement/{agreement_id}/").json()
    assert audited["dataAgreement"]["deleted"] is True and len(audited["revisions"]) == 4
    assert audited["integrity"]["ok"] is True
    audit_list = client.get("/audit/data-agreements/").json()["dataAgreements"]
    assert {agreement_id, USCT} <= {a["id"] for a in audit_list}


def test_agreement_bad_input(client):
    for bad in (
        {**AGREEMENT, "lawfulBasis": "because"},
        {k: v for k, v in AGREEMENT.items() if k != "purpose"},
        {**AGREEMENT, "policy": "no-such-policy"},
        {**AGREEMENT, "policyRevision": "no-such-revision"},
        {**AGREEMENT, "controller": {"name": "x"}},
        {**AGREEMENT, "lifecycle": "finished"},
        {**AGREEMENT, "compatibleWithVersion": "no-such-agreement"},
        {**AGREEMENT, "dataAttributes": [{"name": "x"}]},
    ):
        assert_400(client.post("/config/data-agreement/", json={"dataAgreement": bad}))
    assert_400(client.post("/config/data-agreement/", json={"agreement": AGREEMENT}))
    assert_400(client.put("/config/data-agreement/nope/", json={"dataAgreement": AGREEMENT}))
    assert_400(client.delete("/config/data-agreement/nope/"))
    assert_400(client.get("/config/data-agreement/nope/"))
    assert_400(client.get("/audit/data-agreement/nope/"))
    assert_400(client.get(f"/config/data-agreement/{USCT}/", params={"revisionId": "nope"}))
    assert len(client.get("/audit/data-agreements/").json()["dataAgreements"]) == 2  # nothing was created
