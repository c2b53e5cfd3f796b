"""How an ONNX node becomes an op: the value a registry entry's ``onnx`` field holds.

A layer type's ``onnx`` is an :class:`OnnxRule`: the ONNX operator types it reads (``("Conv",)``) and a function
that reads one node's attributes, input shapes and constant inputs into the op's arguments, as ``cnncalc import``
writes them in a spec (``{"out": 64, "kernel": (7, 7), "stride": 2, "pad": 3, "bias": False}``). A rule with a
``when`` condition is more specific than one without and is tried first (a ``Conv`` whose groups equal its input
channels is a ``dwconv``; any other ``Conv`` is a ``conv``). A node a rule cannot express raises
:class:`UnsupportedError` with the reason, and the importer writes it as an ``opaque`` layer with a warning.

The node is seen through :class:`OnnxNode`, a plain view that needs no ``onnx`` package: cnncalc shapes
(``HxWxC``, or a flat ``N``) of the activation inputs, the dimensions of the inputs that are parameters, the values
of small constant inputs, and the decoded attributes. Patterns that span several nodes (a ``Pad`` before a
``Conv``, ``x * Sigmoid(x)``, ``MatMul`` then ``Add``) are the importer's (:mod:`cnncalc.importers.patterns`);
a registry entry reads one node. Nothing here imports onnx.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .shapes import Shape

#: An argument value as the importer writes it: an int, a bool, a Fraction, a word, an (h, w) pair, or a
#: {top, bottom, left, right} mapping.
Args = dict[str, Any]


class UnsupportedError(Exception):
    """A node this rule cannot express (the message says why); the importer makes it an ``opaque`` layer."""


@dataclass(frozen=True, slots=True)
class OnnxNode:
    """One ONNX node as a rule sees it.

    ``inputs`` holds, per ONNX input, the cnncalc shape of an activation (a tensor computed from the network
    input) or None for a constant; ``weights`` the dimensions of an input that is a parameter (an initializer,
    possibly through ``Identity`` nodes), else None; ``consts`` the values of a small constant input (a tuple of
    numbers, flattened), else None; ``layouts`` "NCHW" or "NHWC" per activation input (after a ``Transpose`` to
    channels-last). An input left out (an empty name in ONNX) is None everywhere.
    """

    op_type: str
    attrs: Mapping[str, Any]
    inputs: tuple[Shape | None, ...]
    out: Shape
    weights: tuple[tuple[int, ...] | None, ...] = ()
    consts: tuple[tuple[float, ...] | None, ...] = ()
    layouts: tuple[str, ...] = ()
    domain: str = ""

    @property
    def x(self) -> Shape:
        """The first activation input's shape."""
        for s in self.inputs:
            if s is not None:
                return s
        raise UnsupportedError(f"{self.op_type} has no input computed from the network input")

    @property
    def layout(self) -> str:
        """The layout of the first activation input ("NCHW" unless after a Transpose to channels-last)."""
        return self.layouts[0] if self.layouts else "NCHW"

    def weight(self, i: int) -> tuple[int, ...] | None:
        """The dimensions of input ``i`` if it is a parameter."""
        return self.weights[i] if i < len(self.weights) else None

    def const(self, i: int) -> tuple[float, ...] | None:
        """The values of input ``i`` if it is a small constant."""
        return self.consts[i] if i < len(self.consts) else None

    def activations(self) -> int:
        """How many inputs are computed from the network input."""
        return sum(s is not None for s in self.inputs)


@dataclass(frozen=True, slots=True)
class OnnxRule:
    """How ONNX nodes of ``op_types`` become this op: ``read(node)`` gives its arguments (raises
    :class:`UnsupportedError` when it cannot); ``when(node)`` restricts the rule (and makes it tried before the rules
    without one); ``buffers`` are the input positions that hold fixed values, not parameters (batch norm's
    running mean and variance)."""

    op_types: tuple[str, ...]
    read: Callable[[OnnxNode], Args] = field(default=lambda node: {})
    when: Callable[[OnnxNode], bool] | None = None
    buffers: tuple[int, ...] = ()


