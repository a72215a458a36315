"""Write a function error's file paths as Lambda's, not as this machine's.

awslambdaric builds ``stackTrace`` from the frames' real file names. Here the code runs from the
folder LocalStack unzipped it to and the libraries from the project's venv, so a cause read from
Step Functions (``GetExecutionHistory``, ``DescribeExecution``) showed host paths such as
``/home/me/project/.harness/localstack/tmp/.../lambda_function.py``. On AWS the same frames read
``/var/task/lambda_function.py`` (the code), ``/opt/python/...`` (layers) and
``/var/lang/lib/python3.11/site-packages/...`` (the runtime's libraries). Only the error body is
rewritten: what the handler itself prints to its log is left as it ran.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

TASK_ROOT = "/var/task"
LAYER_ROOT = "/opt/python"
RUNTIME_SITE_PACKAGES = f"/var/lang/lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
# Any folder ending in site-packages or dist-packages, as it appears in a traceback line.
_SITE_PACKAGES = re.compile(r'(File ")[^"]*?/(?:site|dist)-packages(/)')


def aws_paths(text: str, task_root: Path, layers: Sequence[Path] = ()) -> str:
    """``text`` with the code's, the layers' and the libraries' folders as Lambda names them."""
    text = text.replace(f'File "{task_root}/', f'File "{TASK_ROOT}/')
    for layer in layers:
        text = text.replace(f'File "{layer}/', f'File "{LAYER_ROOT}/')
    return _SITE_PACKAGES.sub(rf"\g<1>{RUNTIME_SITE_PACKAGES}\g<2>", text)


def aws_error_body(payload: bytes, task_root: Path, layers: Sequence[Path] = ()) -> bytes:
    """The runtime's error document with :func:`aws_paths` applied to its ``stackTrace``."""
    try:
        document = json.loads(payload)
    except ValueError:
        return payload
    trace = document.get("stackTrace") if isinstance(document, dict) else None
    if not isinstance(trace, list):
        return payload
    document["stackTrace"] = [
        aws_paths(line, task_root, layers) if isinstance(line, str) else line for line in trace
    ]
    return json.dumps(document).encode()
