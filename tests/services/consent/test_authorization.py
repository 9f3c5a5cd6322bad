"""Consent authorises every call (issue 17, finding 1): the operator, or the member an object names.

The municipality (MUNICIPALITY/CONSTRUCTION-PERMIT) holds an ordinary consent right, as in the sandbox's
topology; the cash-transfer objects belong to the Ministry of Social Welfare (SOCIAL-WELFARE/USCT).
"""

from __future__ import annotations

import json
import time

from fastapi.testclient import TestClient

from tests.services.consent.conftest import (
    ADMIN,
    HEADER,
    MUNICIPALITY,
    PAYMENTS_APP,
    PERMIT,
    USCT,
    WELFARE,
    Receiver,
    as_client,
    assert_400,
    assert_403,
)
from tests.support import wait_until

KOFI_UIN = "9369006020"
SOCIAL_POLICY = "pol-sandbox-social-protection"
RECORD = "/service/individual/record/consent-record/"
POLICY = {"name": "P", "version": "1", "url": "https://example.org/p", "dataRetentionPeriodDays": 30}


def agreement(controller_id: str | None = MUNICIPALITY, **extra) -> dict:
    body = {"version": "1", "purpose": "Testing", "lawfulBasis": "consent", "dpia": "none", **extra}
    if controller_id is not None:
        body["controller"] = {"id": controller_id, "name": "Org", "url": "https://org.example"}
    return {"dataAgreement": body}


def consent(client, agreement_id: str, person: str, opt_in: bool = True) -> dict:
    r = client.post(
        f"/service/individual/record/data-agreement/{agreement_id}/",
        params={"individualId": person, "optIn": str(opt_in).lower()},
    )
    assert r.status_code == 200, r.text
    return r.json()["consentRecord"]


def verified(client, agreement_id: str, person: str) -> bool:
    r = client.post(
        "/service/verification/consent-records/", json={"dataAgreementId": agreement_id, "individualIds": [person]}
    )
    assert r.status_code == 200, r.text
    return r.json()["verifications"][0]["consent"]


