"""Consent behind a real Information Mediator: the caller the IM vouches for is what the Consent BB records."""

from __future__ import annotations

import httpx
import pytest

from services.consent.app import create_app as create_consent
from services.consent.settings import ConsentSettings
from tests.services.consent.conftest import PROOF, USCT
from tests.services.consent.identity_login import login, new_relying_party
from tests.services.identity.conftest import running_identity
from tests.support import LiveServer

im_app = pytest.importorskip("services.information_mediator.app")
from services.common.im_client import hash_secret  # noqa: E402
from services.information_mediator.settings import IMSettings  # noqa: E402

ADMIN = "test-admin-token"
USCT_CLIENT = "SANDBOX/GOV/SOCIAL-WELFARE/USCT"
USCT_SECRET = "usct-secret"
CONSENT_CLIENT = "SANDBOX/GOV/DATA-PROTECTION-AUTHORITY/CONSENT"
CONSENT_SECRET = "consent-secret"
CONSENT = "/r1/SANDBOX/GOV/DATA-PROTECTION-AUTHORITY/CONSENT/consent"
KOFI = {"uin": "9369006020", "vid": "9038952310"}
AMINA_VID = "2405176278"


def identity_member(identity_url: str) -> dict:
    """Identity's verification service, which Consent (only) may call, as in sandbox/topology.yaml."""
    return {
        "name": "National Identity Authority",
        "class": "GOV",
        "code": "IDENTITY-AUTHORITY",
        "applications": [
            {
                "id": "IDENTITY",
                "services": [
                    {
                        "id": "verification",
                        "serviceUrl": identity_url,
                        "specUrl": f"{identity_url}/openapi.json",
                        "enabled": True,
                        "rights": [
                            {
                                "member": "DATA-PROTECTION-AUTHORITY",
                                "application": "CONSENT",
                                "endpoints": [{"method": "POST", "path": "/v1/verification"}],
                            }
                        ],
                    }
                ],
            }
        ],
    }


def im_conf(consent_url: str, identity_url: str | None = None) -> dict:
    conf = {
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
                        "secretHash": hash_secret(CONSENT_SECRET),
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
    if identity_url:
        conf["members"].append(identity_member(identity_url))
    return conf


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

            # a consent request (the resident has not answered yet: no proof of them needed)
            created = http.post(
                f"{CONSENT}/service/individual/record/data-agreement/{USCT}/",
                params={"individualId": "9369006020", "optIn": "false"},
                headers=headers,
            )
            assert created.status_code == 200, created.text
            assert created.json()["revision"]["authorizedByOther"] == USCT_CLIENT
            answer = http.get(
                f"{CONSENT}/service/verification/consent-records/",
                headers=headers,
                params={"dataAgreementId": USCT, "individualId": "9369006020"},
            ).json()
            assert answer["verifications"][0]["consentRecordId"] == created.json()["consentRecord"]["id"]
            assert answer["verifications"][0]["consent"] is False

            # straight to the service, bypassing the IM: refused, nothing recorded
            direct = httpx.get(
                f"{consent.url}/service/verification/consent-records/",
                params={"dataAgreementId": USCT, "individualId": "9369006020"},
            )
            assert direct.status_code == 401
            log = http.get(f"{CONSENT}/audit/verifications/", headers=headers).json()["verifications"]
            assert [e["caller"] for e in log] == [USCT_CLIENT]


def test_consent_asks_identity_through_the_im_whose_proof_it_is(make_db_fields, tmp_path):
    """The whole chain with real services: a resident logs in at Identity; USCT passes the ID token along;
    Consent checks it against Identity's keys and asks Identity, through the IM as its own client, whether
    that subject is the individual the consent is recorded for."""
    im_settings = IMSettings(**make_db_fields("im"), data_dir=tmp_path / "im", admin_token=ADMIN)
    with (
        LiveServer(im_app.create_app(im_settings)) as im,
        running_identity(make_db_fields("identity"), tmp_path / "identity", im_url=im.url) as identity,
    ):
        rp = new_relying_party(identity.url)
        kofi, amina = login(identity.url, rp, KOFI["vid"]), login(identity.url, rp, AMINA_VID)
        consent_settings = ConsentSettings(
            **make_db_fields("consent"),
            data_dir=tmp_path / "consent",
            im_url=im.url,
            im_client=CONSENT_CLIENT,
            im_client_secret=CONSENT_SECRET,
            identity_url=identity.url,
        )
        with LiveServer(create_consent(consent_settings)) as consent, httpx.Client(base_url=im.url, timeout=30) as http:
            conf = im_conf(consent.url, identity.url)
            r = http.put("/api/v1/config", json=conf, headers={"Authorization": f"Bearer {ADMIN}"})
            assert r.status_code == 201, r.text
            headers = {"Information-Mediator-Client": USCT_CLIENT, "Information-Mediator-Client-Secret": USCT_SECRET}
            path = f"{CONSENT}/service/individual/record/data-agreement/{USCT}/"
            params = {"individualId": KOFI["uin"]}

            refused = http.post(path, params=params, headers={**headers, PROOF: amina.id_token})
            assert refused.status_code == 403, refused.text
            assert "not for this individual" in refused.json()["message"]
            given = http.post(path, params=params, headers={**headers, PROOF: kofi.id_token})
            assert given.status_code == 200, given.text
            assert given.json()["consentRecord"]["optIn"] is True
