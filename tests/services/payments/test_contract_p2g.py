"""Contract tests of the P2G operations the hub serves (`api/P2G API YAMLs`): billInquiryRequest,
billPaymentRequest, markBillPpaymentResponse, billerRtpReq and rtpStatusUpdateRequest, positive and negative,
each answer validated against its file with openapi-core. The files the hub only sends (to billers and payer
FIs) are not operations of the hub. Request ids here have at most 12 characters: the files allow 20 in the
X-CorrelationID header but 12 in the echoed `requestId` (README, P2G choices)."""

from __future__ import annotations

import httpx
import pytest

from tests.support import IMSigner, LiveServer, wait_until

from .contract import P2G_FILES, Contract
from .p2g_support import DIRECT_PREFIX, OWNER, PAYER_FI, PAYMENTS, PERMIT, FakeBiller, Hub
from .support import make_app

PAYER_FI_HEADERS = {"X-Platform-TenantId": "sandbox", "X-PayerFI-Id": PAYER_FI}
BILLER_HEADERS = {"X-Platform-TenantId": "sandbox", "X-billerId": "MUNI-SBX"}


@pytest.fixture
def hub(db_fields, tmp_path):
    with FakeBiller() as biller:
        app = make_app(db_fields, tmp_path, im_url=biller.url, im_client=PAYMENTS, p2g_ack_wait_seconds=5)
        with LiveServer(app) as server:
            biller.hub_url = server.url
            signer = IMSigner(PERMIT)
            with signer.attach(httpx.Client(base_url=server.url, timeout=30), app) as http:
                yield Hub(app, http, biller)


def inquiry_headers(correlation_id: str) -> dict:
    return {"X-CorrelationID": correlation_id, "Platform-TenantId": "sandbox", "PayerFI-Id": PAYER_FI}


def test_bill_inquiry(hub):
    contract = Contract(hub.http, P2G_FILES / "billInquiryRequest.yml")
    hub.biller.add_bill("MSC-CONTRACT0001", 150)
    found = contract.call("GET", "/bills/MSC-CONTRACT0001?fields=inquiry", 202, headers=inquiry_headers("inq000000001"))
    assert found.json()["responseCode"] == "00" and found.json()["billDetails"]["amountonDueDate"] == 150
    unknown = contract.call("GET", "/bills/MSC-NOBILL000001?fields=inquiry", 202, headers=inquiry_headers("inq2"))
    assert unknown.json()["code"] == "01"
    contract.call("GET", "/bills/XYZ-1?fields=inquiry", 400, headers=inquiry_headers("inq3"))
    contract.call("GET", "/bills/MSC-CONTRACT0001?fields=inquiry", 400, headers={"PayerFI-Id": PAYER_FI})
    contract.assert_every_operation_covered()


def test_bill_payment_and_the_billers_status(hub):
    payment = Contract(hub.http, P2G_FILES / "billPaymentRequest.yml")
    status = Contract(hub.http, P2G_FILES / "markBillPpaymentResponse.yml")
    hub.biller.mark_script = ["accept without status"]  # the status update is sent below, through the contract
    hub.biller.add_bill("MSC-CONTRACT0002", 40)
    hub.fund_payer_fi("100")
    hub.inquire("MSC-CONTRACT0002", "inq000000002")
    body = {"requestId": "pay000000002", "billInquiryRequestId": "inq000000002", "billId": "MSC-CONTRACT0002"}
    paid = payment.call(
        "POST",
        "/billTransferRequests",
        202,
        json={**body, "paymentReferenceID": "PRF0000000002"},
        headers={"X-CorrelationID": "pay000000002", **PAYER_FI_HEADERS},
    )
    assert paid.json()["responseCode"] == "00"
    never_inquired = {**body, "requestId": "pay000000003", "billInquiryRequestId": "nope"}
    payment.call(
        "POST",
        "/billTransferRequests",
        400,
        json={**never_inquired, "paymentReferenceID": "PRF3"},
        headers={"X-CorrelationID": "pay000000003", **PAYER_FI_HEADERS},
    )
    payment.assert_every_operation_covered()

    hub.biller.wait_for("mark")
    update = {"requestId": "pay000000002", "billId": "MSC-CONTRACT0002", "status": "ACK"}
    headers = {"X-CorrelationID": "sta000000002", "X-Platform-TenantId": "sandbox"}
    status.call("POST", "/billTransferRequests", 202, json=update, headers=headers)
    assert wait_until(lambda: hub.payment("MSC-CONTRACT0002").status == "acknowledged", 10)
    status.call("POST", "/billTransferRequests", 400, json={**update, "billId": "MSC-NEVERPAID01"}, headers=headers)
    status.assert_every_operation_covered()
    hub.check_ledger()


def test_request_to_pay_and_its_status(hub):
    request_to_pay = Contract(hub.http, P2G_FILES / "billerRtpReq.yml")
    rtp_status = Contract(hub.http, P2G_FILES / "rtpStatusUpdateRequest.yml")
    hub.biller.add_bill("MSC-CONTRACT0003", 80)
    accepted = request_to_pay.call(
        "POST",
        "/rtpRequest",
        200,
        headers={
            "X-CorrelationID": "rtp000000001",
            "X-Callback-URL": f"{hub.biller.url}{DIRECT_PREFIX}/rtpUpdate",
            **BILLER_HEADERS,
        },
        json={
            "requestId": "rtp000000001",
            "rtpId": 3001,
            "billID": "MSC-CONTRACT0003",
            "requestType": "00",
            "payerFiDetails": {"payerFIBIC": "SBXNBANK001", "financialAddress": ""},
            "alias": {"aliasType": "00", "aliasId": OWNER["phone_number"]},
            "billDetails": {"billerName": "SandboxCty", "amount": 80},
        },
    )
    assert accepted.json()["responseCode"] == "00"
    request_to_pay.assert_every_operation_covered()

    pending = rtp_status.call(
        "GET", "/transferRequests/3001", 202, headers={"X-CorrelationID": "sta1", **BILLER_HEADERS}
    )
    assert pending.json()["rtpStatus"] == "PENDING"
    rtp_status.call("GET", "/transferRequests/9999", 400, headers={"X-CorrelationID": "sta2", **BILLER_HEADERS})
    rtp_status.assert_every_operation_covered()
