"""Counting: :class:`~cnncalc.graph.Graph` -> :class:`Report`, every figure an exact ``int`` from the registry.

A :class:`LayerResult` is a graph node plus its counts (the node's path, op, shapes and location are read from
the node, not copied); a :class:`Report` is the graph (which carries the spec's metadata) plus the per-layer
results and their totals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NamedTuple

from .. import layers as L  # noqa: N812 - the registry
from ..errors import Diagnostic, ExprError, Location
from ..graph import Graph, Node
from ..perf import without_gc
from ..shapes import Shape
from .receptive import receptive_fields

TOTAL_KEYS = ("params", "weights", "biases", "buffers", "macs", "flops", "activations")


class _Counts(NamedTuple):
    node: Node
    weights: int
    biases: int
    buffers: int
    macs: int
    ops: int = 0  # element-wise operations (pooling, BN, activations, joins, bias adds): apart from MACs
    rf: tuple[int, int] | None = (1, 1)  # receptive field (rows, columns) in input pixels; None: unknown
    jump: tuple[int | Fraction, int | Fraction] | None = (1, 1)  # effective stride (rows, columns); None: unknown
    batch: int = 1  # macs and ops already include it; activations multiply by it


class LayerResult(_Counts):
    """One layer: its graph node and its figures (params, buffers, MACs, ops, receptive field).

    ``path``, ``op``, ``inputs`` (input shapes), ``output``, ``attrs``, ``info``, ``loc``, ``side`` and
    ``sources`` (indices of the layers it reads; -1 the input) are the node's.
    """

    __slots__ = ()

    @property
    def path(self) -> str:
        """The layer's path, e.g. ``stage2.block#3.conv``."""
        return self.node.path

    @property
    def op(self) -> str:
        """The registry op."""
        return self.node.op

    @property
    def inputs(self) -> tuple[Shape, ...]:
        """The input shapes."""
        return self.node.in_shapes

    @property
    def output(self) -> Shape:
        """The output shape."""
        return self.node.out

    @property
    def attrs(self) -> Mapping[str, Any]:
        """The resolved arguments."""
        return self.node.attrs

    @property
    def info(self) -> Mapping[str, Any]:
        """What the shape rule recorded (windows, padding)."""
        return self.node.info

    @property
    def loc(self) -> Location:
        """Where the layer is written."""
        return self.node.loc

    @property
    def side(self) -> bool:
        """Part of a side head (never on the main chain)."""
        return self.node.side

    @property
    def sources(self) -> tuple[int, ...]:
        """Indices in ``Report.layers`` of the layers this one reads (-1: the network input)."""
        return self.node.inputs

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
        return self.node.out.numel * self.batch


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
            acts += r.node.out.numel * r.batch
            ops += r.ops
        return cls(w + b, w, b, buffers, macs, acts, ops)


@dataclass(frozen=True, slots=True)
class Report:
    """The analysis of one configuration: the graph (with the spec's metadata), every layer's figures, totals."""

    graph: Graph
    layers: tuple[LayerResult, ...]
    total: Totals
    batch: int = 1
    warnings: tuple[Diagnostic, ...] = ()  # the graph's and the receptive-field pass's
    rf_note: str = ""  # where the receptive field first exceeds the input, and what the column assumes

    @property
    def name(self) -> str:
        """The spec's (or the variant's own) name."""
        return self.graph.name

    @property
    def title(self) -> str:
        """The display name: the spec's, a variant's own, or ``vgg13 (variant of VGG-16 ...)``."""
        return self.graph.title

    @property
    def own_title(self) -> bool:
        """A variant with its own `name:`."""
        return self.graph.own_title

    @property
    def file(self) -> str:
        """The spec file."""
        return self.graph.file

    @property
    def input(self) -> Shape:
        """The input shape."""
        return self.graph.input

    @property
    def output(self) -> Shape:
        """The network's output shape."""
        return self.graph.output_shape

    @property
    def output_index(self) -> int:
        """The layer whose output is the network's output (-1: the input itself)."""
        return self.graph.output

    @property
    def variant(self) -> str | None:
        """The variant evaluated, if any."""
        return self.graph.variant

    @property
    def params(self) -> tuple[tuple[str, str], ...]:
        """The resolved top-level params, as text."""
        return self.graph.params

    @property
    def source(self) -> str:
        """The spec's `source:`."""
        return self.graph.source

    @property
    def accuracy(self) -> tuple[tuple[str, str], ...]:
        """The spec's `accuracy:` entries with the variant's over them."""
        return self.graph.accuracy

    @property
    def no_bias(self) -> bool:
        """Counted as if no layer had a bias (--no-bias)."""
        return self.graph.no_bias

    @property
    def rounding(self) -> str:
        """floor, ceil or exact."""
        return self.graph.rounding

    def to_dict(self, depth: int | None = None) -> dict[str, Any]:
        """The JSON object of ``cnncalc show --format json`` (every layer, or one row per block at ``depth``)."""
        from ..render.data import report_dict

        return report_dict(self, depth=depth)

    def table(self, depth: int | None = None, width: int = 100) -> str:
        """The ``cnncalc show`` table as plain text, ``width`` columns wide."""
        from ..render import layout
        from ..render.text import report_table

        return layout.to_text(layout.render(report_table(self, depth), width), False)

    def __str__(self) -> str:
        return self.table()

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
def analyze(graph: Graph, batch: int = 1) -> Report:
    """Count every layer of ``graph`` and total them; ``batch`` multiplies MACs, ops and activations."""
    if batch < 1:
        raise ExprError(f"batch must be at least 1, got {batch}", code="E304")
    results = []
    fields = receptive_fields(graph)
    types = L.LAYER_TYPES
    for node, (rf, jump) in zip(graph.nodes, fields.per_layer):
        lt = types[node.op]
        ins = list(node.in_shapes)
        a, out = node.attrs, node.out
        w, b = lt.params(a, ins, out)
        results.append(
            LayerResult(
                node,
                w,
                b,
                lt.buffers(a, ins, out),
                lt.macs(a, ins, out) * batch,
                lt.ops(a, ins, out) * batch,
                rf,
                jump,
                batch,
            )
        )
    layers = tuple(results)
    return Report(graph, layers, Totals.of(layers), batch, graph.warnings + fields.warnings, fields.note)