def test_without_the_im_only_the_operator_token_is_served(app, client):
    direct = TestClient(app)
    assert direct.get("/config/policies/").status_code == 401
    assert direct.get("/config/policies/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert direct.get("/config/policies/", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200


def test_the_municipality_cannot_read_or_withdraw_cash_transfer_consents(client, town, usct):
    record = consent(client, USCT, KOFI_UIN)
    path = f"{RECORD}{record['id']}/"

    assert_403(town.get(f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": KOFI_UIN}))
    assert_403(town.get(f"/service/individual/record/data-agreement/{USCT}/all/", params={"individualId": KOFI_UIN}))
    assert town.get(RECORD, params={"individualId": KOFI_UIN}).json()["consentRecords"] == []
    assert_403(town.put(path, params={"individualId": KOFI_UIN}, json={"consentRecord": {"optIn": False}}))
    assert_403(town.put(f"{path}signature/", params={"individualId": KOFI_UIN}, json={"signature": {}}))
    assert_403(
        town.put(
            f"{path}signature/",
            params={"individualId": KOFI_UIN},
            json={"signature": {"verificationMethod": "JWS-delegated"}},
        )
    )
    assert_403(town.post(f"{path}signature/", params={"individualId": KOFI_UIN}, json={"signature": {}}))
    assert_403(town.post(f"{RECORD}draft/", params={"individualId": KOFI_UIN, "dataAgreementId": USCT}))
    assert_403(town.delete("/service/individual/record/", params={"individualId": KOFI_UIN}))
    # not its agreement: not even a consent request
    message = assert_403(
        town.post(
            f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": KOFI_UIN, "optIn": "false"}
        )
    )["message"]
    assert WELFARE in message and MUNICIPALITY in message
    # nor a check of the consent
    assert_403(
        town.post("/service/verification/consent-records/", json={"dataAgreementId": USCT, "individualIds": [KOFI_UIN]})
    )
    assert_403(town.get("/service/verification/consent-records/", params={"dataAgreementId": USCT}))
    assert_403(town.get(f"/service/verification/consent-record/{record['id']}/"))

    assert verified(client, USCT, KOFI_UIN) is True  # nothing changed
    own = usct.get(f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": KOFI_UIN})
    assert own.status_code == 200 and own.json()["consentRecord"]["id"] == record["id"]
    assert [r["id"] for r in usct.get(RECORD, headers={HEADER: KOFI_UIN}).json()["consentRecords"]] == [record["id"]]


def test_the_municipality_cannot_list_or_change_usct_individuals(client, town, usct):
    mine = usct.post("/service/individual/", json={"individual": {"externalId": "usct-1", "externalIdType": "x"}})
    theirs = town.post("/config/individual/", json={"individual": {"externalId": "town-1", "externalIdType": "x"}})
    usct_person, town_person = mine.json()["individual"]["id"], theirs.json()["individual"]["id"]

    for path in ("/service/individuals/", "/config/individuals/"):
        assert [i["id"] for i in town.get(path, params={"limit": 1000}).json()["individuals"]] == [town_person]
        assert town.get(path, params={"externalId": "usct-1"}).json()["individuals"] == []
        assert town.get(path, params={"externalId": KOFI_UIN}).json()["individuals"] == []
    for path in (f"/service/individual/{usct_person}/", f"/config/individual/{usct_person}/"):
        assert_403(town.get(path))
    assert_403(town.put(f"/service/individual/{usct_person}/", json={"individual": {"externalId": "stolen"}}))
    assert usct.get(f"/service/individual/{usct_person}/").json()["individual"]["externalId"] == "usct-1"
    # registering an existing externalId does not reveal another member's individual
    again = assert_400(
        town.post("/service/individual/", json={"individual": {"externalId": "usct-1", "externalIdType": "x"}})
    )
    assert usct_person not in json.dumps(again)

    # nor may the registrar re-point an individual that holds another controller's consent records
    consent(town, PERMIT, usct_person, opt_in=False)
    assert_403(usct.put(f"/service/individual/{usct_person}/", json={"individual": {"externalId": "someone-else"}}))
    renamed = usct.put(f"/service/individual/{town_person}/", json={"individual": {"externalId": "x"}})
    assert_403(renamed)  # and not at all one it did not register
    # a record on one of its agreements makes a seeded resident visible to the controller, to it only
    consent(usct, USCT, KOFI_UIN, opt_in=False)
    listed = {i["externalId"] for i in usct.get("/service/individuals/", params={"limit": 1000}).json()["individuals"]}
    assert listed == {"usct-1", KOFI_UIN}
    assert town.get("/service/individuals/", params={"externalId": KOFI_UIN}).json()["individuals"] == []
    assert len(client.get("/config/individuals/", params={"limit": 1000}).json()["individuals"]) == 37 + 2


def test_the_municipality_cannot_change_or_delete_usct_configuration(client, town, usct):
    policy = client.get(f"/config/policy/{SOCIAL_POLICY}/").json()["policy"]
    assert policy["owner"] == WELFARE  # seeded: the controller of the agreement using it
    shorter = {**{k: v for k, v in policy.items() if k not in ("id", "owner")}, "dataRetentionPeriodDays": 1}
    assert_403(town.put(f"/config/policy/{SOCIAL_POLICY}/", json={"policy": shorter}))
    assert_403(town.delete(f"/config/policy/{SOCIAL_POLICY}/"))
    assert client.get(f"/config/policy/{SOCIAL_POLICY}/").json()["policy"]["dataRetentionPeriodDays"] == 1825

    current = client.get(f"/config/data-agreement/{USCT}/").json()["dataAgreement"]
    assert_403(town.delete(f"/config/data-agreement/{USCT}/"))
    assert_403(town.put(f"/config/data-agreement/{USCT}/", json={"dataAgreement": {**current, "purpose": "x"}}))
    assert_403(town.get(f"/config/data-agreement/{USCT}/"))
    assert_403(town.get(f"/config/data-agreement/{USCT}/revisions/"))
    assert client.get(f"/config/data-agreement/{USCT}/").json()["dataAgreement"]["purpose"] == current["purpose"]
    listed = town.get("/config/data-agreements/").json()["dataAgreements"]
    assert [a["id"] for a in listed] == [PERMIT]

    # reads an individual needs to see what they consent to stay open
    assert town.get(f"/service/data-agreement/{USCT}/").status_code == 200
    assert town.get(f"/service/policy/{SOCIAL_POLICY}/").status_code == 200
    assert town.get(f"/config/policy/{SOCIAL_POLICY}/").json()["policy"]["owner"] == WELFARE
    # the owner may
    assert usct.put(f"/config/policy/{SOCIAL_POLICY}/", json={"policy": shorter}).status_code == 200
    assert usct.get(f"/config/data-agreement/{USCT}/revisions/").status_code == 200


def test_an_agreement_names_its_creator_as_controller(client, town):
    assert_403(town.post("/config/data-agreement/", json=agreement(WELFARE)))
    assert_403(town.post("/config/data-agreement/", json=agreement(None)))
    created = town.post("/config/data-agreement/", json=agreement()).json()["dataAgreement"]
    assert created["controller"]["id"] == MUNICIPALITY
    moved = agreement(WELFARE)
    assert_403(town.put(f"/config/data-agreement/{created['id']}/", json=moved))
    unnamed = agreement(None, controller={"name": "Renamed", "url": "https://org.example"})
    kept = town.put(f"/config/data-agreement/{created['id']}/", json=unnamed).json()["dataAgreement"]
    assert kept["controller"] == {"id": MUNICIPALITY, "name": "Renamed", "url": "https://org.example"}
    # the operator may create an agreement for any controller
    assert client.post("/config/data-agreement/", json=agreement(WELFARE)).status_code == 200


def test_a_policy_belongs_to_the_member_that_created_it(client, town, usct):
    created = town.post("/config/policy/", json={"policy": POLICY}).json()["policy"]
    assert created["owner"] == MUNICIPALITY
    path = f"/config/policy/{created['id']}/"
    assert_403(usct.put(path, json={"policy": {**POLICY, "dataRetentionPeriodDays": 1}}))
    assert_403(usct.delete(path))
    assert usct.get(path).json()["policy"]["dataRetentionPeriodDays"] == 30  # reads stay open
    assert town.put(path, json={"policy": {**POLICY, "version": "2"}}).json()["policy"]["owner"] == MUNICIPALITY
    assert client.delete(path).status_code == 200  # the operator may


def test_audit_shows_a_controller_only_its_own_agreements(client, town):
    usct_record = consent(client, USCT, KOFI_UIN)
    permit_record = consent(client, PERMIT, KOFI_UIN)
    verified(client, USCT, KOFI_UIN)
    verified(client, PERMIT, KOFI_UIN)

    records = town.get("/audit/consent-records/").json()["consentRecords"]
    assert [r["id"] for r in records] == [permit_record["id"]]
    assert_403(town.get("/audit/consent-records/", params={"dataAgreementId": USCT}))
    assert_403(town.get(f"/audit/consent-record/{usct_record['id']}/"))
    assert town.get(f"/audit/consent-record/{permit_record['id']}/").status_code == 200
    assert [a["id"] for a in town.get("/audit/data-agreements/").json()["dataAgreements"]] == [PERMIT]
    assert_403(town.get(f"/audit/data-agreement/{USCT}/"))

    seen = {r["objectId"] for r in town.get("/audit/revisions/", params={"limit": 1000}).json()["revisions"]}
    assert seen == {PERMIT, "pol-sandbox-municipal-services", permit_record["id"]}
    everything = {r["objectId"] for r in client.get("/audit/revisions/", params={"limit": 1000}).json()["revisions"]}
    assert {USCT, SOCIAL_POLICY, usct_record["id"]} <= everything

    checks = town.get("/audit/verifications/").json()["verifications"]
    assert {c["dataAgreementId"] for c in checks} == {PERMIT}
    assert_403(town.get("/audit/verifications/", params={"dataAgreementId": USCT}))
    assert len(client.get("/audit/verifications/").json()["verifications"]) == 2

    own, whole = town.get("/audit/integrity/").json(), client.get("/audit/integrity/").json()
    assert own["ok"] is True and own["objectsChecked"] == 3 and whole["objectsChecked"] == 6


def test_webhooks_belong_to_their_creator_and_carry_only_its_events(client, town, usct):
    with Receiver() as receiver:
        client.app.state.settings.callback_allow_list.append(receiver.url)
        hook = town.post("/config/webhook/", json={"webhook": {"payloadUrl": receiver.url}}).json()["webhook"]
        path = f"/config/webhook/{hook['id']}/"
        assert usct.get("/config/webhooks/").json()["webhooks"] == []
        assert_403(usct.get(path))
        assert_403(usct.put(path, json={"webhook": {"payloadUrl": receiver.url, "disabled": True}}))
        assert_403(usct.get(f"{path}deliveries/"))
        assert_403(usct.delete(path))
        assert [h["id"] for h in town.get("/config/webhooks/").json()["webhooks"]] == [hook["id"]]
        assert [h["id"] for h in client.get("/config/webhooks/").json()["webhooks"]] == [hook["id"]]

        consent(client, USCT, KOFI_UIN)  # the ministry's event: not for the municipality's webhook
        permit = consent(client, PERMIT, KOFI_UIN)
        assert wait_until(lambda: len(receiver.requests) >= 1, timeout=10)
        time.sleep(0.5)
    events = [json.loads(r["body"]) for r in receiver.requests]
    assert [(e["event"], e["data"]["dataAgreementId"]) for e in events] == [("consent.given", PERMIT)]
    assert events[0]["data"]["consentRecordId"] == permit["id"]


def test_only_the_controller_and_named_consumers_verify_consent(app, im, client, town, usct):
    payments = as_client(app, im, PAYMENTS_APP)
    consent(client, USCT, KOFI_UIN)
    assert_403(
        payments.post(
            "/service/verification/consent-records/", json={"dataAgreementId": USCT, "individualIds": [KOFI_UIN]}
        )
    )
    assert payments.get("/service/verification/data-agreements/").json()["dataAgreements"] == []

    current = usct.get(f"/config/data-agreement/{USCT}/").json()["dataAgreement"]
    body = {**current, "policy": current["policy"]["id"], "dataConsumers": ["SANDBOX/GOV/PAYMENTS-AUTHORITY"]}
    assert_400(usct.put(f"/config/data-agreement/{USCT}/", json={"dataAgreement": {**body, "dataConsumers": ["x"]}}))
    updated = usct.put(f"/config/data-agreement/{USCT}/", json={"dataAgreement": body}).json()
    assert updated["dataAgreement"]["dataConsumers"] == ["SANDBOX/GOV/PAYMENTS-AUTHORITY"]
    assert json.loads(updated["revision"]["serializedSnapshot"])["objectData"]["dataConsumers"] == [
        "SANDBOX/GOV/PAYMENTS-AUTHORITY"
    ]

    assert verified(payments, USCT, KOFI_UIN) is True
    assert [a["id"] for a in payments.get("/service/verification/data-agreements/").json()["dataAgreements"]] == [USCT]
    assert [a["id"] for a in town.get("/service/verification/data-agreements/").json()["dataAgreements"]] == [PERMIT]
    assert_403(
        town.post("/service/verification/consent-records/", json={"dataAgreementId": USCT, "individualIds": [KOFI_UIN]})
    )
    # a data consumer verifies; it does not write
    assert_403(
        payments.post(
            f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": KOFI_UIN, "optIn": "false"}
        )
    )
    assert client.get(f"/config/data-agreement/{PERMIT}/").json()["dataAgreement"]["dataConsumers"] == []


def test_unknown_paths_and_methods_say_what_happened(client):
    outside = client.get("/nowhere")
    assert outside.status_code == 404 and outside.json()["error"] == "not found"
    assert "/nowhere" in outside.json()["message"]
    inside = client.get("/config/nowhere/")
    assert inside.status_code == 404 and inside.json()["error"] == "not found"
    assert "/config/nowhere/" in inside.json()["message"]
    method = client.delete("/config/policies/")
    assert method.status_code == 405 and method.json()["error"] == "method not allowed"
    assert "DELETE" in method.json()["message"] and "/config/policies/" in method.json()["message"]


def test_an_ordinary_member_never_gets_a_500_or_422(town, usct):
    """The contract test's garbage, sent by a member (not the operator): refused or bad input, nothing else."""
    import re

    from tests.services.consent.test_contract import GARBAGE_BODIES, SPEC, spec_operations

    if not SPEC.exists():
        return
    record = consent(usct, USCT, KOFI_UIN, opt_in=False)["id"]
    ids = {"policyId": SOCIAL_POLICY, "dataAgreementId": USCT, "individualId": KOFI_UIN, "consentRecordId": record}
    for path, method in spec_operations():
        url = re.sub(r"\{([^}]+)\}", lambda m: ids.get(m.group(1), "no-such-id"), path)
        for body in (GARBAGE_BODIES[1], GARBAGE_BODIES[-1], b'{"policy": {}}'):
            r = town.request(
                method.upper(),
                url,
                content=body,
                headers={"Content-Type": "application/json", HEADER: KOFI_UIN, "X-ConsentBB-Individual-Proof": "x"},
                params={"individualId": KOFI_UIN, "dataAgreementId": USCT, "optIn": "true"},
            )
            assert r.status_code in (200, 400, 403), (method, url, body, r.status_code, r.text)
            assert r.status_code == 200 or r.json()["error"] in ("bad input parameter", "forbidden")
