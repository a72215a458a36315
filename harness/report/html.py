"""One self-contained HTML page: summary figures on top, then every plot, images embedded.

Self-contained (inline CSS, base64 ``data:`` images, no scripts, no network) so
the file can be mailed, attached to a ticket or opened from an S3 download and
still look the same.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from harness.report.plots import PLOT_BY_NAME
from harness.report.style import duration_text

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0;
       background: #f8f9fa; color: #212529; }
main { max-width: 1060px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
.sub { color: #6c757d; margin: 0 0 20px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 12px;
         margin-bottom: 20px; }
.card { background: #fff; border: 1px solid #dee2e6; border-radius: 8px; padding: 12px 14px; }
.card .label { font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; color: #6c757d; }
.card .value { font-size: 1.5rem; font-weight: 600; margin-top: 2px; }
.card .note { font-size: .8rem; color: #6c757d; }
.bad { color: #e76f51; }
.notice { background: #fff3cd; border: 1px solid #ffe69c; border-radius: 8px; padding: 10px 14px;
          margin-bottom: 16px; }
figure { background: #fff; border: 1px solid #dee2e6; border-radius: 8px; margin: 0 0 18px;
         padding: 12px; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { color: #495057; font-size: .9rem; margin-top: 6px; }
table { border-collapse: collapse; background: #fff; margin-bottom: 18px; }
td, th { border: 1px solid #dee2e6; padding: 4px 10px; text-align: left; }
footer { color: #6c757d; font-size: .8rem; margin-top: 24px; }
"""


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _card(label: str, value: str, note: str = "", css: str = "") -> str:
    klass = f' class="value {css}"' if css else ' class="value"'
    note_html = f'<div class="note">{html.escape(note)}</div>' if note else ""
    return (
        f'<div class="card"><div class="label">{html.escape(label)}</div>'
        f"<div{klass}>{html.escape(value)}</div>{note_html}</div>"
    )


