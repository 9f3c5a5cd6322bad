"""The sandbox topology (`topology.yaml`): processes and ports, and the IM registry they form.

A local overlay (`sandbox.local.yaml` beside the data directory, written by `sandbox member add`) adds members
whose applications run elsewhere: their services have a `url` instead of a process, and `calls` lists the
services of others they may call (merged as rights on those services). `--replace` points a building block,
or one of its services, at an external implementation.
"""

from __future__ import annotations

import copy
import importlib.util
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

TOPOLOGY_FILE = Path(__file__).with_name("topology.yaml")
LOCAL_FILE = "sandbox.local.yaml"
IM = "information_mediator"


class TopologyError(ValueError):
    """The topology (or its local overlay, or a replacement) names something that does not exist."""


def local_file(data_dir: Path) -> Path:
    """The local overlay of the sandbox that keeps its data in `data_dir`: `sandbox.local.yaml` beside it."""
    return Path(data_dir).parent / LOCAL_FILE


@dataclass
class Process:
    name: str
    module: str
    port: int
    on_up: str | None = None
    # The address other services and the bootstrap call (a container's or Kubernetes Service's name); None:
    # this machine's loopback on `port`, as under `sandbox up`.
    address: str | None = None
    # Where the IM reaches the process's services, when not at `url`: its mutual-TLS listener under
    # `sandbox up --mtls` (sandbox/launcher.py).
    mediated_address: str | None = None

    @property
    def available(self) -> bool:
        """A process is started only once its package has been written."""
        try:
            return importlib.util.find_spec(self.module) is not None
        except ModuleNotFoundError:
            return False

    @property
    def env_prefix(self) -> str:
        return f"{self.name.upper()}_"

    @property
    def url(self) -> str:
        return (self.address or f"http://127.0.0.1:{self.port}").rstrip("/")

    @property
    def mediated_url(self) -> str:
        return (self.mediated_address or self.url).rstrip("/")


@dataclass
class Application:
    member_class: str
    member_code: str
    member_name: str
    code: str
    process: str | None  # None: an application of the local overlay, running elsewhere (its services have a url)
    services: list[dict] = field(default_factory=list)

    def client_id(self, instance: str) -> str:
        return f"{instance}/{self.member_class}/{self.member_code}/{self.code}"


@dataclass
class Topology:
    instance: str
    domain: str
    processes: dict[str, Process]
    applications: list[Application]
    # Instances the IM federates with, passed to it as IMconf's `federation` (services/information_mediator/README.md).
    federation: list[dict] = field(default_factory=list)
    # What `--replace` pointed elsewhere: "payments" (a whole block) or "payments/p2g" (one service) -> URL.
    replaced: dict[str, str] = field(default_factory=dict)

    def application_of(self, process: str) -> Application | None:
        return next((a for a in self.applications if a.process == process), None)

    def with_ports(self, overrides: dict[str, int]) -> Topology:
        for name, port in overrides.items():
            if name not in self.processes:
                raise KeyError(f"unknown process {name!r}; known: {', '.join(self.processes)}")
            self.processes[name].port = port
        return self

    def find_application(self, provider: str) -> Application:
        """An application by `APPLICATION` or `MEMBER/APPLICATION` (member code), e.g. `PAYMENTS`."""
        member, _, code = provider.rpartition("/")
        found = [a for a in self.applications if a.code == code and member in ("", a.member_code)]
        if len(found) != 1:
            known = ", ".join(f"{a.member_code}/{a.code}" for a in self.applications)
            reason = "is ambiguous" if found else "is unknown"
            raise TopologyError(f"application {provider!r} {reason}; known: {known}")
        return found[0]

    def replace(self, replacements: dict[str, str]) -> Topology:
        """Point blocks (`payments`) or single services (`payments/p2g`) at external URLs."""
        for target, url in replacements.items():
            name, _, service_id = target.partition("/")
            if name not in self.processes or name == IM:
                raise TopologyError(
                    f"cannot replace {name!r}; blocks: {', '.join(p for p in self.processes if p != IM)}"
                )
            if not service_id:
                self.processes[name].address = url
            else:
                _service(self.application_of(name), service_id)["url"] = url
            self.replaced[target] = url.rstrip("/")
        return self

    def imconf(self, secret_hashes: dict[str, str]) -> dict:
        """The GovStack IMconf document, service URLs filled in from the process ports.

        Every application is registered, running or not: a client can act as it (integration tests), and a
        call to a service whose process is not running gets the IM's honest NetworkError.
        """
        members: dict[tuple[str, str], dict] = {}
        for app in self.applications:
            base = self.processes[app.process].mediated_url if app.process else ""
            member = members.setdefault(
                (app.member_class, app.member_code),
                {
                    "name": app.member_name,
                    "class": app.member_class,
                    "code": app.member_code,
                    "applications": [],
                },
            )
            member["applications"].append(
                {
                    "id": app.code,
                    "connection": "https" if base.startswith("https://") else "http",
                    "secretHash": secret_hashes[app.client_id(self.instance)],
                    "services": [
                        {
                            "id": s["id"],
                            "description": s.get("description"),
                            "serviceUrl": _service_url(base, s),
                            "specUrl": f"{s.get('url', base).rstrip('/')}/openapi.json",
                            "rights": [
                                {
                                    "memberClass": r.get("class", "GOV"),
                                    "member": r["member"],
                                    "application": r["application"],
                                    **({"endpoints": r["endpoints"]} if "endpoints" in r else {}),
                                }
                                for r in s.get("rights", [])
                            ],
                        }
                        for s in app.services
                    ],
                }
            )
        doc = {"domain": self.domain, "instance": self.instance, "members": list(members.values())}
        return doc | ({"federation": self.federation} if self.federation else {})


