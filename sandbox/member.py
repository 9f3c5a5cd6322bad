"""`sandbox member add|remove|list`: your own application as a member of the sandbox.

The declaration lives in the local overlay (`sandbox.local.yaml` beside the data directory, see
sandbox/topology.py), which `sandbox up` and `sandbox bootstrap` merge; the application's IM credential is a
secret file in the data directory like every other one. When the sandbox runs, a change reaches the IM at once
through its Configuration Management API: an addition is merged (PATCH, as the bootstrap does); a removal
replaces the registry with what it holds less that application (PUT, the API has no delete), so that other
changes made at run time are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from pydantic import ValidationError

from services.common.im_client import hash_secret
from services.common.keys import load_or_create_secret

from . import bootstrap as boot
from . import topology as topo
from .launcher import LaunchError, Sandbox, launcher_running, read_state

HEADER = "# Members of this sandbox whose applications run elsewhere: `sandbox member add|remove` edits this file.\n"


@dataclass
class Change:
    client_id: str
    secret: str | None  # the new credential, shown once; None when an existing one was kept
    secret_file: Path
    live: bool  # whether the running sandbox's IM was changed at once


def parse_service(value: str) -> dict:
    """`NAME=URL`: a service the application offers, at its own URL."""
    name, _, url = value.partition("=")
    if not name or not url.startswith(("http://", "https://")):
        raise topo.TopologyError(f"expected NAME=URL (an http(s) URL), got {value!r}")
    return {"id": name, "url": url.rstrip("/")}


def parse_right(value: str) -> dict:
    """`PROVIDER/SERVICE`, PROVIDER an application (`PAYMENTS`) or `MEMBER/APPLICATION`; optionally
    `=METHOD PATH[,METHOD PATH...]` to limit the right to those operations."""
    target, _, operations = value.partition("=")
    provider, _, service = target.rpartition("/")
    if not provider or not service:
        raise topo.TopologyError(f"expected PROVIDER/SERVICE[=METHOD PATH,...], got {value!r}")
    call: dict = {"provider": provider, "service": service}
    if operations:
        pairs = [op.split(None, 1) for op in operations.split(",")]
        if any(len(pair) != 2 for pair in pairs):
            raise topo.TopologyError(f"expected METHOD PATH operations, got {operations!r}")
        call["endpoints"] = [{"method": method.upper(), "path": path.strip()} for method, path in pairs]
    return call


def secret_file(data_dir: Path, client_id: str) -> Path:
    return data_dir / "secrets" / ("im-client-" + client_id.replace("/", "_"))


def add(data_dir: Path, member: str, application: str, services: list[dict], calls: list[dict], **about: str) -> Change:
    """Declares (or re-declares) MEMBER/APPLICATION; `about` may give the member's `name` and `member_class`."""
    path = topo.local_file(data_dir)
    doc = topo.read_local(path)
    _drop(doc, member, application)
    entry = next((m for m in doc["members"] if str(m["code"]) == member), None)
    if entry is None:
        entry = {"name": member, "class": "GOV", "code": member, "applications": []}
        doc["members"].append(entry)
    entry["name"] = about.get("name") or entry["name"]
    entry["class"] = about.get("member_class") or entry.get("class", "GOV")
    entry["applications"].append({"id": application, "services": services, "calls": calls})
    topology = topo.merge_local(topo.load(), doc["members"])  # refuses unknown providers and services
    _check_with_the_im_rules(topology)
    client_id = topology.find_application(f"{member}/{application}").client_id(topology.instance)
    file = secret_file(data_dir, client_id)
    new = not file.exists()
    secret = load_or_create_secret(file.parent, file.name)
    sandbox = running_sandbox(data_dir)
    if sandbox is not None:
        _unregister(sandbox, client_id)  # a re-declared application keeps none of its former rights
    _write(path, doc)
    if sandbox is not None:
        boot.register_topology(running_sandbox(data_dir))
    return Change(client_id, secret if new else None, file, sandbox is not None)


def _check_with_the_im_rules(topology: topo.Topology) -> None:
    """The registry document passes the IM's own validation (identifiers, URLs), before anything is written."""
    from services.information_mediator.registry.conf import IMConf  # imported only when a member is declared

    placeholder = {a.client_id(topology.instance): hash_secret("") for a in topology.applications}
    try:
        IMConf.model_validate(topology.imconf(placeholder))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise topo.TopologyError(f"the IM would refuse this declaration: {problems}") from exc


