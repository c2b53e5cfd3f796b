"""Receptive fields of every layer of a graph, by each op's rule (:mod:`cnncalc.fields`), with join warnings."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .. import fields as F  # noqa: N812
from .. import layers as L  # noqa: N812 - the registry
from ..errors import Diagnostic
from ..fields import Field
from ..graph import Graph


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
        size = (f[0].size, f[1].size)
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
