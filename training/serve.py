"""Model server: ``python -m training.serve`` (the container's ``serve`` command).

The SageMaker inference contract on ONNX Runtime, served by uvicorn (a real
ASGI server) with a Starlette app:

* ``GET /ping``: 200 once the model is loaded (it is loaded before the socket
  opens, so a server that answers is a server that can predict).
* ``POST /invocations`` with ``Content-Type`` ``image/png``, ``image/jpeg`` or
  ``application/x-image`` (any size, any PIL mode; resized to the model's
  ``image_shape``): ``application/json`` ``[p_0, p_1, ...]`` class
  probabilities in class order, or with ``Accept: application/jsonlines`` one
  line ``{"prediction": [...]}``, as the built-in algorithm answers.
* Errors are short plain-text bodies that say what was wrong (SageMaker
  Runtime shows the body in its ``ModelError`` message): 400 undecodable or
  empty body, 406 unsupported ``Accept``, 413 body over 6 MB (the
  InvokeEndpoint limit), 415 unsupported ``Content-Type``.

Concurrency: decoding and inference run in Starlette's thread pool; an ONNX
Runtime session is safe to call from several threads, and each call uses one
intra-op thread, so concurrent requests spread over the cores instead of
fighting over them. This module must not import torch (a test checks): the
serving image does not need it and it would double the cold start.

Host and port: ``SAGEMAKER_BIND_TO_HOST`` (default 127.0.0.1; the Dockerfile
sets 0.0.0.0) and ``SAGEMAKER_BIND_TO_PORT`` (default 8080). The model folder
is ``$OPT_ML/model`` (default ``/opt/ml/model``) or ``--model-dir``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Protocol

import numpy as np
import onnxruntime as ort
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from training import contract
from training.images import ImageDecodeError, decode_image

log = logging.getLogger("training.serve")

IMAGE_TYPES = ("image/png", "image/jpeg", "application/x-image")
JSON = "application/json"
JSONLINES = "application/jsonlines"
MAX_BODY = 6 * 1024 * 1024  # InvokeEndpoint's payload limit


class ModelLoadError(RuntimeError):
    """The model folder holds no model this server can load; the message lists what it found."""


class Classifier(Protocol):
    image_shape: tuple[int, int, int]
    resize: int | None

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """``uint8 (N, C, H, W)`` pixels -> ``float (N, num_classes)`` probabilities."""
        ...


class OnnxClassifier:
    """A ``model.onnx`` + ``model-info.json`` pair written by training/train.py."""

    def __init__(self, model_dir: Path) -> None:
        try:
            info = json.loads((model_dir / contract.MODEL_INFO).read_text())
            self.image_shape = tuple(int(v) for v in info["image_shape"])
            self.resize = info.get("resize")
            self.input_name = info.get("input", "image")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(
                f"{model_dir / contract.MODEL_INFO} is unreadable or incomplete: {exc}"
            ) from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(model_dir / info.get("file", contract.MODEL_ONNX)),
                options,
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ModelLoadError(f"cannot load the ONNX model in {model_dir}: {exc}") from None
        self.num_classes = int(info.get("num_classes", self.session.get_outputs()[0].shape[1]))

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: pixels.astype(np.float32)})[0]


def load_classifier(model_dir: Path) -> Classifier:
    """The model in ``model_dir``: this project's ONNX model, or (with the mxnet extra) a built-in one."""
    if (model_dir / contract.MODEL_INFO).is_file():
        return OnnxClassifier(model_dir)
    if (model_dir / "image-classification-symbol.json").is_file():
        from training.mxnet_model import MXNetClassifier  # optional extra; imports mxnet

        return MXNetClassifier(model_dir)
    found = sorted(p.name for p in model_dir.iterdir()) if model_dir.is_dir() else []
    raise ModelLoadError(
        f"no model in {model_dir}: expected {contract.MODEL_INFO} + {contract.MODEL_ONNX} (this project's "
        f"trainer) or image-classification-symbol.json + -NNNN.params (the built-in algorithm); found {found}"
    )


def _media_type(header: str) -> str:
    return header.split(";")[0].strip().lower()


def _response_type(accept: str | None) -> str | None:
    """The response type for an ``Accept`` header, or ``None`` when none we produce is acceptable."""
    if not accept:
        return JSON
    for item in accept.split(","):
        media = _media_type(item)
        if media in (JSONLINES, "application/jsonl"):
            return JSONLINES
        if media in (JSON, "application/*", "*/*"):
            return JSON
    return None


def create_app(classifier: Classifier) -> Starlette:
    """The ASGI app around a loaded classifier (tests use it directly with Starlette's TestClient)."""

    def infer(body: bytes) -> list[float]:
        pixels = decode_image(body, classifier.image_shape, classifier.resize)
        return [float(p) for p in classifier.predict(pixels[None])[0]]

    async def ping(request: Request) -> Response:
        return Response(status_code=200)

    async def invocations(request: Request) -> Response:
        content_type = _media_type(request.headers.get("content-type", ""))
        if content_type not in IMAGE_TYPES:
            return _error(
                415, f"unsupported Content-Type {content_type or '(none)'!r}; send {', '.join(IMAGE_TYPES)}"
            )
        response_type = _response_type(request.headers.get("accept"))
        if response_type is None:
            return _error(
                406, f"unsupported Accept {request.headers['accept']!r}; accept {JSON} or {JSONLINES}"
            )
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, f"body of {len(body)} bytes is over the {MAX_BODY}-byte limit")
        try:
            probabilities = await run_in_threadpool(infer, body)
        except ImageDecodeError as exc:
            return _error(400, f"cannot decode the {content_type} body: {exc}")
        if response_type == JSONLINES:
            return Response(json.dumps({"prediction": probabilities}) + "\n", media_type=JSONLINES)
        return Response(json.dumps(probabilities), media_type=JSON)

    return Starlette(
        routes=[Route("/ping", ping, methods=["GET"]), Route("/invocations", invocations, methods=["POST"])]
    )


def _error(status: int, message: str) -> Response:
    log.warning("%d: %s", status, message)
    return PlainTextResponse(message + "\n", status_code=status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=None, help="default: $OPT_ML/model")
    parser.add_argument("--host", default=os.environ.get("SAGEMAKER_BIND_TO_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080")))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s %(levelname)s] %(message)s", stream=sys.stdout
    )
    model_dir = args.model_dir or contract.model_dir()
    try:
        classifier = load_classifier(model_dir)
    except ModelLoadError as exc:
        log.error("%s", exc)
        return 1
    log.info(
        "loaded %s from %s (image_shape %s)", type(classifier).__name__, model_dir, classifier.image_shape
    )

    import uvicorn  # imported late: only the running server needs it, not create_app's users

    uvicorn.run(create_app(classifier), host=args.host, port=args.port, access_log=False, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
