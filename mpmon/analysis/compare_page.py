"""How a comparison reads: the terminal table, the ratio figure and ``comparison.html``.

The page is self-contained like ``report.html`` (:mod:`.page`, whose style it shares): the figure is
embedded as PNG data, no script, no network. It says how "beyond noise" was decided and on which sample.
"""

from __future__ import annotations

import base64
import io
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from mpmon import units
from mpmon.analysis import compare_stats as cs
from mpmon.analysis.compare import Comparison, comparison_dict
from mpmon.analysis.html_table import cell
from mpmon.analysis.html_table import escape as _e
from mpmon.analysis.page import STYLESHEET
from mpmon.analysis.report import output_folder

__all__ = [
    "COMPARISON_CSV",
    "COMPARISON_HTML",
    "COMPARISON_JSON",
    "FIGURE_FUNCTIONS",
    "RATIOS_PNG",
    "method_text",
    "ratio_figure",
    "render",
    "text_table",
    "write_comparison",
]

COMPARISON_HTML = "comparison.html"
COMPARISON_JSON = "comparison.json"
COMPARISON_CSV = "comparison.csv"
RATIOS_PNG = "ratios.png"
FIGURE_FUNCTIONS = 40
"""The figure shows at most this many functions: those whose median changed most."""
_COLOURS = {"slower": "#c0392b", "faster": "#1e8449", "unchanged": "#555555"}


def method_text(comparison: Comparison) -> str:
    """How a change is called beyond noise, in one paragraph."""
    return (
        "Beyond noise: a two-sided Mann-Whitney U rank test on the per-call durations of both runs "
        "(normal approximation with tie and continuity corrections) gives p below "
        f"{comparison.alpha:g}. A function is called slower (faster) when it is beyond noise and its "
        f"median changed by more than {comparison.min_change:.0%}. The ratio is median B / median A; its "
        "95 % interval combines each median's distribution-free interval (order statistics) on the log "
        "scale. Calls that ended in an error "
        "are left out of medians, p95 and the test, and counted in total and self time. Sample: per "
        f"function and run, every duration up to {cs.SAMPLE_LIMIT:,} calls, beyond that a uniform random "
        f"sample of {cs.SAMPLE_LIMIT:,} (float32); calls, p50, p95, total and self time use every call. "
        "Self time is a call's duration less that of its monitored children (rows whose parent_id is its "
        "call_id)."
    )


# --- terminal ------------------------------------------------------------------------------------------


_HEAD_TEXT = (
    *("function", "calls A", "calls B", "p50 A", "p50 B", "ratio", "95% interval", "p", "p95 A"),
    *("p95 B", "total A", "total B", "self A", "self B", "errors A", "errors B", "change"),
)


def text_table(comparison: Comparison) -> str:
    """The comparison as a text table, the runs named above it and the rule below it."""
    rows = [[*_HEAD_TEXT]]
    for name, r in comparison.functions.iterrows():
        rows.append(
            [str(name), units.count(r.calls_a), units.count(r.calls_b)]
            + [_duration(r.p50_a_s), _duration(r.p50_b_s), _ratio(r.ratio), _interval(r), _p(r.p_value)]
            + [_duration(v) for v in (r.p95_a_s, r.p95_b_s, r.total_a_s, r.total_b_s, r.self_a_s, r.self_b_s)]
            + [units.count(r.errors_a), units.count(r.errors_b), str(r.change)]
        )
    head = [f"A: {comparison.a.label}", f"B: {comparison.b.label}", ""]
    rule = (
        f"change: Mann-Whitney U p < {comparison.alpha:g} and median changed by more than "
        f"{comparison.min_change:.0%}"
    )
    return "\n".join([*head, _pad(rows), "", rule])


