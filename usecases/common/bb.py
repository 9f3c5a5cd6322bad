"""Building-block calls the use cases share, each through the IM with the use case's IM identity."""

from __future__ import annotations

import json
from typing import Any

import httpx

from services.common.errors import APIError
from services.common.im_client import IMClient

from .settings import CONSENT

RECORD = "/service/individual/record/consent-record/{id}/"


class BBError(APIError):
    def __init__(self, bb: str, response: httpx.Response | None, message: str | None = None):
        detail = message or (f"{response.status_code} {response.text[:300]}" if response is not None else "unreachable")
        super().__init__(502, {"error": "building_block_error", "message": f"{bb}: {detail}"})


async def call(
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
        response = await im.request(service, method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise BBError(bb, None, f"unreachable ({type(exc).__name__})") from exc
    if response.status_code not in ok:
        raise BBError(bb, response)
    return response.json()


# Consent ----------------------------------------------------------------------------------------------------


async def verify_consents(im: IMClient, agreement_id: str, individual_ids: list[str]) -> dict[str, bool]:
    """One bulk verification call for all the given individuals: id -> valid, signed consent."""
    if not individual_ids:
        return {}
    answer = await call(
        im,
        CONSENT,
        "POST",
        "/service/verification/consent-records/",
        "Consent",
        json={"dataAgreementId": agreement_id, "individualIds": individual_ids, "requireSigned": True},
    )
    return {i: bool(v.get("consent")) for i, v in zip(individual_ids, answer.get("verifications", []), strict=False)}


async def ensure_individual(im: IMClient, external_id: str, id_type: str) -> None:
    """Registers the individual at Consent by an identifier we hold (e.g. a VID); known ones are kept."""
    answer = await call(
        im,
        CONSENT,
        "POST",
        "/service/individual/",
        "Consent",
        ok=(200, 201, 400),
        json={"individual": {"externalId": external_id, "externalIdType": id_type}},
    )
    if "individual" not in answer and "already exists" not in str(answer.get("message", "")):
        raise BBError("Consent", None, str(answer.get("message") or answer)[:300])


async def create_consent_request(im: IMClient, agreement_id: str, individual_id: str) -> str:
    """A consent record that does not (yet) hold consent: the individual decides when they log in."""
    answer = await call(
        im,
        CONSENT,
        "POST",
        f"/service/individual/record/data-agreement/{agreement_id}/",
        "Consent",
        params={"individualId": individual_id, "optIn": "false"},
    )
    return answer["consentRecord"]["id"]


async def set_consent(im: IMClient, record_id: str, individual_id: str, opt_in: bool, evidence: dict) -> None:
    """Opt in or out, then have Consent sign the new revision on our word (the resident logged in by OIDC)."""
    path = RECORD.format(id=record_id)
    await call(
        im,
        CONSENT,
        "PUT",
        path,
        "Consent",
        params={"individualId": individual_id},
        json={"consentRecord": {"optIn": opt_in}},
    )
    await call(
        im,
        CONSENT,
        "PUT",
        path + "signature/",
        "Consent",
        params={"individualId": individual_id},
        json={
            "signature": {
                "verificationMethod": "JWS-delegated",
                "verificationArtifact": json.dumps(evidence, sort_keys=True),
            }
        },
    )


async def read_agreement(im: IMClient, agreement_id: str) -> dict:
    return await call(im, CONSENT, "GET", f"/service/data-agreement/{agreement_id}/", "Consent")
