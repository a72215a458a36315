"""LocalStack's own S3 provider, with its spill folder in the harness home instead of the machine's ``/tmp``.

LocalStack 4.9.2's S3 provider keeps each object in a spooled temporary file that moves to disk past
512 KB, in ``<DEFAULT_S3_TMP_DIR>/<bucket>``, and ``DEFAULT_S3_TMP_DIR`` is a constant
(``/tmp/localstack-s3-storage``) that ignores TMPDIR. Two LocalStacks on one machine (two harness
homes, a test session beside a developer's stack) therefore share one folder per bucket name, and
DeleteBucket in one removes the folder the other is still spilling into.

``S3Provider`` takes its storage as a constructor argument (``S3Provider(storage_backend=...)``), so
this is a provider of LocalStack's provider API (entry point ``s3:harness`` in the
``localstack.aws.provider`` group, selected with ``PROVIDER_OVERRIDE_S3=harness``), exactly LocalStack's
default ``s3`` provider (``localstack.services.providers.s3``) with an ``EphemeralS3ObjectStore`` rooted
at ``SCONES_S3_STORAGE_DIR`` (``harness up`` sets ``<home>/localstack/s3-storage``). No patch of
LocalStack's internals; without the variable it is LocalStack's default folder.
"""

from __future__ import annotations

import os

from localstack.services.plugins import Service, aws_provider

ENV = "SCONES_S3_STORAGE_DIR"
PROVIDER_NAME = "harness"


@aws_provider(api="s3", name=PROVIDER_NAME)
def s3() -> Service:
    from localstack.services.s3.provider import DEFAULT_S3_TMP_DIR, S3Provider
    from localstack.services.s3.storage.ephemeral import EphemeralS3ObjectStore

    directory = os.environ.get(ENV) or DEFAULT_S3_TMP_DIR
    os.makedirs(directory, exist_ok=True)
    return Service.for_provider(S3Provider(storage_backend=EphemeralS3ObjectStore(directory)))