def _pad(rows: list[list[str]]) -> str:
    """Columns padded to width: the first left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
        for row in rows
    ]
    return "\n".join(lines)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _duration(value: Any) -> str:
    return "" if _missing(value) else units.format_duration(float(value))


def _ratio(value: Any) -> str:
    return "" if _missing(value) else f"{float(value):.3f}"


def _interval(r: Any) -> str:
    return "" if _missing(r.ratio_low) else f"{r.ratio_low:.3f}-{r.ratio_high:.3f}"


def _p(value: Any) -> str:
    return "" if _missing(value) else f"{float(value):.2g}"


# --- figure --------------------------------------------------------------------------------------------


def ratio_figure(comparison: Comparison) -> Figure:
    """A dot per function at its ratio of medians, with its interval, on a log axis; the band
    of changes too small to count is shaded."""
    table = comparison.functions[comparison.functions["ratio"].notna()]
    table = table[np.isfinite(table["ratio"].to_numpy(np.float64))]
    spread = np.abs(np.log(table["ratio"].to_numpy(np.float64)))
    shown = table.iloc[np.argsort(-spread, kind="stable")[:FIGURE_FUNCTIONS]].sort_values("ratio")
    figure, axes = plt.subplots(figsize=(11, 1.6 + 0.32 * max(len(shown), 1)), layout="constrained")
    band = 1 + comparison.min_change
    axes.axvspan(1 / band, band, color="#eeeeee", zorder=0, label=f"within ±{comparison.min_change:.0%}")
    axes.axvline(1.0, color="#999999", linewidth=1, zorder=1)
    positions = np.arange(len(shown))
    for change, colour in _COLOURS.items():
        part = (shown["change"] == change).to_numpy()
        if not part.any():
            continue
        ratio = shown["ratio"].to_numpy(np.float64)[part]
        error = np.vstack(
            [ratio - shown["ratio_low"].to_numpy()[part], shown["ratio_high"].to_numpy()[part] - ratio]
        )
        axes.errorbar(
            ratio,
            positions[part],
            xerr=np.clip(error, 0, None),
            fmt="o",
            color=colour,
            capsize=3,
            label=change,
            zorder=2,
        )
    for y, ratio in zip(positions, shown["ratio"].to_numpy(np.float64)):
        axes.annotate(f"{ratio - 1:+.0%}", (ratio, y), xytext=(0, 7), textcoords="offset points", ha="center")
    axes.set_yticks(positions, [_short(str(f)) for f in shown.index])
    axes.set_ylim(-0.7, max(len(shown), 1) - 0.3)
    axes.set_xscale("log")
    _ratio_ticks(axes, shown, band)
    axes.set_xlabel("median of run B / median of run A (log scale), with its 95 % interval")
    axes.set_title("Change per function, run B against run A", loc="left")
    axes.legend(loc="lower right", fontsize=8)
    axes.grid(axis="x", which="both", color="#e4e4e4", linewidth=0.6)
    if shown.empty:
        axes.text(0.5, 0.5, "no function ran in both runs", transform=axes.transAxes, ha="center")
    return figure


_TICKS = (0.1, 0.2, 0.33, 0.5, 0.67, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)


def _ratio_ticks(axes: Any, shown: Any, band: float) -> None:
    """Ticks at round ratios (0.8x, 1x, 1.25x...) within the shown range, no minor labels."""
    values = shown[["ratio_low", "ratio_high", "ratio"]].to_numpy(np.float64).ravel()
    values = values[np.isfinite(values) & (values > 0)]
    low = min(float(values.min()) if values.size else 1.0, 1 / band) / 1.05
    high = max(float(values.max()) if values.size else 1.0, band) * 1.05
    axes.set_xlim(low, high)
    axes.set_xticks([t for t in _TICKS if low <= t <= high] or [1.0])
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}x"))
    axes.xaxis.set_minor_formatter(NullFormatter())


def _short(name: str, limit: int = 48) -> str:
    return name if len(name) <= limit else "…" + name[-(limit - 1) :]


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": "mpmon-analyze compare"})
    plt.close(figure)
    return buffer.getvalue()


# --- page ----------------------------------------------------------------------------------------------


def write_comparison(comparison: Comparison, out: Path, gate: dict[str, Any] | None = None) -> Path:
    """Write ``<out>/compare_<time>/`` (page, figure, CSV, JSON); return the page's path."""
    folder = output_folder(out, "compare")
    folder.mkdir(parents=True)
    png = _png(ratio_figure(comparison))
    (folder / RATIOS_PNG).write_bytes(png)
    comparison.functions.to_csv(folder / COMPARISON_CSV)
    data = comparison_dict(comparison, gate)
    (folder / COMPARISON_JSON).write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    page = folder / COMPARISON_HTML
    page.write_text(render(comparison, png, gate))
    return page


