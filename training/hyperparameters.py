"""The built-in image-classification algorithm's hyperparameters: AWS names, defaults and meanings.

SageMaker hands every hyperparameter to the container as a *string* in
``hyperparameters.json``. This module turns that dict into a typed, validated
:class:`Hyperparameters`, or raises :class:`HyperparameterError` naming the bad
key and what it accepts. It imports neither torch nor numpy, so the validation
is cheap and testable on its own.

Names, value ranges and defaults follow the AWS page "Image Classification
Hyperparameters". Three defaults differ on purpose, because the AWS defaults
describe a GPU recipe (ResNet-152 for ~hours, constant learning rate) that
cannot reach the project's goal (>= 0.90 validation accuracy in 3 minutes on a
2-core CPU). Each one is overridden only while the user leaves the key unset;
setting the key always gives the AWS meaning:

* ``num_layers`` unset -> the compact ResNet-9-style network (see
  ``training/models.py``); AWS default: 152. Any AWS value (20/32/44/56/110,
  18/34/50/101/152/200) builds that ResNet.
* ``augmentation_type`` unset -> ``crop`` (random crop + horizontal flip); AWS
  default: no augmentation. ``none`` is accepted to switch it off explicitly.
* ``lr_scheduler_step`` unset -> a one-cycle schedule peaking at
  ``learning_rate``; AWS default: constant learning rate. When the key is set,
  the learning rate is multiplied by ``lr_scheduler_factor`` at those epochs,
  exactly as AWS describes.

Keys starting with ``sagemaker_`` or ``_`` (added by the SageMaker SDK and by
hyperparameter tuning) are ignored; any other unknown key is an error, as it is
for the built-in algorithm.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

CIFAR_LAYERS = (20, 32, 44, 56, 110)
IMAGENET_LAYERS = (18, 34, 50, 101, 152, 200)
OPTIMIZERS = ("sgd", "adam", "rmsprop", "nag")
AUGMENTATIONS = ("crop", "crop_color", "crop_color_transform", "none")
MIN_IMAGE_SIDE = 8  # the compact network halves the image three times


class HyperparameterError(ValueError):
    """A hyperparameter is missing, unknown or out of range; the message names it."""


@dataclass(frozen=True)
class Hyperparameters:
    """Validated hyperparameters. ``None`` means "unset" where AWS has no default."""

    num_classes: int
    num_training_samples: int
    image_shape: tuple[int, int, int] = (3, 224, 224)
    num_layers: int | None = None
    epochs: int = 30
    mini_batch_size: int = 32
    learning_rate: float = 0.1
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0001
    beta_1: float = 0.9
    beta_2: float = 0.999
    eps: float = 1e-8
    gamma: float = 0.9
    augmentation_type: str = "crop"
    resize: int | None = None
    lr_scheduler_step: tuple[int, ...] = ()
    lr_scheduler_factor: float = 0.1
    early_stopping: bool = False
    early_stopping_min_epochs: int = 10
    early_stopping_patience: int = 5
    early_stopping_tolerance: float = 0.0
    checkpoint_frequency: int | None = None
    top_k: int | None = None
    use_pretrained_model: int = 0
    use_weighted_loss: int = 0
    multi_label: int = 0
    precision_dtype: str = "float32"
    kv_store: str | None = None
    # Keys the user actually set (the raw strings), for logging and the model metadata.
    given: dict[str, str] = field(default_factory=dict, compare=False)


# ---------------------------------------------------------------------------------------------------------
# Value parsers: each takes the raw string and returns the typed value or raises ValueError(reason).


def _int(text: str) -> int:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError("expected an integer") from None
    if not math.isfinite(value) or value != int(value):
        raise ValueError("expected an integer")
    return int(value)


def _positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise ValueError("expected a positive integer")
    return value


def _unit_float(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError("expected a number in [0, 1]") from None
    if not (0.0 <= value <= 1.0):
        raise ValueError("expected a number in [0, 1]")
    return value


def _learning_rate(text: str) -> float:
    value = _unit_float(text)
    if value == 0.0:
        raise ValueError("expected a number in (0, 1]: a learning rate of 0 never trains")
    return value


def _flag(text: str) -> int:
    value = _int(text)
    if value not in (0, 1):
        raise ValueError("expected 0 or 1")
    return value


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError("expected True or False")


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return value

    return parse


def _image_shape(text: str) -> tuple[int, int, int]:
    parts = [p.strip() for p in text.strip().strip("()[]").split(",")]
    if len(parts) != 3:
        raise ValueError("expected 'num_channels,height,width', for example '3,32,32'")
    try:
        channels, height, width = (_int(p) for p in parts)
    except ValueError:
        raise ValueError("expected three integers 'num_channels,height,width'") from None
    if channels not in (1, 3):
        raise ValueError("num_channels must be 3 (RGB) or 1 (grayscale)")
    if height < MIN_IMAGE_SIDE or width < MIN_IMAGE_SIDE:
        raise ValueError(f"height and width must be at least {MIN_IMAGE_SIDE}")
    return channels, height, width


def _num_layers(text: str) -> int:
    value = _int(text)
    if value not in CIFAR_LAYERS + IMAGENET_LAYERS:
        raise ValueError(
            f"expected one of {', '.join(map(str, CIFAR_LAYERS))} (small images) "
            f"or {', '.join(map(str, IMAGENET_LAYERS))} (large images)"
        )
    return value


def _epoch_list(text: str) -> tuple[int, ...]:
    try:
        steps = tuple(_positive_int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise ValueError("expected comma-separated positive epoch numbers, for example '10,20'") from None
    if not steps:
        raise ValueError("expected comma-separated positive epoch numbers, for example '10,20'")
    if list(steps) != sorted(set(steps)):
        raise ValueError("epochs must be strictly increasing")
    return steps


def _top_k(text: str) -> int:
    value = _int(text)
    if value < 2:
        raise ValueError("expected an integer larger than 1 (top-1 is the regular accuracy)")
    return value


PARSERS: dict[str, Callable[[str], Any]] = {
    "num_classes": _positive_int,
    "num_training_samples": _positive_int,
    "image_shape": _image_shape,
    "num_layers": _num_layers,
    "epochs": _positive_int,
    "mini_batch_size": _positive_int,
    "learning_rate": _learning_rate,
    "optimizer": _choice(OPTIMIZERS),
    "momentum": _unit_float,
    "weight_decay": _unit_float,
    "beta_1": _unit_float,
    "beta_2": _unit_float,
    "eps": _unit_float,
    "gamma": _unit_float,
    "augmentation_type": _choice(AUGMENTATIONS),
    "resize": _positive_int,
    "lr_scheduler_step": _epoch_list,
    "lr_scheduler_factor": _unit_float,
    "early_stopping": _bool,
    "early_stopping_min_epochs": _positive_int,
    "early_stopping_patience": _positive_int,
    "early_stopping_tolerance": _unit_float,
    "checkpoint_frequency": _positive_int,
    "top_k": _top_k,
    "use_pretrained_model": _flag,
    "use_weighted_loss": _flag,
    "multi_label": _flag,
    "precision_dtype": _choice(("float32", "float16")),
    "kv_store": _choice(("dist_sync", "dist_async")),
}
REQUIRED = ("num_classes", "num_training_samples")
assert set(PARSERS) == {f.name for f in fields(Hyperparameters)} - {"given"}


def parse_hyperparameters(raw: Mapping[str, Any]) -> Hyperparameters:
    """Validate the ``hyperparameters.json`` dict (string values, as SageMaker writes them).

    Raises :class:`HyperparameterError` for the first problem, naming the key, the
    value and what would be accepted, so it can go straight into the failure file.
    """
    if not isinstance(raw, Mapping):
        raise HyperparameterError("hyperparameters.json must hold a JSON object of name -> value")
    given = {
        str(k): str(v)
        for k, v in raw.items()
        if not (str(k).startswith("sagemaker_") or str(k).startswith("_"))
    }
    unknown = sorted(set(given) - set(PARSERS))
    if unknown:
        raise HyperparameterError(
            f"unknown hyperparameter(s) {', '.join(unknown)}; supported: {', '.join(sorted(PARSERS))}"
        )
    missing = [name for name in REQUIRED if name not in given]
    if missing:
        raise HyperparameterError(f"missing required hyperparameter(s): {', '.join(missing)}")
    values: dict[str, Any] = {}
    for name, text in given.items():
        try:
            values[name] = PARSERS[name](text)
        except ValueError as exc:
            raise HyperparameterError(f"hyperparameter {name}={text!r} is invalid: {exc}") from None
    hp = Hyperparameters(**values, given=given)
    _check_consistency(hp)
    return hp


def _check_consistency(hp: Hyperparameters) -> None:
    """Rules that involve more than one key."""
    if hp.use_pretrained_model:
        raise HyperparameterError(
            "use_pretrained_model=1 is not supported: this trainer runs offline and ships no pretrained "
            "weights; train from scratch (use_pretrained_model=0)"
        )
    if hp.multi_label:
        raise HyperparameterError(
            "multi_label=1 is not supported: this trainer does single-label classification"
        )
    if hp.num_classes < 2:
        raise HyperparameterError(
            f"hyperparameter num_classes={hp.num_classes} is invalid: expected at least 2"
        )
    if hp.checkpoint_frequency is not None and hp.checkpoint_frequency > hp.epochs:
        raise HyperparameterError(
            f"hyperparameter checkpoint_frequency={hp.checkpoint_frequency} is invalid: "
            f"it must not exceed epochs={hp.epochs}"
        )
    if hp.top_k is not None and hp.top_k > hp.num_classes:
        raise HyperparameterError(
            f"hyperparameter top_k={hp.top_k} is invalid: it must not exceed num_classes={hp.num_classes}"
        )
    if hp.resize is not None and hp.resize < min(hp.image_shape[1:]):
        raise HyperparameterError(
            f"hyperparameter resize={hp.resize} is invalid: the shorter side must be at least the "
            f"image_shape height/width ({min(hp.image_shape[1:])}) so that the crop fits"
        )
