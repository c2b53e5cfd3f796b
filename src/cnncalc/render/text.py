"""Terminal documents: the show, compare, memory, latency, devices, explain and library tables.

The render package is the only place that formats numbers (``102,760,448``, ``102.8M``); every
value it receives is an exact int. Columns are described once, in ``COLUMNS``.
Tables are documents of :mod:`cnncalc.render.layout` blocks, laid out for the output width when printed
(:func:`emit`); the terminal, colour and encoding decisions live in :mod:`cnncalc.term`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from operator import add, attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from ..analysis import Comparison, LayerResult, Memory, Report, Totals
from ..fields import fmt_num
from ..perf import without_gc
from .layout import Block, Para, Table

if TYPE_CHECKING:
    from ..analysis.training import Training, TrainingMemory
    from ..devices import Device, Roofline
from ..shapes import Shape

Doc = list[Block]


def emit(doc: Sequence[Block], width: int | None = None) -> None:
    """Print ``doc`` on stdout, laid out for ``--width``, ``COLUMNS`` or the terminal (whole rows in a pipe).

    Plain string formatting, coloured with ANSI styles only on a terminal (see :mod:`cnncalc.render.term`): a
    100,000-row table is written in well under a second.
    """
    from . import layout, term

    stream = sys.stdout
    lines = layout.render(doc, term.output_width(width, stream), term.ellipsis(stream))
    stream.write(layout.to_text(lines, term.use_colour(stream)))


def grid(
    headers: Sequence[str],
    justify: Sequence[str],
    rows: Sequence[tuple[Sequence[str], str | None]],
    footer: Sequence[str] | None = None,
    fit: Sequence[str] = (),
    drop: Sequence[int] = (),
) -> Table:
    """A plain table: columns sized to their longest cell; ``fit`` and ``drop`` say how it narrows (layout.Table)."""
    return Table(headers, justify, rows, footer, fit, drop)


def num(n: int) -> str:
    """``102,760,448``."""
    return f"{n:,}"


def short(n: int | Fraction) -> str:
    """``102.8M``, ``1.45G``, ``61.1K`` (display only)."""
    x = float(n)
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}" if abs(x) / scale < 100 else f"{x / scale:.0f}{unit}"
    return f"{x:g}"


def ratio(r: Fraction | None) -> str:
    """``0.318x`` (or ``-`` when undefined)."""
    if r is None:
        return "-"
    return f"{float(r):.3g}x"


class Row(NamedTuple):
    """One table row: a layer or a group of layers (a NamedTuple: one is made per row of a huge table)."""

    path: str
    op: str
    output: Shape
    totals: Totals
    kind: str = "layer"  # 'layer', 'group' or 'subtotal'
    rf: tuple[int, int] | None = (1, 1)  # of the row's last layer; None: unknown (after an opaque layer)
    jump: tuple[int | Fraction, int | Fraction] | None = (1, 1)


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: header, justification, the cell text of a row, and how it narrows.

    ``fit`` and ``drop`` are :class:`cnncalc.layout.Table`'s: how the column may shorten, and its place in the
    order columns are left out of a narrow table (0: never).
    """

    header: str
    justify: str
    cell: Callable[[Row], str]
    footer: Callable[[Report], str] = lambda rep: ""
    fit: str = ""
    drop: int = 0
    #: The cells of many single layers at once, the same as ``cell`` gives their rows (a huge table's fast path).
    layers: Callable[[Sequence[LayerResult]], Iterable[str]] | None = None


def axes(v: tuple[int | Fraction, int | Fraction] | None) -> str:
    """``11`` when both axes agree, else ``7x3``; fractional strides exactly (``1/2``); ``?`` when unknown."""
    if v is None:
        return "?"
    a, b = (fmt_num(x) for x in v)
    return a if a == b else f"{a}x{b}"


def field_cell(rf: tuple[int, int] | None, jump: tuple[int | Fraction, int | Fraction] | None) -> str:
    """The RF/stride cell: ``11/4``, ``7x3/2``, ``44/(1/2)`` for a fractional stride, ``?`` when unknown."""
    if rf is None or jump is None:
        return "?"
    j = axes(jump)
    return f"{axes(rf)}/{f'({j})' if '/' in j else j}"


