"""The figures a data scientist acts on: per-class precision/recall, the threshold trade-off, distinct
images, idle gaps and a row per endpoint config. Pure functions of the capture frame, so the JSON
figures and the plots read the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the data stack loads when a report is drawn, not when the CLI starts
    import numpy as np
    import pandas as pd


TRADEOFF_STEP = 0.01
MIN_IDLE_GAP_S = 30.0
IDLE_GAP_FACTOR = 20.0


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def per_class(frame: pd.DataFrame, names: Sequence[str]) -> list[dict[str, Any]]:
    """Precision and recall of each class over the inferences whose true label is known, at any
    confidence (what the model does; the threshold trade-off shows what the filter adds)."""
    known = frame[frame["true_class"].notna()]
    truth = known["true_class"].astype("int64").to_numpy()
    predicted = known["predicted_class"].to_numpy()
    rows = []
    for index, name in enumerate(names):
        hits = int(((truth == index) & (predicted == index)).sum())
        support = int((truth == index).sum())
        claimed = int((predicted == index).sum())
        rows.append(
            {
                "class": name,
                "support": support,
                "predicted": claimed,
                "true_positives": hits,
                "precision": _ratio(hits, claimed),
                "recall": _ratio(hits, support),
            }
        )
    return rows


def threshold_grid(frame: pd.DataFrame, n_classes: int) -> np.ndarray:
    """Thresholds from just below the lowest top confidence (never above chance) to 1, every 0.01."""
    import numpy as np

    lowest = min(float(frame["top_confidence"].min()), 1.0 / max(n_classes, 1))
    start = int(np.floor(lowest / TRADEOFF_STEP))
    return np.round(np.arange(start, round(1 / TRADEOFF_STEP) + 1) * TRADEOFF_STEP, 10)


def tradeoff_at(frame: pd.DataFrame, thresholds: Sequence[float]) -> dict[str, list[Any]]:
    """At each threshold: the share of inferences that pass, and the accuracy of the labelled ones that
    pass (``None`` where no labelled inference passes)."""
    conf = frame["top_confidence"].to_numpy()
    labelled = frame["true_class"].notna().to_numpy()
    correct = frame["correct"].fillna(False).to_numpy(dtype=bool)
    total = len(conf)
    pass_rate, accuracy, passed_labelled = [], [], []
    for t in thresholds:
        passes = conf >= t
        n_labelled = int((passes & labelled).sum())
        pass_rate.append(_ratio(int(passes.sum()), total))
        accuracy.append(_ratio(int((passes & correct).sum()), n_labelled))
        passed_labelled.append(n_labelled)
    return {
        "thresholds": [float(t) for t in thresholds],
        "pass_rate": pass_rate,
        "accuracy_of_passed": accuracy,
        "labelled_passed": passed_labelled,
    }


def threshold_tradeoff(frame: pd.DataFrame, threshold: float, n_classes: int) -> dict[str, Any]:
    curve = tradeoff_at(frame, threshold_grid(frame, n_classes))
    today = tradeoff_at(frame, [threshold])
    curve["today"] = {key: values[0] for key, values in today.items() if key != "thresholds"}
    curve["today"]["threshold"] = threshold
    return curve


def distinct_images(frame: pd.DataFrame) -> dict[str, Any]:
    keys = frame["image_key"].dropna()
    labelled = frame.loc[frame["true_class"].notna(), "image_key"].dropna()
    return {
        "distinct_images": int(keys.nunique()),
        "distinct_labelled_images": int(labelled.nunique()),
        "repeated_inferences": int(len(keys) - keys.nunique()),
    }


def idle_gap_seconds(frame: pd.DataFrame) -> float:
    """A pause longer than this separates two bursts: 20 median intervals, and at least 30 s."""
    steps = frame["inference_time"].diff().dt.total_seconds().dropna()
    median = float(steps.median()) if len(steps) else 0.0
    return max(MIN_IDLE_GAP_S, IDLE_GAP_FACTOR * median)


def idle_gaps(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Pauses between bursts: ``after`` is the 0-based position (inference order) of the last
    inference before the pause."""
    import numpy as np

    limit = idle_gap_seconds(frame)
    steps = frame["inference_time"].diff().dt.total_seconds().to_numpy()
    gaps = []
    for position in np.flatnonzero(steps > limit):
        gaps.append(
            {
                "after": int(position) - 1,
                "seconds": float(steps[position]),
                "from": iso(frame["inference_time"].iloc[position - 1]),
                "to": iso(frame["inference_time"].iloc[position]),
            }
        )
    return gaps


def segment_ids(frame: pd.DataFrame) -> np.ndarray:
    """A number per inference that changes at every idle gap and every change of endpoint config."""
    import numpy as np

    limit = idle_gap_seconds(frame)
    steps = frame["inference_time"].diff().dt.total_seconds().fillna(0.0).to_numpy()
    config = frame["endpoint_config"].to_numpy()
    changed = np.concatenate([[False], config[1:] != config[:-1]]) if len(config) else np.array([], bool)
    return np.cumsum((steps > limit) | changed)


def iso(ts: pd.Timestamp) -> str:
    return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".") + "Z"


def by_config(frame: pd.DataFrame, history: Any, names: Sequence[str]) -> list[dict[str, Any]]:
    """One row per endpoint config that served (in order of first inference), with its own per-class
    figures: a redeployed model is judged on its own answers, not mixed with its predecessor's."""
    import pandas as pd

    rows = []
    created = {change.config: change for change in history.changes}
    for config, part in frame.groupby("endpoint_config", sort=False):
        known = part[part["true_class"].notna()]
        known_passed = known[known["passed"]]
        change = created.get(str(config))
        rows.append(
            {
                "endpoint_config": config,
                "models": sorted(set(part["model"])),
                "variants": sorted(set(part["variant"])),
                "config_created": None if change is None else iso(pd.Timestamp(change.created)),
                "current": bool(change and change.current),
                "first_inference": iso(part["inference_time"].min()),
                "last_inference": iso(part["inference_time"].max()),
                "inferences": len(part),
                "distinct_images": int(part["image_key"].nunique()),
                "pass_rate": _ratio(int(part["passed"].sum()), len(part)),
                "labelled": len(known),
                "accuracy": _ratio(int(known["correct"].sum()), len(known)),
                # At today's threshold: what the workflow passed on from this model.
                "accuracy_of_passed": _ratio(int(known_passed["correct"].sum()), len(known_passed)),
                "per_class": per_class(part, names),
            }
        )
    return rows
