"""Bundled specs against torchvision: totals, output shape, and every weighted layer's (output, params, MACs).

The reference numbers were produced by tools/torchvision_reference.py from the built torchvision models
(weights=None, forward hooks) and committed in tests/data/torchvision_reference.json, so these tests run
without torch. The comparison helpers (``report_for``, ``assert_totals_match``, ``assert_layers_match``) are
shared with tests/test_vocabulary_networks.py.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from cnncalc.analysis import Report
from cnncalc.api import analyze_spec
from cnncalc.library import NotFoundError, find_spec
from cnncalc.shapes import Shape
from tests.conftest import torchvision_reference

REF = torchvision_reference()
COUNTED = ("conv", "dwconv", "fc")
WEIGHTED = (*COUNTED, "deconv", "linear")  # every op that multiplies by weights (PyTorch's Conv*/Linear)

# Reference keys whose spec is a family file's base, named by the file's stem rather than the key.
BASE_OF: dict[str, str] = {}

# Reference models with no bundled spec yet. This list only shrinks: test_pending_models_have_no_spec fails as
# soon as one of them resolves, so whoever adds the spec must delete its key here (and then it is compared).
PENDING: frozenset[str] = frozenset()
COMPARED = sorted(set(REF) - PENDING)


def spec_name(key: str) -> str:
    """The bundled name a reference key is compared under (``resnet50@448`` -> ``resnet50``)."""
    name = key.partition("@")[0]
    return BASE_OF.get(name, name)


def report_for(key: str) -> Report:
    """The bundled spec for a reference key; ``name@S`` evaluates ``name`` at an SxSx3 input."""
    size = key.partition("@")[2]
    shape = Shape((int(size), int(size), 3)) if size else None
    return analyze_spec(spec_name(key), input_shape=shape)


def layer_multiset(report: Report, ops: tuple[str, ...] = WEIGHTED) -> Counter[tuple[tuple[int, ...], int, int]]:
    """(output dims, params, MACs) of every layer whose op is in ``ops``, as a multiset."""
    return Counter((tuple(r.output.dims), r.params, r.macs) for r in report.layers if r.op in ops)


def reference_multiset(ref: dict[str, Any]) -> Counter[tuple[tuple[int, ...], int, int]]:
    """(output, params, MACs) of every recorded PyTorch Conv2d/ConvTranspose2d/Linear call, as a multiset."""
    return Counter((tuple(layer["output"]), layer["params"], layer["macs"]) for layer in ref["layers"])


def assert_totals_match(report: Report, ref: dict[str, Any], ops: tuple[str, ...] = WEIGHTED) -> None:
    """Input, output shape, params, BN buffers and MACs equal the reference; the weighted layers carry all MACs."""
    assert report.input.as_list() == ref["input"]
    assert report.output.as_list() == ref["output"]
    assert report.total.params == ref["params"]
    assert report.total.buffers == ref["buffers"]
    assert report.total.macs == ref["macs"]
    assert sum(r.macs for r in report.layers if r.op in ops) == ref["macs"]


def assert_layers_match(report: Report, ref: dict[str, Any], ops: tuple[str, ...] = WEIGHTED) -> None:
    """The multiset of weighted layers' (output, params, MACs) equals the reference's, with the difference shown."""
    ours = layer_multiset(report, ops)
    theirs = reference_multiset(ref)
    missing = theirs - ours
    extra = ours - theirs
    assert not missing and not extra, f"PyTorch layers we lack: {dict(missing)}; layers PyTorch lacks: {dict(extra)}"


def test_pending_is_a_subset_of_the_reference() -> None:
    assert PENDING <= set(REF)
    assert set(BASE_OF) <= set(REF)


@pytest.mark.parametrize("key", sorted(BASE_OF))
def test_a_base_named_by_its_file_has_no_name_of_its_own(key: str) -> None:
    with pytest.raises(NotFoundError):
        find_spec(key)  # resolves now: delete the key from BASE_OF so the model is compared under its own name


@pytest.mark.parametrize("key", sorted(PENDING))
def test_pending_models_have_no_spec(key: str) -> None:
    with pytest.raises(NotFoundError):
        find_spec(spec_name(key))  # resolves now: delete the key from PENDING so the model is compared


@pytest.mark.parametrize("key", COMPARED)
def test_the_spec_is_the_model_named(key: str) -> None:
    found = find_spec(spec_name(key))
    name = spec_name(key)
    assert found.variant == name or (found.variant is None and found.path.name == f"{name}.yaml")


@pytest.mark.parametrize("key", COMPARED)
def test_totals_match_torchvision(key: str) -> None:
    assert_totals_match(report_for(key), REF[key])


@pytest.mark.parametrize("key", COMPARED)
def test_every_conv_and_fc_layer_matches_torchvision(key: str) -> None:
    assert_layers_match(report_for(key), REF[key])