def axes_json(v: tuple[int | Fraction, int | Fraction] | None) -> int | str | list[int | str] | None:
    """An int when both axes agree, else [h, w]; a fractional stride as the exact string "1/2"; null if unknown."""
    if v is None:
        return None
    a, b = (_json_num(x) for x in v)
    return a if a == b else [a, b]


def _json_num(x: int | Fraction) -> int | str:
    return int(x) if Fraction(x).denominator == 1 else fmt_num(x)


def bar(part: int, whole: int, width: int = 10) -> str:
    """A share as a bar of eighth-blocks and a percentage: ``███▍       34.2%``."""
    if whole <= 0 or part == 0:
        return ""
    eighths = round(part * width * 8 / whole)
    full, rest = divmod(eighths, 8)
    blocks = "█" * full + (" ▏▎▍▌▋▊▉"[rest] if rest else "")
    return f"{blocks:<{width}} {100 * part / whole:5.1f}%"


#: The ``show`` table. In a narrow table (``--width``, ``COLUMNS``, the terminal) the layer path shortens in the
#: middle and columns are left out in this order: RF/stride, activations, op, the share bars (params, then
#: MACs), ops; layer, output, params and MACs always stay (as a last resort with rounded numbers).
_NUM = "{:,}".format  # num() as a C-level callable, for map() over a huge table's layers


def _get(name: str) -> Callable[[Sequence[LayerResult]], Iterable[Any]]:
    get = attrgetter(name)
    return lambda layers: map(get, layers)


def _memo(fn: Callable[..., str], keys: Iterable[Any]) -> Iterable[str]:
    """``fn(*key)`` for each key, each distinct key computed once (a huge table repeats a few shapes and fields)."""
    seen: dict[Any, str] = {}
    for key in keys:
        text = seen.get(key)
        if text is None:
            text = seen[key] = fn(*key)
        yield text


COLUMNS: tuple[Column, ...] = (
    Column("layer", "left", lambda r: r.path, lambda rep: "total", fit="middle", layers=lambda ls: map(_row_path, ls)),
    Column("op", "left", lambda r: r.op, fit="label", drop=3, layers=_get("op")),
    Column(
        "output HxWxC",
        "right",
        lambda r: str(r.output),
        lambda rep: str(rep.output),
        layers=lambda ls: _memo(str, zip(_get("output")(ls))),
    ),
    Column(
        "params",
        "right",
        lambda r: num(r.totals.params),
        lambda rep: num(rep.total.params),
        fit="number",
        layers=lambda ls: map(_NUM, map(add, _get("weights")(ls), _get("biases")(ls))),
    ),
    Column(
        "MACs",
        "right",
        lambda r: num(r.totals.macs),
        lambda rep: num(rep.total.macs),
        fit="number",
        layers=lambda ls: map(_NUM, _get("macs")(ls)),
    ),
    Column(
        "activations",
        "right",
        lambda r: num(r.totals.activations),
        lambda rep: num(rep.total.activations),
        fit="number",
        drop=2,
        layers=lambda ls: _memo(lambda out, batch: _NUM(out.numel * batch), zip(_get("output")(ls), _get("batch")(ls))),
    ),
    Column(
        "RF/stride",
        "right",
        lambda r: field_cell(r.rf, r.jump),
        drop=1,
        layers=lambda ls: _memo(field_cell, zip(_get("rf")(ls), _get("jump")(ls))),
    ),
)
OPS_COLUMN = Column(
    "ops",
    "right",
    lambda r: num(r.totals.ops),
    lambda rep: num(rep.total.ops),
    fit="number",
    drop=6,
    layers=lambda ls: map(_NUM, _get("ops")(ls)),
)


def bar_columns(report: Report) -> tuple[Column, ...]:
    """Share-of-total bars for MACs and params."""
    t = report.total
    return (
        Column(
            "MACs share",
            "left",
            lambda r: bar(r.totals.macs, t.macs) if r.kind != "subtotal" else "",
            drop=5,
            layers=lambda ls: (bar(r.macs, t.macs) for r in ls),
        ),
        Column(
            "params share",
            "left",
            lambda r: bar(r.totals.params, t.params) if r.kind != "subtotal" else "",
            drop=4,
            layers=lambda ls: (bar(r.weights + r.biases, t.params) for r in ls),
        ),
    )


