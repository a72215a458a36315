"""Staging to a folder and to S3 (moto): layout, manifests, idempotence, nothing written on bad input."""

from __future__ import annotations

import io
import os
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws
from PIL import Image as PILImage

from harness import cifar
from harness.cifar import DatasetError
from harness.config import Settings
from harness.staging import build_dataset, stage_dataset, upload_tree, write_tree
from harness.targets.registry import target_for
from tests.support.cifar import write_tarball


@pytest.fixture
def dataset(small_tarball: Path):
    return build_dataset(cifar.read_archive(small_tarball))


def test_dataframes_and_manifests(dataset) -> None:
    assert len(dataset.df_train) == 8 and len(dataset.df_test) == 4
    assert list(dataset.df_train["class_name"][:2]) == ["bicycle", "motorcycle"]
    assert dataset.df_train["path"][0] == "train/train_000000.png"
    manifest = next(f.body.decode() for f in dataset.files if f.path == "train.lst")
    lines = manifest.splitlines()
    assert lines[:2] == ["0\t0\ttrain_000000.png", "1\t1\ttrain_000002.png"]
    assert len(lines) == 8 and manifest.endswith("\n")
    # Manifests come last so a reader never sees one before its images.
    assert [f.path for f in dataset.files[-2:]] == ["train.lst", "test.lst"]


def test_write_tree_is_idempotent_and_repairs(dataset, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = write_tree(dataset, out)
    assert len(first.written) == 14 and first.unchanged == 0
    png = out / "train" / "train_000000.png"
    assert np.asarray(PILImage.open(png)).shape == (32, 32, 3)
    umask = os.umask(0o022)
    os.umask(umask)
    assert png.stat().st_mode & 0o777 == 0o666 & ~umask, "staged files are readable like any other file"
    second = write_tree(dataset, out)
    assert second.written == [] and second.unchanged == 14
    png.write_bytes(b"damaged")
    third = write_tree(dataset, out)
    assert third.written == ["train/train_000000.png"]
    assert not list(out.rglob("*.tmp")), "no temporary files may be left behind"


@mock_aws
def test_upload_is_idempotent_and_writes_manifests_last(dataset) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="bkt")
    order: list[str] = []
    s3.meta.events.register(
        "provide-client-params.s3.PutObject", lambda params, **_: order.append(params["Key"])
    )
    first = upload_tree(dataset, s3, "bkt", prefix="data/")
    assert len(first.written) == 14
    assert order[-2:] == ["data/train.lst", "data/test.lst"]
    obj = s3.get_object(Bucket="bkt", Key="data/test/test_000000.png")
    assert obj["ContentType"] == "image/png"
    assert PILImage.open(io.BytesIO(obj["Body"].read())).size == (32, 32)
    order.clear()
    second = upload_tree(dataset, s3, "bkt", prefix="data/")
    assert second.written == [] and second.unchanged == 14 and order == []


@mock_aws
def test_stage_dataset_to_s3_creates_the_bucket(small_tarball: Path, tmp_path: Path, monkeypatch) -> None:
    # moto intercepts boto3 regardless of endpoint; the aws target needs credentials to exist.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    settings = Settings(target="aws", bucket="fresh-bucket", cache_dir=tmp_path / "cache")
    result = stage_dataset(settings, str(small_tarball), target=target_for(settings))
    assert result.destination == "s3://fresh-bucket/" and len(result.written) == 14
    keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="fresh-bucket")["Contents"]}
    assert {"train.lst", "test.lst", "train/train_000000.png", "test/test_000003.png"} <= keys


@mock_aws
def test_bad_archive_writes_nothing_anywhere(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    good = write_tarball(tmp_path / "good.tar.gz")
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(good.read_bytes()[:-200])  # truncated: the test member is cut short
    out = tmp_path / "out"
    with pytest.raises(DatasetError):
        stage_dataset(Settings(cache_dir=tmp_path / "c"), str(bad), out=out)
    assert not out.exists()
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="keep")
    s3.put_object(Bucket="keep", Key="train.lst", Body=b"previous")
    with pytest.raises(DatasetError):
        aws = Settings(target="aws", bucket="keep", cache_dir=tmp_path / "c")
        stage_dataset(aws, str(bad), target=target_for(aws))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="keep")["Contents"]]
    assert keys == ["train.lst"]
    assert s3.get_object(Bucket="keep", Key="train.lst")["Body"].read() == b"previous"


def test_restage_without_dataset_reuses_a_complete_set_and_downloads_nothing(
    small_tarball: Path, tmp_path: Path, aws, monkeypatch
) -> None:
    settings = Settings(target="aws", bucket="reuse-bucket", cache_dir=tmp_path / "cache")
    first = stage_dataset(settings, str(small_tarball), target=target_for(settings))
    assert first.written and not first.reused

    def offline(*_a, **_k):
        raise AssertionError("a complete staged set must not be downloaded again")

    monkeypatch.setattr("harness.cifar.resolve_source", offline)
    again = stage_dataset(settings, None, target=target_for(settings))
    assert again.reused and again.written == []
    assert again.total == first.total and again.counts == first.counts
    assert "reusing the staged set in s3://reuse-bucket/" in again.reuse_note()


@pytest.mark.parametrize("damage", ["missing image", "missing manifest", "bad manifest line"])
def test_an_incomplete_staged_set_is_staged_again(
    damage: str, small_tarball: Path, tmp_path: Path, aws, monkeypatch
) -> None:
    import boto3

    settings = Settings(target="aws", bucket="damaged", cache_dir=tmp_path / "cache")
    stage_dataset(settings, str(small_tarball), target=target_for(settings))
    s3 = boto3.client("s3", region_name="us-east-1")
    if damage == "missing image":
        key = next(o["Key"] for o in s3.list_objects_v2(Bucket="damaged", Prefix="test/")["Contents"])
        s3.delete_object(Bucket="damaged", Key=key)
    elif damage == "missing manifest":
        s3.delete_object(Bucket="damaged", Key="train.lst")
    else:
        s3.put_object(Bucket="damaged", Key="test.lst", Body=b"0\t7\ttest/x.png\n")
    asked: list[str | None] = []
    real = __import__("harness.cifar", fromlist=["resolve_source"]).resolve_source

    def record(source, *args, **kwargs):
        asked.append(source)
        return real(str(small_tarball), *args, **kwargs)

    monkeypatch.setattr("harness.cifar.resolve_source", record)
    repaired = stage_dataset(settings, None, target=target_for(settings))
    assert asked == [None], "an incomplete set must be staged from the dataset again"
    assert not repaired.reused and repaired.written
    assert stage_dataset(settings, None, target=target_for(settings)).reused  # and now it is complete
