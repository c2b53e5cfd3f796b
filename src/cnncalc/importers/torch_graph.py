"""Reading a PyTorch module into a :class:`~cnncalc.importers.network.Network` (``cnncalc import pkg.mod:fn``).

The target names a callable that returns an ``nn.Module`` (a builder such as ``torchvision.models.resnet50``,
called without arguments, so with no pretrained weights, or a class). The module is traced with ``torch.fx``
(symbolic tracing: its ``forward`` recorded op by op, submodules of ``torch.nn`` kept whole), then run once
on zeros of the input's shape by an interpreter that records every value: tensor shapes, and the integers a
``forward`` computes from them (``x.size(0)``).

Each recorded step is seen as the ONNX node it amounts to (:data:`MODULES`, :data:`FUNCTIONS`: an
``nn.Conv2d`` is a ``Conv`` with its kernel, strides, pads, dilations and groups), so the registry's ``onnx``
rules decide its op, as for an ONNX file; the few with no ONNX node (``AdaptiveAvgPool2d`` to a size other
than 1, ``ChannelShuffle``, torchvision's ``stochastic_depth``) name their op directly. Layout changes
(``permute`` to channels-last and back), ``contiguous`` and shape arithmetic are no layers; ShuffleNet's
view-transpose-view is a ``shuffle``. Parameters and buffers are each module's own (``recurse=False``) and the
tensors a step reads with ``get_attr``; names are the module paths (``layer1.0.conv1``). Anything else is an
``opaque`` layer with a W801 warning, as for ONNX.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .. import layers as L  # noqa: N812 - the registry
from ..diagnostics import Diagnostic, Location
from ..onnxcode import OnnxNode
from ..shapes import Shape
from .network import INPUT, Layer, ModelError, Network, TorchImportMissingError, torch_shape
from .onnx_graph import choose, rules

TORCH_HELP = "cnncalc import of a PyTorch module needs PyTorch, an optional extra: pip install 'cnncalc[torch]'"
#: The input a module is imported at when --input is not given (the size torchvision's classifiers take).
DEFAULT_INPUT = Shape.spatial(224, 224, 3)

#: A step seen as an ONNX node: (op type, attributes, weight dimensions per input position, constant inputs),
#: or a cnncalc op named directly: ("=op", arguments).
Seen = tuple[str, dict[str, Any], dict[int, tuple[int, ...]], dict[int, tuple[float, ...]]]


def _pair(v: Any) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _window(kernel: Any, stride: Any, padding: Any, dilation: Any = 1) -> dict[str, Any]:
    attrs: dict[str, Any] = {"kernel_shape": _pair(kernel), "strides": _pair(stride), "dilations": _pair(dilation)}
    if isinstance(padding, str):
        attrs["auto_pad"] = {"same": "SAME_UPPER", "valid": "VALID"}[padding]
    else:
        ph, pw = _pair(padding)
        attrs["pads"] = (ph, pw, ph, pw)
    return attrs


def _dims(t: Any) -> tuple[int, ...] | None:
    return None if t is None else tuple(int(d) for d in t.shape)


def _conv(m: Any) -> Seen:
    attrs = {**_window(m.kernel_size, m.stride, m.padding, m.dilation), "group": int(m.groups)}
    return "Conv", attrs, {1: _dims(m.weight) or (), **({2: _dims(m.bias) or ()} if m.bias is not None else {})}, {}


def _deconv(m: Any) -> Seen:
    attrs = {**_window(m.kernel_size, m.stride, m.padding, m.dilation), "group": int(m.groups)}
    attrs["output_padding"] = _pair(m.output_padding)
    weights = {1: _dims(m.weight) or (), **({2: _dims(m.bias) or ()} if m.bias is not None else {})}
    return "ConvTranspose", attrs, weights, {}


def _norm(op_type: str, attrs: dict[str, Any]) -> Callable[[Any], Seen]:
    def seen(m: Any) -> Seen:
        weights: dict[int, tuple[int, ...]] = {}
        for pos, name in enumerate(("weight", "bias", "running_mean", "running_var"), start=1):
            t = getattr(m, name, None)
            if t is not None:
                weights[pos] = _dims(t) or ()
        extra = {k: (getattr(m, v) if isinstance(v, str) else v(m)) for k, v in attrs.items()}
        return op_type, {"epsilon": float(m.eps), **extra}, weights, {}

    return seen


def _pool(op_type: str) -> Callable[[Any], Seen]:
    def seen(m: Any) -> Seen:
        stride = m.stride if m.stride is not None else m.kernel_size
        attrs = _window(m.kernel_size, stride, m.padding, getattr(m, "dilation", 1))
        attrs["ceil_mode"] = int(bool(m.ceil_mode))
        return op_type, attrs, {}, {}

    return seen


def _adaptive(kind: str) -> Callable[[Any], Seen]:
    def seen(m: Any) -> Seen:
        size = m.output_size
        h, w = _pair(size) if None not in (size if isinstance(size, (tuple, list)) else (size,)) else (0, 0)
        if (h, w) == (1, 1):
            return ("GlobalAveragePool" if kind == "avg" else "GlobalMaxPool"), {}, {}, {}
        if kind == "avg" and h and w:
            return "=adaptive_avgpool", {"out": (h, w)}, {}, {}
        return f"AdaptiveMaxPool({size})" if kind == "max" else f"AdaptiveAvgPool({size})", {}, {}, {}

    return seen


def _linear(m: Any) -> Seen:
    w = _dims(m.weight) or ()
    bias = {2: _dims(m.bias) or ()} if m.bias is not None else {}
    return "Gemm", {"transB": 1}, {1: w, **bias}, {}


def _upsample(m: Any) -> Seen:
    mode = {"nearest": "nearest", "bilinear": "linear", "bicubic": "cubic"}.get(str(m.mode), str(m.mode))
    attrs: dict[str, Any] = {"mode": mode}
    if getattr(m, "align_corners", False):
        attrs["coordinate_transformation_mode"] = "align_corners"
    consts: dict[int, tuple[float, ...]] = {}
    if m.scale_factor is not None:
        sh, sw = m.scale_factor if isinstance(m.scale_factor, (tuple, list)) else (m.scale_factor, m.scale_factor)
        consts[2] = (1.0, 1.0, float(sh), float(sw))
    return "Resize", attrs, {}, consts


def _pad(m: Any) -> Seen:
    left, right, top, bottom = m.padding if len(m.padding) == 4 else (*m.padding, *m.padding)
    return "Pad", {"value": float(getattr(m, "value", 0.0))}, {}, {1: (0, 0, top, left, 0, 0, bottom, right)}


def _simple(op_type: str, **attrs: Any) -> Callable[[Any], Seen]:
    return lambda m: (op_type, {k: (getattr(m, v) if isinstance(v, str) else v) for k, v in attrs.items()}, {}, {})


#: torch.nn modules, by class name, as the ONNX node each amounts to.
MODULES: dict[str, Callable[[Any], Seen]] = {
    "Conv2d": _conv,
    "ConvTranspose2d": _deconv,
    "BatchNorm2d": _norm("BatchNormalization", {}),
    "BatchNorm1d": _norm("BatchNormalization", {}),
    "GroupNorm": _norm("GroupNormalization", {"num_groups": "num_groups"}),
    "LayerNorm": _norm("LayerNormalization", {"axis": lambda m: -len(m.normalized_shape)}),
    "InstanceNorm2d": _norm("InstanceNormalization", {}),
    "Linear": _linear,
    "ReLU": _simple("Relu"),
    "ReLU6": _simple("Clip", min=0.0, max=6.0),
    "Sigmoid": _simple("Sigmoid"),
    "Tanh": _simple("Tanh"),
    "ELU": _simple("Elu"),
    "GELU": _simple("Gelu"),
    "SiLU": _simple("Swish"),
    "Hardswish": _simple("HardSwish"),
    "Hardsigmoid": _simple("HardSigmoid", alpha=1 / 6, beta=0.5),
    "LeakyReLU": _simple("LeakyRelu", alpha="negative_slope"),
    "Softmax": _simple("Softmax", axis="dim"),
    "Dropout": _simple("Dropout", ratio="p"),
    "Dropout2d": _simple("Dropout", ratio="p"),
    "Identity": _simple("Identity"),
    "Flatten": _simple("Flatten", axis="start_dim"),
    "MaxPool2d": _pool("MaxPool"),
    "AvgPool2d": _pool("AveragePool"),
    "AdaptiveAvgPool2d": _adaptive("avg"),
    "AdaptiveMaxPool2d": _adaptive("max"),
    "LocalResponseNorm": _simple("LRN", size="size", alpha="alpha", beta="beta", bias="k"),
    "PixelShuffle": _simple("DepthToSpace", blocksize="upscale_factor"),
    "PixelUnshuffle": _simple("SpaceToDepth", blocksize="downscale_factor"),
    "Upsample": _upsample,
    "UpsamplingNearest2d": _upsample,
    "UpsamplingBilinear2d": _upsample,
    "ZeroPad2d": _pad,
    "ConstantPad2d": _pad,
    "ChannelShuffle": lambda m: ("=shuffle", {"groups": int(m.groups)}, {}, {}),
}

#: Functions and tensor methods (by name) as ONNX nodes: (op type, how its attributes come from the call's
#: arguments). Joins and element-wise functions; windows and shapes are read in :meth:`TorchReader.function`.
FUNCTIONS: dict[str, str] = {
    "add": "Add",
    "iadd": "Add",
    "mul": "Mul",
    "imul": "Mul",
    "relu": "Relu",
    "relu_": "Relu",
    "relu6": "Clip",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "gelu": "Gelu",
    "silu": "Swish",
    "hardswish": "HardSwish",
    "hardsigmoid": "HardSigmoid",
    "elu": "Elu",
    "dropout": "Dropout",
    "identity": "Identity",
}


def _load(target: str) -> Any:
    """The callable a target names: ``package.module:callable`` or ``package.module.callable``."""
    module_name, sep, attr = target.partition(":")
    if not sep:
        module_name, _, attr = target.rpartition(".")
    where = None  # the target is no file: messages name it
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name in ("torch", "torchvision") and exc.name == module_name.split(".")[0] or exc.name == "torch":
            raise TorchImportMissingError(TORCH_HELP, where, code="E806") from None
        raise ModelError(f"cannot import `{module_name}`: {exc}", where, code="E805") from None
    except Exception as exc:  # noqa: BLE001 - whatever importing the user's module raises
        raise ModelError(f"importing `{module_name}` fails: {type(exc).__name__}: {exc}", where, code="E805") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelError(f"`{module_name}` has no attribute `{attr}`", where, code="E805")
        obj = getattr(obj, part)
    return obj


def _torch() -> Any:
    try:
        torch = importlib.import_module("torch")
        importlib.import_module("torch.fx")
    except ImportError:
        raise TorchImportMissingError(TORCH_HELP, code="E806") from None
    return torch


class TorchReader:
    """One module being read: the fx graph, every node's recorded value, and the network being made."""

    def __init__(self, target: str, input_shape: Shape | None) -> None:
        self.target = target
        obj = _load(target)
        self.torch = torch = _torch()
        where = None
        try:
            model = obj if isinstance(obj, torch.nn.Module) else obj()
        except Exception as exc:  # noqa: BLE001 - the user's constructor
            raise ModelError(f"calling `{target}()` fails: {type(exc).__name__}: {exc}", where, code="E805") from None
        if not isinstance(model, torch.nn.Module):
            raise ModelError(f"`{target}` gives a {type(model).__name__}, not a torch.nn.Module", where, code="E805")
        self.model = model.eval()
        try:
            self.gm = torch.fx.symbolic_trace(self.model)
        except Exception as exc:  # noqa: BLE001 - control flow on values, unsupported Python
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ModelError(
                f"torch.fx cannot trace `{target}`: {type(exc).__name__}: {first}", where, code="E805"
            ) from None
        self.input_shape = input_shape or DEFAULT_INPUT
        self.values: dict[str, Any] = {}  # node name -> what it computed
        self.vid: dict[str, int] = {}  # node name -> value id
        self.layout: dict[str, str] = {}
        self.act: set[str] = set()
        self.rules = rules()
        self.done: set[str] = set()
        source = f"PyTorch module {target}() traced by torch.fx"
        self.net = Network(attr_name(target), source, self.input_shape)
        self.net.total_params = sum(p.numel() for p in self.model.parameters())
        self.net.total_buffers = sum(
            b.numel() for n, b in self.model.named_buffers() if b.is_floating_point() and "num_batches" not in n
        )

    # -- running once

    def run(self) -> None:
        torch = self.torch
        s = self.input_shape
        x = torch.zeros(1, s.c, s.h, s.w)
        values = self.values
        gm = self.gm

        class Recorder(torch.fx.Interpreter):  # type: ignore[misc,name-defined]
            def run_node(self, n: Any) -> Any:
                result = super().run_node(n)
                values[n.name] = result
                return result

        try:
            with torch.no_grad():
                Recorder(gm).run(x)
        except Exception as exc:  # noqa: BLE001 - the user's forward on this input
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ModelError(
                f"running `{self.target}` on a {s} input fails: {type(exc).__name__}: {first}"
                + ("" if self.input_shape is not DEFAULT_INPUT else " (give its input size with --input)"),
                Location(self.target),
                code="E805",
            ) from None

    # -- values

    def value(self, name: str, default: Any = None) -> Any:
        """What node ``name`` computed (a tensor, a number, a tuple), or ``default``."""
        return self.values.get(name, default)

    def is_tensor(self, v: Any) -> bool:
        return isinstance(v, self.torch.Tensor)

    def shape(self, name: str, node: Any) -> Shape:
        v = self.value(name)
        dims = tuple(int(d) for d in v.shape) if self.is_tensor(v) else ()
        s = torch_shape(dims, self.layout.get(name, "NCHW"))
        if s is None:
            raise ModelError(
                f"`{node.name}` ({_what(node)}) makes a tensor of {len(dims)} dimensions {list(dims)}; cnncalc's "
                "tensors are [N, C, H, W], [N, C, W] or [N, F]",
                Location(self.target, path=node.name),
                code="E802",
            )
        return s

    def name_of(self, node: Any) -> str:
        if node.op == "call_module":
            return str(node.target)
        stack = node.meta.get("nn_module_stack")
        if stack:
            path = str(list(stack.values())[-1][0])
            return path or str(node.name)
        return str(node.name)

    # -- layers

    def emit(self, node: Any, op: str, args: dict[str, Any], inputs: list[str], counts: tuple[int, int]) -> int:
        layout = self.layout.get(inputs[0], "NCHW") if inputs else "NCHW"
        self.layout[node.name] = layout
        layer = Layer(
            self.name_of(node),
            op,
            args,
            [self.vid[n] for n in inputs],
            self.shape(node.name, node),
            counts[0],
            counts[1],
            f"`{node.name}` ({_what(node)})",
        )
        self.vid[node.name] = self.net.add(layer)
        return self.vid[node.name]

    def alias(self, node: Any, source: str, layout: str | None = None) -> None:
        self.vid[node.name] = self.vid[source]
        self.layout[node.name] = layout or self.layout.get(source, "NCHW")

    def opaque(self, node: Any, reason: str, inputs: list[str], counts: tuple[int, int]) -> None:
        self.layout[node.name] = self.layout.get(inputs[0], "NCHW") if inputs else "NCHW"
        shape = self.shape(node.name, node)
        args: dict[str, Any] = {"out": shape, "params": counts[0]}
        if counts[1]:
            args["buffers"] = counts[1]
        vid = self.emit(node, "opaque", args, inputs[:1], counts)
        self.net.layers[vid].note = reason
        self.net.warnings.append(
            Diagnostic(
                f"`{self.name_of(node)}` ({_what(node)}) is written as `opaque`: {reason}; its output shape comes "
                f"from running the module and its {counts[0]:,} parameters from it, its MACs are unknown (counted 0)",
                Location(self.target, path=self.name_of(node)),
                code="W801",
            )
        )

    def translate(self, node: Any, seen: Seen, inputs: list[str], counts: tuple[int, int]) -> None:
        op_type, attrs, weights, consts = seen
        self.layout[node.name] = self.layout.get(inputs[0], "NCHW") if inputs else "NCHW"
        if op_type.startswith("="):
            self.emit(node, op_type[1:], attrs, inputs[:1], counts)
            return
        n_in = max([len(inputs), *(k + 1 for k in weights), *(k + 1 for k in consts)])
        shapes: list[Shape | None] = [None] * n_in
        layouts: list[str] = []
        for k, name in enumerate(inputs):
            shapes[k] = self.shape(name, node)
            layouts.append(self.layout.get(name, "NCHW"))
        view = OnnxNode(
            op_type,
            attrs,
            tuple(shapes),
            self.shape(node.name, node),
            tuple(weights.get(k) for k in range(n_in)),
            tuple(consts.get(k) for k in range(n_in)),
            tuple(layouts),
        )
        chosen = choose(view, self.rules.get(op_type, []))
        if isinstance(chosen, str):
            reason = chosen if self.rules.get(op_type) else f"cnncalc has no op for {_what(node)}"
            self.opaque(node, reason, inputs, counts)
            return
        op, args, _ = chosen
        ins = inputs if L.LAYER_TYPES[op].role == "join" else inputs[:1]
        self.emit(node, op, args, ins, counts)

    def read(self) -> Network:
        self.run()
        graph = list(self.gm.graph.nodes)
        for node in graph:
            if node.name in self.done:
                continue
            if node.op == "placeholder":
                self.vid[node.name], self.layout[node.name] = INPUT, "NCHW"
                self.act.add(node.name)
                if self.values[node.name].dim() != 4:  # pragma: no cover - the input is made 4-D above
                    raise AssertionError
                continue
            if node.op == "output":
                out = _first_tensor_node(node.args[0], self.values, self.is_tensor)
                if out is None or out not in self.vid:
                    raise ModelError(
                        "the module's output is not a tensor computed from its input",
                        Location(self.target),
                        code="E802",
                    )
                self.net.output = self.vid[out]
                continue
            if node.op == "get_attr":
                continue
            acts = [a.name for a in _node_args(node) if a.name in self.act]
            if not acts:
                continue  # shape arithmetic (x.size(0) // 2), constants
            value = self.value(node.name)
            parts = value if isinstance(value, (tuple, list)) else ()
            if not self.is_tensor(value) and not any(self.is_tensor(p) for p in parts):
                continue  # x.size(), a shape: arithmetic, no layer
            self.act.add(node.name)
            self.step(node, acts)
        if not self.net.layers:
            raise ModelError("the module computes nothing from its input", Location(self.target), code="E802")
        return self.net

    def counts(self, node: Any) -> tuple[int, int]:
        """(params, buffers) a step holds: a module's own, or the parameters it reads with get_attr."""
        if node.op == "call_module":
            m = self.gm.get_submodule(node.target)
            p = sum(t.numel() for t in m.parameters(recurse=False))
            b = sum(
                t.numel()
                for n, t in m.named_buffers(recurse=False)
                if t.is_floating_point() and n != "num_batches_tracked"
            )
            return p, b
        p = 0
        for a in _node_args(node):
            if a.op == "get_attr":
                t = self.value(a.name)
                if self.is_tensor(t) and t.is_floating_point():
                    p += t.numel()
        return p, 0

    def step(self, node: Any, acts: list[str]) -> None:
        counts = self.counts(node)
        if node.op == "call_module":
            m = self.gm.get_submodule(node.target)
            cls = type(m).__name__
            seen = MODULES.get(cls)
            if seen is None:
                self.opaque(node, f"cnncalc has no op for the module {cls}", acts, counts)
                return
            self.translate(node, seen(m), acts, counts)
            return
        fname = node.target if node.op == "call_method" else getattr(node.target, "__name__", str(node.target))
        self.function(node, str(fname), acts, counts)

    def function(self, node: Any, fname: str, acts: list[str], counts: tuple[int, int]) -> None:
        """A ``call_function`` or ``call_method`` step."""
        args = list(node.args)
        kwargs = dict(node.kwargs)
        x = acts[0]

        def arg(k: int, key: str, default: Any = None) -> Any:
            v = kwargs.get(key, args[k] if k < len(args) else default)
            return self.value(v.name, v) if hasattr(v, "name") and hasattr(v, "op") else v

        if fname in ("contiguous", "clone", "detach", "float", "to"):
            self.alias(node, x)
        elif fname in ("permute", "transpose") and self._layout(node, fname, arg):
            pass
        elif fname in ("view", "reshape", "flatten") and self._reshape(node, fname, x, arg, counts):
            pass
        elif fname in ("chunk", "split", "unbind"):
            self.done.add(node.name)  # its parts are made where they are taken (getitem)
        elif fname == "getitem" and self._part(node, arg):
            pass
        elif fname == "cat" or fname == "concat":
            tensors = [a.name for a in (args[0] if isinstance(args[0], (list, tuple)) else [args[0]])]
            self.translate(node, ("Concat", {"axis": int(arg(1, "dim", 0))}, {}, {}), tensors, counts)
        elif fname in FUNCTIONS:
            self._elementwise(node, fname, acts, arg, counts)
        elif fname in ("adaptive_avg_pool2d", "adaptive_max_pool2d"):
            kind = "avg" if "avg" in fname else "max"
            seen = _adaptive(kind)(_Attrs(output_size=arg(1, "output_size")))
            self.translate(node, seen, [x], counts)
        elif fname in ("max_pool2d", "avg_pool2d"):
            kernel = arg(1, "kernel_size")
            stride = arg(2, "stride") or kernel
            window = _Attrs(
                kernel_size=kernel,
                stride=stride,
                padding=arg(3, "padding", 0),
                dilation=arg(4, "dilation", 1) if fname == "max_pool2d" else 1,
                ceil_mode=arg(5 if fname == "max_pool2d" else 4, "ceil_mode", False),
            )
            self.translate(node, _pool("MaxPool" if fname == "max_pool2d" else "AveragePool")(window), [x], counts)
        elif fname == "mean" and self._mean(node, arg):
            pass
        elif fname == "layer_norm":
            weight = arg(2, "weight")
            shape = arg(1, "normalized_shape")
            w = {1: _dims(weight) or (), 2: _dims(arg(3, "bias")) or ()} if weight is not None else {}
            attrs = {"axis": -len(shape), "epsilon": float(arg(4, "eps", 1e-5))}
            self.translate(node, ("LayerNormalization", attrs, w, {}), [x], counts)
        elif fname == "stochastic_depth":
            self.emit(node, "droppath", {"p": _fraction(arg(1, "p", 0.0))}, [x], counts)
        elif fname == "interpolate":
            m = _Attrs(
                mode=arg(3, "mode", "nearest"),
                scale_factor=arg(2, "scale_factor"),
                align_corners=arg(4, "align_corners", False),
            )
            self.translate(node, _upsample(m), [x], counts)
        else:
            self.opaque(node, f"cnncalc has no op for {_what(node)}", acts, counts)

    def _elementwise(
        self, node: Any, fname: str, acts: list[str], arg: Callable[..., Any], counts: tuple[int, int]
    ) -> None:
        op_type = FUNCTIONS[fname]
        attrs: dict[str, Any] = {}
        if op_type == "Clip":
            attrs = {"min": 0.0, "max": 6.0}
        if op_type == "Dropout":
            attrs = {"ratio": float(arg(1, "p", 0.5))}
        if op_type in ("Add", "Mul"):
            tensors = [a for a in node.args if hasattr(a, "op")]
            names = [a.name for a in tensors if a.name in self.act]
            if len(names) >= 2:
                self.translate(node, (op_type, {}, {}, {}), names, counts)
                return
            other = [a for a in node.args if a not in tensors or (hasattr(a, "name") and a.name not in self.act)]
            if op_type == "Mul" and len(other) == 1:
                value = self.value(other[0].name) if hasattr(other[0], "name") else other[0]
                if self.is_tensor(value) and value.numel() > 1:
                    self._mul_param(node, names[0], _dims(value) or (), counts)
                    return
                if isinstance(value, (int, float)) or (self.is_tensor(value) and value.numel() == 1):
                    self.translate(node, ("Mul", {}, {}, {1: (float(value),)}), [names[0]], counts)
                    return
            self.opaque(node, f"{_what(node)} with a constant", names, counts)
            return
        self.translate(node, (op_type, attrs, {}, {}), acts[:1], counts)

    def _mul_param(self, node: Any, x: str, dims: tuple[int, ...], counts: tuple[int, int]) -> None:
        view = OnnxNode(
            "Mul",
            {},
            (self.shape(x, node), None),
            self.shape(node.name, node),
            (None, dims),
            (None, None),
            (self.layout.get(x, "NCHW"),),
        )
        chosen = choose(view, self.rules.get("Mul", []))
        if isinstance(chosen, str):
            self.opaque(node, chosen, [x], counts)
            return
        self.emit(node, chosen[0], chosen[1], [x], counts)

    def _layout(self, node: Any, fname: str, arg: Callable[..., Any]) -> bool:
        src = node.args[0].name
        if fname == "permute":
            dims = node.args[1:] if len(node.args) > 2 else arg(1, "dims")
            perm = tuple(int(d) for d in dims)
        else:
            return False
        layout = self.layout.get(src, "NCHW")
        if perm == (0, 2, 3, 1) and layout == "NCHW":
            self.alias(node, src, "NHWC")
        elif perm == (0, 3, 1, 2) and layout == "NHWC":
            self.alias(node, src, "NCHW")
        else:
            return False
        return True

    def _reshape(self, node: Any, fname: str, x: str, arg: Callable[..., Any], counts: tuple[int, int]) -> bool:
        before = self.value(x)
        after = self.value(node.name)
        if not (self.is_tensor(before) and self.is_tensor(after)):
            return False
        if after.dim() == 2 and before.dim() == 4 and after.shape[1] == before[0].numel():
            self.translate(node, ("Flatten", {"axis": 1}, {}, {}), [x], counts)
            return True
        if after.dim() == 5 and before.dim() == 4 and self._shuffle(node, x, before, after):
            return True
        if after.shape == before.shape:
            self.alias(node, x)
            return True
        return False

    def _shuffle(self, node: Any, x: str, before: Any, after: Any) -> bool:
        """ShuffleNet's channel shuffle: view to [N, g, C/g, H, W], transpose(1, 2), view back to [N, C, H, W]."""
        g = int(after.shape[1])
        chain = [node]
        cur = node
        for want in ("transpose", "contiguous", "view"):
            users = list(cur.users)
            if len(users) != 1:
                return False
            nxt = users[0]
            name = nxt.target if nxt.op == "call_method" else getattr(nxt.target, "__name__", "")
            if name == "contiguous" and want == "contiguous" or name == want or (want == "view" and name == "reshape"):
                chain.append(nxt)
                cur = nxt
            elif want == "contiguous":
                continue
            else:
                return False
        last = chain[-1]
        if self.value(last.name) is None or tuple(self.values[last.name].shape) != tuple(before.shape):
            return False
        for step in chain[:-1]:
            self.done.add(step.name)
        self.emit(last, "shuffle", {"groups": g}, [x], (0, 0))
        self.done.add(last.name)
        self.act.add(last.name)
        return True

    def _part(self, node: Any, arg: Callable[..., Any]) -> bool:
        src = node.args[0]
        if not hasattr(src, "op") or src.op not in ("call_method", "call_function"):
            return False
        fname = src.target if src.op == "call_method" else getattr(src.target, "__name__", "")
        if fname not in ("chunk", "split"):
            return False
        whole = self.value(src.args[0].name)
        parts = self.value(src.name)
        if not self.is_tensor(whole) or not isinstance(parts, (tuple, list)):
            return False
        dim = src.kwargs.get("dim", src.args[2] if len(src.args) > 2 else 0)
        k = int(node.args[1])
        n = len(parts)
        if int(dim) != 1 or whole.dim() != 4 or any(p.shape[1] * n != whole.shape[1] for p in parts):
            return False
        self.emit(node, "split", {"parts": n, "index": k}, [src.args[0].name], (0, 0))
        return True

    def _mean(self, node: Any, arg: Callable[..., Any]) -> bool:
        x = node.args[0].name
        dims = arg(1, "dim")
        dims = tuple(sorted(int(d) % 4 for d in (dims if isinstance(dims, (tuple, list)) else (dims,))))
        keep = bool(arg(2, "keepdim", False))
        if dims != (2, 3) or self.layout.get(x, "NCHW") != "NCHW":
            return False
        if keep:
            self.emit(node, "gap", {}, [x], (0, 0))
            return True
        pooled = self.net.add(
            Layer(
                self.name_of(node),
                "gap",
                {},
                [self.vid[x]],
                Shape.spatial(1, 1, self.shape(x, node).c),
                where=f"`{node.name}` ({_what(node)})",
            )
        )
        self.vid[node.name + "#gap"] = pooled
        layer = Layer(
            self.name_of(node),
            "flatten",
            {},
            [pooled],
            self.shape(node.name, node),
            where=f"`{node.name}` ({_what(node)})",
        )
        self.vid[node.name] = self.net.add(layer)
        self.layout[node.name] = "NCHW"
        return True


