"""The Payments findings of CONFORMANCE.md, each fixed in the API itself (for every caller).

Lengths are exact in the 1.0 files (12-character ids, 16-character instruction ids, 20-character payee
functional ids); a reused RequestID with another body is refused; `/prepayment-validation` answers 200 with
ResponseCode "01" for invalid input; the 1.0 voucher API's status codes follow VoucherAPIS.json.
"""

from __future__ import annotations

import pytest

from services.payments.seed import load_seed, resident_accounts
from services.payments.settings import DEFAULT_SEED_FILE

from .support import SOURCE, register, wait_settled

RESIDENTS = resident_accounts(load_seed(DEFAULT_SEED_FILE))
PAYEE = next(r for r in RESIDENTS if r["status"] == "open")
OTHER_PAYEE = [r for r in RESIDENTS if r["status"] == "open"][1]
BB = "USCT"


def instruction(instruction_id: str = "ins0000000000001", payee: str = PAYEE["functional_id"], amount=10) -> dict:
    return {"InstructionID": instruction_id, "PayeeFunctionalID": payee, "Amount": amount, "Currency": "USD"}


def batch(request_id: str = "pay000000001", batch_id: str = "batch0000001", **changes) -> dict:
    body = {
        "RequestID": request_id,
        "SourceBBID": SOURCE,
        "BatchID": batch_id,
        "CreditInstructions": [instruction()],
    }
    return body | changes


def registration(request_id: str = "reg000000001", payee: dict = PAYEE, **changes) -> dict:
    beneficiary = {
        "PayeeFunctionalID": payee["functional_id"],
        "PaymentModality": payee["modality"],
        "FinancialAddress": payee["address"],
    }
    return {"RequestID": request_id, "SourceBBID": SOURCE, "Beneficiaries": [beneficiary]} | changes


def register_payees(client) -> None:
    register(client, [(r["functional_id"], r["modality"], r["address"]) for r in (PAYEE, OTHER_PAYEE)])


def test_demo_world_functional_ids_have_the_spec_format():
    ids = [r["functional_id"] for r in RESIDENTS]
    assert all(len(i) == 20 for i in ids) and len(set(ids)) == len(ids)
    assert not {r["uin"] for r in RESIDENTS} & set(ids)


SHORT_OR_LONG = [
    ("RequestID", "pay00000001"),
    ("RequestID", "pay0000000001"),
    ("SourceBBID", "USCT"),
    ("BatchID", "b9"),
]
SHORT_INSTRUCTION = [
    ("InstructionID", "ins000000000001"),
    ("InstructionID", "ins00000000000001"),
    ("PayeeFunctionalID", PAYEE["uin"]),
    ("PayeeFunctionalID", PAYEE["functional_id"] + "0"),
]