#: A path longer than this is kept as its two ends in a table row (the layout shortens it further to fit):
#: 100,000 rows of 30,000-character paths would otherwise need gigabytes.
ROW_PATH_CHARS = 400


def _row_path(r: LayerResult) -> str:
    ref = r.node.ref
    if isinstance(ref, str) or ref.size <= ROW_PATH_CHARS:
        return str(ref)
    half = ROW_PATH_CHARS // 2
    return f"{ref.head(half)}…{ref.tail(half)}"


def _layer_row(r: LayerResult) -> Row:
    w, b = r.weights, r.biases  # Totals.of([r]) without its loop: this runs once per layer of a huge table
    return Row(
        _row_path(r),
        r.op,
        r.output,
        Totals(w + b, w, b, r.buffers, r.macs, r.output.numel * r.batch, r.ops),
        "layer",
        r.rf,
        r.jump,
    )


def _group_row(key: str, rs: list[LayerResult], kind: str) -> Row:
    op = rs[0].op if len(rs) == 1 else f"[{len(rs)}]"
    return Row(key, op, rs[-1].output, Totals.of(rs), kind if len(rs) > 1 else "layer", rs[-1].rf, rs[-1].jump)


def report_rows(report: Report, depth: int | None = None) -> list[Row]:
    """Rows of ``show``: every layer, with subtotals of top-level blocks; or groups at ``depth``."""
    if depth is not None:
        return [_group_row(k, rs, "group") for k, rs in report.groups(depth)]
    rows: list[Row] = []
    for key, rs in report.groups(1):
        rows.extend(_layer_row(r) for r in rs)
        if sum(1 for r in rs if r.params or r.macs) > 1:  # a block worth a subtotal
            rows.append(_group_row(key, rs, "subtotal"))
    return rows


def conventions_line(report: Report) -> str:
    """What the numbers mean, printed under every table."""
    bias = "no bias (--no-bias)" if report.no_bias else "bias as written"
    t = report.total
    batch = (
        f"batch {report.batch} (MACs, FLOPs, activations x{report.batch}; params per model)"
        if report.batch > 1
        else "batch 1"
    )
    return (
        f"{bias}; params = weights {num(t.weights)} + biases {num(t.biases)} (incl. BN gamma/beta); "
        f"buffers (BN running stats, fixed values) {num(t.buffers)}, not params; "
        f"MACs = multiply-accumulates of {_counted(report)}; "
        f"FLOPs = 2 x MACs = {num(t.flops)}; activations = output elements; {batch}; "
        f"rounding: {report.rounding}"
    )


def _counted(*reports: Report) -> str:
    """The ops of these networks that multiply-accumulate, as the registry says (``conv and fc``)."""
    from ..layers import LAYER_TYPES

    seen: dict[str, None] = {}
    for report in reports:
        for r in report.layers:
            if r.op not in seen and LAYER_TYPES[r.op].macs_doc != "0":
                seen[r.op] = None
    ops = list(seen)
    if not ops:
        return "no layer here (0)"
    return ops[0] if len(ops) == 1 else f"{', '.join(ops[:-1])} and {ops[-1]}"


def _title(report: Report) -> str:
    return f"{report.title}: input {report.input} -> output {report.output}"


#: A ``show`` table longer than this suggests ``--depth``.
MANY_ROWS = 5_000


def show_columns(
    report: Report, ops: bool = False, bars: bool = False, train: Training | None = None
) -> tuple[Column, ...]:
    """The columns of ``show``: :data:`COLUMNS`, then ``ops`` and the share bars when asked for; with ``train``
    (``--train``) the backward MACs and whether a layer trains, after the MACs."""
    cols = COLUMNS + ((OPS_COLUMN,) if ops else ()) + (bar_columns(report) if bars else ())
    if train is None:
        return cols
    at = next(i for i, c in enumerate(cols) if c.header == "MACs") + 1
    return cols[:at] + training_columns(train) + cols[at:]


