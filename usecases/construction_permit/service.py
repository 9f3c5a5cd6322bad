"""The permit journey: applications, the people on them, documents, officer actions, payment, clearances,
the mayor's signature. Every building-block call goes through the IM (`bb.py`); the order of the journey
is `states.py`; the facts each step needs are checked here."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.clock import as_utc, utcnow
from services.common.errors import APIError
from services.common.im_client import IMClient
from usecases.common.pages import readable

from . import auth, bb, billing, permit, rules, states
from .models import Application, Bill, Clearance, Document, HistoryEntry, Party, UserSession, new_public_id
from .settings import ConstructionPermitSettings

if TYPE_CHECKING:
    from .api import ApplicationStart

PARTY_ROLES = ("owner", "architect", "contractor")
DOCUMENT_KINDS = {
    "site_plan": "Site plan",
    "detailed_plans": "Detailed plans (1:50)",
    "cost_estimate": "Cost estimate",
    "property_title": "Property title",
}
# Accepted uploads: content type -> the bytes such a file starts with (the type is checked, not trusted)
DOCUMENT_TYPES = {"application/pdf": b"%PDF-", "image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
MAX_VISIT_SLOTS = 5


def refused(status: int, error: str, message: str) -> APIError:
    return APIError(status, {"error": error, "message": message})


def invalid(message: str) -> APIError:
    return refused(422, "invalid_application", message)


# Reading ----------------------------------------------------------------------------------------------------


def get_application(session: Session, application_id: str) -> Application:
    application = session.get(Application, application_id)
    if application is None:
        raise refused(404, "not_found", f"no application {application_id}")
    return application


def parties(session: Session, application: Application) -> dict[str, Party]:
    return {p.role: p for p in session.scalars(select(Party).where(Party.application_id == application.id))}


def roles_on(session: Session, user: UserSession, application: Application) -> set[str]:
    """The user's officer roles plus what they are on this application (applicant, owner, ...)."""
    roles = auth.officer_roles(user)
    if application.applicant_sub == user.sub:
        roles.add("applicant")
    roles |= {p.role for p in parties(session, application).values() if p.sub == user.sub}
    return roles


def may_see(session: Session, user: UserSession, application: Application) -> bool:
    return bool(roles_on(session, user, application))


def visible_applications(session: Session, user: UserSession) -> list[Application]:
    if auth.officer_roles(user):  # officers see every application
        return list(session.scalars(select(Application).order_by(Application.created_at.desc())))
    mine = select(Party.application_id).where(Party.sub == user.sub)
    return list(
        session.scalars(
            select(Application)
            .where((Application.applicant_sub == user.sub) | Application.id.in_(mine))
            .order_by(Application.created_at.desc())
        )
    )


def documents(session: Session, application: Application) -> list[Document]:
    return list(
        session.scalars(select(Document).where(Document.application_id == application.id).order_by(Document.id))
    )


def clearances(session: Session, application: Application) -> list[Clearance]:
    return list(
        session.scalars(
            select(Clearance).where(Clearance.application_id == application.id).order_by(Clearance.authority)
        )
    )


def history(session: Session, application: Application) -> list[HistoryEntry]:
    return list(
        session.scalars(
            select(HistoryEntry).where(HistoryEntry.application_id == application.id).order_by(HistoryEntry.id)
        )
    )


def audiences_of(session: Session, user: UserSession) -> list[str]:
    vids = session.scalars(select(Party.vid).where(Party.sub == user.sub)).all()
    return [f"sub:{user.sub}"] + [f"role:{r}" for r in user.roles] + [f"vid:{v}" for v in vids]


# Recording --------------------------------------------------------------------------------------------------


def record(
    session: Session,
    application: Application,
    action: str,
    actor: str,
    from_state: str,
    message_id: str | None,
    summary: str,
    audiences: list[str],
    note: str | None = None,
) -> HistoryEntry:
    """One history entry; the publisher (`notifications.py`) sends it to the IM room as an event."""
    application.updated_at = utcnow()
    entry = HistoryEntry(
        application_id=application.id,
        action=action,
        actor=actor,
        from_state=from_state,
        to_state=application.state,
        note=note,
        message_id=message_id,
        summary=summary[:500],
        audiences=sorted(set(audiences)),
    )
    session.add(entry)
    return entry


