"""P2G bill payments (spec 9.3): inquiry routed by bill-id prefix, payment posted to the ledger exactly once,
mark-bill-paid resent until the biller acknowledges, request-to-pay, and the simulated bank's pages."""

from __future__ import annotations

import re
import threading

import httpx
import pytest
from sqlalchemy import func, select

from services.common import demo_world
from services.payments.ledger.models import JournalEntry
from services.payments.outbox.models import OutboxMessage
from services.payments.p2g.models import Biller, BillPayment, RequestToPay
from tests.support import IMSigner, LiveServer, wait_until

from .p2g_support import (
    COLLECTION,
    DIRECT_PREFIX,
    OWNER,
    OWNER_ACCOUNT,
    PAYER_FI,
    PAYMENTS,
    PERMIT,
    POOR_UIN,
    Bank,
    FakeBiller,
    Hub,
    hidden,
)
from .support import make_app


@pytest.fixture
def hub(db_fields, tmp_path):
    with FakeBiller(prefixes=(DIRECT_PREFIX, "/r1/SANDBOX/GOV/UTILITY/WATER/callbacks")) as biller:
        # Without an IM in these tests, the biller's server stands in for it: the hub calls {im_url}/r1/<service>/...
        app = make_app(db_fields, tmp_path, im_url=biller.url, im_client=PAYMENTS, p2g_ack_wait_seconds=1)
        with LiveServer(app) as server:
            biller.hub_url = server.url
            # Every call is signed as the IM would sign the municipality's: its rtpUpdate callbacks are its own.
            signer = IMSigner(PERMIT)
            biller.assert_as = lambda content: signer.assertion(app, "POST", "/billTransferRequests", content)
            with signer.attach(httpx.Client(base_url=server.url, timeout=30), app) as http:
                yield Hub(app, http, biller)


def test_inquiry_found_unknown_and_unknown_prefix(hub):
    hub.biller.add_bill("MSC-AAAA1111BBBB", 150)
    found = hub.inquire("MSC-AAAA1111BBBB", "inq-0001")
    assert found.status_code == 202, found.text
    body = found.json()
    assert body["responseCode"] == "00" and body["code"] == "00" and body["requestId"] == "inq-0001"
    assert body["billDetails"]["billStatus"] == "UNPAID" and body["billDetails"]["amountonDueDate"] == 150
    call = hub.biller.of_kind("inquiry")[0]
    assert call["path"] == f"{DIRECT_PREFIX}/bills/MSC-AAAA1111BBBB"
    assert call["headers"]["x-correlationid"] == "inq-0001" and call["headers"]["x-payerfi-id"] == PAYER_FI
    assert call["headers"]["information-mediator-client"] == PAYMENTS

    unknown = hub.inquire("MSC-NOSUCHBILL000", "inq-0002")
    assert unknown.status_code == 202 and unknown.json()["code"] == "01"
    assert unknown.json()["reason"] == "bill not found"

    no_biller = hub.inquire("ZZZ-123", "inq-0003")
    assert no_biller.status_code == 400
    assert no_biller.json() == {
        "responseCode": "01",
        "reason": "no biller is registered for this bill id prefix",
        "requestId": "inq-0003",
    }
    missing = hub.http.get("/bills/MSC-AAAA1111BBBB", params={"fields": "inquiry"}, headers={"X-CorrelationID": "x"})
    assert missing.status_code == 400 and missing.json()["responseCode"] == "01"


def test_inquiry_is_routed_by_prefix(hub):
    with hub.app.state.db.session() as session:
        account_id = session.scalar(select(Biller)).collection_account_id
        session.add(
            Biller(
                id="WATER",
                name="Water Board",
                bill_prefix="WTR-",
                im_service="SANDBOX/GOV/UTILITY/WATER/callbacks",
                collection_account_id=account_id,
            )
        )
    hub.biller.add_bill("WTR-42", 30)
    assert hub.inquire("WTR-42", "inq-water").json()["code"] == "00"
    assert hub.biller.of_kind("inquiry")[-1]["path"] == "/r1/SANDBOX/GOV/UTILITY/WATER/callbacks/bills/WTR-42"


