"""The op registry: one :class:`LayerType` entry per op holds everything cnncalc knows about it.

An entry has its arguments (kinds from :mod:`cnncalc.argkinds`, defaults that may derive from other arguments),
output-shape rule, params, buffers, MACs and backward MACs, element-wise ops, receptive-field rule
(:mod:`cnncalc.fields`), explanation, PyTorch code, role (layer or join), aliases and an example. Every other
stage reads from it: the spec reader (joins), argument binding, expansion, counting, receptive fields, the
renderers, the PyTorch export, and the generated docs (docs/ops.md, ``python tools/docs.py``). The counting
conventions are stated once, derived from the entries, by :func:`conventions`.

The classic ops are registered here; those of segmentation, generative and modern networks in
:mod:`cnncalc.vocabulary`. Adding an op is one :func:`register` call, its tests and the regenerated docs
(docs/ops.md#adding-an-op).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from . import fields
from . import onnxcode as ox
from .argkinds import (
    BOOL,
    COUNT,
    DIM,
    INDEX,
    NUMBER,
    PAD,
    PROBABILITY,
    SHAPE,
    TABLE,
    ArgKind,
    Derived,
    same_as,
)
from .errors import ShapeError
from .expr import Dim
from .fields import FieldRule
from .onnxcode import OnnxRule, onnx
from .shapes import Shape, Window, same_padding, window_out
from .torchcode import TorchCode, kw, pos, size_arg

Attrs = Mapping[str, Any]
Counter = Callable[[Attrs, list[Shape], Shape], int]


def _zero(a: Attrs, i: list[Shape], o: Shape) -> int:
    return 0


def _no_params(a: Attrs, i: list[Shape], o: Shape) -> tuple[int, int]:
    return (0, 0)


@dataclass(frozen=True, slots=True)
class ArgSpec:
    """One keyword (or positional) argument of an op.

    ``kind`` is an :mod:`~cnncalc.argkinds` object that converts and documents the written value. ``default``
    is a value, a :class:`~cnncalc.argkinds.Derived` rule over the other arguments (a pooling stride that
    defaults to its kernel), or None: then the argument is required unless ``optional`` (left out, the rule
    sees None).
    """

    name: str
    kind: ArgKind
    default: Any = None
    positional: bool = False
    doc: str = ""
    optional: bool = False

    def default_doc(self) -> str:
        """The default as the docs show it (``= kernel`` for a derived one), "" if required."""
        d = self.default
        if isinstance(d, Derived):
            return d.doc
        if d is None:
            return ""
        if isinstance(d, bool):
            return "true" if d else "false"
        if isinstance(d, Fraction):
            return f"{float(d):g}"
        return str(d)


def _kw_doc(a: ArgSpec) -> str:
    """```stride`=1``, ```stride` (= kernel)`` for a derived default, ```table``` when required or optional."""
    if isinstance(a.default, Derived):
        return f"`{a.name}` ({a.default.doc})"
    return f"`{a.name}`" + (f"={a.default_doc()}" if a.default_doc() else "")


#: Roles: an op that transforms one input, a join of several, or a structural no-op (no row of its own).
ROLES = ("layer", "join", "structural")


@dataclass(frozen=True)
class LayerType:
    """An op: everything cnncalc knows about it, in one place.

    ``shape(attrs, inputs, ctx)`` returns the output shape and may record details (per-axis windows, resolved
    padding) in ``ctx.info``; ``params`` returns ``(weights, biases)``; ``buffers``, ``macs`` and ``ops`` return
    ints; ``rf`` is the receptive-field rule (:mod:`~cnncalc.fields`); ``explain`` the formulas with the
    numbers substituted. The ``*_doc`` strings are the formulas as the docs print them. ``role`` tells the
    spec reader which ops are joins (``concat:``, ``add:``...); ``elementwise`` marks ops that act on each value
    alone (the flow-list lint warns about a branch made only of one); ``counted`` marks the ops whose MACs the
    conventions line names.
    """

    name: str
    summary: str
    args: tuple[ArgSpec, ...]
    shape: Callable[[Attrs, list[Shape], Ctx], Shape]
    params: Callable[[Attrs, list[Shape], Shape], tuple[int, int]] = _no_params
    macs: Counter = _zero
    buffers: Counter = _zero
    params_doc: str = "0"
    macs_doc: str = "0"
    role: str = "layer"
    aliases: tuple[str, ...] = ()
    ops: Counter = _zero
    ops_doc: str = "0"
    explain: Callable[[Attrs, list[Shape], Shape, Mapping[str, Any]], list[str]] | None = None
    rf: FieldRule = fields.same
    rf_doc: str = ""  # how the docs state the rule; a shared rule of cnncalc.fields states itself
    elementwise: bool = False
    buffers_doc: str = "0"
    example: str = ""  # an op line for the docs on an 8x8x16 input (``cnncalc explain`` of it); the name if ""
    #: How a layer becomes PyTorch code (``cnncalc export --to pytorch``): a :class:`~cnncalc.torchcode.TorchCode`,
    #: or a sentence saying why this layer cannot be written; None: the op has no PyTorch code (export names it).
    torch: Callable[[Attrs, list[Shape], Shape, Mapping[str, Any]], TorchCode | str] | None = None
    #: Backward MACs per sample (``--train``; :mod:`cnncalc.analysis.training` decides when each is needed): the
    #: gradient with respect to the layer's input and with respect to its weights; the ``*_doc`` strings state
    #: the formulas. 0 for an op without MACs (joins, norms, activations, pooling: element-wise work).
    grad_input_macs: Counter = _zero
    grad_input_doc: str = "0"
    grad_weight_macs: Counter = _zero
    grad_weight_doc: str = "0"
    #: How ONNX nodes become this op (``cnncalc import``): the operator types and how a node's attributes become
    #: the op's arguments (:mod:`cnncalc.onnxcode`); None: no ONNX node becomes it (an import makes it opaque).
    onnx: OnnxRule | None = None

    def __post_init__(self) -> None:
        assert self.role in ROLES, self.role
        object.__setattr__(self, "_by_name", {a.name: a for a in self.args})
        object.__setattr__(self, "positional", tuple(a for a in self.args if a.positional))

    def arg(self, name: str) -> ArgSpec | None:
        """The argument called ``name``."""
        return self._by_name.get(name)  # type: ignore[attr-defined,no-any-return]

    positional: tuple[ArgSpec, ...] = field(default=(), init=False, repr=False, compare=False)
    """Arguments that may be given by position, in order."""

    @property
    def inputs(self) -> str:
        """'many' for a join, else 'one'."""
        return "many" if self.role == "join" else "one"

    def signature(self) -> str:
        """``conv OUT KERNEL [stride=1] ...`` as the docs and errors show it."""
        pos = " ".join(a.name.upper() for a in self.positional)
        return f"{self.name} {pos}".rstrip()

    def doc_row(self) -> dict[str, str]:
        """This op's row of the generated layer-type table."""
        kws = ", ".join(_kw_doc(a) for a in self.args if not a.positional)
        return {
            "op": f"`{self.name}`" + (f" ({', '.join(self.aliases)})" if self.aliases else ""),
            "what": self.summary,
            "positional": " ".join(a.name.upper() for a in self.positional),
            "keywords": kws,
            "params": self.params_doc,
            "macs": self.macs_doc,
            "ops": self.ops_doc,
            "field": self.rf_doc or fields.RULE_DOCS.get(self.rf, ""),
        }


@dataclass(slots=True)
class Ctx:
    """What a shape rule may need beyond its attributes."""

    rounding: str = "floor"  # 'floor', 'ceil' or 'exact'
    info: dict[str, Any] = field(default_factory=dict)


