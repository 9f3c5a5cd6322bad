"""The building-block calls, each through the Information Mediator with this use case's IM identity."""
from __future__ import annotations

import json
from typing import Any

import httpx

from services.common.errors import APIError

from usecases.common.settings import CONSENT

from .settings import PAYMENTS_G2P, PAYMENTS_MAPPER, CashTransferSettings

RECORD = "/service/individual/record/consent-record/{id}/"


class BBError(APIError):
    def __init__(self, bb: str, response: httpx.Response | None, message: str | None = None):
        detail = message or (f"{response.status_code} {response.text[:300]}" if response is not None else "unreachable")
        super().__init__(502, {"error": "building_block_error", "message": f"{bb}: {detail}"})


async def _call(im, service: str, method: str, path: str, bb: str, ok=(200, 201, 202), **kwargs: Any) -> dict:  # noqa: ANN001
    try:
        response = await im.request(service, method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise BBError(bb, None, f"unreachable ({type(exc).__name__})") from exc
    if response.status_code not in ok:
        raise BBError(bb, response)
    return response.json()


# Consent ----------------------------------------------------------------------------------------------------

async def verify_consents(im, settings: CashTransferSettings, uins: list[str]) -> dict[str, bool]:  # noqa: ANN001
    """One bulk verification call for all the given individuals: uin -> valid, signed consent."""
    if not uins:
        return {}
    answer = await _call(im, CONSENT, "POST", "/service/verification/consent-records/", "Consent",
                         json={"dataAgreementId": settings.data_agreement_id, "individualIds": uins,
                               "requireSigned": True})
    return {uin: bool(v.get("consent")) for uin, v in zip(uins, answer.get("verifications", []), strict=False)}


async def create_consent_request(im, settings: CashTransferSettings, uin: str) -> str:  # noqa: ANN001
    """A consent record that does not (yet) hold consent: the individual decides when they log in."""
    answer = await _call(im, CONSENT, "POST",
                         f"/service/individual/record/data-agreement/{settings.data_agreement_id}/", "Consent",
                         params={"individualId": uin, "optIn": "false"})
    return answer["consentRecord"]["id"]


async def set_consent(im, record_id: str, uin: str, opt_in: bool, evidence: dict) -> None:  # noqa: ANN001
    """Opt in or out, then have Consent sign the new revision on our word (the resident logged in by OIDC)."""
    path = RECORD.format(id=record_id)
    await _call(im, CONSENT, "PUT", path, "Consent", params={"individualId": uin},
                json={"consentRecord": {"optIn": opt_in}})
    await _call(im, CONSENT, "PUT", path + "signature/", "Consent", params={"individualId": uin},
                json={"signature": {"verificationMethod": "JWS-delegated",
                                    "verificationArtifact": json.dumps(evidence, sort_keys=True)}})


async def read_agreement(im, settings: CashTransferSettings) -> dict:  # noqa: ANN001
    return await _call(im, CONSENT, "GET", f"/service/data-agreement/{settings.data_agreement_id}/", "Consent")


# Payments ---------------------------------------------------------------------------------------------------

def _v1_ok(answer: dict, bb: str) -> dict:
    if str(answer.get("ResponseCode")) != "00":
        raise APIError(502, {"error": "building_block_error", "message": f"{bb}: {answer.get('ResponseDescription')}"})
    return answer


async def register_beneficiary(im, settings: CashTransferSettings, request_id: str, functional_id: str,  # noqa: ANN001
                               phone: str) -> dict:
    body = {"RequestID": request_id, "SourceBBID": settings.source_bb_id, "Beneficiaries": [
        {"PayeeFunctionalID": functional_id, "PaymentModality": "01", "FinancialAddress": phone.replace(" ", "")}]}
    headers = {"X-Callback-URL": settings.callback_base + "/callbacks/register-beneficiary"}
    return _v1_ok(await _call(im, PAYMENTS_MAPPER, "POST", "/register-beneficiary", "Payments mapper",
                              json=body, headers=headers), "Payments mapper")


def _bulk_body(settings: CashTransferSettings, request_id: str, batch_id: str, instructions: list[dict]) -> dict:
    return {"RequestID": request_id, "SourceBBID": settings.source_bb_id, "BatchID": batch_id,
            "CreditInstructions": instructions}


async def prepayment_validation(im, settings, request_id: str, batch_id: str, instructions: list[dict]) -> dict:  # noqa: ANN001
    return _v1_ok(await _call(im, PAYMENTS_G2P, "POST", "/prepayment-validation", "Payments g2p",
                              json=_bulk_body(settings, request_id, batch_id, instructions)), "Payments g2p")


async def bulk_payment(im, settings, request_id: str, batch_id: str, instructions: list[dict]) -> dict:  # noqa: ANN001
    headers = {"X-Callback-URL": settings.callback_base + "/callbacks/bulk-payment"}
    return _v1_ok(await _call(im, PAYMENTS_G2P, "POST", "/bulk-payment", "Payments g2p",
                              json=_bulk_body(settings, request_id, batch_id, instructions), headers=headers),
                  "Payments g2p")


async def batch_detail(im, payments_batch_id: str) -> list[dict]:  # noqa: ANN001
    answer = await _call(im, PAYMENTS_G2P, "GET", "/api/v1/batch/detail", "Payments g2p",
                         params={"batchId": payments_batch_id, "pageSize": 1000})
    return answer.get("content", answer) if isinstance(answer, dict) else answer
