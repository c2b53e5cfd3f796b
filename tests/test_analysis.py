"""Counting and expectations, with the lecture's numbers written out as arithmetic."""

from __future__ import annotations

from cnncalc.analysis import check_expectations, compare
from cnncalc.api import analyze_spec
from cnncalc.spec import parse_spec
from tests.helpers import run

# The lecture's naive Inception module on 28x28x256 ("Total: 854M ops").
NAIVE_TERMS = [28 * 28 * 128 * 1 * 1 * 256, 28 * 28 * 192 * 3 * 3 * 256, 28 * 28 * 96 * 5 * 5 * 256]
# The bottleneck module's six listed terms; they sum to 271,351,808, not the slide's "358M".
BOTTLENECK_TERMS = [
    28 * 28 * 64 * 1 * 1 * 256,
    28 * 28 * 64 * 1 * 1 * 256,
    28 * 28 * 128 * 1 * 1 * 256,
    28 * 28 * 192 * 3 * 3 * 64,
    28 * 28 * 96 * 5 * 5 * 64,
    28 * 28 * 64 * 1 * 1 * 256,
]


def test_inception_naive_is_854m() -> None:
    rep = analyze_spec("inception-naive")
    assert sum(NAIVE_TERMS) == 854_196_224
    assert rep.total.macs == sum(NAIVE_TERMS)
    assert str(rep.output) == "28x28x672"  # 128 + 192 + 96 + 256
    assert sorted(r.macs for r in rep.layers if r.macs) == sorted(NAIVE_TERMS)


def test_inception_bottleneck_is_271m_not_358m() -> None:
    rep = analyze_spec("inception-bottleneck")
    assert sum(BOTTLENECK_TERMS) == 271_351_808
    assert rep.total.macs == sum(BOTTLENECK_TERMS)
    assert sum(BOTTLENECK_TERMS) + 28 * 28 * 192 * 3 * 3 * 64 == 358_055_936  # the slide's slip
    assert str(rep.output) == "28x28x480"  # 128 + 192 + 96 + 64
    assert sorted(r.macs for r in rep.layers if r.macs) == sorted(BOTTLENECK_TERMS)


def test_compare_ratio_is_exact() -> None:
    comp = compare([analyze_spec("inception-naive"), analyze_spec("inception-bottleneck")])
    from fractions import Fraction

    assert comp.ratio(1, "macs") == Fraction(271_351_808, 854_196_224)


def test_alexnet_two_tower_matches_the_lecture() -> None:
    rep = analyze_spec("alexnet")
    conv = [r for r in rep.layers if r.op == "conv"]
    fc = [r for r in rep.layers if r.op == "fc"]
    assert [r.params for r in conv] == [
        11 * 11 * 3 * 96 + 96,
        5 * 5 * 48 * 256 + 256,  # groups=2: each filter sees 96/2 channels
        3 * 3 * 256 * 384 + 384,
        3 * 3 * 192 * 384 + 384,
        3 * 3 * 192 * 256 + 256,
    ]
    assert [r.params for r in fc] == [6 * 6 * 256 * 4096 + 4096, 4096 * 4096 + 4096, 4096 * 1000 + 1000]
    assert rep.total.params == 60_965_224  # lecture: "Weights: 61M"
    assert rep.total.macs == 724_406_816  # lecture: "FLOPS: 724M" (MACs)
    assert rep.total.flops == 2 * 724_406_816
    one = analyze_spec("alexnet", variant="alexnet-one-tower")
    assert (one.total.params, one.total.macs) == (62_378_344, 1_135_256_096)


def test_vgg16_no_bias_reproduces_the_lectures_table() -> None:
    """The lecture's "VGG13 - Parameter count per layer (No bias)" table lists VGG-16's 13 convs and 3 FCs."""
    table = [
        3 * 3 * 3 * 64,
        3 * 3 * 64 * 64,
        3 * 3 * 64 * 128,
        3 * 3 * 128 * 128,
        3 * 3 * 128 * 256,
        3 * 3 * 256 * 256,
        3 * 3 * 256 * 256,
        3 * 3 * 256 * 512,
        3 * 3 * 512 * 512,
        3 * 3 * 512 * 512,
        3 * 3 * 512 * 512,
        3 * 3 * 512 * 512,
        3 * 3 * 512 * 512,
        7 * 7 * 512 * 4096,
        4096 * 4096,
        4096 * 1000,
    ]
    assert table[0] == 1_728 and table[1] == 36_864 and table[13] == 102_760_448 and table[15] == 4_096_000
    rep = analyze_spec("vgg16", no_bias=True)
    assert [r.params for r in rep.layers if r.params] == table
    assert rep.total.params == sum(table) == 138_344_128
    shapes = [str(r.output) for r in rep.layers if r.op == "maxpool"]
    assert shapes == ["112x112x64", "56x56x128", "28x28x256", "14x14x512", "7x7x512"]


