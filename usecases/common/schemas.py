"""Response models the use cases share, for the OpenAPI document: the routes still build their answers as
dicts, which these models check and pass on unchanged (camelCase on the wire, no field added or dropped:
routes declare them with `response_model_exclude_unset=True`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Answer(BaseModel):
    """A JSON answer: snake_case here, camelCase on the wire; fields a model does not name pass through."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


# `response_model_exclude_unset=True` with these models: the answer is exactly the dict the route built.
AS_BUILT: dict[str, Any] = {"response_model_exclude_unset": True}


class Traced(Answer):
    message_id: str | None = Field(default=None, description="the IM message id the action's calls shared")


class TraceAnswer(Answer):
    message_id: str
    trace_url: str = Field(description="the IM's trace page for this action")
    exchanges: list[dict[str, Any]] = Field(description="the IM exchanges, oldest first, as the IM logged them")


class RoleAssignmentOut(Answer):
    id: int
    role: str
    vid: str
    name: str
    status: str = Field(description="pending (until their first login), active or revoked")
    granted_by: str
    granted_at: str | None = None
    bound_at: str | None = None
    revoked_by: str | None = None
    revoked_at: str | None = None


class RoleAssignmentList(Answer):
    role_assignments: list[RoleAssignmentOut]
    roles: list[str] = Field(description="the roles an administrator assigns")


class RoleAssignmentAnswer(Traced):
    role_assignment: RoleAssignmentOut


class CSRFAnswer(Answer):
    csrf_token: str


class CallbackAnswer(Answer):
    received: bool | str
    updated: int | None = None
