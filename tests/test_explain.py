"""Receptive fields, memory, batch, element-wise ops and explanations, against hand arithmetic."""

from __future__ import annotations

import pytest

from cnncalc.analysis import memory
from cnncalc.api import analyze_spec, select_layers
from cnncalc.errors import CnncalcError
from cnncalc.layers import explain
from tests.conftest import Cli
from tests.helpers import run


def test_alexnet_receptive_fields_by_hand() -> None:
    rep = analyze_spec("alexnet")
    rf = {r.path: (r.rf[0], r.jump[0]) for r in rep.layers}
    assert rf["conv1.conv"] == (11, 4)
    assert rf["pool1"] == (11 + (3 - 1) * 4, 4 * 2) == (19, 8)
    assert rf["conv2.conv"] == (19 + (5 - 1) * 8, 8) == (51, 8)
    assert rf["pool2"] == (51 + 2 * 8, 16) == (67, 16)
    assert rf["conv5.conv"] == (67 + 3 * 2 * 16, 16) == (163, 16)
    assert rf["pool3"] == (163 + 2 * 16, 32) == (195, 32)
    assert rf["fc6.fc"] == (195 + (6 - 1) * 32, 6 * 32) == (355, 192)  # fc spans its whole 6x6 input
    assert "fc6.fc" in rep.rf_note and "355x355" in rep.rf_note


def test_vgg_three_3x3_convs_see_7x7() -> None:
    rep = run("input: 32x32x8\nlayers:\n  - repeat: 3\n    do: conv 8 3x3 pad=1\n")
    assert [r.rf for r in rep.layers] == [(3, 3), (5, 5), (7, 7)]  # the lecture's "same effective field as 7x7"


def test_receptive_field_through_branches_and_asymmetric_kernels() -> None:
    rep = run(
        "input: 17x17x8\nlayers:\n  - concat:\n    - conv 8 1x7 pad=0x3\n    - conv 8 3x3 pad=1, conv 8 3x3 pad=1\n"
    )
    join = rep.layers[-1]
    assert rep.layers[0].rf == (1, 7)
    assert join.rf == (5, 7)  # the largest over paths, per axis
    assert rep.warnings == ()


def test_misaligned_join_warns() -> None:
    rep = run("input: 16x16x4\nlayers:\n  - add:\n    - conv 4 2x2 stride=2\n    - conv 4 1x1 stride=2\n")
    assert len(rep.warnings) == 1 and "misaligned" in rep.warnings[0].message
    assert "field centres" in rep.warnings[0].message


def test_squeeze_excitation_gate_keeps_the_grid() -> None:
    rep = run(
        "input: 8x8x16\nlayers:\n  - conv 16 3x3 pad=1\n  - mul:\n    - identity\n    - gap, conv 4 1x1, relu,"
        " conv 16 1x1, sigmoid\n  - conv 16 3x3 pad=1\n"
    )
    last = rep.layers[-1]
    assert last.jump == (1, 1)  # the 1x1 gate does not turn the grid into an 8-pixel one
    # Distill's convention: a 1x1xC gate computed from a global pool scales every position alike, so it does not
    # widen the local field: 3x3, the gated product keeps 3, one more 3x3 gives 5 (not 3 + 7 + 2)
    assert rep.layers[-2].rf == (3, 3)
    assert last.rf == (5, 5)


def test_batch_multiplies_macs_and_activations_never_params() -> None:
    one, eight = analyze_spec("resnet18"), analyze_spec("resnet18", batch=8)
    assert eight.total.params == one.total.params
    assert eight.total.macs == 8 * one.total.macs and eight.total.flops == 16 * one.total.macs
    assert eight.total.activations == 8 * one.total.activations and eight.total.ops == 8 * one.total.ops


def test_element_wise_ops_by_hand() -> None:
    rep = run(
        "input: 8x8x4\nlayers:\n  - maxpool 2x2\n  - bn\n  - relu\n  - add: [identity, identity]\n"
        "  - conv 2 1x1\n  - gap\n"
    )
    ops = [r.ops for r in rep.layers]
    assert ops[0] == 4 * 4 * 4 * (2 * 2 - 1)  # comparisons per output
    assert ops[1] == 2 * 4 * 4 * 4  # BN: scale and shift
    assert ops[2] == 4 * 4 * 4  # ReLU
    assert ops[5] == (2 - 1) * 4 * 4 * 4  # a two-input add
    assert ops[6] == 4 * 4 * 2  # conv bias adds
    assert ops[7] == 4 * 4 * 2  # global average: H*W - 1 adds + 1 multiply per channel
    assert rep.total.macs == 4 * 4 * 2 * 4  # MACs never include them