def render(comparison: Comparison, png: bytes, gate: dict[str, Any] | None = None) -> str:
    """The whole page as HTML text."""
    title = f"mpmon comparison: {comparison.b.label} against {comparison.a.label}"
    encoded = base64.b64encode(png).decode("ascii")
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>",
        f"<style>{STYLESHEET}</style></head><body>",
        f"<h1 id='top'>{_e(title)}</h1>",
        "<nav><a href='#ratios'>Change per function</a> <a href='#comparison'>Comparison</a> "
        "<a href='#new-vanished'>New and vanished</a> <a href='#method'>Method</a></nav>",
        _runs(comparison),
        _cards(comparison, gate),
        f"<figure id='ratios'><h2>Change per function</h2><img src='data:image/png;base64,{encoded}' "
        "alt='Change per function' width='1100'><figcaption>Each dot is a function that ran in both runs, at "
        "the ratio of its medians; the bar is the ratio's 95 % interval. Red: slower beyond noise, "
        f"green: faster, grey: unchanged. Shaded: within ±{comparison.min_change:.0%}. At most "
        f"{FIGURE_FUNCTIONS} functions, those whose median changed most. <span class='meta'>({RATIOS_PNG})"
        "</span></figcaption></figure>",
        f"<section id='comparison'><h2>Comparison</h2>{_table(comparison)}</section>",
        f"<section id='new-vanished'><h2>New and vanished</h2>{_new_vanished(comparison)}</section>",
        f"<section id='method'><h2>Method</h2><p>{_e(method_text(comparison))}</p>"
        f"<p class='meta'>generated {_e(datetime.now(timezone.utc).isoformat(timespec='seconds'))} · "
        f"files: {COMPARISON_JSON}, {COMPARISON_CSV}, {RATIOS_PNG}</p></section>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _runs(comparison: Comparison) -> str:
    """Which runs, from where."""
    lines = []
    for key, run in (("A (baseline)", comparison.a), ("B", comparison.b)):
        lines.append(
            f"<p class='meta'><b>{_e(key)}</b>: run {_e(run.label)} · {_e(run.selection)} · "
            f"{_e(units.plural(int(run.functions['calls'].sum()), 'call'))} · log directory "
            f"{_e(run.log_dir.resolve())}</p>"
        )
    return "".join(lines)


def _cards(comparison: Comparison, gate: dict[str, Any] | None) -> str:
    """The counts of each change, and the gate's verdict."""
    kinds = ("slower", "faster", "unchanged", "new", "vanished")
    cards = [(str(len(comparison.changed(k))), k) for k in kinds]
    html = "".join(f"<div class='card'><b>{_e(v)}</b><span>{_e(k)}</span></div>" for v, k in cards)
    verdict = f"<p class='warn'>{_e(gate['verdict'])}</p>" if gate and gate["failed"] else ""
    if gate and not gate["failed"]:
        verdict = f"<p class='meta'>{_e(gate['verdict'])}</p>"
    return f"<div class='cards'>{html}</div>{verdict}"


_HEAD = (
    "function",
    "change",
    "calls A",
    "calls B",
    "p50 A",
    "p50 B",
    "ratio",
    "95 % interval",
    "p",
    "p95 A",
    "p95 B",
    "total A",
    "total B",
    "self A",
    "self B",
    "errors A",
    "errors B",
)


def _table(comparison: Comparison) -> str:
    """One row per function."""
    rows = []
    for name, r in comparison.functions.iterrows():
        colour = _COLOURS.get(str(r.change), "#555555")
        cells = [units.count(r.calls_a), units.count(r.calls_b), cell("duration", r.p50_a_s)]
        cells += [cell("duration", r.p50_b_s), _ratio(r.ratio), _interval(r), _p(r.p_value)]
        cells += [cell("duration", v) for v in (r.p95_a_s, r.p95_b_s, r.total_a_s, r.total_b_s)]
        cells += [cell("duration", r.self_a_s), cell("duration", r.self_b_s)]
        cells += [units.count(r.errors_a), units.count(r.errors_b)]
        rows.append(
            f"<tr><td class='name'>{_e(name)}</td><td style='color:{colour}'><b>{_e(r.change)}</b></td>"
            + "".join(f"<td>{_e(c)}</td>" for c in cells)
            + "</tr>"
        )
    head = "".join(f"<th>{_e(h)}</th>" for h in _HEAD)
    return f"<table><tr>{head}</tr>{''.join(rows)}</table><p class='meta'>every column: {COMPARISON_CSV}</p>"


def _new_vanished(comparison: Comparison) -> str:
    """Functions only in run B, and only in run A."""
    new, gone = comparison.changed("new"), comparison.changed("vanished")
    if not new and not gone:
        return "<p>Both runs called the same functions.</p>"
    items = [f"<li>new in B: <b>{_e(f)}</b></li>" for f in new]
    items += [f"<li>vanished from B: <b>{_e(f)}</b></li>" for f in gone]
    return f"<ul>{''.join(items)}</ul>"
