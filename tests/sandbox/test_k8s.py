"""No Kubernetes cluster runs here: render every overlay of deploy/k8s with `kubectl kustomize`, check it against
the topology, validate it against the Kubernetes schemas (kubernetes-validate) and run checkov's static security
checks on it. The tools come from `.venv-k8s/bin` (made by .ci/run) or the PATH; a test skips, saying which tool
is missing, only when it is not installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml

from sandbox import bootstrap, topology

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ("demo", "replicated")
TOOLS = ROOT / ".venv-k8s" / "bin"
KUBERNETES_VERSION = "1.30.0"


def _tool(name: str) -> str:
    local = TOOLS / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (bash .ci/run installs it into .venv-k8s)")
    return found


def _dash(name: str) -> str:
    return name.replace("_", "-")


@cache
def _rendered_files(tmp: Path) -> dict[str, Path]:
    """Every overlay rendered from a copy of deploy/k8s with freshly made credentials (nothing committed holds any)."""
    copy = tmp / "k8s"
    shutil.copytree(ROOT / "deploy" / "k8s", copy, ignore=shutil.ignore_patterns("credentials"))
    bootstrap.new_credentials(copy / "base" / "credentials")
    kubectl = _tool("kubectl")
    files = {}
    for overlay in OVERLAYS:
        done = subprocess.run(
            [kubectl, "kustomize", str(copy / "overlays" / overlay)], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        files[overlay] = tmp / f"{overlay}.yaml"
        files[overlay].write_text(done.stdout)
    return files


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _rendered_files(tmp_path_factory.mktemp("k8s"))


def _docs(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_topology_process_runs_hardened_with_probes_and_resources(rendered, overlay):
    docs = _docs(rendered[overlay])
    deployments, services = _by_kind(docs, "Deployment"), _by_kind(docs, "Service")
    processes = topology.load().processes
    assert set(deployments) == {_dash(name) for name in processes}
    for name, process in processes.items():
        pod = deployments[_dash(name)]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["command"] == ["sandbox", "serve", name]
        assert container["ports"][0]["containerPort"] == process.port
        assert services[_dash(name)]["spec"]["ports"][0]["port"] == process.port
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert {"requests", "limits"} <= set(container["resources"])
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] >= 10000
        assert container["securityContext"]["readOnlyRootFilesystem"]
        assert not container["securityContext"]["allowPrivilegeEscalation"]
        assert pod["automountServiceAccountToken"] is False
        for volume in pod["volumes"]:  # files owned by root, group fsGroup: the user reads them through the group
            assert "secret" not in volume or volume["secret"]["defaultMode"] & 0o040
    job = _by_kind(docs, "Job")["sandbox-bootstrap"]["spec"]["template"]["spec"]
    assert job["containers"][0]["command"] == ["sandbox", "bootstrap"]
    mounted = {item["path"] for item in job["volumes"][0]["secret"]["items"]}
    assert mounted == {str(path) for path in bootstrap.credential_files(_probe_sandbox())}


def _probe_sandbox() -> bootstrap.Sandbox:
    return bootstrap.Sandbox(data_dir=Path("unused"), topology=topology.load())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_replica_mounts_its_services_keys_from_one_secret(rendered, overlay):
    """Replicas sign, encrypt and verify with the same keys: each file a service would otherwise make in its own
    /data comes read-only from the service's Secret; each IM replica writes its own log chain (its pod name)."""
    docs = _docs(rendered[overlay])
    deployments, secrets = _by_kind(docs, "Deployment"), _by_kind(docs, "Secret")
    for name in topology.load().processes:
        pod = deployments[_dash(name)]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        mounted = {}
        for mount in container["volumeMounts"]:
            secret = volumes[mount["name"]].get("secret")
            if secret is not None:
                assert mount["readOnly"] is True
                assert mount["subPath"] in secrets[secret["secretName"]]["data"]
                mounted[mount["mountPath"]] = mount["subPath"]
        assert set(mounted) == {f"/data/{path}" for path in bootstrap.service_files(name)}
    (im,) = deployments["information-mediator"]["spec"]["template"]["spec"]["containers"]
    node = next(env for env in im["env"] if env["name"] == "INFORMATION_MEDIATOR_NODE_ID")
    assert node["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_providers_are_reached_only_from_the_im_and_named_exceptions(rendered, overlay):
    policies = _by_kind(_docs(rendered[overlay]), "NetworkPolicy")
    assert policies["default-deny-ingress"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    for name in ("payments", "consent", "cash-transfer", "construction-permit"):
        sources = policies[f"{name}-ingress"]["spec"]["ingress"][0]["from"]
        pods = {s["podSelector"]["matchLabels"].get("app.kubernetes.io/name") for s in sources if "podSelector" in s}
        assert pods == {"information-mediator"}
    assert "ingress-nginx" not in json.dumps(policies["consent-ingress"])  # no page: only the IM calls it


def test_the_replicated_overlay_runs_two_of_everything_behind_an_ingress(rendered):
    docs = _docs(rendered["replicated"])
    deployments = _by_kind(docs, "Deployment")
    assert all(d["spec"]["replicas"] >= 2 for d in deployments.values())
    assert set(_by_kind(docs, "PodDisruptionBudget")) == set(deployments)
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {"govstack-sandbox"}
    hosts = {rule["host"] for rule in _by_kind(docs, "Ingress")["sandbox"]["spec"]["rules"]}
    identity_config = next(c for n, c in _by_kind(docs, "ConfigMap").items() if n.startswith("identity-config"))
    assert identity_config["data"]["IDENTITY_PUBLIC_URL"] == "https://identity.sandbox.example.org"
    assert "identity.sandbox.example.org" in hosts
    urls = next(c for n, c in _by_kind(docs, "ConfigMap").items() if n.startswith("sandbox-urls"))["data"]
    assert urls["SANDBOX_IDENTITY_INTERNAL_URL"] == "http://identity:8001"


def test_no_credential_is_committed():
    committed = subprocess.run(
        ["git", "ls-files", "deploy"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert not [f for f in committed if "/credentials/" in f]
    for path in (ROOT / "deploy").rglob("*.yaml"):
        assert "kind: Secret\n" not in path.read_text(), path


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_rendered_manifests_match_the_kubernetes_schemas(rendered, overlay):
    validate = _tool("kubernetes-validate")
    done = subprocess.run(
        [validate, "--strict", "--kubernetes-version", KUBERNETES_VERSION, str(rendered[overlay])],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_checkov_finds_nothing_that_is_not_suppressed_with_a_reason(rendered, overlay):
    checkov = _tool("checkov")
    done = subprocess.run(
        [
            checkov,
            "--quiet",
            "--compact",
            "--skip-download",
            "--framework",
            "kubernetes",
            "-o",
            "json",
            "-f",
            str(rendered[overlay]),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    report = json.loads(done.stdout)
    report = report[0] if isinstance(report, list) else report
    results = report.get("results", {})
    failed = [(c["check_id"], c["resource"], c.get("check_name")) for c in results.get("failed_checks", [])]
    assert not failed, "\n".join(map(str, failed))
    for skipped in results.get("skipped_checks", []):
        assert len(skipped.get("check_result", {}).get("suppress_comment", "")) > 20, skipped["check_id"]
    assert report["summary"]["passed"] > 0 and report["summary"]["parsing_errors"] == 0
