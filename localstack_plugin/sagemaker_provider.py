"""SageMaker and SageMaker Runtime on LocalStack's main port, served by the project's SageMaker emulator.

LocalStack Community has no SageMaker. These two providers (entry points ``sagemaker:emulator`` and
``sagemaker-runtime:emulator`` in the ``localstack.aws.provider`` group, selected with
``PROVIDER_OVERRIDE_SAGEMAKER=emulator`` / ``PROVIDER_OVERRIDE_SAGEMAKER_RUNTIME=emulator``, and
enabled by listing both names in ``SERVICES``) make LocalStack's gateway forward every operation of
either service, as the raw HTTP request, to the emulator at ``SAGEMAKER_EMULATOR_URL``. So a client
with only ``AWS_ENDPOINT_URL`` pointing at LocalStack reaches SageMaker too: boto3, the AWS CLI, the
SageMaker SDK and every Lambda function, whoever created it.

Why forwarding raw requests: LocalStack's router has already told ``sagemaker`` from
``sagemaker-runtime`` by path (``/endpoints/...`` is the runtime) and parsed the request; the emulator
validates and answers in the wire format itself, so the gateway returns the emulator's response
untouched (errors included, as the emulator words them) and never re-serialises it. The emulator
keeps its own port as well; this is one more way in, not a replacement.

Uses LocalStack's provider API (``aws_provider``, ``Service``, ``Skeleton`` with a dispatch table), its
extension point for services, not a patch of its internals; ``tests/unit/test_sagemaker_provider.py``
checks that this API is still what the providers expect.
"""

from __future__ import annotations

import os
from typing import Any

from localstack.aws.api import CommonServiceException, RequestContext, ServiceRequest
from localstack.services.plugins import Service, aws_provider

EMULATOR_URL_ENV = "SAGEMAKER_EMULATOR_URL"
DEFAULT_EMULATOR_URL = "http://127.0.0.1:4577"


class ServiceUnavailable(CommonServiceException):
    """The emulator behind the gateway does not answer: AWS's 503 for a service that is not there."""

    def __init__(self, message: str) -> None:
        super().__init__("ServiceUnavailable", message, status_code=503, sender_fault=False)


def emulator_url() -> str:
    return os.environ.get(EMULATOR_URL_ENV, "").rstrip("/") or DEFAULT_EMULATOR_URL


# Hop-by-hop headers (RFC 9110 7.6.1) are the connection's, not the message's: never forwarded.
_HOP_BY_HOP = frozenset(
    ("connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade")
)

# Headers the gateway writes itself; the emulator's copies would be sent twice.
_GATEWAY_OWN = frozenset(("date", "server"))


class EmulatorForwarder:
    """A dispatch-table handler: send the request as received to the emulator, return its response as is.

    A pooled urllib3 connection (kept alive across requests, thread-safe) rather than
    ``AwsRequestProxy``: that proxy returns werkzeug responses the Skeleton does not accept as raw
    responses, rebuilds a WSGI environ per request and streams the body back in 1 KiB chunks; this
    forwarder keeps the gateway's extra cost on InvokeEndpoint within the project's 2 ms budget.
    """

    def __init__(self, url: str, pool_size: int = 16) -> None:
        import urllib3

        self.url = url
        self.pool = urllib3.connection_from_url(url, maxsize=pool_size, block=False)

    def __call__(self, context: RequestContext, service_request: ServiceRequest = None) -> Any:
        import urllib3

        try:
            return self.send(context.request)
        except urllib3.exceptions.HTTPError as exc:
            raise ServiceUnavailable(
                f"the SageMaker emulator at {self.url} does not answer ({type(exc).__name__}); "
                f"start it (harness up) or set {EMULATOR_URL_ENV}"
            ) from exc

    def send(self, request: Any) -> Any:
        """The emulator's answer to ``request`` as a LocalStack ``Response`` (raises urllib3's errors)."""
        from localstack.http import Response
        from localstack.http.request import get_full_raw_path, restore_payload

        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = self.pool.urlopen(
            request.method,
            get_full_raw_path(request),
            body=restore_payload(request),
            headers=headers,
            retries=False,
            redirect=False,
            preload_content=True,
            decode_content=False,
        )
        response_headers = [
            (k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP | _GATEWAY_OWN
        ]
        return Response(upstream.data, status=upstream.status, headers=response_headers)


_forwarders: dict[str, EmulatorForwarder] = {}


def forwarder(url: str | None = None) -> EmulatorForwarder:
    """One forwarder (one connection pool) per emulator URL, shared by the providers and the fast path."""
    url = url or emulator_url()
    if url not in _forwarders:
        _forwarders.setdefault(url, EmulatorForwarder(url))
    return _forwarders[url]


def forwarding_service(api: str) -> Service:
    """A LocalStack ``Service`` whose every operation of ``api``'s model goes to the emulator."""
    from localstack.aws.skeleton import Skeleton
    from localstack.aws.spec import load_service

    model = load_service(api)
    handler = forwarder()
    table = dict.fromkeys(model.operation_names, handler)
    return Service(name=api, skeleton=Skeleton(model, table))


@aws_provider(api="sagemaker", name="emulator")
def sagemaker() -> Service:
    return forwarding_service("sagemaker")


@aws_provider(api="sagemaker-runtime", name="emulator")
def sagemaker_runtime() -> Service:
    return forwarding_service("sagemaker-runtime")
