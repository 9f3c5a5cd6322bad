"""The conformance profile (issue 18): `sandbox up --profile conformance` starts the demo world plus the fixtures
of GovStack's compliance checks in its own data directory, says loudly that its providers serve their spec paths
without the IM, serves Consent over HTTPS as well, and `sandbox conformance reseed` restores what the checks
changed. The default `sandbox up` still refuses direct calls. Real processes, one profile start per module."""

from __future__ import annotations

import json
import os
import ssl
import stat
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import ECKey
from sqlalchemy import create_engine, text

from sandbox.conformance import tls
from sandbox.topology import load as load_topology
from tests.e2e.launcher import RunningSandbox
from tests.support import TEST_DATABASE_URL, free_port, wait_until

from .test_cli import sandbox

ONLY = ("identity", "payments", "consent")  # with the IM: every building block, no use case
CHECKS_CALLER = {"X-GovStack-Client": "eGovStack/GOV/90000009/digitalregistries"}
FIXTURE_PROVIDERS = [
    ("identifier", "identifier", "alp4aNum3r1c", "alp4aNum3r1c"),
    ("a11a11a11a", "asd2211a", "12as12", "m3mb3rc0d3"),
    ("a552example", "zzz321a", "m3mb3rc0d3", "aa15"),
    ("valid1dentifi3r", "rand0mid3nt", "str1ng", "azxcv55"),
]
PARTNER = {"PARTNER-ID": "PARTNER-ID", "PARTNER-API-KEY": "PARTNER-API-KEY"}
XSRF = "X-XSRF-TOKEN"
NOW = "2026-11-26T10:00:00.000Z"


class Profile:
    """The running profile: its launcher, its folder, and how the checks reach it."""

    def __init__(self, folder: Path, running: RunningSandbox, https_port: int, schemas: dict[str, str]):
        self.folder = folder
        self.running = running
        self.https = f"https://127.0.0.1:{https_port}"
        self.cert = running.data_dir / "tls" / "localhost.crt"
        self.schemas = schemas

    def url(self, name: str) -> str:
        return self.running.url(name)

    def command(self, *args: str) -> object:
        """`sandbox ARGS` in the profile's folder, with the environment `sandbox up` had (its database)."""
        env = {"DATABASE_URL": TEST_DATABASE_URL, **self.schemas} if TEST_DATABASE_URL else {}
        return sandbox(*args, cwd=self.folder, env=env, timeout=240)

    def launcher_output(self) -> str:
        """What the launcher printed so far (without waiting for it to stop)."""
        stream = self.running.proc.stdout
        os.set_blocking(stream.fileno(), False)
        try:
            self.running.output += stream.read() or b""
        finally:
            os.set_blocking(stream.fileno(), True)
        return self.running.output.decode(errors="replace")


def own_schemas() -> dict[str, str]:
    """On PostgreSQL: schemas of this module's own (other tests may start a profile at the same time)."""
    if not TEST_DATABASE_URL:
        return {}
    tag = uuid.uuid4().hex[:8]
    return {f"{name.upper()}_DATABASE_SCHEMA": f"t_conf_{tag}_{name}" for name in load_topology().processes}


def drop_schemas(schemas: dict[str, str]) -> None:
    if not schemas:
        return
    engine = create_engine(TEST_DATABASE_URL)
    with engine.begin() as conn:
        for schema in schemas.values():
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conformance-folder")
    https_port, schemas = free_port(), own_schemas()
    running = RunningSandbox(
        folder / "var" / "conformance",  # where `sandbox up --profile conformance` puts it in this folder
        only=ONLY,
        extra_env=schemas,
        args=("--profile", "conformance", "--consent-https-port", str(https_port)),
    )
    running.start(timeout=240)
    assert running.proc.poll() is None, running.output.decode(errors="replace")
    try:
        yield Profile(folder, running, https_port, schemas)
    finally:
        running.stop()
        drop_schemas(schemas)


def envelope(request: dict) -> dict:
    return {"requestTime": NOW, "request": request}


def error_codes(answer: httpx.Response) -> list[str]:
    return [e["errorCode"] for e in answer.json().get("errors") or []]


