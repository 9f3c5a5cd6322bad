"""What a caller may make Payments do in its name (security findings: confused deputy, programme owner).

Callbacks go only to an IM service of the calling application (or an allow-listed URL): Payments sends them
with its own IM credential, so any other target would let a caller borrow it. A programme's fund is spent
only by the application owning the programme, and a source BB id counts only for the application it is
configured for. Every caller here is signed as the IM would sign it.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from services.payments.g2p.models import Batch
from services.payments.mapper.models import Beneficiary
from services.payments.outbox.models import OutboxMessage
from services.payments.seed import load_seed, resident_accounts
from services.payments.settings import DEFAULT_SEED_FILE
from services.payments.vouchers.models import Voucher
from tests.support import IMSigner

from .support import OPENING, assert_ledger_consistent, balance, drain, make_app

IM = "http://im.test:8000"
USCT = "SANDBOX/GOV/SOCIAL-WELFARE/USCT"  # owns programmes USCT and FOODVOUCH in seed.yaml
PERMIT = "SANDBOX/GOV/MUNICIPALITY/CONSTRUCTION-PERMIT"  # a member with a source of its own, no programme
PERMIT_SOURCE = "PERMITSOURCE"  # 12 characters, as the 1.0 API's SourceBBID
USCT_SOURCE = "USCTREGISTRY"  # seed.yaml: a source of USCT
ALLOWED = "https://receiver.example/hooks/"
FUND = "FUND:USCT:USD"
PAYEE = next(r for r in resident_accounts(load_seed(DEFAULT_SEED_FILE)) if r["status"] == "open")


@pytest.fixture
def hub(db_fields, tmp_path):
    """Payments with the real seed.yaml plus a source for PERMIT; requests signed as USCT unless told."""
    config = load_seed(DEFAULT_SEED_FILE)
    config["sources"][PERMIT] = [PERMIT_SOURCE]
    seed_file = tmp_path / "seed.yaml"
    seed_file.write_text(yaml.safe_dump(config))
    app = make_app(
        db_fields, tmp_path, im_url=IM, seed_file=seed_file, worker_enabled=False, callback_allow_list=[ALLOWED]
    )
    signer = IMSigner(USCT)
    with signer.attach(TestClient(app), app) as client:
        yield Hub(app, client, signer)


class Hub:
    def __init__(self, app, client, signer):
        self.app, self.client, self.signer = app, client, signer

    def post(self, path: str, body, headers: dict | None = None, caller: str = USCT):
        content = json.dumps(body).encode()
        token = self.signer.assertion(self.app, "POST", path, content, client_id=caller)
        headers = {**(headers or {}), "Content-Type": "application/json", "Information-Mediator-Assertion": token}
        return self.client.post(path, content=content, headers=headers)

    def count(self, model) -> int:
        with self.app.state.db.session() as session:
            return session.scalar(select(func.count()).select_from(model))

    def fund(self) -> Decimal:
        with self.app.state.db.session() as session:
            assert_ledger_consistent(session)
            return balance(session, FUND)


def registration(request_id: str, source: str = USCT_SOURCE, address: str = PAYEE["address"]) -> dict:
    beneficiary = {
        "PayeeFunctionalID": PAYEE["functional_id"],
        "PaymentModality": PAYEE["modality"],
        "FinancialAddress": address,
    }
    return {"RequestID": request_id, "SourceBBID": source, "Beneficiaries": [beneficiary]}


def bulk(request_id: str, source: str = USCT_SOURCE, amount: int = 25) -> dict:
    instruction = {"InstructionID": f"ins0{request_id}", "PayeeFunctionalID": PAYEE["functional_id"], "Amount": amount}
    return {
        "RequestID": request_id,
        "SourceBBID": source,
        "BatchID": request_id,
        "CreditInstructions": [{**instruction, "Currency": "USD"}],
    }


def v3_transaction() -> dict:
    return {
        "requestId": "t1",
        "creditParty": [{"key": "functionalId", "value": PAYEE["functional_id"]}],
        "debitParty": [{"key": "programme", "value": "USCT"}],
        "paymentMode": "mojaloop",
        "amount": 5,
        "currency": "USD",
    }


def im_service(client_id: str, rest: str = "callbacks/status") -> str:
    return f"{IM}/r1/{client_id}/{rest}"


OTHER_MEMBERS_SERVICES = [
    im_service(PERMIT, "callbacks/billTransferRequests"),  # the municipality's biller endpoint
    im_service(USCT, "callbacks/../../../../MUNICIPALITY/CONSTRUCTION-PERMIT/callbacks/x"),  # resolved by httpx
    f"{IM}/r1/SANDBOX/GOV/SOCIAL-WELFARE/USCT%2F..%2F..%2FMUNICIPALITY/callbacks/x",
    im_service(USCT, "pub/events"),  # the IM's pub/sub under USCT's name, not a service of it
    f"{IM}/r1/SANDBOX/GOV/SOCIAL-WELFARE",
]


@pytest.mark.parametrize("url", OTHER_MEMBERS_SERVICES)
def test_a_callback_to_another_members_im_service_is_refused_and_nothing_is_stored(hub, url):
    refused = hub.post("/register-beneficiary", registration("reg000000001"), {"X-Callback-URL": url})
    assert refused.status_code == 400, refused.text
    assert refused.json()["ResponseCode"] == "01" and "X-Callback-URL" in refused.json()["ResponseDescription"]
    paid = hub.post("/bulk-payment", bulk("pay000000001"), {"X-Callback-URL": url})
    assert paid.status_code == 400 and "X-Callback-URL" in paid.json()["ResponseDescription"]
    assert (hub.count(OutboxMessage), hub.count(Beneficiary), hub.count(Batch)) == (0, 0, 0)


@pytest.mark.parametrize(
    "url",
    [
        "http://attacker.example/cb",
        "http://127.0.0.1:8000/r1/SANDBOX/GOV/SOCIAL-WELFARE/USCT/callbacks/x",  # the IM under another name
        "https://receiver.example/hooks-elsewhere",  # beside the allow-listed prefix, not under it
        "https://receiver.example@attacker.example/hooks/",
    ],
)
def test_a_callback_outside_the_im_and_not_allow_listed_is_refused(hub, url):
    headers = {"X-CorrelationID": "corr-1", "Platform-TenantId": "sandbox", "X-Callback-URL": url}
    refused = hub.post("/batchtransactions?type=raw", [v3_transaction()], headers)
    assert refused.status_code == 400 and "X-Callback-URL" in refused.json()["responseDescription"], refused.text
    mapper = hub.post("/register-beneficiary", registration("reg000000002"), {"X-Callback-URL": url})
    assert mapper.status_code == 400 and "X-Callback-URL" in mapper.json()["ResponseDescription"]
    rtp = hub.post("/rtpRequest", {"rtpId": 1}, {**headers, "X-billerId": "MUNI-SBX", "X-Platform-TenantId": "t"})
    assert rtp.status_code == 400 and "X-Callback-URL" in rtp.json()["responseDescription"], rtp.text
    assert (hub.count(OutboxMessage), hub.count(Batch)) == (0, 0)


def test_a_callback_to_the_callers_own_im_service_or_an_allow_listed_url_is_accepted(hub):
    own = im_service(USCT, "callbacks/payments/onboarding")
    accepted = hub.post("/register-beneficiary", registration("reg000000003"), {"X-Callback-URL": own})
    assert accepted.status_code == 200 and accepted.json()["ResponseCode"] == "00", accepted.text
    listed = ALLOWED + "usct"
    paid = hub.post("/bulk-payment", bulk("pay000000003"), {"X-Callback-URL": listed})
    assert paid.status_code == 200 and paid.json()["ResponseCode"] == "00", paid.text
    drain(hub.app)
    with hub.app.state.db.session() as session:
        targets = sorted(m.target_url.split("?")[0] for m in session.scalars(select(OutboxMessage)))
    assert targets == sorted([own, listed])


def test_without_a_verified_caller_only_allow_listed_callbacks_are_accepted(db_fields, tmp_path):
    app = make_app(db_fields, tmp_path, im_url=IM, require_im_assertion=False, callback_allow_list=[ALLOWED])
    with TestClient(app) as client:  # a direct call: nobody the IM vouches for
        own = im_service(USCT, "callbacks/x")
        refused = client.post(
            "/register-beneficiary", json=registration("reg000000011"), headers={"X-Callback-URL": own}
        )
        assert refused.status_code == 400 and "X-Callback-URL" in refused.json()["ResponseDescription"]
        listed = client.post(
            "/register-beneficiary", json=registration("reg000000012"), headers={"X-Callback-URL": ALLOWED}
        )
        assert listed.status_code == 200, listed.text


def test_a_bulk_payment_from_a_client_that_does_not_own_the_programme_is_refused(hub):
    assert hub.post("/register-beneficiary", registration("reg000000004")).status_code == 200
    assert (
        hub.post("/register-beneficiary", registration("reg000000005", PERMIT_SOURCE), caller=PERMIT).status_code == 200
    )
    attempts = [
        ("/bulk-payment", bulk("pay000000004", PERMIT_SOURCE), {"X-Program-Id": "USCT"}),
        ("/bulk-payment", bulk("pay000000005", PERMIT_SOURCE), {}),  # the default programme is USCT's too
        ("/prepayment-validation", bulk("pre000000004", PERMIT_SOURCE), {"X-Program-Id": "USCT"}),
    ]
    for path, body, headers in attempts:
        refused = hub.post(path, body, headers, caller=PERMIT)
        assert refused.status_code == 403, refused.text
        assert refused.json()["ResponseCode"] == "01" and "another application" in refused.json()["ResponseDescription"]
    v3 = hub.post(
        "/batchtransactions?type=raw",
        [v3_transaction()],
        {
            "X-CorrelationID": "corr-2",
            "Platform-TenantId": "sandbox",
            "X-Callback-URL": ALLOWED,
            "X-Program-Id": "USCT",
        },
        caller=PERMIT,
    )
    assert v3.status_code == 403 and "another application" in v3.json()["responseDescription"], v3.text
    drain(hub.app)
    assert hub.count(Batch) == 0 and hub.fund() == OPENING

    owner = hub.post("/bulk-payment", bulk("pay000000006"), {"X-Program-Id": "USCT"})
    assert owner.status_code == 200 and owner.json()["ResponseCode"] == "00", owner.text
    drain(hub.app)
    assert hub.fund() == OPENING - 25


def test_a_source_bb_id_counts_only_for_the_application_configured_for_it(hub):
    assert hub.post("/register-beneficiary", registration("reg000000006")).status_code == 200
    # PERMIT names USCT's source: it may neither redirect USCT's payees nor pay as USCT.
    redirect = hub.post(
        "/update-beneficiary-details", registration("upd000000001", address="SNB0000000000"), caller=PERMIT
    )
    assert redirect.status_code == 403 and redirect.json()["ResponseCode"] == "01", redirect.text
    as_usct = hub.post("/bulk-payment", bulk("pay000000007"), caller=PERMIT)
    assert as_usct.status_code == 403
    lookup = hub.client.get(
        "/beneficiary/",
        params={"payeeIdentity": PAYEE["functional_id"], "requestId": "lookup1"},
        headers={
            "registeringInstitutionId": USCT_SOURCE,
            "Information-Mediator-Assertion": hub.signer.assertion(
                hub.app,
                "GET",
                f"/beneficiary/?payeeIdentity={PAYEE['functional_id']}&requestId=lookup1",
                b"",
                client_id=PERMIT,
            ),
        },
    )
    assert lookup.status_code == 403 and lookup.json()["responseCode"] == "01", lookup.text
    with hub.app.state.db.session() as session:
        assert session.scalar(select(Beneficiary.financial_address)) == PAYEE["address"]
    assert hub.count(Batch) == 0 and hub.fund() == OPENING


def test_vouchers_are_issued_only_by_the_programme_owner(hub):
    body = {"voucher_amount": 20, "voucher_currency": "USD", "voucher_group": "FDV", "Gov_Stack_BB": "USCT"}
    assert hub.post("/vouchers/voucher_preactivation", body, caller=PERMIT).status_code == 403
    own_source = {**body, "Gov_Stack_BB": PERMIT_SOURCE}
    assert hub.post("/vouchers/voucher_preactivation", own_source, caller=PERMIT).status_code == 460  # no issuer
    v3 = {
        "requestID": "vch1",
        "voucherInstructions": [{"instructionID": "1", "groupCode": "FDV", "currency": "USD", "amount": 5}],
    }
    refused = hub.post(
        "/vouchers",
        v3,
        {"X-Callback-URL": im_service(PERMIT, "callbacks/v"), "X-Registering-Institution-Id": PERMIT_SOURCE},
        caller=PERMIT,
    )
    assert refused.status_code == 403 and refused.json()["ResponseCode"] == "01", refused.text
    assert hub.count(Voucher) == 0
    issued = hub.post("/vouchers/voucher_preactivation", body)
    assert issued.status_code == 200 and hub.count(Voucher) == 1, issued.text


def test_seed_yaml_makes_usct_the_owner_of_its_programmes(hub):
    from services.payments.g2p.models import Programme

    with hub.app.state.db.session() as session:
        owners = {p.code: p.owner_client for p in session.scalars(select(Programme))}
    assert owners == {"USCT": USCT, "FOODVOUCH": USCT}
