"""The small public API the command line is a thin layer over.

>>> from cnncalc import analyze_spec
>>> report = analyze_spec("alexnet")
>>> report.total.params, report.total.macs
(60965224, 724406816)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .analysis import Report, analyze
from .errors import CnncalcError
from .graph import build_graph
from .library import Found, bundled_names, find_spec
from .shapes import Shape
from .spec import load_spec


def analyze_spec(spec: str | Path, variant: str | None = None, sets: Mapping[str, str] | None = None,
                 input_shape: Shape | None = None, no_bias: bool = False) -> Report:  # fmt: skip
    """Load a spec (a path or a bundled name), expand it and count it.

    ``variant`` selects a named variant (a bundled name such as ``resnet152`` may select one
    itself); ``sets`` overrides parameters (``{"alpha": "0.75"}``); ``input_shape`` re-propagates
    at another input size; ``no_bias`` counts as if no conv or fc had a bias.
    """
    found = find_spec(str(spec))
    parsed = load_spec(found.path)
    graph = build_graph(parsed, variant or found.variant, sets, input_shape, no_bias)
    return analyze(graph, parsed)


def library_reports() -> list[tuple[str, str, str | None, Report | CnncalcError]]:
    """(name, file, variant, report or the error that stops it) for every name in the bundled library."""
    out: list[tuple[str, str, str | None, Report | CnncalcError]] = []
    for name, found in sorted(bundled_names().items()):
        try:
            rep: Report | CnncalcError = analyze_spec(str(found.path), variant=found.variant)
        except CnncalcError as err:
            rep = err
        out.append((name, found.path.name, found.variant, rep))
    return out


__all__ = ["analyze_spec", "library_reports", "Found"]
