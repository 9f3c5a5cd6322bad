"""Account mapper: 1.0 and v3 APIs over the same data, outcome callbacks, idempotent retries, error shapes."""

from __future__ import annotations

import json

from services.payments.seed import load_seed, resident_accounts
from services.payments.settings import DEFAULT_SEED_FILE

from .support import SOURCE, Recorder, allow_callbacks, register

RESIDENTS = resident_accounts(load_seed(DEFAULT_SEED_FILE))


def v1_register_body(request_id="reg000000001", source=SOURCE, beneficiaries=None):
    return {"RequestID": request_id, "SourceBBID": source, "Beneficiaries": beneficiaries or []}


def test_v1_registration_is_acknowledged_and_outcome_called_back(client):
    open_acc = RESIDENTS[0]
    with Recorder() as target:
        allow_callbacks(client.app, target.url)
        body = v1_register_body(
            beneficiaries=[
                {
                    "PayeeFunctionalID": open_acc["functional_id"],
                    "PaymentModality": open_acc["modality"],
                    "FinancialAddress": open_acc["address"],
                },
                {
                    "PayeeFunctionalID": open_acc["functional_id"],
                    "PaymentModality": "00",
                    "FinancialAddress": open_acc["address"],
                },
                {"PayeeFunctionalID": "1" * 20, "PaymentModality": "07", "FinancialAddress": "x"},
                {"PayeeFunctionalID": "2" * 20, "PaymentModality": "00", "FinancialAddress": "NOWHERE-123"},
                {"PayeeFunctionalID": "3" * 20, "PaymentModality": "01"},
            ]
        )
        response = client.post("/register-beneficiary", json=body, headers={"X-Callback-URL": target.url + "/cb"})
        assert response.status_code == 200
        assert response.json() == {
            "ResponseCode": "00",
            "ResponseDescription": response.json()["ResponseDescription"],
            "RequestID": "reg000000001",
        }
        callback = target.wait_for(1)[0]["json"]
        assert callback["registerRequestID"] == "reg000000001"
        assert callback["numberFailedCases"] == 4
        reasons = {c["payeeIdentity"]: c["failureReason"] for c in callback["failedCases"]}
        assert "duplicate" in reasons[open_acc["functional_id"]]
        assert "modality" in reasons["1" * 20]
        assert "not held" in reasons["2" * 20]
        assert "required" in reasons["3" * 20]

        # A retry with the same RequestID answers the same and neither re-registers nor calls back again.
        again = client.post("/register-beneficiary", json=body, headers={"X-Callback-URL": target.url + "/cb"})
        assert again.json() == response.json()
        import time

        time.sleep(0.4)
        assert len(target.calls) == 1

    found = client.get(
        "/beneficiary/",
        params={"payeeIdentity": open_acc["functional_id"], "requestId": "look1"},
        headers={"registeringInstitutionId": SOURCE},
    ).json()
    assert found == {
        "requestId": "look1",
        "paymentModalityList": [
            {
                "payeeIdentity": open_acc["functional_id"],
                "paymentModality": open_acc["modality"],
                "financialAddress": open_acc["address"],
                "bankingInstitutionCode": open_acc["fsp"],
            }
        ],
    }


def test_registering_the_same_id_again_later_is_a_duplicate(client):
    acc = RESIDENTS[1]
    entry = [(acc["functional_id"], acc["modality"], acc["address"])]
    register(client, entry, "reg000000001")
    with Recorder() as target:
        allow_callbacks(client.app, target.url)
        body = v1_register_body(
            "reg000000002",
            beneficiaries=[
                {"PayeeFunctionalID": acc["functional_id"], "PaymentModality": "00", "FinancialAddress": acc["address"]}
            ],
        )
        client.post("/register-beneficiary", json=body, headers={"X-Callback-URL": target.url})
        assert target.wait_for(1)[0]["json"]["numberFailedCases"] == 1


