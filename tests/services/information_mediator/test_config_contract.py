"""Every Configuration Management API answer against `GovStack_IM_Configuration_Management_API.yaml`
(openapi-core): each documented operation, positive and negative where the spec documents the status."""

from __future__ import annotations

import httpx
import pytest

from services.information_mediator.app import create_app
from services.information_mediator.settings import IMSettings
from tests.support import LiveServer

from .conftest import ADMIN
from .contract import CONFIGURATION, require_specs, spec, validate

pytestmark = pytest.mark.usefixtures("specs")
MINIMAL = {"domain": "test.localhost", "instance": "SANDBOX"}


@pytest.fixture
def specs() -> None:
    require_specs()


def check(response) -> None:
    validate(spec(CONFIGURATION), response)


def test_get_config_is_an_imconf_document(stack):
    r = stack.admin("GET", "/api/v1/config")
    assert r.status_code == 200
    check(r)


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_config_changes_answer_201_with_a_string(stack, method):
    conf = stack.admin("GET", "/api/v1/config").json()
    r = stack.admin(method, "/api/v1/config", json=conf)
    assert r.status_code == 201
    check(r)
    assert isinstance(r.json(), str)


def test_post_config_initialises_a_fresh_im_once(db_fields, tmp_path):
    app = create_app(IMSettings(**db_fields, data_dir=tmp_path, admin_token=ADMIN))
    with LiveServer(app) as im, httpx.Client(base_url=im.url, headers={"Authorization": f"Bearer {ADMIN}"}) as http:
        first = http.post("/api/v1/config", json=MINIMAL, params={"init": "false"})
        assert first.status_code == 201
        check(first)
        again = http.post("/api/v1/config", json=MINIMAL)
        assert again.status_code == 400
        check(again)


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT"])
@pytest.mark.parametrize("body", [b"{not json", b'{"instance": "SANDBOX"}', b"[]"])
def test_bad_config_documents_answer_400(stack, method, body):
    r = stack.admin(method, "/api/v1/config", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    check(r)


def test_status(stack):
    r = stack.admin("GET", "/api/v1/status")
    assert r.status_code == 200
    check(r)


def test_get_allowed_is_a_paginated_service_access_rights_list(stack):
    r = stack.admin("GET", "/api/v1/rights/allow", params={"pageSize": 2})
    assert r.status_code == 200
    check(r)
    assert r.json()["nextPageToken"]
    right = r.json()["allowList"][0]["rights"][0]
    # The spec's AllowedApplication requires `member` and `application` but describes memberClass/memberCode/
    # applicationId: both spellings are sent.
    assert right == {
        "memberClass": "GOV",
        "memberCode": "CLIENT-ORG",
        "applicationId": "CLIENT",
        "member": "CLIENT-ORG",
        "application": "CLIENT",
    }
    following = stack.admin("GET", "/api/v1/rights/allow", params={"nextPageToken": r.json()["nextPageToken"]})
    check(following)
    filtered = stack.admin("GET", "/api/v1/rights/allow", params={"serviceId": "echo", "pageSize": "10.0"})
    assert filtered.status_code == 200
    check(filtered)
    assert [i["serviceId"] for i in filtered.json()["allowList"]] == ["echo"]


@pytest.mark.parametrize("path", ["/api/v1/rights/allow", "/api/v1/rights/deny"])
def test_rights_changes_answer_200(stack, path):
    body = [
        {
            "memberClass": "GOV",
            "memberCode": "PROVIDER-ORG",
            "applicationId": "APP",
            "serviceId": "private",
            "rights": [{"member": "CLIENT-ORG", "application": "OTHER"}],
        }
    ]
    r = stack.admin("PATCH", path, json=body)
    assert r.status_code == 200
    check(r)


@pytest.mark.parametrize("path", ["/api/v1/rights/allow", "/api/v1/rights/deny"])
def test_rights_changes_without_a_body_change_nothing(stack, path):
    """The spec's request body is not required: an empty PATCH is a change of nothing, not an error."""
    before = stack.admin("GET", "/api/v1/rights/allow").json()
    r = stack.admin("PATCH", path)
    assert r.status_code == 200
    check(r)
    assert stack.admin("GET", "/api/v1/rights/allow").json() == before


@pytest.mark.parametrize(
    "method,path",
    [("GET", "/api/v1/rights/allow"), ("PATCH", "/api/v1/rights/allow"), ("PATCH", "/api/v1/rights/deny")],
)
@pytest.mark.parametrize("token", [None, "wrong", ADMIN + "x"])
def test_rights_without_the_credential_answer_401(stack, method, path, token):
    r = stack.admin(method, path, token=token, json=[])
    assert r.status_code == 401
    check(r)
