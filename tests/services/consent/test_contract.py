"""The 42 operations of the GovStack Consent OpenAPI exist at their exact paths, no input gives 500/422, and the
conformance kit (`sandbox check consent`) passes with only the deviations Consent declares."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from sandbox.check.cli import read_deviations, run_block
from sandbox.check.kit import Config
from sandbox.check.openapi import spec_file
from services.consent.app import create_app
from services.consent.conformance import reseed
from tests.support import LiveServer, free_port

# The specification ships with the conformance kit (sandbox/check/specs/).
SPEC = spec_file("consent/consent-openapi.yaml")
DEVIATIONS = Path(__file__).resolve().parents[3] / "sandbox" / "check" / "deviations" / "consent.yaml"


def spec_operations() -> list[tuple[str, str]]:
    spec = yaml.safe_load(SPEC.read_text())
    return [(path, method) for path, ops in spec["paths"].items() for method in ops]


def test_every_spec_operation_is_served(client):
    served = client.get("/openapi.json").json()["paths"]
    operations = spec_operations()
    assert len(operations) == 42
    missing = [(p, m) for p, m in operations if m not in served.get(p, {})]
    assert missing == []


GARBAGE_BODIES = [
    b"",
    b"{",
    b"[]",
    b'"x"',
    b"null",
    b'{"policy": 1, "dataAgreement": [], "individual": "x", "webhook": {}, "consentRecord": 5, "signature": "s"}',
]


def test_garbage_never_gives_500_or_422(client):
    for path, method in spec_operations():
        url = re.sub(r"\{[^}]+\}", "no-such-id", path)
        for body in GARBAGE_BODIES:
            r = client.request(
                method.upper(),
                url,
                content=body,
                headers={"Content-Type": "application/json", "X-ConsentBB-IndividualId": "nobody"},
                params={
                    "offset": "-1",
                    "limit": "x",
                    "revisionId": "nope",
                    "individualId": "nobody",
                    "dataAgreementId": "nope",
                },
            )
            assert r.status_code == 400, (method, url, body, r.status_code, r.text)
            assert r.json()["error"] == "bad input parameter"


def test_garbage_with_real_ids_never_gives_500_or_422(client, individual):
    record = client.post(
        "/service/individual/record/data-agreement/da-usct-enrollment/", params={"individualId": individual}
    ).json()["consentRecord"]["id"]
    hook = client.post("/config/webhook/", json={"webhook": {"payloadUrl": "http://127.0.0.1:9/x"}}).json()["webhook"][
        "id"
    ]
    ids = {
        "policyId": "pol-sandbox-municipal-services",
        "dataAgreementId": "da-usct-enrollment",
        "individualId": individual,
        "consentRecordId": record,
        "webhookId": hook,
    }
    for path, method in spec_operations():
        url = re.sub(r"\{([^}]+)\}", lambda m: ids[m.group(1)], path)
        for body in (GARBAGE_BODIES[1], GARBAGE_BODIES[-1]):
            r = client.request(
                method.upper(),
                url,
                content=body,
                headers={"Content-Type": "application/json", "X-ConsentBB-IndividualId": individual},
                params={"optIn": "perhaps", "individualId": [individual, ""], "requireSigned": "2"},
            )
            assert r.status_code in (200, 400), (method, url, body, r.status_code, r.text)


def test_the_conformance_kit_passes_with_only_the_declared_deviations(settings):
    """Every call the kit makes, valid and invalid, and its workflows (the IM checks off: the kit calls Consent
    directly, as the operator); tests/sandbox/test_check.py runs it through the conformance profile."""
    callback_port = free_port()
    direct = settings.model_copy(
        update={"require_im_assertion": False, "callback_allow_list": [f"http://127.0.0.1:{callback_port}/"]}
    )
    reseed(direct)
    server = LiveServer(create_app(direct)).start()
    try:
        config = Config("consent", server.url, callback_port=callback_port, deviations=read_deviations(DEVIATIONS))
        results = run_block(config)
    finally:
        server.stop()
    assert [f"{r.operation}: {r.name}: {r.problem}" for r in results if not r.passed] == []
    assert len({r.operation for r in results if r.operation.startswith(("GET ", "POST ", "PUT ", "DELETE "))}) == 42


def test_docs_keep_the_api_order_while_verification_is_matched_first(client):
    """Verification's router is looked up first (the hot path skips matching 30 other routes); the docs still
    list config, then the individual's service APIs, then verification, audit and webhooks."""
    paths = list(client.get("/openapi.json").json()["paths"])
    assert paths.index("/config/policy/") < paths.index("/service/individual/record/consent-record/")
    assert paths.index("/service/individual/record/consent-record/") < paths.index(
        "/service/verification/consent-records/"
    )
    assert paths.index("/service/verification/consent-records/") < paths.index("/audit/consent-records/")
    routers = [r for r in client.app.router.routes if type(r).__name__ == "_IncludedRouter"]
    first_path = routers[1].original_router.routes[0].path  # routers[0]: health
    assert first_path == "/service/verification/consent-records/"
