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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from services.common.im_client import hash_secret
from services.common.keys import load_or_create_ec, load_or_create_ed25519, load_or_create_rsa, load_or_create_secret
from services.common.tls import client_context

from . import topology as topo
from .launcher import LaunchError, Sandbox, read_state

WAIT_SECONDS = 120.0  # how long the bootstrap waits for the providers to answer /health
REGISTRY_WAIT_SECONDS = 30.0  # how long it waits for every IM replica to load the topology
IDENTITY_ADMIN_TOKEN = Path("identity/secrets/identity-admin-token")
# The keys and secrets each service would otherwise make in its own data directory on its first start. Every
# replica of a service must hold the same ones (one IM signature key for the message log and the assertions,
# one Identity signing key and token keys, one Consent organisation key, one set of Payments' encryption
# keys, ...): `--new-credentials` makes them once and a container mounts them read-only from its Secret at
# the same path under /data (docker-compose.yml, deploy/k8s). The use cases' OIDC client keys and USCT's
# webhook secret are also registered elsewhere by the bootstrap, which reads them here.
SERVICE_FILES = {
    "information_mediator": ["keys/information-mediator.ed25519.pem"],
    "identity": [
        "keys/oidc/signing.rsa.pem",
        "keys/oidc/signing.json",
        "secrets/identity-psut-key",
        "secrets/identity-hash-key",
        "secrets/identity-access-token-key",
    ],
    "payments": ["keys/payments-outbox.key", "keys/payments-voucher-pepper", "keys/payments-bank-session.key"],
    "consent": ["keys/consent-organisation.p256.pem", "keys/consent-webhook-secret-key", "secrets/consent-admin-token"],
    "cash_transfer": ["keys/oidc-client.rsa.pem", "secrets/consent-webhook-secret"],
    "construction_permit": ["keys/oidc-client.rsa.pem", "keys/permit-seal.ed25519.pem"],
}
# The files among those that the bootstrap itself reads (it registers their public part or value elsewhere).
BOOTSTRAP_FILES = {
    "cash_transfer": ["keys/oidc-client.rsa.pem", "secrets/consent-webhook-secret"],
    "construction_permit": ["keys/oidc-client.rsa.pem"],
}


def service_files(name: str) -> list[Path]:
    """The credential files a container of `name` gets mounted under its data directory."""
    return [Path(path) for path in SERVICE_FILES.get(name, [])]


def bootstrap(sandbox: Sandbox, im_replicas: bool = True) -> None:
    """`im_replicas=False` where one IM process serves (`sandbox up`): it has the topology once it took it."""
    register_topology(sandbox)
    if im_replicas:
        wait_for_every_im_replica(sandbox)
    run_hooks(sandbox)


def register_topology(sandbox: Sandbox) -> None:
    """Create the IM registry on the first start, merge it on later ones (runtime changes are kept)."""
    hashes = {client: hash_secret(secret) for client, secret in sandbox.client_secrets.items()}
    doc = sandbox.topology.imconf(hashes)
    headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
    with httpx.Client(base_url=sandbox.im_url, headers=headers, timeout=15, verify=client_context()) as http:
        status = http.get("/api/v1/status")
        status.raise_for_status()
        method = "POST" if status.json()["status"] == "NOT_CONFIGURED" else "PATCH"
        response = http.request(method, "/api/v1/config", json=doc)
        if response.status_code != 201:
            raise LaunchError(f"the IM refused the topology: {response.status_code} {response.text}")


def wait_for_every_im_replica(sandbox: Sandbox, answers: int = 4) -> None:
    """With IM replicas behind one address, the one that took the topology has it at once and the others once
    they poll the registry (every `INFORMATION_MEDIATOR_REGISTRY_POLL_SECONDS`, 2 s): wait until `answers`
    status calls in a row (each on a new connection, so spread over the replicas) show the newest version.
    Under `sandbox up` (one IM) that is the first `answers` calls."""
    headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
    deadline = time.monotonic() + REGISTRY_WAIT_SECONDS
    newest, in_a_row = -1, 0
    while in_a_row < answers:
        response = httpx.get(sandbox.im_url + "/api/v1/status", headers=headers, timeout=15)
        response.raise_for_status()
        version = response.json()["configurationVersion"]
        if version > newest:
            newest, in_a_row = version, 1
        else:
            in_a_row = in_a_row + 1 if version == newest else 0
        if in_a_row == 0:
            if time.monotonic() > deadline:
                raise LaunchError(f"an IM replica has not loaded the topology (version {newest}) in time")
            time.sleep(0.2)


