"""Reading an ONNX model into a :class:`~cnncalc.importers.network.Network` (``cnncalc import MODEL.onnx``).

The file is read with the ``onnx`` package (an optional extra), binary protobuf or ONNX's textual syntax, without
its external data: an initializer's dimensions are enough to count its parameters. Then, in this order, each
step ending in a located error when the model is no network cnncalc can take:

1. the graph: every value defined once, every input defined, no cycle (nodes are put in order), one input;
2. shapes: the input's static shape (or ``--input``), then ONNX's shape inference for every value;
3. constants: initializers, ``Constant`` nodes and what is computed from them alone (small integer vectors
   such as a ``Reshape``'s target are evaluated); a parameter is a floating-point initializer (or ``Constant``)
   an op reads, through ``Identity`` nodes;
4. each node computed from the input becomes layers: the multi-node patterns of :mod:`.patterns` first, then
   the registry's ``onnx`` rules (:mod:`cnncalc.onnxcode`), else an ``opaque`` layer with the graph's output
   shape and its parameters, and a W801 warning naming the node.

Per-sample shapes drop the batch axis: [N, C, H, W] is ``HxWxC``, [N, F] a flat ``F``.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import layers as L  # noqa: N812 - the registry
from ..diagnostics import Diagnostic, Location
from ..onnxcode import OnnxNode, OnnxRule, UnsupportedError
from ..shapes import Shape
from .network import INPUT, Layer, ModelError, Network, OnnxMissingError, torch_shape

ONNX_HELP = "cnncalc import of an ONNX file needs the onnx package, an optional extra: pip install 'cnncalc[onnx]'"
#: The most nodes a graph may have, and the largest dimension (cnncalc's own limits, docs/limits.md).
MAX_NODES = 200_000
MAX_SIZE = 2**31 - 1
#: Constant values evaluated (a Reshape's target, a Pad's amounts): at most this many elements.
SMALL = 1024
#: Element types that hold parameters (float32, float16, double, bfloat16, and the float8 types).
FLOAT_TYPES = {1, 10, 11, 16, 17, 18, 19, 20, 23}
DEFAULT_DOMAINS = ("", "ai.onnx")
#: Ops that read only some of their inputs' values (the others for their shape or type): a Shape of a computed
#: tensor is a constant once shapes are static.
DATA_INPUTS: dict[str, tuple[int, ...]] = {"Shape": (), "Size": (), "CastLike": (0,)}
#: Ops that only move a constant's values: what they make of a parameter is the same parameter.
MOVES = ("Identity", "Cast", "Transpose", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Slice", "Gather")


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise OnnxMissingError(ONNX_HELP) from None
    return onnx


def rules() -> dict[str, list[tuple[str, OnnxRule]]]:
    """ONNX operator type -> the registry's (op, rule) pairs that read it, the ones with a condition first."""
    table: dict[str, list[tuple[str, OnnxRule]]] = {}
    for name, lt in L.LAYER_TYPES.items():
        if lt.onnx is not None:
            for op_type in lt.onnx.op_types:
                table.setdefault(op_type, []).append((name, lt.onnx))
    for candidates in table.values():
        candidates.sort(key=lambda c: c[1].when is None)
    return table


def _is_text(data: bytes) -> bool:
    """ONNX's textual syntax (UTF-8 text); a binary model starts with a control byte (field 1, ir_version)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text)


def load(path: Path) -> Any:
    """The ModelProto of a binary or textual ONNX file (external data not loaded); E801 when it is none."""
    onnx = _onnx()
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read the model: {exc.strerror or exc}", Location(file), code="E801") from None
    if not data:
        raise ModelError("not an ONNX model: the file is empty", Location(file), code="E801")
    if _is_text(data):
        try:
            model = onnx.parser.parse_model(data.decode("utf-8"))
        except Exception as exc:  # noqa: BLE001 - onnx.parser.ParseError and the checks of the C++ parser
            line, column, why = _parse_error(exc)
            raise ModelError(
                f"not an ONNX model: the text does not parse as ONNX's textual syntax ({why})",
                Location(file, line, column),
                code="E801",
            ) from None
    else:
        model = onnx.ModelProto()
        try:
            model.ParseFromString(data)
        except Exception as exc:  # noqa: BLE001 - google.protobuf's DecodeError, and its RuntimeWarning kin
            raise ModelError(
                f"not an ONNX model: its {len(data):,} bytes do not decode as one (a truncated or damaged file?): "
                f"{exc}",
                Location(file),
                code="E801",
            ) from None
    if not model.HasField("graph") or not model.graph.node:
        raise ModelError("not an ONNX model: it holds no graph of nodes", Location(file), code="E801")
    return model


def _parse_error(exc: Exception) -> tuple[int, int, str]:
    """(line, column, what) of an error of ONNX's text parser (``[ParseError at position (line: 3 column: 6)]``)."""
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = str(text)
    m = re.search(r"line: (\d+) column: (\d+)", text)
    lines = [s.strip() for s in text.splitlines() if s.strip() and not s.startswith(("[ParseError", "Error context"))]
    why = lines[-1].rstrip(".") if lines else type(exc).__name__
    return (int(m.group(1)), int(m.group(2)), why) if m else (0, 0, why)


