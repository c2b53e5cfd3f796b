"""Training: what one step costs (forward and backward MACs per layer), which layers train, and its memory.

A training step is the forward pass, then the backward pass, which gives each layer the gradient of the loss
with respect to its output and computes from it, when needed, the gradient with respect to the layer's input
(passed on to the layers below) and with respect to its weights (for the optimizer). What each costs is the
registry's (``LayerType.grad_input_macs``, ``grad_weight_macs``); which are needed is decided here, as
autograd decides it:

* a layer *trains* when it has params and is not frozen (``--freeze UPTO``: every layer up to and including
  UPTO, in the order the table lists them; ``--train-only PATHS``: every layer outside PATHS); a replaced
  head (``--head N``) is a new layer and always trains;
* a tensor *carries a gradient* when it depends on a trained parameter; the network input never does;
* a trained layer computes its weight gradient; a layer computes its input gradient when its input carries
  one: never the first layer, and no layer below the first trained one (the backward pass stops there);
* the loss reads the network output and every other output nobody reads (a side head's auxiliary classifier).

Memory of a training step (:func:`training_memory`): the tensors a gradient needs (the inputs of every layer
the backward pass goes through, and the outputs the loss reads when they carry a gradient), all weights and
buffers, one gradient per *trained* parameter and the optimizer's state for trained parameters only.

Also here: :func:`replace_head`, the graph transformation behind ``--head N`` (the pipeline applies it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

from .. import layers as L  # noqa: N812 - the registry
from ..argkinds import COUNT, SHAPE
from ..errors import Location, ShapeError, SpecError, UnknownNameError
from ..graph import Graph, Node
from ..shapes import Shape
from .counts import Report
from .memory import OPTIMIZER_STATES, memory


def training_conventions() -> str:
    """The backward conventions, stated once from the registry's entries (docs, the ``--train`` footer)."""
    having = [n for n, lt in L.LAYER_TYPES.items() if lt.grad_input_doc != "0" or lt.grad_weight_doc != "0"]
    return (
        f"backward MACs = the input gradient and the weight gradient of {', '.join(having)} (each the size of the "
        "forward MACs: a conv's input gradient is a transposed convolution of the same size, its weight gradient "
        "a convolution of the input with the output gradient); every other op 0 (joins, norms, activations, "
        "pooling: element-wise work; a bias's gradient is a sum); the first layer needs no input gradient, a "
        "frozen layer no weight gradient, and no layer below the first trained one any gradient; "
        "one training step = forward + backward"
    )


# --------------------------------------------------------------------------- which layers train


class LayerTrain(NamedTuple):
    """One layer in a training step (MACs include the batch, like :attr:`LayerResult.macs`)."""

    trains: bool  # it has params and they are trained
    frozen: bool  # it has params and they are frozen
    backward: bool  # its output carries a gradient: the backward pass goes through it
    input_grad: bool  # it computes the gradient with respect to its input
    grad_input: int  # MACs of that gradient (0 when not computed)
    grad_weight: int  # MACs of the weight gradient (0 when frozen or without weights)


@dataclass(frozen=True, slots=True)
class Training:
    """A training step of ``report``'s network with some layers frozen: per layer and in total."""

    report: Report
    layers: tuple[LayerTrain, ...]
    trainable_params: int
    frozen_params: int
    grad_input: int  # MACs over the batch
    grad_weight: int
    how: str  # which layers train, in words ("every layer", "frozen up to and including `layer3`")
    head: int | None = None  # the layer a --head replaced (it always trains)

    @property
    def batch(self) -> int:
        """Samples per step."""
        return self.report.batch

    @property
    def forward(self) -> int:
        """Forward MACs over the batch (the report's)."""
        return self.report.total.macs

    @property
    def backward(self) -> int:
        """Backward MACs over the batch: input gradients + weight gradients."""
        return self.grad_input + self.grad_weight

    @property
    def step(self) -> int:
        """One training step: forward + backward MACs over the batch."""
        return self.forward + self.backward

    def per_sample(self, macs: int) -> int:
        """``macs`` (over the batch) for one sample."""
        return macs // self.batch

    @property
    def first_trained(self) -> str | None:
        """The path of the first layer that trains (None when nothing trains)."""
        return next((r.path for r, t in zip(self.report.layers, self.layers) if t.trains), None)


