"""Counting and checking: :class:`Graph` -> :class:`Report`; comparisons; expectations.

Every figure is an exact ``int`` computed by the layer registry's formulas and
summed here; nothing is rounded or formatted in this module (see
:mod:`cnncalc.render`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from . import layers as L  # noqa: N812 - the registry, used on nearly every line
from .errors import CnncalcError, Diagnostic, ExpectationError, Location
from .graph import Graph, build_graph
from .perf import without_gc
from .shapes import Shape
from .spec import ArchitectureSpec, Expectations, ExpectValue, ShapeAssert, did_you_mean, load_spec

TOTAL_KEYS = ("params", "weights", "biases", "buffers", "macs", "flops", "activations")


@dataclass(frozen=True, slots=True)
class LayerResult:
    """One layer's figures: output shape, parameters, buffers, MACs, activations."""

    path: str
    op: str
    inputs: tuple[Shape, ...]
    output: Shape
    weights: int
    biases: int
    buffers: int
    macs: int
    attrs: Mapping[str, Any] = field(compare=False, repr=False)
    info: Mapping[str, Any] = field(compare=False, repr=False)
    loc: Location = field(compare=False, repr=False)
    side: bool = False
    sources: tuple[int, ...] = ()  # indices in Report.layers of the layers this one reads (-1: the input)

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
        """Elements of the output."""
        return self.output.numel


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums over layers (all exact ints)."""

    params: int = 0
    weights: int = 0
    biases: int = 0
    buffers: int = 0
    macs: int = 0
    activations: int = 0

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
        w = sum(r.weights for r in layers)
        b = sum(r.biases for r in layers)
        return cls(w + b, w, b, sum(r.buffers for r in layers), sum(r.macs for r in layers),
                   sum(r.activations for r in layers))  # fmt: skip


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
    warnings: tuple[CnncalcError, ...] = ()
    accuracy: tuple[tuple[str, str], ...] = ()  # the spec's `accuracy:` entries (e.g. top1, source)

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
def analyze(graph: Graph, spec: ArchitectureSpec | None = None) -> Report:
    """Count every layer of ``graph`` and total them."""
    results = []
    for node in graph.nodes:
        lt = L.LAYER_TYPES[node.op]
        ins = list(node.in_shapes)
        w, b = lt.params(node.attrs, ins, node.out)
        results.append(LayerResult(node.path, node.op, node.in_shapes, node.out, w, b,
                                   lt.buffers(node.attrs, ins, node.out), lt.macs(node.attrs, ins, node.out),
                                   node.attrs, node.info, node.loc, node.side, node.inputs))  # fmt: skip
    layers = tuple(results)
    return Report(graph.name, graph.file, graph.input, graph.output_shape, layers, Totals.of(layers),
                  graph.variant, graph.params, spec.source if spec else "", graph.no_bias, graph.rounding,
                  graph.warnings, spec.accuracy if spec else ())  # fmt: skip


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
    return abs(Fraction(value) - ev.target) <= ev.tolerance  # type: ignore[operator]


def _total_failure(key: str, ev: ExpectValue, value: int, report: Report, prefix: str) -> ExpectationError:
    diff = value - ev.target  # type: ignore[operator]
    pct = f", {float(diff / ev.target) * 100:+.1f}%" if ev.target else ""  # type: ignore[operator]
    sign = "+" if diff >= 0 else "-"
    notes = [f"source: {ev.source}"] if ev.source else []
    metric = {"flops": "macs"}.get(key, key)
    if metric in ("params", "macs", "weights", "biases", "buffers", "activations"):
        top = [r for r in sorted(report.layers, key=lambda r: -getattr(r, metric))[:4] if getattr(r, metric)]
        if top:
            notes.append(f"layers with the largest {metric}: "
                         + " · ".join(f"{r.path} {_fmt_int(getattr(r, metric))}" for r in top))  # fmt: skip
    return ExpectationError(f"{prefix}expect.{key}: expected {ev.text}, computed {_fmt_int(value)} "
                            f"({sign}{_fmt_int(abs(int(diff)))}{pct})", ev.loc, notes, code="E502")  # fmt: skip


def check_expectations(report: Report, expect: Expectations, prefix: str = "") -> list[ExpectationError]:
    """Every failed expectation of ``expect`` against ``report`` (empty when all hold)."""
    failures: list[ExpectationError] = []
    for key, ev in expect.totals:
        value = report.total.get(key)
        if not _holds(ev, value):
            failures.append(_total_failure(key, ev, value, report, prefix))
    if expect.output is not None and report.output.dims != expect.output.dims:
        failures.append(ExpectationError(f"{prefix}expect.output: expected {expect.output.text}, computed "
                                         f"{report.output}", expect.output.loc, code="E502"))  # fmt: skip
    for path, loc, entries in expect.layers:
        found = report.find(path)
        if not found:
            paths = {r.path for r in report.layers}
            failures.append(ExpectationError(f"{prefix}expect.layers: no layer `{path}`{did_you_mean(path, paths)}",
                                             loc, code="E503"))  # fmt: skip
            continue
        sub = Totals.of(found)
        for key, ev in entries:
            if isinstance(ev, ShapeAssert):
                got = found[-1].output
                if got.dims != ev.dims:
                    failures.append(ExpectationError(f"{prefix}expect.layers.{path}.shape: expected {ev.text}, "
                                                     f"computed {got}", ev.loc, code="E502"))  # fmt: skip
            else:
                value = sub.get(key)
                if not _holds(ev, value):
                    failures.append(ExpectationError(
                        f"{prefix}expect.layers.{path}.{key}: expected {ev.text}, computed {_fmt_int(value)}",
                        ev.loc, (f"source: {ev.source}",) if ev.source else (), code="E502"))  # fmt: skip
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
        d = Diagnostic(f"[variant {variant}] {d.message}", d.location, d.severity, d.code, d.notes)
    return d


def check_spec_file(path: str | Path, max_params: int | None = None, max_macs: int | None = None) -> CheckResult:
    """Parse ``path``, evaluate the spec and each variant, and check every expectation and budget."""
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
            diags.append(_diag(ExpectationError(
                f"expect.variants: no variant `{name}`{did_you_mean(name, known)}", loc, code="E504"), None))
    configs: list[str] = []
    for variant in (None, *(v.name for v in spec.variants)):
        configs.append(variant or "(base)")
        try:
            report = analyze(build_graph(spec, variant), spec)
        except CnncalcError as err:
            diags.append(_diag(err, variant))
            continue
        if variant is None:
            diags.extend(_diag(w, None) for w in report.warnings)
        expect = spec.expect if variant is None else by_variant.get(variant, Expectations())
        diags.extend(_diag(f, variant) for f in check_expectations(report, expect))
        for label, limit, value in (("params", max_params, report.total.params), ("MACs", max_macs,
                                                                                    report.total.macs)):
            if limit is not None and value > limit:
                diags.append(_diag(ExpectationError(
                    f"{value:,} {label} exceed the budget --max-{label.lower()}={limit:,} (by {value - limit:,})",
                    Location(file), code="E505"), variant))  # fmt: skip
    return CheckResult(file, tuple(configs), tuple(diags))
