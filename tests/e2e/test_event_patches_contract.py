"""Contract test of the event-driven patches of LocalStack's internals (localstack_plugin/patches/).

Runs a script with LocalStack's own interpreter (its venv is built by the e2e session, as by `harness
up`): it fails, naming the object, when a LocalStack upgrade moved what a patch replaces.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.config import Settings
from harness.embedded import localstack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_patched_objects_still_exist_with_the_expected_shape(embedded_cloud: Settings) -> None:
    python = localstack.venv_python(localstack.venv_dir(embedded_cloud))
    script = Path(__file__).with_name("contracts") / "localstack_patches.py"
    done = subprocess.run([str(python), str(script), str(ROOT)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "contract holds" in done.stdout
    # The patches are still needed: 4.9.2 reads "RoleArn.$" as a literal field.
    assert "before the patch {'RoleArn.$': 'PayloadBindingValue'}" in done.stdout