@without_gc  # a row's cells are acyclic; the collector would walk the whole report again and again
def show_cells(
    report: Report, cols: Sequence[Column], depth: int | None = None
) -> list[tuple[Sequence[str], str | None]]:
    """The cells of every row of ``show`` in ``cols``, each with its style (subtotals dim, marked ``(sum)``).

    Single layers' cells are made column by column over all layers at once (``Column.layers``): a
    100,000-layer table in a fraction of a second.
    """
    cells_of = [col.cell for col in cols]

    def group(row: Row) -> tuple[Sequence[str], str | None]:
        cells = [cell(row) for cell in cells_of]
        if row.kind != "subtotal":
            return cells, None
        cells[0] = f"{row.path} (sum)"
        return cells, "dim"

    vectors = [col.layers for col in cols]
    if depth is not None or any(v is None for v in vectors):
        return [group(row) for row in report_rows(report, depth)]
    leaves = list(zip(*(v(report.layers) for v in vectors if v is not None)))
    rows: list[tuple[Sequence[str], str | None]] = []
    start = 0
    for key, rs in report.groups(1):  # the same rows as report_rows(report): layers, then a block's subtotal
        rows.extend((cells, None) for cells in leaves[start : start + len(rs)])
        start += len(rs)
        if sum(1 for r in rs if r.params or r.macs) > 1:
            rows.append(group(_group_row(key, rs, "subtotal")))
    return rows


@without_gc
def report_table(
    report: Report, depth: int | None = None, ops: bool = False, bars: bool = False, train: Training | None = None
) -> Doc:
    """The ``show`` table with totals footer and the conventions line; ``ops``, ``bars`` and ``train`` add
    columns (``train``: and the training step's totals under the table)."""
    cols = show_columns(report, ops, bars, train)
    rows = show_cells(report, cols, depth)
    table = grid(
        [c.header for c in cols],
        [c.justify for c in cols],
        rows,
        [c.footer(report) for c in cols],
        [c.fit for c in cols],
        [c.drop for c in cols],
    )
    notes = [Para(conventions_line(report), "dim")]
    if ops:
        notes.append(Para(OPS_NOTE, "dim"))
    if report.rf_note:
        notes.append(Para(f"RF/stride = receptive field / effective stride in input pixels; {report.rf_note}", "dim"))
    if depth is None and len(rows) > MANY_ROWS:
        notes.append(Para(f"{len(rows):,} rows: --depth 1 or --depth 2 shows one row per block", "dim"))
    if train is not None:
        notes = [*training_notes(train), *notes]
    return [Para(_title(report), "bold"), table, *notes]


OPS_NOTE = (
    "ops = element-wise operations, apart from MACs: pooling comparisons/adds, BN (2 per element), activations "
    "(1 per element), joins, LRN, bias adds; per op in docs/ops.md"
)


def memory_rows(mem: Memory, train: TrainingMemory | None = None) -> list[tuple[str, int]]:
    """The memory estimate's rows: (what, bytes); with ``train`` (``--train``) its training rows are that
    step's: the activations a gradient needs, gradients and optimizer state of the trained params only."""
    if train is not None:
        return [
            *memory_rows(mem)[:5],
            ("training: activations a gradient needs (kept for backward)", train.activations),
            ("training: gradients of the trained params", train.gradients),
            (f"training: optimizer state ({train.optimizer}) of the trained params", train.optimizer_state),
            ("training total: activations + weights + gradients + state + buffers", train.total),
        ]
    return [
        ("parameters", mem.params),
        ("buffers (BN statistics, fixed values)", mem.buffers),
        ("activations, every output kept (no reuse)", mem.activations),
        (f"activations, peak under liveness (at {mem.peak_at})", mem.peak),
        ("inference: parameters + buffers + peak activations", mem.inference),
        ("training: activations kept for backward", mem.train_activations),
        ("training: gradients", mem.gradients),
        (f"training: optimizer state ({mem.optimizer})", mem.optimizer_state),
        ("training total: activations + weights + gradients + state + buffers", mem.training),
    ]


