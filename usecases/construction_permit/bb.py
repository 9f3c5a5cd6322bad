"""The building-block calls of the permit journey, each through the IM as MUNICIPALITY/CONSTRUCTION-PERMIT."""

from __future__ import annotations

from services.common.im_client import IMClient
from usecases.common import bb

from .settings import ConstructionPermitSettings

# Identity ---------------------------------------------------------------------------------------------------


def check_people(
    im: IMClient, settings: ConstructionPermitSettings, applicant_sub: str, people: dict[str, tuple[str, str]]
) -> dict[str, tuple[bool, bool]]:
    """role -> (vid, name) becomes role -> (the VID exists with this name, the VID's person is the applicant:
    `subject_matches` with the applicant's pairwise `sub`). Only yes/no answers leave Identity."""
    answers = {}
    for role, (vid, name) in people.items():
        predicates = [
            {"type": "exists", "value": True},
            {"type": "name_matches", "value": name},
            bb.subject_predicate(settings, applicant_sub),
        ]
        exists, named, mine = (bb.verify_person(im, settings, vid, predicates) + [False] * 3)[:3]
        answers[role] = (exists and named, mine)
    return answers


def is_person(im: IMClient, settings: ConstructionPermitSettings, vid: str, sub: str) -> bool:
    """Is the person behind this party's VID the one logged in with this `sub`?"""
    return bb.subject_matches(im, settings, vid, sub)


# Consent ----------------------------------------------------------------------------------------------------


def ask_owner_consent(im: IMClient, settings: ConstructionPermitSettings, owner_vid: str) -> str:
    """Consent knows residents by UIN, which never leaves Identity: the owner is registered by VID."""
    bb.ensure_individual(im, settings, owner_vid, "vid")
    return bb.create_consent_request(im, settings, settings.owner_agreement_id, owner_vid)


def set_owner_consent(
    im: IMClient,
    settings: ConstructionPermitSettings,
    record_id: str,
    owner_vid: str,
    given: bool,
    evidence: dict,
    proof: str | None,
) -> None:
    """The owner's own decision, with their proof (the signed userinfo of their login)."""
    bb.set_consent(im, settings, settings.owner_agreement_id, record_id, owner_vid, given, evidence, proof)


def owner_consent_valid(im: IMClient, settings: ConstructionPermitSettings, owner_vid: str) -> bool:
    return (bb.verify_consents(im, settings, settings.owner_agreement_id, [owner_vid])).get(owner_vid, False)


def owner_agreement(im: IMClient, settings: ConstructionPermitSettings) -> dict:
    answer = bb.read_agreement(im, settings, settings.owner_agreement_id)
    return answer.get("dataAgreement", answer)


# Payments (P2G) ---------------------------------------------------------------------------------------------


def send_request_to_pay(
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
    answer = bb.call(
        im, settings.payments_p2g_service, "POST", "/rtpRequest", "Payments p2g", ok=(200,), json=body, headers=headers
    )
    if answer.get("responseCode") != "00":
        raise bb.BBError("Payments p2g", None, answer.get("responseDescription") or "request to pay refused")
