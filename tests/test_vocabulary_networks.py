"""Networks built from the newer ops, against PyTorch: totals and every conv/deconv/linear/fc layer.

ConvNeXt (layernorm, linear, layerscale, droppath), U-Net (deconv, crop), DCGAN (deconv), FCN, DeepLabV3 and
LR-ASPP (dilated backbones, upsample). The reference numbers were produced by tools/reference_models.py from the
PyTorch models (weights=None, forward hooks) and committed in tests/data/vocabulary_reference.json, so these
tests run without torch.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from cnncalc.analysis import Report
from cnncalc.api import analyze_spec
from tests.conftest import DATA
from tests.test_torchvision import COUNTED

REF = json.loads((DATA / "vocabulary_reference.json").read_text())["models"]
LAYERS = (*COUNTED, "deconv", "linear")  # every op that multiplies by weights

# reference models that are the base of a family file (the others are bundled names: a file or a variant)
BASE_OF = {
    "convnext-tiny": "convnext",
    "fcn-resnet50": "fcn",
    "deeplabv3-resnet50": "deeplabv3",
    "lraspp-mobilenet-v3-large": "lraspp",
}


def _report(key: str) -> Report:
    return analyze_spec(BASE_OF.get(key, key))


def test_every_reference_model_is_compared() -> None:
    assert len(REF) == 13
    assert set(BASE_OF) <= set(REF)


@pytest.mark.parametrize("key", sorted(REF))
def test_the_spec_is_the_model_named(key: str) -> None:
    report = _report(key)
    if key in BASE_OF:
        assert report.variant is None and report.file.endswith(f"{BASE_OF[key]}.yaml")
    else:
        assert report.variant == key or (report.variant is None and report.file.endswith(f"{key}.yaml"))


@pytest.mark.parametrize("key", sorted(REF))
def test_totals_match_pytorch(key: str) -> None:
    ref = REF[key]
    report = _report(key)
    assert report.input.as_list() == ref["input"]
    assert report.output.as_list() == ref["output"]
    assert report.total.params == ref["params"]
    assert report.total.buffers == ref["buffers"]
    assert report.total.macs == ref["macs"]
    assert sum(r.macs for r in report.layers if r.op in LAYERS) == ref["macs"]


@pytest.mark.parametrize("key", sorted(REF))
def test_every_weighted_layer_matches_pytorch(key: str) -> None:
    ref = REF[key]
    report = _report(key)
    ours = Counter((tuple(r.output.dims), r.params, r.macs) for r in report.layers if r.op in LAYERS)
    theirs = Counter((tuple(layer["output"]), layer["params"], layer["macs"]) for layer in ref["layers"])
    missing = theirs - ours
    extra = ours - theirs
    assert not missing and not extra, f"PyTorch layers we lack: {missing}; layers PyTorch lacks: {extra}"
