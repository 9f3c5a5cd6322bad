"""Access rights limited to some operations of a service: Configuration API, rights API, snapshot, directory."""

from __future__ import annotations

from .conftest import CLIENT, OTHER, PROVIDER

ECHO = f"{PROVIDER}/echo"
ONLY_ITEMS = [{"method": "GET", "path": "/items/*"}, {"method": "post", "path": "/items"}]
STORED_ITEMS = [{"method": "GET", "path": "/items/*"}, {"method": "POST", "path": "/items"}]


def _item(endpoints: list[dict] | None, application: str = "OTHER") -> dict:
    right = {"memberClass": "GOV", "memberCode": "CLIENT-ORG", "applicationId": application}
    if endpoints is not None:
        right["endpoints"] = endpoints
    return {
        "memberClass": "GOV",
        "memberCode": "PROVIDER-ORG",
        "applicationId": "APP",
        "serviceId": "echo",
        "rights": [right],
    }


def _conf_rights(stack, service: str = "echo") -> list[dict]:
    conf = stack.admin("GET", "/api/v1/config").json()
    provider = next(m for m in conf["members"] if m["code"] == "PROVIDER-ORG")
    return next(s for s in provider["applications"][0]["services"] if s["id"] == service)["rights"]


def _right_of(stack, application: str) -> dict | None:
    return next((r for r in _conf_rights(stack) if r["application"] == application), None)


def _allowed_endpoints(stack, client: str) -> list[dict]:
    r = stack.http.get(
        f"/r1/{PROVIDER}/allowedMethods", params={"serviceId": "echo"}, headers={"X-GovStack-Client": client}
    )
    assert r.status_code == 200, r.text
    members = r.json()["member"]
    return members[0]["endpointList"]["member"] if members else []


def test_allow_with_endpoints_round_trips_through_config_rights_snapshot_and_directory(stack):
    r = stack.admin("PATCH", "/api/v1/rights/allow", json=[_item(ONLY_ITEMS)])
    assert r.status_code == 200 and r.json() == {"changed": 1}, r.text

    assert _right_of(stack, "OTHER") == {
        "memberClass": "GOV",
        "member": "CLIENT-ORG",
        "application": "OTHER",
        "endpoints": STORED_ITEMS,
    }
    assert "endpoints" not in _right_of(stack, "CLIENT")  # untouched: the whole service
    listed = stack.admin("GET", "/api/v1/rights/allow", params={"serviceId": "echo"}).json()["allowList"][0]["rights"]
    both = {"memberClass": "GOV", "memberCode": "CLIENT-ORG", "member": "CLIENT-ORG"}  # the spec's two spellings
    assert {**both, "applicationId": "OTHER", "application": "OTHER", "endpoints": STORED_ITEMS} in listed
    assert {**both, "applicationId": "CLIENT", "application": "CLIENT"} in listed

    snapshot = stack.runtime.snapshot
    assert snapshot.allows(OTHER, ECHO, "GET", "/items/42")
    assert snapshot.allows(OTHER, ECHO, "POST", "/items")
    assert not snapshot.allows(OTHER, ECHO, "DELETE", "/items/42")
    assert not snapshot.allows(OTHER, ECHO, "POST", "/bulk-payment")
    assert not snapshot.allows(OTHER, ECHO, "GET", "")
    assert snapshot.allows(CLIENT, ECHO, "DELETE", "/anything")
    assert not snapshot.allows(OTHER, f"{PROVIDER}/private", "GET", "/items/42")
    assert not snapshot.allows(OTHER, f"{PROVIDER}/nothing-here", "GET", "/items/42")

    # allowedMethods shows the caller what its own right allows; listMethods still shows everything.
    assert _allowed_endpoints(stack, OTHER) == STORED_ITEMS
    whole = _allowed_endpoints(stack, CLIENT)
    assert {"method": "POST", "path": "/upload"} in whole and len(whole) > 2
    listed = stack.http.get(
        f"/r1/{PROVIDER}/listMethods", params={"serviceId": "echo"}, headers={"X-GovStack-Client": OTHER}
    )
    listed_methods = listed.json()["member"]
    assert {"method": "POST", "path": "/upload"} in listed_methods[0]["endpointList"]["member"]


def test_allow_adds_operations_and_a_right_without_endpoints_widens_to_the_whole_service(stack):
    stack.admin("PATCH", "/api/v1/rights/allow", json=[_item(ONLY_ITEMS)])
    again = stack.admin("PATCH", "/api/v1/rights/allow", json=[_item([{"method": "GET", "path": "/items/*"}])])
    assert again.json() == {"changed": 0}
    more = stack.admin("PATCH", "/api/v1/rights/allow", json=[_item([{"method": "DELETE", "path": "/items/*"}])])
    assert more.json() == {"changed": 1}
    assert _right_of(stack, "OTHER")["endpoints"] == [*STORED_ITEMS, {"method": "DELETE", "path": "/items/*"}]
    assert stack.runtime.snapshot.allows(OTHER, ECHO, "DELETE", "/items/1")

    wide = stack.admin("PATCH", "/api/v1/rights/allow", json=[_item(None)])
    assert wide.json() == {"changed": 1}
    assert "endpoints" not in _right_of(stack, "OTHER")
    assert stack.runtime.snapshot.allows(OTHER, ECHO, "PATCH", "/other")
    # A whole-service right absorbs any later list.
    assert stack.admin("PATCH", "/api/v1/rights/allow", json=[_item(ONLY_ITEMS)]).json() == {"changed": 0}
    assert "endpoints" not in _right_of(stack, "OTHER")


