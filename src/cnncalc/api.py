"""The small public API the command line is a thin layer over.

>>> from cnncalc import analyze_spec
>>> report = analyze_spec("alexnet")
>>> report.total.params, report.total.macs
(60965224, 724406816)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .analysis import LayerResult, Report
from .errors import CnncalcError, Location, UnknownNameError
from .library import Found, bundled_names
from .pipeline import evaluate
from .shapes import Shape
from .spec import did_you_mean


def analyze_spec(
    spec: str | Path,
    variant: str | None = None,
    sets: Mapping[str, str] | None = None,
    input_shape: Shape | None = None,
    no_bias: bool = False,
    batch: int = 1,
    head: int | None = None,
) -> Report:
    """Load a spec (a path or a bundled name), expand it and count it.

    ``variant`` selects a named variant (a bundled name such as ``resnet152`` may select one
    itself); ``sets`` overrides parameters (``{"alpha": "0.75"}``); ``input_shape`` re-propagates
    at another input size; ``no_bias`` counts as if no conv or fc had a bias; ``batch`` multiplies MACs,
    FLOPs, ops and activations (never params); ``head`` replaces the classifier's output size (``--head``).
    For the cost of a training step, pass the report to :func:`cnncalc.analysis.training`.
    """
    return evaluate(spec, variant, sets, input_shape, no_bias, batch, head=head)


def library_reports() -> list[tuple[str, str, str | None, Report | CnncalcError]]:
    """(name, file, variant, report or the error that stops it) for every name in the bundled library, by family:
    the files in name order, each file's base first, then its variants as the file lists them."""
    out: list[tuple[str, str, str | None, Report | CnncalcError]] = []
    names = bundled_names()
    order = {f: k for k, f in enumerate(sorted({found.path for found in names.values()}))}
    position = {name: k for k, name in enumerate(names)}  # bundled_names lists each file's base, then its variants
    ranked = sorted(names.items(), key=lambda kv: (order[kv[1].path], kv[1].variant is not None, position[kv[0]]))
    for name, found in ranked:
        try:
            rep: Report | CnncalcError = analyze_spec(str(found.path), variant=found.variant)
        except CnncalcError as err:
            rep = err
        out.append((name, found.path.name, found.variant, rep))
    return out


def select_layers(report: Report, name: str) -> list[LayerResult]:
    """The layers a user means by ``name``: a path, a block path (all its layers), or a unique last segment."""
    found = report.find(name)
    if found:
        return found
    tails = sorted({r.path for r in report.layers if r.path.rsplit(".", 1)[-1] == name or f".{name}." in f".{r.path}."})
    groups = sorted({r.path[: r.path.index(name) + len(name)] for r in report.layers if f".{name}." in f".{r.path}."})
    if len(groups) == 1:
        return report.find(groups[0])
    if len(tails) == 1:
        return report.find(tails[0])
    if len(groups) > 1 or len(tails) > 1:
        options = groups or tails
        raise UnknownNameError(
            f"`{name}` is ambiguous: it names {len(options)} layers or blocks, e.g. "
            + ", ".join(f"`{o}`" for o in options[:5]),
            Location(report.file),
            code="E213",
        )
    paths = [r.path for r in report.layers]
    segments = {seg for p in paths for seg in p.split(".")}
    numbered = sorted({seg for seg in segments if seg.partition("#")[0] == name and seg != name})
    if numbered:  # a name inside a repeat is numbered per iteration: x#1, x#2...
        raise UnknownNameError(
            f"`{name}` is ambiguous: it is repeated as "
            + ", ".join(f"`{o}`" for o in numbered[:5])
            + (f" and {len(numbered) - 5} more" if len(numbered) > 5 else ""),
            Location(report.file),
            code="E213",
        )
    raise UnknownNameError(
        f"no layer `{name}` in {report.name}{did_you_mean(name, set(paths) | segments)}",
        Location(report.file),
        code="E212",
    )


__all__ = ["analyze_spec", "library_reports", "select_layers", "Found"]
