"""Federated instances (X-Road federation): what this IM knows of the instances it federates with.

Each instance is stored as its declaration (`conf.FederatedInstanceConf`): the directory metaservices answer
for its members, applications and services, and a call to one of its services answers `Server.NoPeer`
until a peer IM is configured (none can be yet). Declarations come from the `federation` list of an IMconf
document (Configuration Management API, `sandbox/topology.yaml`) or from a file with such a list
(`load_federation_file`, e.g. the conformance fixtures in `sandbox/conformance/im.yaml`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session

from .conf import FederatedApplicationConf, FederatedInstanceConf, FederatedMemberConf
from .models import FederatedInstance, Instance

_INSTANCES = TypeAdapter(list[FederatedInstanceConf])


class FederationError(ValueError):
    """A federation declaration that cannot be applied (the request is refused, nothing changes)."""


# ---- reading -----------------------------------------------------------------------------------


def federated_instances(session: Session) -> list[FederatedInstanceConf]:
    rows = session.scalars(select(FederatedInstance).order_by(FederatedInstance.code))
    return [FederatedInstanceConf.model_validate(row.declaration) for row in rows]


def federated_instance(session: Session, code: str) -> FederatedInstanceConf | None:
    row = session.scalars(select(FederatedInstance).where(FederatedInstance.code == code)).first()
    return FederatedInstanceConf.model_validate(row.declaration) if row else None


def federated_application(
    session: Session, instance: str, member_class: str, member_code: str, application: str
) -> tuple[FederatedMemberConf, FederatedApplicationConf] | None:
    declared = federated_instance(session, instance)
    for member in declared.members if declared else []:
        if (member.member_class, member.code) == (member_class, member_code):
            app = next((a for a in member.applications if a.id == application), None)
            return (member, app) if app else None
    return None


def export_federation(session: Session) -> list[dict]:
    return [row.declaration for row in session.scalars(select(FederatedInstance).order_by(FederatedInstance.code))]


def service_rights(declared: FederatedInstanceConf) -> dict[str, frozenset[str]]:
    """Each service id (INSTANCE/CLASS/MEMBER/APPLICATION/SERVICE) of the instance -> the client ids it allows."""
    services = {}
    for member in declared.members:
        for app in member.applications:
            for service in app.services:
                sid = f"{declared.instance}/{member.member_class}/{member.code}/{app.id}/{service.id}"
                services[sid] = frozenset(r.client_id(declared.instance) for r in service.rights)
    return services


# ---- writing -----------------------------------------------------------------------------------


def check_federation(instances: Iterable[FederatedInstanceConf], own_instance: str) -> None:
    """Raises FederationError when an instance, member, application or service is listed twice, or when the
    federation names this IM's own instance."""
    codes: set[str] = set()
    for declared in instances:
        if declared.instance == own_instance:
            raise FederationError(f"federation lists {own_instance!r}, which is this IM's own instance")
        if declared.instance in codes:
            raise FederationError(f"federation lists instance {declared.instance!r} twice")
        codes.add(declared.instance)
        _check_members(declared)


def _check_members(declared: FederatedInstanceConf) -> None:
    where = f"federated instance {declared.instance}"
    _unique([(m.member_class, m.code) for m in declared.members], f"{where} lists a member twice")
    for member in declared.members:
        _unique([a.id for a in member.applications], f"{where}, member {member.code} lists an application twice")
        for app in member.applications:
            _unique([s.id for s in app.services], f"{where}, application {member.code}/{app.id} lists a service twice")


def _unique(keys: list, message: str) -> None:
    if len(keys) != len(set(keys)):
        raise FederationError(message)


def apply_federation(session: Session, instances: list[FederatedInstanceConf], *, replace: bool) -> int:
    """Stores each listed instance as declared, replacing what was known of it; with `replace`, instances not
    listed are forgotten. Answers how many instances were added, changed or removed (0: nothing changed)."""
    stored = {row.code: row for row in session.scalars(select(FederatedInstance))}
    listed = {declared.instance for declared in instances}
    changed = 0
    for code, row in stored.items():
        if replace and code not in listed:
            session.delete(row)
            changed += 1
    for declared in instances:
        declaration = declared.declaration()
        row = stored.get(declared.instance)
        if row is None:
            session.add(FederatedInstance(code=declared.instance, declaration=declaration))
            changed += 1
        elif row.declaration != declaration:
            row.declaration = declaration
            changed += 1
    return changed


# ---- files (the conformance fixtures) ------------------------------------------------------------


def read_federation_file(path: Path) -> list[FederatedInstanceConf]:
    """The `federation:` list of a YAML (or JSON) file, validated."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    listed = raw.get("federation") if isinstance(raw, dict) else None
    if not isinstance(listed, list):
        raise FederationError(f"{path} has no `federation:` list")
    return _INSTANCES.validate_python(listed)


def federation_document(path: Path) -> list[dict]:
    """The file's federation as the `federation` value of an IMconf document, for the Configuration
    Management API: `PATCH /api/v1/config` with `{"domain", "instance", "federation": <this>}`."""
    return [declared.declaration() for declared in read_federation_file(path)]


def load_federation_file(session: Session, path: Path) -> int:
    """Loads the file's federated instances into the registry of a configured IM, each replacing what was known
    of it (other instances stay). Idempotent: loading the same file again changes nothing and answers 0; after a
    change of those instances it restores them. Answers how many instances were added or changed."""
    own = session.get(Instance, 1)
    if own is None:
        raise FederationError("the IM is not configured yet: apply its configuration first")
    instances = read_federation_file(path)
    check_federation(instances, own.code)
    changed = apply_federation(session, instances, replace=False)
    if changed:
        own.version += 1  # running IMs reload their snapshot when the version moves
    return changed
