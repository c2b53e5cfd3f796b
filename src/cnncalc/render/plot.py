"""A Canziani-style chart of several architectures: MACs across, accuracy (or params) up, params as area.

After Canziani, Paszke and Culurciello, "An Analysis of Deep Neural Network Models for Practical
Applications" (2016), figure 2: each network is one marker at x = its MACs (G, exact, from cnncalc), y =
its top-1 accuracy as its spec's ``accuracy:`` mapping states it, with marker *area* proportional to its
parameters. When the specs state no top-1 accuracy, y is parameters (M) instead. A caption line under the
chart names where the accuracy figures come from.

matplotlib is an optional extra (``pip install 'cnncalc[plot]'``). It is imported only inside
:func:`plot`, drawing through the Agg canvas without touching pyplot's global state, so importing this
module (and starting cnncalc) never loads matplotlib or numpy.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..analysis import Report
from ..errors import CnncalcError

FORMATS = (".png", ".svg")
"""Output formats, chosen by the file's suffix."""

MISSING_MATPLOTLIB = "cnncalc plot needs matplotlib: pip install 'cnncalc[plot]'"

_TOP1_KEYS = ("top1", "top_1")
_MAX_AREA = 2400.0  # pt^2 of the marker of the largest network (about 49 pt across)


class PlotError(CnncalcError):
    """A chart cannot be drawn: bad arguments, an unreadable accuracy figure, an unknown output format."""

    code = "E610"


class MatplotlibMissingError(PlotError):
    """matplotlib, the optional ``plot`` extra, is not installed."""

    code = "E611"


def top1(report: Report) -> float | None:
    """The top-1 accuracy (percent) the spec's ``accuracy:`` mapping states, or None if it states none.

    The value may be written ``76.13`` or ``76.13%``; anything else is a :class:`PlotError`.
    """
    for key, text in report.accuracy:
        if key.lower() in _TOP1_KEYS:
            try:
                value = float(text.strip().rstrip("%").strip())
            except ValueError:
                raise PlotError(f"{report.name}: accuracy `{key}: {text}` is not a number") from None
            if not math.isfinite(value) or not 0 <= value <= 100:
                raise PlotError(f"{report.name}: accuracy `{key}: {text}` is not a percentage in 0..100")
            return value
    return None


def accuracy_source(report: Report) -> str:
    """The spec's ``accuracy: {source: ...}`` text, or ``""``."""
    return next((text for key, text in report.accuracy if key.lower() == "source"), "")


