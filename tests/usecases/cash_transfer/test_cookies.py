"""Cookie flags of the login: `Secure` when the use case's public URL is https, never on plain http."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from usecases.cash_transfer.app import create_app
from usecases.cash_transfer.settings import CashTransferSettings


@pytest.mark.parametrize(("public_url", "secure"), [("https://usct.example", True), (None, False)])
def test_the_pre_login_cookie_is_secure_exactly_when_the_public_url_is_https(db_fields, tmp_path, public_url, secure):
    settings = CashTransferSettings(data_dir=tmp_path, public_url=public_url, seed=False, **db_fields)
    with TestClient(create_app(settings)) as client:
        started = client.get("/login", follow_redirects=False)
    cookie = started.headers["set-cookie"].lower()
    assert cookie.startswith("usct_session_login=") and "httponly" in cookie and "path=/auth" in cookie
    assert ("; secure" in cookie) is secure
    assert started.headers["x-frame-options"] == "DENY"
