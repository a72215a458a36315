"""Captured records -> one pandas DataFrame, and the summary figures computed from it.

The figures are the report's contract with machines (``harness report --format
json``) and with the HTML page, so both come from this one function and can
never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import harness.report.metrics as metrics
from harness.report.capture import CaptureScan
from harness.report.deployments import METHOD, History, served_by
from harness.report.labels import LabelIndex

if TYPE_CHECKING:  # the data stack loads when a report is drawn, not when the CLI starts
    import pandas as pd

COLUMNS = [
    "inference_time",
    "endpoint",
    "variant",
    "event_id",
    "inference_id",
    "input_content_type",
    "probabilities",
    "predicted_class",
    "predicted_label",
    "top_confidence",
    "passed",
    "true_class",
    "true_label",
    "correct",
    "input_sha256",
    "image_key",
    "source_key",
    "endpoint_config",
    "model",
]


def class_name(names: Sequence[str], index: int | None) -> str | None:
    if index is None:
        return None
    return names[index] if 0 <= index < len(names) else f"class {index}"


def capture_frame(
    scan: CaptureScan,
    labels: LabelIndex,
    class_names: Sequence[str],
    threshold: float,
    history: History | None = None,
) -> pd.DataFrame:
    """One row per captured inference, in time order, with prediction, pass/fail, true label and the
    endpoint config (and model) attributed to it by ``history`` (``unknown`` without one).

    ``passed`` follows the workflow's filter: the top probability reaches the threshold.
    """
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for rec in scan.records:
        predicted = rec.predicted_class
        true_class = labels.label_of(rec.input_sha256, rec.input_pixels)
        rows.append(
            {
                "inference_time": rec.inference_time,
                "endpoint": rec.endpoint,
                "variant": rec.variant,
                "event_id": rec.event_id,
                "inference_id": rec.inference_id,
                "input_content_type": rec.input_content_type,
                "probabilities": list(rec.probabilities),
                "predicted_class": predicted,
                "predicted_label": class_name(class_names, predicted),
                "top_confidence": rec.top_confidence,
                "passed": rec.top_confidence >= threshold,
                "true_class": true_class,
                "true_label": class_name(class_names, true_class),
                "correct": None if true_class is None else predicted == true_class,
                "input_sha256": rec.input_sha256,
                "image_key": labels.image_key(rec.input_sha256, rec.input_pixels),
                "source_key": rec.source_key,
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["inference_time"] = pd.to_datetime(frame["inference_time"], utc=True)
    frame["predicted_class"] = frame["predicted_class"].astype("int64")
    frame["top_confidence"] = frame["top_confidence"].astype("float64")
    frame["passed"] = frame["passed"].astype("bool")
    frame["true_class"] = frame["true_class"].astype("Int64")
    frame["correct"] = frame["correct"].astype("boolean")
    frame = frame.sort_values("inference_time", kind="stable").reset_index(drop=True)
    frame["endpoint_config"], frame["model"] = served_by(
        frame["inference_time"], frame["variant"], history or History()
    )
    return frame


_iso = metrics.iso


def summary_figures(
    frame: pd.DataFrame,
    scan: CaptureScan,
    labels: LabelIndex,
    *,
    endpoint: str,
    capture_uri: str,
    threshold: float,
    class_names: Sequence[str],
    history: History | None = None,
) -> dict[str, Any]:
    """The headline numbers, as plain JSON-ready Python values (ratios are ``None`` when undefined)."""
    import pandas as pd

    history = history or History(problem="the endpoint's config history was not read")
    records = len(frame)
    passed = int(frame["passed"].sum())
    known = frame[frame["true_class"].notna()]
    labelled = len(known)
    correct = int(known["correct"].sum()) if labelled else 0
    n_classes = max(
        len(class_names),
        int(frame["predicted_class"].max()) + 1 if records else 0,
        int(known["true_class"].max()) + 1 if labelled else 0,
    )
    names = [class_name(class_names, i) for i in range(n_classes)]
    predicted_counts = {names[i]: int((frame["predicted_class"] == i).sum()) for i in range(n_classes)}
    confusion = None
    if labelled:
        counts = [[0] * n_classes for _ in range(n_classes)]
        for true_class, predicted in zip(known["true_class"], known["predicted_class"], strict=True):
            counts[int(true_class)][int(predicted)] += 1
        confusion = {"labels": names, "rows": "true class", "columns": "predicted class", "counts": counts}
    first = frame["inference_time"].min() if records else None
    last = frame["inference_time"].max() if records else None
    return {
        "endpoint": endpoint,
        "capture_uri": capture_uri,
        "threshold": threshold,
        "files": scan.files,
        "records": records,
        "corrupt_lines_skipped": scan.skipped_lines,
        "skip_reasons": dict(sorted(scan.skipped.items())),
        "passed": passed,
        "failed": records - passed,
        "pass_rate": passed / records if records else None,
        "mean_top_confidence": float(frame["top_confidence"].mean()) if records else None,
        "min_top_confidence": float(frame["top_confidence"].min()) if records else None,
        "labelled": labelled,
        "correct": correct,
        "accuracy": correct / labelled if labelled else None,
        "label_source": labels.source,
        "staged_test_images": len(labels),
        "predicted_counts": predicted_counts,
        "confusion_matrix": confusion,
        "first_inference": _iso(first) if first is not None else None,
        "last_inference": _iso(last) if last is not None else None,
        "time_span_seconds": (last - first).total_seconds() if records else None,
        **metrics.distinct_images(frame),
        "per_class": metrics.per_class(frame, names),
        "threshold_tradeoff": metrics.threshold_tradeoff(frame, threshold, n_classes) if records else None,
        "idle_gap_seconds": metrics.idle_gap_seconds(frame),
        "idle_gaps": metrics.idle_gaps(frame),
        "endpoint_configs": metrics.by_config(frame, history, names),
        "config_changes": [
            {"endpoint_config": c.config, "created": _iso(pd.Timestamp(c.created)), "models": c.models}
            for c in history.changes
        ],
        "model_attribution": METHOD if history.changes else history.problem,
    }
