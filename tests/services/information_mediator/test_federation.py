"""Federated instances (X-Road federation): declared in IMconf (`federation`), in the topology and in a fixture
file; answered for by the directory metaservices; routed to with the IM error model (no peer IM yet)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate as validate_openapi

from sandbox.topology import Topology
from services.information_mediator.registry import federation

from .conftest import CLIENT, OTHER
from .contract import DIRECTORY, require_specs, strict, validate

REPO = Path(__file__).parents[3]
FIXTURES = REPO / "sandbox" / "conformance" / "im.yaml"
CHECKS_CALLER = "eGovStack/GOV/90000009/digitalregistries"
# The fixture providers of CONFORMANCE.md: instance / class / member / application, each offering alp4aNum3r1c.
FIXTURE_PROVIDERS = [
    ("identifier", "identifier", "alp4aNum3r1c", "alp4aNum3r1c"),
    ("a11a11a11a", "asd2211a", "12as12", "m3mb3rc0d3"),
    ("a552example", "zzz321a", "m3mb3rc0d3", "aa15"),
    ("valid1dentifi3r", "rand0mid3nt", "str1ng", "azxcv55"),
]
SMALL_DOC = {
    "openapi": "3.0.3",
    "info": {"title": "Remote registry", "version": "7.1"},
    "paths": {"/people/{id}": {"get": {"responses": {"200": {"description": "a person"}}}}},
}


def remote(spec_url: str) -> dict:
    """A federated instance REMOTE with one provider (two services) and one client application."""
    return {
        "instance": "REMOTE",
        "members": [
            {
                "name": "Remote Registry Office",
                "class": "GOV",
                "code": "RRO",
                "applications": [
                    {
                        "id": "REG",
                        "services": [
                            {
                                "id": "people",
                                "openapi": SMALL_DOC,
                                "rights": [{"instance": "SANDBOX", "member": "CLIENT-ORG", "application": "CLIENT"}],
                            },
                            {"id": "fetched", "specUrl": spec_url},
                        ],
                    },
                    {"id": "PORTAL"},
                ],
            }
        ],
    }


def patch(stack, federated: list[dict]):  # noqa: ANN201
    return stack.admin(
        "PATCH", "/api/v1/config", json={"domain": "test.localhost", "instance": "SANDBOX", "federation": federated}
    )


@pytest.fixture
def federated(stack):
    r = patch(stack, [remote(f"{stack.provider.url}/openapi.json")])
    assert r.status_code == 201, r.text
    stack.runtime.reload()
    return stack


def directory(stack, path: str, **params):  # noqa: ANN003, ANN201
    """A directory call as the checks make it; the answer is checked against the spec when the folder is there."""
    headers = {"X-GovStack-Client": params.pop("caller", CHECKS_CALLER)}
    r = stack.http.get(path, params=params, headers=headers)
    try:
        require_specs()
    except pytest.skip.Exception:
        return r
    validate(strict(DIRECTORY), r)
    return r


# ---- the configuration API -------------------------------------------------------------------------


def test_federation_round_trips_through_the_configuration_api(federated):
    conf = federated.admin("GET", "/api/v1/config").json()
    assert [f["instance"] for f in conf["federation"]] == ["REMOTE"]
    people = conf["federation"][0]["members"][0]["applications"][0]["services"][0]
    assert people == {
        "id": "people",
        "openapi": SMALL_DOC,
        "rights": [{"instance": "SANDBOX", "memberClass": "GOV", "member": "CLIENT-ORG", "application": "CLIENT"}],
    }
    # The local registry is untouched, and the status counts federated instances apart.
    assert {m["code"] for m in conf["members"]} == {"PROVIDER-ORG", "CLIENT-ORG"}
    status = federated.admin("GET", "/api/v1/status").json()
    assert status["services"] == 4 and status["federatedInstances"] == 1


def test_patch_replaces_a_listed_instance_and_keeps_the_others_put_replaces_all(federated):
    other = {"instance": "THIRD", "members": [{"name": "Third", "class": "COM", "code": "T1"}]}
    assert patch(federated, [other]).status_code == 201
    shrunk = {
        **remote("http://x.invalid/o"),
        "members": [{"name": "Remote Registry Office", "class": "GOV", "code": "RRO"}],
    }
    assert patch(federated, [shrunk]).status_code == 201
    conf = federated.admin("GET", "/api/v1/config").json()
    assert [f["instance"] for f in conf["federation"]] == ["REMOTE", "THIRD"]
    assert conf["federation"][0]["members"][0]["applications"] == []
    without = {k: v for k, v in conf.items() if k != "federation"}
    assert federated.admin("PUT", "/api/v1/config", json=without).status_code == 201
    assert "federation" not in federated.admin("GET", "/api/v1/config").json()


def with_service(**service: object) -> dict:
    """A federated instance R whose one application offers `service`."""
    app = {"id": "B", "services": [{"id": "s", **service}]}
    return {"instance": "R", "members": [{"name": "x", "class": "GOV", "code": "A", "applications": [app]}]}


@pytest.mark.parametrize(
    "declared,message",
    [
        ({"instance": "SANDBOX"}, "own instance"),
        ({"instance": "bad id!"}, "instance"),
        ({"instance": "R", "members": [{"name": "x", "class": "GOV", "code": "A"}] * 2}, "member twice"),
        (
            {
                "instance": "R",
                "members": [{"name": "x", "class": "GOV", "code": "A", "applications": [{"id": "B"}] * 2}],
            },
            "application twice",
        ),
        (with_service(), "specUrl or openapi"),
        (with_service(specUrl="http://x/o", openapi=SMALL_DOC), "specUrl or openapi"),
        (with_service(openapi={"paths": {}}), "OpenAPI document"),
        (with_service(openapi="a: [b"), "YAML"),
        (with_service(id="getOpenAPI", openapi=SMALL_DOC), "reserved"),
        (with_service(specUrl="file:///etc/passwd"), "http(s) URL"),
        (with_service(openapi=SMALL_DOC, rights=[{"member": "A"}]), "application"),
    ],
)
def test_bad_federation_declarations_are_refused_with_nothing_changed(federated, declared, message):
    before = federated.admin("GET", "/api/v1/config").json()
    r = patch(federated, [declared])
    assert r.status_code == 400 and r.json()["type"] == "Client.BadRequest"
    assert message in r.json()["message"]
    assert federated.admin("GET", "/api/v1/config").json() == before


def test_the_same_instance_twice_is_refused(stack):
    r = patch(stack, [{"instance": "R"}, {"instance": "R"}])
    assert r.status_code == 400 and "twice" in r.json()["message"]


def test_the_topology_passes_its_federation_to_the_imconf_document():
    listed = [remote("http://127.0.0.1:1/openapi.json")]
    topology = Topology("SANDBOX", "sandbox.localhost", {}, [], federation=listed)
    assert topology.imconf({})["federation"] == listed
    assert "federation" not in Topology("SANDBOX", "sandbox.localhost", {}, []).imconf({})


# ---- the directory -------------------------------------------------------------------------------


def test_list_clients_of_a_federated_instance(federated):
    items = directory(federated, "/listClients", instanceId="REMOTE").json()["member"]
    ident = {"instanceId": "REMOTE", "memberClass": "GOV", "memberCode": "RRO"}
    assert items == [
        {"name": "Remote Registry Office", "id": {"objectType": "MEMBER", **ident}},
        {"name": "Remote Registry Office", "id": {"objectType": "APPLICATION", **ident, "applicationCode": "PORTAL"}},
        {"name": "Remote Registry Office", "id": {"objectType": "APPLICATION", **ident, "applicationCode": "REG"}},
    ]
    # Without instanceId: this instance only (the spec: other instances are asked for by instanceId).
    local = directory(federated, "/listClients").json()["member"]
    assert {i["id"]["instanceId"] for i in local} == {"SANDBOX"}


def test_list_and_allowed_methods_of_a_federated_provider(federated):
    listed = directory(federated, "/r1/REMOTE/GOV/RRO/REG/listMethods").json()["member"]
    assert [s["serviceCode"] for s in listed] == ["people", "fetched"]
    people = listed[0]
    assert people["instanceId"] == "REMOTE" and people["serviceVersion"] == "7.1"
    assert people["endpointList"] == {"member": [{"method": "GET", "path": "/people/{id}"}]}
    assert listed[1]["serviceVersion"] == "2.3.4"  # fetched from its specUrl (the test provider's document)
    allowed = directory(federated, "/r1/REMOTE/GOV/RRO/REG/allowedMethods", caller=CLIENT).json()["member"]
    assert [s["serviceCode"] for s in allowed] == ["people"]
    assert directory(federated, "/r1/REMOTE/GOV/RRO/REG/allowedMethods", caller=OTHER).json() == {"member": []}


def test_get_openapi_of_a_federated_service_in_both_forms(federated):
    r = directory(federated, "/r1/REMOTE/GOV/RRO/REG/getOpenAPI", serviceCode="people")
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert json.loads(r.json()) == SMALL_DOC
    as_yaml = federated.http.get(
        "/REMOTE/GOV/RRO/REG/getOpenAPI",
        params={"serviceCode": "people"},
        headers={"X-GovStack-Client": CHECKS_CALLER, "Accept": "text/yaml"},
    )
    assert as_yaml.headers["content-type"] == "text/yaml; charset=utf-8"
    assert yaml.safe_load(as_yaml.text) == SMALL_DOC


@pytest.mark.parametrize(
    "path,params",
    [
        ("/r1/REMOTE/GOV/RRO/NOPE/listMethods", {}),
        ("/r1/REMOTE/GOV/NOBODY/REG/allowedMethods", {}),
        ("/r1/REMOTE/GOV/RRO/REG/getOpenAPI", {"serviceCode": "nope"}),
        ("/r1/UNKNOWN/GOV/RRO/REG/getOpenAPI", {"serviceCode": "people"}),
    ],
)
def test_unknown_federated_parts_are_400_with_a_json_string(federated, path, params):
    r = directory(federated, path, **params)
    assert r.status_code == 400 and isinstance(r.json(), str)


# ---- routing ---------------------------------------------------------------------------------------


def _call(stack, service: str, secret: str | None = "client-secret-1"):  # noqa: ANN201
    headers = {"Information-Mediator-Client": CLIENT}
    if secret:
        headers["Information-Mediator-Client-Secret"] = secret
    return stack.http.get(f"/r1/{service}/people/42", headers=headers)


def test_a_call_to_a_federated_service_answers_no_peer_in_the_im_error_model(federated):
    r = _call(federated, "REMOTE/GOV/RRO/REG/people")
    assert r.status_code == 503 and r.headers["X-Road-Error"] == "Server.NoPeer"
    body = r.json()
    assert body["type"] == "Server.NoPeer" and "no peer IM configured for instance REMOTE" in body["message"]
    assert body["detail"] == r.headers["X-Road-Id"]
    # Any service of that instance: the peer, not this IM, would know whether it exists.
    assert _call(federated, "REMOTE/GOV/RRO/PORTAL/anything").headers["X-Road-Error"] == "Server.NoPeer"
    # The client is authenticated first; an instance nobody federates with stays unknown.
    assert _call(federated, "REMOTE/GOV/RRO/REG/people", secret="wrong").status_code == 401
    assert _call(federated, "ELSEWHERE/GOV/RRO/REG/people").headers["X-Road-Error"] == "Server.UnknownService"
    federated.flush_log()
    logged = federated.admin("GET", "/api/v1/monitoring").json()
    assert "REMOTE/GOV/RRO/REG/people" in json.dumps(logged)


# ---- the conformance fixtures ----------------------------------------------------------------------


def test_the_fixture_file_loads_idempotently_and_restores_the_fixtures(stack):
    with stack.app.state.db.session() as session:
        assert federation.load_federation_file(session, FIXTURES) == 5
    with stack.app.state.db.session() as session:
        assert federation.load_federation_file(session, FIXTURES) == 0  # the same file again: nothing changes
    stack.runtime.reload()
    # A check (or a person) changes a fixture instance; loading the file again restores it.
    assert patch(stack, [{"instance": "a11a11a11a"}]).status_code == 201
    with stack.app.state.db.session() as session:
        assert federation.load_federation_file(session, FIXTURES) == 1
    stored = stack.admin("GET", "/api/v1/config").json()["federation"]
    assert stored == sorted(federation.federation_document(FIXTURES), key=lambda f: f["instance"])


def test_the_fixture_document_goes_through_the_configuration_api(stack):
    r = patch(stack, federation.federation_document(FIXTURES))
    assert r.status_code == 201, r.text
    with stack.app.state.db.session() as session:
        assert federation.load_federation_file(session, FIXTURES) == 0  # the API stored exactly the file


@pytest.mark.parametrize("provider", FIXTURE_PROVIDERS, ids=lambda p: p[0])
def test_each_fixture_reads_back_through_the_directory(stack, provider):
    with stack.app.state.db.session() as session:
        federation.load_federation_file(session, FIXTURES)
    stack.runtime.reload()
    instance, member_class, member, application = provider
    clients = directory(stack, "/listClients", instanceId=instance).json()["member"]
    ident = {"instanceId": instance, "memberClass": member_class, "memberCode": member}
    assert {"objectType": "APPLICATION", **ident, "applicationCode": application} in [c["id"] for c in clients]
    base = f"/r1/{instance}/{member_class}/{member}/{application}"
    for operation in ("listMethods", "allowedMethods"):
        services = directory(stack, f"{base}/{operation}").json()["member"]
        assert [s["serviceCode"] for s in services] == ["alp4aNum3r1c"], operation
        assert {"method": "GET", "path": "/records/{id}"} in services[0]["endpointList"]["member"]
    description = directory(stack, f"{base}/getOpenAPI", serviceCode="alp4aNum3r1c")
    assert description.status_code == 200
    validate_openapi(json.loads(description.json()))


def test_the_checks_caller_is_listed_in_its_instance(stack):
    with stack.app.state.db.session() as session:
        federation.load_federation_file(session, FIXTURES)
    clients = directory(stack, "/listClients", instanceId="eGovStack").json()["member"]
    ident = {"instanceId": "eGovStack", "memberClass": "GOV", "memberCode": "90000009"}
    assert {"objectType": "APPLICATION", **ident, "applicationCode": "digitalregistries"} in [c["id"] for c in clients]


def test_the_fixture_file_needs_a_configured_im(db_fields, tmp_path):
    from services.common.database import Database
    from services.information_mediator.app import MIGRATIONS

    db = Database(db_fields["database_url"], db_fields["database_schema"])
    try:
        db.migrate(MIGRATIONS)
        with pytest.raises(federation.FederationError, match="not configured"), db.session() as session:
            federation.load_federation_file(session, FIXTURES)
    finally:
        db.dispose()


def test_a_file_without_a_federation_list_is_refused(tmp_path, stack):
    bad = tmp_path / "bad.yaml"
    bad.write_text("members: []\n")
    with pytest.raises(federation.FederationError, match="no `federation:` list"), stack.app.state.db.session() as s:
        federation.load_federation_file(s, bad)