def test_v1_errors_use_the_pascal_case_envelope(client):
    one = {"PayeeFunctionalID": "1" * 20, "PaymentModality": "00", "FinancialAddress": "SNB1"}
    cases = [
        {},
        {"RequestID": "reg000000001", "SourceBBID": SOURCE},
        {"RequestID": "reg000000001", "SourceBBID": SOURCE, "Beneficiaries": []},
        {"RequestID": "r" * 13, "SourceBBID": SOURCE, "Beneficiaries": [one]},
        {"RequestID": "reg000000001", "SourceBBID": SOURCE, "Beneficiaries": [{**one, "PayeeFunctionalID": "1" * 21}]},
    ]
    for body in cases:
        for path in ("/register-beneficiary", "/update-beneficiary-details"):
            response = client.post(path, json=body)
            assert response.status_code == 400, (path, body)
            payload = response.json()
            assert payload["ResponseCode"] == "01" and payload["ResponseDescription"]
            # RequestID echoed only in its documented format (12 characters)
            echoed = {"RequestID"} if len(body.get("RequestID", "")) == 12 else set()
            assert set(payload) == {"ResponseCode", "ResponseDescription"} | echoed
    response = client.post("/register-beneficiary", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["ResponseCode"] == "01"
    echoed = client.post("/register-beneficiary", json={"RequestID": "abcdefghijkl", "SourceBBID": SOURCE})
    assert echoed.json()["RequestID"] == "abcdefghijkl"


def test_v1_update_changes_address_and_reports_unknown_ids(client):
    a, b = RESIDENTS[0], RESIDENTS[2]
    register(client, [(a["functional_id"], a["modality"], a["address"])])
    with Recorder() as target:
        allow_callbacks(client.app, target.url)
        body = v1_register_body(
            "upd000000001",
            beneficiaries=[
                {
                    "PayeeFunctionalID": a["functional_id"],
                    "PaymentModality": b["modality"],
                    "FinancialAddress": b["address"],
                },
                {
                    "PayeeFunctionalID": "not-registered-00000",
                    "PaymentModality": "00",
                    "FinancialAddress": a["address"],
                },
            ],
        )
        response = client.post("/update-beneficiary-details", json=body, headers={"X-Callback-URL": target.url})
        assert response.json()["ResponseCode"] == "00"
        callback = target.wait_for(1)[0]["json"]
        assert callback["numberFailedCases"] == 1
        assert callback["failedCases"][0]["payeeFunctionalID"] == "not-registered-00000"
    found = client.put(
        "/beneficiary",
        json={"requestId": "l1", "payeePartyIds": [a["functional_id"]]},
        headers={"registeringInstitutionId": SOURCE},
    ).json()["paymentModalityList"]
    assert found[0]["financialAddress"] == b["address"] and found[0]["bankingInstitutionCode"] == b["fsp"]


def test_v3_register_update_and_lookup(client):
    a = RESIDENTS[4]
    headers = {"X-Registering-Institution-ID": "MOSW", "X-Callback-URL": "http://127.0.0.1:9/dead"}
    body = {
        "RequestID": "v3reg0000001",
        "Beneficiaries": [
            {
                "payeeIdentity": a["functional_id"],
                "PaymentModality": a["modality"],
                "FinancialAddress": a["address"],
                "bankingInstitutionCode": a["fsp"],
            }
        ],
    }
    response = client.post("/identityAccountMapper/beneficiary", json=body, headers=headers)
    assert response.status_code == 200
    assert response.json()["responseCode"] == "00" and response.json()["requestID"] == "v3reg0000001"

    # Scoped per source BB: another institution does not see it.
    other = client.get(
        "/beneficiary/",
        params={"payeeIdentity": a["functional_id"], "requestId": "q"},
        headers={"registeringInstitutionId": "OTHER"},
    ).json()
    assert other["paymentModalityList"] == []

    update = {
        "requestID": "v3upd0000001",
        "sourceBBID": "MOSW",
        "beneficiaries": [{"payeeIdentity": a["functional_id"], "paymentModality": "02", "status": "1"}],
    }
    response = client.put("/identityAccountMapper/beneficiary", json=update)
    assert response.status_code == 200 and response.json()["responseCode"] == "00"
    found = client.put(
        "/beneficiary",
        json={"requestId": "q2", "payeePartyIds": [a["functional_id"], "unknown"]},
        headers={"registeringInstitutionId": "MOSW"},
    ).json()
    assert [f["paymentModality"] for f in found["paymentModalityList"]] == ["02"]

    deactivate = {
        "requestID": "v3upd0000002",
        "sourceBBID": "MOSW",
        "beneficiaries": [{"payeeIdentity": a["functional_id"], "status": "0"}],
    }
    client.put("/identityAccountMapper/beneficiary", json=deactivate)
    found = client.get(
        "/beneficiary/",
        params={"payeeIdentity": a["functional_id"], "requestId": "q3"},
        headers={"registeringInstitutionId": "MOSW"},
    ).json()
    assert found["paymentModalityList"] == []


def test_v3_mapper_errors(client):
    body = {"RequestID": "v3reg0000009", "Beneficiaries": [{"payeeIdentity": "1", "PaymentModality": "00"}]}
    missing_institution = client.post(
        "/identityAccountMapper/beneficiary", json=body, headers={"X-Callback-URL": "http://x"}
    )
    assert missing_institution.status_code == 400
    assert missing_institution.json()["ResponseCode"] == "01"
    assert missing_institution.json()["RequestID"] == "v3reg0000009"
    missing_callback = client.post(
        "/identityAccountMapper/beneficiary", json=body, headers={"X-Registering-Institution-ID": "MOSW"}
    )
    assert missing_callback.status_code == 400
    bad_update = client.put(
        "/identityAccountMapper/beneficiary",
        json={"requestID": "u1", "sourceBBID": "MOSW", "beneficiaries": [{"payeeIdentity": "1", "status": "7"}]},
    )
    assert bad_update.status_code == 400
    assert bad_update.json() == {
        "responseCode": "01",
        "responseDescription": bad_update.json()["responseDescription"],
        "requestID": "u1",
    }
    lookup = client.get("/beneficiary/", params={"requestId": "q"})
    assert lookup.status_code == 400 and lookup.json()["responseCode"] == "01"
    bulk = client.put("/beneficiary", json={"requestId": "q", "payeePartyIds": []})
    assert bulk.status_code == 400


def test_a_registration_that_loses_a_race_is_a_duplicate_not_an_error(client, monkeypatch):
    """Two requests register the same id at once: both see it unregistered, one insert wins."""
    from services.payments.mapper import service

    acc = RESIDENTS[2]
    register(client, [(acc["functional_id"], acc["modality"], acc["address"])], "reg000000001")
    monkeypatch.setattr(service, "_existing", lambda *args: set())  # the check ran before the winner committed
    other = RESIDENTS[3]
    with Recorder() as target:
        allow_callbacks(client.app, target.url)
        body = v1_register_body(
            "reg000000002",
            beneficiaries=[
                {
                    "PayeeFunctionalID": acc["functional_id"],
                    "PaymentModality": acc["modality"],
                    "FinancialAddress": acc["address"],
                },
                {
                    "PayeeFunctionalID": other["functional_id"],
                    "PaymentModality": other["modality"],
                    "FinancialAddress": other["address"],
                },
            ],
        )
        response = client.post("/register-beneficiary", json=body, headers={"X-Callback-URL": target.url})
        assert response.status_code == 200, response.text
        outcome = target.wait_for(1)[0]["json"]
    assert outcome["numberFailedCases"] == 1
    assert acc["functional_id"] in json.dumps(outcome["failedCases"]) and other["functional_id"] not in json.dumps(
        outcome["failedCases"]
    )
    monkeypatch.undo()
    with Recorder() as target:  # the id that did not race was registered
        allow_callbacks(client.app, target.url)
        body = v1_register_body(
            "reg000000003",
            beneficiaries=[
                {
                    "PayeeFunctionalID": other["functional_id"],
                    "PaymentModality": other["modality"],
                    "FinancialAddress": other["address"],
                }
            ],
        )
        client.post("/register-beneficiary", json=body, headers={"X-Callback-URL": target.url})
        assert target.wait_for(1)[0]["json"]["numberFailedCases"] == 1
