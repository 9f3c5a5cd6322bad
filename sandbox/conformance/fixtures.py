"""Loads or restores the conformance fixtures of every running building block, once they answer: at the
profile's start and on `sandbox conformance reseed` (every loader is idempotent and restores what the checks
changed).

- The IM: the federated instances of `im.yaml` through its Configuration Management API (`PATCH
  /api/v1/config`, audited like every change), with the launcher's administrator token.
- Identity, Payments and Consent: the service's own loader, `python -m services.<bb>.conformance --data-dir
  <its data dir>`, run beside the running service with that service's environment (its database and its
  keys: Identity stores the fixture keys as keyed hashes, Consent signs the agreement's revisions).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from sandbox.launcher import LaunchError, Sandbox
from sandbox.topology import IM

IM_FIXTURES = Path(__file__).with_name("im.yaml")
LOADERS = {
    "identity": "services.identity.conformance",
    "payments": "services.payments.conformance",
    "consent": "services.consent.conformance",
}
LOADER_SECONDS = 180.0


def load_fixtures(sandbox: Sandbox) -> list[str]:
    """One line per building block saying what was loaded; LaunchError when a loader fails."""
    report = [load_federation(sandbox)] if IM in sandbox.running else []
    loaders = {name: _start_loader(sandbox, name) for name in LOADERS if name in sandbox.running}
    try:
        report += [_finish_loader(name, loader) for name, loader in loaders.items()]
    finally:
        for loader in loaders.values():
            if loader.poll() is None:
                loader.kill()
                loader.wait()
    return report


def load_federation(sandbox: Sandbox) -> str:
    from services.information_mediator.registry.federation import federation_document

    federation = federation_document(IM_FIXTURES)
    body = {"domain": sandbox.topology.domain, "instance": sandbox.topology.instance, "federation": federation}
    headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
    response = httpx.patch(f"{sandbox.im_url}/api/v1/config", json=body, headers=headers, timeout=30)
    if response.status_code != 201:
        raise LaunchError(f"the IM refused the conformance federation: {response.status_code} {response.text}")
    return f"{IM}: {len(federation)} federated instances ({', '.join(f['instance'] for f in federation)})"


def _start_loader(sandbox: Sandbox, name: str) -> subprocess.Popen:
    process = sandbox.topology.processes[name]
    command = [sys.executable, "-m", LOADERS[name], "--data-dir", str(sandbox.data_dir / name)]
    return subprocess.Popen(
        command, env=sandbox.env_for(process), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finish_loader(name: str, loader: subprocess.Popen) -> str:
    try:
        output = loader.communicate(timeout=LOADER_SECONDS)[0]
    except subprocess.TimeoutExpired as exc:
        raise LaunchError(f"{name}'s conformance fixtures did not load in {LOADER_SECONDS:.0f} s") from exc
    lines = output.strip().splitlines()
    if loader.returncode != 0:
        tail = "\n".join(lines[-15:])
        raise LaunchError(f"{name}'s conformance fixtures could not be loaded (exit {loader.returncode}):\n{tail}")
    return f"{name}: {lines[-1] if lines else 'loaded'}"
