"""Keep S3's spill folder in the harness home instead of the machine-wide ``/tmp/localstack-s3-storage``.

LocalStack 4.9.2's S3 provider keeps each object in a spooled temporary file that moves to disk past
512 KB, in ``<DEFAULT_S3_TMP_DIR>/<bucket>``, and ``DEFAULT_S3_TMP_DIR`` is a constant
(``/tmp/localstack-s3-storage``) that ignores TMPDIR. Two LocalStacks on one machine (two harness
homes, a test session beside a developer's stack) therefore share one folder per bucket name, and
DeleteBucket in one removes the folder the other is still spilling into. There is no setting for it,
so this hook sets the module constant before the provider is built (services load lazily, after the
``on_infra_start`` hooks), from ``SCONES_S3_STORAGE_DIR``, which ``harness up`` sets to
``<home>/localstack/s3-storage``. Without that variable nothing changes.

Registered as a ``localstack.hooks.on_infra_start`` hook in this package's pyproject.
"""

from __future__ import annotations

import os

from localstack.runtime import hooks

from localstack_plugin.patches import Replaces, applied, require_localstack_version

ENV = "SCONES_S3_STORAGE_DIR"


REPLACES = (
    Replaces(
        "localstack.services.s3.provider",
        "DEFAULT_S3_TMP_DIR",
        "= '/tmp/localstack-s3-storage'",
    ),
)


@hooks.on_infra_start()
def s3_storage_in_harness_home() -> None:
    directory = os.environ.get(ENV)
    if not directory:
        return
    require_localstack_version("s3_storage")
    from localstack.services.s3 import provider

    os.makedirs(directory, exist_ok=True)
    provider.DEFAULT_S3_TMP_DIR = directory
    applied("s3_storage")
