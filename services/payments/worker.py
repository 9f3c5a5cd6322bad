"""Background work in the service process: settling G2P batches and delivering callbacks.

Three daemon threads, each driven only by database state (so a restart picks up where the last process
stopped): one advances batches step by step, one sends due callbacks, one queues mark-bill-paid again for
billers that have not acknowledged. A slow callback target therefore never delays settlement, and none
ever blocks a request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from services.common.database import Database
from services.common.im_client import IMClient

from .g2p.processing import process_next
from .outbox.service import CallbackSender
from .p2g.service import resend_unacknowledged
from .settings import PaymentsSettings

log = logging.getLogger(__name__)


class Loop:
    def __init__(self, name: str, step: Callable[[], bool | int], idle_seconds: float):
        self.step = step
        self.idle_seconds = idle_seconds
        self.stopping = threading.Event()
        self.woken = threading.Event()
        self.thread = threading.Thread(target=self.run, name=name, daemon=True)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                busy = self.step()
            except Exception:  # keep the loop alive; the state in the DB is unchanged
                log.exception("%s step failed", self.thread.name)
                busy = False
            if not busy:
                self.woken.wait(self.idle_seconds)
                self.woken.clear()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.woken.set()
        self.thread.join(timeout=30)


class Worker:
    def __init__(self, db: Database, settings: PaymentsSettings, im: IMClient | None):
        self.sender = CallbackSender(db, settings, im)
        self.batches = Loop("payments-batches", lambda: process_next(db, settings), settings.worker_poll_seconds)
        self.callbacks = Loop("payments-callbacks", self.sender.run_once, settings.worker_poll_seconds)
        self.bill_payments = Loop(
            "payments-p2g", lambda: resend_unacknowledged(db, settings), settings.worker_poll_seconds
        )

    def start(self) -> None:
        self.batches.start()
        self.callbacks.start()
        self.bill_payments.start()

    def wake(self) -> None:
        self.batches.woken.set()

    def stop(self) -> None:
        self.batches.stop()
        self.callbacks.stop()
        self.bill_payments.stop()
        self.sender.close()
