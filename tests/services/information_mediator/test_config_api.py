"""GovStack Configuration Management API, the audit log and access-right management."""

from __future__ import annotations

from .conftest import OTHER, OTHER_SECRET, PROVIDER


def _audit(stack) -> list[dict]:
    return stack.admin("GET", "/api/v1/audit").json()["entries"]


def test_admin_calls_without_the_credential_are_refused_and_audited(stack):
    for method, path in [
        ("GET", "/api/v1/config"),
        ("PATCH", "/api/v1/config"),
        ("PUT", "/api/v1/config"),
        ("POST", "/api/v1/config"),
        ("GET", "/api/v1/status"),
        ("GET", "/api/v1/rights/allow"),
        ("PATCH", "/api/v1/rights/allow"),
        ("PATCH", "/api/v1/rights/deny"),
    ]:
        for token in (None, "wrong-token"):
            r = stack.admin(method, path, token=token, json={"domain": "x", "instance": "SANDBOX"})
            assert r.status_code == 401, (method, path)
    refused = [e for e in _audit(stack) if e["outcome"] == "refused"]
    assert {e["action"] for e in refused} >= {
        "config.update",
        "config.replace",
        "config.create",
        "rights.allow",
        "rights.deny",
    }
    # Nothing changed: the client still has its right.
    assert stack.call("GET", "echo").status_code == 200


def test_get_config_and_status(stack):
    conf = stack.admin("GET", "/api/v1/config").json()
    assert conf["instance"] == "SANDBOX"
    provider = next(m for m in conf["members"] if m["code"] == "PROVIDER-ORG")
    echo = next(s for s in provider["applications"][0]["services"] if s["id"] == "echo")
    assert echo["rights"] == [{"memberClass": "GOV", "member": "CLIENT-ORG", "application": "CLIENT"}]
    status = stack.admin("GET", "/api/v1/status").json()
    assert status["status"] == "OK" and status["instance"] == "SANDBOX" and status["services"] == 4


def test_post_initialises_once(stack):
    r = stack.admin("POST", "/api/v1/config", json={"domain": "d", "instance": "SANDBOX"})
    assert r.status_code == 400 and r.json()["type"] == "Client.BadRequest"


