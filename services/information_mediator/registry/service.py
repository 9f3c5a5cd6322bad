"""Database work on the registry, and the in-memory snapshot the proxy consults on every call."""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from sqlalchemy import Row, select
from sqlalchemy.orm import Session, selectinload

from services.common.im_client import hash_secret

from .conf import (
    IDENTIFIER,
    ApplicationConf,
    IMConf,
    MemberConf,
    Right,
    ServiceAccessRights,
    ServiceConf,
    endpoint_list,
)
from .endpoints import Operations
from .federation import apply_federation, check_federation, export_federation, federated_instances, service_rights
from .models import AccessRight, Application, Instance, Member, Service

AllowedPair: TypeAlias = Row[tuple[Service, AccessRight, Application, Member]]

DEFAULT_MEMBER_CLASS = "GOV"


class RegistryError(ValueError):
    """A configuration change that cannot be applied (the request is refused, nothing changes)."""


# ---- reading -----------------------------------------------------------------------------------


def instance(session: Session) -> Instance | None:
    return session.get(Instance, 1)


def members(session: Session) -> list[Member]:
    stmt = (
        select(Member)
        .order_by(Member.member_class, Member.code)
        .options(selectinload(Member.applications).selectinload(Application.services).selectinload(Service.rights))
    )
    return list(session.scalars(stmt))


def find_application(session: Session, member_class: str, code: str, app: str) -> Application | None:
    stmt = (
        select(Application)
        .join(Member)
        .where(Member.member_class == member_class, Member.code == code, Application.code == app)
        .options(selectinload(Application.services).selectinload(Service.rights))
    )
    return session.scalars(stmt).first()


def export_conf(session: Session) -> dict:
    inst = instance(session)
    if inst is None:
        return {"domain": "", "instance": "", "members": []}
    federation = export_federation(session)
    return {
        "domain": inst.domain,
        "instance": inst.code,
        "members": [
            {
                "name": m.name,
                "class": m.member_class,
                "code": m.code,
                "applications": [
                    {
                        "id": a.code,
                        "connection": a.connection,
                        "services": [
                            {
                                "id": s.code,
                                "specUrl": s.spec_url,
                                "serviceUrl": s.service_url,
                                "enabled": s.enabled,
                                **({"description": s.description} if s.description else {}),
                                "rights": [
                                    {
                                        "memberClass": r.client_class,
                                        "member": r.client_code,
                                        "application": r.client_application,
                                        **({"endpoints": r.endpoints} if r.endpoints is not None else {}),
                                    }
                                    for r in s.rights
                                ],
                            }
                            for s in a.services
                        ],
                    }
                    for a in m.applications
                ],
            }
            for m in members(session)
        ],
        **({"federation": federation} if federation else {}),
    }


# ---- writing -----------------------------------------------------------------------------------


def _bump(session: Session) -> None:
    inst = instance(session)
    if inst is not None:
        inst.version += 1


def _resolve_client(right: Right, by_name: dict[str, tuple[str, str]]) -> tuple[str, str, str]:
    """A right names its member by code, or by name as in the spec's sample configuration."""
    if right.member_class is None and right.member in by_name:
        member_class, code = by_name[right.member]
        return member_class, code, right.application
    if not IDENTIFIER.match(right.member):
        raise RegistryError(f"right names member {right.member!r}, which is neither a known member name nor a code")
    return right.member_class or DEFAULT_MEMBER_CLASS, right.member, right.application


def _apply_service(application: Application, conf: ServiceConf, by_name: dict[str, tuple[str, str]]) -> None:
    service = next((s for s in application.services if s.code == conf.id), None)
    if service is None:
        service = Service(code=conf.id, enabled=True)
        application.services.append(service)
    service.service_url = conf.service_url
    if service.spec_url != conf.spec_url:
        service.openapi_json = None
    service.spec_url = conf.spec_url
    if conf.description is not None:
        service.description = conf.description
    if conf.enabled is not None:
        service.enabled = conf.enabled
    # A right the document lists is stored as listed: its operations, or the whole service without them.
    listed: dict[tuple[str, str, str], list[dict] | None] = {}
    for right in conf.rights:
        client = _resolve_client(right, by_name)
        endpoints = endpoint_list(right.endpoints)
        listed[client] = _union(listed[client], endpoints) if client in listed else endpoints
    existing = {(r.client_class, r.client_code, r.client_application): r for r in service.rights}
    for client, endpoints in listed.items():
        if client in existing:
            existing[client].endpoints = endpoints
        else:
            service.rights.append(_new_right(client, endpoints))


def _new_right(client: tuple[str, str, str], endpoints: list[dict] | None) -> AccessRight:
    return AccessRight(client_class=client[0], client_code=client[1], client_application=client[2], endpoints=endpoints)


