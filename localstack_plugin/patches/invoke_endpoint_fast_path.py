"""InvokeEndpoint on LocalStack's main port at the cost of one forward: the one data-plane hot path.

Every classification goes ``invoke_endpoint`` -> LocalStack's gateway -> the SageMaker emulator. Through
the full handler chain that hop cost 4.7 ms p50 over calling the emulator's own port (measured on the
2-core CI machine): the chain parses the request against the service model, builds a ``ServiceRequest``,
runs the provider, then the response handlers serialise, log and count it, although the provider
(:mod:`localstack_plugin.sagemaker_provider`) only forwards the raw request and returns the raw answer.
The project's budget for the hop is 2 ms.

So this hook puts one handler in ``localstack.aws.handlers.preprocess_request`` (the composite handler
LocalStack's own extensions add request handlers to) that recognises a SigV4-signed
``POST /endpoints/<name>/invocations`` of the ``sagemaker`` signing name, evaluates IAM for it exactly as
:mod:`localstack_plugin.patches.iam_enforcement` would, forwards it through the provider's pooled
connection and ends the chain. Anything it is not sure of falls through to the full chain, which
answers as before: an unsigned or presigned request, a caller IAM refuses (the full chain words the
refusal), an emulator that does not answer (the provider words the 503), and every other operation.

Applied only when the ``sagemaker-runtime`` provider is the project's (``PROVIDER_OVERRIDE_SAGEMAKER_
RUNTIME=emulator``). ``HARNESS_INVOKE_FAST_PATH=0`` turns it off (to compare, or to rule it out).

LocalStack bug fix: no: a latency shortcut for the project's own provider. Upstream code it hooks
into: ``localstack.aws.handlers.preprocess_request``.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any
from urllib.parse import unquote

from localstack.runtime import hooks

from localstack_plugin.patches import Replaces, applied, require_localstack_version

REPLACES = (
    Replaces(
        "localstack.aws.handlers",
        "preprocess_request.append",
        "(handler: 'Handler') -> 'None'",
    ),
    Replaces(
        "localstack.aws.accounts",
        "get_account_id_from_access_key_id",
        "(access_key_id: str) -> str",
    ),
    Replaces(
        "rolo.gateway.chain",
        "HandlerChain.terminate",
        "(self) -> 'None'",
    ),
)

LOG = logging.getLogger(__name__)
SWITCH_ENV = "HARNESS_INVOKE_FAST_PATH"
_PATH = re.compile(r"^/endpoints/([^/]+)/invocations$")
# SigV4: Credential=<key>/<yyyymmdd>/<region>/<signing name>/aws4_request
_SCOPE = re.compile(r"Credential=([A-Za-z0-9]+)/\d{8}/([a-z0-9-]+)/sagemaker/aws4_request")


def target_of(method: str, path: str, authorization: str) -> tuple[str, str, str] | None:
    """(endpoint name, access key, region) of a signed InvokeEndpoint request, else ``None``."""
    if method != "POST":
        return None
    path_match = _PATH.match(path)
    scope = _SCOPE.search(authorization) if path_match else None
    if path_match is None or scope is None:
        return None
    return unquote(path_match.group(1)), scope.group(1), scope.group(2)


def enabled() -> bool:
    return (
        os.environ.get("PROVIDER_OVERRIDE_SAGEMAKER_RUNTIME", "").strip() == "emulator"
        and os.environ.get(SWITCH_ENV, "1").strip() != "0"
    )


@hooks.on_infra_start()
def invoke_endpoint_fast_path() -> None:
    require_localstack_version("invoke_endpoint_fast_path")
    if not enabled():
        return
    import urllib3
    from localstack.aws import handlers
    from localstack.aws.accounts import get_account_id_from_access_key_id

    from localstack_plugin.patches import iam_enforcement
    from localstack_plugin.sagemaker_provider import forwarder

    def fast_invoke(chain: Any, context: Any, response: Any) -> None:
        request = context.request
        target = target_of(request.method, request.path, request.headers.get("Authorization") or "")
        if target is None:
            return
        name, access_key, region = target
        if iam_enforcement.mode() != "off":
            account = get_account_id_from_access_key_id(access_key)
            params = {"EndpointName": name}
            if iam_enforcement.refusal(
                "sagemaker-runtime", "InvokeEndpoint", params, region, account, access_key
            ):
                return  # the full chain refuses (or, in log mode, logs) it, in AWS's words
        try:
            answer = forwarder().send(request)
        except urllib3.exceptions.HTTPError:
            return  # the provider says why, as a 503
        response.update_from(answer)
        chain.terminate()  # no response handlers: they would re-parse what the emulator already serialised

    handlers.preprocess_request.append(fast_invoke)
    applied("invoke_endpoint_fast_path")
