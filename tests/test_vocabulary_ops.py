"""Each op of the modern vocabulary against PyTorch, layer by layer (tests/data/op_reference.json).

The reference was computed by tools/op_reference.py in a throwaway venv (torch is never imported here): per
layer the output shape, params, buffers and MACs PyTorch gives, and for the last layer the receptive field
measured as the gradient support of the centre output.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import DATA
from tests.helpers import run

REFERENCE: dict[str, Any] = json.loads((DATA / "op_reference.json").read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_every_layer_equals_pytorch(name: str) -> None:
    case = REFERENCE[name]
    rep = run(case["spec"])
    rows = list(rep.layers)
    assert len(rows) == len(case["rows"]), [r.path for r in rows]
    for got, want in zip(rows, case["rows"]):
        assert got.output.as_list() == want["output"], got.path
        assert got.params == want["params"], got.path
        assert got.buffers == want["buffers"], got.path
        assert got.macs == want["macs"], got.path


@pytest.mark.parametrize("name", sorted(n for n in REFERENCE if REFERENCE[n]["rf"] is not None))
def test_receptive_field_equals_the_widest_measured_support(name: str) -> None:
    """cnncalc's field is a bound over output positions; PyTorch's widest gradient support (among outputs whose
    support does not reach the input's edge, where the edge could cut it) must equal it on every measured axis."""
    case = REFERENCE[name]
    last = run(case["spec"]).layers[-1]
    assert last.rf is not None
    measured = [(axis, seen) for axis, seen in enumerate(case["rf"]) if seen is not None]
    assert measured or name in UNMEASURABLE, "no output's field fits inside this case's input: enlarge it"
    for axis, seen in measured:
        assert last.rf[axis] == seen, (axis, last.rf, case["rf"])


#: Cases whose every output's field reaches the input's edge (their shapes and counts are still checked).
UNMEASURABLE = {"deconv-dcgan-first", "pixel-shuffle", "pixel-unshuffle"}