def memory_table(mem: Memory, batch: int = 1, train: TrainingMemory | None = None) -> Doc:
    """Memory estimates as a small table, with what the model assumes (``train``: the training rows are
    those of the ``--train`` step)."""
    table = grid(
        ("memory", "bytes", ""),
        ("left", "right", "right"),
        [((k, num(v), size(v)), None) for k, v in memory_rows(mem, train)],
        fit=("wrap", "", ""),
    )
    return [
        Para(f"memory ({mem.dtype}, {mem.bytes_per_value} bytes per value, batch {batch})", "bold"),
        table,
        Para(
            "liveness: a tensor lives from its producer to its last reader; branch outputs awaiting "
            "a join coexist; nothing in place; no workspace or framework overhead",
            "dim",
        ),
    ]


def seconds(t: float) -> str:
    """``1.23 ms`` (display only)."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t / 1e-9:.3g} ns"


def roofline_rows(roof: Roofline, depth: int | None = None) -> list[tuple[str, int, int, float, str]]:
    """Per layer (or per block at ``depth``): path, FLOPs, bytes moved, seconds, and the bound of most of the time."""
    groups: dict[str, list[Any]] = {}
    for r in roof.layers:
        key = ".".join(r.path.split(".")[:depth]) if depth else r.path
        groups.setdefault(key, []).append(r)
    rows = []
    for key, rs in groups.items():
        t = sum(r.time for r in rs)
        compute = sum(r.time for r in rs if r.bound == "compute")
        bound = "compute" if compute > t / 2 else "memory"
        rows.append((key, sum(r.flops for r in rs), sum(r.bytes for r in rs), t, bound))
    return rows


def roofline_table(roof: Roofline, depth: int | None = None) -> Doc:
    """Per-layer (or per-block at ``depth``) roofline estimate with its bound, and the total, labelled."""
    from ..devices import ASSUMPTIONS

    rows = [((k, num(f), num(b), seconds(t), bound), None) for k, f, b, t, bound in roofline_rows(roof, depth)]
    table = grid(
        ("layer", "FLOPs", "bytes moved", "time", "bound"),
        ("left", "right", "right", "right", "left"),
        rows,
        ("total", num(roof.flops), num(roof.bytes), seconds(roof.time), ""),
        fit=("middle", "number", "number", "", ""),
        drop=(0, 1, 2, 0, 3),
    )
    head = (
        f"latency ESTIMATE on {roof.device.name} ({roof.dtype}, batch {roof.batch}): {seconds(roof.time)}, "
        f"{roof.throughput:,.0f} samples/s; {100 * roof.compute_share:.0f}% of the time compute-bound"
    )
    return [Para(head, "bold"), table, Para(ASSUMPTIONS + f"; device figures: {roof.device.source}", "dim")]


def devices_table(devs: Sequence[Device]) -> Doc:
    """``cnncalc devices``."""
    dtypes = sorted({d for dev in devs for d in dev.peak_flops}, key=["fp32", "tf32", "fp16", "bf16", "int8"].index)
    rows = [
        (
            (
                dev.key,
                *(short(dev.peak_flops[d]) if d in dev.peak_flops else "-" for d in dtypes),
                f"{short(dev.bandwidth)}B/s",
            ),
            None,
        )
        for dev in devs
    ]
    leave_out = ["int8", "tf32", "bf16", "fp16"]  # the order dtype columns are left out of a narrow table
    table = grid(
        ("device", *(f"{d} /s" for d in dtypes), "bandwidth"),
        ("left", *["right"] * (len(dtypes) + 1)),
        rows,
        drop=(0, *(leave_out.index(d) + 1 if d in leave_out else 0 for d in dtypes), 0),
    )
    sources = [Para(f"{dev.key}: {dev.source}", "dim", hang=2) for dev in devs]
    return [Para("device profiles (peak, dense; theoretical)", "bold"), table, *sources]


def size(b: int) -> str:
    """``97.5 MiB`` (display only)."""
    x = float(b)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if x < 1024 or unit == "GiB":
            return f"{x:.1f} {unit}" if unit != "B" else f"{b} B"
        x /= 1024
    return f"{x:.1f} TiB"  # pragma: no cover


def explain_text(report: Report, layers: list[LayerResult], train: Training | None = None) -> Doc:
    """The formulas of ``layers`` with their numbers substituted (``cnncalc explain``); long lines wrap; with
    ``train`` (``--train``) each layer's backward MACs too."""
    from ..layers import explain

    doc: Doc = []
    for r in layers:
        line = f" (line {r.loc.line})" if r.loc.line else ""
        doc.append(Para(f"{r.path}  [{r.op}]{line}", "bold", hang=2))
        statements = list(explain(r.op, r.attrs, list(r.inputs), r.output, r.info))
        if r.rf is None:
            statements.append("receptive field unknown (an opaque layer comes before it)")
        else:
            statements.append(f"receptive field {axes(r.rf)}, effective stride {axes(r.jump)}")
        if r.ops:
            statements.append(f"element-wise ops (--ops): {num(r.ops)}")
        if train is not None:
            statements += training_explain(train, r.node.position)
        if r.batch > 1:
            statements.append(f"(MACs and ops above are per sample; x{r.batch} for the batch)")
        doc.extend(Para(s, indent=2, hang=6) for s in statements)
    return doc