def _service_url(base: str, service: dict) -> str:
    """A service's URL: its own (overlay, replacement), else its process's base URL and path."""
    return service["url"].rstrip("/") if "url" in service else base + service.get("path", "/").rstrip("/")


def _service(app: Application | None, service_id: str) -> dict:
    found = next((s for s in app.services if s["id"] == service_id), None) if app else None
    if found is None:
        known = ", ".join(s["id"] for s in app.services) if app else "none"
        raise TopologyError(f"unknown service {service_id!r}; known: {known}")
    return found


@cache
def _raw() -> dict:
    return yaml.safe_load(TOPOLOGY_FILE.read_text())


def read_local(path: Path | None) -> dict:
    """The local overlay's document ({"members": []} when there is none)."""
    if path is None or not path.is_file():
        return {"members": []}
    doc = yaml.safe_load(path.read_text()) or {}
    if not isinstance(doc, dict) or not isinstance(doc.get("members", []), list):
        raise TopologyError(f"{path}: expected a mapping with a `members` list")
    return {"members": doc.get("members") or []}


def _applications(members: list[dict], local: bool) -> list[Application]:
    """The applications of `members`: processes of ours, or (`local`) applications running elsewhere."""
    apps = []
    for m in members:
        for a in m.get("applications", []):
            if local and not all("url" in s for s in a.get("services", [])):
                raise TopologyError(f"application {m['code']}/{a['id']}: each service needs a url")
            apps.append(
                Application(
                    member_class=m.get("class", "GOV"),
                    member_code=str(m["code"]),
                    member_name=m.get("name", str(m["code"])),
                    code=a["id"],
                    process=None if local else a["process"],
                    services=a.get("services", []),
                )
            )
    return apps


def _grant_calls(topology: Topology, members: list[dict]) -> None:
    """Each overlay application's `calls` become rights on the services it calls."""
    for m in members:
        for a in m.get("applications", []):
            for call in a.get("calls", []):
                service = _service(topology.find_application(call["provider"]), call["service"])
                right = {"class": m.get("class", "GOV"), "member": str(m["code"]), "application": a["id"]}
                if call.get("endpoints"):
                    right["endpoints"] = call["endpoints"]
                service.setdefault("rights", []).append(right)


def load(overrides: dict[str, int] | None = None, local: Path | None = None) -> Topology:
    """The topology, with ports overridden and, given its path, the local overlay merged."""
    raw = copy.deepcopy(_raw())  # the overlay and replacements change services: never the cached document
    processes = {
        name: Process(
            name=name,
            module=spec["module"],
            port=int(os.environ.get(f"SANDBOX_{name.upper()}_PORT", spec["port"])),
            on_up=spec.get("on_up"),
        )
        for name, spec in raw["processes"].items()
    }
    applications = _applications(raw.get("members", []), False)
    topology = Topology(raw["instance"], raw["domain"], processes, applications, raw.get("federation") or [])
    merge_local(topology, read_local(local)["members"])
    return topology.with_ports(overrides or {})


def merge_local(topology: Topology, members: list[dict]) -> Topology:
    """Adds the overlay's members: their applications, and their `calls` as rights on the services called."""
    members = copy.deepcopy(members)  # rights are added to the services: never to the caller's document
    try:
        added = _applications(members, True)
        known = {a.client_id("") for a in topology.applications}
        for app in added:
            if app.client_id("") in known:
                raise TopologyError(f"application {app.member_code}/{app.code} is declared twice")
            known.add(app.client_id(""))
        topology.applications += added
        _grant_calls(topology, members)
    except (KeyError, TypeError, AttributeError) as exc:
        raise TopologyError(f"a member, application or call is malformed ({type(exc).__name__}: {exc})") from exc
    return topology
