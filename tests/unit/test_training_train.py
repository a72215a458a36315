"""Training in the container layout: a real short run, the logs, the exported model, the architectures."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from tests.support.training import write_job
from training import train as trainer
from training.export import Deployable, export_onnx
from training.hyperparameters import parse_hyperparameters
from training.models import CompactResNet, build_model
from training.serve import load_classifier

REPO = Path(__file__).resolve().parents[2]
TINY = {"num_classes": "2", "num_training_samples": "48", "image_shape": "3,16,16", "mini_batch_size": "8"}


def test_short_run_in_the_container_layout_writes_a_servable_model(tmp_path: Path) -> None:
    opt_ml = write_job(tmp_path, {**TINY, "epochs": "2"})
    env = {**os.environ, "OPT_ML": str(opt_ml), "PYTHONPATH": str(REPO), "TRAINING_SEED": "3"}
    done = subprocess.run(
        [sys.executable, "-m", "training.train"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (opt_ml / "output" / "failure").exists()
    # The built-in algorithm's metric lines, parseable by its MetricDefinitions regexes.
    train_acc = re.findall(r"Epoch\[(\d+)\] Train-accuracy=([0-9.]+)", done.stdout)
    val_acc = re.findall(r"Epoch\[(\d+)\] Validation-accuracy=([0-9.]+)", done.stdout)
    assert [e for e, _ in train_acc] == ["0", "1"] and [e for e, _ in val_acc] == ["0", "1"]
    assert all(0.0 <= float(v) <= 1.0 for _, v in train_acc + val_acc)

    model_dir = opt_ml / "model"
    assert sorted(p.name for p in model_dir.iterdir()) == ["model-info.json", "model.onnx"]
    info = json.loads((model_dir / "model-info.json").read_text())
    assert info["image_shape"] == [3, 16, 16] and info["classes"] == [0, 1] and info["seed"] == 3
    best = max(float(v) for _, v in val_acc)
    assert info["validation_accuracy"] == pytest.approx(best)
    assert f"Epoch[{info['best_epoch']}] Validation-accuracy={best:f}" in done.stdout

    classifier = load_classifier(model_dir)
    images = np.random.default_rng(0).integers(0, 256, (5, 3, 16, 16), dtype=np.uint8)
    probabilities = classifier.predict(images)
    assert probabilities.shape == (5, 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5) and (probabilities >= 0).all()


def test_best_epoch_is_kept_and_reported_accuracy_is_the_exported_models(tmp_path: Path) -> None:
    opt_ml = write_job(tmp_path, {})
    os.environ["OPT_ML"] = str(opt_ml)
    try:
        hp = parse_hyperparameters({**TINY, "epochs": "3"})
        train, validation = trainer.load_data(hp)
        model, result = trainer.fit(hp, train, validation, seed=0)
    finally:
        del os.environ["OPT_ML"]
    assert result.epochs_run == 3 and 0 <= result.best_epoch < 3
    accuracy, _ = trainer.evaluate(model, validation)
    assert accuracy == result.best_accuracy
    # The ONNX export computes the same function as the torch model it came from.
    session = ort.InferenceSession(export_onnx(model, (3, 16, 16)), providers=["CPUExecutionProvider"])
    pixels = validation.images.astype(np.float32)
    onnx_out = session.run(None, {"image": pixels})[0]
    with torch.no_grad():
        torch_out = model(torch.from_numpy(pixels)).numpy()
    np.testing.assert_allclose(onnx_out, torch_out, rtol=1e-4, atol=1e-5)
    onnx_accuracy = float((onnx_out.argmax(axis=1) == validation.labels).mean())
    assert onnx_accuracy == result.best_accuracy


def test_early_stopping_ends_training_after_patience_epochs_without_improvement(tmp_path: Path) -> None:
    opt_ml = write_job(tmp_path, {})
    os.environ["OPT_ML"] = str(opt_ml)
    try:
        hp = parse_hyperparameters(
            {
                **TINY,
                "epochs": "8",
                "early_stopping": "True",
                "early_stopping_min_epochs": "1",
                "early_stopping_patience": "2",
                # Relative improvement must exceed 100%: nothing after the first epoch counts.
                "early_stopping_tolerance": "1.0",
            }
        )
        train, validation = trainer.load_data(hp)
        _, result = trainer.fit(hp, train, validation, seed=0)
    finally:
        del os.environ["OPT_ML"]
    assert result.epochs_run == 3


def test_step_schedule_has_the_aws_meaning_and_the_default_is_one_cycle() -> None:
    hp = parse_hyperparameters(
        {**TINY, "epochs": "6", "lr_scheduler_step": "2,4", "lr_scheduler_factor": "0.5"}
    )
    schedule = trainer.make_schedule(hp, steps_per_epoch=10)
    assert [schedule(s) for s in (0, 19, 20, 39, 40, 59)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    one_cycle = trainer.make_schedule(parse_hyperparameters({**TINY, "epochs": "10"}), steps_per_epoch=10)
    values = [one_cycle(s) for s in range(100)]
    assert values[0] < 0.1 and max(values) == 1.0 and values.index(1.0) == 19 and values[-1] < 0.02
    assert values[:20] == sorted(values[:20]) and values[19:] == sorted(values[19:], reverse=True)


@pytest.mark.parametrize(
    ("num_layers", "image_shape", "parameters"),
    [
        (None, (3, 32, 32), (400_000, 420_000)),  # compact ResNet-9
        (20, (3, 32, 32), (260_000, 280_000)),  # He et al.: 0.27 M
        (56, (1, 32, 32), (840_000, 870_000)),  # 0.85 M
        (18, (3, 32, 32), (11_000_000, 11_300_000)),  # 11.2 M (small-image stem)
        (50, (3, 64, 64), (23_400_000, 23_600_000)),  # 23.5 M without the 1000-class head
    ],
)
def test_num_layers_builds_the_named_resnet(
    num_layers: int | None, image_shape: tuple[int, int, int], parameters: tuple[int, int]
) -> None:
    net = build_model(num_layers, 2, image_shape).eval()
    count = sum(p.numel() for p in net.parameters())
    assert parameters[0] <= count <= parameters[1], count
    with torch.no_grad():
        assert net(torch.zeros(2, *image_shape)).shape == (2, 2)


def test_deployable_averages_the_image_and_its_mirror() -> None:
    torch.manual_seed(0)
    net = CompactResNet(2).eval()
    model = Deployable(net, torch.tensor([100.0, 110.0, 120.0]), torch.tensor([50.0, 60.0, 70.0])).eval()
    pixels = torch.rand(3, 3, 32, 32) * 255
    with torch.no_grad():
        x = (pixels - model.mean) * model.inv_std
        expected = (torch.softmax(net(x), 1) + torch.softmax(net(x.flip(3)), 1)) / 2
        assert torch.allclose(model(pixels), expected, atol=1e-6)
        assert torch.allclose(model(pixels.flip(3)), model(pixels), atol=1e-5)  # mirror-invariant


def test_training_device_prefers_the_gpu_and_can_be_overridden(monkeypatch) -> None:
    import torch

    from training import train as train_mod

    monkeypatch.delenv("TRAINING_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert train_mod.training_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert train_mod.training_device() == torch.device("cpu")
    monkeypatch.setenv("TRAINING_DEVICE", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert train_mod.training_device() == torch.device("cpu")


def test_a_mini_batch_larger_than_the_train_channel_fails_the_job_as_a_client_error(tmp_path: Path) -> None:
    # The built-in image-classification algorithm fails such a job with a "ClientError: ..." FailureReason
    # instead of shrinking the batch (issue 23: the emulator used to clamp it silently).
    opt_ml = write_job(tmp_path, {}, n_train=8)
    os.environ["OPT_ML"] = str(opt_ml)
    try:
        hp = parse_hyperparameters({**TINY, "num_training_samples": "8", "mini_batch_size": "16"})
        with pytest.raises(trainer.ClientError, match="mini_batch_size=16 is larger than the 8 images"):
            trainer.load_data(hp)
    finally:
        del os.environ["OPT_ML"]