def test_lenet5_paper_by_hand() -> None:
    """LeCun et al. 1998: 60,000 trainable parameters and 340,908 connections (the lecture's 60k and 341k)."""
    rep = analyze_spec("lenet5")
    c3_connections = 6 * 3 + 6 * 4 + 3 * 4 + 1 * 6  # Table I: 60 of the 6 x 16 map pairs
    params = {
        "C1": 6 * (5 * 5 * 1 + 1),  # 156
        "S2": 6 * 2,  # a coefficient and a bias per map
        "C3": 5 * 5 * c3_connections + 16,  # 1,516
        "S4": 16 * 2,
        "C5": 120 * (5 * 5 * 16 + 1),  # 48,120
        "F6": 84 * (120 + 1),  # 10,164
    }
    assert sum(params.values()) == rep.total.params == 60_000
    for name, value in params.items():
        assert sum(r.params for r in rep.find(name)) == value
    assert rep.total.buffers == 84 * 10  # the RBF's hand-chosen vectors: fixed, not trained
    macs = 28 * 28 * 6 * 25 + 10 * 10 * 25 * c3_connections + 120 * 25 * 16 + 120 * 84 + 84 * 10
    assert rep.total.macs == macs == 326_520
    # The paper's connections add one per bias and the subsampling layers' inputs and biases:
    biases = 28 * 28 * 6 + 10 * 10 * 16 + 120 + 84
    subsampling = 14 * 14 * 6 * (4 + 1) + 5 * 5 * 16 * (4 + 1)
    assert macs + biases + subsampling == 340_908


def test_lenet5_simplified_by_hand() -> None:
    rep = analyze_spec("lenet5", variant="lenet5-simplified")
    params = [5 * 5 * 1 * 6 + 6, 5 * 5 * 6 * 16 + 16, 5 * 5 * 16 * 120 + 120, 120 * 84 + 84, 84 * 10 + 10]
    assert [r.params for r in rep.layers if r.params] == params
    assert rep.total.params == sum(params) == 61_706
    macs = [28 * 28 * 6 * 25, 10 * 10 * 16 * 25 * 6, 1 * 1 * 120 * 25 * 16, 120 * 84, 84 * 10]
    assert rep.total.macs == sum(macs) == 416_520


def test_totals_are_sums_of_layers() -> None:
    for name in ("alexnet", "googlenet", "resnet50", "densenet121"):
        rep = analyze_spec(name)
        assert rep.total.params == sum(r.params for r in rep.layers)
        assert rep.total.macs == sum(r.macs for r in rep.layers)
        assert rep.total.activations == sum(r.output.numel for r in rep.layers)
        assert rep.total.buffers == sum(r.buffers for r in rep.layers)


def test_failed_total_names_the_biggest_layers() -> None:
    text = (
        "input: 227x227x3\nlayers:\n  - conv1: conv 96 11x11 stride=4\n  - fc 10\n"  # 105,415,200 + 55*55*96*10
        "expect:\n  macs: {value: ~100M, source: 'a slide'}\n  params: 34_944\n"
    )
    spec = parse_spec(text, "t.yaml")
    rep = run(text)
    failures = check_expectations(rep, spec.expect)
    assert len(failures) == 2
    macs = next(f for f in failures if "macs" in f.message)
    text_out = str(macs)
    assert "expected ~100M, computed 108,319,200 (+8,319,200, +8.3%)" in text_out
    assert "source: a slide" in text_out and "conv1 105,415,200" in text_out
    assert macs.location is not None and macs.location.line == 6


def test_layer_and_group_expectations() -> None:
    text = (
        "input: 8x8x1\nlayers:\n  - a: conv 2 3x3, relu\n"
        "expect:\n  layers:\n    a: {shape: 6x6x2, params: 20}\n    a.conv: {macs: 648}\n    b: {params: 1}\n"
    )
    failures = check_expectations(run(text), parse_spec(text, "t.yaml").expect)
    assert [f.code for f in failures] == ["E503"] and "no layer `b`" in failures[0].message