def plot(
    reports: Sequence[Report],
    labels: Sequence[str],
    out: Path,
    *,
    y: str = "auto",
    log_x: bool | None = None,
    title: str | None = None,
) -> None:
    """Draw the reports as one chart and write it to ``out`` (PNG or SVG, by suffix).

    x is MACs in G (M or K when every network is under 0.1 G), on a log scale when ``log_x`` or, by default,
    when they span more than 10x; marker area is proportional to params; each marker carries its label. ``y``: ``"top1"`` plots the top-1 accuracy
    stated in each spec (specs without one are left out and named in the caption), ``"params"`` plots
    params in M, ``"auto"`` (default) plots top-1 when every spec states one, else params. A caption line
    names the accuracy sources. Raises :class:`MatplotlibMissingError` when matplotlib is not installed
    and :class:`PlotError` for unusable arguments.
    """
    out = Path(out)
    reports, labels = list(reports), list(labels)
    if not reports:
        raise PlotError("nothing to plot: no reports")
    if len(reports) != len(labels):
        raise PlotError(f"{len(reports)} reports but {len(labels)} labels")
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise PlotError(f"cannot tell the chart format from `{out.name}`: use a name ending in .png or .svg")
    if y not in ("auto", "top1", "params"):
        raise PlotError(f"y must be auto, top1 or params, got `{y}`")
    accs = [top1(r) for r in reports]
    if y == "auto":
        y = "top1" if all(a is not None for a in accs) else "params"
    if y == "top1" and all(a is None for a in accs):
        raise PlotError("no spec states a top-1 accuracy (`accuracy: {top1: ..., source: ...}`)")

    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.layout_engine import ConstrainedLayoutEngine
    except ImportError:
        raise MatplotlibMissingError(MISSING_MATPLOTLIB) from None

    points = [(r, lab, a) for r, lab, a in zip(reports, labels, accs) if y == "params" or a is not None]
    left_out = [lab for lab, a in zip(labels, accs) if y == "top1" and a is None]
    big = max(r.total.macs for r, _, _ in points)
    unit, div = ("G", 1e9) if big >= 1e8 else ("M", 1e6) if big >= 1e5 else ("K", 1e3)
    xs = [r.total.macs / div for r, _, _ in points]
    ys = [r.total.params / 1e6 if a is None or y == "params" else a for r, _, a in points]
    if log_x is None:
        log_x = min(xs) > 0 and max(xs) / min(xs) > 10
    if log_x and min(xs) <= 0:
        raise PlotError("a log MACs axis needs every network to have MACs > 0")
    max_params = max(r.total.params for r, _, _ in points) or 1
    areas = [_MAX_AREA * r.total.params / max_params for r, _, _ in points]

    fig = Figure(figsize=(10, 6.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colours = [f"C{i % 10}" for i in range(len(points))]
    ax.scatter(xs, ys, s=areas, c=colours, alpha=0.55, edgecolors="black", linewidths=0.8, zorder=3)
    ax.scatter(xs, ys, s=6, c="black", zorder=4)  # the exact position, whatever the marker size
    _axes(ax, xs, ys, log_x, y, unit)
    ax.set_title(title or ("Top-1 accuracy vs. MACs" if y == "top1" else "Parameters vs. MACs"), fontsize=13)
    _size_key(ax, max_params)
    caption = textwrap.fill(_caption(reports, labels, y, left_out), 150)
    fig.text(0.01, 0.005, caption, fontsize=8, color="0.3", ha="left", va="bottom")
    bottom = (caption.count("\n") + 1) * 11 / (fig.get_figheight() * 72) + 0.015  # room for the caption
    fig.set_layout_engine(ConstrainedLayoutEngine(rect=(0, bottom, 1, 1 - bottom)))
    fig.canvas.draw()  # settle the layout, so labels can be placed where they collide with nothing
    _labels(fig, ax, [lab for _, lab, _ in points], xs, ys, areas)
    fig.set_layout_engine("none")  # keep the settled layout: the labels must not move the axes
    if suffix == ".svg":  # text kept as text (searchable, editable); fixed ids and no date: reproducible files
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "cnncalc"}):
            fig.savefig(out, format="svg", metadata={"Date": None})
    else:
        fig.savefig(out, format="png", dpi=150, metadata={"Software": None})


