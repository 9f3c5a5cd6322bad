from __future__ import annotations

import json

from tests.services.consent.conftest import HEADER, PERMIT, USCT, Holder, assert_400, new_individual

RECORD = "/service/individual/record/consent-record/"


def verify(client, individual, agreement=USCT, **params):
    body = client.get(
        "/service/verification/consent-records/",
        params={"dataAgreementId": agreement, "individualId": individual, **params},
    ).json()
    return body["verifications"][0]


def draft(client, individual, agreement=USCT, **params):
    r = client.post(f"{RECORD}draft/", params={"individualId": individual, "dataAgreementId": agreement, **params})
    assert r.status_code == 200, r.text
    return r.json()


def signed_submission(client, individual, holder, **params):
    body = draft(client, individual, **params)
    signature = {
        **body["signature"],
        "signature": holder.sign(body["signature"]["verificationPayload"]),
        "verificationSignedBy": holder.public_jwk,
    }
    return {"consentRecord": body["consentRecord"], "signature": signature}


def test_create_record_then_withdraw_changes_verification_at_once(client, individual):
    assert verify(client, individual)["consent"] is False
    r = client.post(f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": individual})
    record, revision = r.json()["consentRecord"], r.json()["revision"]
    assert record["optIn"] is True and record["state"] == "unsigned" and record["individual"] == individual
    current_agreement = client.get(f"/service/data-agreement/{USCT}/").json()["revision"]
    assert record["dataAgreementRevision"] == current_agreement["id"]
    assert record["dataAgreementRevisionHash"] == current_agreement["serializedHash"]
    assert revision["objectId"] == record["id"] and revision["authorizedByIndividual"] == individual
    assert verify(client, individual)["consent"] is True

    again = client.post(f"/service/individual/record/data-agreement/{USCT}/", headers={HEADER: individual}).json()
    assert again["consentRecord"]["id"] == record["id"] and again["revision"]["id"] == revision["id"]

    withdrawn = client.put(
        f"{RECORD}{record['id']}/", headers={HEADER: individual}, json={"consentRecord": {"optIn": False}}
    ).json()
    assert withdrawn["consentRecord"]["optIn"] is False
    assert withdrawn["revision"]["predecessorHash"] == revision["serializedHash"]
    answer = verify(client, individual)
    assert answer["consent"] is False and answer["consentRecordId"] == record["id"]

    regiven = client.put(
        f"{RECORD}{record['id']}/", headers={HEADER: individual}, json={"consentRecord": {"optIn": True}}
    ).json()
    assert regiven["revision"]["predecessorHash"] == withdrawn["revision"]["serializedHash"]
    assert verify(client, individual)["consent"] is True


def test_refusal_is_recorded_as_opt_out(client, individual):
    r = client.post(
        f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": individual, "optIn": "false"}
    ).json()
    assert r["consentRecord"]["optIn"] is False
    assert verify(client, individual)["consent"] is False


def test_individual_reads_own_records_by_header(client, individual):
    created = client.post(f"/service/individual/record/data-agreement/{USCT}/", headers={HEADER: individual}).json()
    client.post(f"/service/individual/record/data-agreement/{PERMIT}/", headers={HEADER: individual})
    current = client.get(f"/service/individual/record/data-agreement/{USCT}/", headers={HEADER: individual}).json()
    assert current["consentRecord"]["id"] == created["consentRecord"]["id"]
    mine = client.get(RECORD, headers={HEADER: individual}).json()["consentRecords"]
    assert {r["dataAgreement"] for r in mine} == {USCT, PERMIT}
    all_usct = client.get(f"/service/individual/record/data-agreement/{USCT}/all/", headers={HEADER: individual}).json()
    assert [r["id"] for r in all_usct["consentRecords"]] == [created["consentRecord"]["id"]]
    # external ids work in the header too
    ext = client.get(f"/service/individual/{individual}/").json()["individual"]["externalId"]
    assert client.get(RECORD, headers={HEADER: ext}).json()["consentRecords"] == mine

    someone_else = new_individual(client)
    assert_400(client.get(f"/service/individual/record/data-agreement/{USCT}/", headers={HEADER: someone_else}))
    assert_400(
        client.put(
            f"{RECORD}{created['consentRecord']['id']}/",
            headers={HEADER: someone_else},
            json={"consentRecord": {"optIn": False}},
        )
    )
    assert verify(client, individual)["consent"] is True


def test_consent_record_bad_input(client, individual):
    base = "/service/individual/record/data-agreement/"
    assert_400(client.post(f"{base}{USCT}/"))  # no individual
    assert_400(client.post(f"{base}{USCT}/", params={"individualId": "nobody"}))
    assert_400(client.post(f"{base}nope/", params={"individualId": individual}))
    assert_400(client.post(f"{base}{USCT}/", params={"individualId": individual, "revisionId": "nope"}))
    assert_400(client.post(f"{base}{USCT}/", params={"individualId": individual, "optIn": "maybe"}))
    assert_400(client.get(f"{base}{USCT}/"))
    assert_400(client.get(RECORD))
    assert_400(client.get(f"{base}{USCT}/all/"))
    assert_400(client.put(f"{RECORD}nope/", headers={HEADER: individual}, json={"consentRecord": {"optIn": False}}))
    created = client.post(f"{base}{USCT}/", params={"individualId": individual}).json()["consentRecord"]
    assert_400(client.put(f"{RECORD}{created['id']}/", headers={HEADER: individual}, json={"consentRecord": {}}))
    assert_400(
        client.put(
            f"{RECORD}{created['id']}/",
            headers={HEADER: individual},
            json={"consentRecord": {"optIn": False, "dataAgreement": PERMIT}},
        )
    )
    assert_400(client.put(f"{RECORD}{created['id']}/", json={"consentRecord": {"optIn": False}}))
    assert_400(client.post(f"{RECORD}draft/", params={"individualId": individual}))
    assert_400(client.post(f"{RECORD}draft/", params={"individualId": individual, "dataAgreementId": "nope"}))
    assert_400(client.delete("/service/individual/record/"))
    assert verify(client, individual)["consent"] is True  # nothing above changed the record


def test_inactive_agreement_takes_no_new_consent(client, individual):
    agreement = client.get(f"/config/data-agreement/{USCT}/").json()["dataAgreement"]
    body = {**agreement, "policy": agreement["policy"]["id"], "active": False}
    assert client.put(f"/config/data-agreement/{USCT}/", json={"dataAgreement": body}).status_code == 200
    assert_400(client.post(f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": individual}))


def test_draft_sign_submit_with_valid_signature(client, individual, holder):
    body = draft(client, individual)
    assert "id" not in body["consentRecord"] and "id" not in body["signature"]  # a draft is not stored
    snapshot = json.loads(body["signature"]["verificationPayload"])
    assert snapshot["signedWithoutObjectId"] is True and snapshot["objectData"]["individual"] == individual
    assert verify(client, individual)["consent"] is False  # a draft stores nothing

    submission = {
        "consentRecord": body["consentRecord"],
        "signature": {
            **body["signature"],
            "signature": holder.sign(body["signature"]["verificationPayload"]),
            "verificationSignedBy": holder.public_jwk,
        },
    }
    r = client.post(RECORD, json=submission)
    assert r.status_code == 200, r.text
    stored = r.json()
    record, revision, signature = stored["consentRecord"], stored["revision"], stored["signature"]
    assert record["id"] and record["state"] == "signed" and record["optIn"] is True
    assert revision["serializedSnapshot"] == body["signature"]["verificationPayload"]
    assert revision["signedWithoutObjectId"] is True and revision["objectId"] == record["id"]
    assert signature["objectReference"] == revision["id"] and signature["signedWithoutObjectReference"] is True
    assert record["signature"] == signature["id"]
    assert verify(client, individual, requireSigned="true")["consent"] is True

    # a retry returns the first answer; another signature for the same revision is refused
    assert client.post(RECORD, json=submission).json()["consentRecord"]["id"] == record["id"]
    assert_400(client.post(RECORD, json=signed_submission(client, individual, Holder())))


def test_forged_or_mismatched_signatures_are_refused(client, individual, holder):
    good = signed_submission(client, individual, holder)
    attacker = Holder()
    forged = {**good, "signature": {**good["signature"], "verificationSignedBy": attacker.public_jwk}}
    assert "does not verify" in assert_400(client.post(RECORD, json=forged))["message"]

    other = new_individual(client)
    payload = good["signature"]["verificationPayload"]
    swapped = payload.replace(individual, other)
    mismatched = {
        "consentRecord": {**good["consentRecord"], "individual": other},
        "signature": {**good["signature"], "verificationPayload": swapped},
    }
    assert_400(client.post(RECORD, json=mismatched))  # the JWS covers the original snapshot only

    resigned = {
        "consentRecord": {**good["consentRecord"], "individual": other},
        "signature": {
            **good["signature"],
            "verificationPayload": swapped,
            "signature": attacker.sign(swapped),
            "verificationSignedBy": attacker.public_jwk,
            "verificationPayloadHash": None,
        },
    }
    # signed by someone, but the record sent does not say what was signed (optIn flipped)
    flipped = {**resigned, "consentRecord": {**resigned["consentRecord"], "optIn": False}}
    assert_400(client.post(RECORD, json=flipped))

    wrong_record = {**good, "consentRecord": {**good["consentRecord"], "individual": other}}
    assert_400(client.post(RECORD, json=wrong_record))
    private = {
        **good,
        "signature": {**good["signature"], "verificationSignedBy": json.dumps(holder.key.as_dict(private=True))},
    }
    assert "private" in assert_400(client.post(RECORD, json=private))["message"]
    assert_400(client.post(RECORD, json={**good, "signature": {**good["signature"], "signature": "abc.def.ghi"}}))
    assert_400(client.post(RECORD, json={**good, "signature": {**good["signature"], "verificationMethod": "wet-ink"}}))
    assert_400(client.post(RECORD, json={**good, "signature": {**good["signature"], "verificationPayloadHash": "00"}}))
    assert_400(client.post(RECORD, json={"consentRecord": good["consentRecord"]}))
    assert verify(client, individual)["consent"] is False and verify(client, other)["consent"] is False
    assert client.post(RECORD, json=good).status_code == 200


def test_withdrawal_unsigns_and_signature_endpoints_resign(client, individual, holder):
    stored = client.post(RECORD, json=signed_submission(client, individual, holder)).json()
    record_id = stored["consentRecord"]["id"]
    withdrawn = client.put(
        f"{RECORD}{record_id}/", headers={HEADER: individual}, json={"consentRecord": {"optIn": False}}
    ).json()
    assert withdrawn["consentRecord"]["state"] == "unsigned" and "signature" not in withdrawn["consentRecord"]
    assert withdrawn["revision"]["predecessorSignature"] == stored["signature"]["signature"]
    assert verify(client, individual)["consent"] is False

    issued = client.post(
        f"{RECORD}{record_id}/signature/",
        headers={HEADER: individual},
        json={"signature": {"verificationMethod": "JWS"}},
    ).json()["signature"]
    assert issued["verificationPayload"] == withdrawn["revision"]["serializedSnapshot"]
    assert issued["objectReference"] == withdrawn["revision"]["id"] and issued["signature"] == ""

    # signing the old revision's snapshot is refused
    stale = {
        "id": issued["id"],
        "signature": holder.sign(stored["revision"]["serializedSnapshot"]),
        "verificationSignedBy": holder.public_jwk,
    }
    assert_400(client.put(f"{RECORD}{record_id}/signature/", headers={HEADER: individual}, json={"signature": stale}))

    fresh = {
        "id": issued["id"],
        "signature": holder.sign(issued["verificationPayload"]),
        "verificationSignedBy": holder.public_jwk,
    }
    signed = client.put(f"{RECORD}{record_id}/signature/", headers={HEADER: individual}, json={"signature": fresh})
    assert signed.status_code == 200, signed.text
    assert signed.json()["signature"]["id"] == issued["id"]
    record = client.get(f"/service/verification/consent-record/{record_id}/").json()["consentRecord"]
    assert record["state"] == "signed" and record["optIn"] is False
    assert verify(client, individual)["consent"] is False  # signed withdrawal is still no consent
    assert_400(client.post(f"{RECORD}nope/signature/", headers={HEADER: individual}, json={"signature": {}}))
    assert_400(client.put(f"{RECORD}{record_id}/signature/", headers={HEADER: individual}, json={"signature": {}}))


def test_right_to_be_forgotten_deletes_only_what_may_be_deleted(client, individual):
    base = "/service/individual/record/data-agreement/"
    usct = client.post(
        f"{base}{USCT}/", params={"individualId": individual, "optIn": "false"}
    ).json()  # not forgettable
    permit = client.post(f"{base}{PERMIT}/", params={"individualId": individual}).json()  # forgettable, consent held
    other = new_individual(client)
    others = client.post(f"{base}{PERMIT}/", params={"individualId": other, "optIn": "false"}).json()

    first = client.delete("/service/individual/record/", headers={HEADER: individual}).json()
    assert first["deleted"] == [] and sorted(first["retained"]) == sorted(
        [usct["consentRecord"]["id"], permit["consentRecord"]["id"]]
    )

    client.put(
        f"{RECORD}{permit['consentRecord']['id']}/",
        headers={HEADER: individual},
        json={"consentRecord": {"optIn": False}},
    )
    second = client.delete("/service/individual/record/", headers={HEADER: individual}).json()
    assert second == {"deleted": [permit["consentRecord"]["id"]], "retained": [usct["consentRecord"]["id"]]}
    assert_400(client.get(f"/audit/consent-record/{permit['consentRecord']['id']}/"))
    assert client.get(f"/audit/consent-record/{usct['consentRecord']['id']}/").status_code == 200
    assert client.get(f"/audit/consent-record/{others['consentRecord']['id']}/").status_code == 200
    assert client.get("/audit/integrity/").json()["ok"] is True  # no dangling history


def test_delegated_signature_by_the_consent_bb_is_verifiable_with_its_jwks(client, individual):
    from joserfc import jws
    from joserfc.jwk import KeySet

    body = draft(client, individual)
    stored = client.post(
        RECORD,
        json={
            "consentRecord": body["consentRecord"],
            "signature": {
                **body["signature"],
                "verificationMethod": "JWS-delegated",
                "verificationArtifact": "otp-session-42",
            },
        },
    )
    assert stored.status_code == 200, stored.text
    signature, revision = stored.json()["signature"], stored.json()["revision"]
    assert signature["verificationMethod"] == "JWS-delegated" and signature["verificationSignedAs"] == "delegate"
    artifact = json.loads(signature["verificationArtifact"])
    assert artifact == {"requestedBy": "SANDBOX/GOV/TEST-MEMBER/TESTER", "evidence": "otp-session-42"}
    keys = KeySet.import_key_set(client.get("/.well-known/jwks.json").json())
    assert jws.deserialize_compact(signature["signature"], keys).payload.decode() == revision["serializedSnapshot"]
    assert verify(client, individual, requireSigned="true")["consent"] is True

    record_id = stored.json()["consentRecord"]["id"]
    client.put(f"{RECORD}{record_id}/", headers={HEADER: individual}, json={"consentRecord": {"optIn": False}})
    resigned = client.put(
        f"{RECORD}{record_id}/signature/",
        headers={HEADER: individual},
        json={"signature": {"verificationMethod": "JWS-delegated"}},
    )
    assert resigned.status_code == 200, resigned.text
    record = client.get(f"/service/verification/consent-record/{record_id}/").json()
    assert (
        record["consentRecord"]["state"] == "signed"
        and record["consentRecord"]["signature"] == resigned.json()["signature"]["id"]
    )
    assert resigned.json()["signature"]["objectReference"] == record["revision"]["id"]
    assert client.get("/audit/integrity/").json()["ok"] is True
