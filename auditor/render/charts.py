"""Evidence -> inline SVG data URIs (matplotlib's object-oriented API; no pyplot state).

Charts are drawn at render time from the evidence data in result.json, so ``auditor render``
rebuilds them from the result alone. Output is byte-for-byte deterministic: fixed SVG id salt, no
date metadata, text drawn as paths (no fonts needed by the PDF renderer).
"""

from __future__ import annotations

import base64
import io
import logging
import textwrap
import warnings

import matplotlib
import numpy as np

matplotlib.use("Agg")
from matplotlib import rcParams  # noqa: E402
from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from auditor.render.controls import visible_controls  # noqa: E402

rcParams["svg.hashsalt"] = "auditor"
rcParams["svg.fonttype"] = "path"
rcParams["font.size"] = 8
# DejaVu has no emoji and no CJK: a label holding them was drawn as boxes (and matplotlib warned on the
# run's stderr for each glyph). matplotlib takes a missing glyph from the next family listed: the fonts
# scripts/setup.sh installs for the same texts in the PDF's tables, where they are installed.
FALLBACK_FONTS = ("Symbola", "Noto Sans CJK JP")
_INSTALLED = {font.name for font in font_manager.fontManager.ttflist}
rcParams["font.family"] = ["DejaVu Sans", *(name for name in FALLBACK_FONTS if name in _INSTALLED)]
# Symbola has no bold: each bold text (a threshold's label) logged "findfont: Failed to find font weight
# bold for Symbola, now using 400" on the run's stderr, though the text is drawn in DejaVu Sans Bold.
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
# Labels are the audited data's own text (feature names, classes, words): "$US and $EUR" is drawn as
# written, never read as mathematics (an odd "$" set the rest in italics, a bad one lost the chart).
rcParams["text.parse_math"] = False

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
THRESHOLD_COLOR = "#B2182B"
# Metrics where a smaller value is better: drawn on their own axis, never next to higher-is-better ones.
LOWER_IS_BETTER = ("brier", "log_loss", "loss", "error", "mae", "mse", "rmse")
A4_WIDTH_IN = 6.9  # the text width of an A4 page with the report's margins


def chart_text(text) -> str:
    """Text a chart draws (a label, a legend entry), its control and bidi characters written as visible
    escapes as the report's tables write them: matplotlib lays text out right to left after a U+202E,
    and a feature the table names "Age\\u202eevil" read "Agelive" on the chart."""
    return visible_controls(str(text))


def short_label(text, most: int) -> str:
    """``text`` in at most ``most`` characters: its start and its end kept, an ellipsis between (feature
    names share long middles: "f010_customer_acc…average_fe" beside "f000_customer_acc…average_fe")."""
    text = chart_text(text)
    if len(text) <= most:
        return text
    head = (most - 1) // 2 + 1
    return text[:head] + "…" + text[len(text) - (most - 1 - head):]


TICK_LABEL_CHARS = 24  # a heatmap's tick label: its 60-character slanted labels took more room than the cells


# a bar's label: a 120-character feature name took the chart's width and squeezed its bars into a sliver
BAR_LABEL_CHARS = 28


def short_labels(labels, most: int = TICK_LABEL_CHARS) -> list[str]:
    """Tick labels in at most ``most`` characters each, longer where two distinct ones would read alike."""
    labels = [chart_text(label) for label in labels]
    for length in range(most, max(map(len, labels), default=0) + 1):
        short = [short_label(label, length) for label in labels]
        if len(set(short)) == len(set(labels)):
            return short
    return labels


def wrapped_label(text: str, width: int = 30, lines: int = 4) -> str:
    """An axis label in at most ``lines`` lines of about ``width`` characters, the last shortened in its
    middle if more remains: "P(Product family 11: … for reviewers)" in one line along the y axis was
    taller than the report's 95 mm, and the chart was drawn as a thumbnail to fit."""
    parts = textwrap.wrap(chart_text(text), width, break_long_words=True, break_on_hyphens=False)
    if len(parts) > lines:
        parts = parts[:lines - 1] + [short_label(" ".join(parts[lines - 1:]), width)]
    return "\n".join(parts)


