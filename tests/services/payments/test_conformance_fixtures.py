"""The conformance fixtures (sandbox/conformance/payments.yaml): loaded idempotently, each read back through the
API as GovStack's checks call it (directly, no IM caller), changed by the checks and restored by a re-seed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from services.payments.conformance import DEFAULT_FIXTURES, apply_fixtures, main, read_fixtures, reseed
from tests.support import TEST_DATABASE_URL

from .support import assert_ledger_consistent, balance, make_app

PREACTIVATED = ["5550", "5551", "5552", "5553", "5554"]
ACTIVATED = ["5555", "5556", "5557", "5558", "5559", "60000", "60001", "6004"]
MELISSA = {
    "merchant_name": "Melissa Stephenson",
    "merchant_bank_details": "Citizen Service Banks",
    "merchant_voucher_group": "Payment Voucher",
    "override": False,
}


@pytest.fixture
def direct(db_fields, tmp_path):
    """Payments called as the checks call it in the conformance profile: directly, without an IM caller."""
    app = make_app(db_fields, tmp_path, require_im_assertion=False, worker_enabled=False)
    with TestClient(app) as client:
        yield client


def load(client: TestClient) -> int:
    app = client.app
    with app.state.db.session() as session:
        return apply_fixtures(session, app.state.settings, read_fixtures())


def status_of(client: TestClient, serial: str):  # noqa: ANN201
    return client.get(f"/vouchers/voucherstatuscheck/{serial}")


def assert_fixture_state(client: TestClient) -> None:
    for serial in PREACTIVATED:
        assert status_of(client, serial).json() == {"voucher_status": "Pre-Activated", "voucher_amount": "100"}
    for serial in ACTIVATED:
        assert status_of(client, serial).json()["voucher_status"] == "Activated", serial
    assert status_of(client, "6001").status_code == 458
    assert status_of(client, "6002").status_code == 459


def test_the_default_demo_world_has_no_fixtures(direct):
    assert status_of(direct, "6004").status_code == 456
    assert "string" not in {g["groupCode"] for g in direct.get("/voucher-groups").json()}
    assert "Melissa Stephenson" not in {m["name"] for m in direct.get("/merchants").json()}
    activation = {"voucher_serial_number": 5550, "Gov_Stack_BB": "bb-digital-registries"}
    assert direct.patch("/vouchers/voucher_activation", json=activation).status_code == 460


def test_each_fixture_reads_back_through_the_api(direct):
    assert load(direct) == 15
    assert load(direct) == 15  # idempotent: nothing doubled
    assert_fixture_state(direct)
    groups = {g["groupCode"]: g for g in direct.get("/voucher-groups").json()}
    assert groups["string"]["currency"] == "AED" and groups["Payment Voucher"]["currency"] == "AED"
    merchant = next(m for m in direct.get("/merchants").json() if m["name"] == "Melissa Stephenson")
    assert merchant["bankDetails"] == "Citizen Service Banks" and merchant["voucherGroups"] == ["Payment Voucher"]
    fund = direct.get(f"/ledger/accounts/FUND:{groups['string']['programme']}:AED").json()
    assert fund["balance"] == 10_000_000
    issued = direct.post(
        "/vouchers/voucher_preactivation",
        json={
            "voucher_amount": "15.21",
            "voucher_currency": "AED",
            "voucher_group": "string",
            "Gov_Stack_BB": "Gov_Stack_BB",
        },
    )
    assert issued.status_code == 200, issued.text
    activation = {"voucher_serial_number": 5550, "Gov_Stack_BB": "bb-digital-registries"}
    assert direct.patch("/vouchers/voucher_activation", json=activation).json() == {"result_status": "Activated"}
    redeemed = direct.post(
        "/vouchers/voucher_redeemption", json={"voucher_number": 6004, "Gov_Stack_BB": "Gov_Stack_BB", **MELISSA}
    )
    assert redeemed.status_code == 200 and redeemed.json()["transaction_id"] == "vch-6004", redeemed.text


def test_a_reseed_restores_what_the_checks_changed(direct):
    load(direct)
    redeem = {"voucher_number": 6004, "Gov_Stack_BB": "Gov_Stack_BB", **MELISSA}
    assert direct.post("/vouchers/voucher_redemption", json=redeem).status_code == 200
    assert direct.post("/vouchers/voucher_redemption", json=redeem).status_code == 461
    assert (
        direct.patch(
            "/vouchers/voucher_activation", json={"voucher_serial_number": 5551, "Gov_Stack_BB": "Gov_Stack_BB"}
        ).status_code
        == 200
    )
    cancel = {"voucherserialnumber": "5555", "Gov_Stack_BB": "Gov_Stack_BB"}
    assert direct.patch("/vouchers/voucherstatuscheck/5555", json=cancel).status_code == 200
    assert status_of(direct, "6004").status_code == 458

    reseed(direct.app.state.settings)  # what the profile's command runs
    assert_fixture_state(direct)
    with direct.app.state.db.session() as session:
        assert balance(session, "MERCHANT:MRCCONF001:AED") == 0  # the redemption was reversed, not erased
        assert_ledger_consistent(session)

    again = direct.post("/vouchers/voucher_redemption", json=redeem)
    assert again.status_code == 200 and again.json()["transaction_id"] == "vch-6004-1", again.text
    with direct.app.state.db.session() as session:
        assert balance(session, "MERCHANT:MRCCONF001:AED") == Decimal(100)
        assert balance(session, "FUND:CONFAED:AED") == Decimal(10_000_000) - 100
        assert_ledger_consistent(session)


@pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="the command line reads the service's own settings (SQLite here)")
def test_the_command_line_loads_the_fixtures_in_a_data_directory(tmp_path, monkeypatch, capsys):
    for name in ("PAYMENTS_DATABASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    main(["--data-dir", str(tmp_path), "--fixtures", str(DEFAULT_FIXTURES)])
    main(["--data-dir", str(tmp_path)])
    assert "15 fixture vouchers" in capsys.readouterr().out
    with TestClient(make_app({}, tmp_path, require_im_assertion=False, worker_enabled=False)) as client:
        assert_fixture_state(client)