def voucher_status(profile: Profile, serial: str) -> httpx.Response:
    return httpx.get(f"{profile.url('payments')}/vouchers/voucherstatuscheck/{serial}", timeout=10)


def clients_of(profile: Profile, instance: str) -> list[dict]:
    im = profile.url("information_mediator")
    answer = httpx.get(f"{im}/listClients", params={"instanceId": instance}, headers=CHECKS_CALLER, timeout=10)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["member"]]


# ---- the profile starts, in its own place, and says what it is --------------------------------------------


@pytest.mark.e2e
def test_the_profile_runs_from_its_own_data_directory_and_says_so_loudly(profile):
    state = profile.running.state
    assert state["profile"] == "conformance" and state["https"] == {"consent": profile.https}
    assert (profile.folder / "var" / "conformance" / "profile").read_text().strip() == "conformance"
    assert not (profile.folder / "var" / "sandbox.json").exists()  # the default sandbox's place is untouched

    assert wait_until(lambda: "conformance reseed`" in profile.launcher_output(), 30, 0.2)  # printed after the state
    printed = profile.launcher_output()
    assert printed.count("CONFORMANCE PROFILE") == 2  # before it starts, and with the welcome table
    assert "WITHOUT the Information Mediator" in printed and "for nothing else" in printed
    assert f"CONSENTBB_API_HOST={profile.https}" in printed and f"SSL_CERT_FILE={profile.cert}" in printed
    assert "sandbox conformance reseed" in printed
    assert "identity/secrets/identity-admin-token" in printed  # the checks' client-management token
    for name in ONLY:
        log = (profile.running.data_dir / "logs" / f"{name}.log").read_text()
        assert "IM assertion checks are OFF" in log, name

    default = profile.command("status")
    assert default.returncode == 1, default.stdout
    assert "No default sandbox in this folder yet" in default.stdout
    assert "The conformance sandbox runs from var/conformance" in default.stdout
    status = profile.command("status", "--profile", "conformance")
    assert status.returncode == 0, status.stdout
    assert "profile conformance" in status.stdout and profile.https in status.stdout
    assert "sandbox stop --profile conformance" in status.stdout
    assert "nothing to stop" in profile.command("stop").stdout  # the default one: this profile runs on


# ---- every fixture reads back on the spec paths, called directly as the checks call them ------------------


@pytest.mark.e2e
@pytest.mark.parametrize("provider", FIXTURE_PROVIDERS, ids=lambda p: p[0])
def test_the_im_directory_answers_for_each_fixture_instance(profile, provider):
    instance, member_class, member, application = provider
    ident = {"instanceId": instance, "memberClass": member_class, "memberCode": member}
    assert {"objectType": "APPLICATION", **ident, "applicationCode": application} in clients_of(profile, instance)
    base = f"{profile.url('information_mediator')}/r1/{instance}/{member_class}/{member}/{application}"
    described = httpx.get(
        f"{base}/getOpenAPI", params={"serviceCode": "alp4aNum3r1c"}, headers=CHECKS_CALLER, timeout=10
    )
    assert described.status_code == 200, described.text
    assert "/records/{id}" in json.loads(described.json())["paths"]


@pytest.mark.e2e
def test_payments_vouchers_read_back_directly(profile):
    assert voucher_status(profile, "5550").json() == {"voucher_status": "Pre-Activated", "voucher_amount": "100"}
    assert voucher_status(profile, "5555").json()["voucher_status"] == "Activated"
    assert voucher_status(profile, "6001").status_code == 458  # already used
    assert voucher_status(profile, "6002").status_code == 459  # expired


