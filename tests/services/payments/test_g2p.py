"""G2P bulk disbursement: 1.0 and v3 APIs, settlement in the ledger, failures, duplicates, callbacks."""

from __future__ import annotations

import time
from decimal import Decimal

from services.payments.seed import load_seed, resident_accounts
from services.payments.settings import DEFAULT_SEED_FILE
from tests.support import mediated_client

from .support import (
    OPENING,
    SOURCE,
    Recorder,
    all_details,
    allow_callbacks,
    assert_ledger_consistent,
    balance,
    bulk_payment,
    register,
    wait_settled,
)

RESIDENTS = resident_accounts(load_seed(DEFAULT_SEED_FILE))
OPEN = [r for r in RESIDENTS if r["status"] == "open"]
CLOSED = [r for r in RESIDENTS if r["status"] == "closed"]


def register_all(client) -> None:
    register(client, [(r["functional_id"], r["modality"], r["address"]) for r in RESIDENTS])


def test_v1_batch_settles_in_the_ledger_and_reports(client, app):
    register_all(client)
    good = OPEN[:5]
    instructions = [(f"ins{n:013d}", r["functional_id"], "120.25") for n, r in enumerate(good)]
    instructions += [
        ("insclosed0000001", CLOSED[0]["functional_id"], "50"),
        ("insunknown000001", "00000000000000000000", "70"),
    ]
    with Recorder() as target:
        allow_callbacks(app, target.url)
        response = bulk_payment(
            client,
            "pay000000001",
            "batch0000001",
            instructions,
            headers={"X-Callback-URL": target.url + "/usct/status"},
        )
        assert response.status_code == 200
        ack = response.json()
        assert ack["ResponseCode"] == "00" and ack["RequestID"] == "pay000000001"
        summary = wait_settled(client, ack["PaymentsBatchID"])
        assert summary["TotalTransactions"] == 7 and summary["completed"] == 5 and summary["failed"] == 2
        assert summary["ongoing"] == 0 and summary["ongoing_amount"] == 0
        assert Decimal(str(summary["completed_amount"])) == Decimal("601.25")
        assert Decimal(str(summary["failed_amount"])) == Decimal("120")
        assert Decimal(str(summary["totalAmount"])) == Decimal("721.25")

        callback = target.wait_for(1)[0]
        assert callback["path"] == "/usct/status"
        assert callback["query"] == {"batchId": ack["PaymentsBatchID"], "X-CorrelationID": "pay000000001"}
        for key in (
            "requestId",
            "batchId",
            "TotalTransactions",
            "failed",
            "completed",
            "totalAmount",
            "completed_amount",
            "ongoing_amount",
            "failed_amount",
            "result_file",
            "resultGeneratedAt",
            "note",
        ):
            assert key in callback["json"], key
        assert callback["json"]["completed"] == 5

    details = {d["transactionId"]: d for d in all_details(client, ack["PaymentsBatchID"])}
    assert details["insclosed0000001"]["status"] == "FAILED"
    assert "closed" in details["insclosed0000001"]["errorInformation"]
    assert "not registered" in details["insunknown000001"]["errorInformation"]
    assert details["ins0000000000000"]["status"] == "COMPLETED"
    assert details["ins0000000000000"]["payeeDfspId"] == good[0]["fsp"]
    assert details["ins0000000000000"]["amount"] == 120.25

    with app.state.db.session() as session:
        assert balance(session, "FUND:USCT:USD") == OPENING - Decimal("601.25")
        credited = sum(Decimal("120.25") for r in good if r["fsp"] == good[0]["fsp"])
        assert balance(session, f"FSP:{good[0]['fsp']}:USD") == credited
        assert_ledger_consistent(session)


def test_retried_request_returns_first_answer_and_never_pays_twice(client, app):
    register_all(client)
    instructions = [("ins0000000000001", OPEN[0]["functional_id"], "10")]
    first = bulk_payment(client, "pay000000002", "batch0000002", instructions).json()
    wait_settled(client, first["PaymentsBatchID"])
    again = bulk_payment(client, "pay000000002", "batch0000002", instructions)
    assert again.status_code == 200 and again.json() == first
    # Same instruction in a new batch: rejected as a duplicate payment, not paid.
    other = bulk_payment(client, "pay000000003", "batch0000003", instructions).json()
    summary = wait_settled(client, other["PaymentsBatchID"])
    assert summary["completed"] == 0 and summary["failed"] == 1
    detail = all_details(client, other["PaymentsBatchID"])[0]
    assert "duplicate" in detail["errorInformation"]
    with app.state.db.session() as session:
        assert balance(session, "FUND:USCT:USD") == OPENING - 10
        assert_ledger_consistent(session)