def people(session: Session, application: Application) -> list[str]:
    """The applicant and every party on the application."""
    return [f"sub:{application.applicant_sub}"] + [f"vid:{p.vid}" for p in parties(session, application).values()]


# Starting an application ------------------------------------------------------------------------------------


def _party_input(data: ApplicationStart, role: str) -> tuple[str, str]:
    party = getattr(data, role)
    if party is None:
        raise invalid(f'{role} is required: {{"vid": ..., "name": ...}}')
    vid, name = str(party.vid or "").strip(), str(party.name or "").strip()
    if not vid.isdigit() or not 6 <= len(vid) <= 20:
        raise invalid(f"{role}.vid must be 6 to 20 digits")
    if not name or len(name) > 200:
        raise invalid(f"{role}.name is required (at most 200 characters)")
    return vid, name


def _plan(data: ApplicationStart) -> tuple[rules.Parcel, rules.BuildingType, float, str]:
    parcel = rules.parcels().get(str(data.parcelId or "").strip().upper())
    if parcel is None:
        raise invalid("parcelId is not in the land registry")
    building_type = rules.building_types().get(str(data.buildingType or ""))
    if building_type is None:
        raise invalid(f"buildingType must be one of {sorted(rules.building_types())}")
    if not rules.allowed_on(parcel, building_type):
        raise invalid(f"a {building_type.label.lower()} is not allowed in the {parcel.zoning} zone of {parcel.id}")
    try:
        area = float(data.floorAreaM2)  # None or words: refused here
    except (TypeError, ValueError):
        raise invalid("floorAreaM2 must be a number") from None
    if not 0 < area <= 10 * parcel.area_m2:
        raise invalid(f"floorAreaM2 must be positive and at most {10 * parcel.area_m2} m² on this parcel")
    description = str(data.description or "")[:1000]
    return parcel, building_type, area, description


def start_application(
    session: Session,
    im: IMClient,
    settings: ConstructionPermitSettings,
    user: UserSession,
    data: ApplicationStart,
    message_id: str | None,
    idempotency_key: str | None = None,
) -> Application:
    """Checks the plan against the registry, each person's VID and name with Identity, and asks the owner's
    consent at Consent when the applicant is not the owner. Nothing is stored unless all of it holds; a
    retry with the same idempotency key returns the first application."""
    if idempotency_key:
        earlier = session.scalars(
            select(Application).where(
                Application.applicant_sub == user.sub, Application.idempotency_key == idempotency_key
            )
        ).first()
        if earlier is not None:
            return earlier
    parcel, building_type, area, description = _plan(data)
    named = {role: _party_input(data, role) for role in PARTY_ROLES}
    if named["owner"][0] != parcel.owner_vid:
        raise invalid(f"the land registry names another owner for {parcel.id}")
    checks = bb.check_people(im, settings, user.sub, named)
    wrong = [role for role, (matches, _) in checks.items() if not matches]
    if wrong:
        raise invalid(f"Identity does not confirm the VID and name of: {', '.join(wrong)}")
    is_me = {role for role, (_, mine) in checks.items() if mine}
    if not is_me & {"owner", "architect"}:
        raise invalid(
            "the applicant must be the owner or the lead architect (Identity must confirm you are one of them)"
        )
    application = Application(
        id=new_public_id("APP-"),
        applicant_sub=user.sub,
        applicant_name=user.name,
        parcel_id=parcel.id,
        building_type=building_type.code,
        floor_area_m2=area,
        description=description,
        visit_slots=[],
        idempotency_key=idempotency_key,
    )
    if "owner" in is_me:
        application.consent_status = "not_needed"
    else:
        application.consent_record_id = bb.ask_owner_consent(im, settings, named["owner"][0])
        application.consent_status = "requested"
    session.add(application)
    session.flush()
    for role, (vid, name) in named.items():
        session.add(
            Party(application_id=application.id, role=role, vid=vid, name=name, sub=user.sub if role in is_me else None)
        )
    summary = f"{user.name} started {application.id} on parcel {parcel.id} ({building_type.label})"
    audiences = [f"sub:{user.sub}"]
    if application.consent_status == "requested":
        summary += "; the owner's consent is needed"
        audiences.append(f"vid:{named['owner'][0]}")
    record(session, application, "start", user.name, "draft", message_id, summary, audiences)
    return application