# --------------------------------------------------------------------------- data formats


# --------------------------------------------------------------------------- comparison

_COMPARE_ROWS: tuple[tuple[str, str], ...] = (
    ("params", "params"),
    ("MACs", "macs"),
    ("FLOPs", "flops"),
    ("activations", "activations"),
    ("buffers", "buffers"),
)


def comparison_table(comp: Comparison, depth: int | None = None, bars: bool = False) -> Doc:
    """One row per architecture: totals with ratios to the first; per-block rows at ``depth`` if asked.

    With ``bars``, each architecture's MACs and params as a bar against the largest of the compared ones, and
    each block's share of its architecture's MACs in the per-block table. A narrow table leaves out buffers,
    FLOPs, activations, input, then the bars; the per-block table the shares, then the params.
    """
    headers: tuple[str, ...] = (
        "",
        "input",
        "output",
        "params",
        "x",
        "MACs",
        "x",
        "FLOPs",
        "activations",
        "x",
        "buffers",
    )
    most_macs = max((r.total.macs for r in comp.reports), default=0)
    most_params = max((r.total.params for r in comp.reports), default=0)
    if bars:
        headers += ("MACs (vs largest)", "params (vs largest)")
    rows = []
    for i, rep in enumerate(comp.reports):
        t = rep.total
        cells = [
            comp.label(i),
            str(rep.input),
            str(rep.output),
            num(t.params),
            ratio(comp.ratio(i, "params")),
            num(t.macs),
            ratio(comp.ratio(i, "macs")),
            num(t.flops),
            num(t.activations),
            ratio(comp.ratio(i, "activations")),
            num(t.buffers),
        ]
        if bars:
            cells += [bar(t.macs, most_macs), bar(t.params, most_params)]
        rows.append((cells, None))
    justify = ["left"] + ["right"] * 10 + ["left"] * (2 if bars else 0)
    number = "number"
    fit = ["middle", "", "", number, "", number, "", number, number, "", number] + [""] * (2 if bars else 0)
    drop = [0, 5, 0, 0, 0, 0, 0, 2, 4, 3, 1] + ([7, 6] if bars else [])
    parts: Doc = [
        Para("comparison (x: ratio to the first)", "bold"),
        grid(headers, justify, rows, fit=fit, drop=drop),
    ]
    if depth is not None:
        body: list[tuple[Sequence[str], str | None]] = []
        for key, totals in comp.rows(depth):
            row: list[str] = [key]
            for rep, tot in zip(comp.reports, totals):
                row += ["-", "-"] if tot is None else [num(tot.macs), num(tot.params)]
                if bars:
                    row.append("" if tot is None else bar(tot.macs, rep.total.macs))
            body.append((row, None))
        per = ("MACs", "params", "share of MACs") if bars else ("MACs", "params")
        heads = ["block"] + [
            f"{comp.label(i)} {h}" if h == "MACs" else h for i in range(len(comp.reports)) for h in per
        ]
        justify_b = ["left"] + [("left" if h == "share of MACs" else "right") for _ in comp.reports for h in per]
        fit_b = ["middle"] + [("" if h == "share of MACs" else number) for _ in comp.reports for h in per]
        drop_b = [0] + [{"MACs": 0, "params": 2, "share of MACs": 1}[h] for _ in comp.reports for h in per]
        parts += [
            Para(""),
            Para(f"per block (path depth {depth})", "bold"),
            grid(heads, justify_b, body, fit=fit_b, drop=drop_b),
        ]
    parts.append(
        Para(
            f"MACs = multiply-accumulates of {_counted(*comp.reports)}; FLOPs = 2 x MACs; params include biases"
            " and BN gamma/beta; per sample",
            "dim",
        )
    )
    return parts


