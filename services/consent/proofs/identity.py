"""Is the person behind an individual's UIN/VID the one an OIDC client knows by `sub`? Only Identity knows.

Consent asks Identity's yes/no verification API (`POST /v1/verification`, predicate `subject_matches`):
through the IM as its own IM client in the sandbox (`through_im`), or straight with Identity's
administrator token (`direct`, for an operator's tools and tests). Both are the same real HTTP call.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx

from services.common.im_client import IMClient
from services.consent.proofs.tokens import IdentityUnreachable

Post = Callable[[dict[str, Any]], httpx.Response]


class IdentitySubjects:
    def __init__(self, post: Post):
        self._post = post

    @classmethod
    def through_im(cls, im: IMClient, service_id: str) -> IdentitySubjects:
        return cls(lambda body: im.request_sync(service_id, "POST", "/v1/verification", json=body))

    @classmethod
    def direct(cls, identity_url: str, admin_token: str) -> IdentitySubjects:
        url = identity_url.rstrip("/") + "/v1/verification"
        headers = {"Authorization": f"Bearer {admin_token}"}
        return cls(lambda body: httpx.post(url, json=body, headers=headers, timeout=10))

    def matches(self, individual_id: str, client_id: str, sub: str) -> bool:
        """True iff Identity says the person behind `individual_id` (UIN or VID) is `sub` at `client_id`."""
        body = {
            "requestId": uuid.uuid4().hex,
            "individualId": individual_id,
            "predicates": [{"type": "subject_matches", "value": {"clientId": client_id, "sub": sub}}],
        }
        try:
            response = self._post(body)
        except httpx.HTTPError as exc:
            raise IdentityUnreachable(f"Identity could not be asked ({type(exc).__name__})") from exc
        if response.status_code == 400:
            return False  # e.g. a client id Identity cannot have issued: no match
        if response.status_code != 200:
            raise IdentityUnreachable(f"Identity answered {response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise IdentityUnreachable("Identity's answer is not JSON") from exc
        return isinstance(answer, dict) and answer.get("verified") is True