def test_payment_posts_to_the_ledger_once_and_is_acknowledged(hub):
    hub.biller.add_bill("MSC-PAYME0000001", 120)
    hub.fund_payer_fi("1000")
    hub.inquire("MSC-PAYME0000001", "inq-pay-1")
    paid = hub.pay("MSC-PAYME0000001", "pay-1", "inq-pay-1")
    assert paid.status_code == 202, paid.text
    assert paid.json()["responseCode"] == "00" and paid.json()["requestID"] == "pay-1"
    again = hub.pay("MSC-PAYME0000001", "pay-1", "inq-pay-1")
    assert again.status_code == 202 and again.json()["requestID"] == "pay-1"
    other = hub.pay("MSC-PAYME0000001", "pay-2", "inq-pay-1", reference="PRF000000000002")
    assert other.status_code == 400
    assert other.json() == {"code": "01", "reason": "bill already paid", "requestID": "pay-2"}

    assert hub.balance(f"FSP:{PAYER_FI}:USD") == 880 and hub.balance(COLLECTION) == 120
    mark = hub.biller.wait_for("mark")[0]
    assert mark["json"] == {"requestID": "pay-1", "billId": "MSC-PAYME0000001", "PaymentReferenceID": "PRF000000000001"}
    assert mark["headers"]["x-payerfi-id"] == PAYER_FI and mark["headers"]["x-platform-tenantid"] == "sandbox"
    assert wait_until(lambda: hub.payment("MSC-PAYME0000001").status == "acknowledged", 10)
    # The biller now reports the bill PAID: a new inquiry and payment are refused.
    hub.inquire("MSC-PAYME0000001", "inq-pay-2")
    refused = hub.pay("MSC-PAYME0000001", "pay-3", "inq-pay-2")
    assert refused.status_code == 400 and refused.json()["reason"] == "bill already paid"
    assert {m["json"]["PaymentReferenceID"] for m in hub.biller.of_kind("mark")} == {"PRF000000000001"}
    hub.check_ledger()


def test_payment_refusals_change_nothing(hub):
    hub.biller.add_bill("MSC-BIG000000001", 5000)
    hub.biller.add_bill("MSC-SMALL0000001", 10)
    hub.fund_payer_fi("100")
    hub.inquire("MSC-BIG000000001", "inq-big")
    poor = hub.pay("MSC-BIG000000001", "pay-big", "inq-big")
    assert poor.status_code == 400 and poor.json()["reason"] == "insufficient funds in the payer account"
    unknown = hub.pay("MSC-NOSUCH000001", "pay-unk", "inq-big")
    assert unknown.status_code == 400 and "no bill inquiry" in unknown.json()["reason"]
    hub.inquire("MSC-NOSUCH000001", "inq-unk")
    not_found = hub.pay("MSC-NOSUCH000001", "pay-unk", "inq-unk")
    assert not_found.status_code == 400 and not_found.json()["reason"] == "bill not found"
    malformed = hub.http.post(
        "/billTransferRequests",
        content=b"{not json",
        headers={
            "X-CorrelationID": "bad-1",
            "X-Platform-TenantId": "sandbox",
            "X-PayerFI-Id": PAYER_FI,
            "Content-Type": "application/json",
        },
    )
    assert malformed.status_code == 400 and malformed.json()["code"] == "01"
    missing = hub.http.post(
        "/billTransferRequests",
        json={"requestId": "r1"},
        headers={"X-CorrelationID": "bad-2", "X-Platform-TenantId": "sandbox", "X-PayerFI-Id": PAYER_FI},
    )
    assert missing.status_code == 400 and missing.json()["reason"] == "billInquiryRequestId is required"
    with hub.app.state.db.session() as session:
        assert session.scalar(select(func.count()).select_from(BillPayment)) == 0
    assert hub.balance(f"FSP:{PAYER_FI}:USD") == 100 and hub.balance(COLLECTION) == 0
    hub.check_ledger()