LAYER_TYPES: dict[str, LayerType] = {}
ALIASES: dict[str, str] = {}
#: Keyword aliases accepted on every op (the lecture's S, P notation).
KEY_ALIASES = {"s": "stride", "p": "pad", "padding": "pad", "g": "groups", "k": "kernel"}


def keyword(lt: LayerType, key: str) -> str:
    """The argument a written keyword names: its own name when ``lt`` has it (lrn's ``k``), else its alias's."""
    return key if lt.arg(key) is not None else KEY_ALIASES.get(key, key)


def _fold(name: str) -> str:
    """Alias matching ignores case, ``_`` and ``-``: ConvTranspose2d, conv_transpose2d, convtranspose2d."""
    return name.lower().replace("_", "").replace("-", "")


def register(lt: LayerType) -> LayerType:
    """Add a layer type (and its aliases) to the registry."""
    assert lt.name not in LAYER_TYPES and _fold(lt.name) not in ALIASES, f"op {lt.name} registered twice"
    LAYER_TYPES[lt.name] = lt
    for alias in (lt.name, *lt.aliases):
        key = _fold(alias)
        assert ALIASES.get(key, lt.name) == lt.name, f"alias {alias} of {lt.name} is taken by {ALIASES[key]}"
        ALIASES[key] = lt.name
    return lt


@contextmanager
def registered(lt: LayerType) -> Iterator[LayerType]:
    """``lt`` in the registry for the duration of a ``with`` block (the registry contract test adds a throwaway op)."""
    register(lt)
    try:
        yield lt
    finally:
        del LAYER_TYPES[lt.name]
        for key in [k for k, v in ALIASES.items() if v == lt.name]:
            del ALIASES[key]


def lookup(name: str) -> LayerType | None:
    """The layer type called ``name`` (or an alias of it, in any case: ``ConvTranspose2d``, ``upsampling2d``)."""
    return LAYER_TYPES.get(name) or LAYER_TYPES.get(ALIASES.get(_fold(name), ""))


def suggest(name: str, blocks: Iterable[str] = ()) -> str:
    """What to say after "unknown op": the op a name *means* (an alias close to it, as PyTorch, Keras or Caffe
    spell it), or else a block spelled alike."""
    import difflib

    folded = _fold(name)
    by_alias = difflib.get_close_matches(folded, list(ALIASES), n=1, cutoff=0.75)
    hint = ""
    if by_alias:
        op = ALIASES[by_alias[0]]
        spelled = next((a for a in (op, *LAYER_TYPES[op].aliases) if _fold(a) == by_alias[0]), op)
        hint = f"; did you mean `{op}`" + (f" ({spelled})" if spelled != op else "") + "?"
    else:
        close = difflib.get_close_matches(name, list(blocks), n=1, cutoff=0.6)
        if close:
            hint = f"; did you mean `{close[0]}`?"
    return hint


#: The way out for an op the registry lacks (a note under every unknown-op error).
OPAQUE_HELP = (
    "help: an op cnncalc lacks can be written as `opaque` with its figures, e.g. "
    "`opaque out=(in_h)x(in_w)x(2*in_c) params=... macs=...`"
)


def joins() -> tuple[str, ...]:
    """The ops with role 'join', in registry order."""
    return tuple(n for n, lt in LAYER_TYPES.items() if lt.role == "join")


def conventions() -> str:
    """The counting conventions, stated once from the registry's entries (JSON output and docs quote them)."""
    given = [n for n, lt in LAYER_TYPES.items() if lt.macs_doc == "as given"]

    def having(doc: Callable[[LayerType], str]) -> str:
        return ", ".join(n for n, lt in LAYER_TYPES.items() if doc(lt) not in ("0", "as given"))

    return (
        f"params = trainable weights, biases and affine scales ({having(lambda lt: lt.params_doc)}); "
        f"buffers = stored fixed values ({having(lambda lt: lt.buffers_doc)}), not params; "
        f"MACs = multiply-accumulates of {having(lambda lt: lt.macs_doc)} "
        "(a transposed conv's counted per input element); every other op 0"
        + (f" ({', '.join(given)}: as given)" if given else "")
        + "; FLOPs = 2 x MACs; activations = output elements; per sample (batch 1); "
        "output size = floor((n + pads - dilation*(k-1) - 1)/stride) + 1 unless ceil; padding 0 unless given"
    )


# --------------------------------------------------------------------------- shape helpers


def pair(v: int | Dim) -> tuple[int, int]:
    """``(a, b)`` from an int (square) or a Dim."""
    return (v.a, v.b) if isinstance(v, Dim) else (v, v)


def _spatial(name: str, shape: Shape) -> None:
    if shape.is_flat:
        raise ShapeError(f"`{name}` needs an HxWxC input, got the flat vector {shape}")


def resolve_pad(
    pad: Any, n: tuple[int, int], k: tuple[int, int], s: tuple[int, int], d: tuple[int, int]
) -> tuple[int, int, int, int]:
    """Padding as (top, bottom, left, right) from int, Dim, 'same', 'same_lower', 'valid' or a mapping."""
    if isinstance(pad, str):
        if pad == "valid":
            return (0, 0, 0, 0)
        lower = pad == "same_lower"
        t, b = same_padding(n[0], k[0], s[0], d[0], lower)
        left, r = same_padding(n[1], k[1], s[1], d[1], lower)
        return (t, b, left, r)
    if isinstance(pad, tuple):
        return tuple(pad)
    ph, pw = pair(pad)
    return (ph, ph, pw, pw)


def sliding(name: str, a: Attrs, x: Shape, ctx: Ctx, ceil: bool = False) -> tuple[int, int]:
    """Output H, W of a sliding window op; records windows and padding in ``ctx.info``."""
    _spatial(name, x)
    wins, pads = _windows(
        a["kernel"], a["stride"], a.get("dilation", 1), a.get("pad", 0), x, ceil or ctx.rounding == "ceil", ctx.rounding
    )
    ctx.info["windows"] = wins
    ctx.info["pads"] = pads
    return wins[0].out, wins[1].out


@functools.lru_cache(maxsize=4096)  # repeated blocks meet the same windows on the same sizes again and again
def _windows(
    kernel: Any, stride: Any, dilation: Any, pad: Any, x: Shape, ceil: bool, rounding: str
) -> tuple[tuple[Window, ...], tuple[int, int, int, int]]:
    k, s, d = pair(kernel), pair(stride), pair(dilation)
    pads = resolve_pad(pad, (x.h, x.w), k, s, d)
    wins: list[Window] = []
    for axis, (n, kk, ss, dd, p0, p1) in enumerate(
        ((x.h, k[0], s[0], d[0], pads[0], pads[1]), (x.w, k[1], s[1], d[1], pads[2], pads[3]))
    ):
        span = dd * (kk - 1) + 1
        axis_name = "height" if axis == 0 else "width"
        win = window_out(n, kk, ss, p0, p1, dd, ceil)
        # In ceil mode a window may overhang the end by less than the stride (PyTorch's ceil_mode: 3 -> 1 for a
        # kernel of 4 at stride 2); otherwise the kernel must fit in the padded input.
        if n + p0 + p1 < span and (not ceil or win.out < 1):
            what = f"{kk}-pixel kernel" if dd == 1 else f"{kk}-pixel kernel dilated to {span}"
            raise ShapeError(
                f"{axis_name} {n}+{p0}+{p1} (input {x}) is smaller than the {what}; the output would be empty",
                code="E401",
            )
        if rounding == "exact" and not win.whole:
            fit = _nearest_fit(n, kk, ss, p0 + p1, dd)
            raise ShapeError(
                f"{axis_name}: {win.arithmetic().split(' = ')[0]} = {win.exact} = {float(win.exact):g} is not a whole number"
                f" (rounding: exact); an input {axis_name} of {fit} would fit exactly",
                code="E405",
            )
        wins.append(win)
    return tuple(wins), pads


