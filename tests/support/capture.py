"""One SageMaker Model Monitor data-capture record (a JSON Lines line) with a PNG in and JSON out, as the
emulator and AWS write them; the report's tests and its benchmark build their captures with it."""

from __future__ import annotations

import base64
import json


def capture_line(
    image: bytes,
    probs: list[float],
    when: str,
    *,
    event_id: str | None = None,
    base64_output: bool = False,
    **meta: str,
) -> str:
    """``when`` is the ``inferenceTime`` (and the ``eventId`` unless given); ``base64_output`` encodes
    the answer as AWS does for some content types; ``meta`` adds ``eventMetadata`` fields."""
    text = json.dumps(probs)
    output = (
        {"data": base64.b64encode(text.encode()).decode(), "encoding": "BASE64"}
        if base64_output
        else {"data": text, "encoding": "JSON"}
    )
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "image/png",
                    "mode": "INPUT",
                    "data": base64.b64encode(image).decode(),
                    "encoding": "BASE64",
                },
                "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT", **output},
            },
            "eventMetadata": {"eventId": event_id or when, "inferenceTime": when, **meta},
            "eventVersion": "0",
        }
    )
