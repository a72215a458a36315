"""Stage the kept CIFAR-100 images: PNG files, DataFrames, ``.lst`` manifests, to a folder or to S3.

The tree is the same in both places (relative to the bucket's data prefix or to
``--out``)::

    train/<filename>.png   test/<filename>.png   train.lst   test.lst

The ``.lst`` files are what the built-in image-classification algorithm reads:
tab-separated ``index, class, path`` with the path relative to the image
channel's root (``train/`` or ``test/``), no header.

Both writers are idempotent and never leave half a tree behind: everything is
rendered in memory first (1200 PNGs are ~3 MB), then only files whose bytes
differ are written (local: temp name + rename; S3: compared by the MD5 ETag).
Images go first and manifests last, so a manifest never names a missing image.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from harness import cifar
from harness.account import ensure_bucket
from harness.cifar import CLASS_NAMES, SPLITS, Image
from harness.config import Settings
from harness.files import write_atomic
from harness.layout import MANIFESTS
from harness.progress import Bars
from harness.targets.base import Target

if TYPE_CHECKING:  # the data stack loads when staging runs, not when the CLI starts
    import pandas as pd

# progress(files_done, files_total)
StepCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class StagedFile:
    """One file of the staged tree: its path relative to the tree root and its bytes."""

    path: str
    body: bytes

    @property
    def md5(self) -> str:
        return hashlib.md5(self.body, usedforsecurity=False).hexdigest()

    @property
    def content_type(self) -> str:
        return "image/png" if self.path.endswith(".png") else "text/plain"


@dataclass
class StagedDataset:
    """The DataFrames (one row per image) and every file of the tree, images first, manifests last."""

    df_train: pd.DataFrame
    df_test: pd.DataFrame
    files: list[StagedFile] = field(repr=False)

    def frame(self, split: str) -> pd.DataFrame:
        return self.df_train if split == "train" else self.df_test


@dataclass
class StageResult:
    """What a staging run did: ``written`` files changed, ``unchanged`` ones were already in place.

    ``reused`` is set when no dataset was given and the bucket already held a complete staged set, so
    nothing was downloaded, read or compared.
    """

    destination: str
    written: list[str]
    unchanged: int
    counts: dict[str, dict[str, int]]
    reused: bool = False

    @property
    def total(self) -> int:
        return len(self.written) + self.unchanged

    def reuse_note(self) -> str:
        """The line that tells the user the staged set was reused (and how to restage)."""
        return (
            f"reusing the staged set in {self.destination}: {self.total} files, both manifests name only "
            "images that are there; nothing downloaded or uploaded (pass --dataset to stage again)"
        )


def encode_png(pixels: Any) -> bytes:
    """PNG bytes of an HWC uint8 array; deterministic, so re-staging produces identical objects."""
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.fromarray(pixels).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def manifest_text(df: pd.DataFrame) -> str:
    """The ``.lst`` body: ``index<TAB>class<TAB>filename`` per row, no header, trailing newline."""
    lines = (f"{r.index}\t{r.label}\t{r.filename}" for r in df.itertuples(index=False))
    return "".join(line + "\n" for line in lines)


def build_dataset(images: dict[str, list[Image]]) -> StagedDataset:
    """Render PNGs and manifests in memory and describe every image in a DataFrame."""
    import pandas as pd

    frames: dict[str, pd.DataFrame] = {}
    files: list[StagedFile] = []
    for split in SPLITS:
        rows = []
        for im in images[split]:
            png = encode_png(im.pixels)
            path = f"{split}/{im.filename}"
            files.append(StagedFile(path, png))
            rows.append(
                {
                    "index": im.index,
                    "filename": im.filename,
                    "path": path,
                    "fine_label": im.fine_label,
                    "label": im.label,
                    "class_name": CLASS_NAMES[im.label],
                    "png_md5": hashlib.md5(png, usedforsecurity=False).hexdigest(),
                }
            )
        columns = ["index", "filename", "path", "fine_label", "label", "class_name", "png_md5"]
        frames[split] = pd.DataFrame(rows, columns=columns)
    for split in SPLITS:
        files.append(StagedFile(MANIFESTS[split], manifest_text(frames[split]).encode()))
    return StagedDataset(frames["train"], frames["test"], files)


def class_counts(dataset: StagedDataset) -> dict[str, dict[str, int]]:
    return {
        split: {name: int((dataset.frame(split)["class_name"] == name).sum()) for name in CLASS_NAMES}
        for split in SPLITS
    }


# ---------------------------------------------------------------------------------------------------------
# Writers


def write_tree(dataset: StagedDataset, out: Path, progress: StepCallback | None = None) -> StageResult:
    """Write the tree under ``out``; files that already hold the same bytes are left alone."""
    written: list[str] = []
    unchanged = 0
    total = len(dataset.files)
    for i, f in enumerate(dataset.files, 1):
        target = out / f.path
        if target.is_file() and target.read_bytes() == f.body:
            unchanged += 1
        else:
            write_atomic(target, f.body)
            written.append(f.path)
        if progress:
            progress(i, total)
    return StageResult(str(out), written, unchanged, class_counts(dataset))


def _existing_etags(s3: Any, bucket: str, prefix: str) -> dict[str, str]:
    etags: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            etags[obj["Key"]] = obj["ETag"].strip('"')
    return etags


def upload_tree(
    dataset: StagedDataset,
    s3: Any,
    bucket: str,
    prefix: str = "",
    progress: StepCallback | None = None,
    workers: int = 16,
) -> StageResult:
    """Upload the tree under ``s3://bucket/prefix``, skipping objects whose MD5 ETag already matches.

    Images are uploaded (in parallel) before the manifests, so a reader that
    finds a manifest also finds every image it names.
    """
    existing = _existing_etags(s3, bucket, prefix)
    todo = [f for f in dataset.files if existing.get(prefix + f.path) != f.md5]
    unchanged = len(dataset.files) - len(todo)
    images = [f for f in todo if f.path not in MANIFESTS.values()]
    manifests = [f for f in todo if f.path in MANIFESTS.values()]
    done = 0

    def put(f: StagedFile) -> str:
        s3.put_object(Bucket=bucket, Key=prefix + f.path, Body=f.body, ContentType=f.content_type)
        return f.path

    def step(paths: Iterable[str]) -> list[str]:
        nonlocal done
        out = []
        for p in paths:
            done += 1
            out.append(p)
            if progress:
                progress(unchanged + done, len(dataset.files))
        return out

    written: list[str] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        written += step(pool.map(put, images))
    written += step(map(put, manifests))
    if progress and not todo:
        progress(len(dataset.files), len(dataset.files))
    return StageResult(f"s3://{bucket}/{prefix}", written, unchanged, class_counts(dataset))


def staged_set_in_bucket(s3: Any, bucket: str, prefix: str = "") -> StageResult | None:
    """The complete staged set under ``s3://bucket/prefix``, or ``None`` if anything is missing.

    Complete means: both manifests exist and parse (``index, class, path`` with a known class), and
    every image they name is there (paths relative to the channel root, or with the split's folder, as
    the trainer reads them). A manifest naming a missing image, an unreadable manifest or a missing
    bucket all mean "not complete", so the caller stages from the dataset as before.
    """
    try:
        existing = _existing_etags(s3, bucket, prefix)
    except ClientError:
        return None
    counts: dict[str, dict[str, int]] = {}
    files = 0
    for split, manifest in MANIFESTS.items():
        if prefix + manifest not in existing:
            return None
        text = s3.get_object(Bucket=bucket, Key=prefix + manifest)["Body"].read().decode("utf-8", "replace")
        per_class = dict.fromkeys(CLASS_NAMES, 0)
        for line in text.splitlines():
            fields = line.split("\t")
            if len(fields) != 3 or not fields[1].isdigit() or int(fields[1]) >= len(CLASS_NAMES):
                return None
            path = fields[2] if fields[2].startswith(f"{split}/") else f"{split}/{fields[2]}"
            if prefix + path not in existing:
                return None
            per_class[CLASS_NAMES[int(fields[1])]] += 1
        if not sum(per_class.values()):
            return None
        counts[split] = per_class
        files += sum(per_class.values()) + 1
    return StageResult(f"s3://{bucket}/{prefix}", [], files, counts, reused=True)


# ---------------------------------------------------------------------------------------------------------
# The whole step


def stage_dataset(
    settings: Settings,
    source: str | None,
    md5: str | None = None,
    out: Path | None = None,
    bars: Bars | None = None,
    target: Target | None = None,
) -> StageResult:
    """Fetch (cached), read, render and write the dataset to ``out`` or to the target's S3.

    Without a ``source``, a complete staged set already in the bucket is used as it is (see
    :func:`staged_set_in_bucket`): a re-run needs neither the network nor the archive. Any problem
    with the archive raises :class:`~harness.cifar.DatasetError` before the first byte is written.
    """
    if out is None and target is None:
        raise ValueError("stage_dataset: give the folder (out) or the target whose bucket to stage to")
    if source is None and target is not None and out is None:
        s3 = target.client("s3")
        reused = staged_set_in_bucket(s3, settings.bucket, settings.data_prefix)
        if reused is not None:
            return reused
    archive = cifar.resolve_source(
        source, settings.cache_dir, md5=md5, progress=bars.transfer("download CIFAR-100") if bars else None
    )
    dataset = build_dataset(cifar.read_archive(archive))
    step = bars.steps("stage files") if bars else None
    if out is not None:
        return write_tree(dataset, out, progress=step)
    assert target is not None
    s3 = target.client("s3")
    ensure_bucket(s3, settings.bucket, settings.region)
    return upload_tree(dataset, s3, settings.bucket, settings.data_prefix, progress=step)
