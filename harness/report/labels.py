"""True labels for captured inputs, found by matching images against the staged test set.

A captured input matches a staged test image when their decoded pixels are the same
(:mod:`harness.report.pixels`): the project's serializer sends the staged PNG's bytes
unchanged, but captures from AWS often hold re-encoded PNGs (matplotlib's ``imsave``)
of the same test images. Inputs that are not images match by the SHA-256 of their bytes.
``test.lst`` gives each test image's class. Nothing is guessed: an input that matches
no staged test image simply has no known label.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from harness.aws_errors import is_not_found
from harness.report.pixels import pixel_key

_FETCH_THREADS = 8


@dataclass
class LabelIndex:
    """SHA-256 of a staged test image's bytes -> its class index."""

    by_sha256: dict[str, int] = field(default_factory=dict)
    source: str | None = None  # the test.lst URI the labels came from; None when there was none
    by_pixels: dict[str, int] = field(default_factory=dict)  # pixel key -> class index
    # SHA-256 of a staged image's bytes -> its pixel key: the same image sent as is or re-encoded is
    # one distinct image.
    pixels_of: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.by_sha256)

    def label_of(self, sha256: str | None, pixels: str | None = None) -> int | None:
        """The class of the staged image with these pixels (or, for non-images, these bytes)."""
        if pixels is not None and pixels in self.by_pixels:
            return self.by_pixels[pixels]
        return None if sha256 is None else self.by_sha256.get(sha256)

    def image_key(self, sha256: str | None, pixels: str | None = None) -> str | None:
        """One key per distinct image: its pixels when known (a staged image's, or a decoded input's),
        else the SHA-256 of its bytes."""
        return pixels or (self.pixels_of.get(sha256) if sha256 else None) or sha256


def parse_lst(text: str) -> list[tuple[int, str]]:
    """Rows of an image list file (``index<TAB>class<TAB>relative path``) as ``(class, path)``."""
    rows: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 3:
            raise ValueError(f"line {number}: expected index, class and path separated by tabs")
        try:
            label = int(float(parts[1]))
        except ValueError as exc:
            raise ValueError(f"line {number}: class {parts[1]!r} is not a number") from exc
        rows.append((label, parts[-1].strip()))
    return rows


def image_key(data_prefix: str, split: str, relative: str) -> str:
    """The S3 key of an image a ``<split>.lst`` row names.

    The built-in algorithm reads list paths relative to the channel's folder (``bicycle_1.png``
    in ``test/``), which is how staging writes them; a path that already starts with the split's
    folder (``test/bicycle_1.png``) is taken as relative to the data prefix.
    """
    relative = relative.lstrip("/")
    if relative.startswith(f"{split}/"):
        return f"{data_prefix}{relative}"
    return f"{data_prefix}{split}/{relative}"


def load_label_index(s3: Any, bucket: str, data_prefix: str, split: str = "test") -> LabelIndex:
    """Hash every image ``<split>.lst`` names; an unstaged data set gives an empty index, not an error."""
    lst_key = f"{data_prefix}{split}.lst"
    try:
        text = s3.get_object(Bucket=bucket, Key=lst_key)["Body"].read().decode("utf-8")
    except ClientError as exc:
        if is_not_found(exc):
            return LabelIndex()
        raise
    rows = parse_lst(text)

    def digest(row: tuple[int, str]) -> tuple[str, str | None, int] | None:
        label, relative = row
        try:
            body = s3.get_object(Bucket=bucket, Key=image_key(data_prefix, split, relative))["Body"].read()
        except ClientError as exc:
            if is_not_found(exc):
                return None  # listed but not staged: that image simply cannot be matched
            raise
        return hashlib.sha256(body).hexdigest(), pixel_key(body), label

    # Small objects, one request each: a few threads hide the per-request latency (boto3 clients are
    # thread-safe).
    with ThreadPoolExecutor(max_workers=_FETCH_THREADS) as pool:
        found = [hit for hit in pool.map(digest, rows) if hit is not None]
    return LabelIndex(
        by_sha256={sha: label for sha, _, label in found},
        source=f"s3://{bucket}/{lst_key}",
        by_pixels={pixels: label for _, pixels, label in found if pixels is not None},
        pixels_of={sha: pixels for sha, pixels, _ in found if pixels is not None},
    )
