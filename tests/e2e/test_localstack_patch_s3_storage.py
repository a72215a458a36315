"""Contract of localstack_plugin/patches/s3_storage.py: what it replaces still exists in the LocalStack
the harness installs, and the hook is registered there. Fails when a LocalStack upgrade moves it."""

from __future__ import annotations

import subprocess

import pytest

from harness.config import Settings
from harness.embedded import localstack

pytestmark = pytest.mark.e2e

CONTRACT = """
import inspect
from importlib import metadata
from localstack.services.s3 import provider
assert isinstance(provider.DEFAULT_S3_TMP_DIR, str), "DEFAULT_S3_TMP_DIR is gone"
source = inspect.getsource(provider.S3Provider.__init__)
assert "EphemeralS3ObjectStore(DEFAULT_S3_TMP_DIR)" in source, "S3Provider no longer reads the constant"
hooks = {e.name: e.value for e in metadata.entry_points(group="localstack.hooks.on_infra_start")}
assert hooks.get("s3_storage_in_harness_home") == (
    "localstack_plugin.patches.s3_storage:s3_storage_in_harness_home"
), hooks
print("ok")
"""


def test_the_s3_storage_patch_still_applies(embedded_cloud: Settings) -> None:
    python = localstack.ensure_venv(embedded_cloud)
    result = subprocess.run([str(python), "-c", CONTRACT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
