"""The real 1000 + 200 bicycle/motorcycle images of CIFAR-100's standard split (shared/data)."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from typer.testing import CliRunner

from harness import cifar
from harness.main import app
from harness.staging import build_dataset


def _raw_rows(path: Path, split: str) -> dict[str, np.ndarray]:
    """Straight from the pickle, independent of the staging code: filename -> CHW row."""
    with tarfile.open(path) as tar:
        batch = pickle.load(tar.extractfile(f"cifar-100-python/{split}"), encoding="bytes")
    return {
        name.decode(): row
        for name, row, label in zip(batch[b"filenames"], batch[b"data"], batch[b"fine_labels"], strict=True)
        if label in (8, 48)
    }


def test_real_split_counts_names_and_pixels(mini_dataset: Path) -> None:
    dataset = build_dataset(cifar.read_archive(mini_dataset))
    assert len(dataset.df_train) == 1000 and len(dataset.df_test) == 200
    assert dataset.df_train["class_name"].value_counts().to_dict() == {"bicycle": 500, "motorcycle": 500}
    assert dataset.df_test["class_name"].value_counts().to_dict() == {"bicycle": 100, "motorcycle": 100}
    pngs = {f.path: f.body for f in dataset.files}
    for split, frame in (("train", dataset.df_train), ("test", dataset.df_test)):
        raw = _raw_rows(mini_dataset, split)
        assert list(frame["filename"]) == list(raw), "filenames and order as in the tarball"
        for name, row in raw.items():
            decoded = np.asarray(PILImage.open(io.BytesIO(pngs[f"{split}/{name}"])))
            np.testing.assert_array_equal(decoded, row.reshape(3, 32, 32).transpose(1, 2, 0))


def test_cli_stage_out_on_real_data(mini_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "staged"
    result = CliRunner().invoke(app, ["stage", "--dataset", str(mini_dataset), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(list((out / "train").glob("*.png"))) == 1000
    assert len(list((out / "test").glob("*.png"))) == 200
    train_lst = (out / "train.lst").read_text().splitlines()
    assert len(train_lst) == 1000 and len((out / "test.lst").read_text().splitlines()) == 200
    index, label, name = train_lst[0].split("\t")
    assert index == "0" and label in ("0", "1") and (out / "train" / name).is_file()
