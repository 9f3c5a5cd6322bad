"""Through a real Information Mediator: the use case calls Payments via the IM, and Payments' callbacks come
back through the IM under its own identity (X-Road-Client = the Payments application)."""

from __future__ import annotations

import httpx

from services.common import demo_world
from services.common.im_client import hash_secret
from services.information_mediator.app import create_app as create_im
from services.information_mediator.settings import IMSettings
from services.payments.settings import DEFAULT_SEED_FILE
from tests.support import LiveServer, free_port

from .support import Recorder, make_app

ADMIN = "test-admin-token"
USCT, USCT_SECRET = "SANDBOX/GOV/SOCIAL-WELFARE/USCT", "usct-secret"
PAYEE_ID = demo_world.functional_id("9369006020")  # Kofi Mensah, account SNB9369006020
PAYMENTS, PAYMENTS_SECRET = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS", "payments-secret"


def svc(code: str, url: str, member: str, application: str) -> dict:
    """A service entry of the IM configuration, open to one client application."""
    return {
        "id": code,
        "serviceUrl": url,
        "specUrl": f"{url}/openapi.json",
        "enabled": True,
        "rights": [{"member": member, "application": application}],
    }


def im_conf(payments_url: str, usct_url: str) -> dict:
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
                        "services": [
                            svc("mapper", payments_url, "SOCIAL-WELFARE", "USCT"),
                            svc("g2p", payments_url, "SOCIAL-WELFARE", "USCT"),
                        ],
                    }
                ],
            },
            {
                "name": "Ministry of Social Welfare",
                "class": "GOV",
                "code": "SOCIAL-WELFARE",
                "applications": [
                    {
                        "id": "USCT",
                        "secretHash": hash_secret(USCT_SECRET),
                        "services": [svc("callbacks", usct_url, "PAYMENTS-AUTHORITY", "PAYMENTS")],
                    }
                ],
            },
        ],
    }


def test_register_and_pay_through_the_im_with_callbacks_back_through_it(make_db_fields, tmp_path):
    im_port = free_port()
    im_url = f"http://127.0.0.1:{im_port}"
    payments_app = make_app(
        make_db_fields("payments"),
        tmp_path / "payments",
        im_url=im_url,
        im_client=PAYMENTS,
        im_client_secret=PAYMENTS_SECRET,
        seed_file=DEFAULT_SEED_FILE,  # USCT owns its programme, as configured
    )
    im_app = create_im(
        IMSettings(**make_db_fields("im"), data_dir=tmp_path / "im", admin_token=ADMIN, registry_poll_seconds=0.2)
    )
    with Recorder() as usct, LiveServer(payments_app) as payments, LiveServer(im_app, port=im_port) as im:
        http = httpx.Client(base_url=im.url, timeout=30)
        configured = http.put(
            "/api/v1/config", json=im_conf(payments.url, usct.url), headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert configured.status_code == 201, configured.text
        headers = {
            "Information-Mediator-Client": USCT,
            "Information-Mediator-Client-Secret": USCT_SECRET,
            "X-Callback-URL": f"{im.url}/r1/{USCT}/callbacks/payments/onboarding",
        }
        response = http.post(
            f"/r1/{PAYMENTS}/mapper/register-beneficiary",
            headers=headers,
            json={
                "RequestID": "reg000000001",
                "SourceBBID": "USCTREGISTRY",
                "Beneficiaries": [
                    {"PayeeFunctionalID": PAYEE_ID, "PaymentModality": "00", "FinancialAddress": "SNB9369006020"}
                ],
            },
        )
        assert response.status_code == 200, response.text
        assert response.json()["ResponseCode"] == "00"

        callback = usct.wait_for(1)[0]
        assert callback["path"] == "/payments/onboarding"
        assert callback["json"]["registerRequestID"] == "reg000000001" and callback["json"]["numberFailedCases"] == 0
        assert callback["headers"].get("x-road-client") == PAYMENTS

        headers["X-Callback-URL"] = f"{im.url}/r1/{USCT}/callbacks/payments/status"
        paid = http.post(
            f"/r1/{PAYMENTS}/g2p/bulk-payment",
            headers=headers,
            json={
                "RequestID": "pay000000001",
                "SourceBBID": "USCTREGISTRY",
                "BatchID": "batch0000001",
                "CreditInstructions": [
                    {
                        "InstructionID": "ins0000000000001",
                        "PayeeFunctionalID": PAYEE_ID,
                        "Amount": 150,
                        "Currency": "USD",
                    }
                ],
            },
        )
        assert paid.status_code == 200 and paid.json()["ResponseCode"] == "00"
        status = usct.wait_for(2, timeout=20)[1]
        assert status["path"] == "/payments/status" and status["query"]["X-CorrelationID"] == "pay000000001"
        assert status["json"]["completed"] == 1 and status["json"]["completed_amount"] == 150
        http.close()
