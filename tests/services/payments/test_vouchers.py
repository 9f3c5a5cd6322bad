"""Vouchers: the 1.0 API with its status codes 452-464 and the v3 API; redemption moves money in the ledger."""

from __future__ import annotations

import threading
from decimal import Decimal

from sqlalchemy import select

from services.payments.vouchers.models import Voucher

from .support import Recorder, allow_callbacks, assert_ledger_consistent, balance

BB = "USCT"
MERCHANT = {
    "merchant_name": "Harbour Lane Grocery",
    "merchant_bank_details": "SBXNBANK001 SNB7000000001",
    "merchant_voucher_group": "FDV",
    "override": False,
}


def preactivate(client, amount="25.50", group="FDV", currency="USD", bb=BB, headers=None):
    return client.post(
        "/vouchers/voucher_preactivation",
        headers=headers or {},
        json={"voucher_amount": amount, "voucher_currency": currency, "voucher_group": group, "Gov_Stack_BB": bb},
    )


def test_v1_voucher_life_cycle_moves_money_once(client, app):
    issued = preactivate(client)
    assert issued.status_code == 200
    voucher = issued.json()
    assert 16 <= len(voucher["voucher_number"]) <= 25 and 16 <= len(voucher["voucher_serial_number"]) <= 25
    assert voucher["expiry_date_time"].endswith("Z")
    serial = voucher["voucher_serial_number"]

    status = client.get(f"/vouchers/voucherstatuscheck/{serial}")
    assert status.json() == {"voucher_status": "Pre-Activated", "voucher_amount": "25.5"}

    # Not yet activated: cannot be redeemed.
    early = client.post(
        "/vouchers/voucher_redemption",
        json={"voucher_number": int(voucher["voucher_number"]), "Gov_Stack_BB": BB, **MERCHANT},
    )
    assert early.status_code == 461

    assert client.patch(
        "/vouchers/voucher_activation", json={"voucher_serial_number": int(serial), "Gov_Stack_BB": BB}
    ).json() == {"result_status": "Activated"}
    assert client.get(f"/vouchers/voucherstatuscheck/{serial}").json()["voucher_status"] == "Activated"

    redeemed = client.post(
        "/vouchers/voucher_redeemption",
        json={"voucher_number": int(voucher["voucher_number"]), "Gov_Stack_BB": BB, **MERCHANT},
    )
    assert redeemed.status_code == 200 and redeemed.json()["result_status"] == "Redeemed"
    again = client.post(
        "/vouchers/voucher_redemption",
        json={"voucher_number": int(voucher["voucher_number"]), "Gov_Stack_BB": BB, **MERCHANT},
    )
    assert again.status_code == 461
    assert client.get(f"/vouchers/voucherstatuscheck/{serial}").status_code == 458
    cancel = {"voucherserialnumber": serial, "Gov_Stack_BB": BB}
    assert client.patch(f"/vouchers/voucherstatuscheck/{serial}", json=cancel).status_code == 463

    with app.state.db.session() as session:
        assert balance(session, "FUND:FOODVOUCH:USD") == Decimal("250000") - Decimal("25.5")
        assert balance(session, "MERCHANT:MRC0000001:USD") == Decimal("25.5")
        assert_ledger_consistent(session)
        stored = session.scalar(select(Voucher).where(Voucher.serial_number == serial))
        assert voucher["voucher_number"] not in stored.secret_hash
        assert voucher["voucher_number"] not in (stored.issue_response or "")


