"""Bundled specs against torchvision: total params, MACs, and every conv/fc layer's (output, params).

The reference numbers were produced by tools/torchvision_reference.py from the built torchvision models
(weights=None, forward hooks) and committed in tests/data/torchvision_reference.json, so these tests run
without torch.
"""

from __future__ import annotations

from collections import Counter

import pytest

from cnncalc.api import analyze_spec
from cnncalc.shapes import Shape
from tests.conftest import torchvision_reference

REF = torchvision_reference()
COUNTED = ("conv", "dwconv", "fc")


def _report(key: str):  # type: ignore[no-untyped-def]
    name, _, size = key.partition("@")
    shape = Shape((int(size), int(size), 3)) if size else None
    return analyze_spec(name, input_shape=shape)


@pytest.mark.parametrize("key", sorted(REF))
def test_totals_match_torchvision(key: str) -> None:
    ref = REF[key]
    report = _report(key)
    assert report.input.as_list() == ref["input"]
    assert report.output.as_list() == ref["output"]
    assert report.total.params == ref["params"]
    assert report.total.macs == ref["macs"]
    assert report.total.buffers == ref["buffers"]


@pytest.mark.parametrize("key", sorted(REF))
def test_every_conv_and_fc_layer_matches_torchvision(key: str) -> None:
    ref = REF[key]
    report = _report(key)
    ours = Counter((tuple(r.output.dims), r.params, r.macs) for r in report.layers if r.op in COUNTED)
    theirs = Counter((tuple(layer["output"]), layer["params"], layer["macs"]) for layer in ref["layers"])
    missing = theirs - ours
    extra = ours - theirs
    assert not missing and not extra, f"torchvision layers we lack: {missing}; layers torchvision lacks: {extra}"
