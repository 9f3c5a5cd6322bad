"""The municipality's biller side of P2G against the real Payments hub, through a real IM: a bill issued by the
use case is looked up and paid at the simulated bank, and the use case has it as paid exactly once."""

from __future__ import annotations

import httpx
import pytest

from services.common.im_client import hash_secret
from services.information_mediator.app import create_app as create_im
from services.information_mediator.settings import IMSettings
from tests.services.payments.p2g_support import COLLECTION, OWNER, OWNER_ACCOUNT, PAYMENTS, Bank, Hub, hidden
from tests.services.payments.support import make_app as make_payments
from tests.services.payments.test_through_im import ADMIN, PAYMENTS_SECRET, svc
from tests.support import LiveServer, free_port, wait_until
from usecases.construction_permit import billing
from usecases.construction_permit.app import create_app as create_permit
from usecases.construction_permit.models import Bill
from usecases.construction_permit.settings import ConstructionPermitSettings

PERMIT, PERMIT_SECRET = "SANDBOX/GOV/MUNICIPALITY/CONSTRUCTION-PERMIT", "permit-secret"
CALLBACKS = f"/r1/{PERMIT}/callbacks"


def im_conf(payments_url: str, permit_url: str) -> dict:
    return {
        "domain": "test.localhost",
        "instance": "SANDBOX",
        "members": [
            {
                "name": "Treasury Payments Hub",
                "class": "GOV",
                "code": "PAYMENTS-AUTHORITY",
                "applications": [
                    {
                        "id": "PAYMENTS",
                        "secretHash": hash_secret(PAYMENTS_SECRET),
                        "services": [svc("p2g", payments_url, "MUNICIPALITY", "CONSTRUCTION-PERMIT")],
                    }
                ],
            },
            {
                "name": "Sandbox City",
                "class": "GOV",
                "code": "MUNICIPALITY",
                "applications": [
                    {
                        "id": "CONSTRUCTION-PERMIT",
                        "secretHash": hash_secret(PERMIT_SECRET),
                        "services": [svc("callbacks", permit_url, "PAYMENTS-AUTHORITY", "PAYMENTS")],
                    }
                ],
            },
        ],
    }


@pytest.fixture
def world(make_db_fields, tmp_path):
    """IM, Payments and the use case as live servers, wired through the IM."""
    im_port = free_port()
    im_url = f"http://127.0.0.1:{im_port}"
    payments_app = make_payments(
        make_db_fields("payments"),
        tmp_path / "payments",
        im_url=im_url,
        im_client=PAYMENTS,
        im_client_secret=PAYMENTS_SECRET,
        p2g_ack_wait_seconds=1,
    )
    permit_app = create_permit(
        ConstructionPermitSettings(
            **make_db_fields("permit"),
            data_dir=tmp_path / "permit",
            im_url=im_url,
            im_client=PERMIT,
            im_client_secret=PERMIT_SECRET,
        )
    )
    im_app = create_im(
        IMSettings(**make_db_fields("im"), data_dir=tmp_path / "im", admin_token=ADMIN, registry_poll_seconds=0.2)
    )
    with (
        LiveServer(payments_app) as payments,
        LiveServer(permit_app) as permit,
        LiveServer(im_app, port=im_port) as im,
        httpx.Client(base_url=im.url, timeout=30) as http,
    ):
        configured = http.put(
            "/api/v1/config", json=im_conf(payments.url, permit.url), headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert configured.status_code == 201, configured.text
        yield {
            "permit_app": permit_app,
            "payments_app": payments_app,
            "payments": payments,
            "permit": permit,
            "im": http,
        }


def issue(app, amount: int) -> str:  # noqa: ANN001
    with app.state.db.session() as session:
        return billing.issue_bill(session, app.state.settings, "application-1", amount).id


def bill(app, bill_id: str) -> Bill:  # noqa: ANN001
    with app.state.db.session() as session:
        return session.get(Bill, bill_id)


def test_bill_issued_by_the_municipality_is_paid_once_at_the_bank(world):
    bill_id = issue(world["permit_app"], 740)
    assert bill_id.startswith("MSC-") and len(bill_id) == 16
    bank = Bank(world["payments"].url)
    home = bank.login(OWNER["phone_number"], bill_id=bill_id)
    assert "Sandbox City" in home and "Pay 740 USD" in home
    form = {n: hidden(home, n) for n in ("billId", "inquiryRequestId", "requestId")}
    assert f"Paid 740 USD for bill {bill_id}" in bank.post("/bank/pay", home, **form)

    # mark-bill-paid reached the use case through the IM; its ACK reached the hub
    assert wait_until(lambda: bill(world["permit_app"], bill_id).status == "PAID", 20)
    hub = Hub(world["payments_app"], httpx.Client(base_url=world["payments"].url), None)
    assert wait_until(lambda: hub.payment(bill_id).status == "acknowledged", 20)
    assert hub.balance(OWNER_ACCOUNT) == 10000 - 740 and hub.balance(COLLECTION) == 740
    hub.check_ledger()
    # The bank now sees the bill as paid (the biller's own answer) and offers no payment.
    looked = bank.page(bill_id)
    assert "already paid" in looked and 'id="pay"' not in looked


def test_biller_endpoints_answer_only_the_hub_through_the_im(world):
    bill_id = issue(world["permit_app"], 100)
    direct = httpx.get(f"{world['permit'].url}/bills/{bill_id}", headers={"X-CorrelationID": "c1"})
    assert direct.status_code == 401 and direct.json()["code"] == "98"
    as_permit = {"Information-Mediator-Client": PERMIT, "Information-Mediator-Client-Secret": PERMIT_SECRET}
    # the municipality itself may not call its own biller service (no access right in the IM)
    own = world["im"].get(f"{CALLBACKS}/bills/{bill_id}", headers={**as_permit, "X-CorrelationID": "c2"})
    assert own.status_code == 403


def test_mark_bill_paid_is_idempotent_and_refuses_unknown_and_double_payments(world):
    app = world["permit_app"]
    bill_id = issue(app, 50)
    with app.state.db.session() as session:
        assert billing.mark_paid(session, bill_id, "REF-1", "FI") == ("ACK", None)
    with app.state.db.session() as session:
        assert billing.mark_paid(session, bill_id, "REF-1", "FI") == ("ACK", None)  # the hub resending
        assert billing.mark_paid(session, bill_id, "REF-2", "FI") == ("RJC", "Dup")
        assert billing.mark_paid(session, "MSC-NOSUCHBILL01", "REF-3", "FI") == ("RJC", "Und")
    assert bill(app, bill_id).payment_reference == "REF-1"


def test_bill_amounts_must_be_positive(world):
    with pytest.raises(ValueError), world["permit_app"].state.db.session() as session:
        billing.issue_bill(session, world["permit_app"].state.settings, "application-1", 0)
