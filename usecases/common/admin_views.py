"""The administrator's page and JSON API for a use case's role assignments (`roles.py`): list, grant by VID
and name (pending until that person's first login), revoke. Only administrators; the page's forms carry the
CSRF token (`security.form_guard`), the API's cookie-authenticated writes pass the origin check
(`security.SecurityMiddleware`)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from services.common.errors import APIError
from services.common.im_client import current_message_id

from . import oidc, pages, roles
from .dependencies import DB, IM, FormFields, Settings
from .schemas import AS_BUILT, RoleAssignmentAnswer, RoleAssignmentList
from .security import form_guard

# (request, db session, the administrator, template context) -> the page (the use case's layout)
Render = Callable[[Request, Session, object, dict], HTMLResponse]
API = "/api/v1/admin/role-assignments"
AssignmentId = Path(ge=1, le=2**31 - 1)


class Grant(BaseModel):
    vid: str = Field(min_length=1, max_length=20, description="the resident's VID")
    name: str = Field(min_length=1, max_length=200, description="their full name, as on the ID")
    role: str = Field(min_length=1, max_length=40)


def admin_router(tables: roles.RoleTables, cookie: str, render: Render) -> APIRouter:
    router = APIRouter(tags=["role assignments"])

    def require_admin(request: Request, session: DB) -> object:
        """The logged-in administrator, else 401 (no login) or 403."""
        user = oidc.current_user(request, session, tables.sessions, cookie)
        return oidc.require_role(user, roles.ADMINISTRATOR)

    admin = Depends(require_admin)  # a default, not an Annotated alias: this module's annotations are strings

    @router.get(API, summary="Role assignments (administrators only)", response_model=RoleAssignmentList, **AS_BUILT)
    def listing(session: DB, _: object = admin) -> dict:
        rows = roles.listing(session, tables)
        return {"roleAssignments": [roles.view(r) for r in rows], "roles": list(tables.assignable)}

    @router.post(
        API,
        status_code=201,
        summary="Grant a role by VID and name; pending until their first login",
        response_model=RoleAssignmentAnswer,
        **AS_BUILT,
    )
    def grant(body: Grant, session: DB, im: IM, settings: Settings, user: object = admin) -> dict:
        row = roles.grant(session, im, settings, tables, body.vid, body.name, body.role, user.name)
        return {"roleAssignment": roles.view(row), "messageId": current_message_id.get()}

    @router.delete(
        API + "/{assignment_id}",
        summary="Revoke a role assignment (takes effect at once)",
        response_model=RoleAssignmentAnswer,
        **AS_BUILT,
    )
    def revoke(session: DB, user: object = admin, assignment_id: int = AssignmentId) -> dict:
        return {"roleAssignment": roles.view(roles.revoke(session, tables, assignment_id, user.name))}

    forms = APIRouter(include_in_schema=False, dependencies=[Depends(form_guard(cookie))])

    @forms.get("/admin", response_class=HTMLResponse)
    def page(request: Request, session: DB) -> Response:
        user = oidc.current_user(request, session, tables.sessions, cookie)
        if user is None:
            return RedirectResponse("/login?next=/admin", status_code=303)
        if roles.ADMINISTRATOR not in user.roles:
            return RedirectResponse("/?error=" + quote("this page needs the administrator role"), status_code=303)
        context = {"assignments": roles.listing(session, tables), "roles": tables.assignable, "status": roles.status}
        return render(request, session, user, context)

    @forms.post("/admin/roles")
    def grant_form(session: DB, im: IM, settings: Settings, form: FormFields, user: object = admin) -> Response:
        vid, name, role = (str(form.get(k) or "")[:200] for k in ("vid", "name", "role"))
        try:
            roles.grant(session, im, settings, tables, vid, name, role, user.name)
        except APIError as exc:
            return pages.back("/admin", f"grant {role.replace('_', ' ')}", pages.message(exc))
        return pages.back("/admin", f"grant {role.replace('_', ' ')} to {name}")

    @forms.post("/admin/roles/{assignment_id}/revoke")
    def revoke_form(session: DB, user: object = admin, assignment_id: int = AssignmentId) -> Response:
        try:
            row = roles.revoke(session, tables, assignment_id, user.name)
        except APIError as exc:
            return pages.back("/admin", "revoke", pages.message(exc))
        return pages.back("/admin", f"revoke {row.role} of {row.name}")

    router.include_router(forms)
    return router