def _union(a: list[dict] | None, b: list[dict] | None) -> list[dict] | None:
    """Operations of two grants together: the whole service (None) absorbs any list."""
    if a is None or b is None:
        return None
    return a + [e for e in b if e not in a]


def _apply_application(member: Member, conf: ApplicationConf, by_name: dict[str, tuple[str, str]]) -> None:
    application = next((a for a in member.applications if a.code == conf.id), None)
    if application is None:
        application = Application(code=conf.id, connection=conf.connection or "https")
        member.applications.append(application)
    if conf.connection:
        application.connection = conf.connection
    if conf.secret_hash:
        application.secret_hash = conf.secret_hash
    for service in conf.services:
        _apply_service(application, service, by_name)


def _check_unique(conf: IMConf) -> None:
    seen: set[tuple] = set()
    for m in conf.members:
        key = (m.member_class, m.code)
        if key in seen:
            raise RegistryError(f"member {m.member_class}/{m.code} is listed twice")
        seen.add(key)
        apps = [a.id for a in m.applications]
        if len(apps) != len(set(apps)):
            raise RegistryError(f"member {m.member_class}/{m.code} lists an application twice")
        for a in m.applications:
            codes = [s.id for s in a.services]
            if len(codes) != len(set(codes)):
                raise RegistryError(f"application {m.code}/{a.id} lists a service twice")


def apply_conf(session: Session, conf: IMConf, *, replace: bool) -> None:
    """Create or merge (`replace=False`: parts not described stay; a federated instance listed replaces what was
    known of it) or replace the whole registry."""
    _check_unique(conf)
    check_federation(conf.federation, conf.instance)
    inst = instance(session)
    if inst is not None and inst.code != conf.instance and not replace:
        raise RegistryError(f"this IM serves instance {inst.code!r}, not {conf.instance!r}")
    if replace:
        for member in members(session):
            session.delete(member)
        session.flush()
    if inst is None:
        inst = Instance(id=1, code=conf.instance, domain=conf.domain, version=0)
        session.add(inst)
    inst.code, inst.domain = conf.instance, conf.domain
    current = {(m.member_class, m.code): m for m in members(session)}
    by_name = {m.name: (m.member_class, m.code) for m in current.values()}
    by_name.update({m.name: (m.member_class, m.code) for m in conf.members})
    for member_conf in conf.members:
        _apply_member(session, current, member_conf, by_name)
    apply_federation(session, conf.federation, replace=replace)
    inst.version += 1


def _apply_member(session: Session, current: dict, conf: MemberConf, by_name: dict) -> None:
    member = current.get((conf.member_class, conf.code))
    if member is None:
        member = Member(member_class=conf.member_class, code=conf.code, name=conf.name)
        session.add(member)
    member.name = conf.name
    for app_conf in conf.applications:
        _apply_application(member, app_conf, by_name)


def _service_for(session: Session, rights: ServiceAccessRights) -> Service:
    application = find_application(session, rights.memberClass, rights.memberCode, rights.applicationId)
    service = next((s for s in application.services if s.code == rights.serviceId), None) if application else None
    if service is None:
        raise RegistryError(
            f"unknown service {rights.memberClass}/{rights.memberCode}/{rights.applicationId}/{rights.serviceId}"
        )
    return service


def allow(session: Session, items: list[ServiceAccessRights]) -> int:
    """Adds rights, or operations to existing ones (a right without `endpoints` widens to the whole service).
    Answers how many rights were created or widened."""
    changed = 0
    for item in items:
        service = _service_for(session, item)
        existing = {(r.client_class, r.client_code, r.client_application): r for r in service.rights}
        for right in item.rights:
            client = right.client(DEFAULT_MEMBER_CLASS)
            endpoints = endpoint_list(right.endpoints)
            current = existing.get(client)
            if current is None:
                existing[client] = _new_right(client, endpoints)
                service.rights.append(existing[client])
                changed += 1
            elif (widened := _union(current.endpoints, endpoints)) != current.endpoints:
                current.endpoints = widened
                changed += 1
    _bump(session)
    return changed


def deny(session: Session, items: list[ServiceAccessRights]) -> int:
    """Removes rights, or only the listed operations of a right (the right goes with its last operation).
    Answers how many rights were removed or narrowed."""
    changed = 0
    for item in items:
        service = _service_for(session, item)
        existing = {(r.client_class, r.client_code, r.client_application): r for r in service.rights}
        for right in item.rights:
            current = existing.pop(right.client(DEFAULT_MEMBER_CLASS), None)
            if current is not None and _narrow(service, current, endpoint_list(right.endpoints)):
                changed += 1
    _bump(session)
    return changed


