"""Building-block calls the use cases share, each through the IM with the use case's IM identity."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jws import extract_compact

from services.common.errors import APIError
from services.common.im_client import IMClient

from .settings import UseCaseSettings

RECORD = "/service/individual/record/consent-record/{id}/"
NEW_RECORD = "/service/individual/record/data-agreement/{id}/"
# The resident's own proof (the signed userinfo of their login) on every Consent call that expresses their will
PROOF_HEADER = "X-ConsentBB-Individual-Proof"
# Consent takes a proof at most this old (its CONSENT_INDIVIDUAL_PROOF_MAX_AGE_SECONDS); a minute kept in hand.
PROOF_MAX_AGE_SECONDS = 3600 - 60


class BBError(APIError):
    def __init__(self, bb: str, response: httpx.Response | None, message: str | None = None):
        detail = message or (f"{response.status_code} {response.text[:300]}" if response is not None else "unreachable")
        super().__init__(502, {"error": "building_block_error", "message": f"{bb}: {detail}"})


def call(
    im: IMClient,
    service: str,
    method: str,
    path: str,
    bb: str,
    ok: tuple[int, ...] = (200, 201, 202),
    **kwargs: Any,
) -> dict:
    """The JSON answer, or BBError (502) when the block is unreachable or answers outside `ok`."""
    try:
        response = im.request_sync(service, method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise BBError(bb, None, f"unreachable ({type(exc).__name__})") from exc
    if response.status_code not in ok:
        raise BBError(bb, response)
    return response.json()


# Consent ----------------------------------------------------------------------------------------------------


def require_fresh(proof: str | None) -> None:
    """A login older than Consent accepts as proof is refused here, in words the resident can act on."""
    try:
        issued = json.loads(extract_compact(proof.encode()).payload).get("iat") if proof else None
    except (JoseError, ValueError, AttributeError):
        issued = None
    if not isinstance(issued, int) or time.time() - issued > PROOF_MAX_AGE_SECONDS:
        raise APIError(
            401,
            {
                "error": "login_required",
                "message": "Your login is more than an hour old: please log out and log in again to confirm "
                "this decision.",
            },
        )


def verify_consents(
    im: IMClient, settings: UseCaseSettings, agreement_id: str, individual_ids: list[str]
) -> dict[str, bool]:
    """One bulk verification call for all the given individuals: id -> valid, signed consent."""
    if not individual_ids:
        return {}
    answer = call(
        im,
        settings.consent_service,
        "POST",
        "/service/verification/consent-records/",
        "Consent",
        json={"dataAgreementId": agreement_id, "individualIds": individual_ids, "requireSigned": True},
    )
    return {i: bool(v.get("consent")) for i, v in zip(individual_ids, answer.get("verifications", []), strict=False)}


def ensure_individual(im: IMClient, settings: UseCaseSettings, external_id: str, id_type: str) -> None:
    """Registers the individual at Consent by an identifier we hold (e.g. a VID), unless Consent knows them
    already: a lookup first, so that a second application for the same person makes no call that fails."""
    query = {"externalId": external_id, "externalIdType": id_type}
    known = call(im, settings.consent_service, "GET", "/service/individuals/", "Consent", ok=(200,), params=query)
    if known.get("individuals"):
        return
    answer = call(
        im,
        settings.consent_service,
        "POST",
        "/service/individual/",
        "Consent",
        ok=(200, 201, 400),  # 400: registered in between by a concurrent request
        json={"individual": {"externalId": external_id, "externalIdType": id_type}},
    )
    if "individual" not in answer and "already exists" not in str(answer.get("message", "")):
        raise BBError("Consent", None, str(answer.get("message") or answer)[:300])


def create_consent_request(im: IMClient, settings: UseCaseSettings, agreement_id: str, individual_id: str) -> str:
    """A consent record that does not (yet) hold consent: the individual decides when they log in. An officer
    asks this, so it carries no proof of the individual. When the individual has already opted in under this
    agreement, Consent keeps that answer (a request without their proof may not withdraw it): their current
    record is the one they decide on, so it is looked up first and no call is made that would be refused."""
    current = latest_consent_record(im, settings, agreement_id, individual_id)
    if current.get("optIn") and current.get("consentRecordId"):
        return current["consentRecordId"]
    path = NEW_RECORD.format(id=agreement_id)
    params = {"individualId": individual_id, "optIn": "false"}
    answer = call(im, settings.consent_service, "POST", path, "Consent", ok=(200, 201, 403), params=params)
    if "consentRecord" not in answer:  # 403: opted in meanwhile, by a concurrent request
        answer = call(
            im, settings.consent_service, "GET", path, "Consent", ok=(200,), params={"individualId": individual_id}
        )
    return answer["consentRecord"]["id"]


def latest_consent_record(im: IMClient, settings: UseCaseSettings, agreement_id: str, individual_id: str) -> dict:
    """Consent's verification answer for one individual: their latest record's id and `optIn`, if any."""
    answer = call(
        im,
        settings.consent_service,
        "POST",
        "/service/verification/consent-records/",
        "Consent",
        json={"dataAgreementId": agreement_id, "individualIds": [individual_id]},
    )
    return (answer.get("verifications") or [{}])[0]


def set_consent(
    im: IMClient,
    settings: UseCaseSettings,
    agreement_id: str,
    record_id: str | None,
    individual_id: str,
    opt_in: bool,
    evidence: dict,
    proof: str | None,
) -> str:
    """The individual's own decision: opt in or out (a new record when there is none yet), then have Consent
    sign the new revision on our word. Each call carries the individual's proof. Returns the record id."""
    require_fresh(proof)
    headers = {PROOF_HEADER: proof} if proof else {}
    if record_id is None:
        answer = call(
            im,
            settings.consent_service,
            "POST",
            NEW_RECORD.format(id=agreement_id),
            "Consent",
            params={"individualId": individual_id, "optIn": str(opt_in).lower()},
            headers=headers,
        )
        record_id = answer["consentRecord"]["id"]
    else:
        call(
            im,
            settings.consent_service,
            "PUT",
            RECORD.format(id=record_id),
            "Consent",
            params={"individualId": individual_id},
            json={"consentRecord": {"optIn": opt_in}},
            headers=headers,
        )
    call(
        im,
        settings.consent_service,
        "PUT",
        RECORD.format(id=record_id) + "signature/",
        "Consent",
        params={"individualId": individual_id},
        json={
            "signature": {
                "verificationMethod": "JWS-delegated",
                "verificationArtifact": json.dumps(evidence, sort_keys=True),
            }
        },
        headers=headers,
    )
    return record_id


