"""Contract tests: every documented operation of the Payments 1.0 files (bulkpayment.yaml,
Prepaymentvalidation.yaml, Registerbeneficiary.yaml, UpdateBeneficiary.yaml, VoucherAPIS.json), positive and
negative, each answer validated against the file with openapi-core. Payments is called as GovStack's checks
call it in the conformance profile (directly, no IM caller), with the conformance fixtures loaded.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from services.payments.conformance import apply_fixtures, read_fixtures
from services.payments.ledger.models import LedgerAccount
from services.payments.seed import load_seed, resident_accounts
from services.payments.settings import DEFAULT_SEED_FILE

from .contract import V1_FILES, Contract
from .support import SOURCE, make_app, wait_settled

PAYEES = [r for r in resident_accounts(load_seed(DEFAULT_SEED_FILE)) if r["status"] == "open"][:2]


@pytest.fixture
def direct(db_fields, tmp_path):
    app = make_app(db_fields, tmp_path, require_im_assertion=False)
    with TestClient(app) as client:
        with app.state.db.session() as session:
            apply_fixtures(session, app.state.settings, read_fixtures())
        yield client


def beneficiaries(request_id: str, payees: list[dict] = PAYEES) -> dict:
    return {
        "RequestID": request_id,
        "SourceBBID": SOURCE,
        "Beneficiaries": [
            {
                "PayeeFunctionalID": p["functional_id"],
                "PaymentModality": p["modality"],
                "FinancialAddress": p["address"],
            }
            for p in payees
        ],
    }


def batch(request_id: str, batch_id: str, amount: float = 12.5) -> dict:
    return {
        "RequestID": request_id,
        "SourceBBID": SOURCE,
        "BatchID": batch_id,
        "CreditInstructions": [
            {
                "InstructionID": f"ins{n:013d}",
                "PayeeFunctionalID": p["functional_id"],
                "Amount": amount,
                "Currency": "USD",
                "Narration": "benefit",
            }
            for n, p in enumerate(PAYEES)
        ],
    }


def test_register_and_update_beneficiary(direct):
    register = Contract(direct, V1_FILES / "Registerbeneficiary.yaml")
    update_file = Contract(direct, V1_FILES / "UpdateBeneficiary.yaml")
    ok = register.call("POST", "/register-beneficiary", 200, json=beneficiaries("reg000000001"))
    assert ok.json()["ResponseCode"] == "00"
    register.call("POST", "/register-beneficiary", 200, json=beneficiaries("reg000000001"))  # replay
    for bad in (
        {},
        beneficiaries("reg1"),
        {**beneficiaries("reg000000002"), "SourceBBID": "USCT"},
        beneficiaries("reg000000003", [{**PAYEES[0], "functional_id": PAYEES[0]["uin"]}]),
        beneficiaries("reg000000001", PAYEES[:1]),  # a reused RequestID with another body
    ):
        assert register.call("POST", "/register-beneficiary", 400, json=bad).json()["ResponseCode"] == "01"
    register.assert_every_operation_covered()

    moved = [{**PAYEES[0], "modality": PAYEES[1]["modality"], "address": PAYEES[1]["address"]}]
    assert update_file.call("POST", "/update-beneficiary-details", 200, json=beneficiaries("upd000000001", moved))
    for bad in ({"RequestID": "upd000000002"}, {**beneficiaries("upd000000003", moved), "RequestID": "u" * 13}):
        update_file.call("POST", "/update-beneficiary-details", 400, json=bad)
    update_file.assert_every_operation_covered()


def test_prepayment_validation(direct):
    contract = Contract(direct, V1_FILES / "Prepaymentvalidation.yaml")
    direct.post("/register-beneficiary", json=beneficiaries("reg000000001"))
    checked = contract.call("POST", "/prepayment-validation", 200, json=batch("pre000000001", "batch0000001"))
    assert checked.json()["ResponseCode"] == "00" and checked.json()["NumberFailedCases"] == 0
    too_short = {**batch("pre000000002", "batch0000002"), "SourceBBID": "USCT"}
    for bad, headers in (
        (too_short, {}),
        ({}, {}),
        (batch("pre000000001", "batch0000009"), {}),  # a reused RequestID with another body
        (batch("pre000000003", "batch0000003"), {"X-Program-Id": "NO-SUCH"}),
    ):
        refused = contract.call("POST", "/prepayment-validation", 200, json=bad, headers=headers)
        assert refused.json()["ResponseCode"] == "01" and refused.json()["ResponseDescription"]
    contract.assert_every_operation_covered()


def test_bulk_payment(direct):
    contract = Contract(direct, V1_FILES / "bulkpayment.yaml")
    direct.post("/register-beneficiary", json=beneficiaries("reg000000001"))
    accepted = contract.call("POST", "/bulk-payment", 200, json=batch("pay000000001", "batch0000001"))
    assert accepted.json()["ResponseCode"] == "00" and accepted.json()["RequestID"] == "pay000000001"
    assert contract.call("POST", "/bulk-payment", 200, json=batch("pay000000001", "batch0000001")).json() == (
        accepted.json()
    )
    for bad in (
        batch("pay000000001", "batch0000001", amount=99),  # a reused RequestID with another body
        batch("pay000000002", "batch0000001"),  # a reused BatchID
        {**batch("pay000000003", "batch0000003"), "BatchID": "b3"},
        {**batch("pay000000004", "batch0000004"), "CreditInstructions": []},
        batch("pay000000005", "batch0000005", amount=-1),
    ):
        assert contract.call("POST", "/bulk-payment", 400, json=bad).json()["ResponseCode"] == "01"
    assert wait_settled(direct, accepted.json()["PaymentsBatchID"])["completed"] == 2
    contract.assert_every_operation_covered()


def preactivation(**changes: object) -> dict:
    body = {
        "voucher_amount": "15.21",
        "voucher_currency": "AED",
        "voucher_group": "string",
        "Gov_Stack_BB": "Gov_Stack_BB",
    }
    return body | changes


REDEEM_AT_MELISSA = {
    "Gov_Stack_BB": "Gov_Stack_BB",
    "merchant_name": "Melissa Stephenson",
    "merchant_bank_details": "Citizen Service Banks",
    "merchant_voucher_group": "Payment Voucher",
    "override": False,
}


def test_voucher_apis(direct):
    contract = Contract(direct, V1_FILES / "VoucherAPIS.json")
    preactivate = "/vouchers/voucher_preactivation"
    issued = contract.call("POST", preactivate, 200, json=preactivation()).json()
    for bad, status in (
        ({"voucher_currency": "AED"}, 400),
        (preactivation(voucher_amount=None), 452),
        (preactivation(voucher_amount="1.23456"), 452),
        (preactivation(voucher_currency="USD"), 453),
        (preactivation(voucher_group=None), 454),
        (preactivation(voucher_group="no such group"), 454),
        (preactivation(Gov_Stack_BB="no-such-bb"), 460),
    ):
        contract.call("POST", preactivate, status, json=bad)
    agr = {"voucher_amount": "5", "voucher_currency": "USD", "voucher_group": "AGR", "Gov_Stack_BB": "USCT"}
    for _ in range(3):
        contract.call("POST", preactivate, 200, json=agr)
    contract.call("POST", preactivate, 455, json=agr)

    activate = "/vouchers/voucher_activation"
    serial = issued["voucher_serial_number"]
    contract.call("PATCH", activate, 200, json={"voucher_serial_number": int(serial), "Gov_Stack_BB": "Gov_Stack_BB"})
    contract.call("PATCH", activate, 200, json={"voucher_serial_number": 5550, "Gov_Stack_BB": "bb-digital-registries"})
    contract.call("PATCH", activate, 400, json={"Gov_Stack_BB": "Gov_Stack_BB"})
    contract.call("PATCH", activate, 456, json={"voucher_serial_number": 1, "Gov_Stack_BB": "Gov_Stack_BB"})
    contract.call("PATCH", activate, 456, json={"voucher_serial_number": None, "Gov_Stack_BB": "Gov_Stack_BB"})
    contract.call("PATCH", activate, 460, json={"voucher_serial_number": 5551, "Gov_Stack_BB": "no-such-bb"})

    redeem = "/vouchers/voucher_redeemption"  # the file's spelling
    paid = contract.call("POST", redeem, 200, json={"voucher_number": 6004, **REDEEM_AT_MELISSA}).json()
    assert paid["result_status"] == "Redeemed"
    contract.call("POST", redeem, 400, json={"voucher_number": 6004})
    contract.call("POST", redeem, 460, json={"voucher_number": 6004, **REDEEM_AT_MELISSA, "Gov_Stack_BB": "no-such-bb"})
    contract.call("POST", redeem, 461, json={"voucher_number": 6004, **REDEEM_AT_MELISSA})  # used now
    contract.call("POST", redeem, 461, json={"voucher_number": None, **REDEEM_AT_MELISSA})
    secret = int(issued["voucher_number"])  # group `string`: Melissa takes only `Payment Voucher`
    contract.call("POST", redeem, 463, json={"voucher_number": secret, **REDEEM_AT_MELISSA})
    with direct.app.state.db.session() as session:  # the programme's fund runs dry (test set-up)
        session.execute(
            update(LedgerAccount).where(LedgerAccount.code == "FUND:CONFAED:AED").values(balance=Decimal(1))
        )
    contract.call("POST", redeem, 462, json={"voucher_number": secret, **REDEEM_AT_MELISSA, "override": True})

    status = "/vouchers/voucherstatuscheck/{}"
    assert contract.call("GET", status.format("5552"), 200).json()["voucher_status"] == "Pre-Activated"
    assert contract.call("GET", status.format(serial), 200).json()["voucher_status"] == "Activated"
    contract.call("GET", status.format("no-such-serial"), 456)
    contract.call("GET", status.format("6001"), 458)
    contract.call("GET", status.format("6002"), 459)
    contract.call("GET", status.format("9" * 30), 400)

    cancel = {"voucherserialnumber": "5556", "Gov_Stack_BB": "Gov_Stack_BB"}
    assert contract.call("PATCH", status.format("5556"), 200, json=cancel).json()["message"]
    contract.call("PATCH", status.format("5556"), 464, json=cancel)
    contract.call("PATCH", status.format("5557"), 400, json={"Gov_Stack_BB": "Gov_Stack_BB"})
    contract.call("PATCH", status.format("5557"), 400, json={**cancel, "voucherserialnumber": "5558"})
    contract.call(
        "PATCH", status.format("5557"), 463, json={**cancel, "voucherserialnumber": "5557", "Gov_Stack_BB": "x"}
    )
    contract.call("PATCH", status.format("0000"), 463, json={**cancel, "voucherserialnumber": "0000"})
    assert contract.call("GET", status.format("5556"), 200).json()["voucher_status"] == "Purged"
    contract.assert_every_operation_covered()