def test_duplicate_payments_inside_a_batch(client, app):
    register_all(client)
    same_ids = bulk_payment(
        client,
        "pay000000004",
        "batch0000004",
        [("ins0000000000001", OPEN[0]["functional_id"], "10"), ("ins0000000000001", OPEN[1]["functional_id"], "10")],
    )
    assert same_ids.status_code == 400
    assert same_ids.json()["ResponseCode"] == "01" and "duplicate" in same_ids.json()["ResponseDescription"]
    same_payment = bulk_payment(
        client,
        "pay000000005",
        "batch0000005",
        [
            ("ins0000000000001", OPEN[0]["functional_id"], "10"),
            ("ins0000000000002", OPEN[0]["functional_id"], "10"),
            ("ins0000000000003", OPEN[0]["functional_id"], "11"),
        ],
    ).json()
    summary = wait_settled(client, same_payment["PaymentsBatchID"])
    assert (summary["completed"], summary["failed"]) == (2, 1)
    reused_batch_id = bulk_payment(
        client, "pay000000006", "batch0000005", [("ins0000000000009", OPEN[0]["functional_id"], "1")]
    )
    assert reused_batch_id.status_code == 400 and "BatchID" in reused_batch_id.json()["ResponseDescription"]


def test_batch_beyond_the_funding_fails_without_moving_money(client, app):
    register_all(client)
    response = client.post(
        "/bulk-payment",
        headers={"X-Program-Id": "FOODVOUCH"},
        json={
            "RequestID": "pay000000007",
            "SourceBBID": SOURCE,
            "BatchID": "batch0000007",
            "CreditInstructions": [
                {
                    "InstructionID": "ins0000000000001",
                    "PayeeFunctionalID": OPEN[0]["functional_id"],
                    "Amount": 200000,
                    "Currency": "USD",
                },
                {
                    "InstructionID": "ins0000000000002",
                    "PayeeFunctionalID": OPEN[1]["functional_id"],
                    "Amount": 60000,
                    "Currency": "USD",
                },
                {
                    "InstructionID": "ins0000000000003",
                    "PayeeFunctionalID": OPEN[2]["functional_id"],
                    "Amount": 5,
                    "Currency": "EUR",
                },
            ],
        },
    )
    summary = wait_settled(client, response.json()["PaymentsBatchID"])
    assert summary["status"] == "FAILED" and summary["completed"] == 0 and summary["failed"] == 3
    assert "Not funded" in summary["note"]
    with app.state.db.session() as session:
        assert balance(session, "FUND:FOODVOUCH:USD") == Decimal("250000")
    unknown_programme = client.post(
        "/bulk-payment",
        headers={"X-Program-Id": "NOPE"},
        json={
            "RequestID": "pay000000008",
            "SourceBBID": SOURCE,
            "BatchID": "batch0000008",
            "CreditInstructions": [
                {
                    "InstructionID": "ins0000000000001",
                    "PayeeFunctionalID": OPEN[0]["functional_id"],
                    "Amount": 1,
                    "Currency": "USD",
                }
            ],
        },
    )
    assert unknown_programme.status_code == 400


