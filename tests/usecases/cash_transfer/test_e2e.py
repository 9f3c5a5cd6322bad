"""The real stack (`sandbox up` on free ports) and the demo command run to success against it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sandbox.demo_cash_transfer import cash_transfer

pytestmark = pytest.mark.e2e


def test_demo_command_runs_the_whole_journey(stack):
    args = ["--url", stack.url("cash_transfer"), "--data-dir", str(stack.data_dir), "--timeout", "60"]
    result = CliRunner().invoke(cash_transfer, args)
    assert result.exit_code == 0, result.output
    print(result.output)
    assert "paid" in result.output and "withdrawn" in result.output
    trace_page = f"{stack.url('information_mediator')}/ui/trace?token={stack.viewer_token}&messageId=<id>"
    assert trace_page in result.output


def test_demo_command_fails_without_a_running_use_case(tmp_path):
    result = CliRunner().invoke(cash_transfer, ["--data-dir", str(tmp_path)])
    assert result.exit_code != 0
