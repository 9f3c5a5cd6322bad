"""Two replicas' workers reach the same work at once: each step is taken by one of them only (PostgreSQL's
FOR UPDATE SKIP LOCKED), so a batch is finished, and its status callback queued, once."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from services.common.clock import utcnow
from services.common.database import Database
from services.payments.app import MIGRATIONS
from services.payments.g2p.models import Batch, Programme
from services.payments.g2p.processing import process_next
from services.payments.outbox.models import OutboxMessage
from services.payments.p2g.models import Biller, BillPayment
from services.payments.p2g.service import resend_unacknowledged
from services.payments.seed import seed
from services.payments.settings import PaymentsSettings
from tests.support import TEST_DATABASE_URL, wait_until

from .support import DEAD_TARGET

pytestmark = pytest.mark.skipif(
    not TEST_DATABASE_URL, reason="replicas share one server database: PostgreSQL only (set TEST_DATABASE_URL)"
)


@pytest.fixture
def settings(db_fields, tmp_path):
    return PaymentsSettings(**db_fields, data_dir=tmp_path, callback_allow_list=[DEAD_TARGET])


@pytest.fixture
def db(db_fields, settings):
    database = Database(db_fields["database_url"], db_fields["database_schema"])
    database.migrate(MIGRATIONS)
    with database.session() as session:
        seed(session, settings)
    yield database
    database.dispose()


def _lock_waiters(db: Database) -> int:
    with db.session() as session:
        return session.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"))


def _two_workers_while_held(db: Database, held: type, key: object, step: callable) -> None:
    """Both replicas' workers run `step` while a third transaction holds the row they want, then it lets go."""
    with db.session() as holder:
        holder.get(held, key, with_for_update=True)
        workers = [threading.Thread(target=step) for _ in range(2)]
        for worker in workers:
            worker.start()
        # Either both wait for the row (and then both act on it), or both skip it at once.
        assert wait_until(lambda: _lock_waiters(db) >= 2 or not any(w.is_alive() for w in workers), timeout=20)
    for worker in workers:
        worker.join(timeout=20)


def test_two_workers_finish_a_batch_once(db, settings):
    with db.session() as session:
        programme = session.scalar(select(Programme.code).limit(1))
        batch = Batch(id="b-replicas", api="v3", request_id="r-1", programme_code=programme, status="processing")
        batch.callback_url = DEAD_TARGET + "status"
        session.add(batch)

    _two_workers_while_held(db, Batch, "b-replicas", lambda: process_next(db, settings))
    while process_next(db, settings):
        pass

    with db.session() as session:
        assert session.get(Batch, "b-replicas").status == "failed"  # nothing in it was paid
        queued = session.scalar(select(func.count()).where(OutboxMessage.kind == "g2p.batch_status"))
    assert queued == 1, f"the batch was finished {queued} times"


def test_two_workers_resend_one_unacknowledged_bill_payment_once(db, settings):
    with db.session() as session:
        biller = session.scalars(select(Biller).limit(1)).one()
        payment = BillPayment(
            bill_id="bill-1",
            biller_id=biller.id,
            payer_fi="PAYERFI",
            request_id="r-1",
            inquiry_request_id="i-1",
            payment_reference_id="p-1",
            tenant="sandbox",
            debit_account_id=biller.collection_account_id,
            amount=Decimal("10"),
            currency="USD",
            next_attempt_at=utcnow() - timedelta(seconds=1),
        )
        session.add(payment)
        session.flush()
        payment_id = payment.id

    _two_workers_while_held(db, BillPayment, payment_id, lambda: resend_unacknowledged(db, settings))
    resend_unacknowledged(db, settings)  # the next round, once the row is free

    with db.session() as session:
        sends = session.get(BillPayment, payment_id).mark_sends
        queued = session.scalar(select(func.count()).select_from(OutboxMessage))
    assert (sends, queued) == (1, 1), f"mark-bill-paid queued {queued} times"
