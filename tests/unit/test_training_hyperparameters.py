"""Hyperparameters of the built-in image-classification contract: parsing, defaults, validation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.training import write_job
from training.hyperparameters import HyperparameterError, parse_hyperparameters

REQUIRED = {"num_classes": "2", "num_training_samples": "1000"}
REPO = Path(__file__).resolve().parents[2]


def test_defaults_follow_aws_except_the_three_documented_ones() -> None:
    hp = parse_hyperparameters(REQUIRED)
    assert (hp.num_classes, hp.num_training_samples) == (2, 1000)
    # AWS defaults.
    assert hp.image_shape == (3, 224, 224)
    assert (hp.epochs, hp.mini_batch_size, hp.learning_rate) == (30, 32, 0.1)
    assert (hp.optimizer, hp.momentum, hp.weight_decay) == ("sgd", 0.9, 0.0001)
    assert (hp.beta_1, hp.beta_2, hp.eps, hp.gamma) == (0.9, 0.999, 1e-8, 0.9)
    assert hp.lr_scheduler_factor == 0.1
    assert (hp.early_stopping, hp.early_stopping_min_epochs, hp.early_stopping_patience) == (False, 10, 5)
    assert hp.early_stopping_tolerance == 0.0
    assert (hp.use_pretrained_model, hp.multi_label, hp.use_weighted_loss) == (0, 0, 0)
    assert hp.precision_dtype == "float32"
    assert hp.resize is None and hp.top_k is None and hp.checkpoint_frequency is None
    # The documented deviations: unset means the compact network, crop augmentation, one-cycle schedule.
    assert hp.num_layers is None
    assert hp.augmentation_type == "crop"
    assert hp.lr_scheduler_step == ()
    assert hp.given == REQUIRED


def test_string_values_are_parsed_to_their_types() -> None:
    hp = parse_hyperparameters(
        {
            **REQUIRED,
            "image_shape": " 3, 32, 32 ",
            "num_layers": "20",
            "epochs": "5",
            "mini_batch_size": "64.0",
            "learning_rate": "0.05",
            "optimizer": "NAG",
            "lr_scheduler_step": "10,20",
            "lr_scheduler_factor": "0.5",
            "early_stopping": "True",
            "early_stopping_patience": "3",
            "augmentation_type": "crop_color_transform",
            "resize": "40",
            "top_k": "2",
            "checkpoint_frequency": "5",
            "kv_store": "dist_sync",
        }
    )
    assert hp.image_shape == (3, 32, 32)
    assert (hp.num_layers, hp.epochs, hp.mini_batch_size) == (20, 5, 64)
    assert (hp.learning_rate, hp.optimizer) == (0.05, "nag")
    assert (hp.lr_scheduler_step, hp.lr_scheduler_factor) == ((10, 20), 0.5)
    assert hp.early_stopping is True and hp.early_stopping_patience == 3
    assert (hp.augmentation_type, hp.resize, hp.top_k) == ("crop_color_transform", 40, 2)


def test_sdk_and_tuning_keys_are_ignored() -> None:
    hp = parse_hyperparameters(
        {**REQUIRED, "sagemaker_region": '"us-east-1"', "_tuning_objective_metric": "x"}
    )
    assert hp.given == REQUIRED


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("num_classes", "two", "num_classes='two' is invalid: expected an integer"),
        ("num_classes", "1", "expected at least 2"),
        ("num_training_samples", "0", "expected a positive integer"),
        ("epochs", "2.5", "epochs='2.5' is invalid: expected an integer"),
        ("epochs", "-1", "expected a positive integer"),
        ("mini_batch_size", "", "expected an integer"),
        ("learning_rate", "1.5", "expected a number in [0, 1]"),
        ("learning_rate", "0", "a learning rate of 0 never trains"),
        ("momentum", "nan", "expected a number in [0, 1]"),
        ("optimizer", "adagrad", "expected one of sgd, adam, rmsprop, nag"),
        (
            "num_layers",
            "19",
            "expected one of 20, 32, 44, 56, 110 (small images) or 18, 34, 50, 101, 152, 200",
        ),
        ("image_shape", "32,32", "expected 'num_channels,height,width'"),
        ("image_shape", "4,32,32", "num_channels must be 3 (RGB) or 1 (grayscale)"),
        ("image_shape", "3,4,4", "height and width must be at least 8"),
        ("augmentation_type", "rotate", "expected one of crop, crop_color, crop_color_transform, none"),
        ("lr_scheduler_step", "20,10", "strictly increasing"),
        ("lr_scheduler_step", "ten", "comma-separated positive epoch numbers"),
        ("early_stopping", "yes", "expected True or False"),
        ("top_k", "1", "larger than 1"),
        ("top_k", "3", "must not exceed num_classes=2"),
        ("checkpoint_frequency", "31", "must not exceed epochs=30"),
        ("precision_dtype", "bfloat16", "expected one of float32, float16"),
        ("resize", "8", "the shorter side must be at least the image_shape height/width"),
        ("use_pretrained_model", "1", "no pretrained weights"),
        ("multi_label", "1", "single-label"),
        ("use_weighted_loss", "2", "expected 0 or 1"),
    ],
)
def test_bad_values_name_the_key_and_what_is_accepted(key: str, value: str, expected: str) -> None:
    with pytest.raises(HyperparameterError) as info:
        parse_hyperparameters({**REQUIRED, key: value})
    assert expected in str(info.value)


def test_unknown_and_missing_keys_are_errors() -> None:
    with pytest.raises(
        HyperparameterError, match=r"unknown hyperparameter.*num_layer\b.*supported: .*num_layers"
    ):
        parse_hyperparameters({**REQUIRED, "num_layer": "18"})
    with pytest.raises(HyperparameterError, match=r"missing required hyperparameter.*num_training_samples"):
        parse_hyperparameters({"num_classes": "2"})


def _run_trainer(opt_ml: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPT_ML": str(opt_ml), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "training.train"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"epochs": "zero"}, "ClientError: hyperparameter epochs='zero' is invalid: expected an integer"),
        ({"use_pretrained_model": "1"}, "ClientError: use_pretrained_model=1 is not supported"),
    ],
)
def test_trainer_writes_the_failure_file_for_bad_hyperparameters(
    tmp_path: Path, change: dict, reason: str
) -> None:
    opt_ml = write_job(tmp_path, {**REQUIRED, "image_shape": "3,16,16", **change}, n_train=4, n_validation=2)
    done = _run_trainer(opt_ml)
    assert done.returncode == 1
    failure = (opt_ml / "output" / "failure").read_text()
    assert failure.startswith(reason), failure
    assert reason in done.stdout
    assert not (opt_ml / "model" / "model.onnx").exists()


def test_trainer_fails_clearly_on_a_missing_channel_and_a_missing_image(tmp_path: Path) -> None:
    hyperparameters = {**REQUIRED, "image_shape": "3,16,16"}
    opt_ml = write_job(tmp_path / "a", hyperparameters, n_train=4, n_validation=2)
    config = opt_ml / "input" / "config" / "inputdataconfig.json"
    channels = json.loads(config.read_text())
    del channels["validation_lst"]
    config.write_text(json.dumps(channels))
    for f in (opt_ml / "input" / "data" / "validation_lst").iterdir():
        f.unlink()
    (opt_ml / "input" / "data" / "validation_lst").rmdir()
    assert _run_trainer(opt_ml).returncode == 1
    assert (
        (opt_ml / "output" / "failure")
        .read_text()
        .startswith("ClientError: channel 'validation_lst' is missing")
    )

    opt_ml = write_job(tmp_path / "b", hyperparameters, n_train=4, n_validation=2)
    (opt_ml / "input" / "data" / "train" / "train_0002.png").unlink()
    assert _run_trainer(opt_ml).returncode == 1
    failure = (opt_ml / "output" / "failure").read_text()
    assert failure.startswith("ClientError: image 'train_0002.png' listed in the manifest is not in"), failure