def _dims(type_proto: Any) -> tuple[int | None, ...] | None:
    """A tensor type's dimensions (None for a symbolic one); None when the rank is unknown."""
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in type_proto.tensor_type.shape.dim)


@dataclass
class _Value:
    """What the reader knows of one ONNX value."""

    dims: tuple[int | None, ...] | None = None
    act: bool = False  # computed from the network input
    param: tuple[int, ...] | None = None  # a parameter's dimensions (an initializer, through Identity)
    value: tuple[float, ...] | None = None  # a small constant's values, flattened
    array: Any = None  # the same as a numpy array (for further constant evaluation)
    layout: str = "NCHW"
    vid: int | None = None  # the layer (or INPUT) whose output this is


class OnnxReader:
    """One model being read: its nodes in order, what is known of each value, and the network being made."""

    def __init__(self, model: Any, file: str, input_shape: Shape | None) -> None:
        self.onnx = _onnx()
        self.model = model
        self.file = file
        self.graph = model.graph
        self.nodes: list[Any] = []
        self.values: dict[str, _Value] = {}
        self.consumers: dict[str, list[int]] = {}
        self.done: set[int] = set()
        self.hidden: list[list[str]] = []
        self.rules = rules()
        self.input_shape = input_shape
        #: values of tensors cnncalc has no shape for: (the last value it has one for, the nodes since, params,
        #: buffers), until a node makes a tensor it has a shape for again
        self.pending: dict[str, tuple[str, list[int], int, int]] = {}
        self.net = Network(self._model_name(), self._source(), Shape.flat(1))

    # -- messages

    def where(self, i: int) -> str:
        node = self.nodes[i]
        return f"node {i} `{node.name}` ({node.op_type})" if node.name else f"node {i} ({node.op_type})"

    def error(self, message: str, code: str, node: int | None = None) -> ModelError:
        """A located error about node ``node``; a ``message`` that starts with a verb follows the node's name."""
        path = self.nodes[node].name if node is not None and self.nodes[node].name else ""
        verb = message.split(" ", 1)[0] in ("is", "reads", "defines", "makes")
        where = (f"{self.where(node)} " if verb else f"{self.where(node)}: ") if node is not None else ""
        return ModelError(where + message, Location(self.file, path=path), code=code)

    def _model_name(self) -> str:
        name = self.graph.name or Path(self.file).stem
        return Path(self.file).stem if name in ("", "main_graph", "torch_jit", "agraph") else name

    def _source(self) -> str:
        opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in self.model.opset_import)
        producer = " ".join(p for p in (self.model.producer_name, self.model.producer_version) if p)
        return f"ONNX file {Path(self.file).name} (opset {opsets or '?'}" + (
            f", made by {producer})" if producer else ")"
        )

    # -- 1. the graph

    def order(self) -> None:
        """Check the graph's values and put its nodes in an order where every input comes first (Kahn)."""
        graph = self.graph
        if len(graph.node) > MAX_NODES:
            raise ModelError(
                f"the graph has {len(graph.node):,} nodes, more than the limit of {MAX_NODES:,}",
                Location(self.file),
                code="E802",
            )
        nodes = list(graph.node)
        known = {t.name for t in graph.initializer} | {v.name for v in graph.input}
        producer: dict[str, int] = {}
        for i, node in enumerate(nodes):
            for out in node.output:
                if out and (out in producer or out in known):
                    self.nodes = nodes
                    raise self.error(f"defines the value `{out}`, which is already defined", "E802", i)
                if out:
                    producer[out] = i
        waiting = [0] * len(nodes)
        users: list[list[int]] = [[] for _ in nodes]
        hidden = [_outer_names(node) for node in nodes]  # what an If's or a Loop's subgraphs read from outside
        for i, node in enumerate(nodes):
            for name in [*node.input, *hidden[i]]:
                if not name or name in known:
                    continue
                if name not in producer:
                    self.nodes = nodes
                    raise self.error(f"reads the value `{name}`, which nothing defines", "E802", i)
                waiting[i] += 1
                users[producer[name]].append(i)
        ready = [i for i in range(len(nodes)) if waiting[i] == 0]
        heapq.heapify(ready)
        order: list[int] = []
        while ready:  # the smallest ready index first: the file's own order whenever it is a valid one
            i = heapq.heappop(ready)
            order.append(i)
            for j in users[i]:
                waiting[j] -= 1
                if waiting[j] == 0:
                    heapq.heappush(ready, j)
        if len(order) != len(nodes):
            self.nodes = nodes
            stuck = min(i for i in range(len(nodes)) if waiting[i] > 0)
            raise self.error("is on a cycle: its inputs depend on its own output", "E802", stuck)
        self.nodes = [nodes[i] for i in order]
        self.hidden = [hidden[i] for i in order]
        for i, node in enumerate(self.nodes):
            for name in [*node.input, *self.hidden[i]]:
                if name:
                    self.consumers.setdefault(name, []).append(i)

    # -- 2. shapes

    def network_input(self) -> Any:
        inits = {t.name for t in self.graph.initializer}
        inputs = [v for v in self.graph.input if v.name not in inits]
        if not inputs:
            raise ModelError("the graph has no input (every input is an initializer)", Location(self.file), code="E802")
        if len(inputs) > 1:
            names = ", ".join(f"`{v.name}`" for v in inputs)
            raise ModelError(
                f"the graph has {len(inputs)} inputs ({names}); a cnncalc network has one",
                Location(self.file),
                code="E802",
            )
        return inputs[0]

    def infer_shapes(self) -> None:
        """Fix the input's shape (batch 1; ``--input``) and run ONNX's shape inference."""
        onnx = self.onnx
        model = self.model
        x = self.network_input()
        dims = _dims(x.type)
        if dims is None or len(dims) not in (2, 3, 4):
            rank = "unknown" if dims is None else str(len(dims))
            raise ModelError(
                f"the input `{x.name}` has rank {rank}; cnncalc takes [N, C, H, W] (or [N, C, W], [N, F])",
                Location(self.file),
                code="E802",
            )
        nhwc = self._input_is_channels_last(x.name, len(dims))
        if self.input_shape is not None:
            s = self.input_shape
            if len(dims) != 4:
                raise ModelError(
                    f"--input {s} is HxWxC but the model's input `{x.name}` has rank {len(dims)}",
                    Location(self.file),
                    code="E803",
                )
            new: tuple[int | None, ...] = (1, s.h, s.w, s.c) if nhwc else (1, s.c, s.h, s.w)
            del model.graph.value_info[:]
            for out in model.graph.output:
                if out.type.HasField("tensor_type"):
                    out.type.tensor_type.ClearField("shape")
        else:
            new = (1, *dims[1:])
        missing = [i for i, d in enumerate(new) if d is None]
        if missing:
            raise ModelError(
                f"the input `{x.name}` has no static size on axis {missing[0]} ("
                + ", ".join(_dim_text(d) for d in x.type.tensor_type.shape.dim)
                + "); give one with --input HxWxC",
                Location(self.file),
                code="E803",
            )
        self._check_dims(x.name, new, None)
        shape = x.type.tensor_type.shape
        for d, v in zip(shape.dim, new):
            d.Clear()
            d.dim_value = int(v or 0)
        try:
            inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
        except Exception as exc:  # noqa: BLE001 - onnx's InferenceError, ValueError (a model over 2 GB)
            raise ModelError(
                f"ONNX's shape inference fails on this model: {str(exc).strip().splitlines()[0]}",
                Location(self.file),
                code="E803",
            ) from None
        for info in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
            d = _dims(info.type)
            if d is not None:
                self.values.setdefault(info.name, _Value()).dims = d
        xv = self.values.setdefault(x.name, _Value())
        xv.dims, xv.act, xv.vid = new, True, INPUT
        xv.layout = "NHWC" if nhwc else "NCHW"
        shape_of = torch_shape(tuple(int(v or 0) for v in new), xv.layout)
        assert shape_of is not None
        self.net.input = shape_of

    def _input_is_channels_last(self, name: str, rank: int) -> bool:
        """An input whose every reader is a Transpose to NCHW is NHWC (TensorFlow's layout)."""
        users = [n for n in self.graph.node if name in n.input]
        perms = [_perm(n) for n in users if n.op_type == "Transpose"]
        return rank == 4 and bool(users) and len(perms) == len(users) and all(p == (0, 3, 1, 2) for p in perms)

    def _check_dims(self, name: str, dims: tuple[int | None, ...], node: int | None) -> None:
        for d in dims:
            if d is not None and (d < 1 or d > MAX_SIZE):
                raise (
                    self.error(f"its output `{name}` has the dimension {d:,}, outside 1..{MAX_SIZE:,}", "E803", node)
                    if node is not None
                    else ModelError(
                        f"the input `{name}` has the dimension {d:,}, outside 1..{MAX_SIZE:,}",
                        Location(self.file),
                        code="E803",
                    )
                )

    # -- 3. constants

    def constants(self) -> None:
        """Initializers, Constant nodes and what is computed from constants alone (evaluated when small)."""
        nh = self.onnx.numpy_helper
        for t in self.graph.initializer:
            v = self.values.setdefault(t.name, _Value())
            v.dims = tuple(int(d) for d in t.dims)
            if t.data_type in FLOAT_TYPES:
                v.param = tuple(int(d) for d in t.dims)
            if math.prod(v.dims) <= SMALL and not _external(t):
                try:
                    v.array = nh.to_array(t)
                except Exception:  # noqa: BLE001, S110 - a damaged tensor: its values stay unknown
                    v.array = None
        for i, node in enumerate(self.nodes):
            data = DATA_INPUTS.get(node.op_type)
            ins = [self.values.get(n) for k, n in enumerate(node.input) if n and (data is None or k in data)]
            ins += [self.values.get(n) for n in self.hidden[i]]
            if any(v is not None and v.act for v in ins):
                for out in node.output:
                    if out:
                        self.values.setdefault(out, _Value()).act = True
                continue
            self._fold(i, node)
        for v in self.values.values():
            if v.array is not None and getattr(v.array, "size", SMALL + 1) <= SMALL:
                try:
                    v.value = tuple(float(x) for x in v.array.reshape(-1).tolist())
                except (TypeError, ValueError):
                    v.value = None

    def _fold(self, i: int, node: Any) -> None:
        """Evaluate a node of constants (a few ops on small tensors); a parameter passes through Identity."""
        outs = [self.values.setdefault(o, _Value()) for o in node.output if o]
        if not outs:
            return
        ins = [self.values.get(n) if n else None for n in node.input]
        if node.op_type in MOVES and ins and ins[0] is not None and ins[0].param is not None:
            # a parameter moved (PyTorch's exporter transposes a Linear's weight for MatMul): still a parameter
            outs[0].dims = outs[0].dims or (ins[0].dims if node.op_type in ("Identity", "Cast") else None)
            dims = outs[0].dims
            outs[0].param = tuple(int(d or 0) for d in dims) if dims and None not in dims else ins[0].param
        if node.op_type == "Identity" and ins and ins[0] is not None:
            outs[0].array = ins[0].array
            outs[0].dims = outs[0].dims or ins[0].dims
            return
        if node.op_type == "Constant":
            attr = {a.name: a for a in node.attribute}
            if "value" in attr:
                t = attr["value"].t
                outs[0].dims = tuple(int(d) for d in t.dims)
                if t.data_type in FLOAT_TYPES and math.prod(outs[0].dims) > 1:
                    outs[0].param = outs[0].dims
                if math.prod(outs[0].dims) <= SMALL:
                    try:
                        outs[0].array = self.onnx.numpy_helper.to_array(t)
                    except Exception:  # noqa: BLE001, S110 - unknown values
                        outs[0].array = None
                return
            import numpy as np

            for key in ("value_int", "value_ints", "value_float", "value_floats"):
                if key in attr:
                    v = self.onnx.helper.get_attribute_value(attr[key])
                    kind = np.int64 if "int" in key else np.float32
                    outs[0].array = np.array(v, dtype=kind)
                    outs[0].dims = tuple(outs[0].array.shape)
                    return
        try:
            outs[0].array = _evaluate(node, ins, self._attrs(node))
        except Exception:  # noqa: BLE001 - an op the small evaluator lacks, or values it cannot take: unknown
            outs[0].array = None
        if outs[0].param is not None and outs[0].array is not None and (not outs[0].dims or None in outs[0].dims):
            outs[0].dims = outs[0].param = tuple(int(d) for d in outs[0].array.shape)  # a slice of a parameter

    def view_attrs(self, i: int) -> dict[str, Any]:
        """Node ``i``'s attributes, decoded."""
        return self._attrs(self.nodes[i])

    def _attrs(self, node: Any) -> dict[str, Any]:
        helper = self.onnx.helper
        out: dict[str, Any] = {}
        for a in node.attribute:
            try:
                v = helper.get_attribute_value(a)
            except Exception:  # noqa: BLE001, S112 - an attribute of a type cnncalc does not read
                continue
            if isinstance(v, bytes):
                v = v.decode("utf-8", "replace")
            elif isinstance(v, list):
                v = tuple(x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in v)
            out[a.name] = v
        return out

    # -- 4. layers

    def view(self, i: int, attrs: dict[str, Any] | None = None, inputs: Iterable[str] | None = None) -> OnnxNode:
        """How a rule sees node ``i`` (``attrs``/``inputs`` replace the node's own, for patterns)."""
        node = self.nodes[i]
        names = list(node.input if inputs is None else inputs)
        shapes: list[Shape | None] = []
        layouts: list[str] = []
        for n in names:
            v = self.values.get(n) if n else None
            if v is not None and v.act:
                shapes.append(self.shape(n, i))
                layouts.append(v.layout)
            else:
                shapes.append(None)
        vals = [self.values.get(n) if n else None for n in names]
        out_name = node.output[0] if node.output else ""
        return OnnxNode(
            node.op_type,
            self._attrs(node) if attrs is None else attrs,
            tuple(shapes),
            self.shape(out_name, i, layouts[0] if layouts else "NCHW"),
            tuple(v.param if v is not None and not v.act else None for v in vals),
            tuple(v.value if v is not None and not v.act else None for v in vals),
            tuple(layouts),
            node.domain,
        )

    def shape(self, name: str, node: int, layout: str | None = None) -> Shape:
        """The cnncalc shape of value ``name`` (a located E803 when the graph does not tell it)."""
        v = self.values.get(name)
        if v is None or v.dims is None or any(d is None for d in v.dims):
            raise self.error(
                f"the shape of `{name}` is not static: ONNX's shape inference cannot tell it"
                + ("" if self.input_shape else " (an input size given with --input may help)"),
                "E803",
                node,
            )
        dims = tuple(int(d or 0) for d in v.dims)
        self._check_dims(name, dims, node)
        s = torch_shape(dims, layout or v.layout)
        if s is None:
            raise self.error(
                f"`{name}` has {len(dims)} dimensions {list(dims)}; cnncalc's tensors are [N, C, H, W], [N, C, W] or"
                " [N, F]",
                "E802",
                node,
            )
        return s

    def params_of(self, i: int, buffers: tuple[int, ...] = ()) -> tuple[int, int]:
        """(parameters, buffers) that node ``i`` reads: its floating-point initializers."""
        p = b = 0
        for pos, name in enumerate(self.nodes[i].input):
            v = self.values.get(name) if name else None
            if v is not None and not v.act and v.param is not None:
                if pos in buffers:
                    b += math.prod(v.param)
                else:
                    p += math.prod(v.param)
        return p, b

    def vid(self, name: str) -> int:
        v = self.values[name]
        assert v.vid is not None, name
        return v.vid

    def act_inputs(self, i: int) -> list[str]:
        """The inputs of node ``i`` computed from the network input (then what its subgraphs read)."""
        names = [*self.nodes[i].input, *self.hidden[i]]
        return [n for n in names if n and self.values.get(n, _Value()).act]

    def emit(
        self,
        i: int,
        op: str,
        args: dict[str, Any],
        inputs: list[int],
        counts: tuple[int, int],
        bind: str | None = None,
        shape: Shape | None = None,
        layout: str | None = None,
    ) -> int:
        """Add a layer made of node ``i`` reading the values ``inputs`` (ids); ``bind``: the ONNX value it
        produces (default: the node's first output), whose shape it has unless ``shape`` is given."""
        node = self.nodes[i]
        if layout is None:  # the layout of what it reads (a layer keeps its input's layout)
            named = [self.values[n].layout for n in self.act_inputs(i) if inputs and self.values[n].vid == inputs[0]]
            layout = named[0] if named else "NCHW"
        if shape is None:
            bind = bind or node.output[0]
            shape = self.shape(bind, i, layout)
        layer = Layer(module_path(node), op, args, inputs, shape, counts[0], counts[1], self.where(i))
        vid = self.net.add(layer)
        if bind:
            v = self.values[bind]
            v.vid, v.layout = vid, layout
        return vid

    def alias(self, out: str, source: str, layout: str | None = None) -> None:
        """``out`` is ``source`` (a layout change or a reshape no layer needs)."""
        v, s = self.values[out], self.values[source]
        v.vid, v.layout = s.vid, layout or s.layout

    def opaque(self, i: int, reason: str) -> None:
        """Node ``i`` as opaque layers (one per output that is read), with a W801 warning."""
        node = self.nodes[i]
        ins = self.act_inputs(i)
        p, b = self.params_of(i)
        read = [o for o in node.output if o and (self.consumers.get(o) or o in self.outputs())]
        for k, out in enumerate(read or [node.output[0]]):
            shape = self.shape(out, i, self.values[ins[0]].layout)
            pk, bk = (p, b) if k == 0 else (0, 0)
            args: dict[str, Any] = {"out": shape, "params": pk}
            if bk:
                args["buffers"] = bk
            vid = self.emit(i, "opaque", args, [self.vid(ins[0])], (pk, bk), out)
            self.net.layers[vid].note = reason
        self.net.warnings.append(
            Diagnostic(
                f"{self.where(i)} is written as `opaque`: {reason}; its output shape comes from the graph and its "
                f"{p:,} parameters from its initializers, its MACs are unknown (counted 0)",
                Location(self.file, path=node.name),
                code="W801",
            )
        )

    def outputs(self) -> list[str]:
        return [o.name for o in self.graph.output]

    def layers(self) -> None:
        from .patterns import PATTERNS

        for i, node in enumerate(self.nodes):
            if i in self.done or not any(self.values.get(o, _Value()).act for o in node.output if o):
                continue
            if not self.act_inputs(i):
                continue
            if any(n in self.pending for n in self.act_inputs(i)):
                self.region(i)
                continue
            for pattern in PATTERNS:
                if pattern.match(self, i):
                    break
            else:
                if self._other_rank(i):
                    self.region(i)
                else:
                    self.translate(i)

    def _other_rank(self, i: int) -> bool:
        """Whether node ``i`` makes a tensor of a rank cnncalc has no shapes for (other than 2 to 4)."""
        for o in self.nodes[i].output:
            v = self.values.get(o)
            if o and v is not None and v.act and v.dims is not None and len(v.dims) not in (2, 3, 4):
                return True
        return False

    def _closes(self, i: int) -> bool:
        """Whether node ``i``'s computed outputs all have static shapes of 2 to 4 dimensions."""
        outs = [self.values.get(o) for o in self.nodes[i].output if o]
        return all(
            v is None or not v.act or (v.dims is not None and None not in v.dims and len(v.dims) in (2, 3, 4))
            for v in outs
        )

    def region(self, i: int) -> None:
        """Node ``i`` reads or makes a tensor cnncalc has no shape for (a 5-D view inside PyTorch's
        LocalResponseNorm): the nodes from the last tensor it has a shape for up to the next one become one
        opaque layer, with their parameters and one W801 warning naming them."""
        ins = self.act_inputs(i)
        nodes: list[int] = []
        source = ""
        p, b = self.params_of(i)
        for n in ins:
            if n in self.pending:
                src, before, pp, pb = self.pending[n]
                source = source or src
                nodes.extend(k for k in before if k not in nodes)
                p, b = p + pp, b + pb
            else:
                source = source or n
        nodes.append(i)
        outs = [o for o in self.nodes[i].output if o and self.values.get(o, _Value()).act]
        if not self._closes(i):
            for o in outs:
                self.pending[o] = (source, nodes, p, b)
                p = b = 0
            return
        layout = self.values[source].layout
        names = ", ".join(self.where(k) for k in nodes[:3]) + (f" and {len(nodes) - 3} more" if len(nodes) > 3 else "")
        for k, out in enumerate(outs):
            shape = self.shape(out, i, layout)
            args: dict[str, Any] = {"out": shape, "params": p if k == 0 else 0}
            if b and k == 0:
                args["buffers"] = b
            vid = self.emit(i, "opaque", args, [self.vid(source)], (p, b) if k == 0 else (0, 0), out, layout=layout)
            self.net.layers[vid].note = "tensors of more than 4 dimensions"
        self.net.warnings.append(
            Diagnostic(
                f"{names} compute through tensors of other than 2 to 4 dimensions, which cnncalc has no shapes for;"
                f" written as one `opaque` layer with the graph's output shape and their {p:,} parameters, its MACs"
                " unknown (counted 0)",
                Location(self.file, path=self.nodes[nodes[0]].name),
                code="W801",
            )
        )

    def takes(self, i: int, view: OnnxNode) -> bool:
        """Whether a registry rule takes node ``i`` seen as ``view`` (a pattern checks before it commits)."""
        node = self.nodes[i]
        return node.domain in DEFAULT_DOMAINS and not isinstance(choose(view, self.rules.get(node.op_type, [])), str)

    def translate(
        self,
        i: int,
        view: OnnxNode | None = None,
        extra: Iterable[int] = (),
        inputs: list[str] | None = None,
        bind: str | None = None,
    ) -> None:
        """Node ``i`` through the registry's rules, else opaque. For a pattern: ``view`` replaces how it is seen,
        the params of the nodes in ``extra`` count too, ``inputs`` are the values it reads (default: its own
        computed inputs), ``bind`` the value it makes (default: its first output)."""
        node = self.nodes[i]
        if node.domain not in DEFAULT_DOMAINS:
            self.opaque(i, f"an operator of the domain `{node.domain}`, which cnncalc does not read")
            return
        candidates = self.rules.get(node.op_type, [])
        if not candidates:
            self.opaque(i, f"cnncalc has no op for ONNX's {node.op_type}")
            return
        view = view or self.view(i)
        chosen = choose(view, self.rules.get(node.op_type, []))
        if isinstance(chosen, str):
            self.opaque(i, chosen)
            return
        op, args, rule = chosen
        p, b = self.params_of(i, rule.buffers)
        for j in extra:
            pj, bj = self.params_of(j)
            p, b = p + pj, b + bj
        ins = inputs if inputs is not None else self.act_inputs(i)
        if L.LAYER_TYPES[op].role != "join":
            ins = ins[:1]
        self.emit(i, op, args, [self.vid(n) for n in ins], (p, b), bind)

    def refine_shapes(self) -> None:
        """Infer shapes again with the constants evaluated here given as initializers: a Slice or a Reshape
        whose amounts are computed from shapes (PyTorch's ``chunk``) has a static shape once they are known."""
        missing = [
            o for n in self.nodes for o in n.output if o and self.values.get(o, _Value()).act and self._unknown(o)
        ]
        if not missing:
            return
        onnx = self.onnx
        model = onnx.ModelProto()
        model.CopyFrom(self.model)
        known = {t.name for t in model.graph.initializer}
        for node in self.nodes:
            if not any(self.values.get(n, _Value()).act for n in node.input if n):
                continue
            for name in node.input:
                v = self.values.get(name)
                if name and name not in known and v is not None and not v.act and v.array is not None:
                    model.graph.initializer.append(onnx.numpy_helper.from_array(v.array, name))
                    known.add(name)
        try:
            inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
        except Exception:  # noqa: BLE001, S110 - the first inference's shapes stand
            return
        for info in inferred.graph.value_info:
            d = _dims(info.type)
            v = self.values.get(info.name)
            if d is not None and v is not None and self._unknown(info.name):
                v.dims = d

    def _unknown(self, name: str) -> bool:
        v = self.values.get(name)
        return v is None or v.dims is None or any(d is None for d in v.dims)

    def read(self) -> Network:
        self.order()
        self.infer_shapes()
        self.constants()
        self.refine_shapes()
        self.layers()
        outs = self.outputs()
        if not outs:
            raise ModelError("the graph has no output", Location(self.file), code="E802")
        main = self.values.get(outs[0])
        if outs[0] in self.pending:
            raise ModelError(
                f"the output `{outs[0]}` has {len(main.dims or ()) if main else '?'} dimensions; cnncalc's tensors"
                " have 2 to 4",
                Location(self.file),
                code="E802",
            )
        if main is None or main.vid is None:
            raise ModelError(f"the output `{outs[0]}` is not computed from the input", Location(self.file), code="E802")
        self.net.output = main.vid
        return self.net