def test_v1_documented_error_codes(client):
    assert preactivate(client, amount="12.34567").status_code == 452
    assert preactivate(client, amount="abc").status_code == 452
    assert preactivate(client, amount="600").status_code == 452  # above the group's maximum
    assert preactivate(client, currency="EUR").status_code == 453
    assert preactivate(client, currency="usd").status_code == 453
    assert preactivate(client, group="NOPE").status_code == 454
    assert preactivate(client, bb="UNKNOWN-BB").status_code == 460
    for _ in range(3):
        assert preactivate(client, group="AGR").status_code == 200
    exhausted = preactivate(client, group="AGR")
    assert exhausted.status_code == 455 and exhausted.json() == {"message": "voucher group exhausted"}
    missing = client.post("/vouchers/voucher_preactivation", json={"voucher_amount": "1"})
    assert missing.status_code == 400 and "message" in missing.json()
    assert client.post("/vouchers/voucher_preactivation", json=[1, 2]).status_code == 400

    assert (
        client.patch("/vouchers/voucher_activation", json={"voucher_serial_number": 1, "Gov_Stack_BB": BB}).status_code
        == 456
    )
    assert (
        client.patch("/vouchers/voucher_activation", json={"voucher_serial_number": 1, "Gov_Stack_BB": "X"}).status_code
        == 460
    )
    assert client.patch("/vouchers/voucher_activation", json={}).status_code == 400

    assert client.get("/vouchers/voucherstatuscheck/123").status_code == 456
    assert client.get("/vouchers/voucherstatuscheck/abc").status_code == 456  # a string naming no voucher

    serial = preactivate(client).json()["voucher_serial_number"]
    cancelled = client.patch(
        f"/vouchers/voucherstatuscheck/{serial}", json={"Gov_Stack_BB": BB, "voucherserialnumber": serial}
    )
    assert cancelled.status_code == 200
    assert client.get(f"/vouchers/voucherstatuscheck/{serial}").json()["voucher_status"] == "Purged"
    again = client.patch(
        f"/vouchers/voucherstatuscheck/{serial}", json={"Gov_Stack_BB": BB, "voucherserialnumber": serial}
    )
    assert again.status_code == 464
    unknown = client.patch("/vouchers/voucherstatuscheck/999", json={"Gov_Stack_BB": BB, "voucherserialnumber": 999})
    assert unknown.status_code == 463
    assert client.patch(f"/vouchers/voucherstatuscheck/{serial}", json={}).status_code == 400
    assert (
        client.patch(
            "/vouchers/voucher_activation", json={"voucher_serial_number": serial, "Gov_Stack_BB": BB}
        ).status_code
        == 456
    )


def test_v1_redemption_errors(client, app):
    voucher = preactivate(client, group="AGR", amount="100").json()
    client.patch(
        "/vouchers/voucher_activation",
        json={"voucher_serial_number": voucher["voucher_serial_number"], "Gov_Stack_BB": BB},
    )
    number = int(voucher["voucher_number"])
    assert (
        client.post(
            "/vouchers/voucher_redemption", json={"voucher_number": 12345, "Gov_Stack_BB": BB, **MERCHANT}
        ).status_code
        == 461
    )
    # Harbour Lane Grocery does not take AGR vouchers; the closed shop is inactive; unknown merchant.
    assert (
        client.post(
            "/vouchers/voucher_redemption", json={"voucher_number": number, "Gov_Stack_BB": BB, **MERCHANT}
        ).status_code
        == 463
    )
    for name in ("Closed Corner Shop", "Nobody's Shop"):
        response = client.post(
            "/vouchers/voucher_redemption",
            json={"voucher_number": number, "Gov_Stack_BB": BB, **MERCHANT, "merchant_name": name, "override": True},
        )
        assert response.status_code == 463
    assert (
        client.post(
            "/vouchers/voucher_redemption", json={"voucher_number": number, "Gov_Stack_BB": "X", **MERCHANT}
        ).status_code
        == 460
    )
    assert client.post("/vouchers/voucher_redemption", json={"voucher_number": number}).status_code == 400
    # Override lets a merchant outside the group redeem it.
    ok = client.post(
        "/vouchers/voucher_redemption",
        json={"voucher_number": number, "Gov_Stack_BB": BB, **MERCHANT, "override": True},
    )
    assert ok.status_code == 200


def test_v1_insufficient_funds_is_462_and_changes_nothing(client, app):
    from sqlalchemy import update

    from services.payments.ledger.models import LedgerAccount

    voucher = preactivate(client, amount="100").json()
    client.patch(
        "/vouchers/voucher_activation",
        json={"voucher_serial_number": voucher["voucher_serial_number"], "Gov_Stack_BB": BB},
    )
    with app.state.db.session() as session:  # drain the programme's budget (test set-up)
        session.execute(
            update(LedgerAccount).where(LedgerAccount.code == "FUND:FOODVOUCH:USD").values(balance=Decimal("50"))
        )
    response = client.post(
        "/vouchers/voucher_redemption",
        json={"voucher_number": int(voucher["voucher_number"]), "Gov_Stack_BB": BB, **MERCHANT},
    )
    assert response.status_code == 462
    assert (
        client.get(f"/vouchers/voucherstatuscheck/{voucher['voucher_serial_number']}").json()["voucher_status"]
        == "Activated"
    )
    with app.state.db.session() as session:
        assert balance(session, "MERCHANT:MRC0000001:USD") == 0