def library_table(rows: Sequence[tuple[str, str, Report]]) -> Doc:
    """``cnncalc list``: one table per family (a spec file), each member with its title, input, output, params and
    MACs; the family's source under it, whole where the terminal is wide, shortened with an ellipsis otherwise."""
    parts: Doc = [Para("bundled specs by family (cnncalc show NAME)", "bold")]
    families: dict[str, list[tuple[str, Report]]] = {}
    for name, file, r in rows:
        families.setdefault(file, []).append((name, r))
    for file, members in families.items():
        body = [
            ((name, r.title, str(r.input), str(r.output), num(r.total.params), num(r.total.macs)), None)
            for name, r in members
        ]
        parts += [
            Para(""),
            Para(file, "bold"),
            grid(
                ("name", "title", "input", "output", "params", "MACs"),
                ("left", "left", "right", "right", "right", "right"),
                body,
                fit=("", "end", "", "", "number", "number"),
                drop=(0, 1, 2, 0, 0, 0),
            ),
            Para("source: " + " ".join(members[0][1].source.split()), "dim"),
        ]
    return parts


# --------------------------------------------------------------------------- training (--train)


def _trains_cell(trained: int, frozen: int) -> str:
    """``yes`` (every weighted layer trains), ``frozen``, ``partly``, or "" (no params)."""
    if trained and frozen:
        return "partly"
    return "yes" if trained else "frozen" if frozen else ""


def training_columns(train: Training) -> tuple[Column, ...]:
    """``--train``'s columns: the input-gradient and weight-gradient MACs, and whether the row trains."""
    layers = train.layers
    index = {r.path: i for i, r in enumerate(train.report.layers)}
    sums: dict[str, list[int]] = {}  # per block path: input grads, weight grads, trained and frozen layers

    def block(path: str) -> list[int]:
        if not sums:
            for r, t in zip(train.report.layers, layers):
                parts = r.path.split(".")
                for k in range(1, len(parts)):
                    s = sums.setdefault(".".join(parts[:k]), [0, 0, 0, 0])
                    s[0] += t.grad_input
                    s[1] += t.grad_weight
                    s[2] += t.trains
                    s[3] += t.frozen
        return sums.get(path, [0, 0, 0, 0])

    def value(row: Row, k: int) -> int:
        i = index.get(row.path) if row.kind == "layer" else None
        if i is not None:
            t = layers[i]
            return (t.grad_input, t.grad_weight, int(t.trains), int(t.frozen))[k]
        return block(row.path)[k]

    def of(ls: Sequence[LayerResult], k: int) -> Iterable[int]:
        return (layers[r.node.position][k] for r in ls)

    return (
        Column(
            "grad-input MACs",
            "right",
            lambda r: num(value(r, 0)),
            lambda rep: num(train.grad_input),
            fit="number",
            drop=8,
            layers=lambda ls: map(_NUM, of(ls, 4)),
        ),
        Column(
            "grad-weight MACs",
            "right",
            lambda r: num(value(r, 1)),
            lambda rep: num(train.grad_weight),
            fit="number",
            drop=9,
            layers=lambda ls: map(_NUM, of(ls, 5)),
        ),
        Column(
            "trains",
            "left",
            lambda r: _trains_cell(value(r, 2), value(r, 3)),
            drop=7,
            layers=lambda ls: (_trains_cell(t.trains, t.frozen) for t in (layers[r.node.position] for r in ls)),
        ),
    )