def _to_data_uri(fig: Figure) -> str:
    FigureCanvasSVG(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _lower_is_better(label: str) -> bool:
    key = label.lower().replace(" ", "_")
    return any(key == k or key.endswith("_" + k) or key.startswith(k + "_") for k in LOWER_IS_BETTER)


def _bar_thresholds(label: str, thresholds) -> list[tuple[float, str]]:
    """Policy bounds that apply to one bar: the measurement is the bar's label or starts with it
    (``roc_auc`` -> ``roc_auc_ci_low``); drawn only when exactly one threshold matches. Each comes
    with its label: a bound on an interval's end says so ('CI low ≥ 0.7'), since the bar is the
    point estimate and the gate judges the error bar's end (a bar past a bare '≥ 0.7' read as a pass
    whose interval could still fail it)."""
    key = label.lower().replace(" ", "_")
    matches = [t for t in thresholds or () if t.measurement == key or t.measurement.startswith(key + "_")]
    if len(matches) != 1:
        return []
    t = matches[0]
    end = ("CI low " if t.measurement.endswith("_ci_low") else "CI high " if t.measurement.endswith("_ci_high")
           else "")
    return [(v, end + kind) for v, kind in ((t.min, "≥"), (t.max, "≤")) if v is not None]


def _bars(ax, labels, values, errors, thresholds, color):
    n = len(labels)
    y = list(range(n))[::-1]
    ax.barh(y, values, xerr=errors, color=color, ecolor="#333", capsize=2, height=0.6)
    ax.set_yticks(y, short_labels(labels, BAR_LABEL_CHARS))
    ax.axvline(0, color="#333", linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    drawn = False
    for yi, label, bar in zip(y, labels, values):
        for value, kind in _bar_thresholds(label, thresholds):
            on_bar = bar is not None and 0 <= value <= bar
            ax.plot([value, value], [yi - 0.45, yi + 0.45], color=THRESHOLD_COLOR, linewidth=2.2,
                    solid_capstyle="butt", zorder=5, label=None if drawn else "policy threshold")
            ax.annotate(f"{kind} {value:g}", (value, yi), xytext=(-3, 0), textcoords="offset points",
                        fontsize=6.5, color="white" if on_bar else THRESHOLD_COLOR, fontweight="bold", ha="right",
                        va="center", zorder=6)
            drawn = True
    return drawn


def _bar_errors(ev) -> list | None:
    """Each bar's (below, above) extent of its interval: from ``low``/``high`` where the chart has them
    (an interval need not be symmetric: a ROC AUC of 0.998 with a CI of 0.78-0.999), else the half-widths."""
    if ev.low is not None and ev.high is not None:
        return [(v - lo, hi - v) for v, lo, hi in zip(ev.values, ev.low, ev.high)]
    return None if ev.errors is None else [(e, e) for e in ev.errors]


def bar_chart(ev, thresholds=()) -> str:
    extents = _bar_errors(ev)
    errors = extents if extents is not None else [None] * len(ev.labels)
    groups = [[], []]  # higher-is-better (or neutral), lower-is-better
    for label, value, err in zip(ev.labels, ev.values, errors):
        groups[1 if _lower_is_better(label) else 0].append((label, value, err))
    groups = [g for g in groups if g] if all(groups) else [[*groups[0], *groups[1]]]
    # at least 0.8 in a group: one bar in 0.47 in was thinner than its threshold's label, which hid the mark
    heights = [max(0.8, 0.17 * len(g) + 0.3) for g in groups]
    fig = Figure(figsize=(A4_WIDTH_IN * 0.75, sum(heights) + 0.45 * len(groups)))
    axes = fig.subplots(len(groups), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    drawn = False
    for i, (ax, group) in enumerate(zip(axes, groups)):
        labels = [g[0] for g in group]
        errs = None if extents is None else np.array([g[2] for g in group], dtype=float).T  # (2, bars)
        drawn |= _bars(ax, labels, [g[1] for g in group], errs, thresholds,
                       PALETTE[0] if i == 0 else PALETTE[1])
        if len(groups) > 1:
            ax.set_xlabel(chart_text(f"{ev.xlabel} (higher is better)".strip() if i == 0
                                     else f"{ev.xlabel} (lower is better)".strip()))
        else:
            ax.set_xlabel(chart_text(ev.xlabel))
    if drawn:
        axes[0].legend(frameon=False, fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), borderaxespad=0.1)
    fig.tight_layout()
    return _to_data_uri(fig)


def _series_base(name: str) -> str:
    base = name
    for suffix in (" random control", " control"):
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return base


ICE_PREFIX = "ICE "  # series of individual rows (ICE curves): thin grey lines behind the others, one legend entry


def _ice_lines(ax, series) -> None:
    for k, s in enumerate(series):
        ax.plot(s.x, s.y, color="#999999", linewidth=0.6, alpha=0.6, zorder=1,
                label=f"ICE ({len(series)} rows)" if k == 0 else "_nolegend_")


def line_chart(ev, thresholds=()) -> str:
    """One colour per explainer; its control in the same colour, dashed, with hollow markers.
    Series named ``ICE ...`` are drawn as thin grey lines behind the others."""
    fig = Figure(figsize=(A4_WIDTH_IN * 0.8, 2.4))
    ax = fig.add_subplot()
    _ice_lines(ax, [s for s in ev.series if s.name.startswith(ICE_PREFIX)])
    others = [s for s in ev.series if not s.name.startswith(ICE_PREFIX)]
    bases = list(dict.fromkeys(_series_base(s.name) for s in others))
    for s in others:
        color = PALETTE[bases.index(_series_base(s.name)) % len(PALETTE)]
        control = _series_base(s.name) != s.name or "random" in s.name.lower()
        every = max(1, len(s.x) // 8)
        ax.plot(s.x, s.y, label=chart_text(s.name), color=color, linestyle=(0, (5, 2)) if control else "-",
                linewidth=1.3 if control else 1.8, marker="o", markersize=3.5, markevery=every,
                markerfacecolor="white" if control else color)
        if s.band_low is not None and s.band_high is not None:
            ax.fill_between(s.x, s.band_low, s.band_high, color=color, alpha=0.15, linewidth=0)
    ax.set_xlabel(chart_text(ev.xlabel))
    ax.set_ylabel(wrapped_label(ev.ylabel))
    ax.legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _to_data_uri(fig)


def scatter_chart(ev, thresholds=()) -> str:
    """Small hollow points (many rows stay readable), with the y = x diagonal or the y = 0 line."""
    fig = Figure(figsize=(A4_WIDTH_IN * 0.55, 2.8))
    ax = fig.add_subplot()
    ax.scatter(ev.x, ev.y, s=8, facecolors="none", edgecolors=PALETTE[0], linewidths=0.7, alpha=0.8)
    if ev.diagonal and ev.x:
        low, high = min(min(ev.x), min(ev.y)), max(max(ev.x), max(ev.y))
        ax.plot([low, high], [low, high], color="black", linewidth=1, linestyle=(0, (4, 2)), label="y = x")
    if ev.zero_line:
        ax.axhline(0.0, color="black", linewidth=1, linestyle=(0, (4, 2)))
    ax.set_xlabel(chart_text(ev.xlabel))
    ax.set_ylabel(wrapped_label(ev.ylabel))
    # at most 5 ticks along the narrow x axis: six six-digit sale prices ran into one another
    # ("100000200000300000...") once the y label took two lines
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _to_data_uri(fig)


def column_labels_collide(labels, width_in: float, size_pt: float) -> bool:
    """Whether a heatmap's column labels, written level, would run into each other: more than six
    columns, or a label wider (about 0.6 em per character) than the half of the figure's width that
    is left to each column (three explainers' names collided at full size)."""
    longest = max((len(str(label)) for label in labels), default=0)
    return len(labels) > 6 or longest * size_pt * 0.6 / 72 > 0.5 * width_in / max(len(labels), 1)


HEATMAP_PANEL_COLS = 40  # at most this many columns side by side: a 73-word text's labels overlapped


def column_panels(n_cols: int, most: int = HEATMAP_PANEL_COLS) -> list[range]:
    """The columns of each panel of a heatmap too wide for one: as few panels as hold at most ``most``
    columns each, in order and about equally wide."""
    panels = max(1, -(-n_cols // most))
    per = -(-n_cols // panels) if n_cols else 0
    return [range(start, min(start + per, n_cols)) for start in range(0, n_cols, per)] if n_cols else [range(0)]


def heatmap(ev, thresholds=()) -> str:
    """Rows by columns on one colour scale; a heatmap of many columns (the words of a long text) is
    wrapped into stacked panels of at most HEATMAP_PANEL_COLS columns, so every label stays legible."""
    import numpy as np

    values = np.array([[np.nan if v is None else v for v in row] for row in ev.values], dtype=float)
    rows, cols = values.shape
    panels = column_panels(cols)
    width = min(0.28 * len(panels[0]) + 2.4, A4_WIDTH_IN)
    label_size = 8 if cols <= 12 else 6.5
    # several panels share one colour bar: constrained layout keeps each panel's labels clear of the next
    # (panels are shorter: the report draws a chart at most 95 mm high, and shrinks a taller one whole)
    height = 0.4 * rows + 1.6 if len(panels) == 1 else (0.3 * rows + 0.75) * len(panels)
    fig = Figure(figsize=(width, height), layout="constrained" if len(panels) > 1 else None)
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    finite = values[np.isfinite(values)]
    vmin = ev.vmin if ev.vmin is not None else (float(finite.min()) if finite.size else 0.0)
    vmax = ev.vmax if ev.vmax is not None else (float(finite.max()) if finite.size else 1.0)
    for ax, panel in zip(axes, panels):
        part = values[:, panel.start:panel.stop]
        labels = short_labels(ev.col_labels[panel.start:panel.stop])
        slanted = column_labels_collide(labels, width, label_size)
        if vmin < 0 < vmax:  # signed: a diverging, colour-blind-safe scale centred on 0
            image = ax.imshow(part, cmap="PuOr_r", norm=TwoSlopeNorm(0.0, vmin, vmax), aspect="auto")
        else:  # unsigned: one hue, darker = more
            image = ax.imshow(part, cmap="Purples", vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_xticks(range(len(panel)), labels, rotation=60 if slanted else 0, ha="right" if slanted else "center",
                      fontsize=label_size, rotation_mode="anchor")
        ax.set_yticks(range(rows), short_labels(ev.row_labels))
        if rows * cols <= 64 and cols <= 12:
            for i in range(rows):
                for j in range(len(panel)):
                    if np.isfinite(part[i, j]):
                        dark = (part[i, j] - vmin) / ((vmax - vmin) or 1) > 0.6
                        ax.text(j, i, f"{part[i, j]:.2f}", ha="center", va="center", fontsize=7,
                                color="white" if dark else "black")
    fig.colorbar(image, ax=axes[0] if len(panels) == 1 else list(axes), shrink=0.8 if len(panels) == 1 else 0.6)
    if len(panels) == 1:
        with warnings.catch_warnings():  # long slanted labels: matplotlib keeps its layout and says so
            warnings.simplefilter("ignore", UserWarning)
            fig.tight_layout()
    return _to_data_uri(fig)


CHARTS = {"bar_chart": bar_chart, "line_chart": line_chart, "scatter_chart": scatter_chart, "heatmap": heatmap}


def chart_uri(ev, thresholds=()) -> str:
    """The chart of one evidence item; ``thresholds`` (the check's outcomes) draws the policy's bounds
    on the bars they apply to. Values matplotlib cannot lay out (a span beyond float's range: one
    target of 1.7e308) give a figure saying so, not a report lost; the tables hold the numbers."""
    try:
        return CHARTS[ev.kind](ev, thresholds)
    except (ValueError, OverflowError, FloatingPointError) as exc:
        return _not_drawn(f"{ev.title}: not drawn — its values cannot be laid out on an axis ({exc}).")


def _not_drawn(message: str) -> str:
    fig = Figure(figsize=(A4_WIDTH_IN * 0.55, 0.6))
    fig.text(0.01, 0.5, "\n".join(textwrap.wrap(chart_text(message), 90)), fontsize=8, va="center")
    return _to_data_uri(fig)
