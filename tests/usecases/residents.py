"""What an attacker with the Identity BB's enrollment right can do to residents (the use cases must not care):
enroll a new resident (a namesake, say) and change a resident's e-mail address. Both with the Identity
administrator's token, directly on Identity's port, as an enrollment office would."""

from __future__ import annotations

import uuid

import httpx

from tests.e2e.launcher import RunningSandbox


def _admin(stack: RunningSandbox) -> dict[str, str]:
    token = (stack.data_dir / "identity" / "secrets" / "identity-admin-token").read_text().strip()
    return {"Authorization": f"Bearer {token}"}


def _enrollment(process: str, fields: dict) -> dict:
    return {
        "id": "govstack.enrollment",
        "version": "v1",
        "requesttime": "2026-11-22T10:00:00.000Z",
        "request": {
            "id": uuid.uuid4().hex,
            "refId": "10001_10002",
            "process": process,
            "source": "REGISTRATION_CLIENT",
            "offlineMode": False,
            "fields": fields,
        },
    }


def unique_email(tag: str = "resident") -> str:
    return f"{tag}.{uuid.uuid4().hex[:10]}@example.org"


def enroll(stack: RunningSandbox, name: str, email: str | None = None) -> str:
    """A new resident with this full name; returns their VID (they log in with the sandbox OTP)."""
    fields = {
        "fullName": name,
        "gender": "Female",
        "dateOfBirth": "1985-05-05",
        "phone": "+999 70000 " + str(uuid.uuid4().int)[:4],
        "email": email or unique_email(),
    }
    answer = httpx.put(stack.url("identity") + "/enrollment", headers=_admin(stack), json=_enrollment("NEW", fields))
    assert answer.status_code == 201, answer.text
    return answer.json()["response"][0]["vid"]


def change_email(stack: RunningSandbox, vid: str, email: str) -> None:
    update = _enrollment("UPDATE", {"VID": vid, "email": email})
    answer = httpx.put(stack.url("identity") + "/enrollment", headers=_admin(stack), json=update)
    assert answer.status_code == 200, answer.text