def test_retried_preactivation_returns_the_same_voucher(client):
    first = preactivate(client, headers={"X-CorrelationID": "corr-voucher-1"})
    again = preactivate(client, headers={"X-CorrelationID": "corr-voucher-1"})
    assert first.status_code == again.status_code == 200 and first.json() == again.json()


def test_concurrent_redemptions_pay_once(client, app):
    voucher = preactivate(client, amount="40").json()
    client.patch(
        "/vouchers/voucher_activation",
        json={"voucher_serial_number": voucher["voucher_serial_number"], "Gov_Stack_BB": BB},
    )
    results = []

    def attempt():
        results.append(
            client.post(
                "/vouchers/voucher_redemption",
                json={"voucher_number": int(voucher["voucher_number"]), "Gov_Stack_BB": BB, **MERCHANT},
            ).status_code
        )

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 461, 461, 461]
    with app.state.db.session() as session:
        assert balance(session, "MERCHANT:MRC0000001:USD") == Decimal("40")
        assert_ledger_consistent(session)


def test_v3_voucher_life_cycle(client, app):
    with Recorder() as target:
        allow_callbacks(client.app, target.url)
        created = client.post(
            "/vouchers",
            headers={"X-Callback-URL": target.url + "/vouchers", "X-Registering-Institution-Id": "USCT"},
            json={
                "requestID": "vreq00000001",
                "batchID": "vb1",
                "voucherInstructions": [
                    {
                        "instructionID": "vi1",
                        "groupCode": "FDV",
                        "currency": "USD",
                        "amount": 30,
                        "payeeFunctionalID": "1",
                    },
                    {"instructionID": "vi2", "groupCode": "FDV", "currency": "USD", "amount": 12.5},
                ],
            },
        )
        assert created.status_code == 200 and created.json()["ResponseCode"] == "00"
        details = target.wait_for(1)[0]["json"]
        assert details["batchID"] == "vb1" and len(details["voucherInstructions"]) == 2
        v1, v2 = details["voucherInstructions"]
        assert len(v1["serialNumber"]) <= 10 and len(v1["voucherNumber"]) == 6

        activated = client.put(
            "/vouchers",
            params={"command": "activate"},
            headers={"X-Callback-URL": target.url},
            json={
                "RequestID": "vreq00000002",
                "VoucherInstructions": [{"serialNumber": v1["serialNumber"]}, {"serialNumber": "0000000"}],
            },
        )
        assert activated.status_code == 200 and activated.json()["ResponseCode"] == "01"
        outcome = target.wait_for(2)[1]["json"]
        assert outcome["registerRequestID"] == "vreq00000002" and outcome["numberFailedCases"] == 1

        status = client.get(f"/vouchers/{v1['serialNumber']}", params={"fields": "status"}).json()
        assert status == {"status": 2, "serialNumber": v1["serialNumber"], "value": 30}

        wrong_secret = client.post(
            "/vouchers",
            params={"command": "redeem"},
            json={
                "requestID": "vreq00000003",
                "voucherSerialNumber": v1["serialNumber"],
                "agentID": "MRC0000001",
                "voucherSecretNumber": "000000" if v1["voucherNumber"] != "000000" else "111111",
            },
        )
        assert wrong_secret.status_code == 200 and wrong_secret.json()["status"] == 0
        redeemed = client.post(
            "/vouchers",
            params={"command": "cancel"},
            json={  # the spelling in the spec file
                "requestID": "vreq00000004",
                "voucherSerialNumber": v1["serialNumber"],
                "agentID": "MRC0000001",
                "voucherSecretNumber": v1["voucherNumber"],
            },
        )
        assert redeemed.json()["status"] == 1 and redeemed.json()["value"] == 30
        assert client.get(f"/vouchers/{v1['serialNumber']}", params={"fields": "status"}).json()["status"] == 4

        cancelled = client.post(
            "/vouchers",
            params={"command": "cancel"},
            headers={"X-Callback-URL": target.url},
            json={
                "requestID": "vreq00000005",
                "voucherInstructions": [{"serialNumber": v2["serialNumber"]}, {"serialNumber": v1["serialNumber"]}],
            },
        )
        assert cancelled.json()["responseCode"] == "01" and cancelled.json()["requestID"] == "vreq00000005"
        assert client.get(f"/vouchers/{v2['serialNumber']}", params={"fields": "status"}).json()["status"] == 3
        assert target.wait_for(3)[2]["json"]["numberFailedCases"] == 1

    with app.state.db.session() as session:
        assert balance(session, "MERCHANT:MRC0000001:USD") == Decimal("30")
        assert_ledger_consistent(session)