def render_html(
    figures: Mapping[str, Any], plots: Mapping[str, bytes], generated: datetime | None = None
) -> str:
    """The whole page as a string; ``figures`` is :func:`~harness.report.frame.summary_figures`' dict."""
    generated = generated or datetime.now(UTC)
    f = figures
    threshold = f["threshold"]
    cards = [
        _card("Inferences", str(f["records"]), f"from {f['files']} capture file(s)"),
        _card("Pass rate", _pct(f["pass_rate"]), f"{f['passed']} at confidence ≥ {threshold:g}"),
        _card(
            "Accuracy",
            _pct(f["accuracy"]),
            f"{f['correct']} of {f['labelled']} with a known label" if f["labelled"] else "no known labels",
        ),
        _card(
            "Distinct images",
            str(f["distinct_images"]),
            f"{f['records']} inferences, {f['repeated_inferences']} of them repeats"
            + (f"; {f['distinct_labelled_images']} with a known label" if f["labelled"] else ""),
        ),
        _card(
            "Mean top confidence",
            "n/a" if f["mean_top_confidence"] is None else f"{f['mean_top_confidence']:.3f}",
            "" if f["min_top_confidence"] is None else f"lowest {f['min_top_confidence']:.3f}",
        ),
        _card(
            "Time span",
            duration_text(f["time_span_seconds"]),
            f"{f['first_inference']} to {f['last_inference']}",
        ),
        _card(
            "Corrupt lines skipped",
            str(f["corrupt_lines_skipped"]),
            "" if not f["corrupt_lines_skipped"] else "see the reasons below",
            "bad" if f["corrupt_lines_skipped"] else "",
        ),
    ]
    notices = []
    if not f["labelled"]:
        if f["staged_test_images"]:
            why = f"none of the captured inputs is one of the {f['staged_test_images']} staged test images"
        else:
            why = "no staged test set (test.lst) was found"
        notices.append(f"Accuracy and the confusion matrix need known labels: {why}.")
    counts = ", ".join(f"{name} {n}" for name, n in f["predicted_counts"].items())

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Inference report: {html.escape(f['endpoint'])}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>Inference report: {html.escape(f['endpoint'])}</h1>",
        f'<p class="sub">Captured inferences from <code>{html.escape(f["capture_uri"])}</code>, '
        f"threshold {threshold:g}. Predicted: {html.escape(counts)}.</p>",
        f'<div class="cards">{"".join(cards)}</div>',
    ]
    parts += [f'<div class="notice">{html.escape(n)}</div>' for n in notices]
    parts += _configs_section(f)
    for name, png in plots.items():
        plot = PLOT_BY_NAME[name]
        width, height = plot.size
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<figure id="{name}"><img src="data:image/png;base64,{data}" width="{width}" height="{height}" '
            f'alt="{html.escape(plot.title)}"><figcaption>{html.escape(plot.caption)}</figcaption></figure>'
        )
    parts += _per_class_section(f)
    if f["skip_reasons"]:
        rows = "".join(
            f"<tr><td>{html.escape(reason)}</td><td>{n}</td></tr>" for reason, n in f["skip_reasons"].items()
        )
        parts.append(f"<h2>Skipped lines</h2><table><tr><th>Reason</th><th>Lines</th></tr>{rows}</table>")
    parts.append(
        f"<footer>Generated {generated.strftime('%Y-%m-%d %H:%M:%S')} UTC by <code>harness report</code>. "
        f"Labels: {html.escape(f['label_source'] or 'none')}.</footer></main></body></html>"
    )
    return "\n".join(parts)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _configs_section(f: Mapping[str, Any]) -> list[str]:
    """Which endpoint config (and model) is attributed to which inferences, and how that was found."""
    rows = [
        [
            row["endpoint_config"] + (" (current)" if row["current"] else ""),
            ", ".join(row["models"]),
            ", ".join(row["variants"]),
            row["config_created"] or "n/a",
            f"{row['first_inference']} to {row['last_inference']}",
            str(row["inferences"]),
            str(row["distinct_images"]),
            _pct(row["pass_rate"]),
            _pct(row["accuracy"]) + (f" of {row['labelled']}" if row["labelled"] else ""),
            _pct(row["accuracy_of_passed"]),
        ]
        for row in f["endpoint_configs"]
    ]
    headers = [
        "Endpoint config",
        "Model",
        "Variant",
        "Config created",
        "First to last inference",
        "Inferences",
    ]
    headers += ["Distinct images", "Pass rate", "Accuracy", "Accuracy of passed"]
    changed = len(f["endpoint_configs"]) > 1
    lead = "The endpoint changed model during this capture." if changed else ""
    return [
        "<h2>Which model served</h2>",
        f'<p class="sub">{html.escape(lead)} {html.escape(f["model_attribution"] or "")}</p>',
        _table(headers, rows),
    ]


def _per_class_section(f: Mapping[str, Any]) -> list[str]:
    if not f["labelled"]:
        return []
    rows = [
        [
            row["class"],
            str(row["support"]),
            str(row["predicted"]),
            str(row["true_positives"]),
            _pct(row["precision"]),
            _pct(row["recall"]),
        ]
        for row in f["per_class"]
    ]
    headers = ["Class", "Labelled (true)", "Predicted", "Right", "Precision", "Recall"]
    configs = f["endpoint_configs"]
    if len(configs) > 1:  # the same figures for each model the endpoint served
        headers = ["Endpoint config", *headers]
        rows = [["all", *row] for row in rows]
        for config in configs:
            rows += [
                [
                    config["endpoint_config"],
                    row["class"],
                    str(row["support"]),
                    str(row["predicted"]),
                    str(row["true_positives"]),
                    _pct(row["precision"]),
                    _pct(row["recall"]),
                ]
                for row in config["per_class"]
                if row["support"] or row["predicted"]
            ]
    return ["<h2>Per class (inferences with a known label)</h2>", _table(headers, rows)]