@pytest.mark.e2e
def test_identity_fixtures_read_back_directly_and_what_the_spec_secures_stays_secured(profile):
    identity = profile.url("identity")
    binding = envelope(
        {
            "individualId": "n3fy2qkg9r7h2",
            "authFactorType": "WLA",
            "format": "jwt",
            "challengeList": [{"authFactorType": "PIN", "challenge": "1234", "format": "number"}],
            "publicKey": ECKey.generate_key("P-256", private=True).as_dict(private=False),
        }
    )
    bound = httpx.post(f"{identity}/wallet-binding", json=binding, headers=PARTNER, timeout=30)
    assert bound.status_code == 200 and error_codes(bound) == [], bound.text
    wrong_key = {**PARTNER, "PARTNER-API-KEY": "not-the-key"}
    assert httpx.post(f"{identity}/wallet-binding", json=binding, headers=wrong_key, timeout=30).status_code == 401

    page = httpx.Client(base_url=identity, cookies={"XSRF-TOKEN": XSRF}, headers={"X-XSRF-TOKEN": XSRF}, timeout=30)
    with page:
        issued = page.post("/linked-authorization/link-code", json=envelope({"transactionId": "transactionId02"}))
        assert error_codes(issued) == [] and issued.json()["response"]["transactionId"] == "transactionId02"
        completed = page.post("/linked-authorization/link-code", json=envelope({"transactionId": "transactionId04"}))
        assert error_codes(completed) == ["invalid_transaction"]

    client = {"clientId": "someone-else", "clientName": "No token"}
    unauthenticated = httpx.post(f"{identity}/client-mgmt/oidc-client", json=envelope(client), timeout=30)
    assert unauthenticated.status_code == 401, unauthenticated.text  # Identity's client-management token


@pytest.mark.e2e
def test_consent_answers_over_https_with_the_profiles_certificate(profile):
    trusted = httpx.get(f"{profile.https}/config/policies/", verify=ssl.create_default_context(cafile=profile.cert))
    assert trusted.status_code == 200, trusted.text
    assert "pol-sandbox-social-protection" in {p["id"] for p in trusted.json()["policies"]}  # the demo world
    with pytest.raises(httpx.ConnectError):  # a certificate nobody trusts but who holds the file
        httpx.get(f"{profile.https}/config/policies/", timeout=10)
    assert httpx.get(f"{profile.url('consent')}/health", timeout=10).status_code == 200  # the IM's plain port
    policy = httpx.get(f"{profile.https}/config/policy/1/", verify=str(profile.cert), timeout=10)
    assert policy.status_code == 200, policy.text
    agreement = httpx.get(f"{profile.https}/config/data-agreement/1/", verify=str(profile.cert), timeout=10)
    assert agreement.status_code == 200, agreement.text


# ---- a reseed restores what the checks changed --------------------------------------------------------------


@pytest.mark.e2e
def test_a_reseed_restores_the_fixtures_the_checks_changed(profile):
    payments, im = profile.url("payments"), profile.url("information_mediator")
    cancel = {"voucherserialnumber": "5556", "Gov_Stack_BB": "Gov_Stack_BB"}
    assert httpx.patch(f"{payments}/vouchers/voucherstatuscheck/5556", json=cancel, timeout=10).status_code == 200
    activation = {"voucher_serial_number": 5551, "Gov_Stack_BB": "bb-digital-registries"}
    assert httpx.patch(f"{payments}/vouchers/voucher_activation", json=activation, timeout=10).status_code == 200
    assert voucher_status(profile, "5556").json()["voucher_status"] != "Activated"
    admin = {"Authorization": f"Bearer {profile.running.admin_token}"}
    emptied = {"domain": "sandbox.localhost", "instance": "SANDBOX", "federation": [{"instance": "a11a11a11a"}]}
    assert httpx.patch(f"{im}/api/v1/config", json=emptied, headers=admin, timeout=10).status_code == 201
    assert clients_of(profile, "a11a11a11a") == []

    done = profile.command("conformance", "reseed")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Conformance fixtures restored" in done.stdout and "15 fixture vouchers" in done.stdout
    assert '"transactions": 6' in done.stdout and "5 federated instances" in done.stdout
    assert '{"policy": "unchanged", "dataAgreement": "unchanged"}' in done.stdout
    assert voucher_status(profile, "5556").json()["voucher_status"] == "Activated"
    assert voucher_status(profile, "5551").json()["voucher_status"] == "Pre-Activated"
    assert len(clients_of(profile, "a11a11a11a")) == 2  # the member and its application


def test_reseed_says_so_when_no_profile_runs_in_this_folder(tmp_path):
    done = sandbox("conformance", "reseed", cwd=tmp_path)
    assert done.returncode == 1
    assert "no conformance profile runs from var/conformance" in done.stderr
    assert "sandbox up --profile conformance" in done.stderr


