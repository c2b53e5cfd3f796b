"""The layer registry: each formula against hand arithmetic (the lecture's examples where it has them)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncalc.errors import ShapeError
from cnncalc.layers import LAYER_TYPES
from tests.helpers import one, run


def test_alexnet_conv1() -> None:
    r = one("conv 96 11x11 stride=4", "227x227x3").layers[0]
    assert str(r.output) == "55x55x96"
    assert r.weights == (11 * 11 * 3) * 96 == 34_848  # the lecture's "35K (without bias)"
    assert r.params == (11 * 11 * 3) * 96 + 96 == 34_944
    assert r.macs == 55 * 55 * 96 * (11 * 11 * 3) == 105_415_200


def test_vgg_first_conv_and_first_fc() -> None:
    r = one("conv 64 3x3 pad=1 bias=false").layers[0]
    assert r.params == 3 * 3 * 3 * 64 == 1_728
    fc = one("fc 4096 bias=false", "7x7x512").layers[0]
    assert fc.params == 7 * 7 * 512 * 4096 == 102_760_448
    assert fc.macs == 7 * 7 * 512 * 4096
    assert fc.output.dims == (4096,)


def test_grouped_conv() -> None:
    r = one("conv 256 5x5 pad=2 groups=2", "27x27x96").layers[0]  # AlexNet conv2, two towers
    assert r.params == 5 * 5 * (96 // 2) * 256 + 256 == 307_456
    assert r.macs == 27 * 27 * 256 * (96 // 2) * 5 * 5 == 223_948_800


def test_depthwise_conv() -> None:
    r = one("dwconv 3x3 stride=2 pad=1 bias=false", "112x112x32").layers[0]
    assert str(r.output) == "56x56x32"
    assert r.params == 3 * 3 * 32 == 288
    assert r.macs == 56 * 56 * 32 * 3 * 3
    r2 = one("dwconv 3x3 pad=1 mult=2", "8x8x4").layers[0]
    assert r2.output.c == 8 and r2.params == 3 * 3 * 8 + 8


def test_asymmetric_kernel_and_padding() -> None:
    r = one("conv 192 1x7 pad=0x3 bias=false", "17x17x128").layers[0]
    assert str(r.output) == "17x17x192"
    assert r.params == 1 * 7 * 128 * 192
    r = run(
        "input: 8x8x1\nlayers:\n  - {op: conv, out: 8, kernel: 3x3, stride: 2,"
        " pad: {top: 0, bottom: 1, left: 0, right: 1}}\n"
    )
    assert str(r.output) == "4x4x8"  # floor((8 + 0 + 1 - 3)/2) + 1 = 4
    assert r.layers[0].info["pads"] == (0, 1, 0, 1)


def test_same_padding() -> None:
    assert str(one("conv 32 3x3 stride=2 pad=same", "224x224x3").output) == "112x112x32"
    assert str(one("maxpool 3x3 stride=2 pad=same", "15x15x8").output) == "8x8x8"


def test_batch_norm_params_and_buffers() -> None:
    r = one("bn", "56x56x64").layers[0]
    assert (r.weights, r.biases, r.buffers, r.macs) == (64, 64, 2 * 64, 0)


def test_pooling_defaults_stride_to_kernel_and_ceil() -> None:
    assert str(one("maxpool 2x2", "224x224x64").output) == "112x112x64"
    assert str(one("maxpool 3x3 stride=2 ceil=true", "112x112x64").output) == "56x56x64"
    assert str(one("gap", "7x7x2048").output) == "1x1x2048"
    assert str(one("adaptive_avgpool 6x6", "6x6x256").output) == "6x6x256"


@pytest.mark.parametrize(
    "op",
    [
        "relu",
        "relu6",
        "sigmoid",
        "tanh",
        "swish",
        "hswish",
        "hsigmoid",
        "dropout 0.5",
        "lrn 5",
        "identity",
        "leaky 0.1",
        "elu",
        "gelu",
        "softmax",
        "scale 0.17",
        "shuffle 3",
    ],
)
def test_zero_cost_ops_keep_the_shape(op: str) -> None:
    r = one(op, "14x14x240").layers[0]
    assert str(r.output) == "14x14x240" and (r.params, r.macs, r.buffers) == (0, 0, 0)


def test_flatten_and_split() -> None:
    assert one("flatten", "6x6x256").output.dims == (9216,)
    assert str(one("split 2 index=1", "28x28x116").output) == "28x28x58"


@pytest.mark.parametrize(
    ("layer", "shape", "message"),
    [
        ("conv 64 3x3 groups=3", "8x8x32", "groups=3 must divide the input channels (32)"),
        ("conv 8 5x5", "3x3x1", "smaller than the 5-pixel kernel"),
        ("shuffle 5", "8x8x32", "must divide the channels (32)"),
        ("conv 8 3x3", "", "needs an HxWxC input"),
    ],
)
def test_shape_errors(layer: str, shape: str, message: str) -> None:
    text = f"input: {shape or '4x4x2'}\nlayers:\n" + ("  - fc 10\n" if not shape else "") + f"  - {layer}\n"
    with pytest.raises(ShapeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(text)


def test_every_registry_entry_is_documented() -> None:
    for name, lt in LAYER_TYPES.items():
        assert lt.summary, name
        assert lt.params_doc and lt.macs_doc, name


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 64),
    st.integers(1, 64),
    st.integers(1, 16),
    st.integers(1, 16),
    st.sampled_from([1, 3, 5]),
    st.integers(1, 2),
)
def test_conv_algebra(h: int, w: int, cin: int, cout: int, k: int, s: int) -> None:
    """Params don't depend on H, W; MACs = weights x H' x W'; 'same' with stride 1 keeps H x W."""
    r = one(f"conv {cout} {k}x{k} stride={s} pad=same", f"{h}x{w}x{cin}").layers[0]
    r2 = one(f"conv {cout} {k}x{k} stride={s} pad=same", f"{h + 7}x{w + 3}x{cin}").layers[0]
    assert r.params == r2.params == k * k * cin * cout + cout
    assert r.macs == r.weights * r.output.h * r.output.w
    if s == 1:
        assert (r.output.h, r.output.w) == (h, w)


def test_connection_table_and_lenet_layers() -> None:
    table = "[[0, 1], [1, 2], [0, 1, 2]]"
    r = one(f"conv 3 5x5 table={table}", "14x14x3").layers[0]
    assert r.params == 5 * 5 * (2 + 2 + 3) + 3
    assert r.macs == 10 * 10 * 5 * 5 * (2 + 2 + 3)
    with pytest.raises(ShapeError, match="row 0 must list distinct input channels 0..2"):
        one("conv 2 3x3 table=[[0, 7], [1]]", "8x8x3")
    s = one("subsample_pool 2x2", "28x28x6").layers[0]
    assert str(s.output) == "14x14x6" and s.params == 6 * 2 and s.macs == 0
    rbf = run("input: 1x1x84\nlayers: [rbf 10]\n").layers[0]
    assert (rbf.params, rbf.buffers, rbf.macs) == (0, 84 * 10, 84 * 10)
