"""Evidence -> inline SVG data URIs (matplotlib's object-oriented API; no pyplot state).

Charts are drawn at render time from the evidence data in result.json, so ``auditor render``
rebuilds them from the result alone. Output is byte-for-byte deterministic: fixed SVG id salt, no
date metadata, text drawn as paths (no fonts needed by the PDF renderer).
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
from matplotlib import rcParams  # noqa: E402
from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

rcParams["svg.hashsalt"] = "auditor"
rcParams["svg.fonttype"] = "path"
rcParams["font.size"] = 8

PALETTE = ["#1f5f8b", "#c05a2b", "#3d8b4f", "#8b6b1f", "#6b3d8b", "#8b1f4a"]


def _to_data_uri(fig: Figure) -> str:
    FigureCanvasSVG(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def bar_chart(ev) -> str:
    n = len(ev.labels)
    fig = Figure(figsize=(6.2, 0.32 * n + 0.8))
    ax = fig.add_subplot()
    y = list(range(n))[::-1]
    ax.barh(y, ev.values, xerr=ev.errors, color=PALETTE[0], ecolor="#555", capsize=2, height=0.6)
    ax.set_yticks(y, ev.labels)
    ax.set_xlabel(ev.xlabel)
    ax.axvline(0, color="#333", linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    return _to_data_uri(fig)


def line_chart(ev) -> str:
    fig = Figure(figsize=(6.2, 3.0))
    ax = fig.add_subplot()
    for i, s in enumerate(ev.series):
        color = PALETTE[i % len(PALETTE)]
        dashed = "control" in s.name.lower() or "random" in s.name.lower()
        ax.plot(s.x, s.y, label=s.name, color=color, linestyle="--" if dashed else "-", linewidth=1.4)
        if s.band_low is not None and s.band_high is not None:
            ax.fill_between(s.x, s.band_low, s.band_high, color=color, alpha=0.15, linewidth=0)
    ax.set_xlabel(ev.xlabel)
    ax.set_ylabel(ev.ylabel)
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _to_data_uri(fig)


def heatmap(ev) -> str:
    import numpy as np

    values = np.array([[np.nan if v is None else v for v in row] for row in ev.values], dtype=float)
    rows, cols = values.shape
    fig = Figure(figsize=(min(0.6 * cols + 2.0, 7.0), 0.45 * rows + 1.2))
    ax = fig.add_subplot()
    finite = values[np.isfinite(values)]
    vmin = ev.vmin if ev.vmin is not None else (float(finite.min()) if finite.size else 0.0)
    vmax = ev.vmax if ev.vmax is not None else (float(finite.max()) if finite.size else 1.0)
    if vmin < 0 < vmax:
        image = ax.imshow(values, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, vmin, vmax), aspect="auto")
    else:
        image = ax.imshow(values, cmap="Blues", vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(cols), ev.col_labels, rotation=45, ha="right")
    ax.set_yticks(range(rows), ev.row_labels)
    if rows * cols <= 64:
        for i in range(rows):
            for j in range(cols):
                if np.isfinite(values[i, j]):
                    ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return _to_data_uri(fig)


CHARTS = {"bar_chart": bar_chart, "line_chart": line_chart, "heatmap": heatmap}


def chart_uri(ev) -> str:
    return CHARTS[ev.kind](ev)