def read_agreement(im: IMClient, settings: UseCaseSettings, agreement_id: str) -> dict:
    return call(im, settings.consent_service, "GET", f"/service/data-agreement/{agreement_id}/", "Consent")


# Identity ---------------------------------------------------------------------------------------------------


def verify_person(im: IMClient, settings: UseCaseSettings, individual_id: str, predicates: list[dict]) -> list[bool]:
    """Yes/no answers about the person behind a VID or UIN (Identity's verification API); nothing else leaves
    Identity. An unknown VID answers no to everything."""
    answer = call(
        im,
        settings.identity_verification_service,
        "POST",
        "/v1/verification",
        "Identity",
        ok=(200,),
        json={"requestId": uuid.uuid4().hex, "individualId": individual_id, "predicates": predicates},
    )
    return [bool(r.get("result")) for r in answer.get("results", [])]


def subject_predicate(settings: UseCaseSettings, sub: str) -> dict:
    """Is the person behind the VID/UIN the one our OIDC client knows by this pairwise `sub`?"""
    return {"type": "subject_matches", "value": {"clientId": settings.oidc_client_id, "sub": sub}}


def subject_matches(im: IMClient, settings: UseCaseSettings, individual_id: str, sub: str) -> bool:
    return (verify_person(im, settings, individual_id, [subject_predicate(settings, sub)]) + [False])[0]
