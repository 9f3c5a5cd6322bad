"""All tables of the Payments service (imported here so Alembic sees the whole metadata)."""

from .bank.models import BankCustomer
from .base import Base
from .fsps.models import FSP, FSPAccount
from .g2p.models import Batch, Instruction, PrepaymentValidation, Programme
from .ledger.models import JournalEntry, LedgerAccount, Posting
from .mapper.models import Beneficiary, MapperRequest
from .outbox.models import OutboxMessage
from .p2g.models import Biller, BillInquiry, BillPayment, RequestToPay
from .vouchers.models import Merchant, Voucher, VoucherGroup, VoucherIssuer

__all__ = [
    "Base",
    "FSP",
    "FSPAccount",
    "Batch",
    "Instruction",
    "PrepaymentValidation",
    "Programme",
    "JournalEntry",
    "LedgerAccount",
    "Posting",
    "Beneficiary",
    "MapperRequest",
    "OutboxMessage",
    "Merchant",
    "Voucher",
    "VoucherGroup",
    "VoucherIssuer",
    "BankCustomer",
    "Biller",
    "BillInquiry",
    "BillPayment",
    "RequestToPay",
]
