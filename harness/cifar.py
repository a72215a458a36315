"""CIFAR-100 (python version): fetch the tarball, read its pickles, keep bicycles and motorcycles.

The official archive is a gzip'd tar of Python 2 pickles. Three things here are
deliberate:

* Downloads land in a cache under a temporary name and are renamed into place
  only after the md5 matched, so a broken or interrupted download never poisons
  the cache and a second run never downloads again.
* Pickles are read with an allow-list unpickler: a pickle can run arbitrary code,
  and the archive comes from the network (or any path a user passes). Only the
  numpy reconstruction functions the real files reference are allowed.
* Every structural problem (truncated gzip, missing member, missing key, a row of
  the wrong length) is a :class:`DatasetError` naming the source and the problem,
  raised before anything is written anywhere.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import numpy as np

from harness.names import CLASS_NAMES  # noqa: F401 - re-exported: staging and executions use it

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
OFFICIAL_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"

# Fine labels of CIFAR-100 kept by the workflow, mapped to the classifier's class index.
FINE_LABEL_TO_CLASS = {8: 0, 48: 1}
SPLITS = ("train", "test")
IMAGE_SHAPE = (3, 32, 32)
ROW_LENGTH = 3 * 32 * 32
# The largest split pickle read into memory: the real train pickle is about 161 MB (50000 rows of 3072
# bytes plus labels and names). A member whose header declares more is refused before a byte is read,
# so a small archive holding a huge (highly compressed) member costs no memory.
MAX_MEMBER_BYTES = 256 * 1024 * 1024

# progress(bytes_done, bytes_total_or_None)
ProgressCallback = Callable[[int, int | None], None]


class DatasetError(ValueError):
    """The dataset cannot be used; the message names the source and what is wrong with it."""


@dataclass(frozen=True)
class Image:
    """One kept image: ``pixels`` is HWC uint8 (32, 32, 3), ready for PNG encoding."""

    split: str
    index: int  # position among the kept images of its split (the .lst index)
    filename: str
    fine_label: int
    label: int  # classifier class: 0 bicycle, 1 motorcycle
    pixels: np.ndarray


# ---------------------------------------------------------------------------------------------------------
# Fetching


def is_url(source: str) -> bool:
    return urlparse(source).scheme in ("http", "https")


def md5_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def cache_path_for(url: str, cache_dir: Path) -> Path:
    """Where ``url`` is cached: the official archive under its own name, others keyed by URL hash."""
    name = Path(urlparse(url).path).name or "dataset.tar.gz"
    if url == OFFICIAL_URL:
        return cache_dir / name
    tag = hashlib.sha256(url.encode()).hexdigest()[:12]
    return cache_dir / f"{tag}-{name}"


def download(
    url: str,
    dest: Path,
    md5: str | None,
    progress: ProgressCallback | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` atomically, reusing ``dest`` when it is already there and valid.

    The body goes to a temporary file next to ``dest``; only when the transfer is
    complete and the md5 matches is it renamed to ``dest``. Any failure removes
    the temporary file, so the cache only ever holds verified archives.
    """
    if dest.exists():
        if md5 is None or md5_of(dest) == md5:
            return dest
        dest.unlink()  # a cached file that no longer verifies is not worth keeping
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        request = httpx.stream("GET", url, timeout=timeout, follow_redirects=True)
        with os.fdopen(fd, "wb") as out, request as r:
            if r.status_code != 200:
                raise DatasetError(f"download of {url} failed: HTTP {r.status_code}")
            total = int(r.headers["content-length"]) if "content-length" in r.headers else None
            done = 0
            for block in r.iter_bytes(1 << 16):
                out.write(block)
                digest.update(block)
                done += len(block)
                if progress:
                    progress(done, total)
            if total is not None and done != total:
                raise DatasetError(f"download of {url} was cut short: {done} of {total} bytes")
        got = digest.hexdigest()
        if md5 is not None and got != md5:
            raise DatasetError(f"md5 mismatch for {url}: expected {md5}, got {got}")
        os.replace(tmp, dest)
        return dest
    except httpx.HTTPError as exc:
        raise DatasetError(f"cannot download {url}: {exc.__class__.__name__}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def resolve_source(
    source: str | None,
    cache_dir: Path,
    md5: str | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """A local path to a verified archive for ``source`` (a path or URL; ``None`` = the official URL).

    The official URL is always checked against its published md5. Other URLs and
    local paths are checked when ``md5`` is given.
    """
    source = source or OFFICIAL_URL
    if is_url(source):
        if md5 is None and source == OFFICIAL_URL:
            md5 = OFFICIAL_MD5
        return download(source, cache_path_for(source, cache_dir), md5, progress)
    path = Path(source).expanduser()
    if not path.is_file():
        raise DatasetError(f"dataset {source} does not exist or is not a file")
    if md5 is not None and (got := md5_of(path)) != md5:
        raise DatasetError(f"md5 mismatch for {path}: expected {md5}, got {got}")
    return path


# ---------------------------------------------------------------------------------------------------------
# Reading


class _RestrictedUnpickler(pickle.Unpickler):
    """Only the globals that numpy array pickles (Python 2 and 3) reference; anything else is refused."""

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        return super().find_class(module, name)


def _load_pickle(data: bytes, where: str) -> dict[bytes, Any]:
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:  # pickle raises many types on bad data; all mean the same here
        raise DatasetError(f"{where} is not a readable CIFAR pickle: {exc}") from exc
    if not isinstance(obj, dict):
        raise DatasetError(f"{where} is not a CIFAR pickle: expected a dict, got {type(obj).__name__}")
    return obj


def _find_member(tar: tarfile.TarFile, split: str) -> tarfile.TarInfo:
    for member in tar.getmembers():
        if member.isfile() and Path(member.name).name == split and Path(member.name).parent.name:
            return member
    raise DatasetError(f"archive has no member '<folder>/{split}' (expected cifar-100-python/{split})")


def _split_images(batch: dict[bytes, Any], split: str, where: str) -> Iterator[Image]:
    for key in (b"data", b"fine_labels", b"filenames"):
        if key not in batch:
            raise DatasetError(f"{where} has no key {key.decode()!r}")
    data, labels, names = batch[b"data"], batch[b"fine_labels"], batch[b"filenames"]
    if not isinstance(data, np.ndarray):
        raise DatasetError(f"{where}: 'data' is not an array")
    if data.ndim != 2 or data.shape[1] != ROW_LENGTH:
        raise DatasetError(
            f"{where}: rows have {data.shape[1] if data.ndim == 2 else data.size} values, "
            f"expected {ROW_LENGTH} (3x32x32)"
        )
    if not (len(data) == len(labels) == len(names)):
        raise DatasetError(f"{where}: {len(data)} rows but {len(labels)} labels and {len(names)} filenames")
    kept = 0
    for row, fine, raw_name in zip(data, labels, names, strict=True):
        if fine not in FINE_LABEL_TO_CLASS:
            continue
        name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
        if Path(name).name != name or not name:
            raise DatasetError(f"{where}: unsafe filename {name!r}")
        pixels = np.ascontiguousarray(row.astype(np.uint8).reshape(IMAGE_SHAPE).transpose(1, 2, 0))
        yield Image(split, kept, name, int(fine), FINE_LABEL_TO_CLASS[fine], pixels)
        kept += 1


def read_archive(path: Path) -> dict[str, list[Image]]:
    """All bicycle and motorcycle images of both splits, in archive order.

    Reads everything before returning, so callers either get the whole dataset
    or a :class:`DatasetError` and have written nothing.
    """
    result: dict[str, list[Image]] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for split in SPLITS:
                member = _find_member(tar, split)
                where = f"{path.name}:{member.name}"
                if member.size > MAX_MEMBER_BYTES:
                    raise DatasetError(
                        f"{where} is {member.size} bytes, more than the {MAX_MEMBER_BYTES} a CIFAR-100 "
                        "split can be: refused before reading it"
                    )
                fh = tar.extractfile(member)
                if fh is None:
                    raise DatasetError(f"{where} cannot be read as a file")
                images = list(_split_images(_load_pickle(fh.read(), where), split, where))
                names = [im.filename for im in images]
                if len(set(names)) != len(names):
                    raise DatasetError(f"{where}: duplicate filenames among the kept images")
                result[split] = images
    except MemoryError as exc:  # whatever slipped past the size check: a named error, never a traceback
        raise DatasetError(f"{path}: not enough memory to read the dataset") from exc
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DatasetError(
            f"{path} is not a readable tar.gz archive (truncated or corrupt?): "
            f"{exc.__class__.__name__}: {exc}"
        ) from exc
    return result
