"""The municipality as a P2G biller: bills, the answer to the hub's inquiry, marking a bill paid."""

from __future__ import annotations

import secrets
import string
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from services.common.clock import iso, utcnow

from .models import Bill
from .settings import ConstructionPermitSettings

BILL_ID_ALPHABET = string.ascii_uppercase + string.digits


def new_bill_id(settings: ConstructionPermitSettings) -> str:
    """Random, not sequential: a bill id is what a payer types at the bank."""
    return settings.bill_prefix + "".join(secrets.choice(BILL_ID_ALPHABET) for _ in range(12))


def issue_bill(session: Session, settings: ConstructionPermitSettings, reference: str, amount: int) -> Bill:
    if amount <= 0:
        raise ValueError("a bill's amount must be positive")
    bill = Bill(
        id=new_bill_id(settings),
        reference=reference,
        amount=amount,
        amount_after_due=amount + amount * settings.late_fee_percent // 100,
        due_at=utcnow() + timedelta(days=settings.bill_due_days),
    )
    session.add(bill)
    session.flush()
    return bill


def inquiry_answer(settings: ConstructionPermitSettings, bill: Bill, request_id: str) -> dict:
    """The billInquiryBillerResponse body."""
    return {
        "code": "00",
        "reason": "found",
        "requestID": request_id[:12],
        "billId": bill.id,
        "billDetails": {
            "billerId": settings.biller_id,
            "billerName": settings.biller_name,
            "billStatus": bill.status,
            "dueDate": iso(bill.due_at),
            "amountonDueDate": bill.amount,
            "amountAfterDueDate": bill.amount_after_due,
        },
    }


def mark_paid(session: Session, bill_id: str, payment_reference: str, payer_fi: str | None) -> tuple[str, str | None]:
    """Record the hub's payment of a bill: ("ACK", None) or ("RJC", "Und" unknown | "Dup" paid by another payment).

    Idempotent: the hub resends mark-bill-paid until it gets our ACK, always with the same payment reference.
    """
    paid = session.execute(
        update(Bill)
        .where(Bill.id == bill_id, Bill.status == "UNPAID")
        .values(status="PAID", payment_reference=payment_reference, payer_fi=payer_fi, paid_at=utcnow())
    )
    if paid.rowcount == 1:
        return "ACK", None
    bill = session.get(Bill, bill_id)
    if bill is None:
        return "RJC", "Und"
    return ("ACK", None) if bill.payment_reference == payment_reference else ("RJC", "Dup")
