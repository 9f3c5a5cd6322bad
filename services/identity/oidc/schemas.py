from __future__ import annotations

from services.identity.schemas import Schema


class TokenResponse(Schema):
    id_token: str
    access_token: str
    token_type: str
    expires_in: int


JWT_RESPONSE = {
    200: {
        "description": "A signed JWT (a JWE when the client registered `encPublicKey`)",
        "content": {"application/jwt": {"schema": {"type": "string"}}},
    }
}