def run_hooks(sandbox: Sandbox) -> None:
    """Every use case's set-up hook, side by side: each waits mostly on the services it calls, and no hook
    depends on another's work. The first hook's error (in the processes' order) is raised once all have run."""
    hooks = [_hook(sandbox.topology.processes[name].on_up) for name in sandbox.running]
    hooks = [hook for hook in hooks if hook]
    with ThreadPoolExecutor(max_workers=max(1, len(hooks)), thread_name_prefix="on-up") as pool:
        runs = [pool.submit(hook, sandbox) for hook in hooks]
    for run in runs:
        run.result()


def _hook(name: str | None) -> Callable[[Sandbox], None] | None:
    """The hook `module:function`, imported here in one thread: modules imported for the first time by two
    threads at once may see each other half initialised."""
    if not name:
        return None
    module, _, function = name.partition(":")
    return getattr(importlib.import_module(module), function)


def deployed_sandbox(data_dir: Path, environ: dict[str, str] | None = None) -> Sandbox:
    """The sandbox to bootstrap: a running `sandbox up` of `data_dir`, else the services the environment names."""
    environ = dict(os.environ if environ is None else environ)
    topology = topo.load(local=topo.local_file(data_dir))
    state = read_state(data_dir)
    if state is not None:
        urls = {name: info["url"] for name, info in state.get("processes", {}).items()}
        running, public = list(urls), {}
        topology.replace(state.get("replaced") or {})
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
    files += [Path(name) / path for name, paths in BOOTSTRAP_FILES.items() for path in paths]
    return files


def _client_secret_name(client: str) -> str:
    return "im-client-" + client.replace("/", "_")


def wait_for_providers(sandbox: Sandbox, say: Callable[[str], None], seconds: float = WAIT_SECONDS) -> None:
    """Wait until every process without a set-up hook (the IM and the building blocks) answers /health."""
    pending = [name for name in sandbox.running if not sandbox.topology.processes[name].on_up]
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=2.0, verify=client_context()) as http:
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
    sandbox = Sandbox(data_dir=directory, topology=topo.load(local=topo.local_file(directory)))
    sandbox.prepare_secrets()
    identity_token = load_or_create_secret(directory / IDENTITY_ADMIN_TOKEN.parent, IDENTITY_ADMIN_TOKEN.name)
    for name in SERVICE_FILES:
        for path in service_files(name):
            make_credential(directory / name / path)
    written = []
    for process in sandbox.topology.processes.values():
        env = sandbox.credentials_env(process)
        if process.name == "identity":
            env["IDENTITY_ADMIN_TOKEN"] = identity_token
        written.append(_write_env(directory / "env" / f"{process.name}.env", env))
    return written


def make_credential(path: Path) -> None:
    """Make the key or secret at `path` (its kind from its name) unless it is there."""
    # Imported here: the launcher, which imports this module, need not hold Identity's modules in memory.
    from services.identity.settings import IdentitySettings
    from services.identity.signing.keyring import MOUNTED_KEY_FILE, make_mounted_key

    folder, file = path.parent, path.name
    if path.parent.name == "oidc" and file.startswith(MOUNTED_KEY_FILE + "."):
        identity = IdentitySettings()
        ttl = max(identity.access_token_ttl_seconds, identity.id_token_ttl_seconds)
        make_mounted_key(folder.parent, "GovStack sandbox Identity", identity.signing_key_days, ttl)
    elif file.endswith(".rsa.pem"):
        load_or_create_rsa(folder, file.removesuffix(".rsa.pem"))
    elif file.endswith(".ed25519.pem"):
        load_or_create_ed25519(folder, file.removesuffix(".ed25519.pem"))
    elif file.endswith(".p256.pem"):
        load_or_create_ec(folder, file.removesuffix(".p256.pem"))
    else:
        load_or_create_secret(folder, file)


def _write_env(path: Path, env: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text("".join(f"{key}={value}\n" for key, value in sorted(env.items())))
    return path