def training_lines(train: Training) -> list[str]:
    """The training step in words: forward, backward and step MACs (per batch and per sample), the params
    that train, and the conventions."""
    from ..analysis.training import training_conventions

    f, b, s = train.forward, train.backward, train.step
    one = train.per_sample
    if train.batch > 1:
        macs = (
            f"forward {num(f)} + backward {num(b)} = {num(s)} MACs for a batch of {train.batch} "
            f"(per sample {num(one(f))} + {num(one(b))} = {num(one(s))})"
        )
    else:
        macs = f"forward {num(f)} + backward {num(b)} = {num(s)} MACs per sample"
    total = train.trainable_params + train.frozen_params
    share = f" ({100 * train.trainable_params / total:.1f}%)" if total else ""
    head = ""
    if train.head is not None:
        r = train.report.layers[train.head]
        head = f"; `{r.path}` is a new head of {num(r.output.c)} outputs"
    return [
        f"training step ({train.how}): {macs}",
        f"backward = input gradients {num(train.grad_input)} + weight gradients {num(train.grad_weight)}; "
        f"params: {num(train.trainable_params)} train{share}, {num(train.frozen_params)} frozen{head}",
        training_conventions(),
    ]


def training_notes(train: Training) -> list[Para]:
    """:func:`training_lines` as paragraphs under the ``show`` table."""
    step, params, conventions = training_lines(train)
    return [Para(step, "bold"), Para(params), Para(conventions, "dim")]


def _grad_text(what: str, doc: str, value: int) -> str:
    """``input gradient = MACs = 294,912 (a transposed convolution ...)`` from the registry's formula."""
    head, sep, inner = doc.partition(" (")
    if not sep or not inner.endswith(")"):
        head, inner = doc, ""
    if head == "0":
        return f"{what} 0 MACs (element-wise work)"
    return f"{what} {head} = {num(value)}" + (f" ({inner[:-1]})" if inner else "")


def training_explain(train: Training, i: int) -> list[str]:
    """What layer ``i`` costs in the backward pass (per sample), and why a gradient is not computed."""
    from ..layers import LAYER_TYPES

    r, t = train.report.layers[i], train.layers[i]
    if not t.backward:
        why = "frozen, and no layer before it trains" if t.frozen else "no layer before it trains"
        return [f"backward (--train): none ({why}: the backward pass stops after it)"]
    lt = LAYER_TYPES[r.op]
    one = train.per_sample
    if t.input_grad:
        gi = _grad_text("input gradient", lt.grad_input_doc, one(t.grad_input))
    elif all(s < 0 for s in r.sources):
        gi = "no input gradient (its input is the network input)"
    else:
        gi = "no input gradient (no layer before it trains)"
    if t.trains:
        gw = _grad_text("weight gradient", lt.grad_weight_doc, one(t.grad_weight))
    else:
        gw = "no weight gradient (frozen)" if t.frozen else "no weights"
    return [f"backward (--train): {gi}; {gw}"]


def training_comparison_table(trains: Sequence[Training], labels: Sequence[str]) -> Doc:
    """``compare --train``: per architecture the params that train and the MACs of one training step."""
    first = trains[0].step if trains else 0
    rows = [
        (
            (
                label,
                num(t.trainable_params),
                num(t.frozen_params),
                num(t.forward),
                num(t.backward),
                num(t.step),
                ratio(Fraction(t.step, first) if first else None),
            ),
            None,
        )
        for label, t in zip(labels, trains)
    ]
    table = grid(
        ("", "params trained", "frozen", "forward MACs", "backward MACs", "step MACs", "x"),
        ("left", "right", "right", "right", "right", "right", "right"),
        rows,
        fit=("middle", "number", "number", "number", "number", "number", ""),
        drop=(0, 0, 2, 3, 1, 0, 0),
    )
    batch = trains[0].batch if trains else 1
    return [
        Para(""),
        Para(f"training step (--train; batch {batch}; x: ratio to the first)", "bold"),
        table,
        *(Para(f"{label}: {t.how}", "dim") for label, t in zip(labels, trains)),
    ]
