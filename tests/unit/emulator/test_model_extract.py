"""Model archives unpack on every Python the emulator runs on, with or without ``filter=`` (3.11.4+)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from sagemaker_emulator import modeldata


def _archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes = b"w") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name: str, target: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info, None


@pytest.fixture(params=["filter", "no-filter"])
def python_floor(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each case as on 3.11.4+ and as on Debian's 3.11.2, whose tarfile has no data filter."""
    if request.param == "no-filter":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)

        original = tarfile.TarFile.extractall

        def no_filter(self, path=".", members=None, *, numeric_owner=False, **kwargs):  # type: ignore[no-untyped-def]
            if kwargs:
                raise TypeError(f"extractall() got an unexpected keyword argument {next(iter(kwargs))!r}")
            return original(self, path, members, numeric_owner=numeric_owner)

        monkeypatch.setattr(tarfile.TarFile, "extractall", no_filter)
    elif not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python's tarfile has no data filter")
    return request.param


def test_a_model_archive_unpacks(tmp_path: Path, python_floor: str) -> None:
    archive = _archive(
        tmp_path / "model.tar.gz", [_file("model.onnx", b"onnx"), _file("sub/meta.json", b"{}")]
    )
    modeldata.extract_model(archive, tmp_path / "out")
    assert (tmp_path / "out" / "model.onnx").read_bytes() == b"onnx"
    assert (tmp_path / "out" / "sub" / "meta.json").read_bytes() == b"{}"


def test_leading_slashes_are_stripped_as_the_data_filter_does(tmp_path: Path, python_floor: str) -> None:
    archive = _archive(tmp_path / "model.tar.gz", [_file("/abs/model.onnx", b"onnx")])
    modeldata.extract_model(archive, tmp_path / "out")
    assert (tmp_path / "out" / "abs" / "model.onnx").read_bytes() == b"onnx"


@pytest.mark.parametrize(
    "member",
    [
        _file("../escape.txt"),
        _file("a/../../escape.txt"),
        _link("evil", "../../etc/passwd"),
        _link("abs", "/etc"),
    ],
    ids=["dotdot", "nested-dotdot", "link-out", "absolute-link"],
)
def test_members_escaping_the_model_directory_are_refused(tmp_path: Path, python_floor: str, member) -> None:
    archive = _archive(tmp_path / "model.tar.gz", [member])
    with pytest.raises(modeldata.DeployError, match="Failed to extract model data archive"):
        modeldata.extract_model(archive, tmp_path / "out" / "model")
    assert not (tmp_path / "out" / "escape.txt").exists()