def resolve(report: Report, name: str, option: str) -> list[int]:
    """The indices of the layers ``name`` means for ``option``: a path, a block path (every layer in it) or a
    unique last segment, as ``cnncalc explain`` reads a layer (:func:`cnncalc.api.select_layers`)."""
    from ..api import select_layers

    try:
        found = select_layers(report, name)
    except UnknownNameError as err:
        code = "E217" if err.code == "E213" else "E216"
        raise UnknownNameError(f"{option}: {err.message}", err.location, err.notes, code=code) from None
    return [r.node.position for r in found]


def training(report: Report, freeze: str | None = None, train_only: Sequence[str] = (), head: bool = False) -> Training:
    """The training step of ``report``: every layer trains, or all up to ``freeze`` are frozen, or only the
    layers of ``train_only``; ``head``: the network's head was replaced (``--head``) and trains whatever else
    is frozen."""
    layers = report.layers
    count = len(layers)
    trained = [r.weights + r.biases > 0 for r in layers]
    how = "every layer trains"
    if freeze is not None:
        upto = max(resolve(report, freeze, "--freeze"))
        for i in range(upto + 1):
            trained[i] = False
        how = f"frozen up to and including `{freeze}`"
    elif train_only:
        chosen: set[int] = set()
        for name in train_only:
            chosen.update(resolve(report, name, "--train-only"))
        trained = [t and i in chosen for i, t in enumerate(trained)]
        how = "only " + ", ".join(f"`{p}`" for p in train_only) + " train"
    head_at = find_head(report.graph) if head else None
    if head_at is not None and not trained[head_at]:
        trained[head_at] = True
        how += f"; the new head `{layers[head_at].path}` trains"
    types = L.LAYER_TYPES
    carries = [False] * count
    out: list[LayerTrain] = []
    g_in = g_w = trainable = frozen = 0
    for i, r in enumerate(layers):
        params = r.weights + r.biases
        node = r.node
        input_grad = any(carries[s] for s in node.inputs if s >= 0)
        carries[i] = trained[i] or input_grad
        lt = types[node.op]
        ins = list(node.in_shapes)
        gi = lt.grad_input_macs(node.attrs, ins, node.out) * r.batch if input_grad else 0
        gw = lt.grad_weight_macs(node.attrs, ins, node.out) * r.batch if trained[i] else 0
        out.append(LayerTrain(trained[i], params > 0 and not trained[i], carries[i], input_grad, gi, gw))
        g_in += gi
        g_w += gw
        if trained[i]:
            trainable += params
        else:
            frozen += params
    return Training(report, tuple(out), trainable, frozen, g_in, g_w, how, head_at)


# --------------------------------------------------------------------------- memory of a training step


@dataclass(frozen=True, slots=True)
class TrainingMemory:
    """Bytes of one training step with some layers frozen (see the module docstring for what is kept)."""

    dtype: str
    bytes_per_value: int
    optimizer: str
    activations: int  # the tensors a gradient needs
    params: int  # every weight, trained or frozen
    gradients: int  # one per trained parameter
    optimizer_state: int  # per trained parameter
    buffers: int

    @property
    def total(self) -> int:
        """Kept activations + weights + gradients + optimizer state + buffers."""
        return self.activations + self.params + self.gradients + self.optimizer_state + self.buffers


