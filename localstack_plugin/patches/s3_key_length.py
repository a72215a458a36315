"""S3 refuses a key over 1024 bytes on every way of writing an object, as AWS does.

AWS answers ``400 KeyTooLongError`` "Your key is too long" (with ``Size`` and ``MaxSizeAllowed``)
for an object key longer than 1024 bytes of UTF-8 (S3 user guide, "Naming Amazon S3 objects": "The
name for a key is a sequence of Unicode characters whose UTF-8 encoding is at most 1,024 bytes
long"; error code in the S3 API reference's list of error codes). LocalStack 4.9.2 checks the key in
PutObject and CopyObject only, so a multipart upload (``upload_file`` of any object over the
transfer threshold, the SDKs' default for large files) with a key that long succeeded here.

This hook makes ``CreateMultipartUpload`` run LocalStack's own key check
(``localstack.services.s3.validation.validate_object_key``) first. Registered as a
``localstack.hooks.on_infra_start`` hook in this package's pyproject.
"""

from __future__ import annotations

import functools
from typing import Any

from localstack.runtime import hooks

from localstack_plugin.patches import Replaces, applied, require_localstack_version

_REQUEST = "localstack.aws.api.s3.CreateMultipartUploadRequest"
REPLACES = (
    Replaces(
        "localstack.services.s3.provider",
        "S3Provider.create_multipart_upload",
        f"(self, context: localstack.aws.api.core.RequestContext, request: {_REQUEST}) -> "
        "localstack.aws.api.s3.CreateMultipartUploadOutput",
    ),
    Replaces("localstack.services.s3.validation", "validate_object_key", "(object_key: str) -> None"),
)


def _key_checked(original: Any, validate_object_key: Any) -> Any:
    @functools.wraps(original)  # keeps LocalStack's @handler attributes: the dispatcher reads them
    def create_multipart_upload(self: Any, context: Any, request: Any) -> Any:
        validate_object_key(request["Key"])
        return original(self, context, request)

    return create_multipart_upload


@hooks.on_infra_start()
def s3_key_length_everywhere() -> None:
    require_localstack_version("s3_key_length")
    from localstack.services.s3 import provider, validation

    provider.S3Provider.create_multipart_upload = _key_checked(
        provider.S3Provider.create_multipart_upload, validation.validate_object_key
    )
    applied("s3_key_length")