def test_v1_bulk_payment_validation_errors(client):
    base = {
        "RequestID": "pay000000009",
        "SourceBBID": SOURCE,
        "BatchID": "batch0000009",
        "CreditInstructions": [
            {"InstructionID": "ins0000000000001", "PayeeFunctionalID": "0" * 20, "Amount": 1, "Currency": "USD"}
        ],
    }
    bad = [
        {**base, "CreditInstructions": []},
        {**base, "CreditInstructions": [{**base["CreditInstructions"][0], "Amount": -1}]},
        {**base, "CreditInstructions": [{**base["CreditInstructions"][0], "Amount": 0}]},
        {**base, "CreditInstructions": [{**base["CreditInstructions"][0], "Amount": "abc"}]},
        {**base, "CreditInstructions": [{**base["CreditInstructions"][0], "Amount": 1.00001}]},
        {**base, "CreditInstructions": [{**base["CreditInstructions"][0], "Currency": "usd"}]},
        {**base, "CreditInstructions": [{**base["CreditInstructions"][0], "InstructionID": "x" * 17}]},
        {**base, "BatchID": "x" * 13},
    ]
    for body in bad:
        response = client.post("/bulk-payment", json=body)
        assert response.status_code == 400, body
        assert response.json()["ResponseCode"] == "01" and response.json()["RequestID"] == "pay000000009"
    assert client.get("/api/v1/batch", params={"batchId": "nope"}).status_code == 404


def test_prepayment_validation_reports_failures_without_paying(client, app):
    register_all(client)
    body = {
        "RequestID": "pre000000001",
        "SourceBBID": SOURCE,
        "BatchID": "batch0000010",
        "CreditInstructions": [
            {
                "InstructionID": "ins0000000000001",
                "PayeeFunctionalID": OPEN[0]["functional_id"],
                "Amount": 5,
                "Currency": "USD",
            },
            {
                "InstructionID": "ins0000000000002",
                "PayeeFunctionalID": CLOSED[0]["functional_id"],
                "Amount": 5,
                "Currency": "USD",
            },
            {
                "InstructionID": "ins0000000000003",
                "PayeeFunctionalID": "nobody-at-all-000000",
                "Amount": 5,
                "Currency": "USD",
            },
        ],
    }
    with Recorder() as target:
        allow_callbacks(app, target.url)
        response = client.post("/prepayment-validation", json=body, headers={"X-Callback-URL": target.url})
        assert response.status_code == 200
        assert response.json()["ResponseCode"] == "00" and response.json()["NumberFailedCases"] == 2
        assert target.wait_for(1)[0]["json"]["NumberFailedCases"] == 2
    fetched = client.post(
        "/prepayment-validation-response", json={"RequestID": "pre000000002", "BatchID": "batch0000010"}
    )
    assert fetched.status_code == 200
    assert {c["InstructionID"] for c in fetched.json()["FailedCases"]} == {"ins0000000000002", "ins0000000000003"}
    missing = client.post("/prepayment-validation-response", json={"RequestID": "x", "BatchID": "none"})
    assert missing.status_code == 404 and missing.json()["ResponseCode"] == "01"
    assert client.post("/prepayment-validation-response", json={}).status_code == 400
    with app.state.db.session() as session:
        assert balance(session, "FUND:USCT:USD") == OPENING


V3_HEADERS = {"X-CorrelationID": "corr-0001", "Platform-TenantId": "sandbox", "X-Registering-Institution-Id": SOURCE}


def v3_tx(request_id, payee, amount, key="functionalId"):
    return {
        "requestId": request_id,
        "creditParty": [{"key": key, "value": payee}],
        "debitParty": [{"key": "programme", "value": "USCT"}],
        "paymentMode": "mojaloop",
        "amount": amount,
        "currency": "USD",
        "descriptionText": "cash transfer",
    }


