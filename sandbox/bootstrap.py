"""`sandbox bootstrap`: what makes running services one sandbox, as one idempotent step.

It registers the topology in the IM (created on the first run, merged on later ones) and runs the use cases'
set-up hooks (their OIDC clients at Identity, the USCT webhook at Consent, the permit room's event type and
subscription at the IM). The services seed themselves when they start. `sandbox up` calls it once its
processes are healthy; a container (docker-compose.yml) or a Kubernetes Job (deploy/k8s) runs it against
services that already run elsewhere.

Where the services are: the state file of a running `sandbox up` in the data directory, else the
environment: `SANDBOX_<PROCESS>_INTERNAL_URL` (what the bootstrap and the IM call, e.g.
`http://identity:8001`), `SANDBOX_<PROCESS>_URL` (what a browser uses, e.g. `http://localhost:8001`; the
internal URL when no internal one is given).

Credentials are files in the data directory, laid out as `sandbox up` keeps them (`secrets/im-*`,
`identity/secrets/identity-admin-token`, `<use case>/keys/oidc-client.rsa.pem`, ...): a container mounts
them from a secret. `sandbox bootstrap --new-credentials DIR` makes that directory once, with an env file per
service (`DIR/env/<process>.env`) holding the credentials that service reads from its environment.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from services.common.im_client import hash_secret
from services.common.keys import load_or_create_rsa, load_or_create_secret

from . import topology as topo
from .launcher import LaunchError, Sandbox, read_state

WAIT_SECONDS = 120.0  # how long the bootstrap waits for the providers to answer /health
IDENTITY_ADMIN_TOKEN = Path("identity/secrets/identity-admin-token")
# Files a use case reads from its data directory that its set-up hook registers elsewhere: the OIDC client
# key (its public part goes to Identity) and the secret of USCT's webhook at Consent.
USE_CASE_FILES = {
    "cash_transfer": ["keys/oidc-client.rsa.pem", "secrets/consent-webhook-secret"],
    "construction_permit": ["keys/oidc-client.rsa.pem"],
}


def bootstrap(sandbox: Sandbox) -> None:
    register_topology(sandbox)
    run_hooks(sandbox)


def register_topology(sandbox: Sandbox) -> None:
    """Create the IM registry on the first start, merge it on later ones (runtime changes are kept)."""
    hashes = {client: hash_secret(secret) for client, secret in sandbox.client_secrets.items()}
    doc = sandbox.topology.imconf(hashes)
    headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
    with httpx.Client(base_url=sandbox.im_url, headers=headers, timeout=15) as http:
        status = http.get("/api/v1/status")
        status.raise_for_status()
        method = "POST" if status.json()["status"] == "NOT_CONFIGURED" else "PATCH"
        response = http.request(method, "/api/v1/config", json=doc)
        if response.status_code != 201:
            raise LaunchError(f"the IM refused the topology: {response.status_code} {response.text}")


def run_hooks(sandbox: Sandbox) -> None:
    for name in sandbox.running:
        hook = sandbox.topology.processes[name].on_up
        if hook:
            module, _, function = hook.partition(":")
            getattr(importlib.import_module(module), function)(sandbox)


def deployed_sandbox(data_dir: Path, environ: dict[str, str] | None = None) -> Sandbox:
    """The sandbox to bootstrap: a running `sandbox up` of `data_dir`, else the services the environment names."""
    environ = dict(os.environ if environ is None else environ)
    topology = topo.load()
    state = read_state(data_dir)
    if state is not None:
        urls = {name: info["url"] for name, info in state.get("processes", {}).items()}
        running, public = list(urls), {}
    else:
        urls = {name: _internal_url(name, environ) for name in topology.processes}
        urls = {name: url for name, url in urls.items() if url}
        running = list(topology.processes)
        public = {name: environ[_public_var(name)] for name in topology.processes if environ.get(_public_var(name))}
    for name, url in urls.items():
        topology.processes[name].address = url
    sandbox = Sandbox(data_dir=data_dir, topology=topology, running=running, public_urls=public)
    _require_credentials(data_dir, sandbox)
    sandbox.prepare_secrets()
    return sandbox


def _public_var(name: str) -> str:
    return f"SANDBOX_{name.upper()}_URL"


def _internal_url(name: str, environ: dict[str, str]) -> str | None:
    return environ.get(f"SANDBOX_{name.upper()}_INTERNAL_URL") or environ.get(_public_var(name))


def _require_credentials(data_dir: Path, sandbox: Sandbox) -> None:
    """The bootstrap never makes credentials up: the services already hold theirs."""
    missing = [str(path) for path in credential_files(sandbox) if not (data_dir / path).is_file()]
    if missing:
        raise LaunchError(
            f"missing credentials in {data_dir}: {', '.join(missing)} "
            "(make them once with `sandbox bootstrap --new-credentials DIR` and mount DIR there)"
        )


def credential_files(sandbox: Sandbox) -> list[Path]:
    """Every credential file, relative to the data directory."""
    files = [Path("secrets/im-admin-token"), Path("secrets/im-viewer-token"), IDENTITY_ADMIN_TOKEN]
    files += [
        Path("secrets") / _client_secret_name(app.client_id(sandbox.topology.instance))
        for app in sandbox.topology.applications
    ]
    files += [Path(name) / path for name, paths in USE_CASE_FILES.items() for path in paths]
    return files


def _client_secret_name(client: str) -> str:
    return "im-client-" + client.replace("/", "_")


def wait_for_providers(sandbox: Sandbox, say: Callable[[str], None], seconds: float = WAIT_SECONDS) -> None:
    """Wait until every process without a set-up hook (the IM and the building blocks) answers /health."""
    pending = [name for name in sandbox.running if not sandbox.topology.processes[name].on_up]
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=2.0) as http:
        while pending:
            pending = [name for name in pending if not _healthy(http, sandbox.url(name))]
            if pending and time.monotonic() > deadline:
                raise LaunchError(f"not healthy after {seconds:.0f} s: {', '.join(pending)}")
            if pending:
                say(f"waiting for {', '.join(pending)}…")
                time.sleep(2)


def _healthy(http: httpx.Client, url: str) -> bool:
    try:
        return http.get(url + "/health").status_code == 200
    except httpx.HTTPError:
        return False


def new_credentials(directory: Path) -> list[Path]:
    """Make (or keep) every credential under `directory`, and an env file per service; the paths written."""
    sandbox = Sandbox(data_dir=directory, topology=topo.load())
    sandbox.prepare_secrets()
    identity_token = load_or_create_secret(directory / IDENTITY_ADMIN_TOKEN.parent, IDENTITY_ADMIN_TOKEN.name)
    for name, paths in USE_CASE_FILES.items():
        for path in paths:
            folder, file = (directory / name / path).parent, Path(path).name
            if file.endswith(".rsa.pem"):
                load_or_create_rsa(folder, file.removesuffix(".rsa.pem"))
            else:
                load_or_create_secret(folder, file)
    written = []
    for process in sandbox.topology.processes.values():
        env = sandbox.credentials_env(process)
        if process.name == "identity":
            env["IDENTITY_ADMIN_TOKEN"] = identity_token
        written.append(_write_env(directory / "env" / f"{process.name}.env", env))
    return written


def _write_env(path: Path, env: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text("".join(f"{key}={value}\n" for key, value in sorted(env.items())))
    return path
