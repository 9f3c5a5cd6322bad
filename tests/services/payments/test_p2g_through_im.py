"""P2G through a real Information Mediator: the biller's request-to-pay reaches the hub through the IM, and
every hub -> biller call (inquiry, mark-bill-paid, rtpUpdate) goes through it as the Payments application."""

from __future__ import annotations

import httpx

from services.common.im_client import hash_secret
from services.information_mediator.app import create_app as create_im
from services.information_mediator.settings import IMSettings
from tests.support import LiveServer, free_port, wait_until

from .p2g_support import MUNICIPALITY, OWNER, OWNER_ACCOUNT, PAYMENTS, Bank, FakeBiller, Hub
from .support import make_app
from .test_through_im import ADMIN, PAYMENTS_SECRET, svc

PERMIT, PERMIT_SECRET = "SANDBOX/GOV/MUNICIPALITY/CONSTRUCTION-PERMIT", "permit-secret"


def im_conf(payments_url: str, biller_url: str) -> dict:
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
                        "services": [svc("callbacks", biller_url, "PAYMENTS-AUTHORITY", "PAYMENTS")],
                    }
                ],
            },
        ],
    }


def test_request_to_pay_and_bill_payment_through_the_im(make_db_fields, tmp_path):
    im_port = free_port()
    im_url = f"http://127.0.0.1:{im_port}"
    payments_app = make_app(
        make_db_fields("payments"),
        tmp_path / "payments",
        im_url=im_url,
        im_client=PAYMENTS,
        im_client_secret=PAYMENTS_SECRET,
        p2g_ack_wait_seconds=1,
    )
    im_app = create_im(
        IMSettings(**make_db_fields("im"), data_dir=tmp_path / "im", admin_token=ADMIN, registry_poll_seconds=0.2)
    )
    with (
        FakeBiller(prefixes=("",)) as biller,
        LiveServer(payments_app) as payments,
        LiveServer(im_app, port=im_port) as im,
        httpx.Client(base_url=im.url, timeout=30) as http,
    ):
        configured = http.put(
            "/api/v1/config", json=im_conf(payments.url, biller.url), headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert configured.status_code == 201, configured.text
        as_permit = {"Information-Mediator-Client": PERMIT, "Information-Mediator-Client-Secret": PERMIT_SECRET}
        biller.hub_url, biller.hub_headers = f"{im.url}/r1/{PAYMENTS}/p2g", as_permit
        biller.add_bill("MSC-VIAIM0000001", 450)

        sent = http.post(
            f"/r1/{PAYMENTS}/p2g/rtpRequest",
            headers={
                **as_permit,
                "X-CorrelationID": "rtp-im-1",
                "X-Platform-TenantId": "sandbox",
                "X-billerId": "MUNI-SBX",
                "X-Callback-URL": f"{im.url}/r1/{MUNICIPALITY}/rtpUpdate",
            },
            json={
                "requestId": "rtpim0000001",
                "rtpId": 7,
                "billID": "MSC-VIAIM0000001",
                "requestType": "00",
                "alias": {"aliasType": "01", "aliasId": OWNER["vid"]},
                "billDetails": {"billerName": "SandboxCty", "amount": 450},
            },
        )
        assert sent.status_code == 200, sent.text
        assert sent.headers["x-road-client"] == PERMIT

        bank = Bank(payments.url)
        home = bank.login(OWNER["phone_number"])
        rtp_pk = home.split('action="/bank/rtp/')[1].split('"')[0]
        assert "accepted and paid" in bank.post(f"/bank/rtp/{rtp_pk}", home, decision="accept")

        hub = Hub(payments_app, http, biller)
        assert wait_until(lambda: (p := hub.payment("MSC-VIAIM0000001")) is not None and p.status == "acknowledged", 20)
        # The bill is checked when the RTP arrives, and again when the customer accepts: that inquiry, the
        # mark-bill-paid and the rtpUpdate come from the Payments application, correlated with the action that
        # caused them (the IM gives every exchange its own message id).
        at_rtp, at_click = biller.wait_for("inquiry", 2)
        assert at_rtp["headers"]["x-road-correlation-id"] == sent.headers["x-road-id"]
        calls = [at_click, biller.wait_for("mark")[0], biller.wait_for("rtpUpdate")[0]]
        assert {c["headers"]["x-road-client"] for c in [at_rtp, *calls]} == {PAYMENTS}
        assert len({c["headers"]["x-road-correlation-id"] for c in calls}) == 1
        assert len({c["headers"]["x-road-id"] for c in calls}) == 3
        assert biller.wait_for("rtpUpdate")[0]["json"]["rtpStatus"] == "00"
        assert biller.wait_for("status-202")[0]["json"]["responseCode"] == "00"
        assert hub.balance(OWNER_ACCOUNT) == 10000 - 450
        hub.check_ledger()