def _narrow(service: Service, right: AccessRight, endpoints: list[dict] | None) -> bool:
    if endpoints is None:
        service.rights.remove(right)
        return True
    if right.endpoints is None:
        raise RegistryError(
            f"the right of {right.client_code}/{right.client_application} on {service.code} covers the whole "
            "service, so operations cannot be taken out of it: deny the right, then allow the operations it keeps"
        )
    kept = [e for e in right.endpoints if e not in endpoints]
    if kept == right.endpoints:
        return False
    if kept:
        right.endpoints = kept
    else:
        service.rights.remove(right)
    return True


def allowed_pairs(
    session: Session,
    member_class: str | None = None,
    member_code: str | None = None,
    application_id: str | None = None,
    service_id: str | None = None,
) -> Sequence[AllowedPair]:
    """(service, right) pairs in a stable order, filtered by the provider fields of the rights API."""
    stmt = (
        select(Service, AccessRight, Application, Member)
        .join(AccessRight, AccessRight.service_id == Service.id)
        .join(Application, Application.id == Service.application_id)
        .join(Member, Member.id == Application.member_id)
        .order_by(Member.member_class, Member.code, Application.code, Service.code, AccessRight.id)
    )
    if member_class:
        stmt = stmt.where(Member.member_class == member_class)
    if member_code:
        stmt = stmt.where(Member.code == member_code)
    if application_id:
        stmt = stmt.where(Application.code == application_id)
    if service_id:
        stmt = stmt.where(Service.code == service_id)
    return session.execute(stmt).all()


# ---- the snapshot the proxy uses -----------------------------------------------------------------


@dataclass(frozen=True)
class ServiceEntry:
    id: str  # INSTANCE/CLASS/MEMBER/APPLICATION/SERVICE
    url: str
    enabled: bool
    allowed: frozenset[str]  # client ids INSTANCE/CLASS/MEMBER/APPLICATION holding a right, whole or limited
    # Clients whose right is limited to some operations; a client in `allowed` but not here has every one.
    operations: Mapping[str, Operations] = field(default_factory=dict)

    def allows(self, client_id: str, method: str, path: str) -> bool:
        """See Snapshot.allows."""
        if client_id not in self.allowed:
            return False
        limited = self.operations.get(client_id)
        return limited is None or limited.permit(method, path)


@dataclass
class Snapshot:
    instance: str = ""
    version: int = -1
    clients: dict[str, str | None] = field(default_factory=dict)  # client id -> secret hash
    services: dict[str, ServiceEntry] = field(default_factory=dict)
    # Services of federated instances (reached through their own IM; `allowed` as that instance declares).
    federated: dict[str, ServiceEntry] = field(default_factory=dict)
    federated_instances: frozenset[str] = frozenset()

    def entry(self, service_id: str) -> ServiceEntry | None:
        """A service of this instance or of a federated one."""
        return self.services.get(service_id) or self.federated.get(service_id)

    def authenticate(self, client_id: str, secret: str | None) -> bool:
        if client_id not in self.clients:
            return False
        expected = self.clients[client_id]
        if expected is None or secret is None:
            return False
        return hmac.compare_digest(expected, hash_secret(secret))

    def allows(self, client_id: str, service_id: str, method: str, path: str) -> bool:
        """May the client call `method path` of the service? `path` is the raw request path below the service
        as received (still percent-encoded: it is decoded once here, as the provider's server does; '' for the
        service root; no query string). Rights only: whether the service exists and is enabled is the
        caller's question (they are different errors)."""
        entry = self.services.get(service_id)
        return entry is not None and entry.allows(client_id, method, path)


def load_snapshot(session: Session) -> Snapshot:
    inst = instance(session)
    if inst is None:
        return Snapshot(version=0)
    snap = Snapshot(instance=inst.code, version=inst.version)
    for m in members(session):
        for a in m.applications:
            client_id = f"{inst.code}/{m.member_class}/{m.code}/{a.code}"
            snap.clients[client_id] = a.secret_hash
            for s in a.services:
                holders = {f"{inst.code}/{r.client_class}/{r.client_code}/{r.client_application}": r for r in s.rights}
                operations = {c: Operations(r.endpoints) for c, r in holders.items() if r.endpoints is not None}
                sid = f"{client_id}/{s.code}"
                snap.services[sid] = ServiceEntry(
                    id=sid,
                    url=s.service_url.rstrip("/"),
                    enabled=s.enabled,
                    allowed=frozenset(holders),
                    operations=operations,
                )
    declared = federated_instances(session)
    snap.federated_instances = frozenset(d.instance for d in declared)
    for sid, allowed in (item for d in declared for item in service_rights(d).items()):
        snap.federated[sid] = ServiceEntry(id=sid, url="", enabled=True, allowed=allowed)
    return snap


def registry_version(session: Session) -> int:
    inst = instance(session)
    return inst.version if inst else 0