def _nearest_fit(n: int, k: int, s: int, p: int, d: int) -> int:
    """The input size nearest to ``n`` for which (size + p - span) is a multiple of s (ties go up)."""
    span = d * (k - 1) + 1
    down = (n + p - span) % s
    up = (s - down) % s
    if down < up and n - down + p >= span and n - down >= 1:
        return n - down
    smallest = max(span - p, 1)  # the least size that fits at all
    if n + up < smallest:
        return smallest + (-(smallest + p - span)) % s
    return n + up


# --------------------------------------------------------------------------- explanations


def n(x: int) -> str:
    """An exact count with thousands separators, for explanations."""
    return f"{x:,}"


def _axes(info: Mapping[str, Any]) -> list[str]:
    wins: tuple[Window, ...] = info.get("windows", ())
    lines = [f"{axis}: {w.arithmetic()}" for axis, w in zip(("height", "width"), wins)]
    pads = info.get("pads")
    if pads is not None and (pads[0] != pads[1] or pads[2] != pads[3]):
        lines.append(f"padding: top {pads[0]}, bottom {pads[1]}, left {pads[2]}, right {pads[3]}")
    return lines


def _kernel(a: Attrs) -> str:
    kh, kw = pair(a["kernel"])
    return f"{kh} x {kw}"