def test_v3_batch_transactions_summary_details_and_callback(client, app):
    register_all(client)
    momo = next(r for r in OPEN if r["modality"] == "01")
    with Recorder() as target:
        allow_callbacks(app, target.url)
        txs = [v3_tx(f"tx{n}", r["functional_id"], 10) for n, r in enumerate(OPEN[:4])]
        txs.append(
            {
                **v3_tx("tx-direct", momo["address"], 7, key="msisdn"),
                "creditParty": [
                    {"key": "msisdn", "value": momo["address"]},
                    {"key": "payeeDfspId", "value": momo["fsp"]},
                ],
            }
        )
        response = client.post(
            "/batchtransactions",
            params={"type": "raw"},
            json=txs,
            headers={**V3_HEADERS, "X-Callback-URL": target.url + "/cb"},
        )
        assert response.status_code == 202
        batch_id = response.json()["batchId"]
        summary = wait_settled(client, batch_id)
        assert summary["completed"] == 5 and summary["completed_amount"] == 47
        assert target.wait_for(1)[0]["json"]["batchId"] == batch_id

        again = client.post(
            "/batchtransactions",
            params={"type": "raw"},
            json=txs,
            headers={**V3_HEADERS, "X-Callback-URL": target.url + "/cb"},
        )
        assert again.status_code == 202 and again.json() == {"batchId": batch_id}

    by_correlation = client.get("/api/v1/batch", params={"X-CorrelationID": "corr-0001"}).json()
    assert by_correlation["batchId"] == batch_id
    page0 = client.get(
        "/api/v1/batch/detail",
        params={"batchId": batch_id, "pageNo": 0, "pageSize": 2},
        headers={"Platform-TenantId": "sandbox"},
    ).json()
    page2 = client.get("/api/v1/batch/detail", params={"batchId": batch_id, "pageNo": 2, "pageSize": 2}).json()
    assert [d["transactionId"] for d in page0] == ["tx0", "tx1"]
    assert [d["transactionId"] for d in page2] == ["tx-direct"]
    completed = client.get("/api/v1/batch/detail", params={"batchId": batch_id, "status": "COMPLETED"}).json()
    assert len(completed) == 5
    failed = client.get("/api/v1/batch/detail", params={"batchId": batch_id, "status": "FAILED"}).json()
    assert failed == []
    assert client.get("/api/v1/batch/detail", params={"batchId": batch_id, "status": "BOGUS"}).status_code == 400
    with app.state.db.session() as session:
        assert balance(session, "FUND:USCT:USD") == OPENING - 47
        assert_ledger_consistent(session)


def test_v3_batch_errors(client):
    txs = [v3_tx("tx1", "1", 10)]
    headers = {**V3_HEADERS, "X-Callback-URL": "http://127.0.0.1:9/cb"}
    cases = [
        ({"type": "raw"}, txs, {k: v for k, v in headers.items() if k != "X-CorrelationID"}),
        ({"type": "raw"}, txs, {k: v for k, v in headers.items() if k != "Platform-TenantId"}),
        ({"type": "raw"}, txs, {k: v for k, v in headers.items() if k != "X-Callback-URL"}),
        ({"type": "csv"}, txs, headers),
        ({}, txs, headers),
        ({"type": "raw"}, [], headers),
        ({"type": "raw"}, [{**txs[0], "amount": -5}], headers),
        ({"type": "raw"}, [{**txs[0], "creditParty": []}], headers),
        ({"type": "raw"}, [txs[0], txs[0]], headers),
        ({"type": "raw"}, {"not": "a list"}, headers),
    ]
    for params, body, hdrs in cases:
        response = client.post("/batchtransactions", params=params, json=body, headers=hdrs)
        assert response.status_code == 400, (params, body, hdrs, response.text)
        assert response.json()["responseCode"] == "01"
    assert client.get("/api/v1/batch").status_code == 400
    assert client.get("/api/v1/batch/detail", params={"batchId": "none"}).status_code == 404


def test_callback_to_a_dead_target_is_retried_without_slowing_the_request(db_fields, tmp_path):
    from sqlalchemy import select

    from services.payments.outbox.models import OutboxMessage
    from tests.support import free_port, mediated_client, wait_until

    from .support import make_app

    app = make_app(db_fields, tmp_path, callback_max_attempts=3, callback_backoff_seconds=0.05)
    dead = f"http://127.0.0.1:{free_port()}/cb"
    allow_callbacks(app, dead)
    with mediated_client(app) as client:
        started = time.monotonic()
        client.post(
            "/register-beneficiary",
            headers={"X-Callback-URL": dead},
            json={
                "RequestID": "reg000000001",
                "SourceBBID": SOURCE,
                "Beneficiaries": [{"PayeeFunctionalID": "1" * 20, "PaymentModality": "09"}],
            },
        )
        assert time.monotonic() - started < 1.0

        def given_up() -> bool:
            with app.state.db.session() as session:
                message = session.scalar(select(OutboxMessage))
                return message is not None and message.dead

        assert wait_until(given_up, 10)
        with app.state.db.session() as session:
            message = session.scalar(select(OutboxMessage))
            assert message.attempts == 3 and message.delivered_at is None and message.last_error
            assert "registerRequestID" not in message.payload  # stored encrypted, not as the JSON body


