"""Helpers for the Payments tests: an app with fast background loops, a callback recorder, ledger checks."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from pathlib import Path

import yaml
from fastapi import FastAPI, Request
from sqlalchemy import func, select

from services.payments.app import create_app
from services.payments.g2p.models import Instruction
from services.payments.ledger.models import JournalEntry, LedgerAccount, Posting
from services.payments.ledger.service import balance_from_postings, unbalanced_entries
from services.payments.seed import load_seed
from services.payments.settings import DEFAULT_SEED_FILE, PaymentsSettings
from tests.support import LiveServer, wait_until

SOURCE = "USCTREGISTRY"  # the 1.0 API's SourceBBID has exactly 12 characters
# The client id `tests.support.mediated_client` signs as, and the source BB ids the tests use.
TEST_CLIENT = "SANDBOX/GOV/TEST-MEMBER/TESTER"
TEST_SOURCES = [SOURCE, "USCT", "MOSW", "OTHER", "OTHER-BB", "KILL"]
# Allow-listed in every test app: a callback target nobody listens on.
DEAD_TARGET = "http://127.0.0.1:9/"
OPENING = Decimal("50000000")


def make_app(db_fields: dict, tmp_path, **overrides) -> FastAPI:
    fields = dict(
        data_dir=tmp_path,
        seed=True,
        worker_poll_seconds=0.05,
        callback_backoff_seconds=0.05,
        callback_timeout_seconds=2,
        im_client=None,
        callback_allow_list=[DEAD_TARGET],
    )
    fields.update(overrides)
    fields.setdefault("seed_file", seed_for_tests(tmp_path))
    return create_app(PaymentsSettings(**db_fields, **fields))


def seed_for_tests(directory: Path) -> Path:
    """seed.yaml with the tests' signed client (`mediated_client`) owning every programme and allowed every
    source the tests name; the tests through a real IM use the real seed.yaml."""
    config = load_seed(DEFAULT_SEED_FILE)
    for programme in config["programmes"]:
        programme["owner"] = TEST_CLIENT
    config["sources"][TEST_CLIENT] = TEST_SOURCES
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "payments-seed.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def allow_callbacks(app: FastAPI, *urls: str) -> None:
    """Adds callback targets to the app's allow-list (a test receiver's port is known only once it exists)."""
    app.state.settings.callback_allow_list.extend(urls)


class Recorder:
    """A live HTTP endpoint recording every request (path, query, headers, JSON body)."""

    def __init__(self, status: int = 200):
        self.calls: list[dict] = []
        self.status = status
        self.lock = threading.Lock()
        app = FastAPI()

        @app.api_route("/{path:path}", methods=["GET", "POST", "PUT"])
        async def record(path: str, request: Request):  # noqa: ANN202
            body = await request.body()
            import json

            with self.lock:
                self.calls.append(
                    {
                        "path": "/" + path,
                        "query": dict(request.query_params),
                        "headers": dict(request.headers),
                        "json": json.loads(body) if body else None,
                    }
                )
            from fastapi.responses import JSONResponse

            return JSONResponse({"ok": True}, status_code=self.status)

        self.server = LiveServer(app)

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> Recorder:
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.server.stop()

    def wait_for(self, count: int = 1, timeout: float = 10) -> list[dict]:
        assert wait_until(lambda: len(self.calls) >= count, timeout), f"expected {count} callbacks, got {self.calls}"
        return self.calls


def register(
    client, beneficiaries: list[tuple[str, str, str]], request_id: str = "reg000000001", source: str = SOURCE
) -> dict:
    body = {
        "RequestID": request_id,
        "SourceBBID": source,
        "Beneficiaries": [
            {"PayeeFunctionalID": pid, "PaymentModality": mod, "FinancialAddress": addr}
            for pid, mod, addr in beneficiaries
        ],
    }
    response = client.post("/register-beneficiary", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def bulk_payment(
    client,
    request_id: str,
    batch_id: str,
    instructions: list[tuple[str, str, str]],
    source: str = SOURCE,
    headers: dict | None = None,
):
    body = {
        "RequestID": request_id,
        "SourceBBID": source,
        "BatchID": batch_id,
        "CreditInstructions": [
            {"InstructionID": iid, "PayeeFunctionalID": pid, "Amount": amount, "Currency": "USD"}
            for iid, pid, amount in instructions
        ],
    }
    return client.post("/bulk-payment", json=body, headers=headers or {})


def wait_settled(client, batch_id: str, timeout: float = 30) -> dict:
    result = {}

    def done() -> bool:
        result.update(client.get("/api/v1/batch", params={"batchId": batch_id}).json())
        return result.get("status") in ("COMPLETED", "FAILED")

    assert wait_until(done, timeout, 0.05), result
    return result


def all_details(client, batch_id: str) -> list[dict]:
    out, page = [], 0
    while True:
        rows = client.get("/api/v1/batch/detail", params={"batchId": batch_id, "pageNo": page, "pageSize": 1000}).json()
        out += rows
        if len(rows) < 1000:
            return out
        page += 1


def balance(session, code: str) -> Decimal:
    return session.scalar(select(LedgerAccount.balance).where(LedgerAccount.code == code))


def assert_ledger_consistent(session) -> None:
    """Every entry balanced, every cached balance equal to its postings, every paid instruction paid once."""
    assert unbalanced_entries(session) == []
    for account in session.scalars(select(LedgerAccount)):
        assert balance_from_postings(session, account.id) == account.balance, account.code
    g2p_entries = session.scalar(
        select(func.count()).select_from(JournalEntry).where(JournalEntry.kind == "g2p_credit")
    )
    completed = session.scalar(select(func.count()).select_from(Instruction).where(Instruction.status == "completed"))
    assert g2p_entries == completed
    orphans = session.scalar(
        select(func.count())
        .select_from(Instruction)
        .where(Instruction.status != "completed", Instruction.entry_id.is_not(None))
    )
    assert orphans == 0
    per_entry = session.execute(
        select(Posting.entry_id, func.count()).group_by(Posting.entry_id).having(func.count() < 2)
    ).all()
    assert per_entry == []


def drain(app, timeout: float = 30) -> None:
    """Runs the batch steps inline until nothing is left (for tests with the worker disabled)."""
    from services.payments.g2p.processing import process_next

    deadline = time.monotonic() + timeout
    while process_next(app.state.db, app.state.settings):
        assert time.monotonic() < deadline
