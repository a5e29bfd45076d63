"""Figures of the technical-validation report (matplotlib, Agg, no pyplot state).

Each function takes a statistics DataFrame from :mod:`covidbank.validation.stats`
and returns PNG bytes, or ``None`` when there is nothing to draw.  Every plot
has a title, axis labels and the counts written on its bars.
"""
from __future__ import annotations

import io
import math
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "faceted_bars",
    "histogram_bars",
    "heatmap",
    "value_histogram",
    "to_png",
]

_COLORS = ["#3b6ea5", "#c8553d", "#4d9078", "#8a6fb0", "#d4a017", "#6b7a8f", "#b5838d"]
DPI = 100


def to_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _fmt(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() else f"{v:,.2f}"


def _annotate(ax, bars, horizontal: bool) -> None:
    vals = [b.get_width() if horizontal else b.get_height() for b in bars]
    ax.bar_label(bars, labels=[_fmt(v) for v in vals], padding=2, fontsize=8)
    # leave room for the labels
    if horizontal:
        lo, hi = ax.get_xlim()
        ax.set_xlim(lo, hi * 1.12 if hi > 0 else hi)
    else:
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi * 1.12 if hi > 0 else hi)


def _grid(n: int, horizontal: bool, n_cats: int) -> tuple[int, int, tuple[float, float]]:
    cols = 1 if horizontal else min(n, 3)
    rows = math.ceil(n / cols)
    if horizontal:
        size = (8.5, max(2.2, 0.28 * n_cats + 1.2) * rows)
    else:
        size = (max(4.2 * cols, 0.45 * n_cats * cols + 1.5), 3.6 * rows)
    return rows, cols, size