def onnx(
    *op_types: str,
    read: Callable[[OnnxNode], Args] | None = None,
    when: Callable[[OnnxNode], bool] | None = None,
    buffers: tuple[int, ...] = (),
) -> OnnxRule:
    """An :class:`OnnxRule` (``onnx("Relu")``, ``onnx("Conv", read=conv_args)``)."""
    return OnnxRule(tuple(op_types), read or (lambda node: {}), when, buffers)


# --------------------------------------------------------------------------- readers shared by several entries


def number(v: float) -> Fraction:
    """A float attribute (ONNX stores float32: 1e-5 arrives as 9.99999974e-06) as the short decimal it was."""
    return Fraction(f"{v:.6g}")


def pair_attr(node: OnnxNode, name: str, default: int) -> tuple[int, int]:
    """A per-axis attribute of a 2-D window (``strides``, ``dilations``, ``kernel_shape``) as an (h, w) pair."""
    v = node.attrs.get(name)
    if v is None:
        return (default, default)
    if len(v) != 2:
        raise UnsupportedError(f"{name}={list(v)}: only 2-D windows (two values) are supported")
    return (int(v[0]), int(v[1]))


def square(p: tuple[int, int]) -> int | tuple[int, int]:
    """``3`` for (3, 3), else the pair."""
    return p[0] if p[0] == p[1] else p


def pads(node: OnnxNode, kernel: tuple[int, int], dilation: tuple[int, int]) -> Any:
    """The spec's ``pad=`` from ONNX ``pads`` ([top, left, bottom, right]) or ``auto_pad``."""
    auto = node.attrs.get("auto_pad", "NOTSET")
    if auto == "SAME_UPPER":
        return "same"
    if auto == "SAME_LOWER":
        return "same_lower"
    if auto == "VALID":
        return 0
    p = node.attrs.get("pads")
    if p is None:
        return 0
    if len(p) != 4:
        raise UnsupportedError(f"pads={list(p)}: only 2-D windows (four values) are supported")
    t, left, b, r = (int(v) for v in p)
    if t == b and left == r:
        return square((t, left))
    return {"top": t, "bottom": b, "left": left, "right": r}


def window_args(node: OnnxNode, kernel: tuple[int, int]) -> Args:
    """``stride``, ``pad`` and ``dilation`` of a convolution or pooling node."""
    dilation = pair_attr(node, "dilations", 1)
    return {
        "stride": square(pair_attr(node, "strides", 1)),
        "pad": pads(node, kernel, dilation),
        "dilation": square(dilation),
    }


def need_grid(node: OnnxNode) -> Shape:
    """The first input, which must be an HxWxC map in NCHW layout."""
    x = node.x
    if x.is_flat or node.layout != "NCHW":
        raise UnsupportedError(f"{node.op_type} on a {'flat' if x.is_flat else 'channels-last'} tensor")
    return x


def axis_is_channels(node: OnnxNode, axis: int) -> bool:
    """Whether ONNX ``axis`` of the first input is its channels (1 in NCHW; -1 or the last in NHWC and flat)."""
    x = node.x
    rank = 2 if x.is_flat else 4
    a = axis + rank if axis < 0 else axis
    if x.is_flat:
        return a == 1
    return a == (3 if node.layout == "NHWC" else 1)


def scalar(node: OnnxNode, i: int, what: str) -> float:
    """The value of constant input ``i``, which must be one number."""
    v = node.const(i)
    if v is None or len(v) != 1:
        raise UnsupportedError(f"{what} is not a known constant")
    return v[0]


