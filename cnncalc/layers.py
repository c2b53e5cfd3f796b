"""The layer-type registry: one entry per op, with its shape rule, parameters and MACs.

Counting conventions (the single source; the README and every table footer quote them):

* **Shapes** are per sample (batch 1), ``H x W x C``. Output size per axis is
  ``floor((n + pad_before + pad_after - dilation*(k-1) - 1)/stride) + 1``;
  pooling may ask for ``ceil`` (PyTorch/Caffe ``ceil_mode``). Padding defaults to 0.
* **Params** are trainable values: conv/fc weights, their biases (on unless
  ``bias=false`` or ``--no-bias``), and batch norm's gamma and beta (2 per
  channel). BN running mean and variance are **buffers**, reported apart
  (PyTorch's ``num_batches_tracked`` counter is not counted).
* **MACs** are the multiply-accumulates of conv, depthwise conv and fc layers (and of
  LeNet's RBF output units, whose squared distances are multiply-accumulates):
  ``H_out * W_out * C_out * (C_in / groups) * kh * kw`` for a conv and
  ``inputs * outputs`` for fc. Bias additions, pooling, normalisation,
  activations and joins cost 0 MACs. **FLOPs = 2 x MACs.**
* **Activations** are the elements of a layer's output.

A new layer type is one :func:`register` call here; the README's table of
layer types is generated from :data:`LAYER_TYPES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .errors import ShapeError
from .expr import Dim
from .shapes import Shape, Window, same_padding, window_out

CONVENTIONS = (
    "params = weights + biases + BN gamma/beta (BN running stats are buffers, not params); "
    "MACs = multiply-accumulates of conv and fc (bias adds, pooling, BN, activations, joins: 0); "
    "FLOPs = 2 x MACs; activations = output elements; per sample (batch 1); "
    "output size = floor((n + pads - dilation*(k-1) - 1)/stride) + 1 unless ceil; padding 0 unless given"
)

Attrs = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ArgSpec:
    """One keyword (or positional) argument of an op.

    ``kind``: 'count' (whole number >= 1), 'index' (>= 0), 'dim' (``K`` or ``KhxKw``),
    'pad' (``P``, ``PhxPw``, same, same_lower, valid, or {top, bottom, left, right}),
    'bool', 'number' (may be fractional), 'shape'.
    """

    name: str
    kind: str
    default: Any = None  # None: required, unless optional
    positional: bool = False
    doc: str = ""
    optional: bool = False  # may be left out entirely (the rule then uses None)


@dataclass(frozen=True)
class LayerType:
    """An op: its arguments, output-shape rule and counts.

    ``shape(attrs, inputs, ctx)`` returns the output shape and may record details
    (per-axis windows, resolved padding) in ``ctx.info``; ``params`` returns
    ``(weights, biases)``; ``buffers`` and ``macs`` return ints.
    """

    name: str
    summary: str
    args: tuple[ArgSpec, ...]
    shape: Callable[[Attrs, list[Shape], Ctx], Shape]
    params: Callable[[Attrs, list[Shape], Shape], tuple[int, int]] = lambda a, i, o: (0, 0)
    macs: Callable[[Attrs, list[Shape], Shape], int] = lambda a, i, o: 0
    buffers: Callable[[Attrs, list[Shape], Shape], int] = lambda a, i, o: 0
    params_doc: str = "0"
    macs_doc: str = "0"
    inputs: str = "one"  # 'one' or 'many' (joins)
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {a.name: a for a in self.args})
        object.__setattr__(self, "positional", tuple(a for a in self.args if a.positional))

    def arg(self, name: str) -> ArgSpec | None:
        """The argument called ``name``."""
        return self._by_name.get(name)  # type: ignore[attr-defined,no-any-return]

    positional: tuple[ArgSpec, ...] = field(default=(), init=False, repr=False, compare=False)
    """Arguments that may be given by position, in order."""


@dataclass(slots=True)
class Ctx:
    """What a shape rule may need beyond its attributes."""

    rounding: str = "floor"  # 'floor', 'ceil' or 'exact'
    info: dict[str, Any] = field(default_factory=dict)


LAYER_TYPES: dict[str, LayerType] = {}
ALIASES: dict[str, str] = {}
#: Keyword aliases accepted on every op (the lecture's S, P notation).
KEY_ALIASES = {"s": "stride", "p": "pad", "padding": "pad", "g": "groups", "k": "kernel"}


def register(lt: LayerType) -> LayerType:
    """Add a layer type (and its aliases) to the registry."""
    LAYER_TYPES[lt.name] = lt
    for alias in lt.aliases:
        ALIASES[alias] = lt.name
    return lt


def lookup(name: str) -> LayerType | None:
    """The layer type called ``name`` (or an alias of it)."""
    return LAYER_TYPES.get(name) or LAYER_TYPES.get(ALIASES.get(name, ""))


# --------------------------------------------------------------------------- shape helpers


def pair(v: int | Dim) -> tuple[int, int]:
    """``(a, b)`` from an int (square) or a Dim."""
    return (v.a, v.b) if isinstance(v, Dim) else (v, v)


def _spatial(name: str, shape: Shape) -> None:
    if shape.is_flat:
        raise ShapeError(f"`{name}` needs an HxWxC input, got the flat vector {shape}")


def resolve_pad(pad: Any, n: tuple[int, int], k: tuple[int, int], s: tuple[int, int],
                d: tuple[int, int]) -> tuple[int, int, int, int]:  # fmt: skip
    """Padding as (top, bottom, left, right) from int, Dim, 'same', 'same_lower', 'valid' or a mapping."""
    if isinstance(pad, str):
        if pad == "valid":
            return (0, 0, 0, 0)
        lower = pad == "same_lower"
        t, b = same_padding(n[0], k[0], s[0], d[0], lower)
        left, r = same_padding(n[1], k[1], s[1], d[1], lower)
        return (t, b, left, r)
    if isinstance(pad, tuple):
        return pad  # type: ignore[no-any-return]
    ph, pw = pair(pad)
    return (ph, ph, pw, pw)


def sliding(name: str, a: Attrs, x: Shape, ctx: Ctx, ceil: bool = False) -> tuple[int, int]:
    """Output H, W of a sliding window op; records windows and padding in ``ctx.info``."""
    _spatial(name, x)
    k, s, d = pair(a["kernel"]), pair(a["stride"]), pair(a.get("dilation", 1))
    pads = resolve_pad(a.get("pad", 0), (x.h, x.w), k, s, d)
    ceil = ceil or ctx.rounding == "ceil"
    wins: list[Window] = []
    for axis, (n, kk, ss, dd, p0, p1) in enumerate(
        ((x.h, k[0], s[0], d[0], pads[0], pads[1]), (x.w, k[1], s[1], d[1], pads[2], pads[3]))
    ):
        span = dd * (kk - 1) + 1
        axis_name = "height" if axis == 0 else "width"
        if n + p0 + p1 < span:
            what = f"{kk}-pixel kernel" if dd == 1 else f"{kk}-pixel kernel dilated to {span}"
            raise ShapeError(
                f"{axis_name} {n}+{p0}+{p1} (input {x}) is smaller than the {what}; the output would be empty",
                code="E401",
            )
        win = window_out(n, kk, ss, p0, p1, dd, ceil)
        if ctx.rounding == "exact" and not win.whole:
            fit = _nearest_fit(n, kk, ss, p0 + p1, dd)
            raise ShapeError(
                f"{axis_name}: {win.arithmetic().split(' = ')[0]} = {win.exact} is not a whole number"
                f" (rounding: exact); an input {axis_name} of {fit} would fit exactly",
                code="E405",
            )
        wins.append(win)
    ctx.info["windows"] = tuple(wins)
    ctx.info["pads"] = pads
    return wins[0].out, wins[1].out


def _nearest_fit(n: int, k: int, s: int, p: int, d: int) -> int:
    span = d * (k - 1) + 1
    for delta in range(0, s):
        for cand in (n + delta, n - delta):
            if cand + p >= span and (cand + p - span) % s == 0:
                return cand
    return n  # pragma: no cover


# --------------------------------------------------------------------------- conv and fc


def _conv_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    x = ins[0]
    _spatial("conv", x)
    g = a["groups"]
    _check_table(a, x)
    if x.c % g or a["out"] % g:
        raise ShapeError(
            f"groups={g} must divide the input channels ({x.c}) and the output channels ({a['out']})", code="E402"
        )
    h, w = sliding("conv", a, x, ctx)
    return Shape.spatial(h, w, a["out"])


def _connections(a: Attrs, ins: list[Shape], out: Shape) -> int:
    """Input-map to output-map connections: C'·C/groups, or the sum over a connection table."""
    table = a.get("table")
    if table is not None:
        return sum(len(row) for row in table)
    return out.c * (ins[0].c // a["groups"])


def _conv_params(a: Attrs, ins: list[Shape], out: Shape) -> tuple[int, int]:
    kh, kw = pair(a["kernel"])
    return kh * kw * _connections(a, ins, out), out.c if a["bias"] else 0


def _conv_macs(a: Attrs, ins: list[Shape], out: Shape) -> int:
    kh, kw = pair(a["kernel"])
    return out.h * out.w * kh * kw * _connections(a, ins, out)


def _check_table(a: Attrs, x: Shape) -> None:
    table = a.get("table")
    if table is None:
        return
    if a["groups"] != 1:
        raise ShapeError("a connection `table` replaces `groups`; give one or the other", code="E402")
    if len(table) != a["out"]:
        raise ShapeError(f"the connection table has {len(table)} rows for {a['out']} output channels", code="E402")
    for j, row in enumerate(table):
        bad = [i for i in row if not 0 <= i < x.c]
        if bad or len(set(row)) != len(row) or not row:
            raise ShapeError(f"connection table row {j} must list distinct input channels 0..{x.c - 1}, got "
                             f"{list(row)}", code="E402")  # fmt: skip


_WINDOW_ARGS = (
    ArgSpec("stride", "dim", 1, doc="step per axis"),
    ArgSpec("pad", "pad", 0, doc="zero padding: P, PhxPw, same, same_lower, valid or {top, bottom, left, right}"),
    ArgSpec("dilation", "dim", 1),
)

register(LayerType(
    "conv", "2-D convolution",
    (ArgSpec("out", "count", positional=True, doc="output channels"),
     ArgSpec("kernel", "dim", positional=True, doc="K or KhxKw"),
     *_WINDOW_ARGS,
     ArgSpec("groups", "count", 1), ArgSpec("bias", "bool", True),
     ArgSpec("table", "table", optional=True, doc="partial connections: for each output channel, the input channels it sees")),
    _conv_shape, _conv_params, _conv_macs,
    params_doc="kh·kw·(C/groups)·C' + C' bias (with `table`: kh·kw·connections + C')",
    macs_doc="H'·W'·C'·(C/groups)·kh·kw (with `table`: H'·W'·kh·kw·connections)",
))  # fmt: skip


def _dw_attrs(a: Attrs, x: Shape) -> dict[str, Any]:
    return {**a, "groups": x.c, "out": x.c * a["mult"]}


register(LayerType(
    "dwconv", "depthwise convolution (groups = input channels)",
    (ArgSpec("kernel", "dim", positional=True, doc="K or KhxKw"), *_WINDOW_ARGS,
     ArgSpec("mult", "count", 1, doc="channel multiplier"), ArgSpec("bias", "bool", True)),
    lambda a, i, c: _conv_shape(_dw_attrs(a, i[0]) if not i[0].is_flat else a, i, c),
    lambda a, i, o: _conv_params(_dw_attrs(a, i[0]), i, o),
    lambda a, i, o: _conv_macs(_dw_attrs(a, i[0]), i, o),
    params_doc="kh·kw·mult·C + mult·C bias", macs_doc="H'·W'·mult·C·kh·kw",
))  # fmt: skip

register(LayerType(
    "fc", "fully connected (flattens its input)",
    (ArgSpec("out", "count", positional=True, doc="output features"), ArgSpec("bias", "bool", True)),
    lambda a, i, c: Shape.flat(a["out"]),
    lambda a, i, o: (i[0].numel * o.c, o.c if a["bias"] else 0),
    lambda a, i, o: i[0].numel * o.c,
    params_doc="H·W·C·N + N bias", macs_doc="H·W·C·N", aliases=("linear",),
))  # fmt: skip

# --------------------------------------------------------------------------- pooling


def _pool_shape(name: str) -> Callable[[Attrs, list[Shape], Ctx], Shape]:
    def shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
        attrs = {**a, "stride": a["stride"] if a["stride"] is not None else a["kernel"]}
        h, w = sliding(name, attrs, ins[0], ctx, ceil=a["ceil"])
        return Shape.spatial(h, w, ins[0].c)

    return shape


for _pool, _what in (("maxpool", "max"), ("avgpool", "average")):
    register(LayerType(
        _pool, f"{_what} pooling (stride defaults to the kernel)",
        (ArgSpec("kernel", "dim", positional=True), ArgSpec("stride", "dim", None, optional=True, doc="defaults to the kernel"),
         ArgSpec("pad", "pad", 0), ArgSpec("dilation", "dim", 1),
         ArgSpec("ceil", "bool", False, doc="round the output size up (ceil_mode)")),
        _pool_shape(_pool),
    ))  # fmt: skip


def _global_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    _spatial("global pooling", ins[0])
    return Shape.spatial(1, 1, ins[0].c)


register(LayerType("gap", "global average pooling to 1x1xC", (), _global_shape, aliases=("global_avgpool",)))
register(LayerType("gmp", "global max pooling to 1x1xC", (), _global_shape, aliases=("global_maxpool",)))


def _adaptive_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    _spatial("adaptive_avgpool", ins[0])
    h, w = pair(a["out"])
    return Shape.spatial(h, w, ins[0].c)


register(LayerType(
    "subsample", "LeNet-5 subsampling: a 2x2 average times a trainable coefficient, plus a trainable bias, per channel",
    (ArgSpec("kernel", "dim", positional=True), ArgSpec("stride", "dim", None, optional=True, doc="defaults to the kernel"),
     ArgSpec("pad", "pad", 0), ArgSpec("ceil", "bool", False)),
    _pool_shape("subsample"), params=lambda a, i, o: (o.c, o.c), params_doc="2·C (coefficient, bias)",
))  # fmt: skip
register(LayerType(
    "rbf", "Euclidean radial basis units with fixed, hand-chosen parameter vectors (LeNet-5's output layer)",
    (ArgSpec("out", "count", positional=True),), lambda a, i, c: Shape.flat(a["out"]),
    buffers=lambda a, i, o: i[0].numel * o.c, macs=lambda a, i, o: i[0].numel * o.c,
    params_doc="0 (N·inputs fixed values, reported as buffers)", macs_doc="N·inputs (squared distances)",
))  # fmt: skip
register(LayerType(
    "adaptive_avgpool", "adaptive average pooling to a fixed HxW (torchvision's AdaptiveAvgPool2d)",
    (ArgSpec("out", "dim", positional=True, doc="output HxW"),), _adaptive_shape,
))  # fmt: skip

# --------------------------------------------------------------------------- normalisation


def _same(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    return ins[0]


register(LayerType(
    "bn", "batch normalisation: gamma, beta per channel (params); running mean, var (buffers)",
    (ArgSpec("eps", "number", Fraction(1, 100000)),), _same,
    params=lambda a, i, o: (o.c, o.c), buffers=lambda a, i, o: 2 * o.c,
    params_doc="2·C (gamma, beta); buffers 2·C", aliases=("batchnorm",),
))  # fmt: skip
register(LayerType(
    "lrn", "local response normalisation (AlexNet)",
    (ArgSpec("size", "count", 5, positional=True), ArgSpec("alpha", "number", Fraction(1, 10000)),
     ArgSpec("beta", "number", Fraction(3, 4)), ArgSpec("k", "number", 1)),
    _same,
))  # fmt: skip

# --------------------------------------------------------------------------- element-wise, no parameters

for _name, _summary, _aliases in (
    ("relu", "rectified linear unit", ()),
    ("relu6", "ReLU clipped at 6", ()),
    ("sigmoid", "logistic sigmoid", ()),
    ("tanh", "hyperbolic tangent", ()),
    ("elu", "exponential linear unit", ()),
    ("gelu", "Gaussian error linear unit", ()),
    ("swish", "x·sigmoid(x) (SiLU)", ("silu",)),
    ("hswish", "hard swish (MobileNetV3)", ("hardswish",)),
    ("hsigmoid", "hard sigmoid (MobileNetV3)", ("hardsigmoid",)),
    ("softmax", "softmax over channels", ()),
    ("identity", "passes its input through", ()),
):
    register(LayerType(_name, _summary, (), _same, aliases=_aliases))
register(LayerType("leaky", "leaky ReLU", (ArgSpec("slope", "number", Fraction(1, 100), positional=True),), _same,
                   aliases=("leakyrelu",)))  # fmt: skip
register(LayerType("dropout", "dropout (no effect on counts)",
                   (ArgSpec("p", "number", Fraction(1, 2), positional=True),), _same))  # fmt: skip
register(LayerType("scale", "multiply by a constant (scaled residuals, Inception-ResNet)",
                   (ArgSpec("factor", "number", positional=True),), _same))  # fmt: skip
register(LayerType("flatten", "flattens HxWxC to a vector", (), lambda a, i, c: Shape.flat(i[0].numel)))


def _shuffle_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    if ins[0].c % a["groups"]:
        raise ShapeError(f"shuffle groups={a['groups']} must divide the channels ({ins[0].c})", code="E402")
    return ins[0]


register(LayerType("shuffle", "channel shuffle (ShuffleNet): permutes channels between groups",
                   (ArgSpec("groups", "count", positional=True),), _shuffle_shape))  # fmt: skip


def _split_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    c = ins[0].c
    if c % a["parts"]:
        raise ShapeError(f"split into {a['parts']} parts needs channels ({c}) divisible by {a['parts']}", code="E402")
    return ins[0].with_channels(c // a["parts"])


register(LayerType(
    "split", "takes one of `parts` equal channel slices (ShuffleNet v2's channel split)",
    (ArgSpec("parts", "count", 2, positional=True), ArgSpec("index", "index", 0)), _split_shape,
))  # fmt: skip
register(LayerType(
    "opaque", "a layer given by its figures (output shape, params, MACs), for what the registry lacks",
    (ArgSpec("out", "shape"), ArgSpec("params", "index", 0), ArgSpec("macs", "index", 0)),
    lambda a, i, c: a["out"], lambda a, i, o: (a["params"], 0), lambda a, i, o: a["macs"],
    params_doc="as given", macs_doc="as given",
))  # fmt: skip

# --------------------------------------------------------------------------- joins


def _concat_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    first = ins[0]
    if first.is_flat:
        if any(not s.is_flat for s in ins):
            raise ShapeError("concat mixes flat and HxWxC inputs: " + ", ".join(map(str, ins)), code="E403")
        return Shape.flat(sum(s.c for s in ins))
    if any(s.is_flat or (s.h, s.w) != (first.h, first.w) for s in ins):
        raise ShapeError("concat inputs disagree in height x width: " + ", ".join(map(str, ins)), code="E403")
    return first.with_channels(sum(s.c for s in ins))


def _same_shape(kind: str) -> Callable[[Attrs, list[Shape], Ctx], Shape]:
    def shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
        if any(s != ins[0] for s in ins):
            raise ShapeError(f"{kind} inputs must have the same shape: " + ", ".join(map(str, ins)), code="E404")
        return ins[0]

    return shape


def _mul_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    full = max(ins, key=lambda s: s.numel)
    for s in ins:
        if s != full and not (s.c == full.c and s.numel == s.c):
            raise ShapeError("mul inputs must have the same shape, or be 1x1xC gates of the same C: "
                             + ", ".join(map(str, ins)), code="E404")  # fmt: skip
    return full


register(LayerType("concat", "concatenates its inputs along channels (H x W must agree)", (), _concat_shape,
                   inputs="many"))  # fmt: skip
register(LayerType("add", "element-wise sum of its inputs (residual connection)", (), _same_shape("add"),
                   inputs="many"))  # fmt: skip
register(LayerType("mean", "element-wise mean of its inputs (FractalNet join)", (), _same_shape("mean"),
                   inputs="many"))  # fmt: skip
register(LayerType("mul", "element-wise product; a 1x1xC input scales every position (squeeze-excitation)",
                   (), _mul_shape, inputs="many"))  # fmt: skip

JOIN_OPS = ("concat", "add", "mean", "mul")
#: Ops whose MACs are counted (the rest are deliberately zero).
COUNTED_OPS = ("conv", "dwconv", "fc", "rbf")


def bias_free(a: Attrs) -> dict[str, Any]:
    """Attributes with the bias switched off (for ``--no-bias``)."""
    return {**a, "bias": False} if "bias" in a else dict(a)

