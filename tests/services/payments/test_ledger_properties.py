"""Property test: random batches (duplicates, unknown payees, closed accounts) against a reference model.

After every batch: every journal entry balanced, cached balances equal to postings, no instruction id paid
twice, funding balance = opening - completed amounts, summary equal to the details, and each
instruction's outcome equal to what the model predicts.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from services.payments.g2p.models import Instruction
from services.payments.seed import load_seed, resident_accounts
from services.payments.settings import DEFAULT_SEED_FILE
from tests.support import mediated_client

from .support import OPENING, all_details, assert_ledger_consistent, balance, bulk_payment, drain, make_app, register

RESIDENTS = resident_accounts(load_seed(DEFAULT_SEED_FILE))
REGISTERED = {r["functional_id"]: r for r in RESIDENTS[:12]}
PAYEES = list(REGISTERED) + ["UNKNOWN0000000000001", "UNKNOWN0000000000002"]  # 20 characters, as the spec

instruction = st.tuples(
    st.sampled_from([f"INS{n:013d}" for n in range(60)]),  # 16 characters; small pool: ids recur across batches
    st.sampled_from(PAYEES),
    st.sampled_from([Decimal("1"), Decimal("2.50"), Decimal("10"), Decimal("0.01"), Decimal("999.99")]),
)
# Mostly well-formed batches (ids unique inside the batch); sometimes one with a repeated id, refused whole.
batches = st.one_of(
    st.lists(instruction, min_size=1, max_size=25, unique_by=lambda t: t[0]),
    st.lists(instruction, min_size=2, max_size=4),
)


def test_random_batches_keep_the_ledger_right(db_fields, tmp_path):
    app = make_app(db_fields, tmp_path, worker_enabled=False)
    counter = itertools.count()
    paid_ids: set[str] = set()
    with mediated_client(app) as client:
        register(client, [(r["functional_id"], r["modality"], r["address"]) for r in REGISTERED.values()])

        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        @given(batches)
        def check(batch):
            n = next(counter)
            rows = [(iid, payee, str(amount)) for iid, payee, amount in batch]
            response = bulk_payment(client, f"prop{n:08d}", f"pb{n:010d}", rows)  # 12-character ids
            if len({iid for iid, _, _ in batch}) < len(batch):
                assert response.status_code == 400  # repeated instruction id: whole batch refused
                return
            assert response.status_code == 200, response.text
            drain(app)
            batch_id = response.json()["PaymentsBatchID"]

            expected = {}
            for seq, (iid, payee, amount) in enumerate(batch):
                earlier_same = any(p == payee and a == amount for _, p, a in batch[:seq])
                account = REGISTERED.get(payee)
                ok = iid not in paid_ids and not earlier_same and account is not None and account["status"] == "open"
                expected[iid] = "COMPLETED" if ok else "FAILED"
            details = {d["transactionId"]: d for d in all_details(client, batch_id)}
            assert {k: d["status"] for k, d in details.items()} == expected
            paid_ids.update(k for k, s in expected.items() if s == "COMPLETED")

            summary = client.get("/api/v1/batch", params={"batchId": batch_id}).json()
            done = [d for d in details.values() if d["status"] == "COMPLETED"]
            failed = [d for d in details.values() if d["status"] == "FAILED"]
            assert summary["completed"] == len(done) and summary["failed"] == len(failed)
            assert summary["ongoing"] == 0 and summary["TotalTransactions"] == len(batch)
            assert Decimal(str(summary["completed_amount"])) == sum(
                (Decimal(str(d["amount"])) for d in done), Decimal(0)
            )
            assert Decimal(str(summary["failed_amount"])) == sum(
                (Decimal(str(d["amount"])) for d in failed), Decimal(0)
            )

            with app.state.db.session() as session:
                assert_ledger_consistent(session)
                paid_total = session.scalar(
                    select(func.sum(Instruction.amount)).where(Instruction.status == "completed")
                ) or Decimal(0)
                assert balance(session, "FUND:USCT:USD") == OPENING - paid_total
                twice = session.execute(
                    select(Instruction.instruction_id)
                    .where(Instruction.status == "completed")
                    .group_by(Instruction.source_bb_id, Instruction.instruction_id)
                    .having(func.count() > 1)
                ).all()
                assert twice == []

        check()
    assert paid_ids, "the generated batches should have paid someone"