@pytest.mark.parametrize(("field", "value"), SHORT_OR_LONG + SHORT_INSTRUCTION)
def test_bulk_payment_enforces_exact_lengths(client, field, value):
    body = batch()
    if field in body:
        body[field] = value
    else:
        body["CreditInstructions"] = [instruction() | {field: value}]
    response = client.post("/bulk-payment", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["ResponseCode"] == "01" and field in response.json()["ResponseDescription"]


@pytest.mark.parametrize(("field", "value"), SHORT_OR_LONG + SHORT_INSTRUCTION)
def test_prepayment_validation_answers_invalid_lengths_with_200_and_code_01(client, field, value):
    body = batch("pre000000001")
    if field in body:
        body[field] = value
    else:
        body["CreditInstructions"] = [instruction() | {field: value}]
    response = client.post("/prepayment-validation", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["ResponseCode"] == "01" and field in response.json()["ResponseDescription"]


@pytest.mark.parametrize("path", ["/register-beneficiary", "/update-beneficiary-details"])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("RequestID", "reg00000001"),
        ("SourceBBID", "USCT"),
        ("PayeeFunctionalID", PAYEE["uin"]),
        ("PaymentModality", "1"),
    ],
)
def test_beneficiary_requests_enforce_exact_lengths(client, path, field, value):
    body = registration()
    if field in body:
        body[field] = value
    else:
        body["Beneficiaries"] = [body["Beneficiaries"][0] | {field: value}]
    response = client.post(path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["ResponseCode"] == "01" and field in response.json()["ResponseDescription"]


def test_an_error_echoes_the_request_id_only_in_its_documented_format(client):
    short = client.post("/register-beneficiary", json=registration(RequestID="reg1"))
    assert short.status_code == 400 and "RequestID" not in short.json()
    unknown = client.post("/register-beneficiary", json=registration(SourceBBID="USCT"))
    assert unknown.status_code == 400 and unknown.json()["RequestID"] == "reg000000001"


def test_bulk_payment_refuses_a_reused_request_id_with_another_body(client):
    register_payees(client)
    first = client.post("/bulk-payment", json=batch())
    assert first.status_code == 200
    replay = client.post("/bulk-payment", json=batch())
    assert replay.status_code == 200 and replay.json() == first.json()
    other = batch(CreditInstructions=[instruction(payee=OTHER_PAYEE["functional_id"], amount=99)])
    conflict = client.post("/bulk-payment", json=other)
    assert conflict.status_code == 400
    assert conflict.json()["ResponseCode"] == "01" and "RequestID" in conflict.json()["ResponseDescription"]
    summary = wait_settled(client, first.json()["PaymentsBatchID"])
    assert summary["TotalTransactions"] == 1 and summary["totalAmount"] == 10


def test_a_reused_request_id_is_validated_before_it_is_replayed(client):
    register_payees(client)
    assert client.post("/bulk-payment", json=batch()).status_code == 200
    invalid = batch(CreditInstructions=[instruction(amount=-1)])
    assert client.post("/bulk-payment", json=invalid).status_code == 400


def test_prepayment_validation_refuses_a_reused_request_id_with_another_body(client):
    register_payees(client)
    first = client.post("/prepayment-validation", json=batch("pre000000001"))
    assert first.status_code == 200 and first.json()["ResponseCode"] == "00"
    assert client.post("/prepayment-validation", json=batch("pre000000001")).json() == first.json()
    conflict = client.post("/prepayment-validation", json=batch("pre000000001", "batch0000002"))
    assert conflict.status_code == 200
    assert conflict.json()["ResponseCode"] == "01" and "RequestID" in conflict.json()["ResponseDescription"]


@pytest.mark.parametrize("path", ["/register-beneficiary", "/update-beneficiary-details"])
def test_mapper_refuses_a_reused_request_id_with_another_body(client, path):
    register(client, [(OTHER_PAYEE["functional_id"], OTHER_PAYEE["modality"], OTHER_PAYEE["address"])], "reg000000009")
    first = client.post(path, json=registration())
    assert first.status_code == 200
    assert client.post(path, json=registration()).json() == first.json()
    conflict = client.post(path, json=registration(payee=OTHER_PAYEE))
    assert conflict.status_code == 400
    assert conflict.json()["ResponseCode"] == "01" and "RequestID" in conflict.json()["ResponseDescription"]


def test_prepayment_validation_answers_every_invalid_input_with_200_and_code_01(client):
    for body in (
        {},
        [1, 2],
        batch("pre000000002", CreditInstructions=[]),
        batch("pre000000003", CreditInstructions=[instruction(), instruction()]),  # duplicate instruction id
    ):
        response = client.post("/prepayment-validation", json=body)
        assert response.status_code == 200, (body, response.text)
        answer = response.json()
        assert answer["ResponseCode"] == "01" and answer["ResponseDescription"]
    unknown_programme = client.post(
        "/prepayment-validation", json=batch("pre000000004"), headers={"X-Program-Id": "NOPE"}
    )
    assert unknown_programme.status_code == 200 and unknown_programme.json()["ResponseCode"] == "01"
    assert unknown_programme.json()["RequestID"] == "pre000000004"


def test_prepayment_validation_response_accepts_source_batch_id(client):
    register_payees(client)
    client.post("/prepayment-validation", json=batch("pre000000001", "batch0000042"))
    for key in ("BatchID", "Source_BatchID"):
        fetched = client.post(
            "/prepayment-validation-response", json={"RequestID": "pre000000002", key: "batch0000042"}
        )
        assert fetched.status_code == 200, (key, fetched.text)
        assert fetched.json()["BatchID"] == "batch0000042"


def preactivate(client, **changes):
    body = {"voucher_amount": "25", "voucher_currency": "USD", "voucher_group": "FDV", "Gov_Stack_BB": BB}
    return client.post("/vouchers/voucher_preactivation", json=body | changes)


def test_preactivation_codes_a_present_but_invalid_value_by_its_field(client):
    assert preactivate(client, voucher_amount=None).status_code == 452
    assert preactivate(client, voucher_group=None).status_code == 454
    assert preactivate(client, voucher_currency=None).status_code == 453
    missing = client.post("/vouchers/voucher_preactivation", json={"voucher_currency": "USD", "Gov_Stack_BB": BB})
    assert missing.status_code == 400 and "voucher_amount" in missing.json()["message"]


def test_status_of_a_well_formed_serial_naming_no_voucher_is_456(client):
    for serial in ("123", "abc", "SERIAL-0001"):
        response = client.get(f"/vouchers/voucherstatuscheck/{serial}")
        assert response.status_code == 456 and response.json() == {"message": "invalid voucher number"}


def test_cancellation_answers_only_its_documented_codes(client):
    serial = preactivate(client).json()["voucher_serial_number"]
    cancel = f"/vouchers/voucherstatuscheck/{serial}"
    unknown_bb = client.patch(cancel, json={"voucherserialnumber": serial, "Gov_Stack_BB": "NO-SUCH-BB"})
    assert unknown_bb.status_code == 463
    no_serial_in_body = client.patch(cancel, json={"Gov_Stack_BB": BB})
    assert no_serial_in_body.status_code == 400 and "voucherserialnumber" in no_serial_in_body.json()["message"]
    null_serial = client.patch(cancel, json={"voucherserialnumber": None, "Gov_Stack_BB": BB})
    assert null_serial.status_code == 400
    unknown = client.patch(
        "/vouchers/voucherstatuscheck/SERIAL-0001", json={"voucherserialnumber": "SERIAL-0001", "Gov_Stack_BB": BB}
    )
    assert unknown.status_code == 463
    assert client.patch(cancel, json={"voucherserialnumber": serial, "Gov_Stack_BB": BB}).status_code == 200
    assert client.patch(cancel, json={"voucherserialnumber": serial, "Gov_Stack_BB": BB}).status_code == 464


def test_preactivation_refuses_a_reused_correlation_id_with_another_body(client):
    headers = {"X-CorrelationID": "0b5e7bd4-7c1f-4b7e-9d0a-3c1c2f6d1e01"}
    first = client.post(
        "/vouchers/voucher_preactivation",
        headers=headers,
        json={"voucher_amount": "25", "voucher_currency": "USD", "voucher_group": "FDV", "Gov_Stack_BB": BB},
    )
    again = client.post(
        "/vouchers/voucher_preactivation",
        headers=headers,
        json={"voucher_amount": "25", "voucher_currency": "USD", "voucher_group": "FDV", "Gov_Stack_BB": BB},
    )
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    other = client.post(
        "/vouchers/voucher_preactivation",
        headers=headers,
        json={"voucher_amount": "30", "voucher_currency": "USD", "voucher_group": "FDV", "Gov_Stack_BB": BB},
    )
    assert other.status_code == 400 and "X-CorrelationID" in other.json()["message"]
