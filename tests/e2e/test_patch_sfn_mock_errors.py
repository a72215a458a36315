"""Contract test of localstack_plugin/patches/sfn_mock_errors.py, run in LocalStack's own venv.

Fails when the mocked-throw function moves or changes signature, when LocalStack stops looking it up
at call time (the patch would then be silently bypassed), or when the hook stops replacing it. The
behaviour (a mocked States.Timeout recorded as TaskTimedOut) is tested end to end in
tests/e2e/test_sfn_mocked_workflow.py.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from harness.config import load_settings
from harness.embedded.localstack import ensure_venv

pytestmark = pytest.mark.e2e

CHECK = r"""
import inspect, json
from localstack.services.stepfunctions.asl.component.state.state_execution.state_task import mock_eval_utils
from localstack.services.stepfunctions.asl.component.common.error_name import custom_error_name
CustomErrorName = custom_error_name.CustomErrorName

before = {
    "params": list(inspect.signature(mock_eval_utils._eval_mocked_response_throw).parameters),
    "looked_up_by_name": (
        "_eval_mocked_response_throw" in mock_eval_utils.eval_mocked_response.__code__.co_names
    ),
}
try:
    CustomErrorName("States.Timeout")
    before["custom_refuses_states"] = False
except Exception:
    before["custom_refuses_states"] = True

from localstack_plugin.patches import sfn_mock_errors
sfn_mock_errors.mock_states_errors()
after = getattr(mock_eval_utils._eval_mocked_response_throw, "__wrapped__", None) is not None
print(json.dumps({"before": before, "after": after}))
"""


def test_the_mocked_throw_is_replaced_where_localstack_looks_it_up() -> None:
    python = ensure_venv(load_settings())
    done = subprocess.run([str(python), "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["before"] == {
        "params": ["env", "mocked_response"],
        "looked_up_by_name": True,
        # Still needed: LocalStack refuses States.* names for mocked errors.
        "custom_refuses_states": True,
    }
    assert result["after"] is True
