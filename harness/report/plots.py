"""The report's figures as PNG bytes (matplotlib, Agg backend: no display needed).

Every figure is one entry of :data:`PLOTS` (name, title, pixel size, caption, renderer): the HTML
page, the written files and the tests read that registry, so adding a plot is one entry. Every figure
has a fixed pixel size, so the page lays out predictably and tests can check what was drawn. Titles
say what is shown, for which endpoint and over which time span; the threshold is drawn wherever
confidence is on an axis, and no axis limit ever hides a low-confidence point.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import harness.report.decision as decision
import harness.report.sequence as sequence
from harness.report.style import (
    FAIL_COLOUR,
    PASS_COLOUR,
    confidence_floor,
    count,
    figure,
    legend,
    png,
    style,
    threshold_line,
    time_span_text,
    title,
)

if TYPE_CHECKING:  # the data stack loads when a report is drawn, not when the CLI starts
    import pandas as pd
    from matplotlib.figure import Figure


def _figure(name: str) -> Figure:
    return figure(PLOT_BY_NAME[name].size)


def confidence_histogram(frame: pd.DataFrame, threshold: float, endpoint: str, n_classes: int) -> bytes:
    import numpy as np

    fig = _figure("confidence_histogram")
    ax = fig.add_subplot()
    # Bins of 0.02 with an edge exactly at the threshold, so every bar is wholly passed or wholly failed.
    width = 0.02
    floor = confidence_floor(frame, threshold, n_classes)
    below = int(np.ceil((threshold - floor) / width))
    above = max(1, int(np.ceil((1.0 - threshold) / width - 1e-9)))
    bins = threshold + width * np.arange(-below, above + 1)  # k = 0 is exactly the threshold
    passed = frame["passed"]
    ax.hist(
        [frame.loc[~passed, "top_confidence"], frame.loc[passed, "top_confidence"]],
        bins=bins,
        stacked=True,
        color=[FAIL_COLOUR, PASS_COLOUR],
        edgecolor="white",
        linewidth=0.6,
        label=[f"below threshold ({int((~passed).sum())})", f"passed ({int(passed.sum())})"],
    )
    threshold_line(ax, threshold, vertical=True)
    ax.set_xlim(bins[0] - width / 2, bins[-1] + width / 2)
    ax.set_xlabel("Top confidence (probability of the predicted class)")
    ax.set_ylabel("Inferences")
    ax.yaxis.get_major_locator().set_params(integer=True)
    style(ax)
    legend(ax)
    title(ax, PLOT_BY_NAME["confidence_histogram"].title, endpoint, frame)
    return png(fig)


def predicted_classes(frame: pd.DataFrame, endpoint: str, class_names: Sequence[str]) -> bytes:
    import numpy as np

    fig = _figure("predicted_classes")
    ax = fig.add_subplot()
    positions = np.arange(len(class_names))
    passed = np.array([int(((frame["predicted_class"] == i) & frame["passed"]).sum()) for i in positions])
    failed = np.array([int(((frame["predicted_class"] == i) & ~frame["passed"]).sum()) for i in positions])
    ax.bar(positions, passed, color=PASS_COLOUR, label="passed", width=0.6)
    ax.bar(positions, failed, bottom=passed, color=FAIL_COLOUR, label="below threshold", width=0.6)
    for x, total in zip(positions, passed + failed, strict=True):
        ax.annotate(
            str(total), (x, total), ha="center", va="bottom", xytext=(0, 3), textcoords="offset points"
        )
    ax.set_xticks(positions, list(class_names))
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("Inferences")
    ax.set_ylim(0, max(1, int((passed + failed).max())) * 1.12)
    ax.yaxis.get_major_locator().set_params(integer=True)
    style(ax)
    ax.grid(False, axis="x")
    legend(ax)
    title(ax, PLOT_BY_NAME["predicted_classes"].title, endpoint, frame)
    return png(fig)


def confusion_matrix(
    counts: Sequence[Sequence[int]], class_names: Sequence[str], frame: pd.DataFrame, endpoint: str
) -> bytes:
    import numpy as np

    fig = _figure("confusion_matrix")
    ax = fig.add_subplot()
    matrix = np.asarray(counts, dtype=int)
    total = int(matrix.sum())
    accuracy = np.trace(matrix) / total if total else 0.0
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=max(1, int(matrix.max())))
    for (row, col), value in np.ndenumerate(matrix):
        dark = value > matrix.max() * 0.6
        share = f"\n{value / total:.1%}" if total else ""
        ax.text(
            col,
            row,
            f"{value}{share}",
            ha="center",
            va="center",
            fontsize=13,
            color="white" if dark else "#212529",
        )
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, list(class_names))
    ax.set_yticks(ticks, list(class_names))
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    fig.colorbar(image, ax=ax, label="Inferences", shrink=0.8)
    known = frame[frame["true_class"].notna()]
    ax.set_title(
        f"Confusion matrix: {count(total, 'labelled inference')} on {endpoint}, accuracy {accuracy:.1%}\n"
        f"{time_span_text(known if len(known) else frame)}",
        loc="left",
        fontsize=12,
    )
    return png(fig)


@dataclass(frozen=True)
class PlotInput:
    """What every renderer may draw from."""

    frame: pd.DataFrame
    threshold: float
    endpoint: str
    class_names: Sequence[str]
    confusion: Sequence[Sequence[int]] | None  # None when no captured input has a known label
    figures: Mapping[str, Any] = field(default_factory=dict)  # summary_figures' dict, when computed


def _labelled(data: PlotInput) -> bool:
    return data.confusion is not None


@dataclass(frozen=True)
class Plot:
    """One figure of the report: how it is named, titled, sized, captioned and drawn."""

    name: str
    title: str
    size: tuple[int, int]  # (width, height) in pixels
    caption: str
    render: Callable[[PlotInput], bytes]
    applies: Callable[[PlotInput], bool] = lambda _data: True


# The report's figures, in reading order.
PLOTS: tuple[Plot, ...] = (
    Plot(
        "confidence_histogram",
        "Distribution of top confidence",
        (1000, 500),
        "How sure the model was. Bars right of the dashed line passed the workflow's confidence filter; "
        "bars left of it were rejected (ThresholdConfidenceNotMet).",
        lambda d: confidence_histogram(d.frame, d.threshold, d.endpoint, len(d.class_names)),
    ),
    Plot(
        "threshold_tradeoff",
        "Threshold trade-off",
        (1000, 500),
        "The one decision of this workflow: raising the threshold rejects more inferences (pass rate "
        "falls) and, if confidence means anything, makes the passed ones more accurate. The dashed "
        "line is today's threshold.",
        lambda d: decision.threshold_tradeoff(d, *_spec("threshold_tradeoff")),
    ),
    Plot(
        "confidence_over_time",
        "Top confidence of each inference, in order",
        (1000, 500),
        "Every inference in order of inference time, each the same width, so short bursts are not "
        "slivers; crosses fell below the threshold. Dotted lines are idle gaps (their length written "
        "beside them), shaded bands the endpoint config attributed to each inference.",
        lambda d: sequence.confidence_over_order(d, *_spec("confidence_over_time")),
    ),
    Plot(
        "rolling_confidence",
        "Rolling mean of top confidence",
        (1000, 500),
        "Moving average of the top confidence over inference order, restarted after every idle gap and "
        "config change (the line breaks there): a downward drift is the first sign that incoming images "
        "differ from the training data.",
        lambda d: sequence.rolling_confidence(d, *_spec("rolling_confidence")),
    ),
    Plot(
        "predicted_classes",
        "Predicted classes",
        (800, 500),
        "How many inferences predicted each class, split by whether they passed.",
        lambda d: predicted_classes(d.frame, d.endpoint, d.class_names),
    ),
    Plot(
        "confusion_matrix",
        "Confusion matrix (images with a known label)",
        (700, 600),
        "Captured inputs that are staged test images, by true class (rows) and predicted class (columns).",
        lambda d: confusion_matrix(d.confusion or [], d.class_names, d.frame, d.endpoint),
        applies=_labelled,
    ),
    Plot(
        "per_class",
        "Precision and recall per class (images with a known label)",
        (800, 500),
        "Precision: of the inferences predicting a class, the share that were right. Recall: of the "
        "inferences whose true class it is, the share predicted as it. At any confidence; every sending "
        "of an image counts.",
        lambda d: decision.per_class(d, *_spec("per_class")),
        applies=_labelled,
    ),
)
PLOT_BY_NAME: dict[str, Plot] = {plot.name: plot for plot in PLOTS}


def _spec(name: str) -> tuple[tuple[int, int], str]:
    return PLOT_BY_NAME[name].size, PLOT_BY_NAME[name].title


def render_all(
    frame: pd.DataFrame,
    *,
    threshold: float,
    endpoint: str,
    class_names: Sequence[str],
    confusion: Sequence[Sequence[int]] | None,
    figures: Mapping[str, Any] | None = None,
) -> dict[str, bytes]:
    """Every figure that applies, in reading order; those needing labels only when labels are known."""
    data = PlotInput(frame, threshold, endpoint, class_names, confusion, dict(figures or {}))
    return {plot.name: plot.render(data) for plot in PLOTS if plot.applies(data)}
