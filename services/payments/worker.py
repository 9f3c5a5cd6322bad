"""Background work in the service process: settling G2P batches and delivering callbacks.

Three daemon threads, each driven only by database state (so a restart picks up where the last process
stopped): one advances batches step by step, one sends due callbacks, one queues mark-bill-paid again for
billers that have not acknowledged. A slow callback target therefore never delays settlement, and none
ever blocks a request.
"""

from __future__ import annotations

from services.common.database import Database
from services.common.im_client import IMClient
from services.common.outbox import PollingLoop

from .g2p.processing import process_next
from .outbox.service import CallbackSender
from .p2g.service import resend_unacknowledged
from .settings import PaymentsSettings


class Worker:
    def __init__(self, db: Database, settings: PaymentsSettings, im: IMClient | None):
        self.sender = CallbackSender(db, settings, im)
        self.batches = PollingLoop("payments-batches", lambda: process_next(db, settings), settings.worker_poll_seconds)
        self.callbacks = PollingLoop("payments-callbacks", self.sender.run_once, settings.worker_poll_seconds)
        self.bill_payments = PollingLoop(
            "payments-p2g", lambda: resend_unacknowledged(db, settings), settings.worker_poll_seconds
        )

    def start(self) -> None:
        self.batches.start()
        self.callbacks.start()
        self.bill_payments.start()

    def wake(self) -> None:
        self.batches.wake()

    def stop(self) -> None:
        self.batches.stop()
        self.callbacks.stop()
        self.bill_payments.stop()
        self.sender.close()