def link_parties(session: Session, im: IMClient, settings: ConstructionPermitSettings, user: UserSession) -> None:
    """Finds the applications that name the logged-in resident (as owner, architect or contractor): parties
    with their verified name are candidates, and Identity confirms that the VID's person is the one our OIDC
    client knows by their `sub` (`subject_matches`, a yes/no answer; the VID itself is never learnt from the
    login, and e-mail plays no part).

    New links are committed at once, after the last Identity call: the caller's next queries (which
    applications, which notifications) select by `Party.sub` in SQL, and the registry session never
    autoflushes (usecases/common/db.py), so a link only set on the object would be invisible to them."""
    candidates = session.scalars(
        select(Party).where(Party.sub.is_(None), func.lower(Party.name) == user.name.lower()).limit(20)
    ).all()
    mine = [party for party in candidates if bb.is_person(im, settings, party.vid, user.sub)]
    for party in mine:
        party.sub = user.sub
    if mine:
        session.commit()


# Documents --------------------------------------------------------------------------------------------------


def add_document(
    session: Session,
    settings: ConstructionPermitSettings,
    user: UserSession,
    application: Application,
    kind: str,
    filename: str,
    content_type: str,
    content: bytes,
    message_id: str | None,
) -> Document:
    """Stores a document with its SHA-256; the same file again returns the first upload (idempotent)."""
    if "applicant" not in roles_on(session, user, application):
        raise refused(403, "forbidden", "only the applicant uploads documents")
    if application.state not in ("draft", "action_needed"):
        raise refused(409, "invalid_state", f"documents cannot be added while the application is {application.state}")
    if kind not in DOCUMENT_KINDS:
        raise invalid(f"kind must be one of {sorted(DOCUMENT_KINDS)}")
    content_type = (content_type or "").split(";")[0].strip().lower()
    if content_type not in DOCUMENT_TYPES:
        raise refused(415, "unsupported_media_type", "documents must be PDF, PNG or JPEG")
    if not content:
        raise invalid("the file is empty")
    if len(content) > settings.max_document_bytes:
        raise refused(413, "too_large", f"documents are limited to {settings.max_document_bytes // 1024 // 1024} MB")
    if not content.startswith(DOCUMENT_TYPES[content_type]):
        raise refused(415, "unsupported_media_type", f"the file is not a {content_type.split('/')[1].upper()}")
    digest = hashlib.sha256(content).hexdigest()
    same = session.scalars(
        select(Document).where(
            Document.application_id == application.id, Document.kind == kind, Document.sha256 == digest
        )
    ).first()
    if same is not None:
        return same
    document = Document(
        application_id=application.id,
        kind=kind,
        filename=(filename or kind)[-200:],
        content_type=content_type,
        size=len(content),
        sha256=digest,
        content=content,
    )
    session.add(document)
    record(
        session,
        application,
        "upload",
        user.name,
        application.state,
        message_id,
        f"{DOCUMENT_KINDS[kind]} uploaded to {application.id}",
        [],
        note=f"sha256 {digest}",
    )
    return document


def missing_documents(session: Session, application: Application) -> list[str]:
    present = {d.kind for d in documents(session, application)}
    return [kind for kind in DOCUMENT_KINDS if kind not in present]


# The owner's consent ----------------------------------------------------------------------------------------


def decide_consent(
    session: Session,
    im: IMClient,
    settings: ConstructionPermitSettings,
    user: UserSession,
    application: Application,
    decision: str,
    message_id: str | None,
) -> Application:
    owner = parties(session, application)["owner"]
    if owner.sub != user.sub:
        raise refused(403, "forbidden", "only the parcel's owner decides on this consent")
    if decision not in ("give", "refuse"):
        raise invalid("decision must be give or refuse")
    if application.consent_status not in ("requested", "given", "refused") or application.state != "draft":
        raise refused(409, "invalid_state", "this application does not wait for the owner's consent")
    evidence = {
        "applicationId": application.id,
        "parcelId": application.parcel_id,
        "decision": decision,
        "authenticatedBy": "Identity BB (OIDC)",
        "sub": user.sub,
        "at": utcnow().isoformat(),
    }
    bb.set_owner_consent(
        im, settings, application.consent_record_id, owner.vid, decision == "give", evidence, user.proof
    )
    application.consent_status = "given" if decision == "give" else "refused"
    record(
        session,
        application,
        f"consent_{decision}",
        user.name,
        application.state,
        message_id,
        f"The owner {'gave' if decision == 'give' else 'refused'} consent for {application.id}",
        [f"sub:{application.applicant_sub}", f"sub:{user.sub}"],
    )
    return application


