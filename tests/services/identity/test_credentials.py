"""Credential management (Credential-Management.yaml): a shared SD-JWT VC verified by the IETF reference
implementation (not the code that issued it) with only the chosen claims, blocked factors refused at login,
service history and events, the personalised card, /update-uin with an OTP, /updateIdentity, the resident page."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier

from tests.services.identity.helpers import (
    ADMIN_TOKEN,
    AMINA_VID,
    KOFI,
    OTP,
    PIN,
    Browser,
    authenticated,
    authorize_url,
    client_key,
    new_client_id,
    page_attempt,
    register,
)

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PETER_VID, RUTH_VID, TARIQ_VID = "6722846428", "7063622461", "8511964134"
NOW = "2026-11-26T10:00:00.000Z"


def envelope(request: dict) -> dict:
    return {"id": "mosip.resident", "version": "1.0", "requesttime": NOW, "request": request}


@contextmanager
def resident_browser(live, individual_id: str) -> Iterator[httpx.Client]:  # noqa: ANN001
    """A browser logged in at the provider's own resident page (its login ends on /resident)."""
    browser = Browser(live.url)
    page = browser.http.get("/resident").text
    code_page = browser.send_otp(page, individual_id).text
    done = browser.authenticate(code_page, individual_id, "OTP", OTP)
    assert done.status_code == 303 and done.headers["location"] == "/resident", done.text
    try:
        yield browser.http
    finally:
        browser.http.close()


@pytest.fixture(scope="module")
def kofi(live):
    with resident_browser(live, KOFI["vid"]) as http:
        yield http


@pytest.fixture(scope="module")
def client_id(http):
    client_id = new_client_id()
    register(http, client_id, client_key(0))
    return client_id


def share(http, attributes: list[dict], **extra) -> httpx.Response:  # noqa: ANN001
    request = {"partnerId": "cash-transfer", "purpose": "Apply for the grant", "consent": "Accepted"}
    return http.post("/share-credential", json=envelope({**request, "sharableAttributes": attributes, **extra}))


def issuer_key(live):  # noqa: ANN001, ANN201
    keys = {k["kid"]: k for k in httpx.get(live.url + "/.well-known/jwks.json").json()["keys"]}

    def lookup(issuer: str, header: dict) -> JWK:
        assert issuer == live.url
        return JWK(**{k: v for k, v in keys[header["kid"]].items() if k in ("kty", "n", "e", "kid")})

    return lookup


