"""The building-block calls of the permit journey, each through the IM as MUNICIPALITY/CONSTRUCTION-PERMIT."""

from __future__ import annotations

import uuid

from services.common.im_client import IMClient
from usecases.common import bb
from usecases.common.settings import IDENTITY_VERIFICATION

from .settings import PAYMENTS_P2G, ConstructionPermitSettings

# Identity ---------------------------------------------------------------------------------------------------


async def _verify(im: IMClient, vid: str, predicates: list[dict]) -> list[bool]:
    answer = await bb.call(
        im,
        IDENTITY_VERIFICATION,
        "POST",
        "/v1/verification",
        "Identity",
        ok=(200,),
        json={"requestId": uuid.uuid4().hex, "individualId": vid, "predicates": predicates},
    )
    return [bool(r.get("result")) for r in answer.get("results", [])]


async def check_people(im: IMClient, people: dict[str, tuple[str, str, str]]) -> dict[str, tuple[bool, bool]]:
    """role -> (vid, name, applicant's e-mail) becomes role -> (the VID exists with this name,
    the VID is the applicant's own). Only yes/no answers leave Identity."""
    answers = {}
    for role, (vid, name, email) in people.items():
        predicates = [{"type": "exists", "value": True}, {"type": "name_matches", "value": name}]
        if email:
            predicates.append({"type": "email_matches", "value": email})
        results = await _verify(im, vid, predicates) + [False]
        answers[role] = (results[0] and results[1], bool(email) and results[2])
    return answers


async def email_matches(im: IMClient, vid: str, email: str) -> bool:
    return bool(email) and all(await _verify(im, vid, [{"type": "email_matches", "value": email}]))


# Consent ----------------------------------------------------------------------------------------------------


async def ask_owner_consent(im: IMClient, settings: ConstructionPermitSettings, owner_vid: str) -> str:
    """Consent knows residents by UIN, which never leaves Identity: the owner is registered by VID."""
    await bb.ensure_individual(im, owner_vid, "vid")
    return await bb.create_consent_request(im, settings.owner_agreement_id, owner_vid)


async def set_owner_consent(im: IMClient, record_id: str, owner_vid: str, given: bool, evidence: dict) -> None:
    await bb.set_consent(im, record_id, owner_vid, given, evidence)


async def owner_consent_valid(im: IMClient, settings: ConstructionPermitSettings, owner_vid: str) -> bool:
    return (await bb.verify_consents(im, settings.owner_agreement_id, [owner_vid])).get(owner_vid, False)


async def owner_agreement(im: IMClient, settings: ConstructionPermitSettings) -> dict:
    answer = await bb.read_agreement(im, settings.owner_agreement_id)
    return answer.get("dataAgreement", answer)


# Payments (P2G) ---------------------------------------------------------------------------------------------


async def send_request_to_pay(
    im: IMClient,
    settings: ConstructionPermitSettings,
    rtp_id: int,
    bill_id: str,
    amount: int,
    payer_vid: str,
) -> None:
    """billerRtpReq to the hub; the payer's bank is found by the VID alias. Idempotent per rtpId."""
    headers = {
        "X-CorrelationID": f"rtp-{rtp_id}",
        "X-Platform-TenantId": settings.tenant,
        "X-billerId": settings.biller_id,
        "X-Callback-URL": settings.callback_base + "/rtpUpdate",
    }
    body = {
        "requestId": f"rtp{rtp_id}"[:12],
        "rtpId": rtp_id,
        "billID": bill_id,
        "requestType": "00",
        "payerFiDetails": {"payerFIBIC": "SBXNBANK001", "financialAddress": ""},
        "alias": {"aliasType": "01", "aliasId": payer_vid},
        "billDetails": {"billerName": settings.biller_name, "amount": amount},
    }
    answer = await bb.call(
        im, PAYMENTS_P2G, "POST", "/rtpRequest", "Payments p2g", ok=(200,), json=body, headers=headers
    )
    if answer.get("responseCode") != "00":
        raise bb.BBError("Payments p2g", None, answer.get("responseDescription") or "request to pay refused")
