"""Deploy small zip functions to the embedded cloud for the e2e tests."""

from __future__ import annotations

import io
import textwrap
import uuid
import zipfile
from typing import Any

ROLE_ARN = "arn:aws:iam::000000000000:role/e2e-lambda-role"


def zip_source(source: str, module: str = "app") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(f"{module}.py", textwrap.dedent(source))
    return buf.getvalue()


def deploy(
    lam: Any,
    source: str,
    *,
    prefix: str = "fn",
    timeout: int = 5,
    env: dict[str, str] | None = None,
    role_arn: str = ROLE_ARN,
) -> str:
    """Create a python3.11 zip function from ``source`` (handler ``app.handler``) and wait until Active."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role_arn,
        Handler="app.handler",
        Code={"ZipFile": zip_source(source)},
        Timeout=timeout,
        Environment={"Variables": env or {}},
    )
    lam.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150}
    )
    return name