# Actions ----------------------------------------------------------------------------------------------------


def _text(form: dict, name: str, what: str) -> str:
    value = str(form.get(name) or "").strip()
    if not value:
        raise invalid(f"{name} is required: {what}")
    return value[:1000]


def _slots(form: dict) -> list[str]:
    raw = form.get("slots")
    raw = raw.split(",") if isinstance(raw, str) else raw
    raw = [v for v in raw if str(v).strip()] if isinstance(raw, list) else raw
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_VISIT_SLOTS:
        raise invalid(f"slots: 1 to {MAX_VISIT_SLOTS} date-times (ISO 8601)")
    slots = []
    for value in raw:
        try:
            when = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise invalid(f"slots: {str(value)[:40]!r} is not an ISO 8601 date-time") from None
        when = as_utc(when)
        if when <= utcnow():
            raise invalid("slots must be in the future")
        slots.append(when.strftime("%Y-%m-%dT%H:%MZ"))
    return sorted(set(slots))


def _check_submittable(
    session: Session,
    im: IMClient,
    settings: ConstructionPermitSettings,
    application: Application,
) -> None:
    missing = missing_documents(session, application)
    if missing:
        raise invalid("documents missing: " + ", ".join(DOCUMENT_KINDS[k] for k in missing))
    if application.consent_status == "not_needed":
        return
    if application.consent_status != "given":
        raise invalid("the owner has not given consent")
    owner = parties(session, application)["owner"]
    if not bb.owner_consent_valid(im, settings, owner.vid):
        application.consent_status = "refused"
        raise invalid("Consent no longer holds a valid signed consent of the owner")


def act(
    session: Session,
    im: IMClient,
    settings: ConstructionPermitSettings,
    user: UserSession,
    application: Application,
    action: str,
    form: dict,
    message_id: str | None,
) -> Application:
    """Takes one action of `states.ACTIONS` (403 wrong role, 409 wrong state, 422 missing facts)."""
    if action not in states.ACTIONS or states.SYSTEM in states.ACTIONS[action].roles:
        raise refused(404, "not_found", f"no action {action}")
    roles = roles_on(session, user, application)
    before = application.state
    try:
        after = states.apply(before, action, roles)
    except states.Forbidden as exc:
        raise refused(403, "forbidden", str(exc)) from exc
    except states.InvalidTransition as exc:
        raise refused(409, "invalid_state", str(exc)) from exc
    note, audiences, summary = None, people(session, application), f"{application.id}: {action.replace('_', ' ')}"
    if action == "submit":
        _check_submittable(session, im, settings, application)
        audiences = [f"sub:{application.applicant_sub}", "role:permit_officer"]
        summary = f"{application.id} submitted by {user.name}: ready for review"
    elif action == "request_documents":
        note = application.documents_requested = _text(form, "note", "which documents, and why")
        summary = f"{application.id}: action needed - {note}"
    elif action == "propose_visit":
        application.visit_slots = _slots(form)
        summary = f"{application.id}: choose a field-visit slot ({len(application.visit_slots)} proposed)"
    elif action == "choose_visit_slot":
        slot = str(form.get("slot") or "")
        if slot not in application.visit_slots:
            raise invalid("slot must be one of the proposed slots")
        application.visit_at = slot
        audiences += ["role:permit_officer"]
        summary = f"{application.id}: field visit on {readable(slot)}"
    elif action == "record_visit":
        note = application.visit_report = _text(form, "report", "what the visit found")
        summary = f"{application.id}: field visit report recorded"
    elif action == "approve_in_principle":
        building_type = rules.building_types()[application.building_type]
        application.fee = building_type.fee(application.floor_area_m2)
        application.bill_id = billing.issue_bill(session, settings, application.id, application.fee).id
        note = application.decision_note = str(form.get("note") or "")[:1000] or None
        summary = f"{application.id} approved in principle: pay {application.fee} USD, bill {application.bill_id}"
    elif action == "reject":
        note = application.decision_note = _text(form, "note", "the reason for the refusal")
        summary = f"{application.id} refused: {note}"
    elif action in ("grant_clearance", "refuse_clearance"):
        return _clearance(session, user, application, action, form, message_id)
    elif action == "sign":
        permit.issue(session, settings, application, user.name)
        summary = f"Permit {application.permit_number} issued for {application.id}"
    application.state = after
    record(session, application, action, user.name, before, message_id, summary, audiences, note)
    return application


