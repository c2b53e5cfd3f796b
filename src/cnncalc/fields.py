"""Receptive-field arithmetic: the rules that ops name in their registry entries.

Per axis, a layer's output field is kept exactly, as a periodic map from output index to the interval of input
pixels that output depends on: for the first ``P`` outputs, the first (``lo``) and last (``hi``) input pixel,
and ``shift``, the input pixels advanced every ``P`` outputs (output ``o + P`` sees ``shift`` pixels further
on than output ``o``). An ordinary network keeps ``P = 1``: then ``hi - lo + 1`` is the receptive field and
``shift`` the effective stride, as in Araujo, Norris & Sim (2019, Distill). Resampling ops (nearest or bilinear
upsampling, transposed convolution, pixel shuffle) make the grid finer and the outputs unequal: after a 2x
upsampling, output pairs share an input, so later windows see 2 or 4 input pixels in turn; the period keeps
every phase, the receptive field is the widest of them (a true bound, equal to the widest gradient support),
and the effective stride ``shift / P`` an exact :class:`~fractions.Fraction` (``1/2``).

Borders are not modelled: a field may extend past the input into padding (the table says so). Where later
outputs never depend on earlier input pixels (``lo`` and ``hi`` never decrease: every op but a transposed
convolution whose dilation exceeds its stride), the ends of a range of taps bound it; otherwise every tap is
looked at.

A field may be *unknown* (``None``): after an ``opaque`` layer nothing is known about which inputs an output
reads, and every layer that depends on it inherits that honestly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any, NamedTuple

from .shapes import Shape

_EMPTY = (1 << 62, -(1 << 62))  # an output that reads nothing (a transposed conv's gap): the identity of a union


class Axis(NamedTuple):
    """The field of one layer's output on one axis: ``lo``/``hi`` for outputs ``0..P-1``, ``shift`` per period."""

    lo: tuple[int, ...]
    hi: tuple[int, ...]
    shift: int

    @property
    def period(self) -> int:
        """P: after this many outputs the pattern repeats, ``shift`` pixels further on."""
        return len(self.lo)

    def at(self, t: int) -> tuple[int, int]:
        """The input interval of output ``t`` (any integer: outputs before 0 or past the end extend the grid)."""
        p = len(self.lo)
        if p == 1:
            return self.lo[0] + t * self.shift, self.hi[0] + t * self.shift
        q, r = divmod(t, p)
        return self.lo[r] + q * self.shift, self.hi[r] + q * self.shift

    @property
    def size(self) -> int:
        """The receptive field: the widest interval over all outputs."""
        return max((h - lo + 1 for lo, h in zip(self.lo, self.hi) if h >= lo), default=0)

    @property
    def jump(self) -> int | Fraction:
        """The effective stride: input pixels per output, exact (an int when whole)."""
        j = Fraction(self.shift, len(self.lo))
        return j.numerator if j.denominator == 1 else j

    @property
    def centre2(self) -> int:
        """Twice the centre of output 0's field (an int: centres fall on half pixels)."""
        return self.lo[0] + self.hi[0]


#: Rows and columns; None when unknown.
Field = tuple[Axis, Axis] | None
START: tuple[Axis, Axis] = (Axis((0,), (0,), 1), Axis((0,), (0,), 1))


class FieldArgs(NamedTuple):
    """What a receptive-field rule may read about one layer."""

    attrs: Mapping[str, Any]
    ins: Sequence[Shape]
    out: Shape
    info: Mapping[str, Any]
    srcs: Sequence[Field]  # the fields of the layer's inputs, in order


FieldRule = Callable[[FieldArgs], Field]


