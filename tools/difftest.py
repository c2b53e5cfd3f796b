"""Differential test of cnncalc against PyTorch: random networks written both ways, compared layer by layer.

    python tools/difftest.py --networks 5000 --seed 1 --jobs 2 [--out DIR]

(run it in an environment that has torch and cnncalc, e.g. a throwaway venv with ``pip install -e .`` and
``pip install torch``). Each network is drawn at random, then written twice from one description: as a cnncalc
spec (YAML text) and as the source of an equivalent PyTorch ``nn.Module``. cnncalc counts the spec through its
Python API; PyTorch builds and runs the module. For EVERY layer the two must agree on output shape, params,
buffers, MACs, receptive field and effective stride. The summary prints networks, layers, per-op counts,
mismatches (0 expected) and the networks that one side accepts and the other rejects, grouped by reason; each
mismatch and disagreement is saved to ``--out`` as ``NNNN-KIND.yaml`` + ``.py`` (+ ``.txt``: what differed).

What is drawn
-------------
Every op of ``cnncalc.layers.LAYER_TYPES`` (:data:`OPS` below says how to draw each; an op of the registry
that the generator does not cover is an error, so a new op must be taught here first). Odd and unequal input
sizes; kernels, strides and dilations per axis; padding as ``P``, ``PhxPw``, ``same``/``same_lower``/
``valid`` and per side (``pad: {top, bottom, left, right}`` = ``nn.ZeroPad2d`` before the op); ceil mode;
groups; joins (concat, add, mean, mul with squeeze-excitation gates) of branches that reach the same grid by
different (also misaligned) windows, nested joins, ``from:`` inputs, ``from=`` skips, ``to=`` references;
flat vectors after fc/flatten. A few draws deliberately hit the known validity differences below.

The PyTorch side
----------------
Shapes, params (``p.numel()`` of the layer's module) and buffers (``b.numel()``, without BatchNorm's scalar
``num_batches_tracked``) come from the module run in eval mode. MACs follow the house conventions, by module
type, from forward hooks: ``Conv2d`` output elements x Cin/groups x kh x kw; ``ConvTranspose2d`` input
elements x Cout/groups x kh x kw (every input value times every weight it meets); ``Linear`` positions x in x
out; LeNet's RBF units inputs x outputs (its squared distances) and an ``opaque`` layer what it declares;
everything else 0.

The receptive field is measured, not computed: the support of the gradient of one output position (all its
channels; a flat output: all its values) with respect to the input. The measurement runs a twin of the module
in double precision with all-positive weights (1/fan-in) and an all-ones input, so no cancellation can hide
support, where

* the ops whose gradient does not show their support become linear ops with the same support: activations,
  softmax, dropout, LRN and the normalisations become identities (normalisation statistics are not part of a
  receptive field, as in cnncalc and the usual definition), max pooling becomes average pooling over the same
  windows, an RBF layer a positive linear map;
* a 1x1xC gate input of ``mul`` (squeeze-excitation) is detached: cnncalc follows Distill's convention that a
  gate does not widen the local field;
* every zero that padding introduces (conv/pool padding, ``ZeroPad2d``, positions a ceil-mode window reads
  beyond the padded input, the missing taps of a transposed convolution at the border, interpolation taps
  outside the input) carries ``marker * 1`` with a marker that is 0 in value but has a gradient.

A position's field *lies inside the input* when the gradient of the marker is 0: then no part of its theoretical
field fell on padding, and its support is exactly what the arithmetic says. Only such positions are compared
(the others are counted as "not inside"). The field size per axis is the extent (last - first + 1) of the
support; the effective stride is the shift of the support's first row/column between neighbouring positions.
On resampled grids (a fractional effective stride a/b after upsampling, pixel shuffle or a transposed
convolution) one output reads a varying number of inputs, and cnncalc reports the bound (the ceiling of the
exact size): there the tester measures b + 1 neighbouring positions and compares their largest extent with
cnncalc's field, and the shift over b steps with a. The twin of an interpolation reproduces PyTorch's index
arithmetic, and every run checks that, clamped, it reproduces ``F.interpolate`` (else that is a tester error).

Not compared (each counted in the summary): fields cnncalc reports as unknown (after ``opaque``); positions
whose field does not lie inside the input; fields downstream of a join that cnncalc warns about (W201:
misaligned inputs; cnncalc then reports the largest input field, not their hull); strides of 1-wide outputs.

Known, deliberate differences (grouped under these names in the summary, not counted as mismatches)
------------------------------------------------------------------------------------------------------
* ``pool-pad-over-half``: PyTorch refuses pooling padding above half the kernel (kernel // 2 of the undilated
  kernel). cnncalc now refuses it too, with PyTorch's reason, so both sides reject these draws, except when the
  padding is written per side (``pad: {top: 1, bottom: 1, ...}``): cnncalc accepts that form, the tester's
  module passes the (symmetric) amounts to the pool, which PyTorch refuses.
* ``ceil-overhang``: a ceil-mode pool whose kernel overhangs the padded input by less than the stride gives a
  1x1 output in PyTorch; cnncalc rejects it (the kernel is larger than the padded input).
* ``flat-lrn``, ``flat-shuffle``: LRN and channel shuffle of a flat vector: PyTorch wants (N, C, H, W). cnncalc
  now refuses them too (both reject).
* ``avgpool-dilation``: cnncalc accepts a dilated average pool; PyTorch's ``AvgPool2d`` has no dilation.
* ``norm-single-value``: PyTorch refuses GroupNorm/InstanceNorm when a group holds a single value (a 1x1 map,
  one channel per group of a flat vector). cnncalc now refuses it too (both reject).
* ``lrn-k`` (a cnncalc bug, reported): ``lrn 5 k=2`` is rejected, because ``k`` is a keyword alias of ``kernel``
  on every op, so LRN's own ``k`` cannot be written.
* ``asym-pad-ceil``: a ceil-mode pool with per-side padding. cnncalc's ceil rule lets no window start in the
  trailing padding; ``ZeroPad2d`` + a ceil-mode pool makes that padding part of the input, where a window may
  start, so the output can be one larger (and a later layer may then fail in PyTorch).
* ``adaptive-approx``: fields after an adaptive pool whose sizes do not divide: cnncalc documents its rule as
  "about ceil(n/o) wide, n//o apart"; PyTorch's bins run from floor(i*n/o) to ceil((i+1)*n/o).
* ``split-channels``: a measured field smaller than cnncalc's after a ``split``. cnncalc keeps one field per
  layer, the largest over its channels; a split may keep only channels whose field is smaller (after a
  concat of branches, or the sub-pixel channels of ``pixel_unshuffle``).
* ``flat-gate``: cnncalc requires a mul gate to be 1x1xC; the tester's PyTorch module reshapes a flat vector of C
  values into one (as SE code does), so that draw is a cnncalc rejection.
* ``static-field``: a field that does not move from one position to the next (a 1x1 map upsampled: every output
  reads the same value), where cnncalc still reports a nominal effective stride.
* ``resampled-bound``: on a resampled grid a measured field *smaller* than cnncalc's: cnncalc reports a bound
  there (e.g. bilinear samples that fall on whole pixels read one input, not two). A measured field *larger*
  than cnncalc's is a mismatch.

Mismatches are grouped by kind and cause, and one network of each group is minimised (items, branches and
input size removed while the mismatch persists) and printed; ``--only SEED:INDEX`` reruns one network.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# =========================================================================== the network description
#
# A shape is (H, W, C) or (N,) for a flat vector. A network is a tree of items: an Op (one layer) or a Join
# (branches that read the same input, plus `from:` inputs, joined). Layers are named n1, n2, ... and joins
# j1, j2, ...; a name is the last segment of the layer's cnncalc path and the attribute of its PyTorch module.

Shape = tuple[int, ...]


class DrawError(Exception):
    """The generator's own shape model says the network is invalid (the draw is retried)."""


@dataclass
class Op:
    name: str
    op: str
    a: dict[str, Any]
    src: str | None = None  # `from=NAME`: the input is an earlier layer, not the previous item


@dataclass
class Join:
    name: str
    kind: str  # concat, add, mean, mul
    branches: list[list[Any]]
    refs: list[str] = field(default_factory=list)  # `from: [..]`


@dataclass
class Net:
    input: Shape
    items: list[Any]
    seed: str = ""


@dataclass
class Node:
    """One layer after propagation: its inputs (layer names or "x"), their shapes and its output shape."""

    name: str
    op: str
    a: dict[str, Any]
    inputs: list[str]
    in_shapes: list[Shape]
    out: Shape
    tags: set[str]


def flat(s: Shape) -> bool:
    return len(s) == 1


def numel(s: Shape) -> int:
    return math.prod(s)


def chans(s: Shape) -> int:
    return s[-1]


def fmt_shape(s: Shape) -> str:
    return "x".join(map(str, s))


def pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def fmt_dim(v: Any) -> str:
    a, b = pair(v)
    return str(a) if isinstance(v, int) else f"{a}x{b}"


def fmt_num(v: Fraction | int) -> str:
    v = Fraction(v)
    if v.denominator == 1:
        return str(v.numerator)
    text = f"{float(v):.6g}"
    assert Fraction(text) == v, v
    return text


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


# --------------------------------------------------------------------------- padding and windows


