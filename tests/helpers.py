"""Small helpers: evaluate a spec given as text."""

from __future__ import annotations

from cnncalc.analysis import Report
from cnncalc.pipeline import evaluate_text


def run(text: str, **kwargs: object) -> Report:
    """Parse, expand and count a spec written inline (the one pipeline, as the commands use it)."""
    return evaluate_text(text, "t.yaml", **kwargs)


def one(layer: str, input_shape: str = "224x224x3") -> Report:
    """A one-line network."""
    return run(f"input: {input_shape}\nlayers:\n  - {layer}\n")