def choose(view: OnnxNode, candidates: list[tuple[str, OnnxRule]]) -> tuple[str, dict[str, Any], OnnxRule] | str:
    """The first registry rule that takes the node: (op, arguments, rule); else why none does."""
    why = ""
    for op, rule in candidates:
        try:
            if rule.when is not None and not rule.when(view):
                continue
            return op, rule.read(view), rule
        except UnsupportedError as exc:
            why = why or f"`{op}` cannot take it: {exc}"
    return why or f"no op of cnncalc reads this {view.op_type} (its attributes or inputs differ)"


def _outer_names(node: Any) -> list[str]:
    """The values a node's subgraphs (If, Loop, Scan) read from the graph around them."""
    out: list[str] = []
    for attr in node.attribute:
        graphs = [attr.g] if attr.HasField("g") else list(attr.graphs)
        for g in graphs:
            defined = {v.name for v in g.input} | {t.name for t in g.initializer}
            for n in g.node:
                for name in [*n.input, *_outer_names(n)]:
                    if name and name not in defined and name not in out:
                        out.append(name)
                defined.update(o for o in n.output if o)
    return out


def _dim_text(d: Any) -> str:
    return str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?")


def _perm(node: Any) -> tuple[int, ...] | None:
    for a in node.attribute:
        if a.name == "perm":
            return tuple(a.ints)
    return None


