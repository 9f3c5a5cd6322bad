"""Payments: the 1.0 API the GovStack use cases call (Registerbeneficiary.yaml, UpdateBeneficiary.yaml,
Prepaymentvalidation.yaml, bulkpayment.yaml, VoucherAPIS.json). The spec's workflow: register payees, check and
pay a batch, and receive the batch's status callback (validated against v1_0_1_fixed_BulkPaymentStatusUpdate.yml)
on the kit's callback server; vouchers issued, activated, checked, redeemed at the fixture merchant and
cancelled. Known data: the conformance fixtures (sandbox/conformance/payments.yaml) and two payees with accounts
at the implementation's FSPs (PAYEES)."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from openapi_core.testing import MockRequest

from .kit import Probe, probe_invalid_input, require_coverage, run_scenarios, shorten
from .openapi import describe, load

REGISTER = "payments/Registerbeneficiary.yaml"
UPDATE = "payments/UpdateBeneficiary.yaml"
PREPAYMENT = "payments/Prepaymentvalidation.yaml"
BULK = "payments/bulkpayment.yaml"
VOUCHERS = "payments/VoucherAPIS.json"
STATUS_UPDATE = "payments/v1_0_1_fixed_BulkPaymentStatusUpdate.yml"
CALLBACK_PATH = "/api/v1/batch"  # the status update's path in its spec file
CALLBACK = f"POST {CALLBACK_PATH} (the status callback the kit receives)"

SOURCE = "USCTREGISTRY"  # SourceBBID: exactly 12 characters
# Residents of the sandbox's demo world with open accounts (services/payments/seed.yaml): functional id (20
# characters), payment modality, financial address.
PAYEES = [
    ("92093660264518066868", "00", "SNB9369006020"),
    ("21653318051389624059", "00", "HSB9487452680"),
]
CURRENCY = "USD"
ISSUER = "Gov_Stack_BB"
MERCHANT = {
    "merchant_name": "Melissa Stephenson",
    "merchant_bank_details": "Citizen Service Banks",
    "merchant_voucher_group": "Payment Voucher",
}
CALLBACK_SECONDS = 90.0
SCENARIO = "scenario: register, pay, status callback"


def request_id(prefix: str) -> str:
    """A fresh id of exactly 12 characters (RequestID, BatchID)."""
    return (prefix + uuid.uuid4().hex)[:12]


def beneficiaries(rid: str) -> dict:
    return {
        "RequestID": rid,
        "SourceBBID": SOURCE,
        "Beneficiaries": [
            {"PayeeFunctionalID": fid, "PaymentModality": modality, "FinancialAddress": address}
            for fid, modality, address in PAYEES
        ],
    }


def batch(rid: str, batch_id: str) -> dict:
    return {
        "RequestID": rid,
        "SourceBBID": SOURCE,
        "BatchID": batch_id,
        "CreditInstructions": [
            {
                "InstructionID": (f"i{n}" + uuid.uuid4().hex)[:16],
                "PayeeFunctionalID": fid,
                "Amount": 1.5,
                "Currency": CURRENCY,
                "Narration": "conformance kit",
            }
            for n, (fid, _, _) in enumerate(PAYEES)
        ],
    }


class CallbackServer:
    """Receives the implementation's callbacks: each POST's path, query and body, in a queue."""

    def __init__(self, host: str, port: int):
        received: queue.Queue = queue.Queue()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.put((self.path, dict(self.headers), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CallbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait(self, path: str, timeout: float) -> tuple[str, dict, bytes] | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                received = self.received.get(timeout=left)
            except queue.Empty:
                return None
            if received[0].split("?")[0] == path:
                return received
        return None


class PaymentsRun:
    def __init__(self, probe: Probe, callbacks: CallbackServer | None):
        self.probe = probe
        self.callbacks = callbacks

    def call(self, spec: str, method: str, path: str, name: str, **request: object) -> dict:
        return self.probe.call(load(spec), method, path, name=name, **request).json()

    def register_and_pay(self) -> None:
        registered = self.call(
            REGISTER, "POST", "/register-beneficiary", "register two payees", json=beneficiaries(request_id("reg"))
        )
        self.expect_code(registered, "registration acknowledged")
        moved = beneficiaries(request_id("upd"))
        self.call(UPDATE, "POST", "/update-beneficiary-details", "update the payees' details", json=moved)
        checked = self.call(
            PREPAYMENT,
            "POST",
            "/prepayment-validation",
            "validate a batch before paying",
            json=batch(request_id("pre"), request_id("bat")),
        )
        self.expect_code(checked, "prepayment validation passed")
        if self.callbacks is None:
            self.probe.step(SCENARIO, "the kit's callback server listens", False, "its port could not be bound")
        callback = f"{self.probe.config.callback_url}{CALLBACK_PATH}"
        batch_id = request_id("bat")
        paid = self.call(
            BULK,
            "POST",
            "/bulk-payment",
            "pay the batch, with a status callback",
            json=batch(request_id("pay"), batch_id),
            headers={"X-Callback-URL": callback},
        )
        self.expect_code(paid, "bulk payment accepted")
        self.expect_callback(batch_id)

    def expect_code(self, answer: dict, name: str) -> None:
        code = answer.get("ResponseCode")
        self.probe.step(SCENARIO, f"{name}: ResponseCode 00", code == "00", f"ResponseCode {code!r}: {answer}")

    def expect_callback(self, batch_id: str) -> None:
        received = self.callbacks.wait(CALLBACK_PATH, CALLBACK_SECONDS)
        self.probe.step(
            SCENARIO,
            "the batch's status callback arrives",
            received is not None,
            f"no POST to {self.probe.config.callback_url}{CALLBACK_PATH} within {CALLBACK_SECONDS:.0f} s",
        )
        path, headers, body = received
        url = httpx.URL(f"{self.probe.config.callback_url}{path}")
        request = MockRequest(
            host_url=self.probe.config.callback_url,
            method="post",
            path=url.path,
            args=dict(url.params),
            headers=headers,
            data=body,
            content_type=headers.get("Content-Type", "application/json"),
        )
        try:
            load(STATUS_UPDATE).openapi.validate_request(request)
            problems = []
        except Exception as exc:  # noqa: BLE001 - every openapi-core error is a finding to report
            problems = describe(exc)
        sent = f"POST {url}\n{shorten(body.decode(errors='replace'))}"
        self.probe.judge(CALLBACK, SCENARIO, "the status callback is a BulkPaymentStatusUpdate", problems, sent=sent)
        summary = json.loads(body)
        self.probe.step(
            SCENARIO,
            "the callback reports the batch with both payments completed",
            summary.get("batchId") is not None and summary.get("completed") == len(PAYEES),
            f"it says completed={summary.get('completed')}, failed={summary.get('failed')} for batch {batch_id}",
        )

    def vouchers(self) -> None:
        issue = {
            "voucher_amount": "2.50",
            "voucher_currency": "AED",
            "voucher_group": "Payment Voucher",
            "Gov_Stack_BB": ISSUER,
        }
        voucher = self.call(VOUCHERS, "POST", "/vouchers/voucher_preactivation", "issue a voucher", json=issue)
        serial = voucher["voucher_serial_number"]
        activation = {"voucher_serial_number": int(serial), "Gov_Stack_BB": ISSUER}
        self.call(VOUCHERS, "PATCH", "/vouchers/voucher_activation", "activate it", json=activation)
        status = self.call(VOUCHERS, "GET", f"/vouchers/voucherstatuscheck/{serial}", "check its status")
        self.probe.step(
            "scenario: vouchers",
            "the voucher is activated",
            status.get("voucher_status") == "Activated",
            f"its status is {status.get('voucher_status')!r}",
        )
        redemption = {
            "voucher_number": int(voucher["voucher_number"]),
            "Gov_Stack_BB": ISSUER,
            **MERCHANT,
            "override": False,
        }
        self.call(
            VOUCHERS, "POST", "/vouchers/voucher_redeemption", "redeem it at the fixture merchant", json=redemption
        )
        other = self.call(VOUCHERS, "POST", "/vouchers/voucher_preactivation", "issue another voucher", json=issue)
        cancel = {"voucherserialnumber": other["voucher_serial_number"], "Gov_Stack_BB": ISSUER}
        self.call(
            VOUCHERS,
            "PATCH",
            f"/vouchers/voucherstatuscheck/{other['voucher_serial_number']}",
            "cancel it",
            json=cancel,
        )


def refused_in_body(response: httpx.Response) -> str | None:
    """Prepaymentvalidation.yaml documents one answer, 200: invalid input is ResponseCode 01 in it."""
    try:
        code = response.json().get("ResponseCode")
    except (ValueError, AttributeError):
        code = None
    if response.status_code == 200 and code == "01":
        return None
    return f"expected 200 with ResponseCode 01 (the one answer the file documents), got {response.status_code} {code!r}"


@contextmanager
def callback_server(probe: Probe) -> Iterator[CallbackServer | None]:
    try:
        server = CallbackServer(probe.config.callback_host, probe.config.callback_port)
    except OSError:
        yield None
        return
    with server:
        yield server


def run(probe: Probe) -> None:
    with callback_server(probe) as callbacks:
        payments = PaymentsRun(probe, callbacks)
        run_scenarios(probe, [payments.register_and_pay, payments.vouchers])
    for name in (REGISTER, UPDATE, BULK, VOUCHERS):
        probe_invalid_input(probe, load(name), known={"voucherserialnumber": "5555"})
    probe_invalid_input(probe, load(PREPAYMENT), expect={"POST /prepayment-validation": refused_in_body})
    for name in (REGISTER, UPDATE, PREPAYMENT, BULK, VOUCHERS):
        require_coverage(probe, load(name))