def _labels(fig: Any, ax: Any, labels: list[str], xs: list[float], ys: list[float], areas: list[float]) -> None:
    """Put each label beside its marker, at the first of eight positions that overlaps no marker or label."""
    renderer = fig.canvas.get_renderer()
    scale = fig.dpi / 72.0  # display pixels per point
    centres = ax.transData.transform(list(zip(xs, ys)))
    radii = [math.sqrt(a) / 2 * scale for a in areas]
    frame = ax.get_window_extent(renderer)
    taken: list[tuple[float, float, float, float]] = [
        (cx - r, cy - r, cx + r, cy + r) for (cx, cy), r in zip(centres, radii)
    ]
    order = sorted(range(len(labels)), key=lambda i: -areas[i])  # big markers choose first
    for i in order:
        r = math.sqrt(areas[i]) / 2 + 3  # points
        d = r * 0.72
        places = [
            ((r, 0), "left", "center"),
            ((-r, 0), "right", "center"),
            ((0, r), "center", "bottom"),
            ((0, -r), "center", "top"),
            ((d, d), "left", "bottom"),
            ((d, -d), "left", "top"),
            ((-d, d), "right", "bottom"),
            ((-d, -d), "right", "top"),
        ]
        best: tuple[float, Any, tuple[float, float, float, float]] | None = None
        for offset, ha, va in places:
            text = ax.annotate(
                labels[i],
                (xs[i], ys[i]),
                xytext=offset,
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=10,
                zorder=5,
                annotation_clip=False,
            )
            text.set_in_layout(False)
            bb = text.get_window_extent(renderer)
            box = (bb.x0 - 2, bb.y0 - 1, bb.x1 + 2, bb.y1 + 1)
            cost = sum(_overlap(box, t) for j, t in enumerate(taken) if j != i)
            area = (box[2] - box[0]) * (box[3] - box[1])
            cost += area - _overlap(box, (frame.x0, frame.y0, frame.x1, frame.y1))  # the part outside the axes
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, text, box)
            else:
                text.remove()
            if cost < 1e-6:
                break
        assert best is not None
        taken.append(best[2])


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Area shared by two boxes (x0, y0, x1, y1)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _log_ticks(axis: Any) -> None:
    """1-2-5 ticks labelled as plain numbers on a log axis."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _axes(ax: Any, xs: list[float], ys: list[float], log_x: bool, y: str, unit: str) -> None:
    """Scales, limits with room for labels and markers, axis labels, grid.

    In params mode y is on a log scale too when the params span more than 10x (accuracy stays linear).
    """
    if log_x:
        ax.set_xscale("log")
        ax.set_xlim(min(xs) / 2.0, max(xs) * 3.0)  # room on the right for the labels
        _log_ticks(ax.xaxis)
    else:
        span = (max(xs) - min(xs)) or max(xs) or 1.0
        ax.set_xlim(min(0.0, min(xs) - 0.1 * span), max(xs) + 0.3 * span)
    if y == "params" and min(ys) > 0 and max(ys) / min(ys) > 10:
        ax.set_yscale("log")
        ax.set_ylim(min(ys) / 1.8, max(ys) * 1.8)
        _log_ticks(ax.yaxis)
        ylabel = "parameters, M, log scale"
    else:
        yspan = (max(ys) - min(ys)) or max(ys) or 1.0
        ax.set_ylim(min(ys) - 0.15 * yspan, max(ys) + 0.15 * yspan)
        if y == "params":
            ax.set_ylim(bottom=max(0.0, min(ys) - 0.15 * yspan))
        ylabel = "top-1 accuracy, %" if y == "top1" else "parameters, M"
    ax.set_xlabel(f"MACs per image, {unit} (multiply-accumulates; FLOPs = 2 x MACs)" + (", log scale" if log_x else ""))
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", color="0.88", zorder=0)
    ax.set_axisbelow(True)


def _size_key(ax: Any, max_params: int) -> None:
    """A legend of up to three marker sizes (params), outside the axes, so the areas can be read."""
    steps = [s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if s * 1e6 <= max_params]
    keys = sorted({steps[i] for i in (-1, len(steps) // 2, 0)}) if steps else []
    if not keys:
        return
    sizes = [_MAX_AREA * k * 1e6 / max_params for k in keys]
    handles = [ax.scatter([], [], s=s, c="0.75", alpha=0.55, edgecolors="black", linewidths=0.8) for s in sizes]
    fontsize = 8
    tallest = math.sqrt(max(sizes))  # points
    ax.legend(
        handles,
        [f"{k:g}M" for k in keys],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        title="marker area:\nparams",
        fontsize=fontsize,
        title_fontsize=fontsize,
        frameon=False,
        labelspacing=tallest / fontsize * 0.9,
        borderpad=tallest / fontsize * 0.5,
        handletextpad=0.8,
        handlelength=tallest / fontsize,
    )


def _caption(reports: list[Report], labels: list[str], y: str, left_out: list[str]) -> str:
    """The line under the chart: where the numbers come from."""
    counts = "MACs and params: cnncalc, exact counts at each spec's own input size; marker area proportional to params."
    if y == "params":
        return counts + " No top-1 accuracy plotted: y is params (M)."
    by_source: dict[str, list[str]] = {}
    for r, lab in zip(reports, labels):
        if top1(r) is not None:
            by_source.setdefault(accuracy_source(r) or "source not stated in the spec", []).append(lab)
    sources = "; ".join(f"{src} ({', '.join(labs)})" for src, labs in by_source.items())
    text = f"Top-1 accuracy: {sources}. {counts}"
    if left_out:
        text += f" Not plotted (no top-1 in the spec): {', '.join(left_out)}."
    return text


__all__ = ["FORMATS", "MISSING_MATPLOTLIB", "MatplotlibMissingError", "PlotError", "accuracy_source", "plot", "top1"]
