"""Consent behind a real Information Mediator: the caller the IM vouches for is what the Consent BB records."""

from __future__ import annotations

import httpx
import pytest

from services.consent.app import create_app as create_consent
from services.consent.settings import ConsentSettings
from tests.services.consent.conftest import USCT
from tests.support import LiveServer

im_app = pytest.importorskip("services.information_mediator.app")
from services.common.im_client import hash_secret  # noqa: E402
from services.information_mediator.settings import IMSettings  # noqa: E402

ADMIN = "test-admin-token"
USCT_CLIENT = "SANDBOX/GOV/SOCIAL-WELFARE/USCT"
USCT_SECRET = "usct-secret"
CONSENT = "/r1/SANDBOX/GOV/DATA-PROTECTION-AUTHORITY/CONSENT/consent"


def im_conf(consent_url: str) -> dict:
    return {
        "domain": "test.localhost",
        "instance": "SANDBOX",
        "members": [
            {
                "name": "Data Protection Authority",
                "class": "GOV",
                "code": "DATA-PROTECTION-AUTHORITY",
                "applications": [
                    {
                        "id": "CONSENT",
                        "services": [
                            {
                                "id": "consent",
                                "serviceUrl": consent_url,
                                "specUrl": f"{consent_url}/openapi.json",
                                "enabled": True,
                                "rights": [{"member": "SOCIAL-WELFARE", "application": "USCT"}],
                            }
                        ],
                    }
                ],
            },
            {
                "name": "Ministry of Social Welfare",
                "class": "GOV",
                "code": "SOCIAL-WELFARE",
                "applications": [{"id": "USCT", "secretHash": hash_secret(USCT_SECRET)}],
            },
        ],
    }


def test_calls_through_the_im_record_the_vouched_client(make_db_fields, tmp_path):
    im_settings = IMSettings(**make_db_fields("im"), data_dir=tmp_path / "im", admin_token=ADMIN)
    with LiveServer(im_app.create_app(im_settings)) as im:
        consent_settings = ConsentSettings(
            **make_db_fields("consent"),
            data_dir=tmp_path / "consent",
            im_url=im.url,
            require_im_assertion=True,
            im_client=None,
        )
        with LiveServer(create_consent(consent_settings)) as consent, httpx.Client(base_url=im.url, timeout=30) as http:
            r = http.put("/api/v1/config", json=im_conf(consent.url), headers={"Authorization": f"Bearer {ADMIN}"})
            assert r.status_code == 201, r.text
            headers = {"Information-Mediator-Client": USCT_CLIENT, "Information-Mediator-Client-Secret": USCT_SECRET}

            created = http.post(
                f"{CONSENT}/service/individual/record/data-agreement/{USCT}/",
                params={"individualId": "9369006020"},
                headers=headers,
            )
            assert created.status_code == 200, created.text
            assert created.json()["revision"]["authorizedByOther"] == USCT_CLIENT
            answer = http.get(
                f"{CONSENT}/service/verification/consent-records/",
                headers=headers,
                params={"dataAgreementId": USCT, "individualId": "9369006020"},
            ).json()
            assert answer["verifications"][0]["consent"] is True

            # straight to the service, bypassing the IM: refused, nothing recorded
            direct = httpx.get(
                f"{consent.url}/service/verification/consent-records/",
                params={"dataAgreementId": USCT, "individualId": "9369006020"},
            )
            assert direct.status_code == 401
            log = http.get(f"{CONSENT}/audit/verifications/", headers=headers).json()["verifications"]
            assert [e["caller"] for e in log] == [USCT_CLIENT]