def test_deny_takes_operations_out_and_the_right_goes_with_its_last_one(stack):
    stack.admin("PATCH", "/api/v1/rights/allow", json=[_item(ONLY_ITEMS)])
    one = stack.admin("PATCH", "/api/v1/rights/deny", json=[_item([{"method": "POST", "path": "/items"}])])
    assert one.status_code == 200 and one.json() == {"changed": 1}
    assert _right_of(stack, "OTHER")["endpoints"] == [{"method": "GET", "path": "/items/*"}]
    assert not stack.runtime.snapshot.allows(OTHER, ECHO, "POST", "/items")
    unknown = stack.admin("PATCH", "/api/v1/rights/deny", json=[_item([{"method": "PUT", "path": "/nope"}])])
    assert unknown.json() == {"changed": 0}
    last = stack.admin("PATCH", "/api/v1/rights/deny", json=[_item([{"method": "GET", "path": "/items/*"}])])
    assert last.json() == {"changed": 1}
    assert _right_of(stack, "OTHER") is None
    assert not stack.runtime.snapshot.allows(OTHER, ECHO, "GET", "/items/1")


def test_operations_cannot_be_taken_out_of_a_whole_service_right(stack):
    before = _conf_rights(stack)
    r = stack.admin(
        "PATCH", "/api/v1/rights/deny", json=[_item([{"method": "GET", "path": "/x"}], application="CLIENT")]
    )
    assert r.status_code == 400 and r.json()["type"] == "Client.BadRequest"
    assert "covers the whole service" in r.json()["message"]
    assert _conf_rights(stack) == before
    assert stack.runtime.snapshot.allows(CLIENT, ECHO, "GET", "/x")


def test_bad_endpoints_are_refused_with_400_and_nothing_changes(stack):
    before = _conf_rights(stack)
    for endpoints in (
        [],
        [{"method": "FETCH", "path": "/x"}],
        [{"method": "GET", "path": "x"}],
        [{"method": "GET", "path": "/a/**/b"}],
        [{"method": "GET", "path": "/bulk-*"}],
        [{"method": "GET"}],
        "GET /x",
        [{"method": "GET", "path": "/x?y=1"}],
    ):
        for api in ("/api/v1/rights/allow", "/api/v1/rights/deny"):
            r = stack.admin("PATCH", api, json=[_item(endpoints)])
            assert r.status_code == 400 and r.json()["type"] == "Client.BadRequest", (api, endpoints, r.text)
            assert "endpoints" in r.json()["message"]
    assert _conf_rights(stack) == before


def _conf_with_echo_rights(stack, rights: list[dict]) -> dict:
    conf = stack.admin("GET", "/api/v1/config").json()
    provider = next(m for m in conf["members"] if m["code"] == "PROVIDER-ORG")
    provider["applications"][0]["services"] = [
        {**s, "rights": rights} for s in provider["applications"][0]["services"] if s["id"] == "echo"
    ]
    conf["members"] = [provider]
    return conf


def test_imconf_right_endpoints_are_set_as_the_document_lists_them(stack):
    # PATCH merges rights, but a right it lists is stored as listed: here the whole-service right is narrowed.
    narrowed = _conf_with_echo_rights(
        stack, [{"member": "CLIENT-ORG", "application": "CLIENT", "endpoints": ONLY_ITEMS}]
    )
    assert stack.admin("PATCH", "/api/v1/config", json=narrowed).status_code == 201
    assert _right_of(stack, "CLIENT")["endpoints"] == STORED_ITEMS
    assert not stack.runtime.snapshot.allows(CLIENT, ECHO, "GET", "/anything")
    assert stack.runtime.snapshot.allows(CLIENT, ECHO, "GET", "/items/7")
    # The exported document applies as it is (round trip), YAML included.
    exported = stack.admin("GET", "/api/v1/config").json()
    assert stack.admin("PUT", "/api/v1/config", json=exported).status_code == 201
    assert stack.admin("GET", "/api/v1/config").json() == exported
    yaml_doc = (
        "domain: test.localhost\ninstance: SANDBOX\nmembers:\n"
        "  - {name: Provider Org, class: GOV, code: PROVIDER-ORG, applications: [{id: APP, services: [\n"
        "      {id: echo, serviceUrl: 'http://127.0.0.1:1/echo', specUrl: 'http://127.0.0.1:1/openapi.json',\n"
        "       rights: [{member: CLIENT-ORG, application: CLIENT, endpoints: [{method: '*', path: /yaml/**}]}]}]}]}\n"
    )
    r = stack.admin("PATCH", "/api/v1/config", content=yaml_doc, headers={"Content-Type": "text/yaml"})
    assert r.status_code == 201, r.text
    assert _right_of(stack, "CLIENT")["endpoints"] == [{"method": "*", "path": "/yaml/**"}]
    # Without endpoints the document gives the whole service back.
    widened = _conf_with_echo_rights(stack, [{"member": "CLIENT-ORG", "application": "CLIENT"}])
    assert stack.admin("PATCH", "/api/v1/config", json=widened).status_code == 201
    assert "endpoints" not in _right_of(stack, "CLIENT")


def test_imconf_with_bad_endpoints_is_refused_with_nothing_changed(stack):
    before = stack.admin("GET", "/api/v1/config").json()
    for endpoints in ([], [{"method": "GET", "path": "/a/../b"}], [{"method": "YES", "path": "/a"}]):
        doc = _conf_with_echo_rights(stack, [{"member": "CLIENT-ORG", "application": "CLIENT", "endpoints": endpoints}])
        r = stack.admin("PATCH", "/api/v1/config", json=doc)
        assert r.status_code == 400 and r.json()["type"] == "Client.BadRequest", r.text
    assert stack.admin("GET", "/api/v1/config").json() == before
