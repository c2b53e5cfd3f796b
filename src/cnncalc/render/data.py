"""Data formats: reports, comparisons and latency estimates as JSON-ready dicts, CSV and Markdown.

The JSON objects are a stable contract, versioned by :data:`JSON_FORMAT`; CSV and Markdown carry the columns the
terminal table shows (:mod:`cnncalc.render.text`). Every number arrives as an exact int and leaves as one.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from ..analysis import Comparison, LayerResult, Memory, Report, Totals
from ..layers import CONVENTIONS
from ..shapes import Shape
from .text import (
    _COMPARE_ROWS,
    OPS_NOTE,
    _group_row,
    _layer_row,
    _title,
    axes,
    axes_json,
    conventions_line,
    memory_rows,
    num,
    ratio,
    roofline_rows,
    seconds,
    show_cells,
    show_columns,
    size,
    training_lines,
)

if TYPE_CHECKING:
    from ..analysis.training import Training, TrainingMemory
    from ..devices import Roofline


def roofline_dict(roof: Roofline) -> dict[str, Any]:
    """The latency estimate as JSON (FLOPs and bytes exact; seconds are estimates)."""
    return {
        "device": roof.device.key,
        "device_name": roof.device.name,
        "dtype": roof.dtype,
        "batch": roof.batch,
        "estimate": True,
        "flops": roof.flops,
        "bytes": roof.bytes,
        "seconds": roof.time,
        "compute_bound_share": roof.compute_share,
        "source": roof.device.source,
        "layers": [
            {"path": r.path, "flops": r.flops, "bytes": r.bytes, "seconds": r.time, "bound": r.bound}
            for r in roof.layers
        ],
    }


def _shape(s: Shape) -> list[int]:
    return s.as_list()


def _jsonable(v: Any) -> Any:
    if isinstance(v, bool) or isinstance(v, (int, str)) or v is None:
        return v
    if isinstance(v, Fraction):
        return float(v) if v.denominator != 1 else int(v)
    if isinstance(v, Shape):
        return v.as_list()
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if hasattr(v, "a") and hasattr(v, "b"):
        return [v.a, v.b]
    return str(v)


def totals_dict(t: Totals) -> dict[str, int]:
    """Totals as JSON."""
    return {
        "params": t.params,
        "weights": t.weights,
        "biases": t.biases,
        "buffers": t.buffers,
        "macs": t.macs,
        "flops": t.flops,
        "activations": t.activations,
        "ops": t.ops,
    }


def memory_dict(mem: Memory) -> dict[str, Any]:
    """Memory estimates as JSON (bytes)."""
    return {
        "dtype": mem.dtype,
        "bytes_per_value": mem.bytes_per_value,
        "params": mem.params,
        "buffers": mem.buffers,
        "activations": mem.activations,
        "peak_activations": mem.peak,
        "peak_at": mem.peak_at,
        "inference": mem.inference,
        "train_activations": mem.train_activations,
        "gradients": mem.gradients,
        "optimizer": mem.optimizer,
        "optimizer_state": mem.optimizer_state,
        "training": mem.training,
    }


def layer_dict(r: LayerResult) -> dict[str, Any]:
    """One layer as JSON."""
    return {
        "path": r.path,
        "op": r.op,
        "inputs": [_shape(s) for s in r.inputs],
        "output": _shape(r.output),
        "params": r.params,
        "weights": r.weights,
        "biases": r.biases,
        "buffers": r.buffers,
        "macs": r.macs,
        "flops": r.flops,
        "activations": r.activations,
        "ops": r.ops,
        "receptive_field": axes_json(r.rf),
        "effective_stride": axes_json(r.jump),
        "attrs": {k: _jsonable(v) for k, v in r.attrs.items()},
        "line": r.loc.line,
        **({"side": True} if r.side else {}),
    }


def dumps(data: dict[str, Any]) -> str:
    """JSON text: indented, but one line per layer or block (a 100,000-layer report stays fast and greppable)."""
    key = "layers" if "layers" in data else "blocks"
    rows = data.get(key)
    if isinstance(rows, list) and rows:
        head = {k: v for k, v in data.items() if k != key}
        body = ",\n".join("  " + json.dumps(row, separators=(",", ":")) for row in rows)
        text = json.dumps(head, indent=1)
        return text[:-2] + f',\n "{key}": [\n' + body + "\n ]\n}"
    return json.dumps(data, indent=1)


#: The version of the JSON of ``show`` and ``compare`` (its ``format`` field). It goes up when a field changes
#: meaning or goes away; new fields may appear without it. 1: ``--depth`` gives ``blocks`` instead of ``layers``;
#: ``file`` is a bundled spec's name in the library, any other file as given.
JSON_FORMAT = 1


def spec_file_name(file: str) -> str:
    """A bundled spec as its file name in the library (``resnet50.yaml``), any other file as given."""
    from pathlib import Path

    from ..library import library_dir

    try:
        return Path(file).resolve().relative_to(library_dir().resolve()).as_posix()
    except (ValueError, OSError):
        return file


def block_dict(path: str, layers: Sequence[LayerResult]) -> dict[str, Any]:
    """A block at ``--depth`` as JSON: its path, layer count, last output and totals."""
    last = layers[-1]
    return {
        "path": path,
        "layers": len(layers),
        "op": last.op if len(layers) == 1 else None,
        "output": _shape(last.output),
        **totals_dict(Totals.of(layers)),
        "flops": 2 * sum(r.macs for r in layers),
        "receptive_field": axes_json(last.rf),
        "effective_stride": axes_json(last.jump),
    }


def training_dict(train: Training, mem: TrainingMemory | None = None) -> dict[str, Any]:
    """A training step (``--train``) as JSON: MACs over the batch and per sample, the params that train."""
    one = train.per_sample
    data: dict[str, Any] = {
        "how": train.how,
        "batch": train.batch,
        "trainable_params": train.trainable_params,
        "frozen_params": train.frozen_params,
        "first_trained": train.first_trained,
        "head": None if train.head is None else train.report.layers[train.head].path,
        "forward_macs": train.forward,
        "grad_input_macs": train.grad_input,
        "grad_weight_macs": train.grad_weight,
        "backward_macs": train.backward,
        "step_macs": train.step,
        "per_sample": {
            "forward_macs": one(train.forward),
            "backward_macs": one(train.backward),
            "step_macs": one(train.step),
        },
        "conventions": training_lines(train)[-1],
    }
    if mem is not None:
        data["memory"] = {
            "dtype": mem.dtype,
            "bytes_per_value": mem.bytes_per_value,
            "optimizer": mem.optimizer,
            "activations": mem.activations,
            "params": mem.params,
            "gradients": mem.gradients,
            "optimizer_state": mem.optimizer_state,
            "buffers": mem.buffers,
            "total": mem.total,
        }
    return data


def _train_fields(train: Training, indices: Sequence[int]) -> dict[str, Any]:
    ts = [train.layers[i] for i in indices]
    if len(ts) == 1:
        t = ts[0]
        trains: bool | None = t.trains if t.trains or t.frozen else None
    else:
        trained, frozen = sum(t.trains for t in ts), sum(t.frozen for t in ts)
        trains = None if trained and frozen else bool(trained) if trained or frozen else None
    return {
        "grad_input_macs": sum(t.grad_input for t in ts),
        "grad_weight_macs": sum(t.grad_weight for t in ts),
        "trains": trains,
    }


def report_dict(
    report: Report,
    mem: Memory | None = None,
    depth: int | None = None,
    train: Training | None = None,
    train_mem: TrainingMemory | None = None,
) -> dict[str, Any]:
    """The stable JSON contract of ``show --format json`` (versioned by :data:`JSON_FORMAT`).

    Every layer under ``layers``; with ``depth``, one row per block under ``blocks`` instead. With ``train``
    (``--train``) every row has ``grad_input_macs``, ``grad_weight_macs`` and ``trains`` (true, false when
    frozen, null without params or for a block partly frozen) and a ``training`` object the step's totals.
    """
    from ..analysis import memory

    rows: dict[str, Any] = (
        {"layers": [layer_dict(r) for r in report.layers]}
        if depth is None
        else {"depth": depth, "blocks": [block_dict(k, rs) for k, rs in report.groups(depth)]}
    )
    if train is not None:
        if depth is None:
            for i, row in enumerate(rows["layers"]):
                row.update(_train_fields(train, [i]))
        else:
            for (_, rs), row in zip(report.groups(depth), rows["blocks"]):
                row.update(_train_fields(train, [r.node.position for r in rs]))
    return {
        "format": JSON_FORMAT,
        "name": report.name,
        "file": spec_file_name(report.file),
        "variant": report.variant,
        "settings": dict(report.params),
        "input": _shape(report.input),
        "output": _shape(report.output),
        **rows,
        "total": totals_dict(report.total),
        "conventions": CONVENTIONS,
        "no_bias": report.no_bias,
        "batch": report.batch,
        "memory": memory_dict(mem or memory(report)),
        "receptive_field_note": report.rf_note,
        "warnings": [w.headline() for w in report.warnings],
        "source": report.source,
        **({"training": training_dict(train, train_mem)} if train is not None else {}),
    }


CSV_FIELDS = ("path", "op", "output", "params", "weights", "biases", "buffers", "macs", "flops", "activations")


#: After :data:`CSV_FIELDS`: the table's RF/stride column as two fields, ``ops`` with ``--ops``, and ``kind``
#: (``layer``, ``block`` at ``--depth``, ``total`` for the last row).
CSV_MORE = ("receptive_field", "effective_stride")


def report_csv(report: Report, depth: int | None = None, ops: bool = False) -> str:
    """Rows as CSV (leaf layers, or blocks at ``depth``), with a final row of kind ``total``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow((*CSV_FIELDS, *CSV_MORE, *(("ops",) if ops else ()), "kind"))
    rows = (
        [_group_row(k, rs, "group") for k, rs in report.groups(depth)]
        if depth
        else [_layer_row(r) for r in report.layers]
    )
    kind = "block" if depth else "layer"
    for row in rows:
        t = row.totals
        w.writerow(
            (
                row.path,
                row.op,
                str(row.output),
                t.params,
                t.weights,
                t.biases,
                t.buffers,
                t.macs,
                t.flops,
                t.activations,
                axes(row.rf),
                axes(row.jump),
                *((t.ops,) if ops else ()),
                kind,
            )
        )
    t = report.total
    w.writerow(
        (
            "total",
            "",
            str(report.output),
            t.params,
            t.weights,
            t.biases,
            t.buffers,
            t.macs,
            t.flops,
            t.activations,
            "",
            "",
            *((t.ops,) if ops else ()),
            "total",
        )
    )
    return buf.getvalue()


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def _md_table(headers: Sequence[str], justify: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md_escape(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" if j == "left" else "---:" for j in justify) + "|")
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return lines


def report_markdown(
    report: Report,
    depth: int | None = None,
    ops: bool = False,
    bars: bool = False,
    mem: Memory | None = None,
    roof: Roofline | None = None,
    train: Training | None = None,
    train_mem: TrainingMemory | None = None,
) -> str:
    """GitHub-flavoured Markdown: the ``show`` table (the same columns, ``ops``, ``bars`` and ``train`` too)
    with its totals row and notes; the memory estimate and the latency estimate as tables of their own when
    given."""
    cols = show_columns(report, ops, bars, train)
    lines = [f"**{_md_escape(_title(report))}**", ""]
    body = []
    for cells, style in show_cells(report, cols, depth):
        cells = [_md_escape(c) for c in cells]
        if style == "dim":  # a subtotal
            cells[0] = f"*{cells[0]}*"
        body.append(cells)
    body.append([f"**{_md_escape(c.footer(report))}**" if c.footer(report) else "" for c in cols])
    lines += _md_table([c.header for c in cols], [c.justify for c in cols], body)
    notes = (training_lines(train) if train is not None else []) + [conventions_line(report)]
    notes += [OPS_NOTE] if ops else []
    if report.rf_note:
        notes.append(f"RF/stride = receptive field / effective stride in input pixels; {report.rf_note}")
    lines += [""] + [f"_{_md_escape(n)}_  " for n in notes]
    if mem is not None:
        lines += ["", f"**memory ({mem.dtype}, {mem.bytes_per_value} bytes per value, batch {report.batch})**", ""]
        rows = [[_md_escape(k), num(v), size(v)] for k, v in memory_rows(mem, train_mem)]
        lines += _md_table(("memory", "bytes", ""), ("left", "right", "right"), rows)
    if roof is not None:
        lines += ["", f"**latency ESTIMATE on {_md_escape(roof.device.name)} ({roof.dtype}, batch {roof.batch}): "]
        lines[-1] += f"{seconds(roof.time)}, {roof.throughput:,.0f} samples/s**"
        lines.append("")
        rows = [[_md_escape(k), num(f), num(b), seconds(t), bound] for k, f, b, t, bound in roofline_rows(roof, depth)]
        rows.append(["**total**", f"**{num(roof.flops)}**", f"**{num(roof.bytes)}**", f"**{seconds(roof.time)}**", ""])
        lines += _md_table(
            ("layer", "FLOPs", "bytes moved", "time", "bound"), ("left", "right", "right", "right", "left"), rows
        )
    lines.append("")
    return "\n".join(lines)


def comparison_dict(comp: Comparison, trains: Sequence[Training] | None = None) -> dict[str, Any]:
    """``compare --format json``: the show objects plus ratios to the first (``trains``: with --train's)."""
    return {
        "format": JSON_FORMAT,
        "architectures": [report_dict(r, train=trains[i] if trains else None) for i, r in enumerate(comp.reports)],
        "labels": [comp.label(i) for i in range(len(comp.reports))],
        "ratios": [
            {key: (None if (x := comp.ratio(i, key)) is None else float(x)) for _, key in _COMPARE_ROWS}
            for i in range(len(comp.reports))
        ],
    }


def comparison_csv(comp: Comparison) -> str:
    """One CSV row of totals per architecture."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("label", "name", "variant", "input", "output", "params", "macs", "flops", "activations", "buffers"))
    for i, r in enumerate(comp.reports):
        t = r.total
        w.writerow(
            (
                comp.label(i),
                r.name,
                r.variant or "",
                str(r.input),
                str(r.output),
                t.params,
                t.macs,
                t.flops,
                t.activations,
                t.buffers,
            )
        )
    return buf.getvalue()


def comparison_markdown(comp: Comparison) -> str:
    """Totals side by side as a Markdown table."""
    reps = comp.reports
    head = ["", *[_md_escape(comp.label(i)) for i in range(len(reps))]]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * len(reps)]
    for label, key in _COMPARE_ROWS:
        cells = [num(r.total.get(key)) + (f" ({ratio(comp.ratio(i, key))})" if i else "") for i, r in enumerate(reps)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| output | " + " | ".join(str(r.output) for r in reps) + " |")
    return "\n".join(lines) + "\n"
