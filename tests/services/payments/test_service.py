"""Service basics: health, readiness, OpenAPI, idempotent seed, IM assertion enforcement, 404 shapes."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support import mediated_client

from .support import SOURCE, make_app


def test_health_ready_openapi_and_docs(client):
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/register-beneficiary",
        "/update-beneficiary-details",
        "/identityAccountMapper/beneficiary",
        "/beneficiary/",
        "/beneficiary",
        "/prepayment-validation",
        "/prepayment-validation-response",
        "/bulk-payment",
        "/batchtransactions",
        "/api/v1/batch",
        "/api/v1/batch/detail",
        "/vouchers/voucher_preactivation",
        "/vouchers/voucher_activation",
        "/vouchers/voucher_redemption",
        "/vouchers/voucherstatuscheck/{voucherserialnumber}",
        "/vouchers",
        "/vouchers/{serialNumber}",
    ):
        assert path in paths, path
    assert client.get("/docs").status_code == 200


def test_seed_is_idempotent_across_restarts(db_fields, tmp_path):
    for _ in range(2):
        with mediated_client(make_app(db_fields, tmp_path)) as client:
            accounts = {a["accountCode"]: a for a in client.get("/ledger/accounts").json()}
            assert accounts["FUND:USCT:USD"]["balance"] == 50000000
            assert accounts["FUND:FOODVOUCH:USD"]["balance"] == 250000
            assert len(client.get("/fsps").json()) == 3


def test_calls_without_the_im_assertion_are_refused(db_fields, tmp_path):
    with TestClient(make_app(db_fields, tmp_path)) as client:
        response = client.post("/bulk-payment", json={})
        assert response.status_code == 401 and response.json()["ResponseCode"] == "01"
        assert client.get("/health").status_code == 200


def test_the_im_guard_refuses_in_each_apis_error_shape(db_fields, tmp_path):
    with TestClient(make_app(db_fields, tmp_path)) as client:
        assert set(client.post("/prepayment-validation", json={}).json()) == {"ResponseCode", "ResponseDescription"}
        assert "responseCode" in client.post("/batchtransactions?type=raw", json=[]).json()
        assert set(client.patch("/vouchers/voucher_activation", json={}).json()) == {"message"}
        assert client.get("/vouchers/1234?fields=status").json()["status"] == 9
        assert client.get("/bills/MSC-1?fields=inquiry").json()["responseCode"] == "01"
        assert client.post("/billTransferRequests", json={}).json()["code"] == "01"


def test_unknown_paths_keep_the_envelope(client):
    response = client.get("/api/v1/batch/nothing-here")
    assert response.status_code == 404 and response.json()["responseCode"] == "01"
    assert client.get("/ledger/accounts/NOPE").status_code == 404


def test_unusable_callback_urls_are_refused_in_each_shape(client):
    bad = {"X-Callback-URL": "not a url"}
    v1 = client.post(
        "/register-beneficiary",
        headers=bad,
        json={"RequestID": "reg000000001", "SourceBBID": SOURCE, "Beneficiaries": [{"PayeeFunctionalID": "1" * 20}]},
    )
    assert v1.status_code == 400 and v1.json()["ResponseCode"] == "01" and v1.json()["RequestID"] == "reg000000001"
    v3 = client.post(
        "/batchtransactions",
        params={"type": "raw"},
        headers={**bad, "X-CorrelationID": "c1", "Platform-TenantId": "t"},
        json=[],
    )
    assert v3.status_code == 400 and v3.json()["responseCode"] == "01"
    voucher = client.post("/vouchers/voucher_preactivation", headers={"X-Callback-URL": "ftp://x"}, json={})
    assert voucher.status_code == 400 and "message" in voucher.json()


def test_openapi_documents_every_success_body_and_the_p2g_request_bodies(client):
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if code.startswith("2") and path not in ("/health", "/ready"):
                    schema = response["content"]["application/json"]["schema"]
                    assert {"$ref", "anyOf"} & set(schema) or "$ref" in schema.get("items", {}), (method, path, code)
    bodies = {
        path: spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        for path in ("/billTransferRequests", "/rtpRequest")
    }
    assert {s["$ref"].rsplit("/", 1)[-1] for s in bodies["/billTransferRequests"]["oneOf"]} == {
        "BillPaymentRequest",
        "BillStatusUpdate",
    }
    assert bodies["/rtpRequest"]["$ref"].endswith("/RtpRequest")