def test_callback_refused_then_accepted_is_retried_until_delivered(db_fields, tmp_path):

    from .support import make_app

    with Recorder(status=503) as target:
        app = make_app(db_fields, tmp_path, callback_allow_list=[target.url])
        with mediated_client(app) as client:
            client.post(
                "/register-beneficiary",
                headers={"X-Callback-URL": target.url + "/cb"},
                json={
                    "RequestID": "reg000000001",
                    "SourceBBID": SOURCE,
                    "Beneficiaries": [{"PayeeFunctionalID": "1" * 20, "PaymentModality": "09"}],
                },
            )
            target.wait_for(2)
            target.status = 200
            count = len(target.calls)
            target.wait_for(count + 1)
            time.sleep(0.5)
            assert target.calls[-1]["json"]["registerRequestID"] == "reg000000001"
            assert len(target.calls) == count + 1  # delivered once, then no more attempts


def test_callbacks_under_the_im_cross_it_with_this_service_identity(db_fields, tmp_path):
    from fastapi.testclient import TestClient

    from tests.support import IMSigner

    from .support import make_app

    with Recorder() as im:
        app = make_app(
            db_fields,
            tmp_path,
            im_url=im.url,
            im_client="SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS",
            im_client_secret="s3cret",
        )
        usct = IMSigner("SANDBOX/GOV/SOCIAL-WELFARE/USCT")  # a callback on its own IM service
        with usct.attach(TestClient(app), app) as client:
            url = im.url + "/r1/SANDBOX/GOV/SOCIAL-WELFARE/USCT/callbacks/payments/onboarding"
            client.post(
                "/register-beneficiary",
                headers={"X-Callback-URL": url},
                json={
                    "RequestID": "reg000000001",
                    "SourceBBID": SOURCE,
                    "Beneficiaries": [{"PayeeFunctionalID": "1" * 20, "PaymentModality": "09"}],
                },
            )
            call = im.wait_for(1)[0]
            assert call["path"] == "/r1/SANDBOX/GOV/SOCIAL-WELFARE/USCT/callbacks/payments/onboarding"
            assert call["headers"]["information-mediator-client"] == "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS"
            assert call["headers"]["information-mediator-client-secret"] == "s3cret"
            assert call["headers"].get("x-road-id")


def test_v3_batch_without_institution_uses_any_source_and_skips_voucher_payees(client, app):
    a, b = OPEN[0], OPEN[1]
    client.post(
        "/identityAccountMapper/beneficiary",
        headers={"X-Registering-Institution-ID": "OTHER-BB", "X-Callback-URL": "http://127.0.0.1:9/x"},
        json={
            "RequestID": "v3reg0000011",
            "Beneficiaries": [
                {
                    "payeeIdentity": a["functional_id"],
                    "PaymentModality": a["modality"],
                    "FinancialAddress": a["address"],
                },
                {"payeeIdentity": b["functional_id"], "PaymentModality": "02"},
            ],
        },
    )
    headers = {k: v for k, v in V3_HEADERS.items() if k != "X-Registering-Institution-Id"}
    response = client.post(
        "/batchtransactions",
        params={"type": "raw"},
        headers={**headers, "X-CorrelationID": "corr-0002", "X-Callback-URL": "http://127.0.0.1:9/x"},
        json=[v3_tx("t1", a["functional_id"], 3), v3_tx("t2", b["functional_id"], 4)],
    )
    batch_id = response.json()["batchId"]
    summary = wait_settled(client, batch_id)
    assert (summary["completed"], summary["failed"]) == (1, 1)
    details = {d["transactionId"]: d for d in all_details(client, batch_id)}
    assert details["t1"]["payeeDfspId"] == a["fsp"]
    assert "modality" in details["t2"]["errorInformation"]
    # With an institution that never registered them, nobody is found.
    scoped = client.post(
        "/batchtransactions",
        params={"type": "raw"},
        headers={**V3_HEADERS, "X-CorrelationID": "corr-0003", "X-Callback-URL": "http://127.0.0.1:9/x"},
        json=[v3_tx("t3", a["functional_id"], 3)],
    )
    assert wait_settled(client, scoped.json()["batchId"])["failed"] == 1