def faceted_bars(
    df: pd.DataFrame,
    cat: str,
    value: str,
    title: str,
    xlabel: str,
    ylabel: str,
    facet: str | None = "source",
    horizontal: bool = False,
    max_cats: int = 20,
    order: Sequence[str] | None = None,
    wrap: int = 28,
) -> bytes | None:
    """Bar chart of ``value`` per ``cat``, one panel per ``facet`` value.

    Parameters
    ----------
    df : DataFrame
        Rows with ``cat``, ``value`` (and ``facet``) columns.
    horizontal : bool
        Horizontal bars (for long category names), largest on top.
    max_cats : int
        Keep the ``max_cats`` largest categories of each panel.
    order : sequence of str, optional
        Fixed category order (else: descending value for horizontal bars,
        as given for vertical ones).
    """
    if df is None or df.empty:
        return None
    groups = list(df.groupby(facet, sort=True)) if facet and facet in df.columns else [(None, df)]
    n_cats = min(max_cats, max(len(g) for _, g in groups))
    rows, cols, size = _grid(len(groups), horizontal, n_cats)
    fig = Figure(figsize=size)
    fig.suptitle(title, fontsize=12, fontweight="bold")
    for i, (key, g) in enumerate(groups):
        ax = fig.add_subplot(rows, cols, i + 1)
        g = g.copy()
        g[cat] = g[cat].astype(str)
        if order is not None:
            g = g.set_index(cat).reindex([o for o in order if o in set(g[cat])]).reset_index()
        elif horizontal:
            g = g.sort_values(value, ascending=False)
        g = g.head(max_cats)
        names = [_wrap(s, wrap) for s in g[cat]]
        vals = g[value].astype(float).to_numpy()
        color = _COLORS[i % len(_COLORS)]
        if horizontal:
            bars = ax.barh(range(len(vals)), vals, color=color)
            ax.set_yticks(range(len(vals)), names, fontsize=8)
            ax.invert_yaxis()
            ax.set_xlabel(ylabel)
            ax.set_ylabel(xlabel)
        else:
            bars = ax.bar(range(len(vals)), vals, color=color)
            longest = max((len(s) for s in names), default=0)
            rot = 0 if longest <= 3 or (longest <= 8 and len(names) <= 8) else 35
            ax.set_xticks(range(len(vals)), names, fontsize=8, rotation=rot, ha="right" if rot else "center")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
        _annotate(ax, bars, horizontal)
        if key is not None:
            ax.set_title(f"{key} (n = {_fmt(vals.sum())})" if not horizontal else str(key), fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return to_png(fig)


def histogram_bars(
    df: pd.DataFrame, x: str, value: str, title: str, xlabel: str, ylabel: str, facet: str | None = "source",
    max_bins: int = 30,
) -> bytes | None:
    """Bars for an integer-valued histogram table (``x`` = 1, 2, ...); values above
    ``max_bins`` are pooled into a last ``>max_bins`` bar."""
    if df is None or df.empty:
        return None
    parts = []
    for key, g in (df.groupby(facet, sort=True) if facet and facet in df.columns else [(None, df)]):
        g = g.sort_values(x)
        low = g[g[x] <= max_bins]
        high = g[g[x] > max_bins]
        lab = [str(int(v)) for v in low[x]]
        vals = list(low[value])
        if len(high):
            lab.append(f">{max_bins}")
            vals.append(high[value].sum())
        parts.append(pd.DataFrame({"_cat": lab, "_val": vals, "_facet": key}))
    d = pd.concat(parts, ignore_index=True)
    return faceted_bars(d, "_cat", "_val", title, xlabel, ylabel, facet="_facet" if facet else None, max_cats=max_bins + 1)


def value_histogram(
    values: pd.DataFrame, column: str, title: str, xlabel: str, facet: str | None = "source",
    bins: int | Sequence[float] = 20, ylabel: str = "count", stats_in_title: bool = True,
) -> bytes | None:
    """Histogram of a numeric column (per facet), with counts on the bars and
    mean and SD in each panel's title."""
    if values is None or values.empty or values[column].dropna().empty:
        return None
    groups = list(values.groupby(facet, sort=True)) if facet and facet in values.columns else [(None, values)]
    cols = min(len(groups), 2)
    rows = math.ceil(len(groups) / cols)
    fig = Figure(figsize=(5.4 * cols, 3.8 * rows))
    fig.suptitle(title, fontsize=12, fontweight="bold")
    for i, (key, g) in enumerate(groups):
        ax = fig.add_subplot(rows, cols, i + 1)
        v = pd.to_numeric(g[column], errors="coerce").astype(float).dropna().to_numpy()
        if len(v) == 0:
            ax.set_axis_off()
            ax.set_title(f"{key}: no values", fontsize=10)
            continue
        counts, edges, bars = ax.hist(v, bins=bins, color=_COLORS[i % len(_COLORS)], edgecolor="white")
        ax.bar_label(bars, labels=[_fmt(c) if c else "" for c in counts], padding=1, fontsize=7)
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi * 1.12)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        sub = f"n = {len(v):,}"
        if stats_in_title:
            sd = np.std(v, ddof=1) if len(v) > 1 else float("nan")
            sub += f", mean {np.mean(v):.1f}, SD {sd:.1f}"
        ax.set_title(f"{key}: {sub}" if key is not None else sub, fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return to_png(fig)


def heatmap(matrix: pd.DataFrame, title: str, xlabel: str, ylabel: str, cbar_label: str = "count") -> bytes | None:
    """Annotated heat map of a square or rectangular count matrix."""
    if matrix is None or matrix.empty:
        return None
    m = matrix.to_numpy(dtype=float)
    n_r, n_c = m.shape
    fig = Figure(figsize=(max(5.5, 0.55 * n_c + 3), max(4.5, 0.45 * n_r + 2)))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(m, cmap="Blues", aspect="auto")
    ax.set_xticks(range(n_c), [_wrap(str(c), 22) for c in matrix.columns], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n_r), [_wrap(str(c), 30) for c in matrix.index], fontsize=8)
    vmax = np.nanmax(m) if m.size else 0
    for r in range(n_r):
        for c in range(n_c):
            v = m[r, c]
            ax.text(c, r, _fmt(v), ha="center", va="center", fontsize=7, color="white" if v > 0.6 * vmax else "black")
    cb = fig.colorbar(im, ax=ax, fraction=0.04)
    cb.set_label(cbar_label)
    ax.set_title(title, fontsize=12, fontweight="bold")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    return to_png(fig)


def _wrap(s: str, width: int) -> str:
    s = str(s)
    if len(s) <= width:
        return s
    words, lines, cur = s.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    lines.append(cur)
    return "\n".join(lines[:2]) + ("…" if len(lines) > 2 else "")


def scatter_compare(df: pd.DataFrame, x: str, y: str, label: str, title: str, xlabel: str, ylabel: str,
                    annotate: int = 10) -> bytes | None:
    """Scatter of two count columns (log-log), the identity scaled by the
    median ratio drawn as a dashed line, and the ``annotate`` largest points named."""
    d = df[[x, y, label]].dropna()
    d = d[(d[x].astype(float) > 0) & (d[y].astype(float) > 0)]
    if d.empty:
        return None
    xs, ys = d[x].astype(float).to_numpy(), d[y].astype(float).to_numpy()
    ratio = float(np.median(ys / xs))
    fig = Figure(figsize=(6.5, 5.5))
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(xs, ys, s=18, color=_COLORS[0], alpha=0.75)
    lim = [min(xs.min(), ys.min()) * 0.8, max(xs.max(), ys.max()) * 1.25]
    ax.plot(lim, [v * ratio for v in lim], "--", color=_COLORS[1], label=f"y = {ratio:.2f} x (median ratio)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for _, r in d.sort_values(x, ascending=False).head(annotate).iloc[::2].iterrows():
        ax.annotate(str(r[label]), (float(r[x]), float(r[y])), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_title(title, fontsize=12, fontweight="bold")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return to_png(fig)