def test_memory_liveness_by_hand() -> None:
    # input 8x8x1 (64); a: 8x8x2 (128); two branches b1: 8x8x2 (128), b2: identity 8x8x2 (128); add (128).
    rep = run("input: 8x8x1\nlayers:\n  - a: conv 2 3x3 pad=1\n  - add:\n    - conv 2 3x3 pad=1\n    - identity\n")
    mem = memory(rep, "fp32", "adam")
    sizes = [128, 128, 128, 128]
    assert mem.activations == 4 * (64 + sum(sizes))
    # computing b2 (identity): a (its input, read last here), b1 (awaiting the join) and b2: 3 x 128;
    # computing the add: a is dead; b1, b2 and the sum: 3 x 128 again. The input died after `a`.
    assert mem.peak == 4 * 3 * 128 and mem.peak_at == "add.identity"
    assert mem.params == 4 * rep.total.params and mem.optimizer_state == 2 * mem.params  # adam: 2 per param
    assert mem.training == mem.train_activations + mem.params + mem.gradients + mem.optimizer_state + mem.buffers
    assert memory(rep, "fp32", "momentum").optimizer_state == mem.params
    with pytest.raises(CnncalcError, match="unknown dtype"):
        memory(rep, "fp64")


def test_explain_substitutes_the_numbers() -> None:
    rep = analyze_spec("alexnet")
    conv = rep.find("conv1.conv")[0]
    lines = explain(conv.op, conv.attrs, list(conv.inputs), conv.output, conv.info)
    assert "height: (227 + 0 + 0 - 11)/4 + 1 = 55" in lines
    assert "params: (11 x 11 x 3) x 96 + 96 = 34,944" in lines
    assert "MACs: 55 x 55 x 96 x (11 x 11 x 3) = 105,415,200" in lines
    grouped = rep.find("conv2.conv")[0]
    text = "\n".join(explain(grouped.op, grouped.attrs, list(grouped.inputs), grouped.output, grouped.info))
    assert "(5 x 5 x 96/2) x 256 + 256 = 307,456" in text


def test_explain_shows_the_fraction_before_rounding() -> None:
    rep = run("input: 224x224x3\nlayers:\n  - conv 96 11x11 stride=4\n")
    r = rep.layers[0]
    text = "\n".join(explain(r.op, r.attrs, list(r.inputs), r.output, r.info))
    assert "(224 + 0 + 0 - 11)/4 + 1 = 217/4 = 54.25, floor -> 54" in text


def test_every_op_explains_itself() -> None:
    rep = analyze_spec("efficientnet-b0")
    for r in rep.layers:
        assert explain(r.op, r.attrs, list(r.inputs), r.output, r.info)


def test_select_layers() -> None:
    rep = analyze_spec("googlenet")
    assert [r.path for r in select_layers(rep, "conv1")] == ["conv1.conv", "conv1.bn", "conv1.relu"]
    assert len(select_layers(rep, "inception3a")) == 20
    with pytest.raises(CnncalcError, match="did you mean"):
        select_layers(rep, "inception3z")


def test_explain_command(cli: Cli) -> None:
    out = cli("explain", "alexnet", "conv1").stdout
    assert "(227 + 0 + 0 - 11)/4 + 1 = 55" in out and "receptive field 11, effective stride 4" in out
    res = cli("explain", "alexnet", "conv9", code=1)
    assert "no layer `conv9`" in res.stderr


def test_show_memory_ops_bars_json(cli: Cli) -> None:
    out = cli("show", "alexnet", "--ops", "--bars", "--memory", "--dtype", "fp16").stdout
    assert "ops" in out and "MACs share" in out and "memory (fp16, 2 bytes per value" in out
    import json

    data = json.loads(cli("show", "alexnet", "-f", "json", "--dtype", "int8", "--batch", "2").stdout)
    assert data["layers"][0]["receptive_field"] == 11 and data["layers"][0]["effective_stride"] == 4
    assert data["memory"]["params"] == 60_965_224 and data["batch"] == 2
    assert data["total"]["macs"] == 2 * 724_406_816


def test_a_name_repeated_per_iteration_is_ambiguous_and_lists_its_numbers() -> None:
    from cnncalc.api import select_layers
    from cnncalc.errors import UnknownNameError

    rep = run("input: 8x8x3\nlayers:\n  - repeat: 3\n    do:\n      - x: conv 3 3x3 pad=1\n")
    with pytest.raises(UnknownNameError, match="`x` is ambiguous: it is repeated as `x#1`, `x#2`, `x#3`"):
        select_layers(rep, "x")
    assert [r.path for r in select_layers(rep, "x#2")] == ["repeat.x#2"]
