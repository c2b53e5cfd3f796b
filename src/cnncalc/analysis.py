"""Counting and checking: :class:`Graph` -> :class:`Report`; comparisons; expectations.

Every figure is an exact ``int`` computed by the layer registry's formulas and
summed here; nothing is rounded or formatted in this module (see
:mod:`cnncalc.render`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

from . import fields as F  # noqa: N812
from . import layers as L  # noqa: N812 - the registry, used on nearly every line
from .errors import CnncalcError, Diagnostic, ExpectationError, ExprError, Location, UnknownNameError
from .fields import Field
from .graph import Graph, LayerPath, Work, build_graph
from .perf import without_gc
from .shapes import Shape
from .spec import ArchitectureSpec, Expectations, ExpectValue, ShapeAssert, did_you_mean, load_spec

TOTAL_KEYS = ("params", "weights", "biases", "buffers", "macs", "flops", "activations")


class _LayerFields(NamedTuple):
    path: str | LayerPath  # LayerResult.path gives it as text
    op: str
    inputs: tuple[Shape, ...]
    output: Shape
    weights: int
    biases: int
    buffers: int
    macs: int
    attrs: Mapping[str, Any]
    info: Mapping[str, Any]
    loc: Location
    side: bool = False
    sources: tuple[int, ...] = ()  # indices in Report.layers of the layers this one reads (-1: the input)
    ops: int = 0  # element-wise operations (pooling, BN, activations, joins, bias adds): apart from MACs
    rf: tuple[int, int] | None = (1, 1)  # receptive field (rows, columns) in input pixels; None: unknown
    jump: tuple[int | Fraction, int | Fraction] | None = (1, 1)  # effective stride (rows, columns); None: unknown
    batch: int = 1  # macs and ops already include it; activations multiply by it


class LayerResult(_LayerFields):
    """One layer's figures: output shape, parameters, buffers, MACs, activations.

    The path is stored as the graph's shared :class:`~cnncalc.graph.LayerPath` (memory grows with the layers,
    not with layers x path length); ``path`` makes its text.
    """

    __slots__ = ()

    @property
    def path(self) -> str:
        """The layer's path, e.g. ``stage2.block#3.conv``."""
        return str(super().path)

    @property
    def params(self) -> int:
        """Trainable parameters: weights + biases."""
        return self.weights + self.biases

    @property
    def flops(self) -> int:
        """2 x MACs."""
        return 2 * self.macs

    @property
    def activations(self) -> int:
        """Elements of the output (times the batch)."""
        return self.output.numel * self.batch


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums over layers (all exact ints)."""

    params: int = 0
    weights: int = 0
    biases: int = 0
    buffers: int = 0
    macs: int = 0
    activations: int = 0
    ops: int = 0

    @property
    def flops(self) -> int:
        """2 x MACs."""
        return 2 * self.macs

    def get(self, key: str) -> int:
        """A total by name (``params``, ``macs``, ``flops``...)."""
        return int(getattr(self, key))

    @classmethod
    def of(cls, layers: Sequence[LayerResult]) -> Totals:
        """The totals of ``layers``."""
        w = b = buffers = macs = acts = ops = 0
        for r in layers:  # one pass: this runs over every layer of a 100,000-layer report
            w += r.weights
            b += r.biases
            buffers += r.buffers
            macs += r.macs
            acts += r.output.numel * r.batch
            ops += r.ops
        return cls(w + b, w, b, buffers, macs, acts, ops)


@dataclass(frozen=True, slots=True)
class Report:
    """The analysis of one spec configuration."""

    name: str
    file: str
    input: Shape
    output: Shape
    layers: tuple[LayerResult, ...]
    total: Totals
    variant: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    source: str = ""
    no_bias: bool = False
    rounding: str = "floor"
    warnings: tuple[Diagnostic, ...] = ()
    accuracy: tuple[tuple[str, str], ...] = ()  # the spec's `accuracy:` entries (e.g. top1, source)
    batch: int = 1
    output_index: int = -1  # the layer whose output is the network's output
    rf_note: str = ""  # where the receptive field first exceeds the input, if it does
    own_title: bool = False  # a variant with its own `name:`: the title is its own, not "V (variant of N)"

    @property
    def title(self) -> str:
        """The display name: the spec's, a variant's own, or ``vgg13 (variant of VGG-16 ...)``."""
        if self.variant and not self.own_title:
            return f"{self.variant} (variant of {self.name})"
        return self.name

    def find(self, path: str) -> list[LayerResult]:
        """The layers at ``path`` or below it (a group), in order."""
        dotted = path + "."
        return [r for r in self.layers if r.path == path or r.path.startswith(dotted)]

    def groups(self, depth: int) -> list[tuple[str, list[LayerResult]]]:
        """Consecutive layers grouped by the first ``depth`` segments of their paths."""
        out: list[tuple[str, list[LayerResult]]] = []
        for r in self.layers:
            key = ".".join(r.path.split(".")[:depth])
            if out and out[-1][0] == key:
                out[-1][1].append(r)
            else:
                out.append((key, [r]))
        return out


@without_gc
def analyze(graph: Graph, spec: ArchitectureSpec | None = None, batch: int = 1) -> Report:
    """Count every layer of ``graph`` and total them; ``batch`` multiplies MACs, ops and activations."""
    if batch < 1:
        raise ExprError(f"batch must be at least 1, got {batch}", code="E304")
    results = []
    fields = receptive_fields(graph)
    for node, (rf, jump) in zip(graph.nodes, fields.per_layer):
        lt = L.LAYER_TYPES[node.op]
        ins = list(node.in_shapes)
        w, b = lt.params(node.attrs, ins, node.out)
        results.append(
            LayerResult(
                node.ref,
                node.op,
                node.in_shapes,
                node.out,
                w,
                b,
                lt.buffers(node.attrs, ins, node.out),
                lt.macs(node.attrs, ins, node.out) * batch,
                node.attrs,
                node.info,
                node.loc,
                node.side,
                node.inputs,
                lt.ops(node.attrs, ins, node.out) * batch,
                rf,
                jump,
                batch,
            )
        )
    layers = tuple(results)
    return Report(
        graph.name,
        graph.file,
        graph.input,
        graph.output_shape,
        layers,
        Totals.of(layers),
        graph.variant,
        graph.params,
        spec.source if spec else "",
        graph.no_bias,
        graph.rounding,
        graph.warnings + fields.warnings,
        _accuracy(spec, graph.variant),
        batch,
        graph.output,
        fields.note,
        graph.own_title,
    )


def _accuracy(spec: ArchitectureSpec | None, variant: str | None) -> tuple[tuple[str, str], ...]:
    """The spec's `accuracy:` entries, with the variant's own entries over them."""
    if spec is None:
        return ()
    entries = dict(spec.accuracy)
    if variant is not None:
        entries.update(spec.variant(variant).accuracy)
    return tuple(entries.items())


# --------------------------------------------------------------------------- receptive field


@dataclass(frozen=True, slots=True)
class Fields:
    """Receptive fields of every layer, with merge warnings and the first layer whose field exceeds the input."""

    per_layer: tuple[tuple[tuple[int, int] | None, tuple[Jump, Jump] | None], ...]
    warnings: tuple[Diagnostic, ...]
    note: str


Jump = int | Fraction


def receptive_fields(graph: Graph) -> Fields:
    """Receptive field size and effective stride per axis for every layer (Araujo, Norris & Sim 2019).

    Each op's registry entry names its rule (:mod:`cnncalc.fields`): windows grow the field, resampling ops
    make the grid finer (exact fractional strides), global ops span their input, a join takes the largest
    field of its grid inputs (1x1xC gates do not widen the local field) and warns when their strides or
    centres differ (misaligned features); an ``opaque`` layer makes the field unknown from there on.
    """
    fields_: list[Field] = []
    out: list[tuple[tuple[int, int] | None, tuple[Jump, Jump] | None]] = []
    warnings: list[Diagnostic] = []
    note = ""
    gated = unknown = fractional = False
    limit = (graph.input.h, graph.input.w)
    for node in graph.nodes:
        srcs = [F.START if i < 0 else fields_[i] for i in node.inputs]
        lt = L.LAYER_TYPES[node.op]
        args = F.FieldArgs(node.attrs, node.in_shapes, node.out, node.info, srcs)
        f = lt.rf(args)
        if lt.role == "join":
            why = F.misalignment(args)
            if why:
                warn = Diagnostic(
                    f"`{node.op}` joins misaligned inputs: {why}, so the same position holds features of "
                    "different input locations",
                    node.loc.with_path(node.path),
                    code="W201",
                )
                warnings.append(warn)
        fields_.append(f)
        if lt.role == "join" and any(F.is_gate(shape, node.out) for shape in node.in_shapes):
            gated = True
        if f is None:
            unknown = unknown or not node.side
            out.append((None, None))
            continue
        fractional = fractional or any(isinstance(a.jump, Fraction) for a in f)
        size = (F.shown_size(f[0].size), F.shown_size(f[1].size))
        out.append((size, (f[0].jump, f[1].jump)))
        pooled = not node.out.is_flat and node.out.h * node.out.w == 1  # a global pool's 1x1xC (a gate, a head)
        if not note and not node.side and not pooled and (size[0] > limit[0] or size[1] > limit[1]):
            note = (
                f"the receptive field exceeds the {graph.input.h}x{graph.input.w} input from `{node.path}` on "
                f"({size[0]}x{size[1]}): its outer parts see only padding"
            )
    notes = [note] if note else []
    if gated:
        notes.append("a 1x1xC gate (squeeze-excitation) scales every position alike: it does not widen the field")
    if fractional:
        notes.append("a fractional stride (1/2) is a finer grid than the input's, after upsampling")
    if unknown:
        notes.append("? = unknown: cnncalc does not know which inputs an opaque layer's outputs read")
    return Fields(tuple(out), tuple(warnings), "; ".join(notes))


# --------------------------------------------------------------------------- memory

#: Bytes per stored value of each dtype (tf32 is a Tensor-Core compute mode on fp32 storage).
DTYPE_BYTES = {"fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "int8": 1}
OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2}


@dataclass(frozen=True, slots=True)
class Memory:
    """Memory estimates in bytes for one dtype (see :func:`memory` for what is modelled)."""

    dtype: str
    bytes_per_value: int
    params: int  # parameter bytes
    buffers: int  # BN running statistics and other fixed values
    activations: int  # every layer output and the input, kept at once (no reuse)
    peak: int  # the most activation bytes alive at once under the liveness model
    peak_at: str  # the layer being computed at the peak
    train_activations: int  # activations kept for the backward pass (every output and the input)
    gradients: int
    optimizer: str
    optimizer_state: int

    @property
    def inference(self) -> int:
        """Params + buffers + peak activations."""
        return self.params + self.buffers + self.peak

    @property
    def training(self) -> int:
        """Kept activations + weights + gradients + optimizer state + buffers."""
        return self.train_activations + self.params + self.gradients + self.optimizer_state + self.buffers


def memory(report: Report, dtype: str = "fp32", optimizer: str = "sgd") -> Memory:
    """Bytes for parameters and activations under a stated model.

    Inference peak: a tensor lives from the step that produces it to the last step that reads it (the input
    from the start; outputs nobody reads, i.e. the network's outputs, to the end); the inputs and the output
    of the layer being computed coexist, and so do all branches' outputs awaiting a join. No layer works in
    place, no tensor is freed early, workspaces and framework overheads are not modelled.
    Training: every layer output and the input are kept for the backward pass, plus weights, gradients
    (one per parameter) and optimizer state (sgd 0, momentum 1, adam 2 values per parameter); all in the
    same dtype (mixed-precision master weights are not modelled).
    """
    if dtype not in DTYPE_BYTES:
        raise UnknownNameError(f"unknown dtype {dtype!r}; one of {', '.join(DTYPE_BYTES)}", code="E214")
    if optimizer not in OPTIMIZER_STATES:
        raise UnknownNameError(f"unknown optimizer {optimizer!r}; one of {', '.join(OPTIMIZER_STATES)}", code="E215")
    b = DTYPE_BYTES[dtype]
    layers = report.layers
    count = len(layers)
    input_elems = report.input.numel * report.batch
    last = [-1] * (count + 1)  # last reader of each tensor; index count stands for the input
    for i, r in enumerate(layers):
        for src in r.sources:
            last[src if src >= 0 else count] = i
    delta = [0] * (count + 2)
    sizes = [r.activations for r in layers] + [input_elems]
    for j, size in enumerate(sizes):
        born = 0 if j == count else j
        dies = last[j] if last[j] >= born else count  # never read: a network output, alive to the end
        delta[born] += size
        delta[dies + 1] -= size
    peak, peak_at, alive = 0, "", 0
    for i in range(count):
        alive += delta[i]
        if alive > peak:
            peak, peak_at = alive, layers[i].path
    acts = sum(sizes)
    t = report.total
    states = OPTIMIZER_STATES[optimizer]
    return Memory(
        dtype,
        b,
        t.params * b,
        t.buffers * b,
        acts * b,
        peak * b,
        peak_at,
        acts * b,
        t.params * b,
        optimizer,
        states * t.params * b,
    )


# --------------------------------------------------------------------------- comparison


@dataclass(frozen=True, slots=True)
class Comparison:
    """Several reports side by side; ratios are to the first."""

    reports: tuple[Report, ...]
    labels: tuple[str, ...] = ()  # what the user typed for each (defaults to the reports' names)

    def label(self, i: int) -> str:
        """The column label of report ``i``."""
        if i < len(self.labels):
            return self.labels[i]
        rep = self.reports[i]
        return rep.name + (f" [{rep.variant}]" if rep.variant else "")

    def ratio(self, i: int, key: str) -> Fraction | None:
        """report[i].key / report[0].key, exactly (None when the first is 0)."""
        base = self.reports[0].total.get(key)
        return Fraction(self.reports[i].total.get(key), base) if base else None

    def rows(self, depth: int) -> list[tuple[str, list[Totals | None]]]:
        """Per-group totals at path ``depth``, matched by path across the reports (first seen order)."""
        order: list[str] = []
        tables: list[dict[str, Totals]] = []
        for rep in self.reports:
            table: dict[str, list[LayerResult]] = {}
            for key, rs in rep.groups(depth):
                if key not in table:
                    table[key] = []
                    if key not in order:
                        order.append(key)
                table[key].extend(rs)
            tables.append({k: Totals.of(v) for k, v in table.items()})
        return [(k, [t.get(k) for t in tables]) for k in order]


def compare(reports: Sequence[Report], labels: Sequence[str] = ()) -> Comparison:
    """Compare reports (ratios to the first), labelled as the user named them."""
    return Comparison(tuple(reports), tuple(labels))


# --------------------------------------------------------------------------- expectations


def _fmt_int(n: int) -> str:
    return f"{n:,}"


def _holds(ev: ExpectValue, value: int) -> bool:
    return abs(Fraction(value) - ev.target) <= ev.tolerance


def _total_failure(key: str, ev: ExpectValue, value: int, report: Report, prefix: str) -> ExpectationError:
    diff = value - ev.target
    pct = f", {float(diff / ev.target) * 100:+.1f}%" if ev.target else ""
    sign = "+" if diff >= 0 else "-"
    notes = [f"source: {ev.source}"] if ev.source else []
    metric = {"flops": "macs"}.get(key, key)
    if metric in ("params", "macs", "weights", "biases", "buffers", "activations"):
        top = [r for r in sorted(report.layers, key=lambda r: -getattr(r, metric))[:4] if getattr(r, metric)]
        if top:
            notes.append(
                f"layers with the largest {metric}: "
                + " · ".join(f"{r.path} {_fmt_int(getattr(r, metric))}" for r in top)
            )
    return ExpectationError(
        f"{prefix}expect.{key}: expected {ev.text}, computed {_fmt_int(value)} ({sign}{_fmt_int(abs(int(diff)))}{pct})",
        ev.loc,
        notes,
        code="E502",
    )


def _layer_index(report: Report, queries: Sequence[str]) -> dict[str, list[LayerResult]]:
    """``report.find(q)`` for every path ``q`` at once, in one pass over the layers (each ``find`` scans them all:
    20,000 expected layers of a 100,000-layer network would take minutes).

    A layer belongs to each queried path among its own path and its ancestors; those are found per path object
    (layers share their parents' objects), by segments, without making any path's text.
    """
    wanted = {LayerPath.parse(q): q for q in queries}
    found: dict[str, list[LayerResult]] = {q: [] for q in queries}
    memo: dict[int, tuple[str, ...]] = {}  # id of a path object -> the queries it lies under
    keep: list[object] = []  # the objects whose ids are in memo stay alive
    for r in report.layers:
        ref = r[0]
        node = ref if isinstance(ref, LayerPath) else LayerPath.parse(ref)
        chain: list[LayerPath] = []
        under: tuple[str, ...] = ()
        cur: LayerPath | None = node
        while cur is not None:
            hit = memo.get(id(cur))
            if hit is not None:
                under = hit
                break
            chain.append(cur)
            cur = cur.parent
        for n in reversed(chain):
            q = wanted.get(n)
            under = (*under, q) if q is not None else under
            memo[id(n)] = under
            keep.append(n)
        for q in under:
            found[q].append(r)
    return found


def check_expectations(report: Report, expect: Expectations, prefix: str = "") -> list[ExpectationError]:
    """Every failed expectation of ``expect`` against ``report`` (empty when all hold)."""
    failures: list[ExpectationError] = []
    for key, ev in expect.totals:
        value = report.total.get(key)
        if not _holds(ev, value):
            failures.append(_total_failure(key, ev, value, report, prefix))
    if expect.output is not None and report.output.dims != expect.output.dims:
        failures.append(
            ExpectationError(
                f"{prefix}expect.output: expected {expect.output.text}, computed {report.output}",
                expect.output.loc,
                code="E502",
            )
        )
    index = _layer_index(report, [path for path, _, _ in expect.layers]) if expect.layers else {}
    paths: set[str] | None = None
    suggested = 0
    for path, loc, entries in expect.layers:
        found = index[path]
        if not found:
            hint = ""
            if suggested < 20:  # a did-you-mean costs a search over every path: a few are enough
                suggested += 1
                paths = {r.path for r in report.layers} if paths is None else paths
                hint = did_you_mean(path, paths)
            failures.append(ExpectationError(f"{prefix}expect.layers: no layer `{path}`{hint}", loc, code="E503"))
            continue
        sub = Totals.of(found)
        for key, want in entries:
            if isinstance(want, ShapeAssert):
                got = found[-1].output
                if got.dims != want.dims:
                    failures.append(
                        ExpectationError(
                            f"{prefix}expect.layers.{path}.shape: expected {want.text}, computed {got}",
                            want.loc,
                            code="E502",
                        )
                    )
            else:
                value = sub.get(key)
                if not _holds(want, value):
                    failures.append(
                        ExpectationError(
                            f"{prefix}expect.layers.{path}.{key}: expected {want.text}, computed {_fmt_int(value)}",
                            want.loc,
                            (f"source: {want.source}",) if want.source else (),
                            code="E502",
                        )
                    )
    return failures


# --------------------------------------------------------------------------- checking files


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of checking one spec file (every variant)."""

    file: str
    configs: tuple[str, ...]  # "(base)" and each variant that was evaluated
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        """True when no diagnostic is an error."""
        return not any(d.severity == "error" for d in self.diagnostics)


def _diag(err: CnncalcError, variant: str | None) -> Diagnostic:
    d = Diagnostic.from_error(err)
    if variant is not None:
        d = d.with_message(f"[variant {variant}] {d.message}")
    return d


def check_spec_file(
    path: str | Path,
    max_params: int | None = None,
    max_macs: int | None = None,
    *,
    variant: str | None = None,
    sets: Mapping[str, str] | None = None,
    input_shape: Shape | None = None,
    no_bias: bool = False,
    batch: int = 1,
) -> CheckResult:
    """Parse ``path``, evaluate the spec and each variant, and check every expectation and budget.

    With ``variant`` only that variant is evaluated. Overrides (``sets``, ``input_shape``, ``no_bias``,
    ``batch``) describe another configuration than the one the file's expectations state, so with any of
    them only parsing, shapes and the budgets are checked.
    """
    file = str(path)
    try:
        spec = load_spec(path)
    except CnncalcError as err:
        return CheckResult(file, (), (_diag(err, None),))
    diags: list[Diagnostic] = []
    known = {v.name for v in spec.variants}
    by_variant = {name: exp for name, _, exp in spec.expect.variants}
    for name, loc, _ in spec.expect.variants:
        if name not in known:
            diags.append(
                _diag(
                    ExpectationError(
                        f"expect.variants: no variant `{name}`{did_you_mean(name, known)}", loc, code="E504"
                    ),
                    None,
                )
            )
    overridden = bool(sets) or input_shape is not None or no_bias or batch != 1
    configs: list[str] = []
    work = Work()  # the file's budgets, shared by the spec and all its variants
    for config in (variant,) if variant is not None else (None, *(v.name for v in spec.variants)):
        configs.append(config or "(base)")
        try:
            report = analyze(build_graph(spec, config, sets, input_shape, no_bias, work), spec, batch)
        except CnncalcError as err:
            diags.append(_diag(err, config))
            if work.exhausted:
                break  # the file's budget is spent: every further variant would fail the same way
            continue
        if config is None:
            diags.extend(report.warnings)
        if not overridden:
            expect = spec.expect if config is None else by_variant.get(config, Expectations())
            diags.extend(_diag(f, config) for f in check_expectations(report, expect))
        for label, limit, value in (("params", max_params, report.total.params), ("MACs", max_macs, report.total.macs)):
            if limit is not None and value > limit:
                diags.append(
                    _diag(
                        ExpectationError(
                            f"{value:,} {label} exceed the budget --max-{label.lower()}={limit:,} (by {value - limit:,})",
                            Location(file),
                            code="E505",
                        ),
                        config,
                    )
                )
    return CheckResult(file, tuple(configs), tuple(diags))
