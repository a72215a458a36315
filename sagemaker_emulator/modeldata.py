"""A model's data on local disk: ``model.tar.gz`` or an uncompressed S3 prefix, as SageMaker lays it out.

The container finds the model under ``/opt/ml/model``; here that is ``<workdir>/opt_ml/model``.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path
from typing import Any

from sagemaker_emulator import aws


class DeployError(RuntimeError):
    """A variant could not be brought up; the message becomes the endpoint's FailureReason."""


def extract_model(archive: Path, dest: Path) -> None:
    """Unpack model.tar.gz like SageMaker does, refusing members that escape ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            safe_extractall(tar, dest)
    except (tarfile.TarError, OSError) as exc:
        raise DeployError(
            f"Failed to extract model data archive {archive.name}. Please ensure that the object is a valid "
            f"tar.gz archive ({exc})."
        ) from exc


def safe_extractall(tar: tarfile.TarFile, dest: Path) -> None:
    """``extractall(filter="data")`` where the Python has it (3.11.4+, 3.12+), else the same refusals by hand.

    Debian bookworm's python3 is 3.11.2 (the offline images' base), and ``filter=`` raises ``TypeError``
    there: leading slashes are stripped, and members that ``..`` takes outside ``dest``, absolute links or
    links pointing outside it, and device files are refused before anything is written, as the data
    filter does.
    """
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    root = dest.resolve()
    for member in tar.getmembers():
        member.name = member.name.lstrip("/")
        target = (root / member.name).resolve()
        if not target.is_relative_to(root):
            raise tarfile.TarError(f"member {member.name!r} would be extracted outside the model directory")
        if member.isdev():
            raise tarfile.TarError(f"member {member.name!r} is a device file")
        if member.issym() or member.islnk():
            base = target.parent if member.issym() else root
            linked = (base / member.linkname).resolve()
            if Path(member.linkname).is_absolute() or not linked.is_relative_to(root):
                raise tarfile.TarError(
                    f"link {member.name!r} -> {member.linkname!r} points outside the model"
                )
    tar.extractall(dest)


def prepare_model_dir(container: dict[str, Any], workdir: Path) -> None:
    """Download and extract the model's data into ``workdir/opt_ml/model`` (empty when none)."""
    model_dir = workdir / "opt_ml" / "model"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    model_dir.mkdir(parents=True)
    url = container.get("ModelDataUrl")
    source = (container.get("ModelDataSource") or {}).get("S3DataSource")
    if url:
        archive = workdir / "model.tar.gz"
        aws.download_object(url, archive)
        extract_model(archive, model_dir)
        archive.unlink(missing_ok=True)
    elif source:
        if source.get("CompressionType") == "Gzip":
            archive = workdir / "model.tar.gz"
            aws.download_object(source["S3Uri"], archive)
            extract_model(archive, model_dir)
            archive.unlink(missing_ok=True)
        else:
            aws.download_prefix(source["S3Uri"], model_dir)
