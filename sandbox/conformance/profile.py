"""Where each profile keeps its data, and what the conformance profile changes in the processes it starts.

The default sandbox lives in `var/`; the conformance profile in `var/conformance/` (a marker file says so, and
`sandbox up` refuses to start one profile on the other's data). On a shared PostgreSQL `DATABASE_URL` the
profile's services use schemas `conformance_<process>`, so that its fixtures never reach the default sandbox.

In the profile, Identity, Payments and Consent serve their spec paths to direct calls (`require_im_assertion`
off: GovStack's checks call them so), Identity gets the settings its fixture file asks for, and Consent also
listens with TLS (`<data dir>/tls/`). Consent keeps its plain port for the sandbox's own traffic: the IM's
registry, its calls and the launcher's health checks stay as in the default sandbox, and nothing in the
sandbox has to trust the certificate; only the checks, which need https, use the HTTPS port. The direct
providers may call back the conformance kit's callback server (`sandbox check`, http://127.0.0.1:8990/), unless
`<SERVICE>_CALLBACK_ALLOW_LIST` says otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sandbox.launcher import DEFAULT_PROFILE, LaunchError, Sandbox
from sandbox.topology import Topology

from .tls import certificate_files, local_certificate

PROFILE = "conformance"
PROFILES = (DEFAULT_PROFILE, PROFILE)
SANDBOX_DATA_DIR = Path("var")  # the default sandbox's data, relative to the current folder
MARKER_FILE = "profile"  # in a profile's data directory: the profile's name (none for the default sandbox)
DIRECT_PROVIDERS = ("identity", "payments", "consent")  # serve their spec paths without the IM in the profile
HTTPS_PROCESS = "consent"
DEFAULT_HTTPS_PORT = 8443
SCHEMA_PREFIX = "conformance_"

BANNER = (
    "CONFORMANCE PROFILE: for running GovStack's compliance checks on this machine, and for nothing else.\n"
    "Identity, Payments and Consent serve their GovStack spec paths directly, WITHOUT the Information Mediator "
    "and without its assertions: whoever reaches their ports is served (by Consent as its operator). Never use "
    "it with real data or where another machine can reach it. What the specs themselves secure stays secured "
    "(Identity's client-management token, OIDC client authentication, wallet partner keys). `sandbox up` "
    "without --profile keeps the trust model on."
)


def data_dir_of(profile: str, base: Path = SANDBOX_DATA_DIR) -> Path:
    """The data directory a profile uses unless `--data-dir` names one."""
    return base / PROFILE if profile == PROFILE else base


def profile_of_data(data_dir: Path) -> str | None:
    """Which profile's data `data_dir` holds: its marker; else the default sandbox's once one ran there; None
    when no sandbox ever ran there."""
    try:
        return (data_dir / MARKER_FILE).read_text().strip()
    except OSError:
        return DEFAULT_PROFILE if (data_dir / "secrets").is_dir() else None


def mark_data_dir(data_dir: Path, profile: str) -> None:
    if profile != DEFAULT_PROFILE:
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / MARKER_FILE).write_text(profile + "\n")


def https_url(port: int) -> str:
    return f"https://127.0.0.1:{port}"


def schema_of(process: str, profile: str) -> str:
    """The PostgreSQL schema of a process on a shared `DATABASE_URL`."""
    return SCHEMA_PREFIX + process if profile == PROFILE else process


def environment(topology: Topology) -> dict[str, dict[str, str]]:
    """Each process's extra environment in the profile: its own schemas, and the direct providers' IM
    assertion check off (each of them logs a loud warning at every start)."""
    env: dict[str, dict[str, str]] = {}
    for name, process in topology.processes.items():
        prefix = process.env_prefix
        own = _separate_schema(name, prefix)
        if name in DIRECT_PROVIDERS:
            own[f"{prefix}REQUIRE_IM_ASSERTION"] = "false"
            own[f"{prefix}CALLBACK_ALLOW_LIST"] = _kit_callbacks(prefix)
        env[name] = own
    return env


def _kit_callbacks(prefix: str) -> str:
    """The callback targets the profile allows: the conformance kit's callback server (`sandbox check`), unless
    the environment names others."""
    from sandbox.check.kit import DEFAULT_CALLBACK_PORT

    return os.environ.get(f"{prefix}CALLBACK_ALLOW_LIST") or json.dumps([f"http://127.0.0.1:{DEFAULT_CALLBACK_PORT}/"])


def _separate_schema(name: str, prefix: str) -> dict[str, str]:
    shared = os.environ.get("DATABASE_URL", "").startswith("postgresql")
    chosen = os.environ.get(f"{prefix}DATABASE_URL") or os.environ.get(f"{prefix}DATABASE_SCHEMA")
    return {f"{prefix}DATABASE_SCHEMA": schema_of(name, PROFILE)} if shared and not chosen else {}


def identity_environment() -> dict[str, str]:
    """The settings Identity's fixture file asks for (e.g. a link-code life under 30 s), as `IDENTITY_*`."""
    command = [sys.executable, "-m", "services.identity.conformance", "--environment"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise LaunchError(f"Identity's conformance settings could not be read:\n{done.stdout}{done.stderr}")
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def prepare(sandbox: Sandbox, names: list[str], https_port: int) -> None:
    """Makes `sandbox` the conformance profile before its processes start (the certificate on the first start)."""
    sandbox.profile = PROFILE
    sandbox.extra_env = environment(sandbox.topology)
    if "identity" in names:
        sandbox.extra_env["identity"].update(identity_environment())
    if HTTPS_PROCESS in names:
        certificate = local_certificate(sandbox.data_dir / "tls")
        sandbox.extra_env[HTTPS_PROCESS].update(
            {
                f"{HTTPS_PROCESS.upper()}_HTTPS_PORT": str(https_port),
                f"{HTTPS_PROCESS.upper()}_TLS_CERT_FILE": str(certificate.cert_file.resolve()),
                f"{HTTPS_PROCESS.upper()}_TLS_KEY_FILE": str(certificate.key_file.resolve()),
            }
        )
        sandbox.https_urls = {HTTPS_PROCESS: https_url(https_port)}


def certificate_file(data_dir: Path) -> Path:
    """The certificate to trust for the profile's HTTPS port."""
    return certificate_files(data_dir / "tls").cert_file