class _Attrs:
    """Keyword arguments of a function call seen as a module's attributes."""

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


def _fraction(v: Any) -> Any:
    from fractions import Fraction

    return Fraction(f"{float(v):.6g}")


def _node_args(node: Any) -> list[Any]:
    out: list[Any] = []

    def walk(v: Any) -> None:
        if hasattr(v, "op") and hasattr(v, "name"):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    walk(node.args)
    walk(node.kwargs)
    return out


def _first_tensor_node(v: Any, values: dict[str, Any], is_tensor: Callable[[Any], bool]) -> str | None:
    if hasattr(v, "op") and hasattr(v, "name"):
        return str(v.name) if is_tensor(values.get(v.name)) else None
    if isinstance(v, (list, tuple)):
        for x in v:
            found = _first_tensor_node(x, values, is_tensor)
            if found:
                return found
    if isinstance(v, dict):
        for x in v.values():
            found = _first_tensor_node(x, values, is_tensor)
            if found:
                return found
    return None


def _what(node: Any) -> str:
    if node.op == "call_module":
        return f"module {node.target}"
    if node.op == "call_method":
        return f"method .{node.target}()"
    return f"function {getattr(node.target, '__name__', node.target)}()"


def attr_name(target: str) -> str:
    """``resnet50`` of ``torchvision.models.resnet50`` or ``torchvision.models:resnet50``."""
    return target.replace(":", ".").rsplit(".", 1)[-1]


def read_torch(target: str, input_shape: Shape | None = None) -> Network:
    """The network of a PyTorch module (see the module's docstring)."""
    return TorchReader(target, input_shape).read()


__all__ = ["DEFAULT_INPUT", "FUNCTIONS", "MODULES", "TORCH_HELP", "TorchReader", "attr_name", "read_torch"]
