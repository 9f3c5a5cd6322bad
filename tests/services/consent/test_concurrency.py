from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from services.consent.app import create_app
from tests.services.consent.conftest import OPERATOR, USCT
from tests.support import IMSigner, LiveServer

POLICY = {"name": "P", "version": "1", "url": "https://example.org/p"}


def test_concurrent_writes_never_fork_a_chain_or_answer_500(settings):
    app = create_app(settings)
    with (
        LiveServer(app) as server,
        IMSigner().attach(httpx.Client(base_url=server.url, timeout=30, headers=OPERATOR), app) as client,
    ):
        policy_id = client.post("/config/policy/", json={"policy": POLICY}).json()["policy"]["id"]
        person = client.post("/service/individual/", json={"individual": {"externalId": "race"}}).json()["individual"][
            "id"
        ]

        def update(i: int) -> int:
            return client.put(
                f"/config/policy/{policy_id}/", json={"policy": {**POLICY, "version": str(i)}}
            ).status_code

        def create(_: int) -> int:
            return client.post(
                f"/service/individual/record/data-agreement/{USCT}/", params={"individualId": person}
            ).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(update, range(16))) + list(pool.map(create, range(8)))
        assert set(statuses) <= {200, 400} and statuses.count(200) >= 2
        revisions = client.get(f"/config/policy/{policy_id}/revisions/").json()["revisions"]
        assert len(revisions) == 1 + statuses[:16].count(200)
        records = client.get("/service/individual/record/consent-record/", headers={"X-ConsentBB-IndividualId": person})
        assert len(records.json()["consentRecords"]) == 1
        assert client.get("/audit/integrity/").json()["ok"] is True
