"""The network an importer reads: a list of layers in cnncalc's ops, with the source's own figures.

Each front end (:mod:`.onnx_graph`, :mod:`.torch_graph`) turns a model into a :class:`Network`: layers in an
order where every input comes first, each with its cnncalc op and arguments (as the spec will write them), its
inputs, and what the *source* says about it: the output shape and the parameters and buffers it holds. The
writer (:mod:`.writer`) makes a readable spec of it, and :func:`cnncalc.importers.compare` checks that cnncalc,
evaluating that spec, finds the same shapes and counts. Nothing here imports onnx or torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..diagnostics import Diagnostic
from ..errors import CnncalcError
from ..shapes import Shape

#: The value id of the network input (layer outputs are their index).
INPUT = -1


class ModelError(CnncalcError):
    """A model cannot be imported: not a model, a graph cnncalc cannot take, a shape it cannot know."""

    code = "E801"


class ImportMismatchError(CnncalcError):
    """The spec an import wrote does not give the model's figures (a bug in a registry's ``onnx`` rule)."""

    code = "E804"


class OnnxMissingError(CnncalcError):
    """The ``onnx`` package (the optional ``onnx`` extra) is not installed."""

    code = "E800"


class TorchImportMissingError(CnncalcError):
    """PyTorch (the optional ``torch`` extra) is not installed."""

    code = "E806"


@dataclass
class Layer:
    """One layer: ``op`` with ``args`` (spec values), reading ``inputs`` (value ids), as the source has it.

    ``name`` is the source's (a module path such as ``layer1.0.conv1``, or an ONNX node name); ``where``
    says where it is in the source (``node 12 '/layer1/...' (Conv)``) for messages; ``note`` says why an
    ``opaque`` layer is one. ``out``, ``params`` and ``buffers`` are the source's figures.
    """

    name: str
    op: str
    args: dict[str, Any]
    inputs: list[int]
    out: Shape
    params: int = 0
    buffers: int = 0
    where: str = ""
    note: str = ""


@dataclass
class Network:
    """A model read by a front end: its input, its layers, which value is the output, and what was noted."""

    name: str
    source: str  # how it was read: "ONNX file resnet50.onnx (opset 17, producer pytorch 2.14)"
    input: Shape
    layers: list[Layer] = field(default_factory=list)
    output: int = INPUT
    warnings: list[Diagnostic] = field(default_factory=list)
    #: The source's own totals where it states them apart from the layers (PyTorch's parameters()), else None.
    total_params: int | None = None
    total_buffers: int | None = None

    def add(self, layer: Layer) -> int:
        """Append a layer; its value id."""
        self.layers.append(layer)
        return len(self.layers) - 1

    @property
    def params(self) -> int:
        """The parameters of all layers, as the source counts them."""
        return sum(layer.params for layer in self.layers)

    @property
    def buffers(self) -> int:
        """The buffers of all layers, as the source counts them."""
        return sum(layer.buffers for layer in self.layers)

    def opaque(self) -> list[Layer]:
        """The layers the importer did not understand."""
        return [layer for layer in self.layers if layer.op == "opaque"]


def torch_shape(dims: tuple[int, ...], layout: str = "NCHW") -> Shape | None:
    """The cnncalc shape of a framework tensor with a batch axis: [N, C, H, W] -> HxWxC ([N, H, W, C] when
    channels-last), [N, F] -> F, [N, C, L] -> 1xLxC; None for another rank."""
    if len(dims) == 4:
        if layout == "NHWC":
            return Shape.spatial(dims[1], dims[2], dims[3])
        return Shape.spatial(dims[2], dims[3], dims[1])
    if len(dims) == 2:
        return Shape.flat(dims[1])
    if len(dims) == 3:
        return Shape.spatial(1, dims[2], dims[1])
    return None


__all__ = [
    "INPUT",
    "ImportMismatchError",
    "Layer",
    "ModelError",
    "Network",
    "OnnxMissingError",
    "TorchImportMissingError",
    "torch_shape",
]
