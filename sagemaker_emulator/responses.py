"""The HTTP face of the emulator: one ASGI app for the control plane and the runtime; HTTP only.

* ``POST /`` with ``X-Amz-Target: SageMaker.<Op>``: JSON 1.1 control plane, dispatched to the
  backend method of the same (snake_case) name.
* ``POST /endpoints/{name}/invocations``: InvokeEndpoint; the body is read and size-checked here,
  the routing, proxying and capture are runtime.py's (the overhead budget is ~1-2 ms).
* ``GET /_emulator/health``, ``POST /_emulator/capture/flush``: emulator-only helpers.
* ``GET|DELETE /_emulator/faults``, ``POST /_emulator/faults/endpoint|training``: faults on demand
  (faults.py); answers the rules in force, or a 400 naming the bad field.

Both services share one port, so ``AWS_ENDPOINT_URL_SAGEMAKER`` and
``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` point at the same URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict

from botocore import xform_name
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sagemaker_emulator import protocol
from sagemaker_emulator.backend import SageMakerBackend
from sagemaker_emulator.errors import (
    AwsError,
    UnknownOperationException,
    ValidationError,
    ValidationException,
)
from sagemaker_emulator.runtime import Invoker

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's documented limit
BODY_TIMEOUT_S = 60.0  # the most a request body may pause between chunks


def _error_response(err: AwsError, rid: str, rest: bool) -> Response:
    status, headers, body = (protocol.rest_json_error if rest else protocol.json_error)(err, rid)
    return Response(body, status_code=status, headers=headers)


async def read_body(request: Request, limit: int, timeout: float) -> bytes | None:
    """The request body, ``None`` as soon as it grows past ``limit`` (chunked bodies declare no length).

    Each chunk must arrive within ``timeout`` seconds (TimeoutError otherwise), so a client that
    never sends its body cannot hold a request open forever.
    """
    chunks: list[bytes] = []
    size = 0
    stream = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), timeout)
        except StopAsyncIteration:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def create_app(
    backend: SageMakerBackend, max_payload: int = MAX_PAYLOAD_BYTES, body_timeout: float = BODY_TIMEOUT_S
) -> Starlette:
    """The ASGI app; ``backend.start()`` / ``shutdown()`` run in its lifespan."""
    invoker = Invoker(backend)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(backend.start)
        invoker.open()
        try:
            yield
        finally:
            await invoker.aclose()
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
                # data capture: records written, held in memory, dropped (see spool.py)
                "capture": backend.capture.stats(),
                # model servers the health monitor replaced (see health.py)
                "replacements": [
                    {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
                    for r in list(backend.health.replacements)
                ],
            }
        )

    async def flush_capture(_request: Request) -> Response:
        done = await run_in_threadpool(backend.capture.flush)
        return JSONResponse({"flushed": done, **backend.capture.stats()})

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            backend.faults.clear()
        elif request.method == "POST":
            kind = request.path_params["kind"]
            try:
                spec = json.loads(await request.body() or b"{}")
                if kind not in ("endpoint", "training") or not isinstance(spec, dict):
                    raise ValidationException("POST a JSON object to /_emulator/faults/endpoint or /training")
                added = (backend.faults.add_training if kind == "training" else backend.faults.add_endpoint)(
                    spec
                )
            except json.JSONDecodeError as exc:
                return JSONResponse({"error": "ValidationException", "message": f"not JSON: {exc}"}, 400)
            except TypeError as exc:  # a field of the wrong type
                return JSONResponse({"error": "ValidationException", "message": str(exc)}, 400)
            except ValidationException as exc:
                return JSONResponse({"error": exc.code, "message": exc.message}, 400)
            return JSONResponse({"added": asdict(added), **backend.faults.describe()})
        return JSONResponse(backend.faults.describe())

    async def control_plane(request: Request) -> Response:
        rid = protocol.request_id()
        try:
            op = protocol.operation_for_target(request.headers.get("x-amz-target"))
            params = protocol.parse_request(op, await request.body())
            handler = getattr(backend, xform_name(op.name), None)
            if handler is None:
                raise UnknownOperationException(f"The SageMaker emulator does not implement {op.name}")
            # Off the event loop: a slow control-plane call never holds up in-flight invocations.
            result = await run_in_threadpool(handler, params)
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
            declared = request.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_payload:
                return too_large()
            try:
                body = await read_body(request, max_payload, body_timeout)
            except TimeoutError:
                # The client sent headers and then too little of its body: answer and free the connection.
                return JSONResponse(
                    {"message": f"Request body not received within {body_timeout:g} seconds."},
                    status_code=408,
                    headers={"connection": "close"},
                )
            if body is None:
                return too_large()
            result = await invoker.invoke(request.path_params["name"], body, request.headers)
        except AwsError as err:
            return _error_response(err, rid, rest=True)
        except Exception as exc:
            log.exception("runtime failure")
            return _error_response(AwsError(f"{type(exc).__name__}: {exc}"), rid, rest=True)
        return Response(result.body, status_code=200, headers={**result.headers, "x-amzn-requestid": rid})

    async def invoke_unsupported(request: Request) -> Response:
        # Every endpoint here is real-time and answers whole (async and serverless configs are refused
        # at CreateEndpointConfig): these answer as the runtime does for such an endpoint, not a bare 404.
        rid = protocol.request_id()
        name, account = request.path_params["name"], backend.account_id
        try:
            backend.runtime_for(name)  # "Endpoint ... not found." first, as for InvokeEndpoint
            if request.url.path.endswith("/async-invocations"):
                raise ValidationError(
                    f"Endpoint {name} of account {account} is not an async inference endpoint."
                )
            raise ValidationError(
                f"Endpoint {name} of account {account} does not support streaming: its model server "
                "answers whole responses."
            )
        except AwsError as err:
            return _error_response(err, rid, rest=True)

    def too_large() -> Response:
        # What AWS answers: status 413, no error type (botocore reports the code as "413").
        return JSONResponse(
            {"message": f"HTTP content length exceeded {max_payload} bytes."}, status_code=413
        )

    routes = [
        Route("/_emulator/health", health, methods=["GET"]),
        Route("/_emulator/capture/flush", flush_capture, methods=["POST"]),
        Route("/_emulator/faults", faults, methods=["GET", "DELETE"]),
        Route("/_emulator/faults/{kind:str}", faults, methods=["POST"]),
        Route("/endpoints/{name}/invocations", invoke, methods=["POST"]),
        Route("/endpoints/{name}/async-invocations", invoke_unsupported, methods=["POST"]),
        Route("/endpoints/{name}/invocations-response-stream", invoke_unsupported, methods=["POST"]),
        Route("/", control_plane, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
