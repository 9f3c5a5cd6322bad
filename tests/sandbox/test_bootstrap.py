"""`sandbox bootstrap` against a running sandbox: twice in a row changes nothing (idempotent), and run the way a
container runs it (URLs from the environment, credentials from mounted files) it registers what `up` did."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from sandbox import bootstrap
from sandbox.launcher import LaunchError, Sandbox
from sandbox.topology import load
from tests.e2e.launcher import RunningSandbox
from tests.usecases.stack import running_stack


def _bootstrap(data_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "bootstrap", "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _registry(running: RunningSandbox) -> dict:
    headers = {"Authorization": f"Bearer {running.admin_token}"}
    response = httpx.get(running.url("information_mediator") + "/api/v1/config", headers=headers, timeout=10)
    response.raise_for_status()
    return response.json()


def _webhooks(running: RunningSandbox) -> list[dict]:
    from services.common.im_client import IMClient
    from usecases.common.settings import UseCaseSettings

    client = "SANDBOX/GOV/SOCIAL-WELFARE/USCT"
    im = IMClient(running.url("information_mediator"), client, running.secret(client))
    listing = im.request_sync(
        UseCaseSettings.model_fields["consent_service"].default, "GET", "/config/webhooks/", params={"limit": 1000}
    )
    listing.raise_for_status()
    return listing.json()["webhooks"]


def _mounted_credentials(running: RunningSandbox, target: Path) -> Path:
    """The running sandbox's credentials alone, as a container gets them from a secret (no state file)."""
    probe = Sandbox(data_dir=running.data_dir, topology=load())
    for path in bootstrap.credential_files(probe):
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(running.data_dir / path, target / path)
    return target


def test_bootstrap_twice_against_a_running_sandbox_changes_nothing(tmp_path):
    # Schemas of its own on PostgreSQL: the webhooks and registry compared are this sandbox's alone.
    with running_stack(tmp_path / "var", tuple(load().processes), "bootstrap") as running:
        before, hooks_before = _registry(running), _webhooks(running)
        for _ in range(2):
            done = _bootstrap(running.data_dir, running.env)
            assert done.returncode == 0, done.stdout + done.stderr
            assert _registry(running) == before
            assert _webhooks(running) == hooks_before and len(hooks_before) == 1

        # As a container: service URLs from the environment, public URLs apart, credentials mounted.
        mounted = _mounted_credentials(running, tmp_path / "mounted")
        env = dict(running.env)
        for name in running.ports:
            env[f"SANDBOX_{name.upper()}_INTERNAL_URL"] = running.url(name)
            env[f"SANDBOX_{name.upper()}_URL"] = f"https://{name.replace('_', '-')}.sandbox.example"
        done = _bootstrap(mounted, env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert _registry(running) == before  # the IM calls the services at their internal URLs
        assert _webhooks(running) == hooks_before
        # the use cases' OIDC clients now send browsers back to their public URLs
        authorize = httpx.get(
            running.url("identity") + "/authorize",
            params={
                "client_id": "usct-cash-transfer",
                "redirect_uri": "https://cash-transfer.sandbox.example/auth/callback",
                "response_type": "code",
                "scope": "openid",
                "state": "s",
                "nonce": "n",
            },
            timeout=10,
        )
        assert authorize.status_code != 400 and "invalid_redirect_uri" not in authorize.text, authorize.text[:300]


def test_bootstrap_refuses_to_make_credentials_up(tmp_path):
    try:
        bootstrap.deployed_sandbox(tmp_path, environ={"SANDBOX_INFORMATION_MEDIATOR_URL": "http://im:8000"})
    except LaunchError as exc:
        assert "sandbox bootstrap --new-credentials" in str(exc)
        assert "secrets/im-admin-token" in str(exc)
    else:
        raise AssertionError("bootstrap made credentials up")
    assert not (tmp_path / "secrets").exists()


def test_new_credentials_are_kept_and_each_service_gets_only_its_own(tmp_path):
    first = {path: path.read_text() for path in bootstrap.new_credentials(tmp_path)}
    second = {path: path.read_text() for path in bootstrap.new_credentials(tmp_path)}
    assert first == second
    envs = {path.stem: path.read_text() for path in first}
    assert "INFORMATION_MEDIATOR_ADMIN_TOKEN=" in envs["information_mediator"]
    assert all(
        "ADMIN_TOKEN" not in text for name, text in envs.items() if name not in ("information_mediator", "identity")
    )
    assert "IDENTITY_ADMIN_TOKEN=" in envs["identity"]
    assert "CASH_TRANSFER_IM_CLIENT_SECRET=" in envs["cash_transfer"]
    sandbox = bootstrap.deployed_sandbox(tmp_path, environ={})
    assert sandbox.client_secrets and sandbox.admin_token
    assert all((path.stat().st_mode & 0o077) == 0 for path in first)
