"""The sandbox topology (`topology.yaml`): processes and ports, and the IM registry they form."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

TOPOLOGY_FILE = Path(__file__).with_name("topology.yaml")
IM = "information_mediator"


@dataclass
class Process:
    name: str
    module: str
    port: int
    on_up: str | None = None
    # The address other services and the bootstrap call (a container's or Kubernetes Service's name); None:
    # this machine's loopback on `port`, as under `sandbox up`.
    address: str | None = None

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


@dataclass
class Application:
    member_class: str
    member_code: str
    member_name: str
    code: str
    process: str
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

    def application_of(self, process: str) -> Application | None:
        return next((a for a in self.applications if a.process == process), None)

    def with_ports(self, overrides: dict[str, int]) -> Topology:
        for name, port in overrides.items():
            if name not in self.processes:
                raise KeyError(f"unknown process {name!r}; known: {', '.join(self.processes)}")
            self.processes[name].port = port
        return self

    def imconf(self, secret_hashes: dict[str, str]) -> dict:
        """The GovStack IMconf document, service URLs filled in from the process ports.

        Every application is registered, running or not: a client can act as it (integration tests), and a
        call to a service whose process is not running gets the IM's honest NetworkError.
        """
        members: dict[tuple[str, str], dict] = {}
        for app in self.applications:
            base = self.processes[app.process].url
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
                    "connection": "http",
                    "secretHash": secret_hashes[app.client_id(self.instance)],
                    "services": [
                        {
                            "id": s["id"],
                            "description": s.get("description"),
                            "serviceUrl": base + s.get("path", "/").rstrip("/"),
                            "specUrl": f"{base}/openapi.json",
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


@cache
def _raw() -> dict:
    return yaml.safe_load(TOPOLOGY_FILE.read_text())


def load(overrides: dict[str, int] | None = None) -> Topology:
    raw = _raw()
    processes = {
        name: Process(
            name=name,
            module=spec["module"],
            port=int(os.environ.get(f"SANDBOX_{name.upper()}_PORT", spec["port"])),
            on_up=spec.get("on_up"),
        )
        for name, spec in raw["processes"].items()
    }
    applications = [
        Application(
            member_class=m["class"],
            member_code=str(m["code"]),
            member_name=m["name"],
            code=a["id"],
            process=a["process"],
            services=a.get("services", []),
        )
        for m in raw.get("members", [])
        for a in m.get("applications", [])
    ]
    topology = Topology(raw["instance"], raw["domain"], processes, applications, raw.get("federation") or [])
    return topology.with_ports(overrides or {})