def test_v3_voucher_errors(client):
    headers = {"X-Callback-URL": "http://127.0.0.1:9/cb"}
    good = {
        "requestID": "vreq00000009",
        "voucherInstructions": [{"instructionID": "vi1", "groupCode": "FDV", "currency": "USD", "amount": 5}],
    }
    assert client.post("/vouchers", json=good).status_code == 400  # no callback URL
    for bad in (
        {**good, "voucherInstructions": []},
        {**good, "voucherInstructions": [{**good["voucherInstructions"][0], "groupCode": "ZZZ"}]},
        {**good, "voucherInstructions": [{**good["voucherInstructions"][0], "currency": "EUR"}]},
        {**good, "voucherInstructions": [{**good["voucherInstructions"][0], "amount": -1}]},
        {"voucherInstructions": good["voucherInstructions"]},
    ):
        response = client.post("/vouchers", json=bad, headers=headers)
        assert response.status_code == 400, bad
        assert response.json()["ResponseCode"] == "01"
    assert client.post("/vouchers", params={"command": "explode"}, json=good, headers=headers).status_code == 400
    assert (
        client.put(
            "/vouchers",
            params={"command": "block"},
            json={"RequestID": "r", "VoucherInstructions": [{"serialNumber": "1"}]},
        ).status_code
        == 400
    )
    assert (
        client.put(
            "/vouchers", json={"RequestID": "r", "VoucherInstructions": []}, params={"command": "activate"}
        ).status_code
        == 400
    )
    cancel = client.post("/vouchers", params={"command": "cancel"}, json={"requestID": "c1", "voucherInstructions": []})
    assert cancel.status_code == 400 and cancel.json()["responseCode"] == "01"
    redeem = client.post(
        "/vouchers", params={"command": "redeem"}, json={"requestID": "r1", "voucherSerialNumber": "1"}
    )
    assert redeem.status_code == 400
    unknown = client.get("/vouchers/12345", params={"fields": "status"})
    assert unknown.status_code == 400 and unknown.json() == {
        "status": 9,
        "message": "invalid voucher serial number",
        "serialNumber": "12345",
        "value": 0.0,
    }
    assert client.get("/vouchers/12345").status_code == 400
    assert client.get("/voucher-groups").json()[0]["groupCode"] == "AGR"
    assert {m["agentID"] for m in client.get("/merchants").json()} >= {"MRC0000001", "MRC0000002"}


def test_expired_voucher_is_459_and_cannot_be_redeemed(client, app):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    voucher = preactivate(client).json()
    serial = voucher["voucher_serial_number"]
    client.patch("/vouchers/voucher_activation", json={"voucher_serial_number": serial, "Gov_Stack_BB": BB})
    with app.state.db.session() as session:  # let the voucher's validity run out (test set-up)
        session.execute(
            update(Voucher)
            .where(Voucher.serial_number == serial)
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    response = client.get(f"/vouchers/voucherstatuscheck/{serial}")
    assert response.status_code == 459 and response.json() == {"message": "voucher has expired"}
    redeem = client.post(
        "/vouchers/voucher_redemption",
        json={"voucher_number": int(voucher["voucher_number"]), "Gov_Stack_BB": BB, **MERCHANT},
    )
    assert redeem.status_code == 461
    assert client.get(f"/vouchers/{serial}", params={"fields": "status"}).json()["status"] == 6
    with app.state.db.session() as session:
        assert balance(session, "MERCHANT:MRC0000001:USD") == 0
