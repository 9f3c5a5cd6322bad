"""Directory metaservices, with and without the /r1 prefix."""

from __future__ import annotations

import json

import pytest

from .conftest import CLIENT, OTHER, PROVIDER

PREFIXES = ["/r1", ""]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_list_clients(stack, prefix):
    r = stack.http.get(f"{prefix}/listClients")
    assert r.status_code == 200
    items = r.json()["member"]
    subsystems = {i["id"]["applicationCode"] for i in items if i["id"]["objectType"]["object_type"] == "SUBSYSTEM"}
    assert subsystems == {"APP", "CLIENT", "OTHER"}
    member = next(
        i for i in items if i["id"]["objectType"]["object_type"] == "MEMBER" and i["id"]["memberCode"] == "CLIENT-ORG"
    )
    assert member == {
        "name": "Client Org",
        "id": {
            "objectType": {"object_type": "MEMBER"},
            "GovStackInstance": "SANDBOX",
            "memberClass": "GOV",
            "memberCode": "CLIENT-ORG",
        },
    }
    assert all(v is not None for i in items for v in i["id"].values())
    assert stack.http.get(f"{prefix}/listClients", params={"instanceId": "ELSEWHERE"}).json() == {"member": []}


@pytest.mark.parametrize("prefix", PREFIXES)
def test_list_methods(stack, prefix):
    r = stack.http.get(f"{prefix}/{PROVIDER}/listMethods")
    assert r.status_code == 200
    services = {s["serviceCode"]: s for s in r.json()["member"]}
    assert set(services) == {"echo", "disabled", "down", "private"}
    echo = services["echo"]
    assert echo["objectType"] == {"object_type": "SERVICE"}
    assert (echo["GovStackInstance"], echo["memberClass"], echo["memberCode"], echo["applicationCode"]) == (
        "SANDBOX",
        "GOV",
        "PROVIDER-ORG",
        "APP",
    )
    assert echo["serviceVersion"] == "2.3.4"
    assert {"method": "POST", "path": "/upload"} in echo["endpointList"]["member"]
    only = stack.http.get(f"{prefix}/{PROVIDER}/listMethods", params={"serviceId": "echo"}).json()["member"]
    assert [s["serviceCode"] for s in only] == ["echo"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_allowed_methods_lists_only_what_the_caller_may_call(stack, prefix):
    r = stack.http.get(f"{prefix}/{PROVIDER}/allowedMethods", headers={"X-GovStack-Client": CLIENT})
    assert r.status_code == 200
    assert {s["serviceCode"] for s in r.json()["member"]} == {"echo", "disabled", "down"}
    r = stack.http.get(f"{prefix}/{PROVIDER}/allowedMethods", headers={"X-GovStack-Client": OTHER})
    assert r.json() == {"member": []}
    missing = stack.http.get(f"{prefix}/{PROVIDER}/allowedMethods")
    assert missing.status_code == 400 and isinstance(missing.json(), str)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_get_openapi(stack, prefix):
    r = stack.http.get(f"{prefix}/{PROVIDER}/getOpenAPI", params={"serviceCode": "echo"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    doc = json.loads(r.text)
    assert doc["info"]["title"] == "Test provider" and "/upload" in doc["paths"]


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(
    "path,params",
    [
        ("/SANDBOX/GOV/PROVIDER-ORG/APP/getOpenAPI", {}),
        ("/SANDBOX/GOV/PROVIDER-ORG/APP/getOpenAPI", {"serviceCode": "nope"}),
        ("/SANDBOX/GOV/PROVIDER-ORG/APP/getOpenAPI", {"serviceCode": ""}),
        ("/SANDBOX/GOV/NOBODY/APP/getOpenAPI", {"serviceCode": "echo"}),
        ("/ELSEWHERE/GOV/PROVIDER-ORG/APP/getOpenAPI", {"serviceCode": "echo"}),
        ("/SANDBOX/GOV/NOBODY/APP/listMethods", {}),
    ],
)
def test_directory_errors_are_400_with_a_json_string(stack, prefix, path, params):
    r = stack.http.get(prefix + path, params=params, headers={"X-GovStack-Client": CLIENT})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/json")
    assert isinstance(r.json(), str) and r.json()
