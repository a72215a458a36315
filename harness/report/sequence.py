"""Plots over inference order: every inference gets the same width, so two 20-second bursts an hour apart
fill the axis instead of being two slivers at its ends.

Idle gaps (:func:`harness.report.metrics.idle_gaps`) are dotted lines labelled with their length, the
time each burst started is written on the top axis, and the rolling mean restarts after every gap and
every change of endpoint config, its line broken there: no line is ever drawn across idle minutes or
from one model's answers into another's. Shaded bands show which endpoint config (and model) served.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import harness.report.metrics as metrics
from harness.report.deployments import UNKNOWN
from harness.report.style import (
    CONFIG_COLOURS,
    FAIL_COLOUR,
    GAP_COLOUR,
    LINE_COLOUR,
    PASS_COLOUR,
    confidence_floor,
    count,
    duration_text,
    figure,
    legend,
    marker,
    png,
    rolling_window,
    style,
    threshold_line,
    title,
)

if TYPE_CHECKING:  # the data stack loads when a report is drawn, not when the CLI starts
    import numpy as np
    import pandas as pd
    from matplotlib.axes import Axes

_MAX_TIME_LABELS = 8
CHANGE_COLOUR = "#343a40"


def broken_rolling(frame: pd.DataFrame, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The rolling mean of top confidence over inference order, restarted in every segment (between
    idle gaps and config changes), with a NaN point between segments so the drawn line breaks."""
    import numpy as np

    segments = metrics.segment_ids(frame)
    xs: list[float] = []
    ys: list[float] = []
    conf = frame["top_confidence"].reset_index(drop=True)
    for segment in np.unique(segments):
        where = np.flatnonzero(segments == segment)
        part = conf.iloc[where]
        least = min(max(1, window // 4), len(part))
        xs.extend(where.astype(float))
        ys.extend(part.rolling(window, min_periods=least).mean().to_numpy())
        xs.append(float(where[-1]) + 0.5)
        ys.append(np.nan)
    return np.asarray(xs[:-1]), np.asarray(ys[:-1])


def _runs(values: np.ndarray) -> list[tuple[int, int, Any]]:
    """``(first, last, value)`` for every run of equal consecutive values."""
    runs: list[tuple[int, int, Any]] = []
    start = 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            runs.append((start, i - 1, values[start]))
            start = i
    return runs


def _short(name: str, limit: int = 36) -> str:
    """A long resource name with its middle elided: the legend must not squeeze the axes (the page's
    table has the full names)."""
    if len(name) <= limit:
        return name
    keep = (limit - 1) // 2
    return f"{name[:keep]}…{name[-keep:]}"


def _config_label(frame: pd.DataFrame, first: int, last: int, config: str) -> str:
    models = ", ".join(sorted(set(frame["model"].iloc[first : last + 1])))
    return f"config {_short(config)}\nmodel {_short(models)}"


def mark_history(ax: Axes, frame: pd.DataFrame, gaps: list[dict[str, Any]]) -> None:
    """Config bands and change lines, idle-gap lines with their length, burst start times on top."""
    import numpy as np

    configs = frame["endpoint_config"].to_numpy()
    runs = _runs(configs)
    colours: dict[str, str] = {}
    for first, last, config in runs:
        if config == UNKNOWN:
            continue
        first_band = config not in colours  # one legend entry per config, however many bands it has
        colour = colours.setdefault(config, CONFIG_COLOURS[len(colours) % len(CONFIG_COLOURS)])
        ax.axvspan(
            first - 0.5,
            last + 0.5,
            color=colour,
            zorder=0,
            label=_config_label(frame, first, last, config) if first_band else None,
        )
    for i, (first, _last, _config) in enumerate(runs[1:]):
        ax.axvline(
            first - 0.5,
            color=CHANGE_COLOUR,
            linewidth=1.6,
            label="endpoint config changed" if i == 0 else None,
        )
    for i, gap in enumerate(gaps):
        x = gap["after"] + 0.5
        ax.axvline(x, color=GAP_COLOUR, linestyle=":", linewidth=1.4, label="idle gap" if i == 0 else None)
        # Near the bottom, on white, above the points: confidences crowd the top of the axes.
        ax.annotate(
            f"idle {duration_text(gap['seconds'])}",
            (x, 0.03),
            xycoords=("data", "axes fraction"),
            rotation=90,
            ha="center",
            va="bottom",
            fontsize=8,
            color="#495057",
            zorder=6,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none"},
        )
    starts = [0] + [gap["after"] + 1 for gap in gaps]
    step = max(1, int(np.ceil(len(starts) / _MAX_TIME_LABELS)))
    shown = starts[::step]
    top_axis = ax.secondary_xaxis("top")
    top_axis.set_xticks(
        shown, [frame["inference_time"].iloc[i].strftime("%H:%M:%S") for i in shown], fontsize=8
    )
    top_axis.tick_params(length=3)
    ax.set_xlim(-0.5 - len(frame) * 0.01, len(frame) - 0.5 + len(frame) * 0.01)
    ax.set_xlabel("Inference, in order of inference time (burst start times UTC on top)")
    ax.xaxis.get_major_locator().set_params(integer=True)


def confidence_over_order(data: Any, size: tuple[int, int], heading: str) -> bytes:
    import numpy as np

    frame = data.frame
    fig = figure(size)
    ax = fig.add_subplot()
    x = np.arange(len(frame))
    passed = frame["passed"].to_numpy()
    conf = frame["top_confidence"].to_numpy()
    size_pt, alpha = marker(len(frame))
    ax.scatter(
        x[passed], conf[passed], s=size_pt, alpha=alpha, color=PASS_COLOUR, label=f"passed ({passed.sum()})"
    )
    ax.scatter(
        x[~passed],
        conf[~passed],
        s=size_pt * 1.2,
        alpha=alpha,
        color=FAIL_COLOUR,
        marker="X",
        label=f"below threshold ({(~passed).sum()})",
    )
    return _confidence_axes_done(fig, ax, data, heading)


def rolling_confidence(data: Any, size: tuple[int, int], heading: str) -> bytes:
    import numpy as np

    frame = data.frame
    fig = figure(size)
    ax = fig.add_subplot()
    window = rolling_window(len(frame))
    size_pt, alpha = marker(len(frame))
    ax.scatter(
        np.arange(len(frame)),
        frame["top_confidence"].to_numpy(),
        s=size_pt / 2,
        color="#adb5bd",
        alpha=alpha * 0.6,
        label="single inference",
    )
    xs, ys = broken_rolling(frame, window)
    ax.plot(xs, ys, color=LINE_COLOUR, linewidth=2.2, label=f"mean of the last {count(window, 'inference')}")
    return _confidence_axes_done(fig, ax, data, heading)


def _confidence_axes_done(fig: Any, ax: Any, data: Any, heading: str) -> bytes:
    """What both confidence-over-order plots end with: threshold, y range, history marks, style, PNG."""
    frame, threshold = data.frame, data.threshold
    threshold_line(ax, threshold)
    ax.set_ylim(confidence_floor(frame, threshold, len(data.class_names)), 1.02)
    ax.set_ylabel("Top confidence")
    mark_history(ax, frame, (data.figures or {}).get("idle_gaps") or metrics.idle_gaps(frame))
    style(ax)
    legend(ax)
    title(ax, heading, data.endpoint, frame)
    return png(fig)