def test_concurrent_payments_of_one_bill_debit_once(hub):
    hub.biller.add_bill("MSC-RACE00000001", 40)
    hub.fund_payer_fi("1000")
    hub.inquire("MSC-RACE00000001", "inq-race")
    results = []

    def pay(n: int) -> None:
        results.append(hub.pay("MSC-RACE00000001", f"race-{n}", "inq-race", reference=f"PRF{n:012d}").status_code)

    threads = [threading.Thread(target=pay, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [202] + [400] * 5
    with hub.app.state.db.session() as session:
        payments = select(func.count()).select_from(JournalEntry).where(JournalEntry.kind == "p2g_payment")
        assert session.scalar(payments) == 1
    assert hub.balance(f"FSP:{PAYER_FI}:USD") == 960
    hub.check_ledger()


def test_mark_bill_paid_is_resent_until_the_biller_acknowledges(hub):
    # First call: HTTP 500 (the outbox retries); second: accepted but no status follows (the hub resends);
    # third: accepted and ACK sent back.
    hub.biller.mark_script = ["500", "silent", "ACK"]
    hub.biller.add_bill("MSC-RETRY0000001", 60)
    hub.fund_payer_fi("100")
    hub.inquire("MSC-RETRY0000001", "inq-retry")
    assert hub.pay("MSC-RETRY0000001", "pay-retry", "inq-retry").status_code == 202
    assert wait_until(lambda: hub.payment("MSC-RETRY0000001").status == "acknowledged", 20)
    # (On a slow machine the ACK may come after yet another resend: hence the lower bounds.)
    assert len(hub.biller.of_kind("mark")) >= 3 and hub.payment("MSC-RETRY0000001").mark_sends >= 2
    with hub.app.state.db.session() as session:
        messages = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "p2g.mark_bill_paid").order_by(OutboxMessage.id)
        ).all()
        assert [(m.attempts, m.last_status) for m in messages[:2]] == [(2, 202), (1, 202)]
    assert hub.balance(COLLECTION) == 60
    hub.check_ledger()


def test_rejected_mark_bill_paid_refunds_the_payer(hub):
    hub.biller.mark_script = ["RJC"]
    hub.biller.add_bill("MSC-REJECT000001", 75)
    hub.fund_payer_fi("100")
    hub.inquire("MSC-REJECT000001", "inq-rjc")
    assert hub.pay("MSC-REJECT000001", "pay-rjc", "inq-rjc").status_code == 202
    assert wait_until(lambda: hub.payment("MSC-REJECT000001").status == "rejected", 10)
    assert hub.payment("MSC-REJECT000001").reject_reason == "Dup"
    assert hub.balance(f"FSP:{PAYER_FI}:USD") == 100 and hub.balance(COLLECTION) == 0
    unknown = hub.http.post(
        "/billTransferRequests",
        json={"requestId": "x", "billId": "MSC-NEVERPAID0001", "status": "ACK"},
        headers={"X-CorrelationID": "st-1", "X-Platform-TenantId": "sandbox"},
    )
    assert unknown.status_code == 400 and unknown.json()["code"] == "01"
    hub.check_ledger()


def rtp(hub: Hub, rtp_id: int, bill_id: str, alias: dict, amount: int = 200) -> httpx.Response:
    return hub.http.post(
        "/rtpRequest",
        headers={
            "X-CorrelationID": f"rtp-{rtp_id}",
            "X-Platform-TenantId": "sandbox",
            "X-billerId": "MUNI-SBX",
            "X-Callback-URL": f"{hub.biller.url}{DIRECT_PREFIX}/rtpUpdate",
        },
        json={
            "requestId": f"rtpreq{rtp_id}",
            "rtpId": rtp_id,
            "billID": bill_id,
            "requestType": "00",
            "payerFiDetails": {"payerFIBIC": "SBXNBANK001", "financialAddress": ""},
            "alias": alias,
            "billDetails": {"billerName": "SandboxCty", "amount": amount},
        },
    )


def rtp_status(hub: Hub, rtp_id: int) -> httpx.Response:
    return hub.http.get(
        f"/transferRequests/{rtp_id}",
        headers={"X-CorrelationID": f"st-{rtp_id}", "X-Platform-TenantId": "sandbox", "X-billerId": "MUNI-SBX"},
    )