def _external(t: Any) -> bool:
    return bool(t.data_location == 1 or t.external_data)


def module_path(node: Any) -> str:
    """The source's name for a node: the module path PyTorch's exporters record (``layer1.0.conv1``), else the
    node's name."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":  # torch.onnx (dynamo): ['', 'layer1', 'layer1.0', 'add']
            scopes: list[str] = [str(s).strip().strip("'\"") for s in str(prop.value).strip("[]").split(",")]
            scopes = [s for s in scopes if s]
            if scopes:  # the last is the operation's own name; the one before, its module
                return scopes[-2] if len(scopes) >= 2 else scopes[-1]
    name = str(node.name)
    if name.startswith("/"):  # torch.onnx (TorchScript): /layer1/layer1.0/conv1/Conv
        parts = [p for p in name.split("/") if p]
        path = ""
        for part in parts[:-1]:
            path = part if not path or part.startswith(path + ".") else f"{path}.{part}"
        return path or parts[-1]
    return name or f"{node.op_type}"


# --------------------------------------------------------------------------- a small evaluator of constants


def _evaluate(node: Any, ins: list[_Value | None], attrs: dict[str, Any]) -> Any:
    """The value of a node of constants, for the ops that compute shapes and amounts; raises when it cannot."""
    import numpy as np

    def arr(k: int) -> Any:
        v = ins[k] if k < len(ins) else None
        if v is None or v.array is None:
            raise ValueError("unknown input")
        return v.array

    op = node.op_type
    result: Any
    if op == "Shape":
        v = ins[0]
        if v is None or v.dims is None or any(d is None for d in v.dims):
            raise ValueError("unknown shape")
        dims = np.array(v.dims, dtype=np.int64)
        result = dims[attrs.get("start", 0) : attrs.get("end", len(dims))]
    elif op == "Size":
        v = ins[0]
        if v is None or v.dims is None or any(d is None for d in v.dims):
            raise ValueError("unknown shape")
        result = np.array(math.prod(int(d or 0) for d in v.dims), dtype=np.int64)
    elif op in _UNARY:
        result = _UNARY[op](arr(0), attrs)
    elif op in _BINARY:
        result = _BINARY[op](arr(0), arr(1))
    elif op == "Concat":
        result = np.concatenate([arr(k) for k in range(len(ins))], axis=attrs.get("axis", 0))
    elif op == "Gather":
        result = np.take(arr(0), arr(1), axis=attrs.get("axis", 0))
    elif op in ("Unsqueeze", "Squeeze"):
        axes = attrs.get("axes") or (tuple(int(a) for a in arr(1).reshape(-1)) if len(ins) > 1 else None)
        a = arr(0)
        if op == "Unsqueeze":
            for ax in sorted(int(x) % (a.ndim + len(axes or ())) for x in axes or ()):
                a = np.expand_dims(a, ax)
            result = a
        else:
            result = np.squeeze(a, axis=tuple(axes) if axes else None)
    elif op == "Slice":
        a = arr(0)
        starts, ends = arr(1).reshape(-1), arr(2).reshape(-1)
        axes = arr(3).reshape(-1) if len(ins) > 3 and ins[3] is not None else range(len(starts))
        steps = arr(4).reshape(-1) if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
        index = [slice(None)] * a.ndim
        for s, e, ax, st in zip(starts, ends, axes, steps):
            index[int(ax)] = slice(int(s), int(e), int(st))
        result = a[tuple(index)]
    elif op == "CastLike":
        result = arr(0)
    elif op == "Expand":
        shape = tuple(int(x) for x in arr(1).reshape(-1))
        if math.prod(shape) > SMALL:
            raise ValueError("too large")
        result = arr(0) * np.ones(shape, dtype=arr(0).dtype)
    elif op == "Reshape":
        a, target = arr(0), [int(x) for x in arr(1).reshape(-1)]
        result = a.reshape([a.shape[k] if d == 0 else d for k, d in enumerate(target)])
    elif op == "ConstantOfShape":
        shape = tuple(int(x) for x in arr(0).reshape(-1))
        if math.prod(shape) > SMALL:
            raise ValueError("too large")
        result = np.zeros(shape, dtype=np.float32)
    else:
        raise ValueError(f"no evaluation of {op}")
    if getattr(result, "size", SMALL + 1) > SMALL:
        raise ValueError("too large")
    return result


def _cast(a: Any, attrs: dict[str, Any]) -> Any:
    import numpy as np

    return a.astype(np.float64 if attrs.get("to") in FLOAT_TYPES else np.int64)


_UNARY: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "Cast": _cast,
    "Neg": lambda a, attrs: -a,
    "Transpose": lambda a, attrs: a.transpose(attrs.get("perm")),
}
_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "Add": lambda a, b: a + b,
    "Sub": lambda a, b: a - b,
    "Mul": lambda a, b: a * b,
    "Div": lambda a, b: a // b if a.dtype.kind in "iu" and b.dtype.kind in "iu" else a / b,
}


def read_onnx(path: Path, input_shape: Shape | None = None) -> Network:
    """The network of an ONNX file (see the module's docstring)."""
    model = load(path)
    return OnnxReader(model, str(path), input_shape).read()


__all__ = ["ONNX_HELP", "OnnxReader", "load", "module_path", "read_onnx", "rules"]