def conv_args(node: OnnxNode) -> Args:
    """``conv`` from an ONNX ``Conv``: weights [M, C/groups, kh, kw]."""
    need_grid(node)
    w = node.weight(1)
    if w is None or len(w) != 4:
        raise UnsupportedError("the weights are not a parameter of 4 dimensions (a 2-D convolution)")
    kernel = pair_attr(node, "kernel_shape", 0) if "kernel_shape" in node.attrs else (w[2], w[3])
    return {
        "out": w[0],
        "kernel": kernel,
        **window_args(node, kernel),
        "groups": int(node.attrs.get("group", 1)),
        "bias": node.weight(2) is not None,
    }


def is_depthwise(node: OnnxNode) -> bool:
    """A ``Conv`` with one group per input channel (and a whole number of filters per channel)."""
    w = node.weight(1)
    x = node.inputs[0] if node.inputs else None
    g = int(node.attrs.get("group", 1))
    return w is not None and x is not None and not x.is_flat and g > 1 and g == x.c and w[0] % g == 0


def dwconv_args(node: OnnxNode) -> Args:
    """``dwconv`` from a depthwise ``Conv``."""
    a = conv_args(node)
    groups, out = a.pop("groups"), a.pop("out")
    return {**a, "mult": out // groups}


def pool_args(node: OnnxNode) -> Args:
    """``maxpool``/``avgpool`` from ``MaxPool``/``AveragePool``."""
    need_grid(node)
    kernel = pair_attr(node, "kernel_shape", 0)
    args = {"kernel": kernel, **window_args(node, kernel), "ceil": bool(node.attrs.get("ceil_mode", 0))}
    if len(node.attrs.get("pads", ())) == 4 and isinstance(args["pad"], dict) and args["ceil"]:
        raise UnsupportedError("asymmetric padding with ceil_mode")
    return args


def gemm_args(node: OnnxNode) -> Args:
    """``fc`` from ``Gemm`` (A x B^T + C, the exporters' fully connected layer) or ``MatMul`` by a matrix."""
    x = node.x
    if not x.is_flat or node.inputs[0] is None:
        raise UnsupportedError("the input is not a flat vector")
    if node.attrs.get("transA", 0):
        raise UnsupportedError("transA=1")
    w = node.weight(1)
    if w is None or len(w) != 2:
        raise UnsupportedError("the matrix B is not a parameter")
    out = w[0] if node.attrs.get("transB", 0) else w[1]
    bias = node.weight(2)
    if bias is not None and bias != (out,) and bias != (1, out):
        raise UnsupportedError(f"the bias has the shape {list(bias)}, not ({out},)")
    return {"out": out, "bias": bias is not None}


def clip_is_relu6(node: OnnxNode) -> bool:
    """``Clip`` between 0 and 6 (PyTorch's ReLU6), bounds as attributes (opset < 11) or constant inputs."""
    lo, hi = node.const(1), node.const(2)
    low = node.attrs.get("min", lo[0] if lo else None)
    high = node.attrs.get("max", hi[0] if hi else None)
    return bool(low == 0 and high == 6)


def concat_ok(node: OnnxNode) -> Args:
    """A ``Concat`` must join channels."""
    if not axis_is_channels(node, int(node.attrs.get("axis", 1))):
        raise UnsupportedError(f"concatenation along axis {node.attrs.get('axis')}, not the channels")
    if any(s is None for s in node.inputs):
        raise UnsupportedError("a constant input")
    return {}


def joined(node: OnnxNode) -> Args:
    """``Add``/``Mul``/``Sum``/``Mean`` of tensors computed from the input (with a constant it is no join)."""
    if any(s is None for s in node.inputs):
        raise UnsupportedError("one input is a constant (not a join of two computed tensors)")
    return {}


def two_activations(node: OnnxNode) -> bool:
    """Every input is computed from the network input (a join, not an operation with a constant)."""
    return len(node.inputs) >= 2 and all(s is not None for s in node.inputs)


def flatten_ok(node: OnnxNode) -> Args:
    """``Flatten`` at axis 1, or a ``Reshape`` that makes a flat vector of a whole map."""
    if node.op_type == "Flatten" and int(node.attrs.get("axis", 1)) != 1:
        raise UnsupportedError(f"axis={node.attrs.get('axis')}; cnncalc's flatten keeps the batch axis only")
    if not node.out.is_flat or node.out.c != node.x.numel:
        raise UnsupportedError(f"{node.x} -> {node.out} is not a flattening")
    return {}


def is_flattening(node: OnnxNode) -> bool:
    """A ``Reshape`` (or ``Flatten``) whose output is a flat vector of all its input's values."""
    return node.inputs[0] is not None and node.out.is_flat and node.out.c == node.inputs[0].numel


def dropout_args(node: OnnxNode) -> Args:
    """``dropout`` from ``Dropout`` (ratio as an attribute, or a constant input since opset 12)."""
    ratio = node.attrs.get("ratio")
    if ratio is None and node.const(1) is not None:
        ratio = scalar(node, 1, "ratio")
    return {"p": number(ratio if ratio is not None else 0.5)}


def norm_over_channels(node: OnnxNode, what: str) -> None:
    """A normalisation's scale must be one value per channel (its parameters are 2C)."""
    c = node.out.c
    for i in (1, 2):
        w = node.weight(i)
        if w is not None and w != (c,):
            raise UnsupportedError(f"{what}'s input {i} has the shape {list(w)}, not one value per channel ({c})")


def bn_args(node: OnnxNode) -> Args:
    """``bn`` from ``BatchNormalization``: scale, bias, mean and variance of one value per channel."""
    if any(node.weight(i) is None for i in (1, 2, 3, 4)):
        raise UnsupportedError("its scale, bias, mean or variance is no stored tensor (cnncalc's bn has all four)")
    norm_over_channels(node, "BatchNormalization")
    return eps(node)


def instancenorm_args(node: OnnxNode) -> Args:
    """``instancenorm`` from ``InstanceNormalization`` (affine when its scale is a parameter)."""
    need_grid(node)
    norm_over_channels(node, "InstanceNormalization")
    return {**eps(node), "affine": node.weight(1) is not None}


def eps(node: OnnxNode, default: float = 1e-5) -> Args:
    """``eps=`` when the node's epsilon is not cnncalc's default 1e-5."""
    e = node.attrs.get("epsilon", default)
    return {"eps": number(e)}


def resize_args(node: OnnxNode) -> Args:
    """``upsample`` from ``Resize`` (scales or sizes as constant inputs) or the old ``Upsample`` (scales)."""
    x = need_grid(node)
    out = node.out
    mode = str(node.attrs.get("mode", "nearest"))
    modes = {"nearest": "nearest", "linear": "bilinear", "cubic": "bicubic", "bilinear": "bilinear"}
    if mode not in modes:
        raise UnsupportedError(f"mode={mode}")
    transform = str(node.attrs.get("coordinate_transformation_mode", "half_pixel"))
    args: Args = {"mode": modes[mode]}
    if transform == "align_corners":
        args["align_corners"] = True
    if out.c != x.c:
        raise UnsupportedError("it resizes the channels")
    scales = node.attrs.get("scales") or node.const(2 if node.op_type == "Resize" else 1)
    if scales and len(scales) == 4 and scales[0] == 1 and scales[1] == 1:
        sh, sw = number(scales[2]), number(scales[3])
        if sh == sw and int(x.h * sh) == out.h and int(x.w * sw) == out.w:
            args["scale"] = sh
            return args
    args["size"] = (out.h, out.w)
    return args


def pad_args(node: OnnxNode) -> Args:
    """``zeropad`` from a constant-zero ``Pad`` of height and width only."""
    need_grid(node)
    if node.attrs.get("mode", "constant") not in ("constant", b"constant"):
        raise UnsupportedError(f"mode={node.attrs.get('mode')} (only zero padding)")
    value = node.const(2)
    if value is not None and any(v != 0 for v in value) or node.attrs.get("value", 0.0) != 0.0:
        raise UnsupportedError("padding with a value other than 0")
    p = node.attrs.get("pads") or node.const(1)
    if p is None or len(p) != 8:
        raise UnsupportedError("the pads are not known constants of a 4-D tensor")
    if node.const(3) is not None:
        raise UnsupportedError("padding of chosen axes")
    p = [int(v) for v in p]
    if p[0] or p[1] or p[4] or p[5] or min(p) < 0:
        raise UnsupportedError("it pads the batch or the channels, or crops")
    t, left, b, r = p[2], p[3], p[6], p[7]
    if t == b and left == r:
        return {"pad": square((t, left))}
    return {"pad": {"top": t, "bottom": b, "left": left, "right": r}}


def reduce_axes(node: OnnxNode) -> tuple[int, ...] | None:
    """The axes of a ``Reduce*`` node (attribute, or constant input since opset 18), None when unknown."""
    axes = node.attrs.get("axes")
    if axes is None:
        c = node.const(1)
        axes = None if c is None else tuple(int(v) for v in c)
    return None if axes is None else tuple(sorted(int(a) % 4 for a in axes))


def is_global_pool(node: OnnxNode) -> bool:
    """A ``ReduceMean``/``ReduceMax`` over height and width that keeps them (keepdims=1): 1x1xC."""
    x = node.inputs[0] if node.inputs else None
    return (
        x is not None
        and not x.is_flat
        and node.layout == "NCHW"
        and reduce_axes(node) == (2, 3)
        and bool(node.attrs.get("keepdims", 1))
    )


def softmax_ok(node: OnnxNode) -> Args:
    """A ``Softmax`` over the channels."""
    if not axis_is_channels(node, int(node.attrs.get("axis", -1))):
        raise UnsupportedError(f"softmax over axis {node.attrs.get('axis', -1)}, not the channels")
    return {}


def layernorm_args(node: OnnxNode) -> Args:
    """``layernorm`` from ``LayerNormalization`` over the channels alone (channels-last, or a flat vector)."""
    if not axis_is_channels(node, int(node.attrs.get("axis", -1))):
        raise UnsupportedError(
            "it normalises over more than the channels (cnncalc's layernorm: the channels at each position)"
        )
    norm_over_channels(node, "LayerNormalization")
    return {**eps(node), "affine": node.weight(1) is not None}


def mul_by_constant(node: OnnxNode) -> bool:
    """``Mul`` of a computed tensor by a constant."""
    return node.activations() == 1 and len(node.inputs) == 2


def is_mul_by_number(node: OnnxNode) -> bool:
    """``Mul`` of a computed tensor by one constant number that is not a parameter."""
    if not mul_by_constant(node):
        return False
    i = 1 if node.inputs[0] is not None else 0
    c = node.const(i)
    return node.weight(i) is None and c is not None and len(c) == 1


def scale_args(node: OnnxNode) -> Args:
    """``scale`` from a ``Mul`` by one constant number (not a parameter)."""
    i = 1 if node.inputs[0] is not None else 0
    if node.weight(i) is not None:
        raise UnsupportedError("the factor is a parameter (trainable), not a constant")
    return {"factor": number(scalar(node, i, "the factor"))}


def is_per_channel_parameter(node: OnnxNode) -> bool:
    """``Mul`` by a parameter holding one value per channel (layer scale)."""
    if not mul_by_constant(node):
        return False
    i = 1 if node.inputs[0] is not None else 0
    w = node.weight(i)
    return w is not None and _numel(w) == node.out.c > 1


def _numel(dims: Sequence[int]) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


__all__ = ["Args", "OnnxNode", "OnnxRule", "UnsupportedError", "onnx"]