def _clearance(
    session: Session, user: UserSession, application: Application, action: str, form: dict, message_id: str | None
) -> Application:
    authority = next((a for a, role in states.CLEARANCE_ROLES.items() if role in user.roles), None)
    clearance = next((c for c in clearances(session, application) if c.authority == authority), None)
    if clearance is None:
        raise refused(409, "invalid_state", f"{application.id} needs no {authority} clearance")
    if clearance.status != "pending":
        raise refused(409, "invalid_state", f"the {authority} clearance is already {clearance.status}")
    granted = action == "grant_clearance"
    note = str(form.get("note") or "")[:1000] or None
    if not granted and not note:
        raise invalid("note is required: the reason for refusing the clearance")
    clearance.status, clearance.decided_by, clearance.note, clearance.decided_at = (
        ("granted" if granted else "refused"),
        user.name,
        note,
        utcnow(),
    )
    before = application.state
    label = authority.replace("_", " ")
    if not granted:
        application.state = "rejected"
        record(
            session,
            application,
            action,
            user.name,
            before,
            message_id,
            f"{application.id}: {label} clearance refused - {note}",
            people(session, application),
            note,
        )
        return application
    record(
        session,
        application,
        action,
        user.name,
        before,
        message_id,
        f"{application.id}: {label} clearance granted",
        people(session, application),
        note,
    )
    if all(c.status == "granted" for c in clearances(session, application)):
        session.flush()
        application.state = states.apply(application.state, "all_cleared", {states.SYSTEM})
        record(
            session,
            application,
            "all_cleared",
            "municipality",
            before,
            message_id,
            f"{application.id}: every clearance granted, waiting for the mayor's signature",
            people(session, application) + ["role:mayor"],
        )
    return application


# Payment ----------------------------------------------------------------------------------------------------


def confirm_payment(session: Session, bill: Bill, message_id: str | None) -> None:
    """Payments marked the bill paid (and we ACKed): the clearances the building type needs start, in parallel."""
    application = session.get(Application, bill.reference)
    if application is None or application.state != "awaiting_payment":
        return  # a resent mark-bill-paid, or a bill that is not a permit fee
    before = application.state
    application.state = states.apply(before, "confirm_payment", {states.SYSTEM})
    needed = rules.building_types()[application.building_type].clearances
    for authority in needed:
        session.add(Clearance(application_id=application.id, authority=authority))
    record(
        session,
        application,
        "confirm_payment",
        "Payments BB",
        before,
        message_id,
        f"{application.id}: fee of {bill.amount} USD paid; clearance by {', '.join(needed)}",
        people(session, application) + [f"role:{states.CLEARANCE_ROLES[a]}" for a in needed],
    )


def request_to_pay(
    session: Session,
    im: IMClient,
    settings: ConstructionPermitSettings,
    user: UserSession,
    application: Application,
    message_id: str | None,
) -> Application:
    """Sends a request-to-pay for the fee to the applicant's bank (found by their VID) through the hub."""
    if "applicant" not in roles_on(session, user, application):
        raise refused(403, "forbidden", "only the applicant asks for a request to pay")
    if application.state != "awaiting_payment" or application.bill_id is None:
        raise refused(409, "invalid_state", "there is no unpaid fee")
    applicant = next((p for p in parties(session, application).values() if p.sub == user.sub), None)
    if applicant is None:
        raise refused(409, "invalid_state", "your VID is not on this application")
    if application.rtp_id is None:
        application.rtp_id = int.from_bytes(hashlib.sha256(application.id.encode()).digest()[:4], "big") >> 1
    bb.send_request_to_pay(im, settings, application.rtp_id, application.bill_id, application.fee, applicant.vid)
    record(
        session,
        application,
        "request_to_pay",
        user.name,
        application.state,
        message_id,
        f"{application.id}: request to pay {application.fee} USD sent to your bank",
        [f"sub:{user.sub}"],
    )
    return application