def _elementwise_explain(what: str, a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> list[str]:
    return _elementwise_note(a, ins, out, what)


def _elementwise_note(a: Attrs, ins: list[Shape], out: Shape, what: str) -> list[str]:
    return [f"{what}: {ins[0]} -> {out}, shape unchanged", "no parameters; 0 MACs (element-wise work: see --ops)"]


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
    return out.c * (ins[0].c // int(a["groups"]))


def _conv_params(a: Attrs, ins: list[Shape], out: Shape) -> tuple[int, int]:
    kh, kw = pair(a["kernel"])
    return kh * kw * _connections(a, ins, out), out.c if a["bias"] else 0


def _conv_macs(a: Attrs, ins: list[Shape], out: Shape) -> int:
    kh, kw = pair(a["kernel"])
    return out.h * out.w * kh * kw * _connections(a, ins, out)


def _bias_ops(a: Attrs, ins: list[Shape], out: Shape) -> int:
    return out.numel if a.get("bias") else 0


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
            raise ShapeError(
                f"connection table row {j} must list distinct input channels 0..{x.c - 1}, got {list(row)}", code="E402"
            )


def _conv_explain(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> list[str]:
    x = ins[0]
    kh, kw = pair(a["kernel"])
    w, b = _conv_params(a, ins, out)
    g = a["groups"]
    table = a.get("table")
    if table is not None:
        conn = _connections(a, ins, out)
        per = f"({_kernel(a)}) x {conn} connections (table: each of the {out.c} filters sees {conn / out.c:g}"
        per += " input maps on average)"
        weights, depth = f"{kh} x {kw} x {conn}", f"{conn} map pairs"
    elif g == 1:
        weights, depth = f"({_kernel(a)} x {x.c}) x {out.c}", f"{x.c}"
    else:
        weights, depth = f"({_kernel(a)} x {x.c}/{g}) x {out.c}", f"{x.c}/{g} = {x.c // g} (groups={g})"
    lines = [f"input {x} -> output {out}: {out.c} filters of {_kernel(a)} x {depth}", *_axes(info)]
    bias = f" + {out.c}" if b else ""
    lines.append(f"params: {weights}{bias} = {n(w + b)}" + ("" if b else " (no bias)"))
    per_out = (
        f"({_kernel(a)} x {x.c // g})" if table is None else f"({_kernel(a)} x {_connections(a, ins, out)}/{out.c})"
    )
    if table is None:
        lines.append(f"MACs: {out.h} x {out.w} x {out.c} x {per_out} = {n(_conv_macs(a, ins, out))}")
    else:
        lines.append(
            f"MACs: {out.h} x {out.w} x ({_kernel(a)} x {_connections(a, ins, out)} connections) = "
            f"{n(_conv_macs(a, ins, out))}"
        )
    return lines


_WINDOW_ARGS = (
    ArgSpec("stride", DIM, 1, doc="step per axis"),
    ArgSpec("pad", PAD, 0, doc="zero padding: P, PhxPw, same, same_lower, valid or {top, bottom, left, right}"),
    ArgSpec("dilation", DIM, 1),
)


def _torch_padding(
    info: Mapping[str, Any], pool: bool
) -> tuple[tuple[int, int], bool, tuple[int, int, int, int] | None]:
    """PyTorch's ``(padding, ceil_mode)`` that give this layer's windows, or else explicit padding
    ``(left, right, top, bottom)`` (asymmetric or TensorFlow ``same`` padding, ``rounding: ceil`` on a conv, a
    pool padded by more than half its window, which PyTorch's pooling refuses). Only pools have a ceil mode."""
    wins: tuple[Window, ...] = info["windows"]
    allow_ceil = pool
    fits = all(w.pad_before <= (w.dilation * (w.kernel - 1) + 1) // 2 for w in wins) or not pool
    if fits and all(w.pad_before == w.pad_after for w in wins):
        for ceil in (False, True) if allow_ceil else (False,):
            if all(
                window_out(w.size, w.kernel, w.stride, w.pad_before, w.pad_after, w.dilation, ceil).out == w.out
                for w in wins
            ):
                return (wins[0].pad_before, wins[1].pad_before), ceil, None
    (t, b), (left, r) = ((w.pad_before, _pad_after(w)) for w in wins)
    return (0, 0), False, (left, r, t, b)


def _pad_after(w: Window) -> int:
    """The padding after the input that makes PyTorch's floor give ``w.out``: the window's own when it does, else
    the nearest that does (a ceil-mode window that overhangs, a last window dropped)."""
    least = (w.out - 1) * w.stride + w.dilation * (w.kernel - 1) + 1 - w.size - w.pad_before
    return min(max(w.pad_after, least), least + w.stride - 1)


def _padded(code: TorchCode, explicit: tuple[int, int, int, int] | None, value: float = 0.0) -> TorchCode:
    """``code`` after explicit padding (``nn.ZeroPad2d``, or ``nn.ConstantPad2d`` with ``value``), if any."""
    if explicit is None:
        return code
    pad = (
        TorchCode("nn.ZeroPad2d", (pos("padding", explicit),))
        if value == 0
        else TorchCode("nn.ConstantPad2d", (pos("padding", explicit), pos("value", value)))
    )
    return TorchCode("nn.Sequential", (pos("pad", pad), pos("layer", code)))


_TABLE_CONV2D = '''class TableConv2d(nn.Module):
    """A convolution with a connection table (LeNet-5's C3): output channel j sees only the input channels
    table[j], each output channel through a kernel of its own."""

    def __init__(
        self,
        table: tuple[tuple[int, ...], ...],
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        self.table = [list(row) for row in table]
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.weights = nn.ParameterList(nn.Parameter(torch.empty(1, len(row), kh, kw)) for row in table)
        self.bias = nn.Parameter(torch.zeros(len(table))) if bias else None
        for weight in self.weights:
            nn.init.kaiming_uniform_(weight, a=5**0.5)

    def forward(self, x: Tensor) -> Tensor:
        outs = []
        for j, (row, weight) in enumerate(zip(self.table, self.weights)):
            bias = None if self.bias is None else self.bias[j : j + 1]
            outs.append(nn.functional.conv2d(x[:, row], weight, bias, self.stride, self.padding, self.dilation))
        return torch.cat(outs, dim=1)
'''


def _conv_torch(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> TorchCode:
    padding, _, explicit = _torch_padding(info, False)
    window = (
        kw("stride", size_arg(pair(a["stride"])), 1),
        kw("padding", size_arg(padding), 0),
        kw("dilation", size_arg(pair(a["dilation"])), 1),
    )
    kernel = pos("kernel_size", size_arg(pair(a["kernel"])))
    table = a.get("table")
    if table is not None:
        rows = tuple(tuple(row) for row in table)
        code = TorchCode(
            "TableConv2d", (pos("table", rows), kernel, *window, kw("bias", a["bias"], True)), helpers=(_TABLE_CONV2D,)
        )
    else:
        code = TorchCode(
            "nn.Conv2d",
            (
                pos("in_channels", ins[0].c),
                pos("out_channels", out.c),
                kernel,
                *window,
                kw("groups", a["groups"], 1),
                kw("bias", a["bias"], True),
            ),
        )
    return _padded(code, explicit)


register(
    LayerType(
        "conv",
        "2-D convolution",
        (
            ArgSpec("out", COUNT, positional=True, doc="output channels"),
            ArgSpec("kernel", DIM, positional=True, doc="K or KhxKw"),
            *_WINDOW_ARGS,
            ArgSpec("groups", COUNT, 1),
            ArgSpec("bias", BOOL, True),
            ArgSpec(
                "table",
                TABLE,
                optional=True,
                doc="partial connections: for each output channel, the input channels it sees",
            ),
        ),
        _conv_shape,
        _conv_params,
        _conv_macs,
        params_doc="kh·kw·(C/groups)·C' + C' bias (with `table`: kh·kw·connections + C')",
        macs_doc="H'·W'·C'·(C/groups)·kh·kw (with `table`: H'·W'·kh·kw·connections)",
        ops=_bias_ops,
        ops_doc="1 bias add per output element (if bias)",
        explain=_conv_explain,
        rf=fields.windows,
        aliases=("Conv2d", "Conv2D", "Convolution", "convolution"),
        example="conv 32 3x3 pad=1",
        grad_input_macs=_conv_macs,
        grad_input_doc="= MACs (a transposed convolution of the output gradient with the same weights)",
        grad_weight_macs=_conv_macs,
        grad_weight_doc="= MACs (every output gradient times each input value its window saw)",
        onnx=onnx("Conv", read=ox.conv_args),
        torch=_conv_torch,
    )
)


def _dw_attrs(a: Attrs, x: Shape) -> dict[str, Any]:
    return {**a, "groups": x.c, "out": x.c * a["mult"]}


def _dw_explain(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> list[str]:
    x = ins[0]
    w, b = _conv_params(_dw_attrs(a, x), ins, out)
    mult = a["mult"]
    lines = [
        f"input {x} -> output {out}: one {_kernel(a)} filter per input channel"
        + (f", {mult} per channel" if mult > 1 else "")
        + " (groups = C)",
        *_axes(info),
    ]
    lines.append(f"params: ({_kernel(a)} x 1) x {out.c}" + (f" + {out.c}" if b else "") + f" = {n(w + b)}")
    lines.append(f"MACs: {out.h} x {out.w} x {out.c} x ({_kernel(a)} x 1) = {n(_conv_macs(_dw_attrs(a, x), ins, out))}")
    return lines


register(
    LayerType(
        "dwconv",
        "depthwise convolution (groups = input channels)",
        (
            ArgSpec("kernel", DIM, positional=True, doc="K or KhxKw"),
            *_WINDOW_ARGS,
            ArgSpec("mult", COUNT, 1, doc="channel multiplier"),
            ArgSpec("bias", BOOL, True),
        ),
        lambda a, i, c: _conv_shape(_dw_attrs(a, i[0]) if not i[0].is_flat else a, i, c),
        lambda a, i, o: _conv_params(_dw_attrs(a, i[0]), i, o),
        lambda a, i, o: _conv_macs(_dw_attrs(a, i[0]), i, o),
        params_doc="kh·kw·mult·C + mult·C bias",
        macs_doc="H'·W'·mult·C·kh·kw",
        ops=_bias_ops,
        ops_doc="1 bias add per output element (if bias)",
        explain=_dw_explain,
        rf=fields.windows,
        aliases=("DepthwiseConv2D", "depthwise"),
        example="dwconv 3x3 stride=2 pad=1",
        grad_input_macs=lambda a, i, o: _conv_macs(_dw_attrs(a, i[0]), i, o),
        grad_input_doc="= MACs (a transposed depthwise convolution of the output gradient)",
        grad_weight_macs=lambda a, i, o: _conv_macs(_dw_attrs(a, i[0]), i, o),
        grad_weight_doc="= MACs (every output gradient times each input value its window saw)",
        onnx=onnx("Conv", read=ox.dwconv_args, when=ox.is_depthwise),
        torch=lambda a, i, o, info: _conv_torch(_dw_attrs(a, i[0]), i, o, info),
    )
)


def _fc_explain(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> list[str]:
    x = ins[0]
    flat = f"{x} flattened to {n(x.numel)}" if not x.is_flat else f"{n(x.numel)} inputs"
    bias = f" + {n(out.c)}" if a["bias"] else ""
    total = x.numel * out.c + (out.c if a["bias"] else 0)
    return [
        f"input {flat} -> {n(out.c)} outputs, each connected to every input",
        f"params: {n(x.numel)} x {n(out.c)}{bias} = {n(total)}" + ("" if a["bias"] else " (no bias)"),
        f"MACs: {n(x.numel)} x {n(out.c)} = {n(x.numel * out.c)}",
    ]


_FLAT_LINEAR = '''class FlatLinear(nn.Linear):
    """A fully connected layer on the flattened input (cnncalc's fc)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(torch.flatten(x, 1))
'''


def _fc_torch(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> TorchCode:
    flat = ins[0].is_flat
    return TorchCode(
        "nn.Linear" if flat else "FlatLinear",
        (pos("in_features", ins[0].numel), pos("out_features", out.c), kw("bias", a["bias"], True)),
        helpers=() if flat else (_FLAT_LINEAR,),
    )


register(
    LayerType(
        "fc",
        "fully connected (flattens its input)",
        (ArgSpec("out", COUNT, positional=True, doc="output features"), ArgSpec("bias", BOOL, True)),
        lambda a, i, c: Shape.flat(a["out"]),
        lambda a, i, o: (i[0].numel * o.c, o.c if a["bias"] else 0),
        lambda a, i, o: i[0].numel * o.c,
        params_doc="H·W·C·N + N bias",
        macs_doc="H·W·C·N",
        aliases=("InnerProduct", "fully_connected"),
        ops=_bias_ops,
        ops_doc="1 bias add per output (if bias)",
        explain=_fc_explain,
        rf=fields.whole_input,
        example="fc 10",
        grad_input_macs=lambda a, i, o: i[0].numel * o.c,
        grad_input_doc="= MACs (the output gradient times the weight matrix)",
        grad_weight_macs=lambda a, i, o: i[0].numel * o.c,
        grad_weight_doc="= MACs (the outer product of the output gradient and the input)",
        onnx=onnx("Gemm", "MatMul", read=ox.gemm_args),
        torch=_fc_torch,
    )
)

# --------------------------------------------------------------------------- pooling


def _pool_shape(name: str) -> Callable[[Attrs, list[Shape], Ctx], Shape]:
    def shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
        h, w = sliding(name, a, ins[0], ctx, ceil=a["ceil"])
        _pool_pad(name, a, ctx.info["pads"])
        return Shape.spatial(h, w, ins[0].c)

    return shape


def _pool_pad(name: str, a: Attrs, pads: tuple[int, int, int, int]) -> None:
    """PyTorch's pooling refuses a ``padding=`` above half the kernel (kernel // 2, whatever the dilation).

    Only ``P`` and ``PhxPw`` are PyTorch's pool padding; per-side padding (``nn.ZeroPad2d`` before the pool) and
    TensorFlow's ``same`` are not limited.
    """
    if not isinstance(a["pad"], (int, Dim)):
        return
    kh, kw = pair(a["kernel"])
    for p, k in zip(pads, (kh, kh, kw, kw)):
        if p > k // 2:
            how = f"pad={a['pad']}"
            raise ShapeError(
                f"`{name}` {how} is more than half its {kh}x{kw} kernel, which PyTorch's pooling refuses"
                f" (at most kernel // 2 = {k // 2} per side)",
                code="E401",
            )


def _window_area(a: Attrs) -> int:
    kh, kw = pair(a["kernel"])
    return kh * kw


def _pool_explain(what: str) -> Callable[[Attrs, list[Shape], Shape, Mapping[str, Any]], list[str]]:
    def explain(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> list[str]:
        sh, sw = pair(a["stride"])
        return [
            f"{what} over {_kernel(a)} windows at stride {sh if sh == sw else f'{sh}x{sw}'}, each channel "
            f"on its own: {ins[0]} -> {out}" + (" (ceil mode)" if a["ceil"] else ""),
            *_axes(info),
            "no parameters; 0 MACs (comparisons/adds: see --ops)",
        ]

    return explain


def _pool_torch(module: str) -> Callable[[Attrs, list[Shape], Shape, Mapping[str, Any]], TorchCode | str]:
    """``nn.MaxPool2d`` or ``nn.AvgPool2d`` with the layer's windows (explicit padding before it if needed:
    -inf for a max, zeros for an average)."""

    def code(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> TorchCode | str:
        dilation = size_arg(pair(a.get("dilation", 1)))
        if module == "nn.AvgPool2d" and dilation != 1:
            return "PyTorch's average pooling has no dilation"
        padding, ceil, explicit = _torch_padding(info, True)
        args = [
            pos("kernel_size", size_arg(pair(a["kernel"]))),
            kw("stride", size_arg(pair(a["stride"]))),
            kw("padding", size_arg(padding), 0),
        ]
        if module == "nn.MaxPool2d":
            args.append(kw("dilation", dilation, 1))
        args.append(kw("ceil_mode", ceil, False))
        return _padded(TorchCode(module, tuple(args)), explicit, float("-inf") if module == "nn.MaxPool2d" else 0.0)

    return code


_POOL_ARGS = (
    ArgSpec("kernel", DIM, positional=True),
    ArgSpec("stride", DIM, same_as("kernel"), doc="step per axis"),
    ArgSpec("pad", PAD, 0),
    ArgSpec("dilation", DIM, 1),
    ArgSpec("ceil", BOOL, False, doc="round the output size up (ceil_mode)"),
)

register(
    LayerType(
        "maxpool",
        "max pooling (stride defaults to the kernel)",
        _POOL_ARGS,
        _pool_shape("maxpool"),
        ops=lambda a, i, o: o.numel * (_window_area(a) - 1),
        ops_doc="kh·kw - 1 comparisons per output element",
        explain=_pool_explain("maximum"),
        rf=fields.windows,
        aliases=("MaxPool2d", "MaxPooling2D", "max_pool2d"),
        example="maxpool 3x3 stride=2 pad=1",
        onnx=onnx("MaxPool", read=ox.pool_args),
        torch=_pool_torch("nn.MaxPool2d"),
    )
)
register(
    LayerType(
        "avgpool",
        "average pooling (stride defaults to the kernel)",
        _POOL_ARGS,
        _pool_shape("avgpool"),
        ops=lambda a, i, o: o.numel * _window_area(a),
        ops_doc="kh·kw - 1 adds + 1 multiply per output element",
        explain=_pool_explain("average"),
        rf=fields.windows,
        aliases=("AvgPool2d", "AveragePooling2D", "avg_pool2d"),
        example="avgpool 2",
        onnx=onnx("AveragePool", read=ox.pool_args),
        torch=_pool_torch("nn.AvgPool2d"),
    )
)
_SUBSAMPLE = '''class Subsample(nn.Module):
    """LeNet-5's subsampling: the sum over each window times a trainable coefficient, plus a trainable bias,
    per channel."""

    def __init__(
        self,
        channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int],
        padding: int | tuple[int, int] = 0,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        self.area = kh * kw
        self.pool = nn.AvgPool2d(kernel_size, stride, padding, ceil_mode)
        self.weight = nn.Parameter(torch.ones(channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(x) * self.area * self.weight + self.bias
'''


def _subsample_torch(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> TorchCode:
    padding, ceil, explicit = _torch_padding(info, True)
    code = TorchCode(
        "Subsample",
        (
            pos("channels", out.c),
            pos("kernel_size", size_arg(pair(a["kernel"]))),
            pos("stride", size_arg(pair(a["stride"]))),
            kw("padding", size_arg(padding), 0),
            kw("ceil_mode", ceil, False),
        ),
        helpers=(_SUBSAMPLE,),
    )
    return _padded(code, explicit)


register(
    LayerType(
        "subsample_pool",
        "LeNet-5 subsampling: a 2x2 average times a trainable coefficient, plus a trainable bias, per channel",
        (
            ArgSpec("kernel", DIM, positional=True),
            ArgSpec("stride", DIM, same_as("kernel"), doc="step per axis"),
            ArgSpec("pad", PAD, 0),
            ArgSpec("ceil", BOOL, False),
        ),
        _pool_shape("subsample_pool"),
        params=lambda a, i, o: (o.c, o.c),
        params_doc="2·C (coefficient, bias)",
        aliases=("subsample",),
        ops=lambda a, i, o: o.numel * (_window_area(a) + 1),
        ops_doc="kh·kw - 1 adds, 1 multiply, 1 bias add per output",
        explain=lambda a, i, o, info: [
            *_pool_explain("sum")(a, i, o, info)[:-1],
            f"params: a trainable coefficient and bias per map = 2 x {o.c} = {2 * o.c}",
            "0 MACs (pooling)",
        ],
        rf=fields.windows,
        example="subsample_pool 2",
        torch=_subsample_torch,
    )
)


def _global_shape(name: str) -> Callable[[Attrs, list[Shape], Ctx], Shape]:
    def shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
        _spatial(name, ins[0])
        return Shape.spatial(1, 1, ins[0].c)

    return shape


def _global_explain(what: str) -> Callable[[Attrs, list[Shape], Shape, Mapping[str, Any]], list[str]]:
    return lambda a, i, o, info: [
        f"{what} of each of the {i[0].c} channels over all {i[0].h} x {i[0].w} positions: {i[0]} -> {o}",
        "no parameters; 0 MACs",
    ]


register(
    LayerType(
        "gap",
        "global average pooling to 1x1xC",
        (),
        _global_shape("gap"),
        aliases=("global_avgpool", "GlobalAveragePooling2D", "GlobalAvgPool2d"),
        ops=lambda a, i, o: i[0].numel,
        ops_doc="H·W - 1 adds + 1 multiply per channel",
        explain=_global_explain("average"),
        rf=fields.whole_input,
        onnx=onnx(
            "GlobalAveragePool", "ReduceMean", when=lambda node: node.op_type != "ReduceMean" or ox.is_global_pool(node)
        ),
        torch=lambda a, i, o, info: TorchCode("nn.AdaptiveAvgPool2d", (pos("output_size", 1),)),
    )
)
register(
    LayerType(
        "gmp",
        "global max pooling to 1x1xC",
        (),
        _global_shape("gmp"),
        aliases=("global_maxpool", "GlobalMaxPooling2D", "GlobalMaxPool2d"),
        ops=lambda a, i, o: i[0].numel - o.numel,
        ops_doc="H·W - 1 comparisons per channel",
        explain=_global_explain("maximum"),
        rf=fields.whole_input,
        onnx=onnx(
            "GlobalMaxPool", "ReduceMax", when=lambda node: node.op_type != "ReduceMax" or ox.is_global_pool(node)
        ),
        torch=lambda a, i, o, info: TorchCode("nn.AdaptiveMaxPool2d", (pos("output_size", 1),)),
    )
)


def _adaptive_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    _spatial("adaptive_avgpool", ins[0])
    h, w = pair(a["out"])
    return Shape.spatial(h, w, ins[0].c)


register(
    LayerType(
        "adaptive_avgpool",
        "adaptive average pooling to a fixed HxW (torchvision's AdaptiveAvgPool2d)",
        (ArgSpec("out", DIM, positional=True, doc="output HxW"),),
        _adaptive_shape,
        ops=lambda a, i, o: i[0].numel if i[0] != o else 0,
        ops_doc="about one add per input element (0 when identity)",
        explain=lambda a, i, o, info: [
            f"averages {i[0]} to {o}"
            + (": the identity at this input size" if i[0] == o else " (PyTorch's adaptive bins)"),
            "no parameters; 0 MACs",
        ],
        rf=fields.adaptive,
        aliases=("AdaptiveAvgPool2d", "adaptive_avg_pool2d"),
        example="adaptive_avgpool 2x2",
        torch=lambda a, i, o, info: TorchCode("nn.AdaptiveAvgPool2d", (pos("output_size", size_arg((o.h, o.w))),)),
    )
)
_RBF = '''class RBF(nn.Module):
    """Euclidean radial basis units (LeNet-5's output layer): output j is the squared distance between the
    flattened input and a fixed vector (a buffer, not trained; LeNet-5's were +1/-1 bitmaps of the digits)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.register_buffer("centers", torch.randn(out_features, in_features).sign())

    def forward(self, x: Tensor) -> Tensor:
        x = torch.flatten(x, 1)
        return (x * x).sum(1, keepdim=True) - 2 * x @ self.centers.T + (self.centers * self.centers).sum(1)
'''


register(
    LayerType(
        "rbf",
        "Euclidean radial basis units with fixed, hand-chosen parameter vectors (LeNet-5's output layer)",
        (ArgSpec("out", COUNT, positional=True),),
        lambda a, i, c: Shape.flat(a["out"]),
        buffers=lambda a, i, o: i[0].numel * o.c,
        macs=lambda a, i, o: i[0].numel * o.c,
        buffers_doc="N·inputs fixed values",
        macs_doc="N·inputs (squared distances)",
        explain=lambda a, i, o, info: [
            f"{o.c} units, each the squared distance between the {i[0].numel} inputs and a fixed vector",
            f"buffers: {i[0].numel} x {o.c} = {n(i[0].numel * o.c)} fixed values (not trained)",
            f"MACs: {i[0].numel} x {o.c} = {n(i[0].numel * o.c)}",
        ],
        rf=fields.whole_input,
        example="rbf 10",
        grad_input_macs=lambda a, i, o: i[0].numel * o.c,
        grad_input_doc="= MACs (each distance's gradient times input minus centre; the centres are fixed)",
        torch=lambda a, i, o, info: TorchCode(
            "RBF", (pos("in_features", i[0].numel), pos("out_features", o.c)), helpers=(_RBF,)
        ),
    )
)

# --------------------------------------------------------------------------- normalisation


def _same(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    return ins[0]


register(
    LayerType(
        "bn",
        "batch normalisation: gamma, beta per channel (params); running mean, var (buffers)",
        (ArgSpec("eps", NUMBER, Fraction(1, 100000)),),
        _same,
        params=lambda a, i, o: (o.c, o.c),
        buffers=lambda a, i, o: 2 * o.c,
        params_doc="2·C (gamma, beta)",
        buffers_doc="2·C (running mean, variance)",
        aliases=("batchnorm", "BatchNorm2d", "BatchNormalization"),
        ops=lambda a, i, o: 2 * o.numel,
        ops_doc="2 per element (scale and shift, statistics folded)",
        explain=lambda a, i, o, info: [
            f"normalises each of the {o.c} channels, then scales by gamma and shifts by beta: {o}, shape unchanged",
            f"params: gamma + beta = 2 x {o.c} = {n(2 * o.c)}",
            f"buffers: running mean + variance = 2 x {o.c} = {n(2 * o.c)} (not trained)",
            "0 MACs (2 element-wise ops per element: see --ops)",
        ],
        elementwise=True,
        onnx=onnx(
            "BatchNormalization",
            read=ox.bn_args,
            buffers=(3, 4),
        ),
        torch=lambda a, i, o, info: TorchCode(
            "nn.BatchNorm1d" if o.is_flat else "nn.BatchNorm2d",
            (pos("num_features", o.c), kw("eps", float(a["eps"]), 1e-5)),
        ),
    )
)


def _lrn_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    _spatial("lrn", ins[0])  # PyTorch's LocalResponseNorm needs channels apart from positions (3-D or more)
    return ins[0]


register(
    LayerType(
        "lrn",
        "local response normalisation (AlexNet)",
        (
            ArgSpec("size", COUNT, 5, positional=True),
            ArgSpec("alpha", NUMBER, Fraction(1, 10000)),
            ArgSpec("beta", NUMBER, Fraction(3, 4)),
            ArgSpec("k", NUMBER, 1),
        ),
        _lrn_shape,
        ops=lambda a, i, o: o.numel * (a["size"] + 3),
        ops_doc="size + 3 per element (window sum of squares, scale, power, divide)",
        explain=lambda a, i, o, info: [
            f"divides each value by (k + alpha/n x sum of squares over {a['size']} adjacent "
            f"channels)^beta: {o}, shape unchanged",
            "no parameters; 0 MACs",
        ],
        aliases=("LocalResponseNorm", "LRN"),
        elementwise=True,
        example="lrn 5",
        onnx=onnx(
            "LRN",
            read=lambda node: {
                "size": int(node.attrs["size"]),
                "alpha": ox.number(node.attrs.get("alpha", 1e-4)),
                "beta": ox.number(node.attrs.get("beta", 0.75)),
                "k": ox.number(node.attrs.get("bias", 1.0)),
            },
        ),
        torch=lambda a, i, o, info: TorchCode(
            "nn.LocalResponseNorm",
            (
                pos("size", a["size"]),
                kw("alpha", float(a["alpha"]), 1e-4),
                kw("beta", float(a["beta"]), 0.75),
                kw("k", float(a["k"]), 1.0),
            ),
        ),
    )
)

# --------------------------------------------------------------------------- element-wise, no parameters


def _per_element(k: int) -> Callable[[Attrs, list[Shape], Shape], int]:
    return lambda a, i, o: k * o.numel


def _inline(
    expr: Callable[[Sequence[str]], str],
) -> Callable[[Attrs, list[Shape], Shape, Mapping[str, Any]], TorchCode]:
    """An op written as an expression in the forward code, with no module (identity, the joins)."""
    code = TorchCode(inline=expr)
    return lambda a, i, o, info: code


def _module(name: str, *args: Any) -> Callable[[Attrs, list[Shape], Shape, Mapping[str, Any]], TorchCode]:
    """A module whose constructor takes nothing from the layer (``nn.ReLU()``, ``nn.Softmax(dim=1)``)."""
    code = TorchCode(name, args)
    return lambda a, i, o, info: code


for _name, _summary, _aliases, _ops, _torch, _onnx in (
    ("relu", "rectified linear unit", (), 1, _module("nn.ReLU"), onnx("Relu")),
    ("relu6", "ReLU clipped at 6", (), 1, _module("nn.ReLU6"), onnx("Clip", when=ox.clip_is_relu6)),
    ("sigmoid", "logistic sigmoid", (), 1, _module("nn.Sigmoid"), onnx("Sigmoid")),
    ("tanh", "hyperbolic tangent", (), 1, _module("nn.Tanh"), onnx("Tanh")),
    ("elu", "exponential linear unit", (), 1, _module("nn.ELU"), onnx("Elu")),
    ("gelu", "Gaussian error linear unit", (), 1, _module("nn.GELU"), onnx("Gelu")),
    ("swish", "x·sigmoid(x) (SiLU)", ("silu",), 1, _module("nn.SiLU"), onnx("Swish")),
    ("hswish", "hard swish (MobileNetV3)", ("hardswish",), 1, _module("nn.Hardswish"), onnx("HardSwish")),
    ("hsigmoid", "hard sigmoid (MobileNetV3)", ("hardsigmoid",), 1, _module("nn.Hardsigmoid"), onnx("HardSigmoid")),
    (
        "softmax",
        "softmax over channels",
        (),
        3,
        _module("nn.Softmax", kw("dim", 1)),
        onnx("Softmax", read=ox.softmax_ok),
    ),
    ("identity", "passes its input through", ("Identity",), 0, _inline(lambda xs: xs[0]), onnx("Identity")),
):
    register(
        LayerType(
            _name,
            _summary,
            (),
            _same,
            aliases=_aliases,
            ops=_per_element(_ops),
            ops_doc=f"{_ops} per element" if _ops != 1 else "1 per element (the function, counted once)",
            explain=functools.partial(_elementwise_explain, _summary),
            elementwise=_name != "identity",
            torch=_torch,
            onnx=_onnx,
        )
    )
register(
    LayerType(
        "leaky",
        "leaky ReLU",
        (ArgSpec("slope", NUMBER, Fraction(1, 100), positional=True),),
        _same,
        aliases=("LeakyReLU",),
        ops=_per_element(1),
        ops_doc="1 per element",
        explain=lambda a, i, o, info: _elementwise_note(a, i, o, "leaky ReLU"),
        elementwise=True,
        example="leaky 0.2",
        onnx=onnx("LeakyRelu", read=lambda node: {"slope": ox.number(node.attrs.get("alpha", 0.01))}),
        torch=lambda a, i, o, info: TorchCode("nn.LeakyReLU", (pos("negative_slope", float(a["slope"])),)),
    )
)
register(
    LayerType(
        "dropout",
        "dropout (no effect on counts)",
        (ArgSpec("p", PROBABILITY, Fraction(1, 2), positional=True),),
        _same,
        explain=lambda a, i, o, info: [
            f"dropout (training only; the identity at inference): {o}",
            "no parameters; 0 MACs",
        ],
        aliases=("Dropout", "Dropout2d", "SpatialDropout2D"),
        elementwise=True,
        example="dropout 0.5",
        onnx=onnx("Dropout", read=ox.dropout_args),
        torch=lambda a, i, o, info: TorchCode("nn.Dropout", (pos("p", float(a["p"])),)),
    )
)
_SCALE = '''class Scale(nn.Module):
    """Multiplies by a constant (Inception-ResNet's scaled residuals)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        return x * self.factor
'''


register(
    LayerType(
        "scale",
        "multiply by a constant (scaled residuals, Inception-ResNet)",
        (ArgSpec("factor", NUMBER, positional=True),),
        _same,
        ops=_per_element(1),
        ops_doc="1 multiply per element",
        explain=lambda a, i, o, info: _elementwise_note(a, i, o, "multiplies by a constant"),
        aliases=("Scale",),
        elementwise=True,
        example="scale 0.2",
        onnx=onnx("Mul", read=ox.scale_args, when=ox.is_mul_by_number),
        torch=lambda a, i, o, info: TorchCode("Scale", (pos("factor", float(a["factor"])),), helpers=(_SCALE,)),
    )
)
register(
    LayerType(
        "flatten",
        "flattens HxWxC to a vector",
        (),
        lambda a, i, c: Shape.flat(i[0].numel),
        explain=lambda a, i, o, info: [
            f"{i[0]} -> {n(o.c)} values ({i[0].h} x {i[0].w} x {i[0].c})",
            "no parameters; 0 MACs",
        ],
        aliases=("Flatten",),
        onnx=onnx("Flatten", "Reshape", read=ox.flatten_ok, when=ox.is_flattening),
        torch=lambda a, i, o, info: TorchCode("nn.Flatten"),
        rf=fields.whole_input,
        rf_doc="the whole input (a flat vector mixes every position)",
    )
)


def _shuffle_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    _spatial("shuffle", ins[0])  # PyTorch's ChannelShuffle needs an N x C x H x W input
    if ins[0].c % a["groups"]:
        raise ShapeError(f"shuffle groups={a['groups']} must divide the channels ({ins[0].c})", code="E402")
    return ins[0]


register(
    LayerType(
        "shuffle",
        "channel shuffle (ShuffleNet): permutes channels between groups",
        (ArgSpec("groups", COUNT, positional=True),),
        _shuffle_shape,
        explain=lambda a, i, o, info: [
            f"reorders the {o.c} channels from {a['groups']} groups of {o.c // a['groups']} "
            "so that the next grouped conv sees every group",
            f"{o}, shape unchanged",
            "no parameters; 0 MACs (data movement only)",
        ],
        aliases=("ChannelShuffle", "channel_shuffle"),
        example="shuffle 4",
        torch=lambda a, i, o, info: TorchCode("nn.ChannelShuffle", (pos("groups", a["groups"]),)),
    )
)


def _split_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    c = ins[0].c
    if c % a["parts"]:
        raise ShapeError(f"split into {a['parts']} parts needs channels ({c}) divisible by {a['parts']}", code="E402")
    if a["index"] >= a["parts"]:
        raise ShapeError(
            f"split index {a['index']} is not one of the {a['parts']} parts (0..{a['parts'] - 1})", code="E402"
        )
    return ins[0].with_channels(c // a["parts"])


_CHANNEL_SLICE = '''class ChannelSlice(nn.Module):
    """Channels start..stop-1 of the input (ShuffleNet v2's channel split)."""

    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        self.start, self.stop = start, stop

    def forward(self, x: Tensor) -> Tensor:
        return x[:, self.start : self.stop]
'''


register(
    LayerType(
        "split",
        "takes one of `parts` equal channel slices (ShuffleNet v2's channel split)",
        (ArgSpec("parts", COUNT, 2, positional=True), ArgSpec("index", INDEX, 0)),
        _split_shape,
        explain=lambda a, i, o, info: [
            f"takes channels {a['index'] * o.c}..{(a['index'] + 1) * o.c - 1} of {i[0].c}: {i[0]} -> {o}",
            "no parameters; 0 MACs",
        ],
        example="split 2 index=1",
        torch=lambda a, i, o, info: TorchCode(
            "ChannelSlice",
            (pos("start", a["index"] * o.c), pos("stop", (a["index"] + 1) * o.c)),
            helpers=(_CHANNEL_SLICE,),
        ),
    )
)
_OPAQUE = '''class Opaque(nn.Module):
    """PLACEHOLDER for an `opaque` layer of the spec: cnncalc knows only its figures (output shape C, H, W,
    params, MACs, buffers), not its computation. Write the module here; until then it raises."""

    def __init__(self, out_shape: tuple[int, ...], params: int, macs: int, buffers: int = 0) -> None:
        super().__init__()
        self.out_shape, self.params, self.macs, self.buffers = out_shape, params, macs, buffers

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError(
            f"an opaque layer of the spec (output {self.out_shape}, {self.params:,} params, {self.macs:,} MACs, "
            f"{self.buffers:,} buffers): write its PyTorch code"
        )
'''


def _opaque_torch(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> TorchCode:
    shape = (out.c,) if out.is_flat else (out.c, out.h, out.w)
    return TorchCode(
        "Opaque",
        (
            pos("out_shape", shape),
            kw("params", a["params"]),
            kw("macs", a["macs"]),
            kw("buffers", a["buffers"], 0),
        ),
        helpers=(_OPAQUE,),
        placeholder=True,
    )


register(
    LayerType(
        "opaque",
        "a layer given by its figures, for what the registry lacks: keeps its input's shape unless `out` is given;"
        " its receptive field is unknown",
        (
            ArgSpec("out", SHAPE, optional=True, doc="output shape; may use in_h, in_w, in_c"),
            ArgSpec("params", INDEX, 0, doc="may be an expression"),
            ArgSpec("macs", INDEX, 0, doc="may be an expression"),
            ArgSpec("buffers", INDEX, 0),
            ArgSpec("grad_input_macs", INDEX, same_as("macs"), doc="backward MACs of its input gradient (--train)"),
            ArgSpec(
                "grad_weight_macs",
                INDEX,
                Derived(lambda a: a["macs"] if a["params"] else 0, "= macs if it has params, else 0"),
                doc="backward MACs of its weight gradient (--train)",
            ),
        ),
        lambda a, i, c: a["out"] if a["out"] is not None else i[0],
        lambda a, i, o: (a["params"], 0),
        lambda a, i, o: a["macs"],
        buffers=lambda a, i, o: a["buffers"],
        params_doc="as given",
        macs_doc="as given",
        buffers_doc="as given",
        explain=lambda a, i, o, info: [
            f"given by its figures: {i[0]} -> {o}, {n(a['params'])} params, {n(a['macs'])} MACs"
            + (f", {n(a['buffers'])} buffers" if a["buffers"] else ""),
            "receptive field: unknown from here on (cnncalc does not know which inputs each output reads)",
        ],
        rf=fields.unknown,
        example="opaque out=(in_h)x(in_w)x(2*in_c) params=in_c*in_c*2 macs=in_h*in_w*in_c*in_c*2",
        grad_input_macs=lambda a, i, o: a["grad_input_macs"],
        grad_input_doc="as given (`grad_input_macs=`; default: its MACs, as a conv's or an fc's)",
        grad_weight_macs=lambda a, i, o: a["grad_weight_macs"],
        grad_weight_doc="as given (`grad_weight_macs=`; default: its MACs if it has params, else 0)",
        torch=_opaque_torch,
    )
)

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
    full = max(ins, key=lambda s: (s.numel, not s.is_flat))
    for s in ins:
        # A gate of C values (1x1xC, or a flat C viewed as C x 1 x 1, as SE blocks with linear layers do) scales
        # the positions of an HxWxC input. Never a flat input: PyTorch would make 1 x C x 1 x C of a flat C times a
        # C x 1 x 1 gate; and a flat C with a 1x1xC input leaves no input to scale (which is the map?).
        gate = s.c == full.c and s.numel == s.c and not full.is_flat and not (s.is_flat and full.numel == full.c)
        if s != full and not gate:
            if any(x.is_flat for x in ins) and not all(x.is_flat for x in ins):
                raise ShapeError(
                    "mul mixes a flat vector and HxWxC inputs: " + ", ".join(map(str, ins)) + " (a gate of C"
                    " values scales the positions of an HxWxC input; here there is none to scale)",
                    code="E404",
                )
            raise ShapeError(
                "mul inputs must have the same shape, or be 1x1xC gates of the same C: " + ", ".join(map(str, ins)),
                code="E404",
            )
    return full


def _join_explain(what: str) -> Callable[[Attrs, list[Shape], Shape, Mapping[str, Any]], list[str]]:
    def explain(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> list[str]:
        if what == "concat":
            chans = " + ".join(str(s.c) for s in ins)
            return [
                f"stacks {len(ins)} inputs along channels: {chans} = {out.c}; height x width must agree",
                f"{', '.join(map(str, ins))} -> {out}",
                "no parameters; 0 MACs",
            ]
        return [
            f"{what} of {len(ins)} inputs, element by element: {', '.join(map(str, ins))} -> {out}",
            "no parameters; 0 MACs (element-wise work: see --ops)",
        ]

    return explain


register(
    LayerType(
        "concat",
        "concatenates its inputs along channels (H x W must agree)",
        (),
        _concat_shape,
        role="join",
        explain=_join_explain("concat"),
        rf=fields.join,
        aliases=("Concatenate", "cat", "Concat"),
        example="concat: [conv 8 1x1, conv 8 3x3 pad=1]",
        onnx=onnx("Concat", read=ox.concat_ok),
        torch=_inline(lambda xs: f"torch.cat([{', '.join(xs)}], dim=1)"),
    )
)
register(
    LayerType(
        "add",
        "element-wise sum of its inputs (residual connection)",
        (),
        _same_shape("add"),
        role="join",
        ops=lambda a, i, o: (len(i) - 1) * o.numel,
        ops_doc="(inputs - 1) adds per element",
        explain=_join_explain("sum"),
        rf=fields.join,
        aliases=("Add", "Eltwise", "sum"),
        example="add: [identity, conv 16 3x3 pad=1]",
        onnx=onnx("Add", "Sum", read=ox.joined, when=ox.two_activations),
        torch=_inline(lambda xs: " + ".join(xs)),
    )
)
register(
    LayerType(
        "mean",
        "element-wise mean of its inputs (FractalNet join)",
        (),
        _same_shape("mean"),
        role="join",
        ops=lambda a, i, o: len(i) * o.numel,
        ops_doc="inputs - 1 adds + 1 multiply per element",
        explain=_join_explain("mean"),
        rf=fields.join,
        example="mean: [identity, conv 16 3x3 pad=1]",
        onnx=onnx("Mean", read=ox.joined, when=ox.two_activations),
        torch=_inline(lambda xs: f"({' + '.join(xs)}) / {len(xs)}"),
    )
)
register(
    LayerType(
        "mul",
        "element-wise product; a 1x1xC input scales every position (squeeze-excitation)",
        (),
        _mul_shape,
        role="join",
        ops=lambda a, i, o: (len(i) - 1) * o.numel,
        ops_doc="(inputs - 1) multiplies per element",
        explain=_join_explain("product (1x1xC gates broadcast over H x W)"),
        rf=fields.join,
        aliases=("Multiply",),
        example="mul: [identity, gap, conv 16 1x1, sigmoid]",
        onnx=onnx("Mul", read=ox.joined, when=ox.two_activations),
        torch=_inline(lambda xs: " * ".join(xs)),
    )
)


def explain(op: str, attrs: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> list[str]:
    """The formulas of one layer with its numbers substituted, one statement per line."""
    lt = LAYER_TYPES[op]
    if lt.explain is not None:
        return lt.explain(attrs, ins, out, info)
    return [f"{lt.summary}: {', '.join(map(str, ins))} -> {out}"]  # pragma: no cover - every op has one


from . import vocabulary  # noqa: E402, F401 - registers the ops of segmentation, generative and modern networks

#: The counting conventions, derived once from the registry (JSON output and the docs quote it).
CONVENTIONS = conventions()
