"""Expansion and shape propagation: chains, joins, blocks, repeats, references, errors."""

from __future__ import annotations

import pytest

from cnncalc.errors import CnncalcError, ExpectationError, ShapeError, SpecError, UnknownNameError
from cnncalc.graph import build_graph
from cnncalc.spec import parse_spec
from tests.helpers import run

RESNET_BLOCK = """
input: 56x56x64
blocks:
  bottleneck(mid, out, stride=1):
    - add:
        - conv mid 1x1, bn, relu, conv mid 3x3 stride=stride pad=1, bn, relu, conv out 1x1, bn
        - if: stride != 1 or in_c != out
          then: conv out 1x1 stride=stride, bn
    - relu
  stage(n, mid, stride):
    - bottleneck mid 4*mid stride=stride
    - bottleneck mid 4*mid repeat=n-1
layers:
  - conv2_x: stage 3 64 stride=1        => 56x56x256
"""


def test_resnet_stage_paths_and_shapes() -> None:
    rep = run(RESNET_BLOCK)
    paths = [r.path for r in rep.layers]
    assert "conv2_x.bottleneck#1.add.b1.conv#1" in paths
    assert "conv2_x.bottleneck#1.add.b2.conv" in paths  # projection, only in the first block
    assert "conv2_x.bottleneck#2.add.b2.identity" in paths
    assert str(rep.output) == "56x56x256"
    conv_params = [r.params for r in rep.layers if r.op == "conv"]
    # block 1: 1x1 64->64, 3x3 64->64, 1x1 64->256, projection 64->256 (all with bias here)
    assert conv_params[:4] == [64 * 64 + 64, 9 * 64 * 64 + 64, 64 * 256 + 256, 64 * 256 + 256]
    assert len(conv_params) == 4 + 3 + 3


def test_concat_sums_channels_and_keeps_branch_paths() -> None:
    rep = run(
        "input: 28x28x256\nlayers:\n  - inc:\n      concat:\n        - conv 64 1x1\n"
        "        - conv 96 1x1, conv 128 3x3 pad=1\n        - maxpool 3x3 stride=1 pad=1\n"
    )
    assert str(rep.output) == "28x28x448"  # 64 + 128 + 256
    assert [r.path for r in rep.layers] == ["inc.b1.conv", "inc.b2.conv#1", "inc.b2.conv#2", "inc.b3.maxpool", "inc"]


def test_named_references_and_side_heads() -> None:
    rep = run(
        "input: 16x16x8\nlayers:\n  - a: conv 8 3x3 pad=1\n  - b: conv 8 3x3 pad=1\n"
        "  - s:\n      side: gap, fc 10\n      from: a\n"
        "  - c:\n      add: [identity]\n      from: a\n  - fc 5\n"
    )
    side = [r for r in rep.layers if r.side]
    assert [r.op for r in side] == ["gap", "fc"] and side[-1].params == 8 * 10 + 10
    add = next(r for r in rep.layers if r.op == "add")
    assert len(add.inputs) == 2
    assert rep.output.dims == (5,)


def test_repeat_structural_with_index() -> None:
    rep = run("input: 64x64x3\nlayers:\n  - repeat: 3\n    do: conv (8*2**i) 3x3 stride=2 pad=1\n")
    assert [str(r.output) for r in rep.layers] == ["32x32x8", "16x16x16", "8x8x32"]


def test_variants_sets_and_input_override() -> None:
    text = "input: 32x32x3\nparams: {c: 8}\nvariants:\n  wide: {c: 16}\nlayers:\n  - conv c 3x3 pad=1  => 32x32x8\n"
    spec = parse_spec(text, "t.yaml")
    assert build_graph(spec).output_shape.c == 8
    assert build_graph(spec, "wide").output_shape.c == 16  # inline => skipped for variants
    assert build_graph(spec, sets={"c": "4*8"}).output_shape.c == 32
    from cnncalc.shapes import Shape

    assert build_graph(spec, input_shape=Shape((64, 64, 3))).output_shape.h == 64