# ---- the default sandbox is unchanged ------------------------------------------------------------------------


@pytest.mark.e2e
def test_the_default_sandbox_still_refuses_direct_calls(tmp_path):
    with RunningSandbox(tmp_path / "var", only=("payments", "consent")) as running:
        assert running.proc.poll() is None, running.output.decode(errors="replace")
        assert running.state["profile"] == "default" and running.state["https"] == {}
        refused = running.get("payments", "/vouchers/voucherstatuscheck/5550")
        assert refused.status_code == 401, refused.text
        assert running.get("consent", "/config/policies/").status_code == 401
    assert not (tmp_path / "var" / "tls").exists() and not (tmp_path / "var" / "profile").exists()
    assert "CONFORMANCE PROFILE" not in running.output.decode(errors="replace")


# ---- without processes: the data directories and the certificate -----------------------------------------


def test_one_data_directory_never_serves_both_profiles(tmp_path):
    (tmp_path / "var" / "conformance").mkdir(parents=True)
    (tmp_path / "var" / "conformance" / "profile").write_text("conformance\n")
    (tmp_path / "var" / "secrets").mkdir()
    default_on_profile = sandbox("up", "--data-dir", "var/conformance", cwd=tmp_path)
    assert default_on_profile.returncode == 1
    assert "holds the data of the conformance sandbox" in default_on_profile.stderr
    profile_on_default = sandbox("up", "--profile", "conformance", "--data-dir", "var", cwd=tmp_path)
    assert profile_on_default.returncode == 1
    assert "holds the data of the default sandbox" in profile_on_default.stderr


def test_reset_of_the_default_sandbox_keeps_the_profiles_data(tmp_path):
    var = tmp_path / "var"
    for place in (var / "secrets", var / "consent", var / "conformance" / "secrets"):
        place.mkdir(parents=True)
    (var / "conformance" / "profile").write_text("conformance\n")
    done = sandbox("reset", "--yes", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in var.iterdir()) == ["conformance"]
    assert (var / "conformance" / "secrets").is_dir()
    done = sandbox("reset", "--yes", "--profile", "conformance", cwd=tmp_path)
    assert done.returncode == 0 and "sandbox up --profile conformance" in done.stdout
    assert not (var / "conformance").exists()


def test_the_certificate_is_made_once_and_reused_until_it_nears_its_end(tmp_path, monkeypatch):
    first = tls.local_certificate(tmp_path)
    cert, key = first.cert_file.read_bytes(), first.key_file.read_bytes()
    assert stat.S_IMODE(first.key_file.stat().st_mode) == 0o600
    context = ssl.create_default_context(cafile=first.cert_file)  # usable as the trust anchor
    assert context.cert_store_stats()["x509"] == 1
    again = tls.local_certificate(tmp_path)
    assert (again.cert_file.read_bytes(), again.key_file.read_bytes()) == (cert, key)
    monkeypatch.setattr(tls, "RENEW_BEFORE", timedelta(days=400))  # now it expires "soon"
    assert tls.local_certificate(tmp_path).cert_file.read_bytes() != cert


def test_the_profile_environment_turns_the_assertion_off_for_the_providers_only(monkeypatch):
    from sandbox.conformance import profile as profiles

    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/sandbox")
    monkeypatch.delenv("PAYMENTS_DATABASE_SCHEMA", raising=False)
    monkeypatch.setenv("IDENTITY_DATABASE_SCHEMA", "chosen")  # the operator's choice wins
    env = profiles.environment(load_topology())
    assert {name for name, own in env.items() if own.get(f"{name.upper()}_REQUIRE_IM_ASSERTION") == "false"} == {
        "identity",
        "payments",
        "consent",
    }
    assert env["payments"]["PAYMENTS_DATABASE_SCHEMA"] == "conformance_payments"  # never the default's schema
    assert "IDENTITY_DATABASE_SCHEMA" not in env["identity"]
    assert env["information_mediator"] == {"INFORMATION_MEDIATOR_DATABASE_SCHEMA": "conformance_information_mediator"}