def test_a_shared_credential_verifies_independently_and_discloses_only_the_chosen_claims(live, kofi):
    answer = share(
        kofi, [{"attributeName": "fullName"}, {"attributeName": "dateOfBirth", "format": "YYYY", "isMasked": False}]
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert answer.headers["eventId"] == body["response"]["eventId"] and len(answer.headers["eventId"]) == 16
    credential = body["response"]["credential"]
    verified = SDJWTVerifier(credential, issuer_key(live)).get_verified_payload()
    assert verified["name"] == KOFI["name"] and verified["birthdate"] == KOFI["birthdate"][:4]
    assert verified["vct"] == live.url + "/credentials/national-id" and verified["iss"] == live.url
    assert not {"email", "phone_number", "gender", "address", "family_name"} & verified.keys()
    signed, *disclosures = credential.rstrip("~").split("~")
    assert len(disclosures) == 2  # nothing else is carried, not even hidden
    header = json.loads(base64.urlsafe_b64decode(signed.split(".")[0] + "=="))
    assert header["typ"] == "dc+sd-jwt"
    payload = json.loads(base64.urlsafe_b64decode(signed.split(".")[1] + "=="))
    assert len(payload["_sd"]) == 2 and KOFI["name"] not in json.dumps(payload)


def test_a_forged_credential_does_not_verify(live, kofi):
    credential = share(kofi, [{"attributeName": "gender"}]).json()["response"]["credential"]
    signed, rest = credential.split("~", 1)
    head, payload, signature = signed.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["exp"] += 10**8
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(Exception, match="(?i)verif|signature"):
        SDJWTVerifier(f"{head}.{forged}.{signature}~{rest}", issuer_key(live))


def test_a_masked_attribute_shows_its_last_characters_only(live, kofi):
    credential = share(kofi, [{"attributeName": "phone", "isMasked": True}]).json()["response"]["credential"]
    phone = SDJWTVerifier(credential, issuer_key(live)).get_verified_payload()["phone_number"]
    assert phone.endswith(phone[-2:]) and "\u2022" in phone and len(set(phone[:-2])) == 1


def test_sharing_needs_the_residents_session_consent_and_known_attributes(live, http, kofi):
    stranger = http.post("/share-credential", json=envelope({"partnerId": "x", "consent": "Accepted"}))
    assert stranger.status_code == 401 and stranger.json()["errors"][0]["errorCode"] == "unauthorized"
    denied = share(kofi, [{"attributeName": "name"}], consent="Denied")
    assert denied.status_code == 400 and denied.json()["errors"][0]["errorCode"] == "consent_not_accepted"
    unknown = share(kofi, [{"attributeName": "uin"}])
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["errorCode"] == "invalid_input"
    assert share(kofi, []).status_code == 400
    as_form = kofi.post("/share-credential", content=b"{}", headers={"content-type": "text/plain"})
    assert as_form.status_code == 400
    foreign = kofi.post(
        "/share-credential",
        json=envelope({"partnerId": "x", "consent": "Accepted", "sharableAttributes": [{"attributeName": "name"}]}),
        headers={"Origin": "http://evil.example"},
    )
    assert foreign.status_code == 403
    assert (
        kofi.post("/share-credential", content=b"not json", headers={"content-type": "application/json"}).status_code
        == 400
    )


def test_service_history_and_events(live, http, kofi):
    event_id = share(kofi, [{"attributeName": "name"}]).headers["eventId"]
    event = kofi.get(f"/events/{event_id}", params={"language": "eng"})
    assert event.status_code == 200
    assert event.json()["response"]["eventType"] == "SHARE_CRED_WITH_PARTNER"
    assert event.json()["response"]["info"]["partnerId"] == "cash-transfer"
    history = kofi.get("/service-history/eng", params={"serviceType": "DATA_SHARE_REQUEST", "sortType": "DESC"})
    assert history.status_code == 200, history.text
    page = history.json()["response"]
    assert page["data"][0]["eventId"] == event_id and page["totalItems"] >= 1
    assert {row["requestType"] for row in page["data"]} == {"DATA_SHARE_REQUEST"}
    assert kofi.get("/service-history/eng", params={"pageFetch": "0"}).status_code == 400
    assert http.get(f"/events/{event_id}").status_code == 401
    with resident_browser(live, PETER_VID) as peter:
        assert peter.get(f"/events/{event_id}").status_code == 404  # another resident's event


def test_the_personalised_card_is_a_pdf(live, kofi):
    card = kofi.post("/download/personalized-card", json=envelope({"attributes": ["name", "birthdate"]}))
    assert card.status_code == 200 and card.headers["content-type"] == "application/pdf"
    assert card.content.startswith(b"%PDF-") and len(card.headers["eventId"]) == 16
    assert kofi.post("/download/personalized-card", json=envelope({"attributes": ["nope"]})).status_code == 400


def test_a_blocked_factor_is_refused_at_login(live, http, client_id):
    with resident_browser(live, RUTH_VID) as ruth:
        blocked = ruth.post("/block", json=envelope({"id": RUTH_VID, "idType": "VID", "authFactors": ["PIN"]}))
        assert blocked.status_code == 200, blocked.text
        assert blocked.json()["response"]["status"] == "BLOCKED"
        refused = page_attempt(live.url, client_id, RUTH_VID, "PIN", PIN)
        assert not authenticated(refused) and "blocked" in refused.text
        assert authenticated(page_attempt(live.url, client_id, RUTH_VID, "OTP", OTP))  # the other factor works
        other = ruth.post("/block", json=envelope({"id": KOFI["vid"], "authFactors": ["PIN"]}))
        assert other.status_code == 403  # only one's own factors
        assert ruth.post("/unblock", json=envelope({"authFactors": ["PIN"]})).status_code == 200
    assert authenticated(page_attempt(live.url, client_id, RUTH_VID, "PIN", PIN))
    notices = httpx.get(live.url + "/admin/inbox", params={"individualId": RUTH_VID}, headers=ADMIN).json()
    assert {"factor_blocked", "factor_unblocked"} <= {m["kind"] for m in notices["messages"]}


def test_the_administrator_blocks_and_a_stranger_cannot(live, http, client_id):
    assert http.post("/block", json=envelope({"id": TARIQ_VID, "authFactors": ["OTP"]})).status_code == 401
    blocked = http.post("/block", json=envelope({"id": TARIQ_VID, "idType": "VID"}), headers=ADMIN)
    assert blocked.status_code == 200 and blocked.json()["response"]["blockedFactors"] == ["OTP", "PIN", "WLA"]
    browser = Browser(live.url)
    code_page = browser.send_otp(browser.open(authorize_url(client_id)).text, TARIQ_VID)
    assert code_page.status_code == 400 and "blocked" in code_page.text
    assert (
        http.post("/unblock", json=envelope({"id": TARIQ_VID}), headers=ADMIN).json()["response"]["blockedFactors"]
        == []
    )


def test_update_uin_with_an_otp_from_the_inbox(live, http):
    sent = http.post("/req/otp", json=envelope({"individualId": AMINA_VID}))
    assert sent.status_code == 200, sent.text
    transaction_id = sent.json()["response"]["transactionID"]
    inbox = http.get("/admin/inbox", params={"individualId": AMINA_VID}, headers=ADMIN).json()["messages"]
    otp = re.search(r"\b(\d{6})\b", inbox[0]["body"]).group(1)
    new = {"identity": {"email": "amina.new@example.org"}}
    request = {
        "transactionID": transaction_id,
        "individualId": AMINA_VID,
        "individualIdType": "VID",
        "identityJson": base64.b64encode(json.dumps(new).encode()).decode(),
    }
    assert http.post("/update-uin", json=envelope({**request, "otp": "000000"})).status_code == 401
    name_change = {**request, "identityJson": base64.b64encode(b'{"fullName": "X"}').decode(), "otp": otp}
    assert http.post("/update-uin", json=envelope(name_change)).status_code == 400
    done = http.post("/update-uin", json=envelope({**request, "otp": otp}))
    assert done.status_code == 200, done.text
    assert "Notification" in done.json()["response"]["message"]
    history = http.get(f"/identities/{AMINA_VID}/history", headers=ADMIN).json()["history"]
    assert history[-1]["source"] == "update-uin" and history[-1]["changes"]["email"]["new"] == "amina.new@example.org"
    assert http.post("/update-uin", json=envelope({**request, "otp": otp})).status_code == 400  # spent


def test_an_otp_for_an_unknown_or_missing_id_is_refused_not_a_server_error(http):
    for request in ({"individualId": "0000000000"}, {}):
        refused = http.post("/req/otp", json=envelope(request))
        assert refused.status_code == 400, refused.text
        assert refused.json()["errors"][0]["errorCode"] == "invalid_identifier"


def test_update_identity_deactivates_and_reactivates(live, http, client_id):
    body = envelope({"uin": PETER_VID, "status": "DEACTIVATED"})
    assert http.patch("/updateIdentity", json=body).status_code == 401
    answer = http.patch("/updateIdentity", json=body, headers=ADMIN)
    assert answer.status_code == 200 and answer.json()["response"]["status"] == "DEACTIVATED"
    assert not authenticated(page_attempt(live.url, client_id, PETER_VID, "PIN", PIN))
    again = http.patch("/updateIdentity", json=envelope({"uin": PETER_VID, "status": "ACTIVATED"}), headers=ADMIN)
    assert again.json()["response"] == {"status": "ACTIVATED", "identity": {"status": "active"}}
    assert authenticated(page_attempt(live.url, client_id, PETER_VID, "PIN", PIN))


def test_the_resident_page(live, http, kofi):
    home = kofi.get("/resident")
    assert home.status_code == 200 and KOFI["name"] in home.text and 'id="history"' in home.text
    token = re.search(r'name="token" value="([^"]+)"', home.text).group(1)
    assert kofi.post("/resident/factors", data={"factor": "WLA", "action": "block"}).status_code == 403
    blocked = kofi.post("/resident/factors", data={"token": token, "factor": "WLA", "action": "block"})
    assert blocked.status_code == 200 and "is blocked" in blocked.text
    kofi.post("/resident/factors", data={"token": token, "factor": "WLA", "action": "unblock"})
    shared = kofi.post(
        "/resident/share", data={"token": token, "partner_id": "permits", "attr_name": "on", "attr_birthdate": "on"}
    )
    assert shared.status_code == 200 and 'id="credential"' in shared.text
    card = kofi.post("/resident/card", data={"token": token, "attr_name": "on"})
    assert card.headers["content-type"] == "application/pdf"
    assert http.get("/resident").status_code == 200 and 'name="individual_id"' in http.get("/resident").text
