"""The resident's proof travels on exactly the Consent calls that express the resident's will (issue 17): their
own decision (a new record with their answer, a changed record, its signature) carries the signed userinfo of
their login in `X-ConsentBB-Individual-Proof`; an officer's consent request (optIn=false) carries none.

The calls are recorded at the HTTP transport of the use case's IM client: what is checked is what leaves the
use case, whatever the Consent BB then does with it."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from services.common.im_client import IMClient
from usecases.common import bb
from usecases.common.settings import UseCaseSettings


def _token(**claims: object) -> str:
    """A JWS-shaped token (its signature is Consent's to check, not the use case's)."""
    part = lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


SETTINGS = UseCaseSettings()
PROOF = _token(sub="psut-1", iat=int(time.time()))


def _recording_client(post_status: int = 201, opted_in: bool = False) -> tuple[IMClient, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.path.endswith("/service/verification/consent-records/"):
            found = {"consentRecordId": "rec-1", "optIn": True} if opted_in else {"consentRecordId": None}
            return httpx.Response(200, json={"verifications": [found]})
        if request.method == "POST" and post_status == 403:
            return httpx.Response(403, json={"error": "forbidden", "message": "to withdraw consent needs ..."})
        return httpx.Response(post_status if request.method == "POST" else 200, json={"consentRecord": {"id": "rec-1"}})

    im = IMClient("http://im.test", "SANDBOX/GOV/SOCIAL-WELFARE/USCT", "secret")
    im._sync = httpx.Client(transport=httpx.MockTransport(answer))
    return im, sent


def _proofs(sent: list[httpx.Request]) -> list[tuple[str, str, str | None]]:
    return [(r.method, r.url.path.rsplit("/consent/", 1)[1], r.headers.get(bb.PROOF_HEADER)) for r in sent]


def test_the_residents_decision_on_an_existing_record_carries_the_proof():
    im, sent = _recording_client()
    record = bb.set_consent(im, SETTINGS, "da-1", "rec-1", "uin-1", True, {"decision": "give"}, PROOF)
    assert record == "rec-1"
    assert _proofs(sent) == [
        ("PUT", "service/individual/record/consent-record/rec-1/", PROOF),
        ("PUT", "service/individual/record/consent-record/rec-1/signature/", PROOF),
    ]
    assert json.loads(sent[0].content) == {"consentRecord": {"optIn": True}}


def test_a_record_the_resident_creates_with_their_answer_carries_the_proof():
    im, sent = _recording_client()
    bb.set_consent(im, SETTINGS, "da-1", None, "uin-1", True, {"decision": "give"}, PROOF)
    assert _proofs(sent) == [
        ("POST", "service/individual/record/data-agreement/da-1/", PROOF),
        ("PUT", "service/individual/record/consent-record/rec-1/signature/", PROOF),
    ]
    assert sent[0].url.params["optIn"] == "true"


def test_an_officers_consent_request_carries_no_proof():
    im, sent = _recording_client()
    bb.create_consent_request(im, SETTINGS, "da-1", "uin-1")
    assert _proofs(sent) == [
        ("POST", "service/verification/consent-records/", None),  # is there an answer already? no
        ("POST", "service/individual/record/data-agreement/da-1/", None),
    ]
    assert sent[1].url.params["optIn"] == "false"


def test_a_request_to_someone_who_already_consented_keeps_their_answer_and_finds_their_record():
    """Consent would refuse a request without proof that withdraws a given consent: the current record (what the
    individual decides on) is looked up first, and no request is made."""
    im, sent = _recording_client(opted_in=True)
    assert bb.create_consent_request(im, SETTINGS, "da-1", "vid-1") == "rec-1"
    assert _proofs(sent) == [("POST", "service/verification/consent-records/", None)]


def test_a_request_that_races_the_individuals_consent_finds_their_record():
    """Opted in between the look-up and the request: Consent refuses it (403) and the current record is read."""
    im, sent = _recording_client(post_status=403)
    assert bb.create_consent_request(im, SETTINGS, "da-1", "vid-1") == "rec-1"
    assert _proofs(sent) == [
        ("POST", "service/verification/consent-records/", None),
        ("POST", "service/individual/record/data-agreement/da-1/", None),
        ("GET", "service/individual/record/data-agreement/da-1/", None),
    ]


def test_a_decision_on_a_login_older_than_consent_accepts_asks_to_log_in_again():
    """Consent takes a proof at most an hour old; the use case says so before calling it, in words the resident
    can act on, and sends nothing."""
    im, sent = _recording_client()
    stale = _token(sub="psut-1", iat=int(time.time()) - 3700)
    with pytest.raises(bb.APIError) as refused:
        bb.set_consent(im, SETTINGS, "da-1", "rec-1", "uin-1", True, {"decision": "give"}, stale)
    assert refused.value.status_code == 401 and "log in again" in refused.value.body["message"]
    assert sent == []
