"""Contract tests of localstack_plugin/patches/iam_enforcement.py and lambda_update_reason.py.

The patch relies on LocalStack internals that are not an extension point: the gateway's
``serve_custom_service_request_handlers`` composite, ``CommonServiceException``, and moto's STS and IAM
backends (assumed-role sessions, role policies). This test imports each of them in LocalStack's own venv
and fails, naming the missing piece, when an upgrade moves one. lambda_update_reason.py wraps
``LambdaService.update_version_state`` and rebuilds ``UpdateStatus``: their shapes are checked too.
"""

from __future__ import annotations

import subprocess
import textwrap

import pytest

from harness.config import Settings
from harness.embedded import localstack

pytestmark = pytest.mark.e2e  # the session fixture builds LocalStack's venv, so this never skips in CI

CONTRACT = textwrap.dedent(
    """
    import dataclasses
    import inspect
    from importlib import metadata
    from localstack.aws import handlers
    from localstack.aws.chain import CompositeHandler
    from localstack.aws.api import CommonServiceException
    from moto.sts.models import STSBackend, sts_backends
    from moto.iam.models import Role, iam_backends
    from localstack_plugin.patches import LOCALSTACK_VERSION
    from localstack_plugin.patches import iam_enforcement

    assert metadata.version("localstack-core") == LOCALSTACK_VERSION, metadata.version("localstack-core")
    assert isinstance(handlers.serve_custom_service_request_handlers, CompositeHandler)
    assert hasattr(handlers.serve_custom_service_request_handlers, "append")
    params = inspect.signature(CommonServiceException.__init__).parameters
    assert {"code", "message", "status_code"} <= set(params), params
    assert hasattr(STSBackend, "get_assumed_role_from_access_key")
    assert "aws" in sts_backends["000000000000"].keys() or sts_backends["000000000000"]["aws"] is not None
    role_init = inspect.getsource(Role.__init__)
    assert "self.policies" in role_init and "self.managed_policies" in role_init
    assert iam_backends["000000000000"]["aws"].get_role

    # lambda_update_reason: the wrapped method, the models it rebuilds, the store it reads.
    from localstack.services.lambda_.invocation.lambda_service import LambdaService
    from localstack.services.lambda_.invocation.lambda_models import UpdateStatus, VersionState
    from localstack.services.lambda_.invocation.models import lambda_stores
    assert list(inspect.signature(LambdaService.update_version_state).parameters) == [
        "self", "function_version", "new_state"]
    assert {f.name for f in dataclasses.fields(UpdateStatus)} == {"status", "code", "reason"}
    assert {"state", "code", "reason"} <= {f.name for f in dataclasses.fields(VersionState)}
    source = inspect.getsource(LambdaService.update_version_state)
    assert "UpdateStatus(status=LastUpdateStatus.Failed)" in source
    assert lambda_stores["000000000000"]["us-east-1"].functions is not None
    print("ok")
    """
)


def test_iam_enforcement_patch_still_fits_localstack(embedded_cloud: Settings) -> None:
    python = localstack.venv_python(localstack.venv_dir(embedded_cloud))
    result = subprocess.run([str(python), "-c", CONTRACT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
