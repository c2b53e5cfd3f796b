"""The ONNX patterns that span several nodes: what exporters write for one layer a person would name.

A registry entry's ``onnx`` rule reads one node (:mod:`cnncalc.onnxcode`). Some layers arrive as several nodes,
and some nodes are no layer at all; :data:`PATTERNS` lists each such pattern once, in the order they are tried
at a node, with what it becomes:

=================  =====================================================================================
pattern            becomes
=================  =====================================================================================
layout             ``Transpose`` to channels-last ([0, 2, 3, 1]) or back ([0, 3, 1, 2]): no layer; the ops
                   between read channels-last tensors (ConvNeXt's permute, LayerNorm, Linear, permute)
pad-window         ``Pad`` of zeros on height and width read only by a ``Conv`` or a pooling: that window's
                   padding (per side when asymmetric), one layer
swish              ``x * Sigmoid(x)``: ``swish`` (SiLU); ``x * HardSigmoid(x)``: ``hswish``
gelu-erf           ``Div`` by sqrt(2), ``Erf``, ``Add`` 1, ``Mul`` by x, ``Mul`` by 0.5: ``gelu`` (what exporters
                   write before ONNX's Gelu, opset 20)
matmul-add         ``MatMul`` by a parameter matrix, then ``Add`` of a parameter vector: ``fc`` (or ``linear``
                   on a channels-last map) with its bias
reduce-mean        ``ReduceMean``/``ReduceMax`` over height and width without keepdims: ``gap, flatten``
                   (``gmp, flatten``)
split-channels     ``Split`` of the channels into equal parts: ``split PARTS index=K`` per part read
slice-channels     ``Slice`` of the channels that is one of equal parts (PyTorch's ``chunk``): ``split PARTS
                   index=K``
slice-crop         ``Slice`` of height, of width or of both (two nodes) keeping the centre: ``crop HxW``
                   (U-Net's copy and crop)
gate-reshape       ``Reshape``/``Unsqueeze`` of a flat vector to [N, C, 1, 1] read only by ``Mul``: no layer
                   (a flat gate of C values scales a map as a 1x1xC one does)
channel-shuffle    ``Reshape`` to [N, g, C/g, H, W], ``Transpose`` (0, 2, 1, 3, 4), ``Reshape`` back: ``shuffle g``
                   (ShuffleNet)
=================  =====================================================================================

Every pattern gives the same figures as the nodes it replaces: the parameters of all its nodes, and the shape
of its last one. Anything else a node does not match goes to the registry, and from there to ``opaque``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import onnxcode as ox
from ..shapes import Shape

if TYPE_CHECKING:
    from .onnx_graph import OnnxReader


@dataclass(frozen=True)
class Pattern:
    """A pattern: its name, what it becomes, and ``match(reader, i)``, which emits its layers when node ``i``
    starts it (True) or leaves the node alone (False)."""

    name: str
    becomes: str
    match: Callable[[OnnxReader, int], bool]


def _only_consumer(r: OnnxReader, value: str) -> int | None:
    users = r.consumers.get(value, [])
    if len(users) != 1 or value in r.outputs():
        return None
    return users[0]


def _perm(r: OnnxReader, i: int) -> tuple[int, ...]:
    return tuple(int(p) for p in r.view_attrs(i).get("perm", ()))


def _layout(r: OnnxReader, i: int) -> bool:
    node = r.nodes[i]
    if node.op_type != "Transpose":
        return False
    x = node.input[0]
    layout = r.values[x].layout
    dims = r.values[x].dims
    if dims is None or len(dims) != 4:
        return False
    perm = _perm(r, i)
    if perm == (0, 2, 3, 1) and layout == "NCHW":
        r.alias(node.output[0], x, "NHWC")
    elif perm == (0, 3, 1, 2) and layout == "NHWC":
        r.alias(node.output[0], x, "NCHW")
    else:
        return False
    r.done.add(i)
    return True


def _pad_window(r: OnnxReader, i: int) -> bool:
    node = r.nodes[i]
    if node.op_type != "Pad":
        return False
    j = _only_consumer(r, node.output[0])
    if (
        j is None
        or r.nodes[j].op_type not in ("Conv", "MaxPool", "AveragePool")
        or r.nodes[j].input[0] != node.output[0]
    ):
        return False
    try:
        amounts = ox.pad_args(r.view(i))["pad"]
    except ox.UnsupportedError:
        return False
    attrs = dict(r.view_attrs(j))
    if attrs.get("auto_pad", "NOTSET") != "NOTSET":
        return False
    if isinstance(amounts, dict):
        t, b, left, right = amounts["top"], amounts["bottom"], amounts["left"], amounts["right"]
    else:
        ph, pw = (amounts, amounts) if isinstance(amounts, int) else amounts
        t, b, left, right = ph, ph, pw, pw
    old = [int(v) for v in attrs.get("pads", (0, 0, 0, 0))]
    attrs["pads"] = (old[0] + t, old[1] + left, old[2] + b, old[3] + right)
    inputs = [node.input[0], *r.nodes[j].input[1:]]
    view = r.view(j, attrs=attrs, inputs=inputs)
    if not r.takes(j, view):
        return False
    r.translate(j, view, extra=[i], inputs=[node.input[0]])
    r.done.update((i, j))
    return True


def _swish(r: OnnxReader, i: int) -> bool:
    node = r.nodes[i]
    if node.op_type not in ("Sigmoid", "HardSigmoid"):
        return False
    j = _only_consumer(r, node.output[0])
    x = node.input[0]
    if j is None or r.nodes[j].op_type != "Mul" or sorted(r.nodes[j].input) != sorted([x, node.output[0]]):
        return False
    if node.op_type == "HardSigmoid":
        a = r.view_attrs(i)
        if ox.number(a.get("alpha", 0.2)) != ox.number(1 / 6) or ox.number(a.get("beta", 0.5)) != ox.number(0.5):
            return False
    op = "swish" if node.op_type == "Sigmoid" else "hswish"
    r.emit(j, op, {}, [r.vid(x)], (0, 0), layout=r.values[x].layout)
    r.done.update((i, j))
    return True


def _matmul_add(r: OnnxReader, i: int) -> bool:
    node = r.nodes[i]
    if node.op_type != "MatMul" or len(node.input) != 2:
        return False
    j = _only_consumer(r, node.output[0])
    if j is None or r.nodes[j].op_type != "Add":
        return False
    other = [n for n in r.nodes[j].input if n != node.output[0]]
    if len(other) != 1:
        return False
    bias = r.values.get(other[0])
    w = r.values.get(node.input[1])
    if bias is None or bias.act or bias.param is None or w is None or w.param is None or len(w.param) != 2:
        return False
    if bias.param not in ((w.param[1],), (1, w.param[1])):
        return False
    view = r.view(i, inputs=[node.input[0], node.input[1], other[0]])
    if not r.takes(i, view):
        return False
    r.translate(i, view, extra=[j], inputs=[node.input[0]], bind=r.nodes[j].output[0])
    r.done.update((i, j))
    return True


def _reduce_flat(r: OnnxReader, i: int) -> bool:
    node = r.nodes[i]
    if node.op_type not in ("ReduceMean", "ReduceMax"):
        return False
    view = r.view(i)
    x = view.inputs[0]
    if x is None or x.is_flat or view.layout != "NCHW" or view.attrs.get("keepdims", 1):
        return False
    if ox.reduce_axes(view) != (2, 3):
        return False
    op = "gap" if node.op_type == "ReduceMean" else "gmp"
    pooled = r.emit(i, op, {}, [r.vid(node.input[0])], (0, 0), shape=Shape.spatial(1, 1, x.c))
    r.emit(i, "flatten", {}, [pooled], (0, 0))
    r.done.add(i)
    return True


def _split(r: OnnxReader, i: int) -> bool:
    node = r.nodes[i]
    if node.op_type != "Split":
        return False
    view = r.view(i)
    x = view.inputs[0]
    parts = len(node.output)
    if x is None or not ox.axis_is_channels(view, int(view.attrs.get("axis", 0))) or parts < 2 or x.c % parts:
        return False
    sizes = view.attrs.get("split") or view.const(1)
    if sizes is not None and any(int(s) != x.c // parts for s in sizes):
        return False
    for k, out in enumerate(node.output):
        if out and r.consumers.get(out):
            r.emit(i, "split", {"parts": parts, "index": k}, [r.vid(node.input[0])], (0, 0), out)
    r.done.add(i)
    return True


def _shuffle(r: OnnxReader, i: int) -> bool:
    node = r.nodes[i]
    if node.op_type != "Reshape":
        return False
    x, mid = r.values.get(node.input[0]), r.values.get(node.output[0])
    if x is None or mid is None or x.dims is None or mid.dims is None or len(x.dims) != 4 or len(mid.dims) != 5:
        return False
    if r.values[node.input[0]].layout != "NCHW":
        return False
    n, c, h, w = x.dims
    g = mid.dims[1]
    if g is None or c is None or (mid.dims[0], mid.dims[2], mid.dims[3], mid.dims[4]) != (n, c // g, h, w):
        return False
    j = _only_consumer(r, node.output[0])
    if j is None or r.nodes[j].op_type != "Transpose" or _perm(r, j) != (0, 2, 1, 3, 4):
        return False
    k = _only_consumer(r, r.nodes[j].output[0])
    if k is None or r.nodes[k].op_type != "Reshape":
        return False
    out = r.values.get(r.nodes[k].output[0])
    if out is None or out.dims != x.dims:
        return False
    r.emit(k, "shuffle", {"groups": int(g)}, [r.vid(node.input[0])], (0, 0), layout="NCHW")
    r.done.update((i, j, k))
    return True


def _next(r: OnnxReader, value: str, op_type: str) -> int | None:
    j = _only_consumer(r, value)
    return j if j is not None and r.nodes[j].op_type == op_type else None


def _times_constant(r: OnnxReader, j: int, value: str) -> float | None:
    """The constant a ``Mul``/``Add``/``Div`` node ``j`` combines ``value`` with (None when none)."""
    other = [n for n in r.nodes[j].input if n != value]
    v = r.values.get(other[0]) if len(other) == 1 else None
    return v.value[0] if v is not None and not v.act and v.value is not None and len(v.value) == 1 else None


def _gelu(r: OnnxReader, i: int) -> bool:
    """x * 0.5 * (1 + erf(x / sqrt(2))) as exporters write GELU before opset 20."""
    node = r.nodes[i]
    if node.op_type != "Div" or len(node.input) != 2:
        return False
    x = node.input[0]
    if abs((_times_constant(r, i, x) or 0) - 2**0.5) > 1e-3:
        return False
    erf = _next(r, node.output[0], "Erf")
    add = _next(r, r.nodes[erf].output[0], "Add") if erf is not None else None
    if add is None or _times_constant(r, add, r.nodes[erf].output[0]) != 1:  # type: ignore[index]
        return False
    mul = _next(r, r.nodes[add].output[0], "Mul")
    if mul is None or sorted(r.nodes[mul].input) != sorted([x, r.nodes[add].output[0]]):
        return False
    half = _next(r, r.nodes[mul].output[0], "Mul")
    if half is None or _times_constant(r, half, r.nodes[mul].output[0]) != 0.5:
        return False
    r.emit(half, "gelu", {}, [r.vid(x)], (0, 0), layout=r.values[x].layout)
    r.done.update((i, erf, add, mul, half))  # type: ignore[arg-type]
    return True


def _slice(r: OnnxReader, i: int) -> bool:
    node = r.nodes[i]
    if node.op_type != "Slice":
        return False
    view = r.view(i)
    x = view.inputs[0]
    starts, ends, axes, steps = (view.const(k) for k in (1, 2, 3, 4))
    if x is None or x.is_flat or starts is None or ends is None or len(starts) != 1 or view.layout != "NCHW":
        return False
    if (axes is not None and int(axes[0]) % 4 != 1) or (steps is not None and int(steps[0]) != 1):
        return False
    start, end = int(starts[0]), min(int(ends[0]), x.c)
    width = end - start
    if width < 1 or x.c % width or start % width:
        return False
    r.emit(i, "split", {"parts": x.c // width, "index": start // width}, [r.vid(node.input[0])], (0, 0))
    r.done.add(i)
    return True


def _window_of(r: OnnxReader, i: int, x: Shape) -> dict[int, tuple[int, int]] | None:
    """{axis: (start, stop)} of a ``Slice`` of height and width with step 1, None for any other slice."""
    view = r.view(i)
    starts, ends, axes, steps = (view.const(k) for k in (1, 2, 3, 4))
    if starts is None or ends is None or view.layout != "NCHW":
        return None
    axes = axes or tuple(range(len(starts)))
    out: dict[int, tuple[int, int]] = {}
    for s, e, a, st in zip(starts, ends, axes, steps or (1,) * len(starts)):
        axis = int(a) % 4
        if axis not in (2, 3) or int(st) != 1:
            return None
        n = x.h if axis == 2 else x.w
        lo, hi = (int(s) + n if s < 0 else int(s)), (int(e) + n if e < 0 else min(int(e), n))
        out[axis] = (lo, hi)
    return out


def _crop(r: OnnxReader, i: int) -> bool:
    node = r.nodes[i]
    if node.op_type != "Slice":
        return False
    x = r.view(i).inputs[0]
    if x is None or x.is_flat:
        return False
    window = _window_of(r, i, x)
    if not window:
        return False
    last = i
    j = _only_consumer(r, node.output[0])
    if j is not None and r.nodes[j].op_type == "Slice" and r.nodes[j].input[0] == node.output[0]:
        more = _window_of(r, j, x)
        if more is not None and not set(more) & set(window):
            window, last = {**window, **more}, j
    (top, bottom), (left, right) = window.get(2, (0, x.h)), window.get(3, (0, x.w))
    h, w = bottom - top, right - left
    if h < 1 or w < 1 or top != (x.h - h) // 2 or left != (x.w - w) // 2:
        return False  # cnncalc's crop keeps the centre (the odd row at the bottom)
    r.emit(last, "crop", {"size": (h, w)}, [r.vid(node.input[0])], (0, 0), layout="NCHW")
    r.done.update((i, last))
    return True


def _gate(r: OnnxReader, i: int) -> bool:
    node = r.nodes[i]
    if node.op_type not in ("Reshape", "Unsqueeze") or not node.output:
        return False
    x = r.values.get(node.input[0])
    out = r.values.get(node.output[0])
    if x is None or out is None or x.dims is None or out.dims is None or len(x.dims) != 2:
        return False
    if len(out.dims) != 4 or tuple(out.dims[2:]) != (1, 1) or out.dims[1] != x.dims[1]:
        return False
    users = r.consumers.get(node.output[0], [])
    if not users or any(r.nodes[u].op_type != "Mul" for u in users) or node.output[0] in r.outputs():
        return False
    r.alias(node.output[0], node.input[0])
    r.done.add(i)
    return True


#: The patterns, in the order they are tried at each node.
PATTERNS: tuple[Pattern, ...] = (
    Pattern("layout", "Transpose to channels-last and back: no layer", _layout),
    Pattern("pad-window", "Pad of zeros before a Conv or a pooling: its padding", _pad_window),
    Pattern("swish", "x * Sigmoid(x): swish; x * HardSigmoid(x): hswish", _swish),
    Pattern("gelu-erf", "x * 0.5 * (1 + Erf(x / sqrt(2))): gelu", _gelu),
    Pattern("matmul-add", "MatMul then Add of a bias: fc or linear with a bias", _matmul_add),
    Pattern("reduce-mean", "ReduceMean over H and W without keepdims: gap, flatten", _reduce_flat),
    Pattern("split-channels", "Split of the channels into equal parts: split per part", _split),
    Pattern("slice-channels", "Slice of one of equal parts of the channels: split PARTS index=K", _slice),
    Pattern("slice-crop", "Slices of height and width that keep the centre: crop HxW", _crop),
    Pattern("gate-reshape", "a flat vector reshaped to [N, C, 1, 1] for Mul: no layer", _gate),
    Pattern(
        "channel-shuffle", "Reshape to [N, g, C/g, H, W], Transpose(0, 2, 1, 3, 4), Reshape back: shuffle g", _shuffle
    ),
)


def describe() -> list[tuple[str, str]]:
    """(pattern, what it becomes) for the docs."""
    return [(p.name, p.becomes) for p in PATTERNS]


__all__ = ["PATTERNS", "Pattern", "describe"]
