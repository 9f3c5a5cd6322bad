from __future__ import annotations

import hashlib
import hmac
import json
import time

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from services.consent.app import create_app
from tests.services.consent.conftest import ADMIN, HEADER, OPERATOR, USCT, Receiver, assert_400, new_individual
from tests.support import IMSigner, wait_until

SECRET = "s3cret-webhook-key"
USCT_APP, PAYMENTS_APP = "SANDBOX/GOV/SOCIAL-WELFARE/USCT", "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS"
IM = "http://im.test:8000"


def _hook(client, url, **extra):
    r = client.post("/config/webhook/", json={"webhook": {"payloadUrl": url, "secretKey": SECRET, **extra}})
    assert r.status_code == 200, r.text
    return r.json()["webhook"]


def allow(client, *urls):
    """Allow-lists webhook targets outside the IM (a test receiver's port is known only once it listens)."""
    client.app.state.settings.callback_allow_list.extend(urls)


def _expected_signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_webhook_crud_never_reveals_the_secret(client, settings):
    allow(client, "https://example.org/", "http://x.example/")
    hook = _hook(client, "https://example.org/hook", subscribedEvents=["consent.given"])
    assert hook["secretKey"] == SECRET and hook["disabled"] is False and hook["contentType"] == "application/json"
    read = client.get(f"/config/webhook/{hook['id']}/").json()["webhook"]
    assert read["secretKey"] == "********" and read["subscribedEvents"] == ["consent.given"]
    updated = client.put(
        f"/config/webhook/{hook['id']}/",
        json={"webhook": {"payloadUrl": "https://example.org/other", "disabled": True}},
    ).json()["webhook"]
    assert updated["payloadUrl"] == "https://example.org/other" and updated["disabled"] is True
    assert [h["id"] for h in client.get("/config/webhooks/").json()["webhooks"]] == [hook["id"]]
    generated = client.post("/config/webhook/", json={"webhook": {"payloadUrl": "http://x.example"}}).json()["webhook"]
    assert len(generated["secretKey"]) >= 32

    url, schema = settings.resolved_database()
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"} if schema else {})
    with engine.connect() as conn:
        stored = [row[0] for row in conn.execute(text("SELECT secret_encrypted FROM consent_webhook"))]
    engine.dispose()
    assert stored and all(SECRET not in s and generated["secretKey"] not in s for s in stored)

    assert client.delete(f"/config/webhook/{hook['id']}/").status_code == 200
    assert_400(client.get(f"/config/webhook/{hook['id']}/"))
    events = client.get("/config/webhook-events/").json()["webhookEvents"]
    assert {"consent.given", "consent.withdrawn", "data_agreement.updated"} <= {e["name"] for e in events}


def test_webhook_bad_input(client):
    allow(client, "http://x/")
    for bad in (
        {"payloadUrl": "ftp://x"},
        {},
        {"payloadUrl": "http://x", "subscribedEvents": ["nope"]},
        {"payloadUrl": "http://x", "contentType": "text/xml"},
        {"payloadUrl": "http://x", "secretKey": "short"},
    ):
        assert_400(client.post("/config/webhook/", json={"webhook": bad}))
    assert_400(client.put("/config/webhook/nope/", json={"webhook": {"payloadUrl": "http://x"}}))
    assert_400(client.delete("/config/webhook/nope/"))
    assert_400(client.get("/config/webhook/nope/deliveries/"))
    assert client.get("/config/webhooks/").json()["webhooks"] == []


def test_events_are_delivered_signed_and_only_when_subscribed(client):
    with Receiver() as receiver:
        allow(client, receiver.url)
        _hook(client, receiver.url, subscribedEvents=["consent.given", "consent.withdrawn"])
        person = new_individual(client)
        record = client.post(
            f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": person}
        ).json()["consentRecord"]
        client.put(
            f"/service/individual/record/consent-record/{record['id']}/",
            headers={HEADER: person},
            json={"consentRecord": {"optIn": False}},
        )
        assert wait_until(lambda: len(receiver.requests) >= 2, timeout=10)
        time.sleep(0.3)
    assert len(receiver.requests) == 2  # agreement or signature events were not subscribed
    for request in receiver.requests:
        assert request["headers"]["X-ConsentBB-Signature"] == _expected_signature(request["body"])
    bodies = [json.loads(r["body"]) for r in receiver.requests]
    assert [b["event"] for b in bodies] == ["consent.given", "consent.withdrawn"]
    assert all(b["data"]["consentRecordId"] == record["id"] and b["data"]["individualId"] == person for b in bodies)
    assert receiver.requests[0]["headers"]["X-ConsentBB-Event"] == "consent.given"


