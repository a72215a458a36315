"""The two plots a threshold decision is made from: the trade-off between how many inferences pass the
confidence filter and how accurate the passed ones are, with today's threshold marked; and each class's
precision and recall over the images with a known label."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import harness.report.metrics as metrics
from harness.report.style import (
    FAIL_COLOUR,
    LINE_COLOUR,
    PASS_COLOUR,
    THRESHOLD_COLOUR,
    count,
    figure,
    legend,
    png,
    style,
    title,
)

if TYPE_CHECKING:  # the data stack loads when a report is drawn, not when the CLI starts
    pass

_DRAW_STEP = 0.001


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def threshold_tradeoff(data: Any, size: tuple[int, int], heading: str) -> bytes:
    import numpy as np

    frame, threshold = data.frame, data.threshold
    fig = figure(size)
    ax = fig.add_subplot()
    grid = metrics.threshold_grid(frame, len(data.class_names))
    # Drawn on a finer grid than the JSON's: both are step functions of the same confidences.
    fine = np.round(np.arange(grid[0], 1.0 + _DRAW_STEP / 2, _DRAW_STEP), 6)
    curve = metrics.tradeoff_at(frame, fine)
    ax.plot(fine, curve["pass_rate"], color=PASS_COLOUR, linewidth=2.2, label="pass rate (all inferences)")
    labelled = frame["true_class"].notna().any()
    if labelled:
        accuracy = [np.nan if v is None else v for v in curve["accuracy_of_passed"]]
        ax.plot(fine, accuracy, color=LINE_COLOUR, linewidth=2.2, label="accuracy of passed (known labels)")
    configs = frame["endpoint_config"].unique()
    if len(configs) > 1:  # the model serving now decides the threshold: its own curves, dashed
        latest = frame[frame["endpoint_config"] == configs[-1]]
        own = metrics.tradeoff_at(latest, fine)
        ax.plot(
            fine,
            own["pass_rate"],
            color=PASS_COLOUR,
            linestyle="--",
            linewidth=1.4,
            label=f"pass rate, {configs[-1]} only",
        )
        if latest["true_class"].notna().any():
            own_accuracy = [np.nan if v is None else v for v in own["accuracy_of_passed"]]
            ax.plot(
                fine,
                own_accuracy,
                color=LINE_COLOUR,
                linestyle="--",
                linewidth=1.4,
                label=f"accuracy, {configs[-1]} only",
            )
    today = metrics.tradeoff_at(frame, [threshold])
    ax.axvline(
        threshold, color=THRESHOLD_COLOUR, linestyle="--", linewidth=1.5, label=f"today: {threshold:g}"
    )
    rate, acc = today["pass_rate"][0], today["accuracy_of_passed"][0]
    ax.scatter([threshold], [rate], color=PASS_COLOUR, s=60, zorder=5, edgecolor="white")
    note = f"at {threshold:g}: {_pct(rate)} pass"
    if labelled and acc is not None:
        ax.scatter([threshold], [acc], color=LINE_COLOUR, s=60, zorder=5, edgecolor="white")
        note += f",\n{_pct(acc)} of passed correct"
    ax.annotate(
        note,
        (threshold, rate if rate is not None else 0.5),
        xytext=(-8, -8),
        textcoords="offset points",
        ha="right",
        va="top",
        fontsize=10,
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#dee2e6"},
    )
    ax.set_xlim(grid[0] - 0.005, 1.005)
    ax.set_ylim(-0.02, 1.05)
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    ax.set_xlabel("Confidence threshold (an inference passes when its top confidence reaches it)")
    ax.set_ylabel("Share")
    style(ax)
    legend(ax)
    title(ax, heading, data.endpoint, frame)
    return png(fig)


def per_class(data: Any, size: tuple[int, int], heading: str) -> bytes:
    import numpy as np

    rows = metrics.per_class(data.frame, data.class_names)
    fig = figure(size)
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    width = 0.38
    for offset, key, colour in ((-width / 2, "precision", PASS_COLOUR), (width / 2, "recall", FAIL_COLOUR)):
        values = [row[key] for row in rows]
        bars = ax.bar(x + offset, [0 if v is None else v for v in values], width, color=colour, label=key)
        for bar, value in zip(bars, values, strict=True):
            ax.annotate(
                _pct(value),
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                xytext=(0, 3),
                textcoords="offset points",
                fontsize=10,
            )
    ax.set_xticks(
        x, [f"{row['class']}\n{count(row['support'], 'labelled inference')}" for row in rows], fontsize=10
    )
    ax.set_ylim(0, 1.15)
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    ax.set_ylabel("Precision / recall")
    style(ax)
    ax.grid(False, axis="x")
    legend(ax)
    known = data.frame[data.frame["true_class"].notna()]
    title(ax, heading, data.endpoint, known)
    return png(fig)
