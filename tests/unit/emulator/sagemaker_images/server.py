"""A tiny model server that follows the SageMaker serving contract, for the emulator's tests.

``GET /ping``; ``POST /invocations`` answers JSON ``{"model": <model/version.txt>, "echo": <body>,
"content_type": ..., "accept": ..., "custom": ...}`` (or the raw body when Accept is
``application/octet-stream``); a body of ``boom`` answers 500. Env ``SERVER_MODE=noping`` never
passes /ping, ``SERVER_MODE=exit`` exits at once; ``SERVER_DELAY`` sleeps per request;
Accept ``application/jsonlines`` answers ``{"length": N}`` per input line;
``SERVER_ARRIVED`` names a file created when a request has arrived (a test's readiness signal).
"""

import asyncio
import json
import os
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

mode = os.environ.get("SERVER_MODE", "ok")
if mode == "exit":
    print("server refusing to start: SERVER_MODE=exit", flush=True)
    sys.exit(3)
model_dir = Path(os.environ["OPT_ML"]) / "model"
version_file = model_dir / "version.txt"
version = version_file.read_text().strip() if version_file.exists() else None
delay = float(os.environ.get("SERVER_DELAY", "0"))
arrived = os.environ.get("SERVER_ARRIVED")


async def ping(request):
    return Response(status_code=500 if mode == "noping" else 200)


async def invocations(request):
    body = await request.body()
    if arrived:
        Path(arrived).touch()
    if delay:
        await asyncio.sleep(delay)
    if body == b"boom":
        return Response("the model exploded", status_code=500, media_type="text/plain")
    if body == b"bad":
        return Response("cannot parse input", status_code=400, media_type="text/plain")
    accept = request.headers.get("accept")
    headers = {}
    if "x-amzn-sagemaker-custom-attributes" in request.headers:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = (
            "echo:" + request.headers["x-amzn-sagemaker-custom-attributes"]
        )
    if accept == "application/octet-stream":
        return Response(body, media_type="application/octet-stream", headers=headers)
    if accept == "application/jsonlines":  # one output line per input line (batch transform's MultiRecord)
        lines = [line for line in body.decode("utf-8", "replace").splitlines() if line.strip()]
        out = "".join(json.dumps({"length": len(line)}) + "\n" for line in lines)
        return Response(out, media_type="application/jsonlines", headers=headers)
    if accept == "text/csv":
        return Response("0.25,0.75", media_type="text/csv", headers=headers)
    return JSONResponse(
        {
            "model": version,
            "echo": body.decode("utf-8", "replace"),
            "content_type": request.headers.get("content-type"),
            "accept": accept,
        },
        headers=headers,
    )


app = Starlette(routes=[Route("/ping", ping), Route("/invocations", invocations, methods=["POST"])])
print(f"server up with model {version}", flush=True)
uvicorn.run(
    app,
    host=os.environ.get("SAGEMAKER_BIND_TO_HOST", "127.0.0.1"),
    port=int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080")),
    log_level="warning",
)
