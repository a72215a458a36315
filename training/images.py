"""Image decoding and preprocessing shared by training and serving (no torch).

Training and serving must turn the same bytes into the same pixels, or the
served model sees inputs it was never trained on. Both call
:func:`decode_image` with the ``image_shape`` and ``resize`` recorded in the
model metadata:

* any PIL-readable format (PNG, JPEG, ...), any mode: RGBA/LA/P are flattened
  (alpha dropped), grayscale is expanded to RGB for 3-channel models, RGB is
  reduced to luminance for 1-channel models;
* without ``resize``: the image is resized to exactly ``height x width``
  (bilinear; a no-op for images already that size, as in CIFAR);
* with ``resize`` (the AWS hyperparameter): the shorter side is resized to
  ``resize`` and the centre ``height x width`` is cropped.

The result is a ``uint8`` array in ``(channels, height, width)`` order. Scaling to
floats and normalisation happen inside the exported model, so the server needs
no knowledge of the training statistics.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

# Largest image accepted (pixels). Checked from the header, before decoding, so a
# small compressed body that expands to gigabytes (a "decompression bomb") is
# refused cheaply. 40 M pixels is a 6300x6300 photo: far above any real request.
MAX_PIXELS = 40_000_000


class ImageDecodeError(ValueError):
    """The bytes are not an image PIL can read; the message says why."""


def decode_image(data: bytes, image_shape: tuple[int, int, int], resize: int | None = None) -> np.ndarray:
    """Decode ``data`` into a ``uint8`` array of ``image_shape`` (channels, height, width)."""
    if not data:
        raise ImageDecodeError("empty body: expected the bytes of an image")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_PIXELS:
                raise ImageDecodeError(
                    f"image is {img.width}x{img.height} pixels, more than the {MAX_PIXELS} accepted"
                )
            img.load()
            return to_array(img, image_shape, resize)
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError(
            f"not an image in a known format (the body starts with {data[:16]!r})"
        ) from None
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(str(exc)) from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt files raise these
        raise ImageDecodeError(f"corrupt or truncated image: {exc}") from None


def to_array(img: Image.Image, image_shape: tuple[int, int, int], resize: int | None = None) -> np.ndarray:
    """Convert a decoded PIL image to the model's ``uint8`` CHW layout (see the module docstring)."""
    channels, height, width = image_shape
    mode = "RGB" if channels == 3 else "L"
    if img.mode.startswith("I;16"):  # 16-bit grayscale PNG: keep the high byte, PIL would clip to white
        img = Image.fromarray((np.asarray(img, dtype=np.uint16) >> 8).astype(np.uint8), mode="L")
    if img.mode != mode:
        if img.mode in ("RGBA", "LA", "P", "PA") or "A" in img.getbands():
            img = img.convert("RGBA").convert(mode)
        else:
            img = img.convert(mode)
    if resize is not None:
        scale = resize / min(img.size)
        size = (max(width, round(img.width * scale)), max(height, round(img.height * scale)))
        if size != img.size:
            img = img.resize(size, Image.Resampling.BILINEAR)
        left, top = (img.width - width) // 2, (img.height - height) // 2
        img = img.crop((left, top, left + width, top + height))
    elif img.size != (width, height):
        img = img.resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(img, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    return np.ascontiguousarray(array.transpose(2, 0, 1))
