"""`sandbox up --mtls`: the IM and the providers talk over mutual TLS with certificates from a local CA, as X-Road
security servers do (issue 16, "optional mutual TLS"). Both demos run through it end to end."""

from __future__ import annotations

import ssl
import subprocess
import sys

import httpx
import pytest

from sandbox.local_ca import LocalCA

from .launcher import RunningSandbox

pytestmark = pytest.mark.e2e

USCT = "SANDBOX/GOV/SOCIAL-WELFARE/USCT"
AGREEMENT = "/r1/SANDBOX/GOV/DATA-PROTECTION-AUTHORITY/CONSENT/consent/service/data-agreement/da-usct-enrollment/"


def _tls_client(ca: LocalCA, cert: tuple[str, str] | None) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(ca.cert_file))
    if cert:
        context.load_cert_chain(*cert)
    return httpx.Client(verify=context, timeout=5)


def test_the_im_reaches_providers_only_over_mutual_tls_and_the_demos_run(tmp_path):
    sandbox = RunningSandbox(tmp_path / "var", args=("--mtls",)).start(timeout=120)
    try:
        assert sandbox.proc.poll() is None, sandbox.output.decode(errors="replace")
        mediated = sandbox.state["mtls"]
        assert set(mediated) == set(sandbox.state["processes"]) - {"information_mediator"}
        assert all(url.startswith("https://127.0.0.1:") for url in mediated.values())

        # A member's call through the IM arrives at Consent over mutual TLS.
        headers = {"Information-Mediator-Client": USCT, "Information-Mediator-Client-Secret": sandbox.secret(USCT)}
        ok = httpx.get(sandbox.url("information_mediator") + AGREEMENT, headers=headers, timeout=10)
        assert ok.status_code == 200, ok.text
        registered = sandbox.get("information_mediator", "/listClients").json()["member"]
        assert registered  # the topology is in the IM

        # Consent's plain port no longer serves a service's route to anyone but the operator.
        plain = httpx.get(sandbox.url("consent") + "/service/data-agreement/da-usct-enrollment/", timeout=5)
        assert plain.status_code == 403 and "mutual TLS" in plain.text
        assert httpx.get(sandbox.url("consent") + "/health", timeout=5).status_code == 200

        # Its TLS listener takes no client without a certificate from the local CA, nor with a server's.
        ca = LocalCA(tmp_path / "var" / "tls" / "ca")
        with pytest.raises(httpx.HTTPError), _tls_client(ca, None) as anonymous:
            anonymous.get(mediated["consent"] + "/health")
        server = ca.server("payments")
        with pytest.raises(httpx.HTTPError), _tls_client(ca, (str(server.cert_file), str(server.key_file))) as other:
            other.get(mediated["consent"] + "/health")
        im = ca.client("information-mediator")
        with _tls_client(ca, (str(im.cert_file), str(im.key_file))) as as_the_im:
            assert as_the_im.get(mediated["consent"] + "/health").status_code == 200

        # Both demos, whose every exchange and callback crosses the IM, run end to end.
        for demo in ("cash-transfer", "construction-permit"):
            done = subprocess.run(
                [sys.executable, "-m", "sandbox.cli", "demo", demo, "--data-dir", str(tmp_path / "var")],
                capture_output=True,
                text=True,
                timeout=240,
                env=sandbox.env,
            )
            assert done.returncode == 0, f"{demo}:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    finally:
        assert sandbox.stop() == 0, sandbox.output.decode(errors="replace")
