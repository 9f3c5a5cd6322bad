"""The service process is killed (SIGKILL) while a batch settles; a new process finishes it, paying nobody twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import func, select

from services.common.database import Database
from services.payments.g2p.models import Instruction
from services.payments.ledger.models import JournalEntry
from tests.support import free_port, wait_until

from .support import DEAD_TARGET, OPENING, assert_ledger_consistent, balance, seed_for_tests

ROOT = Path(__file__).resolve().parents[3]
COUNT = 8000


def start(db_fields: dict, data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "PAYMENTS_DATA_DIR": str(data_dir),
        "PAYMENTS_DATABASE_URL": db_fields["database_url"],
        "PAYMENTS_SETTLE_CHUNK_SIZE": "100",
        "PAYMENTS_LOG_LEVEL": "WARNING",
        "PAYMENTS_IM_CLIENT": "",
        # This test is about resuming batches after a crash, driven directly: the IM's checks are tested elsewhere.
        "PAYMENTS_REQUIRE_IM_ASSERTION": "false",
        "PAYMENTS_CALLBACK_ALLOW_LIST": f'["{DEAD_TARGET}"]',
        "PAYMENTS_SEED_FILE": str(seed_for_tests(data_dir)),
    }
    if db_fields["database_schema"]:
        env["PAYMENTS_DATABASE_SCHEMA"] = db_fields["database_schema"]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "services.payments.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_until(up, 60, 0.1)
    return proc, url


def summary(url: str, batch_id: str) -> dict:
    return httpx.get(url + "/api/v1/batch", params={"batchId": batch_id}, timeout=30).json()


def test_killed_mid_batch_resumes_without_double_payment(db_fields, tmp_path):
    proc, url = start(db_fields, tmp_path)
    try:
        body = {
            "RequestID": "kill00000001",
            "Beneficiaries": [
                {
                    "payeeIdentity": f"K{n:08d}",
                    "PaymentModality": "01",
                    "FinancialAddress": f"+9997{n:08d}",
                    "bankingInstitutionCode": "SBXMOMO0001",
                }
                for n in range(COUNT)
            ],
        }
        httpx.post(
            url + "/identityAccountMapper/beneficiary",
            json=body,
            timeout=60,
            headers={"X-Registering-Institution-ID": "KILL", "X-Callback-URL": "http://127.0.0.1:9/x"},
        )
        batch = [
            {
                "requestId": f"K{n:08d}",
                "creditParty": [{"key": "functionalId", "value": f"K{n:08d}"}],
                "debitParty": [],
                "paymentMode": "x",
                "amount": "1.25",
                "currency": "USD",
            }
            for n in range(COUNT)
        ]
        response = httpx.post(
            url + "/batchtransactions?type=raw",
            json=batch,
            timeout=60,
            headers={
                "X-CorrelationID": "kill-1",
                "Platform-TenantId": "t",
                "X-Registering-Institution-Id": "KILL",
                "X-Callback-URL": "http://127.0.0.1:9/x",
            },
        )
        assert response.status_code == 202
        batch_id = response.json()["batchId"]
    finally:  # first death: right after the batch was accepted (before or while it is validated)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    proc, url = start(db_fields, tmp_path)
    try:
        assert wait_until(lambda: summary(url, batch_id)["completed"] > 0, 30, 0.01)
    finally:  # second death: in the middle of settlement
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    db = Database(db_fields["database_url"], db_fields["database_schema"])
    with db.session() as session:
        # One snapshot: the killed process's server backend may still commit the transaction it had sent, and
        # under READ COMMITTED that commit could land between reading the balances and summing the postings.
        if not db.is_sqlite:
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        paid_at_kill = session.scalar(
            select(func.count()).select_from(Instruction).where(Instruction.status == "completed")
        )
        assert 0 < paid_at_kill < COUNT, "the kill should land in the middle of settlement"
        assert_ledger_consistent(session)

    proc, url = start(db_fields, tmp_path)
    try:
        assert wait_until(lambda: summary(url, batch_id)["status"] == "COMPLETED", 60, 0.1)
        final = summary(url, batch_id)
        assert final["completed"] == COUNT and final["failed"] == 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    with db.session() as session:
        assert_ledger_consistent(session)
        entries = session.scalar(
            select(func.count()).select_from(JournalEntry).where(JournalEntry.kind == "g2p_credit")
        )
        assert entries == COUNT
        assert balance(session, "FUND:USCT:USD") == OPENING - Decimal("1.25") * COUNT
    db.dispose()