def test_failed_deliveries_are_retried_with_backoff_and_do_not_block(client):
    with Receiver(statuses=[500, 503]) as receiver:
        allow(client, receiver.url)
        hook = _hook(client, receiver.url, subscribedEvents=["data_agreement.updated"])
        agreement = client.get(f"/config/data-agreement/{USCT}/").json()["dataAgreement"]
        client.put(
            f"/config/data-agreement/{USCT}/",
            json={"dataAgreement": {**agreement, "policy": agreement["policy"]["id"]}},
        )
        assert wait_until(lambda: len(receiver.requests) >= 3, timeout=10)
    bodies = {r["body"] for r in receiver.requests}
    assert len(bodies) == 1  # the same event, retried
    deliveries = client.get(f"/config/webhook/{hook['id']}/deliveries/").json()["deliveries"]
    assert wait_until(
        lambda: client.get(f"/config/webhook/{hook['id']}/deliveries/").json()["deliveries"][0]["status"] == "delivered"
    )
    delivered = client.get(f"/config/webhook/{hook['id']}/deliveries/").json()["deliveries"][0]
    assert delivered["attempts"] == 3 and delivered["event"] == "data_agreement.updated"
    assert deliveries


def test_dead_target_gives_up_without_failing_requests(client):
    dead = "http://127.0.0.1:9/unreachable"
    allow(client, dead)
    hook = _hook(client, dead)
    started = time.monotonic()
    person = new_individual(client)
    r = client.post(f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": person})
    assert r.status_code == 200 and time.monotonic() - started < 2
    # 4 attempts at 0.05 s, 0.1 s, 0.2 s back-off, then failed
    assert wait_until(
        lambda: client.get(f"/config/webhook/{hook['id']}/deliveries/").json()["deliveries"][0]["status"] == "failed",
        timeout=10,
    )
    delivery = client.get(f"/config/webhook/{hook['id']}/deliveries/").json()["deliveries"][0]
    assert delivery["attempts"] == 4 and delivery["lastError"]


def test_webhook_under_the_im_is_sent_with_this_service_im_identity(db_fields, tmp_path):
    from services.consent.settings import ConsentSettings

    with Receiver() as receiver:
        im_url = receiver.url.rsplit("/", 1)[0]
        settings = ConsentSettings(
            **db_fields,
            data_dir=tmp_path,
            im_url=im_url,
            im_client_secret="im-secret",
            admin_token=ADMIN,
            webhook_retry_base_seconds=0.05,
            webhook_poll_seconds=0.05,
            callback_allow_list=[receiver.url],
        )
        app = create_app(settings)
        with IMSigner(USCT_APP).attach(TestClient(app), app) as client:  # a webhook on its own IM service
            _hook(
                client,
                im_url + "/r1/SANDBOX/GOV/SOCIAL-WELFARE/USCT/callbacks/consent",
                subscribedEvents=["consent.given"],
            )
            _hook(client, receiver.url, subscribedEvents=["consent.given"])
            person = new_individual(client)
            given = client.post(  # the operator records consent (no individual's proof needed) for USCT's agreement
                f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": person}, headers=OPERATOR
            )
            assert given.status_code == 200, given.text
            assert wait_until(lambda: len(receiver.requests) >= 2, timeout=10)
    im_calls = [r for r in receiver.requests if r["headers"].get("Information-Mediator-Client")]
    assert len(im_calls) == 1
    assert im_calls[0]["headers"]["Information-Mediator-Client"] == "SANDBOX/GOV/DATA-PROTECTION-AUTHORITY/CONSENT"
    assert im_calls[0]["headers"]["Information-Mediator-Client-Secret"] == "im-secret"


def _as_usct(settings):
    app = create_app(settings.model_copy(update={"im_url": IM}))
    return IMSigner(USCT_APP).attach(TestClient(app), app)


def test_a_webhook_naming_another_members_im_service_is_refused_and_nothing_stored(settings):
    """Deliveries to an IM URL carry Consent's IM credential: a controller may name only its own services."""
    with _as_usct(settings) as client:
        for url in (
            f"{IM}/r1/{PAYMENTS_APP}/g2p/bulk-payment",
            f"{IM}/r1/{USCT_APP}/callbacks/../../../../PAYMENTS-AUTHORITY/PAYMENTS/g2p/bulk-payment",
            "http://attacker.example/hook",
        ):
            refused = client.post("/config/webhook/", json={"webhook": {"payloadUrl": url}})
            assert "payloadUrl" in assert_400(refused)["message"], url
        assert client.get("/config/webhooks/").json()["webhooks"] == []

        own = f"{IM}/r1/{USCT_APP}/callbacks/consent"
        hook = _hook(client, own)
        moved = client.put(
            f"/config/webhook/{hook['id']}/", json={"webhook": {"payloadUrl": f"{IM}/r1/{PAYMENTS_APP}/g2p/x"}}
        )
        assert "payloadUrl" in assert_400(moved)["message"]
        assert client.get(f"/config/webhook/{hook['id']}/").json()["webhook"]["payloadUrl"] == own


def test_without_a_verified_caller_only_allow_listed_webhooks_are_accepted(settings):
    listed = "https://receiver.example/consent/"
    direct = settings.model_copy(update={"im_url": IM, "require_im_assertion": False, "callback_allow_list": [listed]})
    with TestClient(create_app(direct)) as client:  # nobody the IM vouches for
        refused = client.post("/config/webhook/", json={"webhook": {"payloadUrl": f"{IM}/r1/{USCT_APP}/callbacks/c"}})
        assert_400(refused)
        assert _hook(client, listed + "hook")["payloadUrl"] == listed + "hook"
