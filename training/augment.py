"""The ``augmentation_type`` hyperparameter, applied to whole batches of float pixels (0-255).

Batch-wise tensor operations keep augmentation far cheaper than the network on
a 2-core CPU (per-image PIL transforms cost as much as the training step for
32x32 images). Meanings follow the AWS description:

* ``crop``: a random crop and a horizontal flip. The crop is taken from the
  image padded by 1/8 of its side (reflection), i.e. a random translation of up
  to 4 pixels for 32x32 images, the standard CIFAR augmentation.
* ``crop_color``: ``crop`` plus random hue, saturation and lightness changes;
  AWS adds values in [-36, 36], [-50, 50], [-50, 50] to the H, S, L channels.
  Here the hue is rotated by up to 36 degrees and saturation and lightness are
  shifted by up to 50/255 of their range (an RGB-space approximation).
* ``crop_color_transform``: ``crop_color`` plus a random affine transform:
  rotation up to 10 degrees, shear up to 0.1, aspect-ratio change up to 0.25.
* ``none``: no augmentation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def augment(batch: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """Augment a float batch ``(N, C, H, W)`` of 0-255 pixels according to ``kind``."""
    if kind == "none":
        return batch
    if kind == "crop_color_transform":
        batch = _affine(batch, generator)
    batch = _crop_flip(batch, generator)
    if kind in ("crop_color", "crop_color_transform") and batch.shape[1] == 3:
        batch = _color(batch, generator)
    return batch


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator) * (high - low) + low


def _crop_flip(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n, _, h, w = batch.shape
    pad_h, pad_w = max(1, h // 8), max(1, w // 8)
    padded = F.pad(batch, (pad_w, pad_w, pad_h, pad_h), mode="reflect")
    # One gather for the whole batch: row/column indices offset per image.
    dy = torch.randint(0, 2 * pad_h + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad_w + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :]
    flip = torch.rand(n, generator=generator) < 0.5
    cols = torch.where(flip[:, None, None, None], cols.flip(-1), cols)
    index_n = torch.arange(n)[:, None, None, None]
    index_c = torch.arange(batch.shape[1])[None, :, None, None]
    return padded[index_n, index_c, rows, cols]


def _color(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n = batch.shape[0]
    # Hue: rotate the chroma plane (YIQ) around the luma axis.
    angle = _uniform(n, -36.0, 36.0, generator) * math.pi / 180.0
    cos, sin = torch.cos(angle), torch.sin(angle)
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    from_yiq = torch.linalg.inv(to_yiq)
    rotation = torch.zeros(n, 3, 3)
    rotation[:, 0, 0] = 1.0
    rotation[:, 1, 1], rotation[:, 1, 2] = cos, -sin
    rotation[:, 2, 1], rotation[:, 2, 2] = sin, cos
    matrix = from_yiq @ rotation @ to_yiq  # (n, 3, 3)
    out = torch.einsum("nij,njhw->nihw", matrix, batch)
    # Saturation: move away from / towards the per-pixel grey by up to 50/255 of the range.
    grey = out.mean(dim=1, keepdim=True)
    saturation = 1.0 + _uniform(n, -50.0, 50.0, generator)[:, None, None, None] / 255.0 * 2.0
    out = grey + (out - grey) * saturation
    # Lightness: add up to +-50 grey levels.
    out = out + _uniform(n, -50.0, 50.0, generator)[:, None, None, None]
    return out.clamp(0.0, 255.0)


def _affine(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n = batch.shape[0]
    angle = _uniform(n, -10.0, 10.0, generator) * math.pi / 180.0
    shear = _uniform(n, -0.1, 0.1, generator)
    aspect = 1.0 + _uniform(n, -0.25, 0.25, generator)
    sx, sy = torch.sqrt(aspect), 1.0 / torch.sqrt(aspect)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = cos * sx
    theta[:, 0, 1] = -sin * sx + shear
    theta[:, 1, 0] = sin * sy
    theta[:, 1, 1] = cos * sy
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
