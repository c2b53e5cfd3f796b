"""Expansion and shape propagation: chains, joins, blocks, repeats, references, errors."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from cnncalc import graph
from cnncalc.analysis import analyze, check_spec_file
from cnncalc.errors import CnncalcError, ExpectationError, ShapeError, SpecError, UnknownNameError
from cnncalc.graph import LayerPath, build_graph
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
    assert not any(p.startswith("conv2_x.bottleneck#2.add.b2") for p in paths)  # no `else`: the input itself, no row
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


# --------------------------------------------------------------------------- issue 11: valid specs, PyTorch's validity


def test_whole_valued_rationals_are_whole() -> None:
    rep = run(
        "input: 16x16x3\nparams: {alpha: 0.5}\nlayers:\n  - conv 64*alpha 1x1\n  - conv 0.29*100 3x3 pad=1\n"
        "  - conv (0.1+0.2)*10 3x3 pad=1\n  - conv .5*20 (4*alpha)x(4*alpha)\n"
    )
    assert [r.output.c for r in rep.layers] == [32, 29, 3, 10]
    kernel = rep.layers[3].attrs["kernel"]
    assert (kernel.a, kernel.b) == (2, 2) and type(kernel.a) is int  # not Fraction(2, 1)
    assert all(type(r.attrs["out"]) is int for r in rep.layers)
    assert rep.layers[0].params == 3 * 32 + 32


@pytest.mark.parametrize(
    "line",
    [
        '"conv 4 3x3 pad={top: 0, bottom: 1, left: 0, right: 1}"',  # the README's form, the line quoted
        "conv 4 3x3 pad={top:0,bottom:1,left:0,right:1}",  # plain YAML: no space after the colons
        "{op: conv, out: 4, kernel: 3x3, pad: {top: 0, bottom: 1, left: 0, right: 1}}",  # the long form
    ],
)
def test_per_side_padding_in_an_op_line(line: str) -> None:
    rep = run(f"input: 8x8x3\nlayers:\n  - {line}\n")
    (conv,) = rep.layers
    assert conv.attrs["pad"] == (0, 1, 0, 1)
    assert str(conv.output) == "7x7x4"  # (8 + 0 + 1 - 3) + 1 = 7 on both axes


def test_per_side_padding_of_zeropad_by_position() -> None:
    rep = run("input: 8x8x3\nlayers:\n  - zeropad {top:1,bottom:0,left:2,right:0}\n")
    assert str(rep.output) == "9x10x3"


def test_named_layers_in_a_repeat_get_a_path_each() -> None:
    text = (
        "input: 8x8x3\nlayers:\n  - repeat: 3\n    do:\n      - x: conv 4 3x3 pad=1\n      - relu\n"
        "      - y:\n          add: [identity]\n          from: x\n"
    )
    rep = run(text)
    paths = [r.path for r in rep.layers]
    assert paths[:4] == ["repeat.x#1", "repeat.relu#1", "repeat.y#1.identity", "repeat.y#1"]
    assert len(set(paths)) == len(paths) == 12
    assert [r.path for r in rep.find("repeat.x#2")] == ["repeat.x#2"]
    assert rep.find("repeat.x") == []  # no longer the sum of three layers
    adds = [r for r in rep.layers if r.op == "add"]
    assert [rep.layers[a.sources[1]].path for a in adds] == ["repeat.x#1", "repeat.x#2", "repeat.x#3"]


def test_named_layer_in_a_repeat_by_keyword_and_in_if_branches() -> None:
    rep = run(
        "input: 8x8x3\nlayers:\n  - repeat: 2\n    do:\n      - if: i == 0\n        then:\n          - a: conv 4 1x1\n"
        "        else:\n          - b: conv 4 3x3 pad=1\n  - z: relu repeat=2\n"
    )
    assert [r.path for r in rep.layers] == ["repeat.a#1", "repeat.b#1", "z.relu#1", "z.relu#2"]
    assert [r.params for r in rep.layers[:2]] == [3 * 4 + 4, 9 * 4 * 4 + 4]


def test_a_parameter_cannot_take_a_built_in_name() -> None:
    for text in ("params: {in_c: 5}\nlayers: [conv in_c 1x1]", "blocks: {'b(c, in_h=1)': conv c 1x1}\nlayers: [b 4]"):
        with pytest.raises(SpecError, match="is a built-in name") as info:
            run("input: 8x8x3\n" + text + "\n")
        assert info.value.code == "E206" and info.value.location is not None


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        ("maxpool 3 stride=2 pad=1", "2x2x1"),  # at most kernel // 2: allowed
        ("avgpool 4 stride=1 pad=2", "4x4x1"),
        ("maxpool 4 stride=2 ceil=true", "1x1x1"),  # PyTorch: the window may overhang by less than the stride
        ("maxpool 5 stride=4 ceil=true", "1x1x1"),
        ("avgpool 4 stride=2 ceil=true", "1x1x1"),
        ("maxpool 3 stride=2 pad={top:2,bottom:2,left:0,right:0}", "3x1x1"),  # ZeroPad2d + pool: not limited
        ("maxpool 2 stride=3 pad=same", "1x1x1"),
    ],
)
def test_pooling_as_pytorch_accepts(layer: str, shape: str) -> None:
    assert str(run(f"input: 3x3x1\nlayers:\n  - {layer}\n").output) == shape


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("maxpool 3 stride=2 pad=2", "pad=2 is more than half its 3x3 kernel, which PyTorch's pooling refuses"),
        ("maxpool 3 stride=1 pad=2 dilation=2", "pad=2 is more than half its 3x3 kernel"),  # dilation does not help
        ("avgpool 2x4 pad=0x3", "pad=0x3 is more than half its 2x4 kernel"),
        ("subsample_pool 2 pad=2", "pad=2 is more than half"),
        ("maxpool 4 stride=2", "smaller than the 4-pixel kernel"),  # floor mode: no overhang
        ("maxpool 5 stride=2 ceil=true", "smaller than the 5-pixel kernel"),  # PyTorch: output size too small
    ],
)
def test_pooling_as_pytorch_refuses(layer: str, message: str) -> None:
    with pytest.raises(ShapeError, match=message) as info:
        run(f"input: 3x3x1\nlayers:\n  - {layer}\n")
    assert info.value.code == "E401" and info.value.location is not None


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ("fc 12, lrn 5", "`lrn` needs an HxWxC input"),
        ("fc 12, shuffle 3", "`shuffle` needs an HxWxC input"),
    ],
)
def test_flat_vectors_have_no_channels_to_normalise_or_shuffle(layers: str, message: str) -> None:
    with pytest.raises(ShapeError, match=message) as info:
        run(f"input: 8x8x3\nlayers: [{layers}]\n")
    assert info.value.code == "E400"


def test_a_gate_scales_positions_of_a_map_never_a_flat_vector() -> None:
    gate = "input: {}\nlayers:\n  - mul:\n      - {}\n      - identity\n"
    assert str(run(gate.format("1x1x3", "identity")).output) == "1x1x3"
    assert str(run("input: 8x8x3\nlayers:\n  - mul:\n      - identity\n      - gap\n").output) == "8x8x3"
    assert str(run("input: 8x8x3\nlayers:\n  - gap, flatten\n  - mul: [identity, fc 3]\n").output) == "3"
    # a flat gate of C values (SE with linear layers, viewed as C x 1 x 1) scales a map: the map's shape
    assert (
        str(run("input: 8x8x3\nlayers:\n  - mul:\n      - identity\n      - [gap, flatten, fc 3]\n").output) == "8x8x3"
    )
    with pytest.raises(ShapeError, match="mul mixes a flat vector and HxWxC inputs: 3, 1x1x3") as info:
        run(gate.format("1x1x3", "flatten"))
    assert info.value.code == "E404"


# --------------------------------------------------------------------------- issue 11: shared paths, budgets per file


def _deep_names(levels: int, length: int, repeat: int) -> str:
    """Blocks nested ``levels`` deep, each called by a name of ``length`` characters; the innermost repeats relu."""
    names = [f"b{k:02d}" + "x" * (length - 3) for k in range(levels)]
    lines = ["input: 8x8x3", "blocks:"]
    for k, name in enumerate(names):
        inner = f"relu repeat={repeat}" if k == levels - 1 else f"{names[k + 1]}: {names[k + 1]}"
        lines += [f"  {name}():", f"    - {inner}"]
    return "\n".join([*lines, "layers:", f"  - {names[0]}: {names[0]}", ""])


def test_layer_paths_are_shared_not_copied() -> None:
    text = _deep_names(levels=20, length=200, repeat=5000)
    tracemalloc.start()
    try:
        spec = parse_spec(text, "t.yaml")
        rep = analyze(build_graph(spec))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    path_text = 20 * 201 + len("relu#5000")
    assert len(rep.layers) == 5000 and len(rep.layers[-1].path) == path_text
    assert rep.layers[-1].path.endswith("x.relu#5000") and rep.layers[0].path.startswith("b00xx")
    assert peak < 5000 * path_text / 4  # the paths' text alone would take 4 times this (20 MB)
    refs = [r.node.ref for r in rep.layers[:2]]  # the stored path objects (LayerResult.path makes their text)
    assert isinstance(refs[0], LayerPath) and refs[0].parent is refs[1].parent  # one parent object for siblings
    assert str(refs[0]) == rep.layers[0].path
    assert refs[0] == LayerPath.parse(rep.layers[0].path) and hash(refs[0]) == hash(LayerPath.parse(str(refs[0])))
    assert refs[0] != refs[1] and refs[0] != str(refs[0])  # compared by segments, with paths only


@pytest.mark.parametrize(
    ("budget", "value", "message"),
    [
        ("MAX_FILE_LAYERS", 50, "the spec and its variants expand to more than 50 layers in all"),
        ("MAX_FILE_STEPS", 100, "expanding this file takes more than 100 steps in all"),
        ("MAX_FILE_EXPR", 400, "the expressions of this file take more than 400 units of work in all"),
    ],
)
def test_budgets_are_per_file_over_all_variants(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: str, value: int, message: str
) -> None:
    monkeypatch.setattr(graph, budget, value)
    variants = "".join(f"  v{k}: {{n: {20 + k}}}\n" for k in range(1, 40))
    text = f"input: 8x8x3\nparams: {{n: 20}}\nvariants:\n{variants}layers:\n  - conv (n-n+2*4)//2 1x1 repeat=n\n"
    path = tmp_path / "v.yaml"
    path.write_text(text)
    build_graph(parse_spec(text, "v.yaml"))  # one configuration alone stays within every budget
    result = check_spec_file(path)
    assert len(result.configs) < 40, "the variants after the budget ran out are not evaluated"
    (diag,) = result.diagnostics
    assert diag.code == "E104" and message in diag.message and diag.location is not None
    assert diag.location.line == 44 and diag.message.startswith(f"[variant v{len(result.configs) - 1}]")


def test_a_long_path_gives_its_ends_without_its_text() -> None:
    path = LayerPath.parse(".".join(["b" + "x" * 499] * 60 + ["relu#7"]))
    text = str(path)
    assert path.text is None and path.size == len(text) == 60 * 501 + 6
    for n in (0, 1, 10, 499, 500, 501, 502, 40_000):
        assert path.head(n) == text[:n] and path.tail(n) == (text[-n:] if n else "")


def test_branches_are_named_by_the_spec_or_by_what_they_hold() -> None:
    named = run("input: 8x8x16\nlayers:\n  - add:\n      main: [conv 16 3x3 pad=1, bn]\n      shortcut: identity\n")
    assert [r.path for r in named.layers] == ["add.main.conv", "add.main.bn", "add.shortcut.identity", "add"]
    lone = run("input: 8x8x16\nlayers:\n  - add: [conv 16 3x3 pad=1, identity]\n")
    assert [r.path for r in lone.layers] == ["add.conv", "add.identity", "add"]  # each branch one self-named entry
    alike = run("input: 8x8x16\nlayers:\n  - concat: [conv 8 1x1, conv 8 3x3 pad=1]\n")
    assert [r.path for r in alike.layers] == ["concat.b1.conv", "concat.b2.conv", "concat"]  # the same name twice
    chains = run("input: 8x8x16\nlayers:\n  - add: [[conv 16 1x1, relu], identity]\n")
    assert [r.path for r in chains.layers][:2] == ["add.b1.conv", "add.b1.relu"]  # one chain: all numbered


def test_a_branch_name_must_be_a_name() -> None:
    with pytest.raises(SpecError, match="branch name '2x' must be a name"):
        run("input: 8x8x16\nlayers:\n  - add:\n      2x: identity\n      b: identity\n")


def test_a_keyword_an_op_has_is_not_read_as_an_alias() -> None:
    rep = run("input: 8x8x8\nlayers:\n  - lrn 5 k=2\n  - conv 8 k=3\n")
    assert rep.layers[0].attrs["k"] == 2  # lrn's own k, not `kernel`
    assert rep.layers[1].attrs["kernel"] == 3  # `k` is kernel on an op without a k of its own
