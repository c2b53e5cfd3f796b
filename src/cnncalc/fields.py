"""Receptive-field arithmetic: the rules that ops name in their registry entries.

Per axis a layer's output has a field ``(size, jump, centre2)``: ``size`` is how many input pixels one output
value depends on, ``jump`` the distance in input pixels between neighbouring outputs (the effective stride) and
``centre2`` twice the centre of the first output's field (doubled so that it stays an int on integer grids).
A window of k (dilation d, span k' = d(k-1)+1), stride s and leading padding p maps
``(r, j, c) -> (r + (k'-1)j, j s, c + ((k'-1)/2 - p) j)`` (Araujo, Norris & Sim 2019, Distill).

Resampling ops (transposed convolution, upsampling, pixel shuffle) make the grid finer: the jump divides by the
scale and becomes an exact :class:`~fractions.Fraction` (``1/2``), and one output reads ``taps`` neighbouring
inputs (nearest 1, bilinear 2, bicubic 4, a transposed convolution ceil(k'/s)), so the field grows by
``(taps - 1) j``. Sizes may then be fractional on the continuous grid; the column shows the whole number of
input pixels that bounds them (the ceiling).

A field may be *unknown* (``None``): after an ``opaque`` layer nothing is known about which inputs an output
reads, and every layer that depends on it inherits that honestly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any, NamedTuple

from .shapes import Shape


class Axis(NamedTuple):
    """The field of one layer's output on one axis."""

    size: int | Fraction
    jump: int | Fraction
    centre2: int | Fraction


#: Rows and columns; None when unknown.
Field = tuple[Axis, Axis] | None
START: tuple[Axis, Axis] = (Axis(1, 1, 0), Axis(1, 1, 0))


class FieldArgs(NamedTuple):
    """What a receptive-field rule may read about one layer."""

    attrs: Mapping[str, Any]
    ins: Sequence[Shape]
    out: Shape
    info: Mapping[str, Any]
    srcs: Sequence[Field]  # the fields of the layer's inputs, in order


FieldRule = Callable[[FieldArgs], Field]


def window(a: Axis, k: int, s: int, p_before: int, d: int = 1) -> Axis:
    """A sliding window of ``k`` (dilation ``d``) at stride ``s`` with ``p_before`` leading padding."""
    span = d * (k - 1) + 1
    return Axis(a.size + (span - 1) * a.jump, a.jump * s, a.centre2 + (span - 1 - 2 * p_before) * a.jump)


def resample(a: Axis, taps: int, scale: Fraction | int, offset2: Fraction | int) -> Axis:
    """A finer (scale > 1) or coarser grid: each output reads ``taps`` neighbouring inputs.

    ``offset2`` is twice the position, in input pixels, of the first output's taps' centre.
    """
    return Axis(
        _exact(a.size + (taps - 1) * a.jump), _exact(Fraction(a.jump) / scale), _exact(a.centre2 + offset2 * a.jump)
    )


def _exact(v: int | Fraction) -> int | Fraction:
    """An int when the value is whole (so integer grids stay in fast int arithmetic)."""
    return v.numerator if isinstance(v, Fraction) and v.denominator == 1 else v


def shifted(a: Axis, pixels: int) -> Axis:
    """The same grid starting ``pixels`` outputs later (a crop; negative for leading padding)."""
    return Axis(a.size, a.jump, a.centre2 + 2 * pixels * a.jump)


# --------------------------------------------------------------------------- rules named by the registry


def same(x: FieldArgs) -> Field:
    """Element-wise and per-position ops: the field of the input."""
    return x.srcs[0]


def unknown(x: FieldArgs) -> Field:
    """Nothing is known (``opaque``)."""
    return None


def windows(x: FieldArgs) -> Field:
    """Sliding-window ops: the windows and padding the shape rule recorded in ``info``."""
    f = x.srcs[0]
    if f is None:
        return None
    wins, pads = x.info["windows"], x.info["pads"]
    return (
        window(f[0], wins[0].kernel, wins[0].stride, pads[0], wins[0].dilation),
        window(f[1], wins[1].kernel, wins[1].stride, pads[2], wins[1].dilation),
    )


def whole_input(x: FieldArgs) -> Field:
    """Global ops (fc, global pooling, flatten...): every output sees the whole input."""
    f, i = x.srcs[0], x.ins[0]
    if f is None or i.is_flat:
        return f
    return (window(f[0], i.h, i.h, 0), window(f[1], i.w, i.w, 0))


def adaptive(x: FieldArgs) -> Field:
    """PyTorch's adaptive pooling bins: about ceil(n/o) wide, n//o apart (at least 1 when it enlarges)."""
    f, i, o = x.srcs[0], x.ins[0], x.out
    if f is None or i == o:
        return f
    if i.is_flat:
        return f
    return (
        window(f[0], -(-i.h // o.h), max(i.h // o.h, 1), 0),
        window(f[1], -(-i.w // o.w), max(i.w // o.w, 1), 0),
    )


def is_gate(shape: Shape, out: Shape) -> bool:
    """A 1x1xC input of a join whose output is larger: a per-channel gate (squeeze-excitation).

    A gate computed from a global pool does not widen the *local* receptive field (Distill's convention):
    it scales every position alike.
    """
    return not shape.is_flat and shape.h * shape.w == 1 and out.h * out.w > 1


def join(x: FieldArgs) -> Field:
    """A join: the largest field of its grid inputs (gates excluded); unknown if any grid input is unknown."""
    grid = [f for f, s in zip(x.srcs, x.ins) if not is_gate(s, x.out)] or list(x.srcs)
    if any(f is None for f in grid):
        return None
    known = [f for f in grid if f is not None]
    return tuple(  # type: ignore[return-value]
        max((f[a] for f in known), key=lambda v: v.size)._replace(size=max(f[a].size for f in known)) for a in (0, 1)
    )


def misalignment(x: FieldArgs) -> str:
    """Why a join's grid inputs hold features of different input locations at the same position ("" if not)."""
    grid = [f for f, s in zip(x.srcs, x.ins) if f is not None and not s.is_flat and not is_gate(s, x.out)]
    if len(grid) < 2:
        return ""
    jumps = {(f[0].jump, f[1].jump) for f in grid}
    if len(jumps) > 1:
        return "effective strides " + ", ".join(f"{fmt_axes(a, b)}" for a, b in sorted(jumps)) + " differ"
    centres = {(f[0].centre2, f[1].centre2) for f in grid}
    if len(centres) > 1:
        shown = ", ".join(f"({fmt_num(Fraction(a) / 2)}, {fmt_num(Fraction(b) / 2)})" for a, b in sorted(centres))
        return f"field centres {shown} differ"
    return ""


def fmt_num(v: int | Fraction) -> str:
    """``3``, ``1/2``, ``-5/4``: exact."""
    v = Fraction(v)
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


def fmt_axes(a: int | Fraction, b: int | Fraction) -> str:
    return fmt_num(a) if a == b else f"{fmt_num(a)}x{fmt_num(b)}"


def shown_size(v: int | Fraction) -> int:
    """A field size in whole input pixels (the ceiling of a fractional size on a resampled grid)."""
    return -((-v.numerator) // v.denominator) if isinstance(v, Fraction) else v
