"""``cnncalc import``: a model (an ONNX file, a PyTorch module) as a readable spec with the model's figures.

A front end reads the model into a :class:`~.network.Network` (:mod:`.onnx_graph` for ONNX files, with the
``onnx`` extra; :mod:`.torch_graph` for ``package.module:callable`` through ``torch.fx``, with the ``torch``
extra); the registry's ``onnx`` rules and the importer's patterns (:mod:`.patterns`) decide each layer's op.
:mod:`.writer` writes the spec. Then the spec is evaluated by cnncalc itself, and :func:`compare` holds every row
to the source: its op, output shape, parameters and buffers, and the totals. A difference is an error (E804),
never a spec that silently disagrees with the model. What the importer does not understand is an ``opaque``
layer with the source's shape and parameters, and a W801 warning that names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..analysis import Report
from ..diagnostics import Diagnostic, Location
from ..errors import CnncalcError
from ..shapes import Shape
from .network import ImportMismatchError, ModelError, Network
from .writer import Row, write_spec


@dataclass(frozen=True)
class Imported:
    """An import: the spec's text, the network read, cnncalc's evaluation of the spec, and the warnings."""

    spec: str
    network: Network
    report: Report
    warnings: list[Diagnostic] = field(default_factory=list)


def compare(net: Network, rows: list[Row], report: Report, file: str) -> None:
    """Every row of ``report`` is the layer of ``net`` the writer says, with the same op, shape, params and
    buffers; raises :class:`ImportMismatchError` (E804) at the first difference."""

    def fail(message: str, path: str = "") -> ImportMismatchError:
        return ImportMismatchError(
            f"the written spec does not give the model's figures: {message}",
            Location(file, path=path),
            notes=["this is a bug in cnncalc's importer (a registry `onnx` rule or a pattern): please report it"],
            code="E804",
        )

    if len(rows) != len(report.layers):
        raise fail(f"{len(report.layers)} rows where the model has {len(rows)}")
    for row, res in zip(rows, report.layers):
        if row is None:
            if res.op != "identity":
                raise fail(f"`{res.path}` is {res.op}, where the writer put an identity", res.path)
            continue
        layer = net.layers[row]
        theirs = (layer.op, layer.out, layer.params, layer.buffers)
        ours = (res.op, res.output, res.weights + res.biases, res.buffers)
        if theirs != ours:
            raise fail(
                f"`{res.path}` ({layer.where}) is {layer.op} {layer.out} with {layer.params:,} params and "
                f"{layer.buffers:,} buffers in the model, {res.op} {res.output} with {ours[2]:,} params and "
                f"{ours[3]:,} buffers in the spec",
                res.path,
            )
    if report.total.params != net.params or report.total.buffers != net.buffers:
        raise fail(f"totals {report.total.params:,} params, {report.total.buffers:,} buffers; model {net.params:,}")


def finish(net: Network, file: str, name: str | None = None, fold: bool = True) -> Imported:
    """Write the spec of ``net``, evaluate it with cnncalc and compare every row with the model."""
    from ..pipeline import evaluate_text

    text, rows = write_spec(net, name, fold)
    try:
        report = evaluate_text(text, file)
    except CnncalcError as err:
        raise ImportMismatchError(
            f"the written spec does not evaluate: {err.headline()}",
            Location(file),
            notes=["this is a bug in cnncalc's importer: please report it", *err.notes],
            code="E804",
        ) from None
    compare(net, rows, report, file)
    return Imported(text, net, report, list(net.warnings))


def import_onnx(
    path: str | Path, input_shape: Shape | None = None, name: str | None = None, fold: bool = True
) -> Imported:
    """An ONNX file (binary or ONNX's textual syntax) as a spec; needs the ``onnx`` extra."""
    from .onnx_graph import read_onnx

    net = read_onnx(Path(path), input_shape)
    return finish(net, str(path), name, fold)


def import_torch(target: str, input_shape: Shape | None = None, name: str | None = None, fold: bool = True) -> Imported:
    """``package.module:callable`` (a model class or a function that builds one) as a spec, through torch.fx;
    needs the ``torch`` extra."""
    from .torch_graph import read_torch

    net = read_torch(target, input_shape)
    return finish(net, target, name, fold)


def is_model_target(target: str) -> bool:
    """A Python callable (``torchvision.models:resnet50``, ``torchvision.models.resnet50``), not a file."""
    try:
        exists = Path(target).exists()
    except OSError:  # a name too long for the file system: not a file
        exists = False
    if exists or "/" in target or "\\" in target or target.endswith((".onnx", ".onnxtxt", ".txt")):
        return False
    head = target.replace(":", ".")
    return all(part.isidentifier() for part in head.split(".")) and "." in head


def import_model(target: str, input_shape: Shape | None = None, name: str | None = None, fold: bool = True) -> Imported:
    """A model file or a Python callable as a spec (see :func:`import_onnx`, :func:`import_torch`)."""
    if is_model_target(target):
        return import_torch(target, input_shape, name, fold)
    if not Path(target).exists():
        raise ModelError(f"no model file `{target}`", Location(target), code="E801")
    return import_onnx(target, input_shape, name, fold)


__all__ = ["Imported", "compare", "finish", "import_model", "import_onnx", "import_torch", "is_model_target"]
