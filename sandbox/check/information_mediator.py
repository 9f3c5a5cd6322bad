"""Information Mediator: the directory metaservices of GovStack_IM_Directory_Services_API.yaml (listClients,
listMethods, allowedMethods, getOpenAPI), checked strictly (no member the spec does not name, no null), against
the federated fixture providers of sandbox/conformance/im.yaml as their caller `eGovStack/GOV/90000009/
digitalregistries` sees them; and, with the administrator token, GovStack_IM_Configuration_Management_API.yaml.
"""

from __future__ import annotations

import json

from .kit import COVERAGE, INVALID, Probe, Result, probe_invalid_input, require_coverage, run_scenarios, status_in
from .openapi import load

DIRECTORY = "information_mediator/GovStack_IM_Directory_Services_API.yaml"
CONFIGURATION = "information_mediator/GovStack_IM_Configuration_Management_API.yaml"
CALLER = "eGovStack/GOV/90000009/digitalregistries"
CALLER_HEADERS = {"X-GovStack-Client": CALLER}
# (instance, member class, member code, application) of each fixture provider; each offers SERVICE
PROVIDERS = [
    ("identifier", "identifier", "alp4aNum3r1c", "alp4aNum3r1c"),
    ("a11a11a11a", "asd2211a", "12as12", "m3mb3rc0d3"),
    ("a552example", "zzz321a", "m3mb3rc0d3", "aa15"),
    ("valid1dentifi3r", "rand0mid3nt", "str1ng", "azxcv55"),
]
SERVICE = "alp4aNum3r1c"
NOBODY = {"instanceId": "no-such-instance", "memberClass": "NONE", "memberCode": "NONE", "applicationCode": "NONE"}
SCENARIO = "scenario: directory metaservices"


class DirectoryRun:
    def __init__(self, probe: Probe):
        self.probe = probe
        self.spec = load(DIRECTORY, strict=True)

    def call(self, path: str, name: str, **request: object) -> object:
        request["headers"] = {**CALLER_HEADERS, **request.get("headers", {})}
        return self.probe.call(self.spec, "GET", path, name=name, **request).json()

    def list_clients(self) -> None:
        for instance, member_class, code, application in PROVIDERS:
            listed = self.call(
                "/listClients", f"list the clients of instance {instance}", params={"instanceId": instance}
            )
            ids = [item.get("id", {}) for item in listed.get("member", [])]
            found = any(
                i.get("memberCode") == code and i.get("subsystemCode", i.get("applicationCode")) in (application, None)
                for i in ids
            )
            self.probe.step(
                SCENARIO,
                f"listClients shows the fixture member {instance}/{member_class}/{code}",
                found,
                f"not among the {len(ids)} clients listed",
            )

    def methods(self) -> None:
        for provider in PROVIDERS:
            prefix = "/r1/" + "/".join(provider)
            for metaservice in ("listMethods", "allowedMethods"):
                listed = self.call(f"{prefix}/{metaservice}", f"{metaservice} of {'/'.join(provider)}")
                codes = [s.get("serviceCode") for s in listed.get("member", [])]
                self.probe.step(
                    SCENARIO,
                    f"{metaservice} of {'/'.join(provider)} names the fixture service {SERVICE}",
                    SERVICE in codes,
                    f"it names {codes}",
                )
            document = self.call(f"{prefix}/getOpenAPI", f"getOpenAPI of {SERVICE}", params={"serviceCode": SERVICE})
            self.probe.step(
                SCENARIO,
                f"getOpenAPI of {'/'.join(provider)} is the fixture service's OpenAPI document (a JSON string)",
                isinstance(document, str) and "openapi" in document,
                f"it is {json.dumps(document)[:200]}",
            )


class ConfigurationRun:
    def __init__(self, probe: Probe):
        self.probe = probe
        self.spec = load(CONFIGURATION)
        self.admin = {"Authorization": f"Bearer {probe.config.admin_token}"}

    def call(self, method: str, path: str, name: str, **request: object) -> object:
        request["headers"] = {**self.admin, **request.get("headers", {})}
        return self.probe.call(self.spec, method, path, name=name, **request)

    def configuration(self) -> None:
        self.call("GET", "/api/v1/status", "the IM's status")
        conf = self.call("GET", "/api/v1/config", "read the configuration").json()
        self.call("PATCH", "/api/v1/config", "patch the configuration with itself", json=conf)
        self.call("PUT", "/api/v1/config", "replace the configuration with itself", json=conf)
        self.call(
            "POST",
            "/api/v1/config",
            "initialise an IM that is initialised already: refused",
            json=conf,
            expect=status_in(400),
        )

    def rights(self) -> None:
        """One right the IM lists, withdrawn and given back."""
        listed = self.call("GET", "/api/v1/rights/allow", "list the access rights").json()
        entry = listed["allowList"][0]
        right = [{**entry, "rights": entry["rights"][:1]}]
        self.call("PATCH", "/api/v1/rights/deny", "withdraw one listed right", json=right)
        self.call("PATCH", "/api/v1/rights/allow", "give it back", json=right)
        for method, path in RIGHTS:
            self.probe.call(
                self.spec,
                method,
                path,
                name=f"{method} {path} without the administrator token",
                kind=INVALID,
                expect=status_in(401),
                **({"json": []} if method == "PATCH" else {}),
            )


RIGHTS = [("GET", "/api/v1/rights/allow"), ("PATCH", "/api/v1/rights/allow"), ("PATCH", "/api/v1/rights/deny")]


def run(probe: Probe) -> None:
    directory = DirectoryRun(probe)
    run_scenarios(probe, [directory.list_clients, directory.methods])
    probe_invalid_input(probe, directory.spec, known=dict(NOBODY), headers=CALLER_HEADERS)
    require_coverage(probe, directory.spec)
    if not probe.config.admin_token:
        probe.record(
            Result(
                probe.config.block,
                CONFIGURATION,
                COVERAGE,
                "the Configuration Management API",
                False,
                problem="not checked: it needs the IM's administrator token (--admin-token)",
            )
        )
        return
    configuration = ConfigurationRun(probe)
    run_scenarios(probe, [configuration.configuration, configuration.rights])
    skip = [f"{method} {path}" for method, path in RIGHTS]  # their refusal is the 401 above
    probe_invalid_input(probe, configuration.spec, headers=configuration.admin, skip=skip)
    require_coverage(probe, configuration.spec)