def tf_same(n: int, k: int, s: int, d: int, lower: bool) -> tuple[int, int]:
    """TensorFlow SAME padding of one axis (before, after); the odd pixel after (before if ``lower``)."""
    out = -(-n // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    small, big = total // 2, total - total // 2
    return (big, small) if lower else (small, big)


def sides(pad: Any, x: Shape, k: tuple[int, int], s: tuple[int, int], d: tuple[int, int]) -> tuple[int, ...]:
    """Padding as (top, bottom, left, right)."""
    kind = pad[0]
    if kind == "int":
        return (pad[1],) * 4
    if kind == "axis":
        return (pad[1], pad[1], pad[2], pad[2])
    if kind == "sides":
        return tuple(pad[1:])
    if kind == "valid":
        return (0, 0, 0, 0)
    lower = kind == "same_lower"
    return (*tf_same(x[0], k[0], s[0], d[0], lower), *tf_same(x[1], k[1], s[1], d[1], lower))


def pad_text(pad: Any) -> Any:
    kind = pad[0]
    if kind == "int":
        return str(pad[1])
    if kind == "axis":
        return f"{pad[1]}x{pad[2]}"
    if kind == "sides":
        return {"top": pad[1], "bottom": pad[2], "left": pad[3], "right": pad[4]}
    return kind


def symmetric(p: tuple[int, ...]) -> bool:
    return p[0] == p[1] and p[2] == p[3]


def window_out(n: int, k: int, s: int, p0: int, p1: int, d: int, ceil: bool) -> int:
    """cnncalc's and PyTorch's output size (ceil: the last window must start in the input or leading pad)."""
    span = d * (k - 1) + 1
    if n + p0 + p1 < span:
        raise DrawError(f"{n}+{p0}+{p1} < kernel span {span}")
    num = n + p0 + p1 - span
    if not ceil:
        return num // s + 1
    out = -(-num // s) + 1
    if (out - 1) * s >= n + p0:
        out -= 1
    return out


def torch_ceil_out(n: int, k: int, s: int, p: int, d: int) -> int:
    """PyTorch's pooling_output_shape with ceil_mode and symmetric padding p (no check that it is >= 1)."""
    span = d * (k - 1) + 1
    num = n + 2 * p - span
    out = -(-num // s) + 1
    if (out - 1) * s >= n + p:
        out -= 1
    return out


# =========================================================================== op definitions
#
# Each op: draw(g, x) -> attributes for an input of shape x (None: not applicable); shape(a, x, refs) -> output
# shape (raise DrawError); spec(a) -> (positional texts, {key: text or mapping}); torch(a, x, refs) -> the Python
# expression that builds the equivalent module; tags(a, x) -> expected-difference tags.


@dataclass
class OpDef:
    name: str
    draw: Callable[[Gen, Shape], dict[str, Any] | None]
    shape: Callable[[dict[str, Any], Shape, dict[str, Shape]], Shape]
    spec: Callable[[dict[str, Any]], tuple[list[str], dict[str, Any]]]
    torch: Callable[[dict[str, Any], Shape, dict[str, Shape]], str]
    tags: Callable[[dict[str, Any], Shape], set[str]] = lambda a, x: set()
    weight: float = 1.0


OPS: dict[str, OpDef] = {}


def op(name: str, weight: float = 1.0, tags: Callable[[dict[str, Any], Shape], set[str]] | None = None) -> Callable:
    def deco(cls: type) -> type:
        OPS[name] = OpDef(
            name, cls.draw, cls.shape, cls.spec, cls.torch, tags or getattr(cls, "tags", lambda a, x: set()), weight
        )
        return cls

    return deco


class Gen:
    """The random choices, with the generator's knobs."""

    def __init__(self, rng: random.Random, max_hw: int = 48, max_c: int = 24) -> None:
        self.rng = rng
        self.max_hw = max_hw
        self.max_c = max_c
        self.names = Counter()  # type: Counter[str]
        self.edge = 0.03  # probability of a deliberately edgy draw (known validity differences)

    def name(self, prefix: str) -> str:
        self.names[prefix] += 1
        return f"{prefix}{self.names[prefix]}"

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, seq: Any) -> Any:
        return self.rng.choice(list(seq))

    def kernel(self, big: bool = True) -> Any:
        r = self.rng
        if self.chance(0.2):
            return (r.choice([1, 2, 3, 5]), r.choice([1, 2, 3, 7]))
        return r.choice([1, 2, 3, 3, 3, 4, 5, 7] if big else [1, 2, 2, 3, 3])

    def stride(self) -> Any:
        if self.chance(0.1):
            return (self.pick([1, 2]), self.pick([1, 2, 3]))
        return self.pick([1, 1, 1, 2, 2, 3])

    def dilation(self) -> Any:
        if self.chance(0.75):
            return 1
        if self.chance(0.2):
            return (self.pick([1, 2]), self.pick([1, 2, 3]))
        return self.pick([2, 2, 3])

    def pad(self, k: Any, d: Any, words: bool = True) -> Any:
        kh, kw = pair(k)
        dh, dw = pair(d)
        hh, hw = dh * (kh - 1) // 2, dw * (kw - 1) // 2
        r = self.rng.random()
        if r < 0.4:
            return ("int", self.rng.randint(0, max(hh, hw) + (1 if self.chance(0.2) else 0)))
        if r < 0.55:
            return ("axis", self.rng.randint(0, hh + 1), self.rng.randint(0, hw + 1))
        if r < 0.75:
            return ("sides", *(self.rng.randint(0, max(h, 0) + 1) for h in (hh, hh, hw, hw)))
        if words and r < 0.9:
            return (self.pick(["same", "same", "same_lower", "valid"]),)
        return ("int", 0)

    def channels(self, lo: int = 1) -> int:
        return self.rng.randint(lo, self.max_c)


def spatial_ok(x: Shape) -> bool:
    return not flat(x)


# --------------------------------------------------------------------------- conv family


def _conv_geometry(a: dict[str, Any], x: Shape, ceil: bool = False) -> tuple[int, int, tuple[int, ...]]:
    k, s, d = pair(a["kernel"]), pair(a.get("stride") or a["kernel"]), pair(a.get("dilation", 1))
    p = sides(a.get("pad", ("int", 0)), x, k, s, d)
    h = window_out(x[0], k[0], s[0], p[0], p[1], d[0], ceil)
    w = window_out(x[1], k[1], s[1], p[2], p[3], d[1], ceil)
    return h, w, p


def _window_kw(a: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for key in keys:
        if key not in a or a[key] is None:
            continue
        v = a[key]
        if key == "pad":
            if v == ("int", 0) and "pad0" not in a:
                continue
            kw["pad"] = pad_text(v)
        elif key in ("stride", "dilation", "out_pad") and v == 1:
            continue
        elif isinstance(v, bool):
            kw[key] = "true" if v else "false"
        elif isinstance(v, (int, tuple)):
            kw[key] = fmt_dim(v)
        else:
            kw[key] = str(v)
    return kw


def _torch_pad(a: dict[str, Any], x: Shape, name: str = "pad") -> tuple[tuple[int, ...], bool]:
    k, s, d = pair(a["kernel"]), pair(a.get("stride") or a["kernel"]), pair(a.get("dilation", 1))
    p = sides(a.get(name, ("int", 0)), x, k, s, d)
    return p, symmetric(p)


def _zeropad(p: tuple[int, ...]) -> str:
    return f"nn.ZeroPad2d(({p[2]}, {p[3]}, {p[0]}, {p[1]}))"


def _draw_window(g: Gen, x: Shape, a: dict[str, Any], ceil: bool = False, tries: int = 0) -> dict[str, Any] | None:
    try:
        _conv_geometry(a, x, ceil)
    except DrawError:
        return None
    return a


@op("conv", weight=4)
class _Conv:
    @staticmethod
    def draw(g: Gen, x: Shape) -> dict[str, Any] | None:
        if flat(x):
            return None
        cin = chans(x)
        groups = 1 if g.chance(0.7) else g.pick(divisors(cin))
        out = groups * g.rng.randint(1, max(1, g.max_c // groups))
        k = g.kernel()
        d = g.dilation()
        a = {"out": out, "kernel": k, "stride": g.stride(), "pad": g.pad(k, d), "dilation": d, "groups": groups}
        a["bias"] = g.chance(0.7)
        if groups == 1 and cin <= 6 and g.chance(0.06):
            a["table"] = [sorted(g.rng.sample(range(cin), g.rng.randint(1, cin))) for _ in range(out)]
            del a["groups"]
        return _draw_window(g, x, a)

    @staticmethod
    def shape(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> Shape:
        if flat(x):
            raise DrawError("conv of a flat vector")
        gr = a.get("groups", 1)
        if chans(x) % gr or a["out"] % gr:
            raise DrawError("groups")
        if "table" in a and any(i >= chans(x) for row in a["table"] for i in row):
            raise DrawError("table")
        h, w, _ = _conv_geometry(a, x)
        return (h, w, a["out"])

    @staticmethod
    def spec(a: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        kw = _window_kw(a, ("stride", "pad", "dilation"))
        if a.get("groups", 1) != 1:
            kw["groups"] = str(a["groups"])
        if not a["bias"]:
            kw["bias"] = "false"
        if "table" in a:
            kw["table"] = "[" + ",".join("[" + ",".join(map(str, row)) + "]" for row in a["table"]) + "]"
        return [str(a["out"]), fmt_dim(a["kernel"])], kw

    @staticmethod
    def torch(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> str:
        k, s, d = pair(a["kernel"]), pair(a["stride"]), pair(a["dilation"])
        p, sym = _torch_pad(a, x)
        if "table" in a:
            return f"TableConv({a['table']}, {k}, stride={s}, padding={p}, dilation={d}, bias={a['bias']})"
        pad = a["pad"]
        if pad[0] == "same" and s == (1, 1):
            padding = "'same'"  # PyTorch's own SAME (stride 1 only)
        elif pad[0] == "valid":
            padding = "'valid'"
        elif sym:
            padding = f"({p[0]}, {p[2]})"
        else:
            padding = "0"
        conv = (
            f"nn.Conv2d({chans(x)}, {a['out']}, {k}, stride={s}, padding={padding}, dilation={d}, "
            f"groups={a.get('groups', 1)}, bias={a['bias']})"
        )
        return conv if (sym or padding == "'same'") else f"nn.Sequential({_zeropad(p)}, {conv})"


@op("dwconv", weight=2)
class _DwConv:
    @staticmethod
    def draw(g: Gen, x: Shape) -> dict[str, Any] | None:
        if flat(x):
            return None
        k = g.kernel()
        d = g.dilation()
        mult = 1 if g.chance(0.7) else g.rng.randint(2, 3)
        a = {"kernel": k, "stride": g.stride(), "pad": g.pad(k, d), "dilation": d, "mult": mult, "bias": g.chance(0.5)}
        if chans(x) * mult > 2 * g.max_c:
            a["mult"] = 1
        return _draw_window(g, x, a)

    @staticmethod
    def shape(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> Shape:
        if flat(x):
            raise DrawError("dwconv of a flat vector")
        h, w, _ = _conv_geometry(a, x)
        return (h, w, chans(x) * a["mult"])

    @staticmethod
    def spec(a: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        kw = _window_kw(a, ("stride", "pad", "dilation"))
        if a["mult"] != 1:
            kw["mult"] = str(a["mult"])
        if not a["bias"]:
            kw["bias"] = "false"
        return [fmt_dim(a["kernel"])], kw

    @staticmethod
    def torch(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> str:
        c = chans(x)
        b = dict(a, out=c * a["mult"], groups=c)
        return _Conv.torch(b, x, refs)


@op("deconv", weight=2)
class _Deconv:
    @staticmethod
    def draw(g: Gen, x: Shape) -> dict[str, Any] | None:
        if flat(x) or max(x[0], x[1]) * 3 > g.max_hw:
            return None
        cin = chans(x)
        groups = 1 if g.chance(0.75) else g.pick(divisors(cin))
        out = groups * g.rng.randint(1, max(1, g.max_c // groups))
        k = g.kernel(big=False)
        s = g.pick([1, 2, 2, 2, 3]) if g.chance(0.9) else (g.pick([1, 2]), g.pick([1, 2, 3]))
        d = g.dilation()
        kh, kw = pair(k)
        pad = (g.rng.randint(0, kh // 2 + 1), g.rng.randint(0, kw // 2 + 1))
        pad = pad[0] if pad[0] == pad[1] and g.chance(0.7) else pad
        sh, sw = pair(s)
        dh, dw = pair(d)
        op_ = (g.rng.randint(0, max(sh, dh) - 1), g.rng.randint(0, max(sw, dw) - 1)) if g.chance(0.4) else 0
        if op_ != 0 and op_[0] == op_[1]:
            op_ = op_[0]
        a = {"out": out, "kernel": k, "stride": s, "pad": pad, "out_pad": op_, "dilation": d, "groups": groups}
        a["bias"] = g.chance(0.6)
        try:
            _Deconv.shape(a, x, {})
        except DrawError:
            return None
        return a

    @staticmethod
    def shape(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> Shape:
        if flat(x):
            raise DrawError("deconv of a flat vector")
        gr = a["groups"]
        if chans(x) % gr or a["out"] % gr:
            raise DrawError("groups")
        dims = []
        for i in range(2):
            k, s, p, o, d = (pair(a[key])[i] for key in ("kernel", "stride", "pad", "out_pad", "dilation"))
            if o >= max(s, d):
                raise DrawError("out_pad")
            n = (x[i] - 1) * s - 2 * p + d * (k - 1) + o + 1
            if n < 1:
                raise DrawError("empty")
            dims.append(n)
        return (dims[0], dims[1], a["out"])

    @staticmethod
    def spec(a: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        kw: dict[str, Any] = {}
        for key in ("stride", "pad", "out_pad", "dilation"):
            if a[key] != (0 if key in ("pad", "out_pad") else 1):
                kw[key] = fmt_dim(a[key])
        if a["groups"] != 1:
            kw["groups"] = str(a["groups"])
        if not a["bias"]:
            kw["bias"] = "false"
        return [str(a["out"]), fmt_dim(a["kernel"])], kw

    @staticmethod
    def torch(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> str:
        k, s, p, o, d = (pair(a[key]) for key in ("kernel", "stride", "pad", "out_pad", "dilation"))
        return (
            f"nn.ConvTranspose2d({chans(x)}, {a['out']}, {k}, stride={s}, padding={p}, output_padding={o}, "
            f"groups={a['groups']}, bias={a['bias']}, dilation={d})"
        )


def _fc_draw(g: Gen, x: Shape) -> dict[str, Any] | None:
    if numel(x) > 4096:
        return None
    return {"out": g.rng.randint(1, 2 * g.max_c), "bias": g.chance(0.8)}


@op("fc", weight=1.5)
class _Fc:
    draw = staticmethod(_fc_draw)

    @staticmethod
    def shape(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> Shape:
        return (a["out"],)

    @staticmethod
    def spec(a: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        return [str(a["out"])], ({} if a["bias"] else {"bias": "false"})

    @staticmethod
    def torch(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> str:
        return f"nn.Sequential(nn.Flatten(), nn.Linear({numel(x)}, {a['out']}, bias={a['bias']}))"


@op("linear", weight=1.5)
class _Linear:
    @staticmethod
    def draw(g: Gen, x: Shape) -> dict[str, Any] | None:
        return {"out": g.rng.randint(1, g.max_c), "bias": g.chance(0.8)}

    @staticmethod
    def shape(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> Shape:
        return (*x[:-1], a["out"])

    spec = _Fc.spec

    @staticmethod
    def torch(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> str:
        lin = f"nn.Linear({chans(x)}, {a['out']}, bias={a['bias']})"
        return lin if flat(x) else f"ChannelsLast({lin})"


# --------------------------------------------------------------------------- pooling


def _pool_tags(a: dict[str, Any], x: Shape) -> set[str]:
    tags: set[str] = set()
    k, d = pair(a["kernel"]), pair(a.get("dilation", 1))
    s = pair(a.get("stride") or a["kernel"])
    p = sides(a["pad"], x, k, s, d)
    if symmetric(p):
        for i, pp in enumerate((p[0], p[2])):
            span = d[i] * (k[i] - 1) + 1
            if pp > k[i] // 2:  # PyTorch: pad <= kernel/2 (in whole numbers, of the undilated kernel)
                tags.add("pool-pad-over-half")
            if a.get("ceil") and span - s[i] < x[i] + 2 * pp < span:
                tags.add("ceil-overhang")
    elif a.get("ceil"):
        tags.add("asym-pad-ceil")
    if a["op"] == "avgpool" and d != (1, 1):
        tags.add("avgpool-dilation")
    return tags


def _pool_draw(kind: str) -> Callable[[Gen, Shape], dict[str, Any] | None]:
    def draw(g: Gen, x: Shape) -> dict[str, Any] | None:
        if flat(x):
            return None
        k = g.kernel(big=False) if g.chance(0.8) else g.pick([3, 4, 5])
        d = g.dilation() if kind == "maxpool" else (2 if kind == "avgpool" and g.chance(g.edge) else 1)
        stride = None if g.chance(0.4) else g.stride()
        kh, kw = pair(k)
        dh, dw = pair(d)
        if g.chance(0.7):
            pad: Any = ("int", g.rng.randint(0, min(kh, kw) // 2))
        elif g.chance(0.5):
            pad = ("axis", g.rng.randint(0, kh // 2), g.rng.randint(0, kw // 2))
        else:
            pad = ("sides", *(g.rng.randint(0, v // 2 + 1) for v in (kh, kh, kw, kw)))
        if g.chance(g.edge):  # above half the kernel: PyTorch refuses it
            pad = ("int", min(kh, kw) // 2 + 1)
        a = {"op": kind, "kernel": k, "stride": stride, "pad": pad, "dilation": d, "ceil": g.chance(0.35)}
        if kind != "maxpool" and d == 1:
            del a["dilation"]
        if g.chance(g.edge * 3) and max(x[0], x[1]) < 8:  # ceil overhang: a kernel just larger than the input
            a.update(kernel=(x[0] + 1, x[1] + 1), stride=2 + (x[0] + x[1]) % 2, ceil=True, pad=("int", 0))
            if kind == "maxpool":
                a["dilation"] = 1
            return a
        try:
            _conv_geometry(a, x, a["ceil"])
        except DrawError:
            return None
        return a

    return draw


def _pool_shape(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> Shape:
    if flat(x):
        raise DrawError("pooling a flat vector")
    k, s, d = pair(a["kernel"]), pair(a.get("stride") or a["kernel"]), pair(a.get("dilation", 1))
    p = sides(a["pad"], x, k, s, d)
    out = []
    for i in range(2):
        span = d[i] * (k[i] - 1) + 1
        n, p0, p1 = x[i], p[2 * i], p[2 * i + 1]
        if a.get("ceil") and span - s[i] < n + p0 + p1 < span:
            out.append(1)  # PyTorch's output; cnncalc rejects it (the `ceil-overhang` difference)
        else:
            out.append(window_out(n, k[i], s[i], p0, p1, d[i], a.get("ceil", False)))
    return (out[0], out[1], chans(x))


def _pool_spec(a: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    kw = _window_kw(a, ("stride", "pad", "dilation"))
    if a.get("stride") is not None and a["stride"] == 1:
        kw["stride"] = "1"
    if a.get("ceil"):
        kw["ceil"] = "true"
    return [fmt_dim(a["kernel"])], kw


def _pool_torch(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> str:
    k, d = pair(a["kernel"]), pair(a.get("dilation", 1))
    s = pair(a.get("stride") or a["kernel"])
    p, sym = _torch_pad(a, x)
    padding = (p[0], p[2]) if sym else (0, 0)
    if a["op"] == "maxpool":
        pool = f"nn.MaxPool2d({k}, stride={s}, padding={padding}, dilation={d}, ceil_mode={a['ceil']})"
    elif a["op"] == "avgpool":
        if d != (1, 1):
            pool = f"NoEquivalent('avgpool-dilation: PyTorch has no dilated average pooling (dilation={d})')"
        else:
            pool = f"nn.AvgPool2d({k}, stride={s}, padding={padding}, ceil_mode={a['ceil']})"
    else:
        pool = f"SubsamplePool({chans(x)}, {k}, stride={s}, padding={padding}, ceil_mode={a['ceil']})"
    return pool if sym else f"nn.Sequential({_zeropad(p)}, {pool})"


for _kind, _w in (("maxpool", 2.5), ("avgpool", 1.5), ("subsample_pool", 0.7)):
    OPS[_kind] = OpDef(_kind, _pool_draw(_kind), _pool_shape, _pool_spec, _pool_torch, _pool_tags, _w)


def _grid_only(g: Gen, x: Shape) -> dict[str, Any] | None:
    return None if flat(x) else {}


def _global_shape(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> Shape:
    if flat(x):
        raise DrawError("global pooling of a flat vector")
    return (1, 1, chans(x))


def _no_args(a: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    return [], {}


OPS["gap"] = OpDef("gap", _grid_only, _global_shape, _no_args, lambda a, x, r: "nn.AdaptiveAvgPool2d(1)", weight=0.8)
OPS["gmp"] = OpDef("gmp", _grid_only, _global_shape, _no_args, lambda a, x, r: "nn.AdaptiveMaxPool2d(1)", weight=0.5)


@op("adaptive_avgpool")
class _Adaptive:
    @staticmethod
    def draw(g: Gen, x: Shape) -> dict[str, Any] | None:
        if flat(x):
            return None
        if g.chance(0.25):  # enlarging
            return {"out": (min(x[0] + g.rng.randint(0, 4), g.max_hw), min(x[1] + g.rng.randint(0, 4), g.max_hw))}
        if g.chance(0.4):  # divides
            return {"out": (g.pick(divisors(x[0])), g.pick(divisors(x[1])))}
        return {"out": (g.rng.randint(1, x[0]), g.rng.randint(1, x[1]))}

    @staticmethod
    def shape(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> Shape:
        if flat(x):
            raise DrawError("adaptive pooling of a flat vector")
        return (*a["out"], chans(x))

    @staticmethod
    def spec(a: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        h, w = a["out"]
        return [str(h) if h == w else f"{h}x{w}"], {}

    @staticmethod
    def torch(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> str:
        return f"nn.AdaptiveAvgPool2d({tuple(a['out'])})"


@op("rbf", weight=0.4)
class _Rbf:
    @staticmethod
    def draw(g: Gen, x: Shape) -> dict[str, Any] | None:
        return None if numel(x) > 2048 else {"out": g.rng.randint(1, 12)}

    @staticmethod
    def shape(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> Shape:
        return (a["out"],)

    @staticmethod
    def spec(a: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        return [str(a["out"])], {}

    @staticmethod
    def torch(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> str:
        return f"RBF({numel(x)}, {a['out']})"


# --------------------------------------------------------------------------- normalisation and element-wise


def _same(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> Shape:
    return x


def _always(g: Gen, x: Shape) -> dict[str, Any] | None:
    return {}


def _kw_spec(pos: tuple[str, ...] = (), keys: tuple[str, ...] = ()) -> Callable:
    def spec(a: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        kw = {}
        for k in keys:
            if k in a:
                v = a[k]
                kw[k] = ("true" if v else "false") if isinstance(v, bool) else fmt_num(v)
        return [fmt_num(a[p]) if not isinstance(a[p], str) else a[p] for p in pos], kw

    return spec


OPS["bn"] = OpDef(
    "bn",
    lambda g, x: {"eps": Fraction(1, 1000)} if g.chance(0.2) else {},
    _same,
    _kw_spec(keys=("eps",)),
    lambda a, x, r: (
        f"nn.BatchNorm1d({x[0]}, eps={float(a.get('eps', Fraction(1, 100000)))!r})"
        if flat(x)
        else f"nn.BatchNorm2d({chans(x)}, eps={float(a.get('eps', Fraction(1, 100000)))!r})"
    ),
    weight=2,
)


def _lrn_draw(g: Gen, x: Shape) -> dict[str, Any] | None:
    if flat(x) and not g.chance(g.edge * 3):
        return None
    a: dict[str, Any] = {"size": g.rng.randint(1, 7)}
    if g.chance(0.3):
        a.update(alpha=Fraction(1, 1000), beta=Fraction(1, 2))
        if g.chance(0.3):
            a["k"] = 2
    return a


OPS["lrn"] = OpDef(
    "lrn",
    _lrn_draw,
    _same,
    _kw_spec(("size",), ("alpha", "beta", "k")),
    lambda a, x, r: (
        f"nn.LocalResponseNorm({a['size']}, alpha={float(a.get('alpha', Fraction(1, 10000)))!r}, "
        f"beta={float(a.get('beta', Fraction(3, 4)))!r}, k={float(a.get('k', 1))!r})"
    ),
    lambda a, x: ({"flat-lrn"} if flat(x) else set()) | ({"lrn-k"} if "k" in a else set()),
    weight=0.7,
)

_ACTIVATIONS = {
    "relu": "nn.ReLU()",
    "relu6": "nn.ReLU6()",
    "sigmoid": "nn.Sigmoid()",
    "tanh": "nn.Tanh()",
    "elu": "nn.ELU()",
    "gelu": "nn.GELU()",
    "swish": "nn.SiLU()",
    "hswish": "nn.Hardswish()",
    "hsigmoid": "nn.Hardsigmoid()",
    "softmax": "nn.Softmax(dim=1)",
    "identity": "nn.Identity()",
}
for _name, _expr in _ACTIVATIONS.items():
    OPS[_name] = OpDef(
        _name, _always, _same, _no_args, (lambda e: lambda a, x, r: e)(_expr), weight=0.6 if _name != "relu" else 2
    )

OPS["leaky"] = OpDef(
    "leaky",
    lambda g, x: {"slope": g.pick([Fraction(1, 100), Fraction(1, 5), Fraction(3, 10)])},
    _same,
    _kw_spec(("slope",)),
    lambda a, x, r: f"nn.LeakyReLU({float(a['slope'])!r})",
    weight=0.5,
)
OPS["dropout"] = OpDef(
    "dropout",
    lambda g, x: {"p": g.pick([Fraction(1, 2), Fraction(1, 5), Fraction(0)])},
    _same,
    _kw_spec(("p",)),
    lambda a, x, r: f"nn.Dropout({float(a['p'])!r})",
    weight=0.5,
)
OPS["scale"] = OpDef(
    "scale",
    lambda g, x: {"factor": g.pick([Fraction(1, 5), Fraction(17, 100), Fraction(-2), Fraction(3)])},
    _same,
    _kw_spec(("factor",)),
    lambda a, x, r: f"Scale({float(a['factor'])!r})",
    weight=0.5,
)
OPS["flatten"] = OpDef(
    "flatten",
    lambda g, x: None if numel(x) > 4096 else {},
    lambda a, x, r: (numel(x),),
    _no_args,
    lambda a, x, r: "nn.Flatten()",
    weight=0.6,
)


def _shuffle_draw(g: Gen, x: Shape) -> dict[str, Any] | None:
    if flat(x) and not g.chance(g.edge * 3):
        return None
    return {"groups": g.pick(divisors(chans(x)))}


def _divides(key: str) -> Callable[[dict[str, Any], Shape, dict[str, Shape]], Shape]:
    def shape(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> Shape:
        if chans(x) % a[key]:
            raise DrawError(f"{key} must divide the channels")
        return x

    return shape


OPS["shuffle"] = OpDef(
    "shuffle",
    _shuffle_draw,
    _divides("groups"),
    _kw_spec(("groups",)),
    lambda a, x, r: f"nn.ChannelShuffle({a['groups']})",
    lambda a, x: {"flat-shuffle"} if flat(x) else set(),
    weight=0.7,
)


def _split_draw(g: Gen, x: Shape) -> dict[str, Any] | None:
    parts = g.pick(divisors(chans(x)))
    return {"parts": parts, "index": g.rng.randint(0, parts - 1)}


def _split_shape(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> Shape:
    if chans(x) % a["parts"] or a["index"] >= a["parts"]:
        raise DrawError("split")
    return (*x[:-1], chans(x) // a["parts"])


OPS["split"] = OpDef(
    "split",
    _split_draw,
    _split_shape,
    lambda a: ([str(a["parts"])], {"index": str(a["index"])} if a["index"] else {}),
    lambda a, x, r: f"Split({a['parts']}, {a['index']})",
    weight=0.7,
)


def _opaque_draw(g: Gen, x: Shape) -> dict[str, Any] | None:
    a: dict[str, Any] = {"params": g.rng.randint(0, 500) if g.chance(0.7) else 0, "macs": g.rng.randint(0, 10**6)}
    if g.chance(0.3):
        a["out"] = (g.rng.randint(1, 64),)
    elif g.chance(0.5) and not flat(x):
        a["out"] = (g.rng.randint(1, 16), g.rng.randint(1, 16), g.rng.randint(1, 8))
    return a


OPS["opaque"] = OpDef(
    "opaque",
    _opaque_draw,
    lambda a, x, r: a.get("out", x),
    lambda a: (
        [],
        {**({"out": fmt_shape(a["out"])} if "out" in a else {}), "params": str(a["params"]), "macs": str(a["macs"])},
    ),
    lambda a, x, r: f"Opaque({tuple(a.get('out', x))}, {a['params']}, {a['macs']})",
    weight=0.4,
)

# --------------------------------------------------------------------------- new ops of issue 9


@op("upsample", weight=1.2)
class _Upsample:
    SCALES = (2, 2, 3, Fraction(3, 2), Fraction(1, 2), Fraction(5, 4), Fraction(7, 10), Fraction(29, 100))

    @staticmethod
    def draw(g: Gen, x: Shape) -> dict[str, Any] | None:
        if flat(x):
            return None
        mode = g.pick(["nearest", "nearest", "bilinear", "bicubic"])
        a: dict[str, Any] = {"mode": mode}
        if mode != "nearest" and g.chance(0.3):
            a["align_corners"] = True
        r = g.rng.random()
        if r < 0.7:
            a["scale"] = g.pick(_Upsample.SCALES)
        else:
            a["size"] = (g.rng.randint(1, 2 * x[0]), g.rng.randint(1, 2 * x[1]))
        try:
            out = _Upsample.shape(a, x, {})
        except DrawError:
            return None
        return a if max(out[0], out[1]) <= g.max_hw else None

    @staticmethod
    def shape(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> Shape:
        if flat(x):
            raise DrawError("upsample of a flat vector")
        if "scale" in a:
            sh, sw = pair(a["scale"]) if isinstance(a["scale"], tuple) else (a["scale"], a["scale"])
            h, w = math.floor(x[0] * Fraction(sh)), math.floor(x[1] * Fraction(sw))
        elif "size" in a:
            h, w = a["size"]
        else:
            t = refs[a["to"]]
            if flat(t):
                raise DrawError("to= a flat layer")
            h, w = t[0], t[1]
        if h < 1 or w < 1:
            raise DrawError("empty")
        return (h, w, chans(x))

    @staticmethod
    def spec(a: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        pos: list[str] = []
        kw: dict[str, Any] = {}
        if "scale" in a:
            pos.append(fmt_dim(a["scale"]) if isinstance(a["scale"], tuple) else fmt_num(a["scale"]))
        elif "size" in a:
            kw["size"] = fmt_dim(tuple(a["size"]))
        else:
            kw["to"] = a["to"]
        if a["mode"] != "nearest":
            kw["mode"] = a["mode"]
        if a.get("align_corners"):
            kw["align_corners"] = "true"
        return pos, kw

    @staticmethod
    def torch(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> str:
        align = f", align_corners={bool(a.get('align_corners'))}" if a["mode"] != "nearest" else ""
        if "scale" in a:
            s = a["scale"]
            factor = (
                f"({float(s[0])!r}, {float(s[1])!r})" if isinstance(s, tuple) else repr(float(s))
            )  # PyTorch takes a float
            return f"nn.Upsample(scale_factor={factor}, mode={a['mode']!r}{align})"
        h, w, _ = _Upsample.shape(a, x, refs)
        return f"nn.Upsample(size=({h}, {w}), mode={a['mode']!r}{align})"


def _pixel_shuffle_draw(g: Gen, x: Shape) -> dict[str, Any] | None:
    if flat(x):
        return None
    rs = [r for r in (2, 3) if chans(x) % (r * r) == 0 and max(x[0], x[1]) * r <= g.max_hw]
    return {"factor": g.pick(rs)} if rs else ({"factor": 1} if g.chance(0.2) else None)


def _pixel_shuffle_shape(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> Shape:
    r = a["factor"]
    if flat(x) or chans(x) % (r * r):
        raise DrawError("pixel_shuffle")
    return (x[0] * r, x[1] * r, chans(x) // (r * r))


def _pixel_unshuffle_draw(g: Gen, x: Shape) -> dict[str, Any] | None:
    if flat(x):
        return None
    rs = [r for r in (2, 3) if x[0] % r == 0 and x[1] % r == 0 and chans(x) * r * r <= 4 * g.max_c]
    return {"factor": g.pick(rs)} if rs else ({"factor": 1} if g.chance(0.2) else None)


def _pixel_unshuffle_shape(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> Shape:
    r = a["factor"]
    if flat(x) or x[0] % r or x[1] % r:
        raise DrawError("pixel_unshuffle")
    return (x[0] // r, x[1] // r, chans(x) * r * r)


OPS["pixel_shuffle"] = OpDef(
    "pixel_shuffle",
    _pixel_shuffle_draw,
    _pixel_shuffle_shape,
    _kw_spec(("factor",)),
    lambda a, x, r: f"nn.PixelShuffle({a['factor']})",
)
OPS["pixel_unshuffle"] = OpDef(
    "pixel_unshuffle",
    _pixel_unshuffle_draw,
    _pixel_unshuffle_shape,
    _kw_spec(("factor",)),
    lambda a, x, r: f"nn.PixelUnshuffle({a['factor']})",
)


def _norm_draw(kind: str) -> Callable[[Gen, Shape], dict[str, Any] | None]:
    def draw(g: Gen, x: Shape) -> dict[str, Any] | None:
        if kind == "instancenorm" and flat(x):
            return None
        a: dict[str, Any] = {}
        if kind == "groupnorm":
            a["groups"] = g.pick(divisors(chans(x)))
        if g.chance(0.4):
            a["affine"] = kind == "instancenorm"
        if g.chance(0.2):
            a["eps"] = Fraction(1, 1000)
        return a

    return draw


def _norm_torch(kind: str) -> Callable[[dict[str, Any], Shape, dict[str, Shape]], str]:
    def torch(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> str:
        affine = a.get("affine", kind != "instancenorm")
        eps = float(a.get("eps", Fraction(1, 100000)))
        c = chans(x)
        if kind == "layernorm":
            ln = f"nn.LayerNorm({c}, eps={eps!r}, elementwise_affine={affine})"
            return ln if flat(x) else f"ChannelsLast({ln})"
        if kind == "groupnorm":
            return f"nn.GroupNorm({a['groups']}, {c}, eps={eps!r}, affine={affine})"
        return f"nn.InstanceNorm2d({c}, eps={eps!r}, affine={affine})"

    return torch


def _norm_tags(kind: str) -> Callable[[dict[str, Any], Shape], set[str]]:
    def tags(a: dict[str, Any], x: Shape) -> set[str]:
        positions = 1 if flat(x) else x[0] * x[1]
        per_group = {"groupnorm": chans(x) // a.get("groups", 1) * positions, "instancenorm": positions}.get(kind, 2)
        return {"norm-single-value"} if per_group == 1 else set()

    return tags


for _kind in ("layernorm", "groupnorm", "instancenorm"):
    OPS[_kind] = OpDef(
        _kind,
        _norm_draw(_kind),
        _divides("groups") if _kind == "groupnorm" else _same,
        _kw_spec(("groups",) if _kind == "groupnorm" else (), ("eps", "affine")),
        _norm_torch(_kind),
        _norm_tags(_kind),
        weight=0.7,
    )


@op("crop", weight=0.8)
class _Crop:
    @staticmethod
    def draw(g: Gen, x: Shape) -> dict[str, Any] | None:
        if flat(x):
            return None
        return {"size": (g.rng.randint(max(1, x[0] // 2), x[0]), g.rng.randint(max(1, x[1] // 2), x[1]))}

    @staticmethod
    def shape(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> Shape:
        if flat(x):
            raise DrawError("crop of a flat vector")
        t = a["size"] if "size" in a else refs[a["to"]]
        if len(t) == 1 or t[0] > x[0] or t[1] > x[1]:
            raise DrawError("crop larger than its input")
        return (t[0], t[1], chans(x))

    @staticmethod
    def spec(a: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        return ([fmt_dim(tuple(a["size"]))], {}) if "size" in a else ([], {"to": a["to"]})

    @staticmethod
    def torch(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> str:
        h, w, _ = _Crop.shape(a, x, refs)
        return f"CenterCrop({h}, {w})"


@op("zeropad", weight=0.8)
class _ZeroPad:
    @staticmethod
    def draw(g: Gen, x: Shape) -> dict[str, Any] | None:
        if flat(x) or max(x[0], x[1]) + 6 > g.max_hw:
            return None
        r = g.rng.random()
        if r < 0.3:
            return {"pad": ("int", g.rng.randint(0, 3))}
        if r < 0.5:
            return {"pad": ("axis", g.rng.randint(0, 3), g.rng.randint(0, 3))}
        return {"pad": ("sides", *(g.rng.randint(0, 3) for _ in range(4)))}

    @staticmethod
    def shape(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> Shape:
        if flat(x):
            raise DrawError("zeropad of a flat vector")
        t, b, left, r = sides(a["pad"], x, (1, 1), (1, 1), (1, 1))
        return (x[0] + t + b, x[1] + left + r, chans(x))

    @staticmethod
    def spec(a: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        v = pad_text(a["pad"])
        return ([], {"pad": v}) if isinstance(v, dict) else ([v], {})

    @staticmethod
    def torch(a: dict[str, Any], x: Shape, refs: dict[str, Shape]) -> str:
        return _zeropad(sides(a["pad"], x, (1, 1), (1, 1), (1, 1)))


OPS["layerscale"] = OpDef(
    "layerscale",
    lambda g, x: {"init": Fraction(1, 10)} if g.chance(0.3) else {},
    _same,
    _kw_spec(keys=("init",)),
    lambda a, x, r: f"LayerScale({chans(x)})",
    weight=0.6,
)
OPS["droppath"] = OpDef(
    "droppath",
    lambda g, x: {"p": g.pick([Fraction(1, 10), Fraction(0)])},
    _same,
    _kw_spec(("p",)),
    lambda a, x, r: f"DropPath({float(a['p'])!r})",
    weight=0.5,
)

JOINS = ("concat", "add", "mean", "mul")

#: Tags of the draws aimed at a known validity difference (one side or both may reject them; every other draw
#: must be accepted by both).
VALIDITY_TAGS = frozenset(
    {
        "pool-pad-over-half",
        "ceil-overhang",
        "flat-lrn",
        "flat-shuffle",
        "avgpool-dilation",
        "norm-single-value",
        "lrn-k",
        "flat-gate",
    }
)


def uncovered_ops() -> list[str]:
    """Ops of cnncalc's registry that this generator cannot draw (must be empty)."""
    from cnncalc.layers import LAYER_TYPES

    return sorted(set(LAYER_TYPES) - set(OPS) - set(JOINS))


def check_coverage() -> None:
    """Fail loudly when cnncalc's registry has an op the generator does not cover."""
    missing = uncovered_ops()
    if missing:
        raise SystemExit(
            "tools/difftest.py does not cover these ops of cnncalc's registry: "
            + ", ".join(missing)
            + " (teach the generator: add an OpDef to OPS)"
        )


# =========================================================================== propagation (the generator's own shape model)


def join_shape(kind: str, ins: list[Shape]) -> Shape:
    if kind == "concat":
        if all(flat(s) for s in ins):
            return (sum(s[0] for s in ins),)
        if any(flat(s) or s[:2] != ins[0][:2] for s in ins):
            raise DrawError("concat grids differ")
        return (*ins[0][:2], sum(s[2] for s in ins))
    if kind in ("add", "mean"):
        if any(s != ins[0] for s in ins):
            raise DrawError(f"{kind} shapes differ")
        return ins[0]
    full = max(ins, key=numel)
    for s in ins:
        if s != full and not (chans(s) == chans(full) and numel(s) == chans(s)):
            raise DrawError("mul shapes differ")
    return full


def walk(net: Net) -> list[Node]:
    """The layers in evaluation order with their shapes (raises DrawError when the model says invalid)."""
    nodes: list[Node] = []
    shapes: dict[str, Shape] = {"x": net.input}

    def seq(items: list[Any], cur: str) -> str:
        for it in items:
            if isinstance(it, Op):
                src = it.src or cur
                x = shapes[src]
                d = OPS[it.op]
                out = d.shape(it.a, x, shapes)
                nodes.append(Node(it.name, it.op, it.a, [src], [x], out, d.tags(it.a, x)))
                shapes[it.name] = out
                cur = it.name
            else:
                ins = [seq(b, cur) for b in it.branches] + list(it.refs)
                in_shapes = [shapes[i] for i in ins]
                out = join_shape(it.kind, in_shapes)
                mixed = any(map(flat, in_shapes)) and not all(map(flat, in_shapes))
                tags = {"flat-gate"} if it.kind == "mul" and mixed else set()
                nodes.append(Node(it.name, it.kind, {}, ins, in_shapes, out, tags))
                shapes[it.name] = out
                cur = it.name
        return cur

    seq(net.items, "x")
    return nodes


# =========================================================================== drawing networks

# ops that keep the grid (used as branch prefixes): everything whose draw may keep H x W
_GRID_KEEPING = (
    "bn relu relu6 sigmoid tanh elu gelu swish hswish hsigmoid softmax identity leaky dropout scale lrn shuffle split "
    "linear layernorm groupnorm instancenorm layerscale droppath"
).split()


class Drawer:
    """Draws one network: a top-level chain of ops and joins, each item checked by the shape model."""

    def __init__(self, rng: random.Random) -> None:
        self.g = Gen(rng)
        self.shapes: dict[str, Shape] = {}
        self.top: list[str] = []  # names that later items may reference (`from`, `to=`)

    # -- ops

    def op_item(self, x: Shape, only: list[str] | None = None) -> tuple[Op, Shape] | None:
        g = self.g
        names = only or list(OPS)
        weights = [OPS[n].weight for n in names]
        for _ in range(30):
            name = g.rng.choices(names, weights)[0]
            a = OPS[name].draw(g, x)
            if a is None:
                continue
            a = self.refs(name, a, x)
            try:
                out = OPS[name].shape(a, x, self.shapes)
            except DrawError:
                continue
            if not self.sane(out):
                continue
            return Op(g.name("n"), name, a), out
        return None

    def refs(self, name: str, a: dict[str, Any], x: Shape) -> dict[str, Any]:
        """Sometimes size an upsample or a crop to an earlier layer (`to=NAME`)."""
        g = self.g
        if name not in ("upsample", "crop") or not self.top or not g.chance(0.25):
            return a
        if name == "upsample":
            fits = [n for n in self.top if not flat(self.shapes[n]) and max(self.shapes[n][:2]) <= g.max_hw]
            if fits:
                a = {k: v for k, v in a.items() if k not in ("scale", "size")}
                a["to"] = g.pick(fits)
        else:
            fits = [n for n in self.top if not flat(self.shapes[n]) and self.shapes[n][:2] <= x[:2]]
            fits = [n for n in fits if self.shapes[n][0] <= x[0] and self.shapes[n][1] <= x[1]]
            if fits:
                a = {"to": g.pick(fits)}
        return a

    def sane(self, s: Shape) -> bool:
        if flat(s):
            return s[0] <= 8192
        return max(s[0], s[1]) <= self.g.max_hw and s[2] <= 4 * self.g.max_c and numel(s) <= 40000

    def add(self, it: Any, out: Shape, top: bool) -> None:
        self.shapes[it.name] = out
        if top:
            self.top.append(it.name)

    # -- geometry: ops that take an H x W grid to a given H' x W'

    def geometry(self, x: Shape, th: int, tw: int, out_c: int | None) -> list[tuple[Op, Shape]] | None:
        """One or two ops from x to th x tw (x out_c channels if given)."""
        g = self.g
        cands = [self._axis(x[0], th), self._axis(x[1], tw)]
        ops: list[tuple[Op, Shape]] = []
        if cands[0] and cands[1]:
            (kh, sh, dh, t, b), (kw, sw, dw, left, r) = g.pick(cands[0]), g.pick(cands[1])
            pad: Any = ("sides", t, b, left, r)
            if t == b and left == r:
                pad = ("int", t) if t == left else ("axis", t, left)
            k = kh if kh == kw else (kh, kw)
            s = sh if sh == sw else (sh, sw)
            d = dh if dh == dw else (dh, dw)
            pool_ok = d == 1 and max(t, b) <= kh // 2 and max(left, r) <= kw // 2
            kind = g.pick(["conv", "conv", "dwconv"] + (["maxpool", "avgpool"] if pool_ok else []))
            if kind == "conv":
                a: dict[str, Any] = {"out": out_c or g.channels(), "kernel": k, "stride": s, "pad": pad}
                a.update(dilation=d, groups=1, bias=g.chance(0.5))
            elif kind == "dwconv":
                a = {"kernel": k, "stride": s, "pad": pad, "dilation": d, "mult": 1, "bias": g.chance(0.5)}
            else:
                a = {"op": kind, "kernel": k, "stride": s, "pad": pad, "ceil": False}
        elif th >= x[0] and tw >= x[1]:
            kind = g.pick(["zeropad", "upsample", "adaptive_avgpool"])
            if kind == "zeropad":
                t, left = g.rng.randint(0, th - x[0]), g.rng.randint(0, tw - x[1])
                a = {"pad": ("sides", t, th - x[0] - t, left, tw - x[1] - left)}
            elif kind == "upsample":
                a = {"mode": g.pick(["nearest", "bilinear"]), "size": (th, tw)}
            else:
                a = {"out": (th, tw)}
        elif th <= x[0] and tw <= x[1]:
            kind = g.pick(["crop", "adaptive_avgpool"])
            a = {"size": (th, tw)} if kind == "crop" else {"out": (th, tw)}
        else:
            kind, a = "adaptive_avgpool", {"out": (th, tw)}
        try:
            out = OPS[kind].shape(a, x, self.shapes)
        except DrawError:
            return None
        ops.append((Op(g.name("n"), kind, a), out))
        if out_c is not None and out[2] != out_c:
            proj = self.projection(out, out_c)
            ops.append(proj)
        return ops

    def _axis(self, n: int, t: int) -> list[tuple[int, int, int, int, int]]:
        found = []
        for k in range(1, 6):
            for s in range(1, 4):
                for d in (1, 2):
                    for p0 in range(3):
                        for p1 in range(3):
                            if k == 1 and d == 2:
                                continue
                            try:
                                if window_out(n, k, s, p0, p1, d, False) == t:
                                    found.append((k, s, d, p0, p1))
                            except DrawError:
                                pass
        return found

    def projection(self, x: Shape, c: int) -> tuple[Op, Shape]:
        g = self.g
        if g.chance(0.7) or flat(x):
            kind, a = ("conv", {"out": c, "kernel": 1, "stride": 1, "pad": ("int", 0), "dilation": 1, "groups": 1})
            a["bias"] = g.chance(0.5)
            if flat(x):
                kind, a = "fc", {"out": c, "bias": True}
        else:
            kind, a = "linear", {"out": c, "bias": g.chance(0.5)}
        out = OPS[kind].shape(a, x, self.shapes)
        return Op(g.name("n"), kind, a), out

    # -- sequences and joins

    def chain(self, x: Shape, n: int, depth: int, top: bool, keep_grid: bool = False) -> tuple[list[Any], Shape]:
        items: list[Any] = []
        for _ in range(n):
            if depth < 2 and self.g.chance(0.22 if top else 0.12):
                got = self.join(x, depth + 1, top)
            else:
                got = self.op_item(x, _GRID_KEEPING if keep_grid else None)
            if got is None:
                continue
            it, out = got
            if keep_grid and (flat(out) != flat(x) or out[:-1] != x[:-1]):
                continue
            if top and self.top and self.g.chance(0.05) and isinstance(it, Op):  # `from=`: a skip
                src = self.g.pick(self.top)
                try:
                    out = OPS[it.op].shape(it.a, self.shapes[src], self.shapes)
                    it.src = src
                except DrawError:
                    pass
            items.append(it)
            self.add(it, out, top)
            x = out
        return items, x

    def join(self, x: Shape, depth: int, top: bool) -> tuple[Join, Shape] | None:
        g = self.g
        kind = g.pick(["concat", "concat", "add", "add", "mean", "mul", "se"])
        name = g.name("j")
        if kind == "se":
            return self.se(x, depth, name)
        n_br = g.pick([2, 2, 2, 3])
        if flat(x):
            target: Shape = (g.rng.randint(1, 2 * g.max_c),)
        else:
            th, tw = x[0], x[1]
            if g.chance(0.5):
                th, tw = max(1, -(-x[0] // g.pick([1, 2, 2, 3]))), max(1, -(-x[1] // g.pick([1, 2, 3])))
            target = (th, tw, g.channels())
        branches = []
        outs = []
        for _ in range(n_br):
            got = self.branch(x, target, kind != "concat", depth)
            if got is None:
                return None
            branches.append(got[0])
            outs.append(got[1])
        refs = []
        if top and g.chance(0.3):
            fits = [
                n
                for n in self.top
                if (self.shapes[n] == outs[0])
                or (
                    kind == "concat"
                    and not flat(outs[0])
                    and not flat(self.shapes[n])
                    and self.shapes[n][:2] == outs[0][:2]
                )
            ]
            if fits:
                refs.append(g.pick(fits))
        try:
            out = join_shape(kind, outs + [self.shapes[r] for r in refs])
        except DrawError:
            return None
        return Join(name, kind, branches, refs), out

    def branch(self, x: Shape, target: Shape, same_c: bool, depth: int) -> tuple[list[Any], Shape] | None:
        g = self.g
        items, cur = self.chain(x, g.pick([0, 1, 1, 2]), depth, top=False, keep_grid=True)
        want_c = target[-1] if same_c else None
        if flat(cur):
            if flat(target) and (want_c is None or cur[0] == want_c) and (items or g.chance(0.5)):
                if not items:
                    it = Op(g.name("n"), "identity", {})
                    self.add(it, cur, False)
                    items.append(it)
                return items, cur
            proj = self.projection(cur, want_c or g.rng.randint(1, 2 * g.max_c))
            self.add(proj[0], proj[1], False)
            return items + [proj[0]], proj[1]
        if cur[:2] != target[:2]:
            geo = self.geometry(cur, target[0], target[1], want_c)
            if geo is None:
                return None
            for it, out in geo:
                self.add(it, out, False)
                items.append(it)
                cur = out
        elif want_c is not None and cur[2] != want_c:
            it, cur = self.projection(cur, want_c)
            self.add(it, cur, False)
            items.append(it)
        if not items:
            it = Op(g.name("n"), "identity", {})
            self.add(it, cur, False)
            items.append(it)
        return items, cur

    def se(self, x: Shape, depth: int, name: str) -> tuple[Join, Shape] | None:
        """mul: [a branch keeping the shape, a gate: global pool, two 1x1 convs (or linears), sigmoid]."""
        g = self.g
        if flat(x):
            return None
        main, cur = self.chain(x, g.pick([0, 1, 2]), depth, top=False, keep_grid=True)
        if not main:
            it = Op(g.name("n"), "identity", {})
            self.add(it, cur, False)
            main.append(it)
        c = cur[2]
        gate: list[Any] = []
        s: Shape = cur
        for kind, a in (
            (g.pick(["gap", "gmp", "gap"]), {}),
            ("conv", {"out": max(1, c // 4), "kernel": 1, "stride": 1, "pad": ("int", 0), "dilation": 1}),
            (g.pick(["relu", "swish"]), {}),
            ("conv", {"out": c, "kernel": 1, "stride": 1, "pad": ("int", 0), "dilation": 1}),
            (g.pick(["sigmoid", "hsigmoid"]), {}),
        ):
            if kind == "conv":
                a.update(groups=1, bias=True)
                if g.chance(0.3):
                    kind, a = "linear", {"out": a["out"], "bias": True}
            it = Op(g.name("n"), kind, a)
            s = OPS[kind].shape(a, s, self.shapes)
            self.add(it, s, False)
            gate.append(it)
        if g.chance(0.1):  # a flat gate: the vector of C values
            it = Op(g.name("n"), "flatten", {})
            s = (c,)
            self.add(it, s, False)
            gate.append(it)
        branches = [main, gate] if g.chance(0.7) else [gate, main]
        return Join(name, "mul", branches), cur

    def network(self, seed: str) -> Net:
        g = self.g
        r = g.rng
        h = r.choice([r.randint(3, 41), r.randrange(5, 42, 2), r.randrange(5, 34, 2)])
        w = h if r.random() < 0.3 else r.choice([r.randint(3, 41), r.randrange(5, 42, 2)])
        c = r.randint(1, 8)
        x: Shape = (h, w, c)
        self.shapes = {"x": x}
        items, _ = self.chain(x, r.randint(3, 12), 0, top=True)
        return Net(x, items, seed)


def draw_network(seed: str) -> Net:
    """A random network the generator's own shape model accepts (deterministic in ``seed``)."""
    rng = random.Random(seed)
    for _ in range(100):
        net = Drawer(rng).network(seed)
        try:
            if net.items:
                walk(net)
                return net
        except DrawError:
            continue
    raise RuntimeError(f"no valid network for seed {seed}")  # pragma: no cover


# =========================================================================== the two texts


def _positional_names(op_name: str) -> list[str]:
    from cnncalc.layers import LAYER_TYPES

    return [a.name for a in LAYER_TYPES[op_name].positional]


def _flow(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_flow(x)}" for k, x in v.items()) + "}"
    return str(v)


def op_text(it: Op) -> str:
    """The op line (or the long form, a flow mapping, when a value is a mapping)."""
    pos, kw = OPS[it.op].spec(it.a)
    if it.src:
        kw = {**kw, "from": it.src}
    if any(isinstance(v, dict) for v in kw.values()):
        names = _positional_names(it.op)
        long = {"op": it.op, **dict(zip(names, pos)), **kw}
        return _flow(long)
    return " ".join([it.op, *pos, *(f"{k}={v}" for k, v in kw.items())])


def _emit(items: list[Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for it in items:
        if isinstance(it, Op):
            lines.append(f"{pad}- {it.name}: {op_text(it)}")
            continue
        lines.append(f"{pad}- {it.name}:")
        lines.append(f"{pad}    {it.kind}:")
        for br in it.branches:
            sub = _emit(br, indent + 8)
            if len(br) == 1:
                sub = [line[2:] for line in sub]  # one item: the branch is that item
            else:
                sub[0] = f"{' ' * (indent + 6)}- {sub[0][indent + 8 :]}"
            lines.extend(sub)
        if it.refs:
            lines.append(f"{pad}    from: [{', '.join(it.refs)}]")
    return lines


def spec_text(net: Net) -> str:
    h, w, c = net.input
    head = ["cnncalc: 1", f"name: difftest {net.seed}", f"input: {h}x{w}x{c}", "layers:"]
    return "\n".join(head + _emit(net.items, 2)) + "\n"


TORCH_HEADER = '''\
import torch
from torch import nn


class Cat(nn.Module):
    def forward(self, *xs):
        return torch.cat(xs, 1)


class Add(nn.Module):
    def forward(self, *xs):
        return sum(xs[1:], xs[0])


class Mean(nn.Module):
    def forward(self, *xs):
        return sum(xs[1:], xs[0]) / len(xs)


class Mul(nn.Module):
    """Element-wise product; a 1x1xC (or flat C) input is a gate broadcast over H x W."""

    def forward(self, *xs):
        full = max(xs, key=lambda t: t.numel())
        y = None
        for t in xs:
            if t.dim() == 2 and full.dim() == 4:
                t = t.reshape(t.shape[0], -1, 1, 1)
            y = t if y is None else y * t
        return y


class Scale(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


class Split(nn.Module):
    def __init__(self, parts, index):
        super().__init__()
        self.parts, self.index = parts, index

    def forward(self, x):
        return torch.chunk(x, self.parts, 1)[self.index]


class ChannelsLast(nn.Module):
    """Applies a module over the channels at every position (Linear, LayerNorm on NHWC)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((c,), 1e-6))

    def forward(self, x):
        return x * (self.gamma if x.dim() == 2 else self.gamma.view(1, -1, 1, 1))


class DropPath(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        return x  # eval: identity


class CenterCrop(nn.Module):
    """Centre crop: top offset (H-h)//2, left (W-w)//2."""

    def __init__(self, h, w):
        super().__init__()
        self.h, self.w = h, w

    def forward(self, x):
        top, left = (x.shape[2] - self.h) // 2, (x.shape[3] - self.w) // 2
        return x[:, :, top : top + self.h, left : left + self.w]


class SubsamplePool(nn.Module):
    """LeNet-5 subsampling: average pool, times a trainable coefficient, plus a trainable bias, per channel."""

    def __init__(self, c, kernel, stride, padding, ceil_mode):
        super().__init__()
        self.pool = nn.AvgPool2d(kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)
        self.coef = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        return self.pool(x) * self.coef.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class TableConv(nn.Module):
    """A conv with a connection table: output channel j sees only the input channels table[j]."""

    def __init__(self, table, kernel, stride, padding, dilation, bias):
        super().__init__()
        self.table = table
        self.pad = nn.ZeroPad2d((padding[2], padding[3], padding[0], padding[1]))
        self.convs = nn.ModuleList(
            nn.Conv2d(len(row), 1, kernel, stride=stride, dilation=dilation, bias=bias) for row in table
        )

    def forward(self, x):
        x = self.pad(x)
        return torch.cat([conv(x[:, row]) for row, conv in zip(self.table, self.convs)], 1)


class RBF(nn.Module):
    """Euclidean RBF units with fixed parameter vectors (a buffer); MACs: inputs x outputs."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.register_buffer("centres", torch.randn(n_out, n_in))

    def forward(self, x):
        return ((x.flatten(1)[:, None, :] - self.centres[None]) ** 2).sum(-1)


class Opaque(nn.Module):
    """A layer known only by its figures: output shape (HxWxC or N), params, MACs (declared)."""

    def __init__(self, out, params, macs):
        super().__init__()
        self.out, self.macs = out, macs
        if params:
            self.weight = nn.Parameter(torch.zeros(params))

    def forward(self, x):
        shape = self.out if len(self.out) == 1 else (self.out[2], self.out[0], self.out[1])
        m = x.flatten(1).mean(1)  # every output depends on every input value
        return m.view(-1, *[1] * len(shape)) * torch.ones(shape, dtype=x.dtype)


class NoEquivalent(nn.Module):
    """A layer PyTorch has no module for: building the network fails with the reason."""

    def __init__(self, reason):
        raise NotImplementedError(reason)
'''


def torch_source(net: Net) -> str:
    """The Python source of the equivalent nn.Module (class Net), with INPUT = its (1, C, H, W) input."""
    nodes = walk(net)
    shapes: dict[str, Shape] = {"x": net.input}
    init, fwd = [], []
    for nd in nodes:
        shapes[nd.name] = nd.out
        if nd.op in JOINS:
            expr = {"concat": "Cat()", "add": "Add()", "mean": "Mean()", "mul": "Mul()"}[nd.op]
        else:
            expr = OPS[nd.op].torch(nd.a, nd.in_shapes[0], shapes)
        init.append(f"        self.{nd.name} = {expr}")
        fwd.append(f"        {nd.name} = out[{nd.name!r}] = self.{nd.name}({', '.join(nd.inputs)})")
    h, w, c = net.input
    return (
        TORCH_HEADER
        + f"\n\n# the network of seed {net.seed}\nclass Net(nn.Module):\n    def __init__(self):\n"
        + "        super().__init__()\n"
        + "\n".join(init)
        + "\n\n    def forward(self, x):\n        out = {}\n"
        + "\n".join(fwd)
        + "\n        return out\n\n\n"
        + f"INPUT = (1, {c}, {h}, {w})\n\n"
        + 'if __name__ == "__main__":\n'
        + "    for name, t in Net().eval()(torch.randn(INPUT)).items():\n"
        + "        print(name, tuple(t.shape))\n"
    )


# =========================================================================== the PyTorch side (torch imported lazily)


class TesterError(Exception):
    """The tester itself is wrong (a twin that does not reproduce PyTorch): never a cnncalc finding."""


def _torch_tools() -> dict[str, Any]:
    """The PyTorch half: receptive-field twins and the measurement. Built on first use (imports torch)."""
    import numpy as np
    import torch
    import torch.nn.functional as F  # noqa: N812
    from torch import nn

    torch.set_num_threads(1)
    import warnings

    warnings.filterwarnings("ignore", message="Using padding='same'")

    class Markers:
        """Two scalar markers per batch item: rows and columns that padding introduced."""

        rows: Any = None
        cols: Any = None

    marks = Markers()

    def marked_pad(x: Any, left: int, right: int, top: int, bottom: int) -> Any:
        # padding is 1, not 0, in the twin: every value stays positive, so a product (mul) never hides support
        y = F.pad(x, (left, right, top, bottom), value=1.0)
        if max(left, right, top, bottom) <= 0:
            return y
        h, w = x.shape[2], x.shape[3]
        rows = torch.ones(y.shape[2], dtype=x.dtype)
        rows[max(top, 0) : max(top, 0) + h + min(top, 0) + min(bottom, 0)] = 0
        cols = torch.ones(y.shape[3], dtype=x.dtype)
        cols[max(left, 0) : max(left, 0) + w + min(left, 0) + min(right, 0)] = 0
        return y + marks.rows * rows.view(1, 1, -1, 1) + marks.cols * cols.view(1, 1, 1, -1)

    class MarkedPad(nn.Module):
        def __init__(self, left: int, right: int, top: int, bottom: int) -> None:
            super().__init__()
            self.p = (left, right, top, bottom)

        def forward(self, x: Any) -> Any:
            return marked_pad(x, *self.p)

    def positive(shape: tuple[int, ...], dtype: Any) -> Any:
        fan = math.prod(shape[1:]) or 1
        return torch.full(shape, 1.0 / fan, dtype=dtype)

    class ConvTwin(nn.Module):
        def __init__(self, conv: Any) -> None:
            super().__init__()
            self.c = conv

        def forward(self, x: Any) -> Any:
            c = self.c
            k, d = c.kernel_size, c.dilation
            if c.padding == "same":
                tot = [d[i] * (k[i] - 1) for i in range(2)]
                p = (tot[1] // 2, tot[1] - tot[1] // 2, tot[0] // 2, tot[0] - tot[0] // 2)
            elif c.padding == "valid":
                p = (0, 0, 0, 0)
            else:
                p = (c.padding[1], c.padding[1], c.padding[0], c.padding[0])
            w = positive(tuple(c.weight.shape), x.dtype)
            return F.conv2d(marked_pad(x, *p), w, None, c.stride, 0, c.dilation, c.groups)

    class DeconvTwin(nn.Module):
        """Zero insertion, marked padding by d(k-1) - p (+ output_padding at the end), a stride-1 conv."""

        def __init__(self, deconv: Any) -> None:
            super().__init__()
            self.c = deconv

        def forward(self, x: Any) -> Any:
            c = self.c
            (sh, sw), (kh, kw), (ph, pw), (oh, ow), (dh, dw) = (
                c.stride,
                c.kernel_size,
                c.padding,
                c.output_padding,
                c.dilation,
            )
            b, ch, h, w = x.shape
            up = x.new_ones(b, ch, (h - 1) * sh + 1, (w - 1) * sw + 1)  # positive between the inputs too
            up[:, :, ::sh, ::sw] = x
            eh, ew = dh * (kh - 1) - ph, dw * (kw - 1) - pw
            y = marked_pad(up, ew, ew + ow, eh, eh + oh)
            cin_g = ch // c.groups
            wt = positive((c.out_channels, cin_g, kh, kw), x.dtype)
            out = F.conv2d(y, wt, None, 1, 0, (dh, dw), c.groups)
            ref = c(x.new_zeros(1, ch, h, w))
            if tuple(out.shape[1:]) != tuple(ref.shape[1:]):
                raise TesterError(f"deconv twin gives {tuple(out.shape)}, ConvTranspose2d {tuple(ref.shape)}")
            return out

    class PoolTwin(nn.Module):
        """A pool as an average over the same windows, padding marked (also beyond the input in ceil mode)."""

        def __init__(self, pool: Any) -> None:
            super().__init__()
            self.p = pool

        def forward(self, x: Any) -> Any:
            p = self.p
            k, s, pd = (nn.modules.utils._pair(v) for v in (p.kernel_size, p.stride, p.padding))
            d = nn.modules.utils._pair(getattr(p, "dilation", 1))
            b, c, h, w = x.shape
            ref = p(x.new_zeros(1, c, h, w))
            oh, ow = ref.shape[2], ref.shape[3]
            extra = [
                max(0, (o - 1) * s[i] + d[i] * (k[i] - 1) + 1 - (n + 2 * pd[i]))
                for i, (o, n) in enumerate(((oh, h), (ow, w)))
            ]
            y = marked_pad(x, pd[1], pd[1] + extra[1], pd[0], pd[0] + extra[0])
            wt = torch.full((c, 1, *k), 1.0 / (k[0] * k[1]), dtype=x.dtype)
            return F.conv2d(y, wt, None, s, 0, d, c)[:, :, :oh, :ow]

    cubic_a = -0.75  # ATen's bicubic coefficient

    def _cubic1(v: float) -> float:
        return ((cubic_a + 2) * v - (cubic_a + 3)) * v * v + 1

    def _cubic2(v: float) -> float:
        return ((cubic_a * v - 5 * cubic_a) * v + 8 * cubic_a) * v - 4 * cubic_a

    def _interp_axis(mode: str, n: int, out: int, scale: float | None, align: bool) -> tuple[Any, Any, int]:
        """(real, twin, margin): the clamped matrix PyTorch applies (out x n) and the unclamped one over a
        marked margin (out x (n + 2 margin)), following ATen's UpSample.h index arithmetic in float32."""
        f32 = np.float32
        margin = 3
        real = np.zeros((out, n))
        twin = np.zeros((out, n + 2 * margin))

        def scales_value() -> Any:
            return f32(1.0 / scale) if scale is not None and scale > 0 else f32(n) / f32(out)

        for o in range(out):
            if out == n and mode != "bicubic":  # ATen copies an axis whose size stays (nearest, linear)
                real[o, o] += 1
                twin[o, o + margin] += 1
                continue
            if mode == "nearest":
                if out == n:
                    i = o
                elif out == 2 * n:
                    i = o >> 1
                else:
                    i = int(np.floor(f32(o) * scales_value()))
                real[o, min(i, n - 1)] += 1
                twin[o, i + margin] += 1
                continue
            if align:
                sc = f32(n - 1) / f32(out - 1) if out > 1 else f32(0)
                src = sc * f32(o)
            else:
                sc = scales_value()
                src = sc * (f32(o) + f32(0.5)) - f32(0.5)
            if mode == "bilinear":
                i0 = int(np.floor(src))
                lam = float(src - f32(i0))
                for i, wgt in ((i0, 1 - lam), (i0 + 1, lam)):
                    if wgt:
                        twin[o, i + margin] += abs(wgt)
                rs = max(src, f32(0)) if not align else src
                r0 = min(int(rs), n - 1)
                r1 = r0 + (1 if r0 < n - 1 else 0)
                lam = min(max(float(rs - f32(r0)), 0.0), 1.0)
                real[o, r0] += 1 - lam
                real[o, r1] += lam
            else:  # bicubic
                i0 = int(np.floor(src))
                t = float(src - f32(i0))
                coeffs = (_cubic2(t + 1), _cubic1(t), _cubic1(1 - t), _cubic2(2 - t))
                for j, wgt in enumerate(coeffs):
                    i = i0 - 1 + j
                    if wgt:
                        twin[o, i + margin] += abs(wgt)
                    real[o, min(max(i, 0), n - 1)] += wgt
        if (twin[:, :margin].any() or twin[:, -margin:].any()) and margin < 3:  # pragma: no cover
            raise TesterError("interpolation margin too small")
        return real, twin, margin

    class UpsampleTwin(nn.Module):
        def __init__(self, up: Any) -> None:
            super().__init__()
            self.u = up
            self.checked = False

        def forward(self, x: Any) -> Any:
            u = self.u
            b, c, h, w = x.shape
            probe = torch.rand(1, c, h, w, dtype=x.dtype)
            ref = u(probe)
            oh, ow = ref.shape[2], ref.shape[3]
            sf = u.scale_factor
            sh, sw = (sf if isinstance(sf, tuple) else (sf, sf)) if sf is not None else (None, None)
            align = bool(u.align_corners)
            rh, th, m = _interp_axis(u.mode, h, oh, sh, align)
            rw, tw, _ = _interp_axis(u.mode, w, ow, sw, align)
            if not self.checked:
                mine = torch.einsum("oh,bchw,pw->bcop", torch.tensor(rh), probe.double(), torch.tensor(rw))
                if not torch.allclose(mine, ref.double(), atol=1e-4):
                    raise TesterError(f"the interpolation twin does not reproduce {u} on {h}x{w}")
                self.checked = True
            xp = marked_pad(x, m, m, m, m)
            return torch.einsum(
                "oh,bchw,pw->bcop", torch.tensor(th, dtype=x.dtype), xp, torch.tensor(tw, dtype=x.dtype)
            )

    def make_mul_twin(ns: dict[str, Any]) -> Any:
        class MulTwin(nn.Module):
            """Mul with its 1x1xC gates detached (they do not widen the local field: cnncalc's convention)."""

            def forward(self, *xs: Any) -> Any:
                full = max(xs, key=lambda t: t.numel())
                y = None
                for t in xs:
                    if t.dim() == 2 and full.dim() == 4:  # a flat gate of C values, as the shape rule accepts it
                        t = t.reshape(t.shape[0], -1, 1, 1)
                    if (
                        t.dim() == 4
                        and full.dim() == 4
                        and t.shape[2] * t.shape[3] == 1 < full.shape[2] * full.shape[3]
                    ):
                        t = t.detach()
                    y = t if y is None else y * t
                return y

        return MulTwin

    class RBFTwin(nn.Module):
        def __init__(self, rbf: Any) -> None:
            super().__init__()
            self.n_out, self.n_in = rbf.centres.shape

        def forward(self, x: Any) -> Any:
            return x.flatten(1) @ torch.full((self.n_in, self.n_out), 1.0 / self.n_in, dtype=x.dtype)

    identities = (
        nn.ReLU,
        nn.ReLU6,
        nn.Sigmoid,
        nn.Tanh,
        nn.ELU,
        nn.GELU,
        nn.SiLU,
        nn.Hardswish,
        nn.Hardsigmoid,
        nn.Softmax,
        nn.LeakyReLU,
        nn.Dropout,
        nn.LocalResponseNorm,
        nn.LayerNorm,
        nn.GroupNorm,
        nn.InstanceNorm2d,
    )

    def twin_of(m: Any, ns: dict[str, Any]) -> Any | None:
        if isinstance(m, nn.Conv2d):
            return ConvTwin(m)
        if isinstance(m, nn.ConvTranspose2d):
            return DeconvTwin(m)
        if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            return PoolTwin(m)
        if isinstance(m, nn.ZeroPad2d):
            return MarkedPad(*m.padding)
        if isinstance(m, nn.AdaptiveMaxPool2d):
            return nn.AdaptiveAvgPool2d(m.output_size)
        if isinstance(m, nn.Upsample):
            return UpsampleTwin(m)
        if isinstance(m, identities) or isinstance(m, (ns["Scale"], ns["DropPath"])):
            return nn.Identity()
        if isinstance(m, ns["Mul"]):
            return make_mul_twin(ns)()
        if isinstance(m, ns["RBF"]):
            return RBFTwin(m)
        return None

    def make_twin(module: Any, ns: dict[str, Any]) -> None:
        for name, child in list(module.named_children()):
            t = twin_of(child, ns)
            if t is None:
                make_twin(child, ns)
            else:
                setattr(module, name, t)

    def counted_macs(m: Any, ins: tuple[Any, ...], out: Any, ns: dict[str, Any]) -> int:
        """The house conventions, by module type."""
        if isinstance(m, nn.Conv2d):
            return out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        if isinstance(m, nn.ConvTranspose2d):
            return ins[0].numel() * (m.out_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        if isinstance(m, nn.Linear):
            return ins[0].numel() * m.out_features
        if isinstance(m, ns["RBF"]):
            return m.centres.numel()
        if isinstance(m, ns["Opaque"]):
            return m.macs
        return 0

    return {
        "torch": torch,
        "nn": nn,
        "make_twin": make_twin,
        "counted_macs": counted_macs,
        "marks": marks,
        "interp_axis": _interp_axis,
    }


_TT: dict[str, Any] = {}


def tt() -> dict[str, Any]:
    if not _TT:
        _TT.update(_torch_tools())
    return _TT


@dataclass
class Figures:
    """One layer's figures on one side. rf/jump per axis: None where not known or not measured."""

    shape: Shape
    params: int
    buffers: int
    macs: int
    rf: tuple[Any, Any] | None = None
    jump: tuple[Any, Any] | None = None


def torch_side(net: Net, source: str) -> tuple[dict[str, Figures], dict[str, Any]]:
    """Build and run the module (an exception here is PyTorch rejecting the network): figures per layer, and
    the module's namespace for :func:`measure_fields`."""
    t = tt()
    torch = t["torch"]
    ns: dict[str, Any] = {}
    exec(compile(source, f"<difftest {net.seed}>", "exec"), ns)  # noqa: S102 - our own generated source
    module = ns["Net"]().eval()
    macs: Counter[str] = Counter()
    handles = []
    for name, layer in module.named_children():
        for m in layer.modules():

            def hook(m: Any, ins: Any, out: Any, name: str = name) -> None:
                macs[name] += t["counted_macs"](m, ins, out, ns)

            handles.append(m.register_forward_hook(hook))
    torch.manual_seed(0)
    with torch.no_grad():
        outs = module(torch.randn(ns["INPUT"]))
    for hd in handles:
        hd.remove()
    layers: dict[str, Figures] = {}
    for name, layer in module.named_children():
        o = outs[name]
        shape = (o.shape[1],) if o.dim() == 2 else (o.shape[2], o.shape[3], o.shape[1])
        params = sum(p.numel() for p in layer.parameters())
        buffers = sum(b.numel() for n, b in layer.named_buffers() if not n.endswith("num_batches_tracked"))
        layers[name] = Figures(shape, params, buffers, macs[name])
    return layers, ns


def measure_fields(ns: dict[str, Any], probes: dict[str, list[tuple[int, int] | None]]) -> dict[str, list[Any]]:
    """The measured field of each probed position (None: a flat output, all of it) in ``probes[name]``:
    (rows extent, columns extent, rows inside, columns inside, first row, first column)."""
    t = tt()
    torch = t["torch"]
    twin = ns["Net"]()
    t["make_twin"](twin, ns)
    twin = twin.double().eval()
    with torch.no_grad():
        for pname, p in twin.named_parameters():
            if pname.endswith("bias"):
                p.zero_()
            else:
                p.fill_(1.0 / (math.prod(p.shape[1:]) if p.dim() > 1 else 1))
    items = [(name, pos) for name, ps in probes.items() for pos in ps]
    if not items:
        return {}
    b = len(items)
    _, c, h, w = ns["INPUT"]
    x = torch.ones(b, c, h, w, dtype=torch.float64, requires_grad=True)
    marks = t["marks"]
    marks.rows = torch.zeros(b, 1, 1, 1, dtype=torch.float64, requires_grad=True)
    marks.cols = torch.zeros(b, 1, 1, 1, dtype=torch.float64, requires_grad=True)
    outs = twin(x)
    total = 0
    for i, (name, pos) in enumerate(items):
        o = outs[name]
        total = total + (o[i].sum() if pos is None else o[i, :, pos[0], pos[1]].sum())
    total.backward()
    g = x.grad.abs().sum(1)  # (b, h, w)
    zero = torch.zeros(b, dtype=torch.float64)
    rows_clean = (zero if marks.rows.grad is None else marks.rows.grad.view(-1)) == 0
    cols_clean = (zero if marks.cols.grad is None else marks.cols.grad.view(-1)) == 0
    found: dict[str, list[Any]] = {}
    for i, (name, _) in enumerate(items):
        nz = g[i] > 0
        r = torch.nonzero(nz.any(1)).view(-1).tolist()
        cc = torch.nonzero(nz.any(0)).view(-1).tolist()
        found.setdefault(name, []).append(
            (
                (r[-1] - r[0] + 1) if r else 0,
                (cc[-1] - cc[0] + 1) if cc else 0,
                bool(rows_clean[i]),
                bool(cols_clean[i]),
                r[0] if r else None,
                cc[0] if cc else None,
            )
        )
    return found


# =========================================================================== the cnncalc side


def cnncalc_side(spec: str, workdir: Path) -> dict[str, Any]:
    """Count the spec through cnncalc's Python API: figures per layer name, and the joins it warns W201 about."""
    from cnncalc import analyze_spec

    path = workdir / "net.yaml"
    path.write_text(spec, encoding="utf-8")
    report = analyze_spec(str(path))
    layers: dict[str, Figures] = {}
    for r in report.layers:
        name = r.path.rsplit(".", 1)[-1]
        layers[name] = Figures(tuple(r.output.dims), r.params, r.buffers, r.macs, r.rf, r.jump)
    misaligned = set()
    for w in report.warnings:
        loc = getattr(w, "location", None)
        path_ = getattr(loc, "path", None) or ""
        if getattr(w, "code", "") == "W201" and path_:
            misaligned.add(path_.rsplit(".", 1)[-1])
    return {"layers": layers, "misaligned": misaligned}


# =========================================================================== comparing


def _norm_message(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else text
    first = re.sub(r"`[^`]*`", "`_`", first)
    first = re.sub(r"\d+", "N", first)
    return first[:110]


def _reject_tags(side: str, err: str, tags: set[str]) -> str:
    """The known difference a one-sided rejection is, or "" when it is none of them."""
    if side == "torch":
        if "pool-pad-over-half" in tags and "pad should be" in err:
            return "pool-pad-over-half"
        if "avgpool-dilation" in tags and "avgpool-dilation" in err:
            return "avgpool-dilation"
        if "flat-lrn" in tags and ("3D or higher" in err or "LRN" in err or "dimension" in err.lower()):
            return "flat-lrn"
        if "flat-shuffle" in tags and ("shuffle" in err.lower() or "dimension" in err.lower()):
            return "flat-shuffle"
        if "norm-single-value" in tags and "Expected more than 1" in err:
            return "norm-single-value"
    if side == "torch" and "asym-pad-ceil" in tags and re.search(r"size|shape|match|contain|element", err):
        return "asym-pad-ceil"
    if side == "cnncalc" and "ceil-overhang" in tags and ("smaller than" in err or "empty" in err):
        return "ceil-overhang"
    if side == "cnncalc" and "lrn-k" in tags and "has no keyword `kernel`" in err:
        return "lrn-k"
    if side == "cnncalc" and "flat-gate" in tags and "mul" in err:
        return "flat-gate"
    if side == "cnncalc" and "norm-single-value" in tags and "variance" in err:
        return "norm-single-value"
    if "asym-pad-ceil" in tags:  # the shapes differ after it, so a later layer may fail on either side
        return "asym-pad-ceil"
    return ""


def _ratio(nd: Node, axis: int) -> Fraction | None:
    """How many output positions per input position a resampling op makes on an axis (None: not one)."""
    a, x, o = nd.a, nd.in_shapes[0], nd.out
    if nd.op == "deconv":
        return Fraction(pair(a["stride"])[axis])
    if nd.op == "upsample":
        if "scale" in a:
            return Fraction(a["scale"])
        return Fraction(o[axis], x[axis])
    if nd.op == "pixel_shuffle":
        return Fraction(a["factor"])
    if nd.op == "adaptive_avgpool" and not flat(x) and x[axis] % o[axis]:
        return Fraction(o[axis], x[axis])
    return None


def periods(nodes: list[Node]) -> dict[str, tuple[int, int]]:
    """Per layer and axis, after how many output positions the pattern of fields repeats (1 on a plain grid;
    a resampling op by a/b makes it a*P/gcd(P, b); a window at stride s makes it P/gcd(P, s))."""
    per: dict[str, tuple[int, int]] = {"x": (1, 1)}
    for nd in nodes:
        if nd.op in JOINS:
            got = [per[i] for i in nd.inputs]
            per[nd.name] = (math.lcm(*(p[0] for p in got)), math.lcm(*(p[1] for p in got)))
            continue
        src = per[nd.inputs[0]]
        if flat(nd.out) or nd.out[:2] == (1, 1) and nd.op in ("gap", "gmp", "opaque", "adaptive_avgpool"):
            per[nd.name] = (1, 1)
            continue
        out = []
        for axis in (0, 1):
            p = src[axis]
            r = _ratio(nd, axis)
            if r is not None:
                p = r.numerator * p // math.gcd(p, r.denominator)
            elif nd.op in ("conv", "dwconv", "maxpool", "avgpool", "subsample_pool"):
                s = pair(nd.a.get("stride") or nd.a["kernel"])[axis]
                p //= math.gcd(p, s)
            elif nd.op == "pixel_unshuffle":
                p //= math.gcd(p, nd.a["factor"])
            elif nd.op == "adaptive_avgpool" and not flat(nd.in_shapes[0]):
                p //= math.gcd(p, nd.in_shapes[0][axis] // nd.out[axis])
            out.append(p)
        per[nd.name] = (out[0], out[1])
    return per


def probes_for(nodes: list[Node], c: dict[str, Figures]) -> dict[str, list[tuple[int, int] | None]]:
    """The output positions to measure: a grid from the centre over one period (+1) of each axis."""
    probes: dict[str, list[tuple[int, int] | None]] = {}
    per = periods(nodes)
    for nd in nodes:
        f = c.get(nd.name)
        if f is None or f.rf is None:
            continue
        if flat(nd.out):
            probes[nd.name] = [None]
            continue
        h, w, _ = nd.out
        ci, cj = (h - 1) // 2, (w - 1) // 2
        ph, pw = (min(p, 6) for p in per[nd.name])
        rows = sorted({min(ci + a, h - 1) for a in range(ph + 1)})
        cols = sorted({min(cj + b, w - 1) for b in range(pw + 1)})
        probes[nd.name] = [(r, c_) for r in rows for c_ in cols]
    return probes


def _downstream(nodes: list[Node], roots: set[str]) -> set[str]:
    hit = set(roots)
    for nd in nodes:
        if any(i in hit for i in nd.inputs):
            hit.add(nd.name)
    return hit


_RESAMPLING = ("deconv", "upsample", "pixel_shuffle", "adaptive_avgpool")


def _approximations(nodes: list[Node]) -> tuple[set[str], set[str], set[str]]:
    """The layers downstream of a resampling op (fields are bounds), of an adaptive pool whose sizes do not
    divide (cnncalc's documented approximation of PyTorch's bins), and of a split (fields per channel)."""
    resampled = {nd.name for nd in nodes if nd.op in _RESAMPLING and not flat(nd.in_shapes[0])}

    adaptive = {
        nd.name
        for nd in nodes
        if nd.op == "adaptive_avgpool"
        and not flat(nd.in_shapes[0])
        and (nd.in_shapes[0][0] % nd.out[0] or nd.in_shapes[0][1] % nd.out[1])
    }
    splits = {nd.name for nd in nodes if nd.op == "split"}
    return _downstream(nodes, resampled), _downstream(nodes, adaptive), _downstream(nodes, splits)


def compare(
    nodes: list[Node],
    c: dict[str, Any],
    tl: dict[str, Figures],
    fields: dict[str, list[Any]],
    probes: dict[str, list[Any]],
    stats: Counter[str],
) -> list[dict[str, Any]]:
    """Every layer's figures; a list of mismatches (at most the first of each kind), and field counts in stats."""
    cl = c["layers"]
    skip_rf = _downstream(nodes, c["misaligned"])
    resampled, adaptive, splits = _approximations(nodes)
    per = periods(nodes)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()

    def bad(kind: str, nd: Node, cv: Any, tv: Any, note: str = "", known: str = "") -> None:
        if kind in seen:
            return
        seen.add(kind)
        out.append(
            {"kind": kind, "layer": nd.name, "op": nd.op, "cnncalc": cv, "torch": tv, "note": note, "known": known}
        )

    for nd in nodes:
        cf, tf = cl.get(nd.name), tl.get(nd.name)
        if cf is None or tf is None:
            bad("missing", nd, cf is not None, tf is not None)
            continue
        stats["layers compared"] += 1
        if cf.shape != tf.shape:
            bad(
                "shape",
                nd,
                fmt_shape(cf.shape),
                fmt_shape(tf.shape),
                known="asym-pad-ceil" if "asym-pad-ceil" in nd.tags else "",
            )
            seen.update(("rf", "jump"))
            continue  # the counts of a layer whose shapes differ are not comparable
        for kind in ("params", "buffers", "macs"):
            if getattr(cf, kind) != getattr(tf, kind):
                bad(kind, nd, getattr(cf, kind), getattr(tf, kind))
        if cf.rf is None:
            stats["fields unknown to cnncalc (opaque upstream)"] += 1
            continue
        if nd.name in skip_rf:
            stats["fields not compared: misaligned join upstream (W201)"] += 1
            continue
        meas = list(zip(probes.get(nd.name, []), fields.get(nd.name, [])))
        for axis in (0, 1):
            axis_name = "rows" if axis == 0 else "columns"
            clean = [m for _, m in meas if m[2 + axis] and m[0] and m[1]]
            if not clean:
                stats["field axes not inside the input"] += 1
                continue
            size = max(m[axis] for m in clean)
            stats["field axes compared"] += 1
            note = f"{axis_name}; measured (rows, cols, rows inside, cols inside) at {[(p, m[:4]) for p, m in meas]}"
            if size != cf.rf[axis]:
                known = ""
                if nd.name in adaptive:
                    known = "adaptive-approx"
                elif size < cf.rf[axis] and nd.name in splits:
                    known = "split-channels"
                elif size < cf.rf[axis] and nd.name in resampled:
                    known = "resampled-bound"
                bad("rf", nd, cf.rf, size, note, known)
            if flat(nd.out) or nd.out[axis] < 2:
                continue
            period = min(per[nd.name][axis], 6)
            expect = Fraction(cf.jump[axis]) * period
            pairs = [
                (m0[4 + axis], m1[4 + axis])
                for p0, m0 in meas
                for p1, m1 in meas
                if p1[axis] - p0[axis] == period
                and p1[1 - axis] == p0[1 - axis]
                and m0[2 + axis]
                and m1[2 + axis]
                and m0[0] * m0[1] * m1[0] * m1[1]
            ]
            if not pairs or expect.denominator != 1:
                continue
            stats["strides compared"] += 1
            shift = pairs[0][1] - pairs[0][0]
            if shift != expect:
                known = "adaptive-approx" if nd.name in adaptive else ("static-field" if shift == 0 else "")
                bad(
                    "jump",
                    nd,
                    cf.jump,
                    Fraction(shift, period),
                    f"{axis_name}: first {axis_name[:-1]} moves {shift} over {period} positions",
                    known,
                )
    return out


# =========================================================================== signatures and minimising


def signature(m: dict[str, Any], nodes: list[Node]) -> str:
    """What a mismatch is, for grouping: its kind and the first of the known causes upstream of it (a flatten of
    a grid, a mul with a flat gate, a resampled grid), else the op."""
    causes: dict[str, list[str]] = {"x": []}
    for nd in nodes:
        mine = []
        if nd.op == "flatten" and not flat(nd.in_shapes[0]) and numel(nd.in_shapes[0]) > chans(nd.in_shapes[0]):
            mine.append("a flatten of a grid")
        if nd.op == "mul" and not flat(nd.out) and any(flat(s) for s in nd.in_shapes):
            mine.append("a mul with a flat gate")
        if nd.op in ("deconv", "upsample", "pixel_shuffle"):
            mine.append(f"a resampled grid ({nd.op})")
        causes[nd.name] = [c for i in nd.inputs for c in causes[i]] + mine
    found = sorted(causes.get(m["layer"], []), key=lambda c: "resampled" in c)  # a flatten or a gate first
    return f"{m['kind']} after {found[0]}" if found else f"{m['kind']} of {m['op']}"


def reproduce(net: Net, workdir: Path) -> list[str] | None:
    """The mismatch signatures of a network (None when a side rejects it or the shape model does)."""
    from cnncalc import CnncalcError

    try:
        nodes = walk(net)
        spec, source = spec_text(net), torch_source(net)
        c = cnncalc_side(spec, workdir)
        tl, ns = torch_side(net, source)
        probes = probes_for(nodes, c["layers"])
        fields = measure_fields(ns, probes)
    except (DrawError, KeyError, CnncalcError, TesterError):
        return None
    except Exception:  # PyTorch rejecting it
        return None
    return [signature(m, nodes) for m in compare(nodes, c, tl, fields, probes, Counter()) if not m["known"]]


def _sequences(items: list[Any]) -> Iterator[list[Any]]:
    yield items
    for it in items:
        if isinstance(it, Join):
            for br in it.branches:
                yield from _sequences(br)


def candidates(net: Net) -> Iterator[Net]:
    """Smaller variants of a network: an item or a branch removed, a join replaced by one branch, fewer
    `from:` inputs, a smaller input."""
    import copy

    n_seq = sum(1 for _ in _sequences(net.items))
    for si in range(n_seq):
        seq = list(_sequences(net.items))[si]
        for k in range(len(seq)):
            cand = copy.deepcopy(net)
            cseq = list(_sequences(cand.items))[si]
            it = cseq[k]
            if isinstance(it, Join):
                for b in range(len(it.branches)):
                    c2 = copy.deepcopy(cand)
                    s2 = list(_sequences(c2.items))[si]
                    s2[k : k + 1] = s2[k].branches[b]
                    yield c2
                if it.refs:
                    c2 = copy.deepcopy(cand)
                    list(_sequences(c2.items))[si][k].refs = []
                    yield c2
                if len(it.branches) > 2:
                    for b in range(len(it.branches)):
                        c2 = copy.deepcopy(cand)
                        del list(_sequences(c2.items))[si][k].branches[b]
                        yield c2
            elif it.src:
                c2 = copy.deepcopy(cand)
                list(_sequences(c2.items))[si][k].src = None
                yield c2
            if len(cseq) > 1:
                del cseq[k]
                yield cand
    h, w, c = net.input
    for smaller in ((h - 1, w, c), (h, w - 1, c), (h, w, c - 1), (h // 2 + 1, w, c), (h, w // 2 + 1, c)):
        if min(smaller) >= 1 and smaller != net.input:
            yield Net(smaller, net.items, net.seed)


def minimise(net: Net, sig: str, workdir: Path, budget: int = 600) -> Net:
    """Greedy: keep any smaller variant that still shows the mismatch ``sig``."""
    tries = 0
    changed = True
    while changed and tries < budget:
        changed = False
        for cand in candidates(net):
            tries += 1
            got = reproduce(cand, workdir)
            if got is not None and sig in got:
                net = cand
                changed = True
                break
            if tries >= budget:
                break
    return net


# =========================================================================== one network, many networks


def run_one(seed: str, workdir: Path, stats: Counter[str]) -> dict[str, Any]:
    """Draw, count on both sides, compare. Returns {"status", "seed", ...}; adds counts to ``stats``."""
    from cnncalc import CnncalcError

    net = draw_network(seed)
    nodes = walk(net)
    spec, source = spec_text(net), torch_source(net)
    tags = set().union(*(nd.tags for nd in nodes))
    res: dict[str, Any] = {"seed": seed, "spec": spec, "source": source, "tags": sorted(tags)}
    c_err = t_err = None
    try:
        c = cnncalc_side(spec, workdir)
    except CnncalcError as err:
        c_err = f"{err.code}: {err.message}"
    try:
        tl, ns = torch_side(net, source)
    except Exception as err:  # PyTorch refusing the network (or a module that does not exist)
        t_err = f"{type(err).__name__}: {err}"
    if c_err and t_err:
        stats["networks both sides reject"] += 1
        return {**res, "status": "both-reject", "cnncalc": c_err, "torch": t_err}
    if c_err or t_err:
        side = "cnncalc" if c_err else "torch"
        err = c_err or t_err or ""
        known = _reject_tags(side, err, tags)
        return {**res, "status": "disagree", "side": side, "error": err, "known": known}
    probes = probes_for(nodes, c["layers"])
    try:
        fields = measure_fields(ns, probes)
    except TesterError as err:
        return {**res, "status": "tester-error", "error": str(err)}
    stats["networks compared"] += 1
    for nd in nodes:
        stats[f"op {nd.op}"] += 1
    mism = compare(nodes, c, tl, fields, probes, stats)
    if not mism:
        return {**res, "status": "ok"}
    for m in mism:
        m["signature"] = signature(m, nodes)
    if all(m["known"] for m in mism):
        return {**res, "status": "known-mismatch", "mismatches": mism}
    return {**res, "status": "mismatch", "mismatches": mism}


def run_chunk(task: tuple[int, int, int, str, bool]) -> dict[str, Any]:
    """Networks [start, stop) of a seed, in one process."""
    seed, start, stop, out_dir, keep_ok = task
    stats: Counter[str] = Counter()
    kept: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for i in range(start, stop):
            s = f"{seed}:{i}"
            try:
                r = run_one(s, work, stats)
            except Exception:  # a crash of the tester or of cnncalc (not a CnncalcError): report, never hide
                r = {"seed": s, "status": "crash", "error": traceback.format_exc()}
            stats["networks"] += 1
            stats[f"status {r['status']}"] += 1
            if r["status"] != "ok":
                kept.append(r)
    return {"stats": stats, "kept": kept}


def save(out: Path, n: int, r: dict[str, Any]) -> str:
    tag = f"{n:04d}-{r['status']}"
    if "spec" in r:
        (out / f"{tag}.yaml").write_text(r["spec"], encoding="utf-8")
        (out / f"{tag}.py").write_text(r["source"], encoding="utf-8")
    info = {k: v for k, v in r.items() if k not in ("spec", "source")}
    (out / f"{tag}.txt").write_text(json.dumps(info, indent=1, default=str) + "\n", encoding="utf-8")
    return tag


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--networks", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="directory for reproducers (default: none saved)")
    ap.add_argument("--only", help="run one network by its seed text (SEED:INDEX) and print it")
    ap.add_argument("--no-minimise", dest="minimise", action="store_false", help="do not minimise mismatches")
    args = ap.parse_args(argv)
    check_coverage()
    if args.only:
        with tempfile.TemporaryDirectory() as tmp:
            stats: Counter[str] = Counter()
            r = run_one(args.only, Path(tmp), stats)
        print(r["spec"])
        print(json.dumps({k: v for k, v in r.items() if k not in ("spec", "source")}, indent=1, default=str))
        return 0 if r["status"] in ("ok", "disagree", "both-reject", "known-mismatch") else 1
    chunk = 25
    tasks = [
        (args.seed, i, min(i + chunk, args.networks), str(args.out or ""), False)
        for i in range(0, args.networks, chunk)
    ]
    t0 = time.time()
    if args.jobs > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            results = pool.map(run_chunk, tasks, chunksize=1)
    else:
        results = [run_chunk(t) for t in tasks]
    stats: Counter[str] = Counter()
    kept: list[dict[str, Any]] = []
    for r in results:
        stats.update(r["stats"])
        kept.extend(r["kept"])
    return report(args, stats, kept, time.time() - t0)


def report(args: argparse.Namespace, stats: Counter[str], kept: list[dict[str, Any]], secs: float) -> int:
    out: Path | None = args.out
    if out:
        out.mkdir(parents=True, exist_ok=True)
    files: dict[int, str] = {}
    for n, r in enumerate(kept):
        if out:
            files[n] = save(out, n, r)
    p = print
    p(f"difftest: seed {args.seed}, {stats['networks']} networks in {secs:.0f} s")
    p(f"  compared on both sides: {stats['networks compared']} networks, {stats['layers compared']} layers")
    p("  layers per op:")
    ops = sorted((k[3:], v) for k, v in stats.items() if k.startswith("op "))
    for i in range(0, len(ops), 6):
        p("    " + "  ".join(f"{k} {v}" for k, v in ops[i : i + 6]))
    p("  receptive fields:")
    for k in (
        "field axes compared",
        "strides compared",
        "field axes not inside the input",
        "fields not compared: misaligned join upstream (W201)",
        "fields unknown to cnncalc (opaque upstream)",
    ):
        p(f"    {k}: {stats[k]}")
    bad = [(n, r) for n, r in enumerate(kept) if r["status"] in ("mismatch", "crash", "tester-error")]
    mism = [(n, r) for n, r in bad if r["status"] == "mismatch"]
    p(f"  mismatches: {len(mism)} networks")
    by_sig: dict[str, list[int]] = {}
    for n, r in mism:
        for m in r["mismatches"]:
            if not m["known"]:
                by_sig.setdefault(m["signature"], []).append(n)
    for sig, ns in sorted(by_sig.items(), key=lambda kv: -len(kv[1])):
        first = kept[ns[0]]
        m = next(m for m in first["mismatches"] if m["signature"] == sig)
        p(f"    {len(ns):5d}  {sig}: e.g. {first['seed']} at {m['layer']}: cnncalc {m['cnncalc']}, torch {m['torch']}")
        if args.minimise:
            with tempfile.TemporaryDirectory() as tmp:
                small = minimise(draw_network(first["seed"]), sig, Path(tmp))
            tag = f"min-{len(files):04d}"
            if out:
                (out / f"{tag}.yaml").write_text(spec_text(small), encoding="utf-8")
                (out / f"{tag}.py").write_text(torch_source(small), encoding="utf-8")
            p("           minimised" + (f" ({tag}.yaml/.py)" if out else "") + ":")
            for line in spec_text(small).splitlines()[2:]:
                p(f"             {line}")
            files[-len(files) - 1] = tag
    for n, r in bad:
        if r["status"] != "mismatch":
            where = f" -> {files[n]}" if n in files else ""
            p(f"    {r['seed']}: {r['status']}: {r['error'].strip().splitlines()[-1]}{where}")
    known_m = [(n, r) for n, r in enumerate(kept) if r["status"] == "known-mismatch"]
    if known_m:
        groups: Counter[str] = Counter(m["known"] for _, r in known_m for m in r["mismatches"])
        p("  known differences in figures (documented, not mismatches):")
        for g, v in groups.most_common():
            p(f"    {g}: {v}")
    dis = [(n, r) for n, r in enumerate(kept) if r["status"] == "disagree"]
    p(f"  one side accepts what the other rejects: {len(dis)} networks")
    groups2: dict[tuple[str, str, str], list[int]] = {}
    for n, r in dis:
        groups2.setdefault((r["known"] or "UNEXPLAINED", r["side"], _norm_message(r["error"])), []).append(n)
    for (known, side, msg), ns in sorted(groups2.items(), key=lambda kv: -len(kv[1])):
        ex = f" (e.g. {files[ns[0]]})" if ns[0] in files else f" (e.g. {kept[ns[0]]['seed']})"
        p(f"    {len(ns):5d}  {known}: {side} rejects: {msg}{ex}")
    both = [r for r in kept if r["status"] == "both-reject"]
    p(f"  both sides reject: {len(both)} networks")
    groups3 = Counter(f"cnncalc {_norm_message(r['cnncalc'])} / torch {_norm_message(r['torch'])}" for r in both)
    for msg, v in groups3.most_common(8):
        p(f"    {v:5d}  {msg}")
    unexplained = sum(len(v) for k, v in groups2.items() if k[0] == "UNEXPLAINED")
    return 1 if bad or unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