def test_fractal_expands_to_2_pow_c_minus_1_units() -> None:
    rep = run("input: 32x32x64\nlayers:\n  - fractal: 4\n    do: conv 64 3x3 pad=1, bn, relu\n    expect: 32x32x64\n")
    convs = [r for r in rep.layers if r.op == "conv"]
    assert len(convs) == 2**4 - 1
    assert rep.total.params == 15 * (3 * 3 * 64 * 64 + 64) + 15 * 2 * 64 == 555_840


def test_no_bias_override() -> None:
    rep = run("input: 8x8x3\nlayers: [conv 4 3x3, fc 2]\n", no_bias=True)
    assert rep.total.biases == 0 and rep.total.params == 3 * 3 * 3 * 4 + 6 * 6 * 4 * 2


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("layers: [covn 8 3x3]", UnknownNameError, "unknown op or block `covn`; did you mean `conv`?"),
        ("layers: [conv 8 3x3 strid=2]", UnknownNameError, "no keyword `strid`; did you mean `stride`?"),
        ("layers: [conv 8 3x3 1]", SpecError, "takes 2 positional values"),
        ("layers: [conv 8*alpah 3x3]", CnncalcError, "undefined name 'alpah'"),
        ("params: {a: 0.3}\nlayers: [conv 64*a 3x3]", CnncalcError, "19.2 is not a whole number"),
        ("layers: [conv 8 3x3 from=nothere]", UnknownNameError, "names no layer defined before this point"),
        ("layers:\n  - add:\n    - conv 5 1x1\n    - identity", ShapeError, "add inputs must have the same shape"),
        ("layers:\n  - concat:\n    - conv 4 3x3\n    - identity", ShapeError, "disagree in height x width"),
        ("blocks: {'b(x)': b x}\nlayers: [b 1]", SpecError, "calls itself (b -> b)"),
        ("blocks: {'b(x)': conv x 1x1}\nlayers: [b 1 2]", SpecError, "takes 1 positional argument"),
        ("layers: [conv 8 3x3 repeat=10**9]", SpecError, "exceeds the limit"),
        ("layers: [conv 10**30 3x3]", CnncalcError, "exceeds the limit"),
        ("layers:\n  - conv 8 3x3  => 7x7x8", ExpectationError, "produces 6x6x8, but the spec says => 7x7x8"),
        ("rounding: exact\nlayers: [conv 8 3x3 stride=2]", ShapeError, "is not a whole number"),
        ("layers: [maxpool 3x3 stride=2 ceil=maybe]", CnncalcError, "`ceil` must be true or false, got `maybe`"),
    ],
)
def test_errors(text: str, error: type, message: str) -> None:
    with pytest.raises(error) as info:
        run("input: 8x8x4\n" + text + "\n")
    assert message in str(info.value)
    assert info.value.location is not None and info.value.location.line > 0


def test_error_inside_a_block_names_the_call_chain() -> None:
    text = "input: 8x8x4\nblocks:\n  'inner(c)': conv c 3x3 groups=3\n  'outer(c)': inner c\nlayers:\n  - outer 6\n"
    with pytest.raises(ShapeError) as info:
        run(text)
    err = info.value
    assert err.location is not None and err.location.line == 3
    assert "in block `inner`" in str(err) and "in block `outer`" in str(err)
    assert "input 8x8x4" in str(err)


def test_flow_list_trap_warns_but_does_not_fail() -> None:
    rep = run("input: 8x8x4\nlayers:\n  - concat: [conv 4 1x1, relu]\n")
    assert str(rep.output) == "8x8x8"
    assert len(rep.warnings) == 1
    w = rep.warnings[0]
    assert w.severity == "warning" and "commas separate branches" in w.message
    assert w.location is not None and (w.location.line, w.location.column) == (3, 26)


def test_residual_mismatch_suggests_the_projection() -> None:
    text = (
        "input: 56x56x64\nblocks:\n  'b(out, stride=1)':\n    - add:\n        - conv out 3x3 stride=stride pad=1\n"
        "        - identity\nlayers:\n  - b 128 stride=2\n"
    )
    with pytest.raises(ShapeError) as info:
        run(text)
    want = "help: the shortcut must map 56x56x64 to 28x28x128; use a projection such as `conv 128 1x1 stride=2, bn`"
    assert want in str(info.value)
