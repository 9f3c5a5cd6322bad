"""A change that expresses an individual's will needs their proof (issue 17, finding 1): a JWT the real Identity
BB issued for them, which Consent checks against Identity's keys and binds to the individual by asking
Identity (`subject_matches`). A forged delegated signature must be impossible."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from services.consent.proofs.identity import IdentitySubjects
from tests.services.consent.conftest import PERMIT, PROOF, USCT, assert_400, assert_403
from tests.services.consent.identity_login import login, new_relying_party
from tests.services.identity.conftest import running_identity
from tests.services.identity.helpers import ADMIN_TOKEN as IDENTITY_ADMIN
from tests.support import fresh_database

KOFI = {"uin": "9369006020", "vid": "9038952310"}
AMINA = {"uin": "9487452680", "vid": "2405176278"}
CREATE = "/service/individual/record/data-agreement/{}/"
RECORD = "/service/individual/record/consent-record/"


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("identity")
    with fresh_database(tmp, "identity") as db, running_identity(db, tmp) as server:
        yield server


@pytest.fixture(scope="module")
def rp(identity):
    return new_relying_party(identity.url)


@pytest.fixture(scope="module")
def kofi(identity, rp):
    return login(identity.url, rp, KOFI["vid"])


@pytest.fixture(scope="module")
def amina(identity, rp):
    return login(identity.url, rp, AMINA["vid"])


@pytest.fixture
def settings(settings, identity):
    return settings.model_copy(update={"identity_url": identity.url})


@pytest.fixture
def app(app, identity):
    """Consent asks the real Identity who a subject is (here straight, with Identity's admin token)."""
    app.state.individual_proofs.subjects = IdentitySubjects.direct(identity.url, IDENTITY_ADMIN)
    return app


def proof(token: str) -> dict:
    return {PROOF: token}


def questions_about(identity, uin: str) -> int:
    audit = httpx.get(
        f"{identity.url}/admin/verification-audit",
        params={"individualId": uin},
        headers={"Authorization": f"Bearer {IDENTITY_ADMIN}"},
    )
    assert audit.status_code == 200, audit.text
    return len(audit.json()["questions"])


def verified(client, agreement: str, person: str) -> bool:
    body = {"dataAgreementId": agreement, "individualIds": [person]}
    return client.post("/service/verification/consent-records/", json=body).json()["verifications"][0]["consent"]


def test_giving_or_withdrawing_consent_needs_the_individuals_proof(client, usct, kofi, amina):
    create = CREATE.format(USCT)
    message = assert_403(usct.post(create, params={"individualId": KOFI["uin"]}))["message"]
    assert PROOF in message
    assert (
        PROOF
        in assert_403(usct.post(create, params={"individualId": KOFI["uin"]}, headers=proof(amina.id_token)))["message"]
    )
    assert verified(client, USCT, KOFI["uin"]) is False

    given = usct.post(create, params={"individualId": KOFI["uin"]}, headers=proof(kofi.id_token))
    assert given.status_code == 200, given.text
    record = given.json()["consentRecord"]
    assert verified(client, USCT, KOFI["uin"]) is True

    path = f"{RECORD}{record['id']}/"
    withdraw = {"consentRecord": {"optIn": False}}
    assert_403(usct.put(path, params={"individualId": KOFI["uin"]}, json=withdraw))
    assert_403(usct.put(path, params={"individualId": KOFI["uin"]}, json=withdraw, headers=proof(amina.userinfo)))
    assert verified(client, USCT, KOFI["uin"]) is True
    done = usct.put(path, params={"individualId": KOFI["uin"]}, json=withdraw, headers=proof(kofi.userinfo))
    assert done.status_code == 200, done.text
    assert verified(client, USCT, KOFI["uin"]) is False
    # re-giving by "creating" again is a change of mind too
    assert_403(usct.post(create, params={"individualId": KOFI["uin"]}))


def test_a_consent_request_needs_no_proof_but_its_answer_does(client, usct, amina):
    create = CREATE.format(USCT)
    asked = usct.post(create, params={"individualId": AMINA["uin"], "optIn": "false"})
    assert asked.status_code == 200, asked.text
    again = usct.post(create, params={"individualId": AMINA["uin"], "optIn": "false"})  # a retry changes nothing
    assert again.json()["consentRecord"]["id"] == asked.json()["consentRecord"]["id"]
    path = f"{RECORD}{asked.json()['consentRecord']['id']}/"
    assert_403(usct.put(path, params={"individualId": AMINA["uin"]}, json={"consentRecord": {"optIn": True}}))
    answered = usct.put(
        path,
        params={"individualId": AMINA["uin"]},
        json={"consentRecord": {"optIn": True}},
        headers=proof(amina.userinfo),
    )
    assert answered.status_code == 200, answered.text
    assert verified(client, USCT, AMINA["uin"]) is True


def test_a_proof_the_identity_bb_did_not_sign_or_that_is_stale_is_refused(app, usct, identity, kofi):
    create, params = CREATE.format(USCT), {"individualId": KOFI["uin"]}
    forger = RSAKey.generate_key(2048, private=True)
    published = httpx.get(f"{identity.url}/.well-known/jwks.json").json()["keys"][0]
    claims = json.loads(_b64decode(kofi.id_token.split(".")[1]))  # Kofi's claims, signed by someone else
    same_kid = jwt.encode({"alg": "RS256", "kid": published["kid"]}, claims, forger)
    other_kid = jwt.encode({"alg": "RS256", "kid": "forged"}, claims, forger)
    unsigned = f"{_b64encode({'alg': 'none'})}.{_b64encode(claims)}."
    for token in ("not-a-jwt", "a.b.c", unsigned, same_kid, other_kid, kofi.access_token):
        assert PROOF in assert_403(usct.post(create, params=params, headers=proof(token)))["message"], token

    verifier = app.state.individual_proofs.verifier
    verifier.issuer = "https://elsewhere.example"
    assert "issued" in assert_403(usct.post(create, params=params, headers=proof(kofi.id_token)))["message"]
    verifier.issuer = identity.url
    verifier.max_age_seconds = 1
    time.sleep(2.1)
    assert "older" in assert_403(usct.post(create, params=params, headers=proof(kofi.id_token)))["message"]


def _b64decode(part: str) -> str:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()


def _b64encode(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_a_known_subject_needs_no_second_question_to_identity(client, usct, town, identity, kofi):
    before = questions_about(identity, KOFI["uin"])
    first = usct.post(CREATE.format(USCT), params={"individualId": KOFI["uin"]}, headers=proof(kofi.id_token))
    assert first.status_code == 200, first.text
    assert questions_about(identity, KOFI["uin"]) == before + 1
    record = first.json()["consentRecord"]
    withdrawn = usct.put(
        f"{RECORD}{record['id']}/",
        params={"individualId": KOFI["uin"]},
        json={"consentRecord": {"optIn": False}},
        headers=proof(kofi.userinfo),  # the same subject (client id + sub): answered from what Identity said
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert questions_about(identity, KOFI["uin"]) == before + 1


def test_a_delegated_signature_needs_the_controller_and_the_individuals_proof(client, usct, town, kofi, amina):
    created = usct.post(CREATE.format(USCT), params={"individualId": KOFI["uin"]}, headers=proof(kofi.id_token))
    record = created.json()["consentRecord"]
    path, params = f"{RECORD}{record['id']}/signature/", {"individualId": KOFI["uin"]}
    delegated = {"signature": {"verificationMethod": "JWS-delegated", "verificationArtifact": "otp login"}}

    assert PROOF in assert_403(usct.put(path, params=params, json=delegated))["message"]
    assert_403(usct.put(path, params=params, json=delegated, headers=proof(amina.id_token)))  # another person
    assert_403(town.put(path, params=params, json=delegated, headers=proof(kofi.id_token)))  # another member
    assert client.get(f"/service/verification/consent-record/{record['id']}/").json()["consentRecord"]["state"] == (
        "unsigned"
    )

    signed = usct.put(path, params=params, json=delegated, headers=proof(kofi.userinfo))
    assert signed.status_code == 200, signed.text
    artifact = json.loads(signed.json()["signature"]["verificationArtifact"])
    assert artifact["requestedBy"] == "SANDBOX/GOV/SOCIAL-WELFARE/USCT" and artifact["evidence"] == "otp login"
    evidence = artifact["individualProof"]
    assert evidence["sha256"] == hashlib.sha256(kofi.userinfo.encode()).hexdigest()
    assert {"iss", "aud", "sub", "iat"} <= evidence.keys() and kofi.userinfo not in signed.text

    audited = usct.get(f"/audit/consent-record/{record['id']}/").json()
    assert [json.loads(s["verificationArtifact"])["individualProof"]["sub"] for s in audited["signatures"]] == [
        evidence["sub"]
    ]
    assert audited["integrity"]["ok"] is True


def test_a_signed_draft_needs_the_controller_and_the_individuals_proof(usct, town, kofi, amina):
    draft = usct.post(f"{RECORD}draft/", params={"individualId": KOFI["uin"], "dataAgreementId": USCT})
    assert draft.status_code == 200, draft.text
    body = {
        "consentRecord": draft.json()["consentRecord"],
        "signature": {**draft.json()["signature"], "verificationMethod": "JWS-delegated"},
    }
    assert_403(usct.post(RECORD, json=body))
    assert_403(usct.post(RECORD, json=body, headers=proof(amina.id_token)))
    assert_403(town.post(RECORD, json=body, headers=proof(kofi.id_token)))
    stored = usct.post(RECORD, json=body, headers=proof(kofi.id_token))
    assert stored.status_code == 200, stored.text
    assert json.loads(stored.json()["signature"]["verificationArtifact"])["individualProof"]["aud"]


def test_forgetting_needs_the_individuals_proof_and_touches_own_agreements_only(client, usct, town, kofi):
    permit = town.post(CREATE.format(PERMIT), params={"individualId": KOFI["uin"], "optIn": "false"})
    usct_record = client.post(CREATE.format(USCT), params={"individualId": KOFI["uin"], "optIn": "false"})
    assert permit.status_code == usct_record.status_code == 200
    assert_403(town.delete("/service/individual/record/", params={"individualId": KOFI["uin"]}))
    forgotten = town.delete(
        "/service/individual/record/", params={"individualId": KOFI["uin"]}, headers=proof(kofi.id_token)
    )
    assert forgotten.status_code == 200, forgotten.text
    assert forgotten.json() == {"deleted": [permit.json()["consentRecord"]["id"]], "retained": []}
    tombstone = assert_400(town.get(f"/audit/consent-record/{permit.json()['consentRecord']['id']}/"))["tombstone"]
    assert tombstone["authorizedByOther"] == "SANDBOX/GOV/MUNICIPALITY/CONSTRUCTION-PERMIT"
    # the ministry's record (not forgettable anyway) was not the municipality's to touch
    assert client.get(f"/audit/consent-record/{usct_record.json()['consentRecord']['id']}/").status_code == 200