def test_bad_documents_are_rejected_with_nothing_changed(stack):
    before = stack.admin("GET", "/api/v1/config").json()
    bad_bodies = [
        b"{not json",
        b"[]",
        b'{"instance": "SANDBOX"}',
        b'{"domain": "d", "instance": "SANDBOX", "members": [{"name": "x", "class": "GOV", "code": "A", '
        b'"applications": [{"id": "B", "services": [{"id": "s", "serviceUrl": "not a url", "specUrl": "http://x/o"}]}]}]}',
        b'{"domain": "d", "instance": "SANDBOX", "members": [{"name": "x", "class": "GOV", "code": "A", '
        b'"applications": [{"id": "B", "services": [{"id": "listMethods", "serviceUrl": "http://x", "specUrl": "http://x/o"}]}]}]}',
        b'{"domain": "d", "instance": "SANDBOX", "members": [{"name": "x", "class": "GOV", "code": "A"}, '
        b'{"name": "y", "class": "GOV", "code": "A"}]}',
        b'{"domain": "d", "instance": "OTHER"}',
    ]
    for body in bad_bodies:
        r = stack.admin("PATCH", "/api/v1/config", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, body
        assert r.json()["type"] == "Client.BadRequest" and r.json()["message"]
    assert stack.admin("GET", "/api/v1/config").json() == before
    rejected = [e for e in _audit(stack) if e["outcome"] == "rejected"]
    assert len(rejected) >= len(bad_bodies)


def test_patch_merges_and_accepts_yaml_and_the_snake_case_spelling(stack):
    yaml_doc = f"""
domain: test.localhost
instance: SANDBOX
members:
- name: Third Org
  class: GOV
  code: 7003
  applications:
  - id: Registry
    services:
    - id: lookup
      spec_url: {stack.provider.url}/openapi.json
      service_url: {stack.provider.url}/echo
      rights:
      - member: Client Org
        application: OTHER
"""
    r = stack.admin("PATCH", "/api/v1/config", content=yaml_doc, headers={"Content-Type": "text/yaml"})
    assert r.status_code == 201, r.text
    assert isinstance(r.json(), str)
    conf = stack.admin("GET", "/api/v1/config").json()
    assert {m["code"] for m in conf["members"]} == {"PROVIDER-ORG", "CLIENT-ORG", "7003"}
    # The right named the member by name; it resolved to its code.
    r = stack.http.get(
        "/r1/SANDBOX/GOV/7003/Registry/lookup/x",
        headers={"Information-Mediator-Client": OTHER, "Information-Mediator-Client-Secret": OTHER_SECRET},
    )
    assert r.status_code == 200


def test_put_replaces_everything(stack):
    r = stack.admin("PUT", "/api/v1/config", json={"domain": "d", "instance": "SANDBOX", "members": []})
    assert r.status_code == 201
    assert stack.admin("GET", "/api/v1/config").json()["members"] == []
    assert stack.call("GET", "echo").status_code == 401  # the client no longer exists


def test_disable_a_service_through_patch(stack):
    doc = stack.admin("GET", "/api/v1/config").json()
    for m in doc["members"]:
        for a in m["applications"]:
            for s in a["services"]:
                if s["id"] == "echo":
                    s["enabled"] = False
    assert stack.admin("PATCH", "/api/v1/config", json=doc).status_code == 201
    assert stack.call("GET", "echo").headers["X-Road-Error"] == "Server.ServiceDisabled"


def test_rights_allow_deny_and_paging(stack):
    item = {
        "memberClass": "GOV",
        "memberCode": "PROVIDER-ORG",
        "applicationId": "APP",
        "serviceId": "echo",
        "rights": [{"memberClass": "GOV", "memberCode": "CLIENT-ORG", "applicationId": "OTHER"}],
    }
    assert stack.call("GET", "echo", client=OTHER, secret=OTHER_SECRET).status_code == 403
    assert stack.admin("PATCH", "/api/v1/rights/allow", json=[item]).status_code == 200
    assert stack.call("GET", "echo", client=OTHER, secret=OTHER_SECRET).status_code == 200

    listed = stack.admin("GET", "/api/v1/rights/allow", params={"serviceId": "echo"}).json()
    assert listed["allowList"][0]["serviceId"] == "echo"
    assert {r["applicationId"] for r in listed["allowList"][0]["rights"]} == {"CLIENT", "OTHER"}

    pages, token = [], None
    while True:
        params = {"pageSize": 2, **({"nextPageToken": token} if token else {})}
        page = stack.admin("GET", "/api/v1/rights/allow", params=params).json()
        pages.append(page["allowList"])
        token = page.get("nextPageToken")
        if not token:
            break
    pairs = [(i["serviceId"], r["applicationId"]) for p in pages for i in p for r in i["rights"]]
    assert len(pairs) == len(set(pairs)) == 4  # echo x2, disabled, down
    assert len(pages) == 2

    assert stack.admin("PATCH", "/api/v1/rights/deny", json=[item]).status_code == 200
    assert stack.call("GET", "echo", client=OTHER, secret=OTHER_SECRET).status_code == 403
    assert stack.call("GET", "echo").status_code == 200


def test_rights_changes_with_bad_input(stack):
    for body in (
        [{"serviceId": "echo"}],
        {"not": "a list"},
        [
            {
                "memberClass": "GOV",
                "memberCode": "PROVIDER-ORG",
                "applicationId": "APP",
                "serviceId": "nope",
                "rights": [],
            }
        ],
        [
            {
                "memberClass": "GOV",
                "memberCode": "PROVIDER-ORG",
                "applicationId": "APP",
                "serviceId": "echo",
                "rights": [{"memberClass": "GOV"}],
            }
        ],
    ):
        r = stack.admin("PATCH", "/api/v1/rights/allow", json=body)
        assert r.status_code == 400 and r.json()["type"] == "Client.BadRequest", body
    r = stack.admin("GET", "/api/v1/rights/allow", params={"nextPageToken": "!!garbage"})
    assert r.status_code == 400
    r = stack.admin("GET", "/api/v1/rights/allow", params={"pageSize": "many"})
    assert r.status_code == 400 and r.json()["type"] == "Client.BadRequest"


def test_nothing_answers_422_or_500(stack):
    probes = [
        ("GET", "/api/v1/trace?limit=abc"),
        ("GET", "/api/v1/trace?limit=-1"),
        ("GET", "/api/v1/monitoring?since=yesterday"),
        ("GET", "/api/v1/audit?limit=x"),
        ("GET", "/r1/SANDBOX"),
        ("GET", "/r1/SANDBOX/GOV/X/Y"),
        ("GET", "/nope"),
        ("DELETE", "/listClients"),
        ("POST", "/api/v1/status"),
        ("GET", f"/r1/{PROVIDER}/%ZZ/x"),
    ]
    for method, path in probes:
        r = stack.admin(method, path)
        assert r.status_code < 500 and r.status_code != 422, (method, path, r.status_code)
        assert "type" in r.json(), (method, path)
