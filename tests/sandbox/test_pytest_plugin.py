"""The pytest plugin (sandbox/pytest_plugin.py), as a team uses it: its own test file, run by pytest with the
plugin loaded through the `pytest11` entry point, against a sandbox the plugin starts or one already running."""

from __future__ import annotations

import pytest

from tests.support import TEST_DATABASE_URL
from tests.usecases.stack import running_stack

pytest_plugins = ["pytester"]

TEAM_TESTS = """
import httpx

G2P = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS/g2p"


def test_usct_reaches_payments_through_the_im(govstack_im_client, govstack_urls, govstack_trace, govstack_test_id):
    usct = govstack_im_client("USCT")
    answer = usct.request_sync(G2P, "GET", "/api/v1/batch/detail", params={"batchId": govstack_test_id})
    assert "X-Road-Error" not in answer.headers, answer.text
    assert [(e["client"], e["service"]) for e in govstack_trace()] == [("SANDBOX/GOV/SOCIAL-WELFARE/USCT", G2P)]
    assert httpx.get(govstack_urls["payments"] + "/health").status_code == 200


def test_an_application_without_the_right_is_refused(govstack_im_client, govstack_trace):
    refused = govstack_im_client("MUNICIPALITY/CONSTRUCTION-PERMIT").request_sync(G2P, "POST", "/bulk-payment")
    assert refused.headers["X-Road-Error"] == "Client.AccessDenied"
    assert len(govstack_trace()) == 1  # this test's exchange only
"""


def _database_option() -> list[str]:
    return ["--govstack-sandbox-database-url", TEST_DATABASE_URL] if TEST_DATABASE_URL else []


def test_the_plugin_starts_a_sandbox_for_a_teams_tests(pytester: pytest.Pytester):
    pytester.makepyfile(test_team=TEAM_TESTS)
    result = pytester.runpytest_subprocess("--govstack-sandbox-only", "payments", *_database_option())
    result.assert_outcomes(passed=2)


def test_the_plugin_uses_a_running_sandbox(pytester: pytest.Pytester, tmp_path):
    with running_stack(tmp_path / "var", ("information_mediator", "payments"), "plugin") as running:
        pytester.makepyfile(test_team=TEAM_TESTS)
        result = pytester.runpytest_subprocess("--govstack-sandbox", str(running.data_dir))
        result.assert_outcomes(passed=2)


def test_the_plugin_does_nothing_unless_its_fixtures_are_used(pytester: pytest.Pytester):
    pytester.makepyfile(test_other="def test_plain():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert not list(pytester.path.rglob("govstack-sandbox*")) and not list(pytester.path.rglob("sandbox.json"))
