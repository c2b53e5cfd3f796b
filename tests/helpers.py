"""Small helpers: evaluate a spec given as text."""

from __future__ import annotations

from cnncalc.analysis import Report, analyze
from cnncalc.graph import build_graph
from cnncalc.spec import parse_spec


def run(text: str, **kwargs: object) -> Report:
    """Parse, expand and count a spec written inline."""
    spec = parse_spec(text, "t.yaml")
    return analyze(build_graph(spec, **kwargs), spec)  # type: ignore[arg-type]


def one(layer: str, input_shape: str = "224x224x3") -> Report:
    """A one-line network."""
    return run(f"input: {input_shape}\nlayers:\n  - {layer}\n")
