"""A digest of an image's decoded pixels: the same picture gives the same key whatever its encoding.

Captures from AWS do not always hold the bytes of the staged PNG: notebooks and functions re-encode
(matplotlib's ``imsave`` writes RGBA at another compression level, PIL writes other chunks), so a
digest of the bytes matches nothing although the pixels are those of a staged test image. The key
here is the SHA-256 of the size and the RGB pixels; a fully opaque alpha channel is dropped, since
re-encoders add one. Bytes that are not an image have no key.
"""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the data stack loads when a report is drawn, not when the CLI starts
    pass


def pixel_key(data: bytes) -> str | None:
    """``sha256(WxH: RGB pixels)`` of the image ``data`` encodes; ``None`` when it is not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode in ("RGBA", "LA") and image.getchannel("A").getextrema() != (255, 255):
                rgb = image.convert("RGBA")  # translucency is part of the picture: keep it
            else:
                rgb = image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    digest = hashlib.sha256(f"{rgb.mode}:{rgb.width}x{rgb.height}:".encode())
    digest.update(rgb.tobytes())
    return digest.hexdigest()
