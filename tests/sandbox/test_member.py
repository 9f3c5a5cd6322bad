"""`sandbox member add|remove`: an application of a team's own, declared in sandbox.local.yaml, registered in
the running IM at once, calling a building block through the IM with the credential it was given (and only
what its rights allow), then removed and refused."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result

from sandbox import member, topology
from sandbox.cli import main
from services.common.im_client import IMClient
from tests.e2e.launcher import RunningSandbox
from tests.usecases.stack import running_stack

G2P = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS/g2p"
MAPPER = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS/mapper"


def _member(data_dir: Path, *args: str) -> Result:
    """`sandbox member ...`, in this process (the command is what a team types)."""
    return CliRunner().invoke(main, ["member", *args, "--data-dir", str(data_dir)])


def _clients(running: RunningSandbox) -> set[str]:
    listing = httpx.get(running.url("information_mediator") + "/listClients", timeout=10).json()["member"]
    return {f"{m['id']['memberCode']}/{m['id']['applicationCode']}" for m in listing if "applicationCode" in m["id"]}


def _batch_detail(client: IMClient) -> httpx.Response:
    return client.request_sync(G2P, "GET", "/api/v1/batch/detail", params={"batchId": "none"})


def test_a_member_added_calls_through_the_im_within_its_rights_and_is_refused_once_removed(tmp_path):
    data_dir = tmp_path / "var"
    declared_before = _member(data_dir, "add", "EARLY/APP", "--right", "PAYMENTS/mapper")
    assert declared_before.exit_code == 0, declared_before.output
    with running_stack(data_dir, ("information_mediator", "payments"), "member") as running:
        assert "EARLY/APP" in _clients(running)  # `up` merged the overlay

        added = _member(
            data_dir,
            *("add", "AGRICULTURE/FARM-SUPPORT", "--name", "Ministry of Agriculture"),
            *("--right", "PAYMENTS/g2p=GET /api/v1/batch/detail"),
        )
        assert added.exit_code == 0, added.output
        assert "registered in the running sandbox's IM" in added.output
        secret = re.search(r"IM secret: (\S+)", added.output).group(1)
        client_id = "SANDBOX/GOV/AGRICULTURE/FARM-SUPPORT"
        assert running.secret(client_id) == secret
        assert "AGRICULTURE/FARM-SUPPORT" in _clients(running)

        farm = IMClient(running.url("information_mediator"), client_id, secret)
        allowed = _batch_detail(farm)
        assert "X-Road-Error" not in allowed.headers, allowed.text  # Payments itself answered
        refused = farm.request_sync(MAPPER, "POST", "/register-beneficiary", json={})
        assert (refused.status_code, refused.headers.get("X-Road-Error")) == (403, "Client.AccessDenied")
        trace = httpx.get(
            running.url("information_mediator") + "/api/v1/trace",
            params={"client": "AGRICULTURE/FARM-SUPPORT"},
            headers={"Authorization": f"Bearer {running.viewer_token}"},
            timeout=10,
        ).json()["exchanges"]
        assert len(trace) == 2

        removed = _member(data_dir, "remove", "AGRICULTURE/FARM-SUPPORT")
        assert removed.exit_code == 0, removed.output
        assert "AGRICULTURE/FARM-SUPPORT" not in _clients(running)
        assert "EARLY/APP" in _clients(running)
        gone = _batch_detail(farm)
        assert (gone.status_code, gone.headers.get("X-Road-Error")) == (401, "Client.AuthenticationFailed")
        # the other applications keep their credentials and rights through the removal
        early = IMClient(
            running.url("information_mediator"), "SANDBOX/GOV/EARLY/APP", running.secret("SANDBOX/GOV/EARLY/APP")
        )
        still = early.request_sync(MAPPER, "POST", "/register-beneficiary", json={})
        assert "X-Road-Error" not in still.headers, still.text
    assert not member.secret_file(data_dir, client_id).exists()


def test_a_declaration_the_im_would_refuse_is_not_written(tmp_path):
    data_dir = tmp_path / "var"
    with pytest.raises(topology.TopologyError, match="unknown service 'nope'"):
        member.add(data_dir, "TEAM", "APP", [], [member.parse_right("PAYMENTS/nope")])
    with pytest.raises(topology.TopologyError, match="reserved"):
        member.add(data_dir, "TEAM", "APP", [member.parse_service("listMethods=http://127.0.0.1:9/")], [])
    assert not topology.local_file(data_dir).exists()
    assert not (data_dir / "secrets").exists()


def test_the_overlay_becomes_rights_on_the_services_called(tmp_path):
    data_dir = tmp_path / "var"
    right = member.parse_right("PAYMENTS-AUTHORITY/PAYMENTS/g2p=POST /bulk-payment")
    member.add(data_dir, "TEAM", "APP", [member.parse_service("hooks=http://127.0.0.1:9/hooks/")], [right])
    member.add(data_dir, "OTHER", "APP", [], [member.parse_right("TEAM/APP/hooks")])
    doc = yaml.safe_load(topology.local_file(data_dir).read_text())
    assert [m["code"] for m in doc["members"]] == ["TEAM", "OTHER"]
    loaded = topology.load(local=topology.local_file(data_dir))
    g2p = next(s for s in loaded.find_application("PAYMENTS").services if s["id"] == "g2p")
    assert {"class": "GOV", "member": "TEAM", "application": "APP", "endpoints": [right["endpoints"][0]]} in g2p[
        "rights"
    ]
    hooks = loaded.find_application("TEAM/APP").services[0]
    assert hooks["rights"] == [{"class": "GOV", "member": "OTHER", "application": "APP"}]
    assert topology.load().find_application("PAYMENTS").services[1].get("rights") == g2p["rights"][:-1]
    with pytest.raises(topology.TopologyError, match="'TEAM/APP' is unknown"):  # OTHER still calls it
        member.remove(data_dir, "TEAM", "APP")
    member.remove(data_dir, "OTHER", "APP")
    member.remove(data_dir, "TEAM", "APP")
    assert topology.read_local(topology.local_file(data_dir)) == {"members": []}