def training_memory(train: Training, dtype: str = "fp32", optimizer: str = "sgd") -> TrainingMemory:
    """The memory of ``train``'s step in ``dtype`` with ``optimizer``'s state (sgd 0, momentum 1, adam 2 values
    per trained parameter); all values in the same dtype, activation gradients (transient) not modelled."""
    mem = memory(train.report, dtype, optimizer)  # checks dtype and optimizer; weights and buffers as inference
    b = mem.bytes_per_value
    layers = train.report.layers
    count = len(layers)
    kept = [False] * (count + 1)  # index count stands for the network input
    read = [False] * count
    for r, t in zip(layers, train.layers):
        for s in r.sources:
            if s >= 0:
                read[s] = True
            if t.backward:
                kept[s if s >= 0 else count] = True
    for i, t in enumerate(train.layers):
        if t.backward and not read[i]:  # an output the loss reads
            kept[i] = True
    elements = sum(r.activations for r, k in zip(layers, kept) if k)
    if kept[count]:
        elements += train.report.input.numel * train.report.batch
    states = OPTIMIZER_STATES[optimizer]
    return TrainingMemory(
        dtype,
        b,
        optimizer,
        elements * b,
        mem.params,
        train.trainable_params * b,
        states * train.trainable_params * b,
        mem.buffers,
    )


# --------------------------------------------------------------------------- a new head (--head N)


def find_head(graph: Graph) -> int:
    """The layer that sets the number of classes: walking back from the network output through layers without
    params that keep their input's channels (softmax, flatten, dropout, pooling, upsampling), the first layer
    with an ``out`` size (fc, linear, conv, deconv; LeNet-5's rbf)."""
    i = graph.output
    while i >= 0:
        node = graph.nodes[i]
        lt = L.LAYER_TYPES[node.op]
        out = lt.arg("out")
        if out is not None and out.kind is COUNT:
            return i
        weights, biases = lt.params(node.attrs, list(node.in_shapes), node.out)
        why = (
            "sets its output shape itself"
            if out is not None and out.kind is SHAPE
            else "has params but no output size"
            if weights + biases
            else "joins several inputs"
            if len(node.inputs) != 1
            else ""
        )
        if why:
            raise SpecError(
                f"--head: the network output comes from `{node.path}` ({node.op}), which {why}: the head to replace "
                "is the last layer with an `out` size (fc, linear, conv...), followed only by layers without params",
                node.loc.with_path(node.path),
                code="E218",
            )
        i = node.inputs[0]
    raise SpecError("--head: no layer produces the network output", Location(graph.file), code="E218")


def _reshaped(node: Node, attrs: dict[str, object], ins: list[Shape], rounding: str, classes: int) -> Node:
    ctx = L.Ctx(rounding)
    try:
        out = L.LAYER_TYPES[node.op].shape(attrs, ins, ctx)
    except ShapeError as exc:
        exc.message = f"with --head {classes}: {exc.message}"
        raise exc.located(node.loc.with_path(node.path)) from None
    return node._replace(attrs=attrs, in_shapes=tuple(ins), out=out, info=ctx.info)


def replace_head(graph: Graph, classes: int) -> Graph:
    """``graph`` with its head (:func:`find_head`) giving ``classes`` outputs, as when fine-tuning on that many
    classes; the shapes after it are propagated again (a softmax, a flatten, an upsampling follow it)."""
    at = find_head(graph)
    nodes = list(graph.nodes)
    head = nodes[at]
    nodes[at] = _reshaped(head, {**head.attrs, "out": classes}, list(head.in_shapes), graph.rounding, classes)
    changed = {at}
    for j in range(at + 1, len(nodes)):
        node = nodes[j]
        if changed.isdisjoint(node.inputs):
            continue
        ins = [graph.input if s < 0 else nodes[s].out for s in node.inputs]
        nodes[j] = _reshaped(node, dict(node.attrs), ins, graph.rounding, classes)
        changed.add(j)
    return replace(graph, nodes=tuple(nodes))
