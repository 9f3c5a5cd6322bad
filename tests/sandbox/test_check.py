"""`sandbox check <block> --url URL` (issue 24): the conformance kit passes completely on our four building blocks
(the conformance profile, started once for the module; each block with the differences it declares in
sandbox/check/deviations/), and fails with a readable Markdown and JUnit report on a deliberately broken Consent
(a tiny ASGI app answering a wrong shape, a wrong status and malformed JSON)."""

from __future__ import annotations

import json
import ssl
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

from sandbox.check.cli import check, read_deviations, run_block
from sandbox.check.kit import Config
from tests.e2e.launcher import RunningSandbox
from tests.support import LiveServer, free_port

from .test_conformance_profile import drop_schemas, own_schemas

DEVIATIONS = Path(__file__).resolve().parents[2] / "sandbox" / "check" / "deviations"
ONLY = ("identity", "payments", "consent")


class Profile:
    def __init__(self, running: RunningSandbox, callback_port: int, https_port: int):
        self.running = running
        self.callback_port = callback_port
        self.https = f"https://127.0.0.1:{https_port}"  # Consent's, as GovStack's checks reach it

    def config(self, block: str, url: str, admin_token: str = "", **options: object) -> Config:
        declared = DEVIATIONS / f"{block}.yaml"
        return Config(
            block=block,
            url=url,
            admin_token=admin_token,
            callback_port=self.callback_port,
            deviations=read_deviations(declared) if declared.exists() else [],
            **options,
        )


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("check-folder")
    callback_port, https_port, schemas = free_port(), free_port(), own_schemas()
    allowed = json.dumps([f"http://127.0.0.1:{callback_port}/"])  # the kit's callback server, this module's port
    running = RunningSandbox(
        folder / "var" / "conformance",
        only=ONLY,
        extra_env={**schemas, "PAYMENTS_CALLBACK_ALLOW_LIST": allowed, "CONSENT_CALLBACK_ALLOW_LIST": allowed},
        args=("--profile", "conformance", "--consent-https-port", str(https_port)),
    )
    running.start(timeout=240)
    assert running.proc.poll() is None, running.output.decode(errors="replace")
    try:
        yield Profile(running, callback_port, https_port)
    finally:
        running.stop()
        drop_schemas(schemas)


def failures(results) -> list[str]:
    return [f"{r.operation}: {r.name}: {r.problem}" for r in results if not r.passed]


@pytest.mark.e2e
def test_our_consent_passes_completely_over_https(profile):
    trusted = ssl.create_default_context(cafile=profile.running.data_dir / "tls" / "localhost.crt")
    results = run_block(profile.config("consent", profile.https, verify=trusted))
    assert failures(results) == []
    assert len({r.operation for r in results if r.operation.startswith(("GET ", "POST ", "PUT ", "DELETE "))}) == 42
    assert any(r.name == "verify: consent withdrawn: the record says optIn false" and r.passed for r in results)


@pytest.mark.e2e
def test_our_payments_pass_completely_and_call_back(profile):
    results = run_block(profile.config("payments", profile.running.url("payments")))
    assert failures(results) == []
    callback = [r for r in results if r.name == "the status callback is a BulkPaymentStatusUpdate"]
    declared = callback[0].declared if callback else []
    assert declared and all(text.startswith("result_file: None ") for text in declared)


@pytest.mark.e2e
def test_our_identity_passes_completely_with_a_full_oidc_login(profile):
    token = (profile.running.data_dir / "identity" / "secrets" / "identity-admin-token").read_text().strip()
    results = run_block(profile.config("identity", profile.running.url("identity"), token))
    assert failures(results) == []
    passed = {r.name for r in results if r.passed}
    assert {"redeem the code (private_key_jwt, PKCE verifier)", "userinfo is a signed JWT about the resident"} <= passed


@pytest.mark.e2e
def test_our_information_mediator_passes_completely_and_writes_its_reports(profile, tmp_path):
    token = profile.running.admin_token
    url = profile.running.url("information_mediator")
    args = ["information-mediator", "--url", url, "--admin-token", token, "--report-dir", str(tmp_path)]
    done = CliRunner().invoke(check, [*args, "--junit", str(tmp_path / "im.xml")])
    assert done.exit_code == 0, done.output
    assert "operations and scenarios without a failure" in done.output
    suite = ET.parse(tmp_path / "im.xml").getroot()
    assert suite.get("failures") == "0" and int(suite.get("tests")) > 40
    assert "Result: **PASSED**" in (tmp_path / "information-mediator.md").read_text()
    assert token not in (tmp_path / "information-mediator.html").read_text()  # the credential is never shown


# ---- a deliberately broken Consent -------------------------------------------------------------------------


def broken_consent() -> FastAPI:
    """Answers the fixture policy with a wrong shape, creates policies with an undocumented 201, and sends
    malformed JSON for the policy list; everything else is a 404 in no documented shape."""
    app = FastAPI()

    @app.get("/config/policy/{policy_id}/")
    def policy(policy_id: str) -> dict:
        return {"policy": {"id": policy_id, "name": 7}}  # no version, no url; the name is a number

    @app.post("/config/policy/")
    def create() -> JSONResponse:
        return JSONResponse({"policy": {"id": "p1", "name": "n", "version": "1", "url": "u"}}, status_code=201)

    @app.get("/config/policies/")
    def policies() -> PlainTextResponse:
        return PlainTextResponse("{not json", media_type="application/json")

    return app


def test_a_broken_consent_fails_with_a_readable_report(tmp_path):
    with_server = LiveServer(broken_consent()).start()
    try:
        args = ["consent", "--url", with_server.url, "--report-dir", str(tmp_path), "--junit", str(tmp_path / "j.xml")]
        done = CliRunner().invoke(check, args)
    finally:
        with_server.stop()
    assert done.exit_code == 1, done.output
    assert "FAIL" in done.output

    report = (tmp_path / "consent.md").read_text()
    assert "Result: **FAILED**" in report
    section = report.split("## `GET /config/policy/{policyId}/`")[1].split("\n## ")[0]
    assert "policy/name: 7 is not of type 'string'" in section
    assert "policy: 'version' is a required property" in section
    assert f"GET {with_server.url}/config/policy/1/" in section  # what was sent
    assert "answered: status 200" in section
    assert "expected a success (2xx), got 404" in report  # the operations it does not serve
    assert "status 201 is not documented for this operation" in report
    assert "Failed to deserialize value with application/json mimetype" in report
    assert "never called with valid input" in report  # e.g. the scenarios that could not go on
    assert "<tr class=fail>" in (tmp_path / "consent.html").read_text()

    suite = ET.parse(tmp_path / "j.xml").getroot()
    failed = [case for case in suite.iter("testcase") if case.find("failure") is not None]
    assert int(suite.get("failures")) == len(failed) > 40
    names = {case.get("classname") + " " + case.find("failure").get("message") for case in failed}
    assert any("GET /config/policy/{policyId}/" in n and "is not of type 'string'" in n for n in names)
