"""A test biller (the municipality's side of the P2G contract) served with LiveServer: answers bill inquiries,
records mark-bill-paid and answers it as scripted (HTTP 500, accepted without a status, ACK, RJC), and POSTs its
status update back to the hub; records rtpUpdate and rtpStatusUpdateResponse calls."""
from __future__ import annotations

import threading

import httpx
from fastapi import APIRouter, BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support import LiveServer, wait_until

MUNICIPALITY = "SANDBOX/GOV/MUNICIPALITY/CONSTRUCTION-PERMIT/callbacks"
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
        app = FastAPI()
        for prefix in prefixes:
            app.include_router(self._router(prefix))
        self.server = LiveServer(app)

    def add_bill(self, bill_id: str, amount: int, status: str = "UNPAID", due: str = "2099-12-31T00:00:00Z") -> None:
        self.bills[bill_id] = {"status": status, "amount": amount, "due": due}

    def _record(self, prefix: str, kind: str, request: Request | None, body: dict | None) -> None:
        with self.lock:
            self.calls.append({"prefix": prefix, "kind": kind, "path": request.url.path if request else "",
                               "headers": dict(request.headers) if request else {}, "json": body})

    def _router(self, prefix: str) -> APIRouter:
        router = APIRouter(prefix=prefix)

        @router.get("/bills/{bill_id}")
        async def inquiry(bill_id: str, request: Request):  # noqa: ANN202
            self._record(prefix, "inquiry", request, None)
            request_id = request.headers.get("x-correlationid", "")[:12]
            bill = self.bills.get(bill_id)
            if bill is None:
                return JSONResponse({"code": "01", "reason": "bill not found", "requestID": request_id,
                                     "billId": bill_id}, status_code=404)
            return {"code": "00", "reason": "found", "requestID": request_id, "billId": bill_id, "billDetails": {
                "billerId": self.biller_id, "billerName": "SandboxCty", "billStatus": bill["status"],
                "dueDate": bill["due"], "amountonDueDate": bill["amount"], "amountAfterDueDate": bill["amount"] + 10}}

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
            return JSONResponse({"responseCode": "00", "reason": "accepted", "requestID": body.get("requestID")},
                                status_code=202)

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
        headers = {"X-CorrelationID": "st" + mark["billId"][-10:], "X-Platform-TenantId": "sandbox",
                   **self.hub_headers}
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(f"{self.hub_url}/billTransferRequests", json=body, headers=headers)
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

    def __enter__(self) -> "FakeBiller":
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.server.stop()

