"""Function errors name Lambda's folders (/var/task, /opt/python, /var/lang), not this machine's."""

from __future__ import annotations

import json
from pathlib import Path

from localstack_plugin.error_paths import RUNTIME_SITE_PACKAGES, aws_error_body, aws_paths

ROOT = Path("/home/me/scones/.harness/localstack/tmp/code-1234")


def test_code_layer_and_library_frames_are_rewritten() -> None:
    trace = [
        f'  File "{ROOT}/lambda_function.py", line 59, in lambda_handler\n    raise Oops()\n',
        '  File "/layers/pandas/python/helpers.py", line 3, in f\n    x()\n',
        '  File "/home/me/scones/.venv/lib/python3.11/site-packages/botocore/client.py", line 1, in g\n',
    ]
    body = json.dumps({"errorType": "Oops", "errorMessage": "m", "stackTrace": trace}).encode()

    out = json.loads(aws_error_body(body, ROOT, [Path("/layers/pandas/python")]))

    assert out["stackTrace"][0].startswith('  File "/var/task/lambda_function.py", line 59')
    assert out["stackTrace"][1].startswith('  File "/opt/python/helpers.py"')
    assert out["stackTrace"][2].startswith(f'  File "{RUNTIME_SITE_PACKAGES}/botocore/client.py"')
    assert (out["errorType"], out["errorMessage"]) == ("Oops", "m")


def test_messages_and_bodies_without_a_trace_are_left_alone() -> None:
    assert aws_error_body(b"not json", ROOT) == b"not json"
    plain = json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": f"see {ROOT}"}).encode()
    assert aws_error_body(plain, ROOT) == plain
    assert aws_paths(f"message about {ROOT}/x.py", ROOT) == f"message about {ROOT}/x.py"
