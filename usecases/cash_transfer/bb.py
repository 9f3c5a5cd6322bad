"""The building-block calls, each through the Information Mediator with this use case's IM identity."""

from __future__ import annotations

from services.common.errors import APIError
from services.common.im_client import IMClient
from usecases.common import bb as shared
from usecases.common.bb import call

from .settings import CashTransferSettings


def verify_consents(im: IMClient, settings: CashTransferSettings, uins: list[str]) -> dict[str, bool]:
    return shared.verify_consents(im, settings, settings.data_agreement_id, uins)


def create_consent_request(im: IMClient, settings: CashTransferSettings, uin: str) -> str:
    return shared.create_consent_request(im, settings, settings.data_agreement_id, uin)


def read_agreement(im: IMClient, settings: CashTransferSettings) -> dict:
    return shared.read_agreement(im, settings, settings.data_agreement_id)


def set_consent(
    im: IMClient,
    settings: CashTransferSettings,
    record_id: str | None,
    uin: str,
    opt_in: bool,
    evidence: dict,
    proof: str | None,
) -> str:
    return shared.set_consent(im, settings, settings.data_agreement_id, record_id, uin, opt_in, evidence, proof)


def subject_matches(im: IMClient, settings: CashTransferSettings, uin: str, sub: str) -> bool:
    return shared.subject_matches(im, settings, uin, sub)


# Payments ---------------------------------------------------------------------------------------------------


def _v1_ok(answer: dict, bb: str) -> dict:
    if str(answer.get("ResponseCode")) != "00":
        raise APIError(502, {"error": "building_block_error", "message": f"{bb}: {answer.get('ResponseDescription')}"})
    return answer


def register_beneficiary(
    im: IMClient,
    settings: CashTransferSettings,
    request_id: str,
    functional_id: str,
    phone: str,
) -> dict:
    body = {
        "RequestID": request_id,
        "SourceBBID": settings.source_bb_id,
        "Beneficiaries": [
            {"PayeeFunctionalID": functional_id, "PaymentModality": "01", "FinancialAddress": phone.replace(" ", "")}
        ],
    }
    headers = {"X-Callback-URL": settings.callback_base + "/callbacks/register-beneficiary"}
    return _v1_ok(
        call(
            im,
            settings.payments_mapper_service,
            "POST",
            "/register-beneficiary",
            "Payments mapper",
            json=body,
            headers=headers,
        ),
        "Payments mapper",
    )


def _bulk_body(settings: CashTransferSettings, request_id: str, batch_id: str, instructions: list[dict]) -> dict:
    return {
        "RequestID": request_id,
        "SourceBBID": settings.source_bb_id,
        "BatchID": batch_id,
        "CreditInstructions": instructions,
    }


def prepayment_validation(
    im: IMClient, settings: CashTransferSettings, request_id: str, batch_id: str, instructions: list[dict]
) -> dict:
    return _v1_ok(
        call(
            im,
            settings.payments_g2p_service,
            "POST",
            "/prepayment-validation",
            "Payments g2p",
            json=_bulk_body(settings, request_id, batch_id, instructions),
        ),
        "Payments g2p",
    )


def bulk_payment(
    im: IMClient, settings: CashTransferSettings, request_id: str, batch_id: str, instructions: list[dict]
) -> dict:
    headers = {"X-Callback-URL": settings.callback_base + "/callbacks/bulk-payment"}
    return _v1_ok(
        call(
            im,
            settings.payments_g2p_service,
            "POST",
            "/bulk-payment",
            "Payments g2p",
            json=_bulk_body(settings, request_id, batch_id, instructions),
            headers=headers,
        ),
        "Payments g2p",
    )


def batch_detail(im: IMClient, settings: CashTransferSettings, payments_batch_id: str) -> list[dict]:
    answer = call(
        im,
        settings.payments_g2p_service,
        "GET",
        "/api/v1/batch/detail",
        "Payments g2p",
        params={"batchId": payments_batch_id, "pageSize": 1000},
    )
    return answer.get("content", answer) if isinstance(answer, dict) else answer
