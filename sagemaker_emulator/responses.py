"""The HTTP face of the emulator: one ASGI app for the control plane and the runtime.

* ``POST /`` with ``X-Amz-Target: SageMaker.<Op>``: JSON 1.1 control plane, dispatched to the
  backend method of the same (snake_case) name.
* ``POST /endpoints/{name}/invocations``: InvokeEndpoint, proxied to the variant's model server
  through one pool of keep-alive connections (proxy.py; the overhead budget is ~1-2 ms).
* ``GET /_emulator/health``, ``POST /_emulator/capture/flush``: emulator-only helpers.

Both services share one port, so ``AWS_ENDPOINT_URL_SAGEMAKER`` and
``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` point at the same URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from botocore import xform_name
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sagemaker_emulator import protocol
from sagemaker_emulator.capture import Invocation
from sagemaker_emulator.errors import (
    AwsError,
    ModelError,
    ServiceUnavailable,
    UnknownOperationException,
    ValidationError,
)
from sagemaker_emulator.models import SageMakerBackend
from sagemaker_emulator.proxy import HttpPool, ProxyError, ProxyTimeout

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's documented limit
INVOKE_TIMEOUT_S = 60.0  # the container response time limit on AWS
BOOT_WAIT_S = 60.0  # how long an invocation waits for an endpoint that is coming back after a restart
FORWARDED = ("content-type", "accept", "x-amzn-sagemaker-custom-attributes")


def _error_response(err: AwsError, rid: str, rest: bool) -> Response:
    status, headers, body = (protocol.rest_json_error if rest else protocol.json_error)(err, rid)
    return Response(body, status_code=status, headers=headers)


def create_app(backend: SageMakerBackend, max_payload: int = MAX_PAYLOAD_BYTES) -> Starlette:
    """The ASGI app; ``backend.start()`` / ``shutdown()`` run in its lifespan."""
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(backend.start)
        state["client"] = HttpPool(timeout=INVOKE_TIMEOUT_S)
        try:
            yield
        finally:
            await state["client"].aclose()
            await run_in_threadpool(backend.shutdown)

    async def health(_request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "service": "sagemaker",
                "executor": backend.executor.name,
                "training_jobs": len(backend.jobs),
                "endpoints": {name: ep.status for name, ep in list(backend.endpoints.items())},
                # where each endpoint's model servers listen (for debugging and the benchmark)
                "servers": {
                    name: {v.name: v.server.url for v in ep.runtime.variants}
                    for name, ep in list(backend.endpoints.items())
                    if ep.runtime is not None
                },
            }
        )

    async def flush_capture(_request: Request) -> Response:
        done = await run_in_threadpool(backend.capture.flush)
        return JSONResponse({"flushed": done, "records_written": backend.capture.records_written})

    async def control_plane(request: Request) -> Response:
        rid = protocol.request_id()
        try:
            op = protocol.operation_for_target(request.headers.get("x-amz-target"))
            params = protocol.parse_request(op, await request.body())
            handler = getattr(backend, xform_name(op.name), None)
            if handler is None:
                raise UnknownOperationException(f"The SageMaker emulator does not implement {op.name}")
            result = handler(params)
        except AwsError as err:
            return _error_response(err, rid, rest=False)
        except Exception as exc:
            log.exception("control plane failure")
            return _error_response(AwsError(f"{type(exc).__name__}: {exc}"), rid, rest=False)
        return Response(
            protocol.serialize_response(result),
            headers={"content-type": protocol.JSON_11, "x-amzn-requestid": rid},
        )

    async def invoke(request: Request) -> Response:
        rid = protocol.request_id()
        try:
            return await _invoke(request, rid)
        except AwsError as err:
            return _error_response(err, rid, rest=True)
        except Exception as exc:
            log.exception("runtime failure")
            return _error_response(AwsError(f"{type(exc).__name__}: {exc}"), rid, rest=True)

    def too_large() -> Response:
        # What AWS answers: status 413, no error type (botocore reports the code as "413").
        return JSONResponse(
            {"message": f"HTTP content length exceeded {max_payload} bytes."}, status_code=413
        )

    async def _invoke(request: Request, rid: str) -> Response:
        name = request.path_params["name"]
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_payload:
            return too_large()
        body = await request.body()
        if len(body) > max_payload:
            return too_large()
        headers = request.headers
        _ep, runtime = backend.runtime_for(name)
        if runtime is None or not runtime.ready():
            deadline = time.monotonic() + BOOT_WAIT_S
            while (runtime is None or not runtime.ready()) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
                _ep, runtime = backend.runtime_for(name)
            if runtime is None or not runtime.ready():
                raise ServiceUnavailable(f"Endpoint {name} is starting; try again shortly.")
        target = headers.get("x-amzn-sagemaker-target-variant")
        variant = runtime.pick(target)
        if variant is None:
            raise ValidationError(f"The variant {target} does not exist for endpoint {name}.")
        server = variant.server
        forward = {k: v for k in FORWARDED if (v := headers.get(k)) is not None}
        server.inflight += 1  # no await between pick() and here: see ModelServer.stop
        try:
            resp = await state["client"].post("127.0.0.1", server.port, "/invocations", body, forward)
        except ProxyTimeout as exc:
            raise _model_error(
                backend,
                name,
                0,
                "Your invocation timed out while waiting for a response from container primary.",
            ) from exc
        except ProxyError as exc:
            raise _model_error(backend, name, 0, f"Could not reach container primary: {exc}") from exc
        finally:
            server.inflight -= 1
        if not 200 <= resp.status < 300:
            raise _model_error(backend, name, resp.status, resp.text)
        out_type = resp.headers.get("content-type", "application/json")
        out_headers = {
            "content-type": out_type,
            "x-amzn-invoked-production-variant": variant.name,
            "x-amzn-requestid": rid,
        }
        if "x-amzn-sagemaker-custom-attributes" in resp.headers:
            out_headers["x-amzn-sagemaker-custom-attributes"] = resp.headers[
                "x-amzn-sagemaker-custom-attributes"
            ]
        capture = runtime.capture
        if capture is not None and capture.sampled():
            backend.capture.submit(
                Invocation(
                    endpoint=name,
                    variant=variant.name,
                    config=capture,
                    input_body=body,
                    input_type=headers.get("content-type", "application/octet-stream"),
                    output_body=resp.body,
                    output_type=out_type,
                    inference_id=headers.get("x-amzn-sagemaker-inference-id"),
                    time=dt.datetime.now(dt.UTC),
                )
            )
        return Response(resp.body, status_code=200, headers=out_headers)

    routes = [
        Route("/_emulator/health", health, methods=["GET"]),
        Route("/_emulator/capture/flush", flush_capture, methods=["POST"]),
        Route("/endpoints/{name}/invocations", invoke, methods=["POST"]),
        Route("/", control_plane, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def _model_error(backend: SageMakerBackend, name: str, status: int, message: str) -> ModelError:
    region, account = backend.region, backend.account_id
    group = f"/aws/sagemaker/Endpoints/{name}"
    kind = "client" if 400 <= status < 500 else "server"
    return ModelError(
        f'Received {kind} error ({status}) from primary with message "{message}". See '
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logEventViewer:group={group} "
        f"in account {account} for more information.",
        OriginalStatusCode=status,
        OriginalMessage=message,
        LogStreamArn=f"arn:aws:logs:{region}:{account}:log-group:{group}",
    )