def test_bank_pages_look_up_and_pay_a_bill_once(hub):
    hub.biller.add_bill("MSC-BANK00000001", 300)
    bank = Bank(hub.http.base_url)
    assert "PIN is <strong>2468</strong>" in bank.page()
    assert "Unknown account or wrong PIN" in bank.login(OWNER["phone_number"], pin="0000")
    home = bank.login(OWNER["phone_number"], bill_id="MSC-BANK00000001")
    assert f"Hello {OWNER['name']}" in home and "10000 USD" in home
    assert "Sandbox City" in home and "Pay 300 USD" in home
    form = {n: hidden(home, n) for n in ("billId", "inquiryRequestId", "requestId")}
    paid = bank.post("/bank/pay", home, **form)
    assert "Paid 300 USD for bill MSC-BANK00000001" in paid and "9700 USD" in paid
    # The same form posted again (double click, retried request) debits nothing more.
    again = bank.post("/bank/pay", home, **form)
    assert "Paid 300 USD" in again and "9700 USD" in again
    # Another tab opened before the payment: refused with a clear message.
    other_tab = dict(form, requestId="PAYOTHERTAB1")
    refused = bank.post("/bank/pay", home, **other_tab)
    assert "was not paid: bill already paid" in refused and "9700 USD" in refused
    assert hub.balance(OWNER_ACCOUNT) == 9700 and hub.balance(COLLECTION) == 300
    assert wait_until(lambda: hub.payment("MSC-BANK00000001").status == "acknowledged", 10)
    # Once the biller has it as paid, the look-up says so and offers no Pay button.
    looked = bank.page("MSC-BANK00000001")
    assert "already paid" in looked and 'id="pay"' not in looked
    assert "was not found by the biller" in bank.page("MSC-UNKNOWN00001")
    assert "no biller is registered" in bank.page("XYZ-1")
    hub.check_ledger()


def test_bank_refuses_overdraft_and_forged_forms(hub):
    hub.biller.add_bill("MSC-DEAR00000001", 500)
    poor = next(r for r in demo_world.residents() if r["uin"] == POOR_UIN)
    bank = Bank(hub.http.base_url)
    home = bank.login(f"SNB{POOR_UIN}", bill_id="MSC-DEAR00000001")
    assert f"Hello {poor['name']}" in home and "25 USD" in home
    form = {n: hidden(home, n) for n in ("billId", "inquiryRequestId", "requestId")}
    refused = bank.post("/bank/pay", home, **form)
    assert "insufficient funds" in refused and "25 USD" in refused
    forged = bank.http.post("/bank/pay", data={**form, "csrf": "forged"}, follow_redirects=True)
    assert "The form expired" in forged.text
    stranger = httpx.post(
        f"{hub.http.base_url}/bank/pay", data={**form, "csrf": "x"}, cookies={"bank_csrf": "x"}, follow_redirects=True
    )
    assert "log in again" in stranger.text
    assert hub.payment("MSC-DEAR00000001") is None
    hub.check_ledger()