def remove(data_dir: Path, member: str, application: str) -> Change:
    path = topo.local_file(data_dir)
    doc = topo.read_local(path)
    topology = topo.load(local=path)
    if not _drop(doc, member, application):
        raise topo.TopologyError(f"{member}/{application} is not a member application of {path}")
    topo.merge_local(topo.load(), doc["members"])  # refused while another member application calls it
    client_id = topology.find_application(f"{member}/{application}").client_id(topology.instance)
    sandbox = running_sandbox(data_dir)
    if sandbox is not None:
        _unregister(sandbox, client_id)
    _write(path, doc)
    file = secret_file(data_dir, client_id)
    file.unlink(missing_ok=True)  # a later `add` gets a fresh credential
    return Change(client_id, None, file, sandbox is not None)


def listed(data_dir: Path) -> list[dict]:
    """The overlay's applications: client id, services, calls."""
    topology = topo.load()
    members = topo.read_local(topo.local_file(data_dir))["members"]
    return [
        {
            "client": f"{topology.instance}/{m.get('class', 'GOV')}/{m['code']}/{a['id']}",
            "services": a.get("services", []),
            "calls": a.get("calls", []),
        }
        for m in members
        for a in m.get("applications", [])
    ]


def _drop(doc: dict, member: str, application: str) -> bool:
    """Removes MEMBER/APPLICATION from the overlay document (and the member once it has none); whether it was there."""
    for entry in doc["members"]:
        if str(entry["code"]) != member:
            continue
        apps = entry.get("applications", [])
        kept = [a for a in apps if a["id"] != application]
        entry["applications"] = kept
        if not kept:
            doc["members"].remove(entry)
        return len(kept) != len(apps)
    return False


def _write(path: Path, doc: dict) -> None:
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(HEADER + yaml.safe_dump(doc, sort_keys=False))
    partial.replace(path)


def running_sandbox(data_dir: Path) -> Sandbox | None:
    """The sandbox running from `data_dir` (its topology with the overlay as written now), or None."""
    state = read_state(data_dir)
    if state is None or not launcher_running(state):
        return None
    topology = topo.load(local=topo.local_file(data_dir)).replace(state.get("replaced") or {})
    for name, info in state["processes"].items():
        topology.processes[name].address = info["url"]
    sandbox = Sandbox(data_dir=data_dir, topology=topology, running=list(state["processes"]))
    sandbox.prepare_secrets()
    return sandbox


def _unregister(sandbox: Sandbox, client_id: str) -> None:
    """The IM's registry less `client_id`'s application and every right it holds (PUT: there is no delete)."""
    instance, member_class, member, application = client_id.split("/")
    headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
    with httpx.Client(base_url=sandbox.im_url, headers=headers, timeout=15) as http:
        current = http.get("/api/v1/config")
        current.raise_for_status()
        doc = current.json()
        if not any(
            (m["class"], m["code"]) == (member_class, member) and any(a["id"] == application for a in m["applications"])
            for m in doc["members"]
        ):
            return
        hashes = {client: hash_secret(secret) for client, secret in sandbox.client_secrets.items()}
        for m in doc["members"]:
            if (m["class"], m["code"]) == (member_class, member):
                m["applications"] = [a for a in m["applications"] if a["id"] != application]
            for app in m["applications"]:
                known = hashes.get(f"{instance}/{m['class']}/{m['code']}/{app['id']}")
                if known is None:  # its credential would be lost: leave the registry as it is
                    raise LaunchError(
                        f"the IM holds {m['code']}/{app['id']}, whose credential this sandbox does not have: "
                        "remove the application with the IM's configuration API yourself"
                    )
                app["secretHash"] = known
                for service in app["services"]:
                    service["rights"] = [
                        r
                        for r in service["rights"]
                        if (r["memberClass"], r["member"], r["application"]) != (member_class, member, application)
                    ]
        doc["members"] = [m for m in doc["members"] if m["applications"]]
        replaced = http.put("/api/v1/config", json=doc)
        if replaced.status_code != 201:
            raise LaunchError(
                f"the IM refused the registry without {client_id}: {replaced.status_code} {replaced.text}"
            )
