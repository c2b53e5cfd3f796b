"""Shapes (H x W x C or a flat vector) and the output-size arithmetic of sliding windows.

A :class:`Shape` is per sample (batch 1). Spatial shapes are ``H x W x C`` in
the frameworks' row-major order (``1x7`` is 1 row by 7 columns); flat shapes
(after ``fc`` or ``flatten``) have one dimension.

:func:`window_out` is the one place the conv/pool output-size formula lives::

    out = floor((n + pad_before + pad_after - dilation*(k - 1) - 1) / stride) + 1

with ``ceil`` instead of floor where asked (PyTorch/Caffe ``ceil_mode``: the last
window must start inside the input or its leading padding).
"""

from __future__ import annotations

from fractions import Fraction
from math import prod
from typing import NamedTuple


class Shape(NamedTuple):
    """A per-sample tensor shape: ``(H, W, C)`` or ``(N,)`` for a flat vector.

    Values in cnncalc are immutable. The few made once per layer (shapes, windows, nodes, layer results) are
    NamedTuples rather than frozen dataclasses: a frozen dataclass sets each field through object.__setattr__,
    which made a 100,000-layer spec miss its time budget.
    """

    dims: tuple[int, ...]

    @classmethod
    def spatial(cls, h: int, w: int, c: int) -> Shape:
        """An H x W x C shape."""
        return cls((h, w, c))

    @classmethod
    def flat(cls, n: int) -> Shape:
        """A flat vector of ``n`` elements."""
        return cls((n,))

    @property
    def is_flat(self) -> bool:
        """True for a flat vector."""
        return len(self.dims) == 1

    @property
    def h(self) -> int:
        """Height (1 for a flat vector)."""
        return self.dims[0] if len(self.dims) == 3 else 1

    @property
    def w(self) -> int:
        """Width (1 for a flat vector)."""
        return self.dims[1] if len(self.dims) == 3 else 1

    @property
    def c(self) -> int:
        """Channels (the length of a flat vector)."""
        return self.dims[-1]

    @property
    def numel(self) -> int:
        """Number of elements."""
        return prod(self.dims)

    def with_channels(self, c: int) -> Shape:
        """The same spatial size with ``c`` channels (a flat vector of ``c`` if flat)."""
        return Shape((*self.dims[:-1], c))

    def as_list(self) -> list[int]:
        """``[H, W, C]`` or ``[N]``, as JSON shows it."""
        return list(self.dims)

    def __str__(self) -> str:
        return "x".join(str(d) for d in self.dims)

    def __repr__(self) -> str:
        return f"Shape({self})"


class Window(NamedTuple):
    """One axis of a sliding window: the output size and how it was reached."""

    size: int  # input size on this axis
    kernel: int
    stride: int
    pad_before: int
    pad_after: int
    dilation: int
    ceil: bool
    out: int  # the output size

    @property
    def exact(self) -> Fraction:
        """(n + p0 + p1 - d(k-1) - 1)/s + 1 before rounding."""
        span = self.dilation * (self.kernel - 1) + 1
        return Fraction(self.size + self.pad_before + self.pad_after - span, self.stride) + 1

    @property
    def whole(self) -> bool:
        """True when no rounding was needed."""
        span = self.dilation * (self.kernel - 1) + 1
        return (self.size + self.pad_before + self.pad_after - span) % self.stride == 0

    def arithmetic(self) -> str:
        """The formula with the numbers substituted, e.g. ``(227 + 0 + 0 - 11)/4 + 1 = 55``."""
        span = str(self.kernel) if self.dilation == 1 else f"({self.dilation}x({self.kernel} - 1) + 1)"
        text = f"({self.size} + {self.pad_before} + {self.pad_after} - {span})/{self.stride} + 1"
        if self.whole:
            return f"{text} = {self.out}"
        value = float(self.exact)
        how = "ceil" if self.ceil else "floor"
        note = " (last window dropped: it would start in the padding)" if self._ceil_dropped else ""
        return f"{text} = {self.exact} = {value:.4g}, {how} -> {self.out}{note}"

    @property
    def _ceil_dropped(self) -> bool:
        return self.ceil and self.out != -((-self.exact.numerator) // self.exact.denominator)


def window_out(
    n: int, k: int, stride: int, pad_before: int, pad_after: int, dilation: int = 1, ceil: bool = False
) -> Window:
    """Output size of a window of ``k`` (dilated by ``dilation``) sliding at ``stride`` over ``n``.

    The result's ``out`` may be < 1; the caller decides whether that is an error.
    """
    span = dilation * (k - 1) + 1
    num = n + pad_before + pad_after - span
    if ceil:
        out = -((-num) // stride) + 1
        # PyTorch/Caffe rule: the last window must start inside the input or the leading pad.
        if (out - 1) * stride >= n + pad_before:
            out -= 1
    else:
        out = num // stride + 1
    return Window(n, k, stride, pad_before, pad_after, dilation, ceil, out)


def same_padding(n: int, k: int, stride: int, dilation: int = 1, lower: bool = False) -> tuple[int, int]:
    """TensorFlow SAME padding for one axis: (before, after); the odd pixel goes after (or before if ``lower``)."""
    out = -(-n // stride)
    total = max((out - 1) * stride + dilation * (k - 1) + 1 - n, 0)
    small, big = total // 2, total - total // 2
    return (big, small) if lower else (small, big)