def test_request_to_pay_accepted_and_refused(hub):
    hub.biller.add_bill("MSC-RTPACCEPT001", 200)
    hub.biller.add_bill("MSC-RTPREFUSE001", 80)
    accepted = rtp(hub, 1001, "MSC-RTPACCEPT001", {"aliasType": "00", "aliasId": OWNER["phone_number"]})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"responseCode": "00", "responseDescription": "accepted", "requestID": "rtpreq1001"}
    assert rtp(hub, 1001, "MSC-RTPACCEPT001", {"aliasType": "00", "aliasId": OWNER["phone_number"]}).status_code == 200
    assert rtp(hub, 1002, "MSC-RTPREFUSE001", {"aliasType": "01", "aliasId": OWNER["vid"]}).status_code == 200
    unknown = rtp(hub, 1003, "MSC-RTPREFUSE001", {"aliasType": "02", "aliasId": "nobody@example.org"})
    assert unknown.status_code == 400 and unknown.json()["responseCode"] == "01"
    assert "unknown payer" in unknown.json()["responseDescription"]
    foreign = rtp(hub, 1004, "WTR-1", {"aliasType": "00", "aliasId": OWNER["phone_number"]})
    assert foreign.status_code == 400
    no_bill = rtp(hub, 1005, "MSC-NOSUCHBILL01", {"aliasType": "00", "aliasId": OWNER["phone_number"]})
    assert no_bill.status_code == 400 and no_bill.json()["responseDescription"] == "bill not found"
    hub.biller.add_bill("MSC-PAIDALREADY1", 80, status="PAID")
    paid = rtp(hub, 1006, "MSC-PAIDALREADY1", {"aliasType": "00", "aliasId": OWNER["phone_number"]})
    assert paid.status_code == 400 and paid.json()["responseDescription"] == "bill already paid"
    assert rtp_status(hub, 1001).json()["rtpStatus"] == "PENDING"

    bank = Bank(hub.http.base_url)
    home = bank.login(f"SNB{OWNER['uin']}")
    inbox = home[home.index('id="inbox"') :]
    assert inbox.count("Accept and pay") == 2
    first = re.findall(r'action="/bank/rtp/(\d+)"', inbox)
    by_bill = dict(zip(re.findall(r'class="nowrap">(MSC-RTP\w+)<', inbox), first))
    after = bank.post(f"/bank/rtp/{by_bill['MSC-RTPACCEPT001']}", home, decision="accept")
    assert "accepted and paid" in after and "9800 USD" in after
    after = bank.post(f"/bank/rtp/{by_bill['MSC-RTPREFUSE001']}", after, decision="refuse")
    assert "refused" in after and "9800 USD" in after

    updates = {u["json"]["rtpId"]: u for u in hub.biller.wait_for("rtpUpdate", 2)}
    assert updates[1001]["json"] == {
        "requestId": "rtpreq1001",
        "rtpId": 1001,
        "billId": "MSC-RTPACCEPT001",
        "rtpStatus": "00",
    }
    assert updates[1002]["json"]["rtpStatus"] == "01" and updates[1002]["json"]["rejectReason"] == "R"
    assert updates[1001]["headers"]["x-billerid"] == "MUNI-SBX"
    assert wait_until(lambda: rtp_status(hub, 1001).json()["rtpStatus"] == "PAID", 10)
    status = rtp_status(hub, 1002)
    assert status.status_code == 202
    assert status.json() == {
        "responseCode": "00",
        "reason": "request to pay refused",
        "requestID": "st-1002",
        "rtpStatus": "REFUSED",
        "billId": "MSC-RTPREFUSE001",
    }
    assert wait_until(
        lambda: {p["json"]["requestStatus"] for p in hub.biller.of_kind("rtpStatus")} == {"PND", "COM", "RJC"}, 10
    )
    assert rtp_status(hub, 9999).status_code == 400
    assert hub.balance(OWNER_ACCOUNT) == 9800 and hub.balance(COLLECTION) == 200
    hub.check_ledger()


def test_request_to_pay_refuses_bad_input(hub):
    alias = {"aliasType": "00", "aliasId": OWNER["phone_number"]}
    for amount in ("abc", 1.23456, -5, 0, True):
        bad = rtp(hub, 2001, "MSC-BADAMOUNT001", alias, amount=amount)
        assert bad.status_code == 400, amount
        assert bad.json() == {
            "responseCode": "01",
            "requestID": "rtpreq2001",
            "responseDescription": "billDetails.amount must be a positive number",
        }
    headers = {
        "X-CorrelationID": "rtp-x",
        "X-Platform-TenantId": "sandbox",
        "X-billerId": "NOBODY",
        "X-Callback-URL": f"{hub.biller.url}{DIRECT_PREFIX}/rtpUpdate",
    }
    unknown_biller = hub.http.post("/rtpRequest", headers=headers, json={"rtpId": 1, "billID": "MSC-1"})
    assert unknown_biller.status_code == 400 and "unknown biller" in unknown_biller.json()["responseDescription"]
    no_callback = hub.http.post(
        "/rtpRequest", headers={k: v for k, v in headers.items() if k != "X-Callback-URL"}, json={}
    )
    assert no_callback.status_code == 400 and no_callback.json()["responseCode"] == "01"
    with hub.app.state.db.session() as session:
        assert session.scalar(select(func.count()).select_from(RequestToPay)) == 0


def test_inquiry_when_the_biller_is_down(hub):
    hub.biller.server.stop()
    down = hub.inquire("MSC-ANY000000001", "inq-down")
    assert down.status_code == 502 and down.json()["responseCode"] == "01"
    assert down.json()["reason"].startswith("biller unreachable")