def gather(a: Axis, per: int, advance: int, taps: Callable[[int], tuple[int, int] | None], step: int = 1) -> Axis:
    """The field of a layer whose output ``o`` reads its input's outputs ``first, first + step, ..., last`` with
    ``taps(o) = (first, last)`` (None: none), where ``taps(o + per) = taps(o) + advance``. The result's period is
    the least multiple of ``per`` after which the taps have advanced a whole number of ``a``'s periods."""
    p = a.period
    reps = p // math.gcd(p, advance)
    period = per * reps
    # Some of a's outputs read nothing, or later outputs read earlier inputs (a transposed conv whose dilation
    # exceeds its stride interleaves them): then the ends of a range do not bound it, and every tap is looked at.
    gaps = _EMPTY[0] in a.lo or not _monotone(a)
    lo: list[int] = []
    hi: list[int] = []
    for o in range(period):
        t = taps(o)
        if t is None:
            lo.append(_EMPTY[0])
            hi.append(_EMPTY[1])
        elif gaps:
            spans = [a.at(u) for u in range(t[0], t[1] + 1, step)]
            lo.append(min(x for x, _ in spans))
            hi.append(max(y for _, y in spans))
        else:
            lo.append(a.at(t[0])[0])
            hi.append(a.at(t[1])[1])
    return Axis(tuple(lo), tuple(hi), advance * reps // p * a.shift)


def _monotone(a: Axis) -> bool:
    """Do later outputs never read earlier inputs (``lo`` and ``hi`` non-decreasing over a period and across)?"""
    if a.period == 1:
        return True
    spans = [a.at(t) for t in range(a.period + 1)]
    return all(x[0] <= y[0] and x[1] <= y[1] for x, y in zip(spans, spans[1:]))


def window(a: Axis, k: int, s: int, p_before: int, d: int = 1) -> Axis:
    """A sliding window of ``k`` (dilation ``d``) at stride ``s`` with ``p_before`` leading padding."""
    span = d * (k - 1)
    if a.period == 1:  # the common case, in plain arithmetic
        return Axis((a.lo[0] - p_before * a.shift,), (a.hi[0] + (span - p_before) * a.shift,), s * a.shift)
    return gather(a, 1, s, lambda o: (o * s - p_before, o * s - p_before + span), d)


def shifted(a: Axis, outputs: int) -> Axis:
    """The same grid starting ``outputs`` outputs later (a crop; negative for leading zero padding)."""
    if a.period == 1:
        return Axis((a.lo[0] + outputs * a.shift,), (a.hi[0] + outputs * a.shift,), a.shift)
    return gather(a, 1, 1, lambda o: (o + outputs, o + outputs))


def span_all(a: Axis, n: int) -> Axis:
    """One output that depends on all ``n`` outputs of ``a`` (a global pool, fc, flatten): a window of ``n`` at
    stride ``n``."""
    return window(a, n, n, 0)


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
    return (span_all(f[0], i.h), span_all(f[1], i.w))


def adaptive(x: FieldArgs) -> Field:
    """PyTorch's adaptive pooling bins: output ``o`` of ``m`` averages inputs floor(o n/m) .. ceil((o+1) n/m) - 1."""
    f, i, o = x.srcs[0], x.ins[0], x.out
    if f is None or i == o or i.is_flat:
        return f
    return (_adaptive_axis(f[0], i.h, o.h), _adaptive_axis(f[1], i.w, o.w))


def _adaptive_axis(a: Axis, n: int, m: int) -> Axis:
    g = math.gcd(n, m)
    return gather(a, m // g, n // g, lambda o: (o * n // m, -((-(o + 1) * n) // m) - 1))


def is_gate(shape: Shape, out: Shape) -> bool:
    """An input of a join that scales every position alike: a 1x1xC gate (squeeze-excitation), or a flat C
    vector broadcast over an HxWxC map.

    A gate computed from a global pool does not widen the *local* receptive field (Distill's convention): it
    scales every position alike.
    """
    if out.is_flat or out.h * out.w == 1:
        return False
    return shape.is_flat or shape.h * shape.w == 1


def join(x: FieldArgs) -> Field:
    """A join: per output, the union of its grid inputs' fields (gates excluded); unknown if any is unknown."""
    grid = [f for f, s in zip(x.srcs, x.ins) if not is_gate(s, x.out)] or list(x.srcs)
    if any(f is None for f in grid):
        return None
    known = [f for f in grid if f is not None]
    return (_union([f[0] for f in known]), _union([f[1] for f in known]))


def _union(axes: Sequence[Axis]) -> Axis:
    first = axes[0]
    if all(a == first for a in axes):
        return first
    period = math.lcm(*(a.period for a in axes))
    # a common period needs the same advance per period: scale each to `period`
    shifts = {a.shift * period // a.period for a in axes}
    if len(shifts) > 1:  # different strides (a misaligned join): the union has no period; keep the widest
        return max(axes, key=lambda a: a.size)
    lo = tuple(min(a.at(o)[0] for a in axes) for o in range(period))
    hi = tuple(max(a.at(o)[1] for a in axes) for o in range(period))
    return Axis(lo, hi, shifts.pop())


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
        shown = ", ".join(f"({fmt_num(Fraction(a, 2))}, {fmt_num(Fraction(b, 2))})" for a, b in sorted(centres))
        return f"field centres {shown} differ"
    return ""


#: How the docs state each shared rule (an entry with a rule of its own states it in its ``rf_doc``).
RULE_DOCS: dict[FieldRule, str] = {
    same: "same as its input",
    unknown: "unknown",
    windows: "window: r + (k'-1)·j, stride j·s",
    whole_input: "the whole input",
    adaptive: "PyTorch's adaptive bins",
    join: "per output, the union of its inputs' fields (1x1xC and flat gates excluded)",
}


def fmt_num(v: int | Fraction) -> str:
    """``3``, ``1/2``, ``-5/4``: exact."""
    v = Fraction(v)
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


def fmt_axes(a: int | Fraction, b: int | Fraction) -> str:
    return fmt_num(a) if a == b else f"{fmt_num(a)}x{fmt_num(b)}"
