"""The operation patterns an access right may be limited to (registry/endpoints.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.information_mediator.registry.conf import AllowedApplication, Right
from services.information_mediator.registry.endpoints import Operations, normalise_method, normalise_path


def ops(*pairs: tuple[str, str]) -> Operations:
    return Operations({"method": normalise_method(m), "path": normalise_path(p)} for m, p in pairs)


@pytest.mark.parametrize(
    "pattern,path,matches",
    [
        ("/bulk-payment", "/bulk-payment", True),
        ("/bulk-payment", "/bulk-payment/", False),
        ("/bulk-payment", "/bulk-payment/x", False),
        ("/bulk-payment", "/Bulk-Payment", False),
        ("/bulk-payment", "/bulk-payments", False),
        ("/bills/*", "/bills/MSC-1", True),
        ("/bills/*", "/bills/", False),
        ("/bills/*", "/bills", False),
        ("/bills/*", "/bills/a/b", False),
        ("/bills/{billId}", "/bills/MSC-1", True),
        ("/bills/{billId}", "/bills/a/b", False),
        ("/a/*/c", "/a/b/c", True),
        ("/a/*/c", "/a/b/d", False),
        ("/api/v1/**", "/api/v1", True),
        ("/api/v1/**", "/api/v1/", True),
        ("/api/v1/**", "/api/v1/batch/detail", True),
        ("/api/v1/**", "/api/v10", False),
        ("/api/v1/**", "/api", False),
        ("/**", "/", True),
        ("/**", "/anything/at/all", True),
        ("*", "/anything/at/all", True),
        ("**", "/", True),
        ("/", "", True),
        ("/", "/", True),
        ("/", "/x", False),
        ("/ledger/accounts/*", "/ledger/accounts/FUND:USCT:USD", True),
        ("/x.y", "/xzy", False),  # regex characters are literal
        ("/a+b", "/a+b", True),
    ],
)
def test_path_patterns(pattern, path, matches):
    assert ops(("GET", pattern)).permit("GET", path) is matches


def test_methods_match_exactly_or_by_star():
    limited = ops(("POST", "/bulk-payment"))
    assert limited.permit("POST", "/bulk-payment")
    assert limited.permit("post", "/bulk-payment")
    assert not limited.permit("GET", "/bulk-payment")
    assert not limited.permit("HEAD", "/bulk-payment")
    assert not limited.permit("PUT", "/bulk-payment")
    anything = ops(("*", "/bulk-payment"))
    assert all(anything.permit(m, "/bulk-payment") for m in ("GET", "POST", "DELETE", "PATCH"))


def test_any_method_rules_combine_with_method_rules():
    limited = ops(("*", "/a"), ("GET", "/b"), ("POST", "/c/**"))
    assert limited.permit("GET", "/a") and limited.permit("DELETE", "/a") and limited.permit("POST", "/a")
    assert limited.permit("GET", "/b") and not limited.permit("POST", "/b")
    assert limited.permit("POST", "/c/d/e") and not limited.permit("GET", "/c/d")
    assert not limited.permit("PUT", "/b")


def test_several_operations_any_of_them():
    limited = ops(("POST", "/rtpRequest"), ("POST", "/billTransferRequests"))
    assert limited.permit("POST", "/rtpRequest") and limited.permit("POST", "/billTransferRequests")
    assert not limited.permit("POST", "/bulk-payment")
    assert not limited.permit("GET", "/ledger/accounts/FUND:USCT:USD")


@pytest.mark.parametrize(
    "path",
    [
        "/%62ulk-payment",  # decoded as the provider routes it: this IS /bulk-payment
        "/bulk%2Dpayment",
    ],
)
def test_the_request_path_is_matched_percent_decoded(path):
    assert ops(("POST", "/bulk-payment")).permit("POST", path)


@pytest.mark.parametrize(
    "path",
    [
        "/rtpRequest/../bulk-payment",
        "/rtpRequest/%2e%2e/bulk-payment",
        "/rtpRequest/%2E%2E/bulk-payment",
        "/./rtpRequest",
        "/rtpRequest/.",
        "/rtpRequest%2F..%2Fbulk-payment",
    ],
)
def test_dot_segments_never_match_a_limited_right(path):
    assert not ops(("*", "*")).permit("POST", path)
    assert not ops(("POST", "/rtpRequest/**")).permit("POST", path)


def test_an_encoded_slash_makes_segments_as_it_does_at_the_provider():
    assert not ops(("GET", "/bills/*")).permit("GET", "/bills/a%2Fb")
    assert ops(("GET", "/bills/*/*")).permit("GET", "/bills/a%2Fb")


def test_dots_inside_a_segment_are_ordinary():
    assert ops(("GET", "/.well-known/jwks.json")).permit("GET", "/.well-known/jwks.json")
    assert ops(("GET", "/files/*")).permit("GET", "/files/..hidden")


@pytest.mark.parametrize(
    "pattern",
    [
        "",
        "   ",
        "bulk-payment",
        "/bulk-*",
        "/*x/y",
        "/a/**/b",
        "/a/../b",
        "/a/./b",
        "/a?b=1",
        "/a#b",
        "/a%2Fb",
        "/a b",
        "/a\tb",
        "/{a}b",
        "/{}",
        "/" + "a" * 1024,
        None,
        5,
    ],
)
def test_bad_path_patterns_are_refused_with_a_reason(pattern):
    with pytest.raises(ValueError, match=r"path must|'\*'|'\*\*'|'\{name\}'"):
        normalise_path(pattern)


@pytest.mark.parametrize("method", ["", "FETCH", "get,post", None, 1, "**"])
def test_bad_methods_are_refused(method):
    with pytest.raises(ValueError, match="method must be"):
        normalise_method(method)


def test_methods_and_any_path_are_normalised():
    assert normalise_method(" post ") == "POST"
    assert normalise_method("*") == "*"
    assert normalise_path("**") == "*"
    assert normalise_path(" /a/b ") == "/a/b"


@pytest.mark.parametrize("model", [Right, AllowedApplication])
def test_a_right_lists_operations_or_none(model):
    whole = model.model_validate({"member": "M", "application": "A"})
    assert whole.endpoints is None
    limited = model.model_validate(
        {
            "member": "M",
            "application": "A",
            "endpoints": [
                {"method": "post", "path": "/x"},
                {"method": "POST", "path": "/x"},
                {"method": "GET", "path": "/y/*"},
            ],
        }
    )
    assert [(e.method, e.path) for e in limited.endpoints] == [("POST", "/x"), ("GET", "/y/*")]
    for bad in ([], [{"method": "POST"}], [{"path": "/x"}], [{"method": "POST", "path": "x"}], "POST /x", {"a": 1}):
        with pytest.raises(ValidationError):
            model.model_validate({"member": "M", "application": "A", "endpoints": bad})
    with pytest.raises(ValidationError, match="at most 200"):
        model.model_validate(
            {"member": "M", "application": "A", "endpoints": [{"method": "GET", "path": f"/{i}"} for i in range(201)]}
        )
