"""P2G test support: `FakeBiller`, the municipality's side of the P2G contract served with LiveServer (answers
bill inquiries, answers mark-bill-paid as scripted: HTTP 500, accepted without a status, ACK, RJC, and POSTs
its status update back to the hub; records rtpUpdate and rtpStatusUpdateResponse); `Hub`, the hub driven as a
payer FI; `Bank`, a browser on the bank pages."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import httpx
from fastapi import APIRouter, BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from services.common import demo_world
from services.common.assertion import ASSERTION_HEADER
from services.payments.accounts import fsp_settlement_account, treasury_account
from services.payments.ledger.service import transfer
from services.payments.p2g.models import BillPayment
from tests.support import LiveServer, wait_until

from .support import assert_ledger_consistent, balance

PERMIT = "SANDBOX/GOV/MUNICIPALITY/CONSTRUCTION-PERMIT"
MUNICIPALITY = PERMIT + "/callbacks"
DIRECT_PREFIX = "/r1/" + MUNICIPALITY  # the biller seen as if the IM were its own host (tests without an IM)


class FakeBiller:
    def __init__(self, prefixes: tuple[str, ...] = (DIRECT_PREFIX,), biller_id: str = "MUNI-SBX"):
        self.biller_id = biller_id
        self.bills: dict[str, dict] = {}
        self.mark_script: list[str] = ["ACK"]  # one entry per mark-bill-paid call; the last one repeats
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        self.hub_url = ""  # where the status update goes: {hub}/billTransferRequests
        self.hub_headers: dict[str, str] = {}
        self.assert_as: Callable[[bytes], str] | None = None  # an IM assertion for a status update's body
        app = FastAPI()
        for prefix in prefixes:
            app.include_router(self._router(prefix))
        self.server = LiveServer(app)

    def add_bill(self, bill_id: str, amount: int, status: str = "UNPAID", due: str = "2099-12-31T00:00:00Z") -> None:
        self.bills[bill_id] = {"status": status, "amount": amount, "due": due}

    def _record(self, prefix: str, kind: str, request: Request | None, body: dict | None) -> None:
        with self.lock:
            self.calls.append(
                {
                    "prefix": prefix,
                    "kind": kind,
                    "path": request.url.path if request else "",
                    "headers": dict(request.headers) if request else {},
                    "json": body,
                }
            )

    def _router(self, prefix: str) -> APIRouter:
        router = APIRouter(prefix=prefix)

        @router.get("/bills/{bill_id}")
        async def inquiry(bill_id: str, request: Request):  # noqa: ANN202
            self._record(prefix, "inquiry", request, None)
            request_id = request.headers.get("x-correlationid", "")[:12]
            bill = self.bills.get(bill_id)
            if bill is None:
                return JSONResponse(
                    {"code": "01", "reason": "bill not found", "requestID": request_id, "billId": bill_id},
                    status_code=404,
                )
            return {
                "code": "00",
                "reason": "found",
                "requestID": request_id,
                "billId": bill_id,
                "billDetails": {
                    "billerId": self.biller_id,
                    "billerName": "SandboxCty",
                    "billStatus": bill["status"],
                    "dueDate": bill["due"],
                    "amountonDueDate": bill["amount"],
                    "amountAfterDueDate": bill["amount"] + 10,
                },
            }

        @router.post("/billTransferRequests")
        async def mark_paid(request: Request, background: BackgroundTasks):  # noqa: ANN202
            body = await request.json()
            self._record(prefix, "mark", request, body)
            with self.lock:
                count = sum(1 for c in self.calls if c["kind"] == "mark")
            action = self.mark_script[min(count, len(self.mark_script)) - 1]
            if action == "500":
                return JSONResponse({"code": "99", "reason": "biller down"}, status_code=500)
            if action in ("ACK", "RJC"):
                bill = self.bills.get(body["billId"])
                status = action
                if action == "ACK" and bill is not None:
                    bill["status"] = "PAID"
                background.add_task(self._send_status, body, status)
            return JSONResponse(
                {"responseCode": "00", "reason": "accepted", "requestID": body.get("requestID")}, status_code=202
            )

        @router.post("/rtpUpdate")
        async def rtp_update(request: Request):  # noqa: ANN202
            body = await request.json()
            self._record(prefix, "rtpUpdate", request, body)
            return {"responseCode": "00", "responseDescription": "received", "requestID": body.get("requestId")}

        @router.post("/transferRequests/{rtp_id}")
        async def rtp_status(rtp_id: str, request: Request):  # noqa: ANN202
            self._record(prefix, "rtpStatus", request, await request.json())
            return JSONResponse({"ResponseCode": "00", "reason": "received"}, status_code=202)

        return router

    async def _send_status(self, mark: dict, status: str) -> None:
        body = {"requestId": mark.get("requestID"), "billId": mark["billId"], "status": status}
        if status == "RJC":
            body["rejectReason"] = "Dup"
        headers = {"X-CorrelationID": "st" + mark["billId"][-10:], "X-Platform-TenantId": "sandbox", **self.hub_headers}
        content = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
        if self.assert_as is not None:
            headers[ASSERTION_HEADER] = self.assert_as(content)
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(f"{self.hub_url}/billTransferRequests", content=content, headers=headers)
        self._record("hub", f"status-{response.status_code}", None, response.json())

    def of_kind(self, kind: str) -> list[dict]:
        with self.lock:
            return [c for c in self.calls if c["kind"] == kind]

    def wait_for(self, kind: str, count: int = 1, timeout: float = 20) -> list[dict]:
        assert wait_until(lambda: len(self.of_kind(kind)) >= count, timeout), (kind, self.calls)
        return self.of_kind(kind)

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> FakeBiller:
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.server.stop()


PAYMENTS = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS"
PAYER_FI = "SBXHARB0001"  # an external payer FI paying from its settlement position at the hub
COLLECTION = "COLLECTION:MUNI-SBX:USD"
OWNER = demo_world.with_role("property_owner")[0]
OWNER_ACCOUNT = f"CUSTOMER:SBXNBANK001:SNB{OWNER['uin']}:USD"
POOR_UIN = "6562799554"  # seeded with 25 USD


@dataclass
class Hub:
    app: FastAPI
    http: httpx.Client
    biller: FakeBiller

    def inquire(self, bill_id: str, correlation_id: str, payer_fi: str = PAYER_FI) -> httpx.Response:
        return self.http.get(
            f"/bills/{bill_id}",
            params={"fields": "inquiry"},
            headers={"X-CorrelationID": correlation_id, "Platform-TenantId": "sandbox", "PayerFI-Id": payer_fi},
        )

    def pay(self, bill_id: str, request_id: str, inquiry_id: str, reference: str = "PRF000000000001") -> httpx.Response:
        return self.http.post(
            "/billTransferRequests",
            headers={"X-CorrelationID": request_id, "X-Platform-TenantId": "sandbox", "X-PayerFI-Id": PAYER_FI},
            json={
                "requestId": request_id,
                "billInquiryRequestId": inquiry_id,
                "billId": bill_id,
                "paymentReferenceID": reference,
            },
        )

    def fund_payer_fi(self, amount: str) -> None:
        with self.app.state.db.session() as session:
            transfer(
                session,
                f"test-fund-{PAYER_FI}",
                "deposit",
                treasury_account(session, "USD"),
                fsp_settlement_account(session, PAYER_FI, "USD"),
                Decimal(amount),
            )

    def payment(self, bill_id: str) -> BillPayment:
        with self.app.state.db.session() as session:
            return session.scalar(select(BillPayment).where(BillPayment.bill_id == bill_id))

    def balance(self, code: str) -> Decimal:
        with self.app.state.db.session() as session:
            return balance(session, code)

    def check_ledger(self) -> None:
        with self.app.state.db.session() as session:
            assert_ledger_consistent(session)


class Bank:
    """A browser on the bank pages: cookies kept, forms posted with the CSRF token the page carries."""

    def __init__(self, base_url: str):
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def page(self, bill_id: str = "") -> str:
        response = self.http.get("/bank/", params={"billId": bill_id} if bill_id else None)
        assert response.status_code == 200
        return response.text

    def post(self, path: str, page: str, **fields: str) -> str:
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        response = self.http.post(path, data={"csrf": csrf, **fields}, follow_redirects=True)
        assert response.status_code == 200
        return response.text

    def login(self, login: str, pin: str = "2468", bill_id: str = "") -> str:
        return self.post("/bank/login", self.page(), login=login, pin=pin, billId=bill_id)


def hidden(page: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', page).group(1)
