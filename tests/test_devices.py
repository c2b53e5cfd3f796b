"""The roofline latency estimate: hand arithmetic, bounds, batch scaling, bundled profiles, errors."""

from __future__ import annotations

import subprocess
import sys
from types import MappingProxyType

import pytest

from cnncalc.api import analyze_spec
from cnncalc.devices import (
    DTYPE_BYTES,
    Device,
    DeviceError,
    UnknownDeviceError,
    UnsupportedDtypeError,
    get_device,
    load_devices,
    roofline,
)
from cnncalc.errors import CnncalcError, UnknownNameError
from tests.helpers import run

# 8x8x3 -> conv 16 3x3 pad=1 -> 8x8x16
#   MACs   = 8*8*16 * 3*3*3 = 27,648     FLOPs = 55,296
#   params = 16*3*3*3 + 16  = 448
#   elements in 192, out 1,024
ONE_CONV = "input: 8x8x3\nlayers:\n  - conv 16 3x3 pad=1\n"
FLOPS = 55_296
BYTES_FP32 = (192 + 1024) * 4 + 448 * 4  # 6,656
BYTES_FP16 = (192 + 1024) * 2 + 448 * 2  # 3,328


def toy(peak: int, bandwidth: int, **more: int) -> Device:
    """A device with round figures."""
    return Device("toy", "Toy", MappingProxyType({"fp32": peak, **more}), bandwidth, "made up for tests")


def test_one_conv_by_hand() -> None:
    rep = run(ONE_CONV)
    assert rep.total.macs == 27_648 and rep.total.params == 448
    est = roofline(rep, toy(peak=1_000, bandwidth=100), "fp32")
    (layer,) = est.layers
    assert (layer.flops, layer.bytes) == (FLOPS, BYTES_FP32)
    assert isinstance(layer.flops, int) and isinstance(layer.bytes, int)
    assert layer.compute_time == pytest.approx(55.296)
    assert layer.memory_time == pytest.approx(66.56)
    assert layer.bound == "memory"
    assert layer.time == pytest.approx(66.56)
    assert layer.intensity == pytest.approx(FLOPS / BYTES_FP32)
    assert (est.flops, est.bytes) == (FLOPS, BYTES_FP32)
    assert est.time == pytest.approx(66.56)
    assert est.compute_share == 0.0
    assert est.throughput == pytest.approx(1 / 66.56)


def test_dtype_sets_the_bytes_and_the_peak() -> None:
    est = roofline(run(ONE_CONV), toy(peak=1_000, bandwidth=100, fp16=4_000, int8=8_000), "fp16")
    (layer,) = est.layers
    assert (layer.flops, layer.bytes) == (FLOPS, BYTES_FP16)
    assert layer.compute_time == pytest.approx(FLOPS / 4_000)
    assert layer.memory_time == pytest.approx(BYTES_FP16 / 100)
    int8 = roofline(run(ONE_CONV), toy(peak=1_000, bandwidth=100, int8=8_000), "int8").layers[0]
    assert int8.bytes == (192 + 1024) + 448


def test_compute_vs_memory_bound_switches_at_the_ridge() -> None:
    rep = run(ONE_CONV)
    # ridge = peak / bandwidth FLOPs per byte; the layer's intensity is 55,296 / 6,656 = 8.3077
    assert roofline(rep, toy(peak=1_000, bandwidth=100), "fp32").layers[0].bound == "memory"  # ridge 10
    fast_mem = roofline(rep, toy(peak=1_000, bandwidth=1_000), "fp32")  # ridge 1
    assert fast_mem.layers[0].bound == "compute"
    assert fast_mem.time == pytest.approx(55.296)
    assert fast_mem.compute_share == 1.0
    # exactly at the ridge (flops/peak == bytes/bw) the layer counts as memory-bound
    tie = toy(peak=FLOPS, bandwidth=BYTES_FP32)
    assert tie.ridge("fp32") == pytest.approx(FLOPS / BYTES_FP32)
    at = roofline(rep, tie, "fp32").layers[0]
    assert at.compute_time == at.memory_time == 1.0 and at.bound == "memory"


def test_batch_scales_activations_not_params() -> None:
    rep = run(ONE_CONV)
    dev = toy(peak=1_000, bandwidth=100)
    one, four = roofline(rep, dev, "fp32"), roofline(rep, dev, "fp32", batch=4)
    assert four.flops == 4 * FLOPS
    assert four.bytes == (192 + 1024) * 4 * 4 + 448 * 4
    assert four.bytes < 4 * one.bytes  # weights are read once per batch
    assert four.layers[0].intensity > one.layers[0].intensity
    assert four.batch == 4


def test_elementwise_layers_cost_bytes_not_flops() -> None:
    rep = run("input: 8x8x16\nlayers:\n  - bn\n  - relu\n  - maxpool 2x2 stride=2\n")
    est = roofline(rep, toy(peak=1_000, bandwidth=100), "fp32")
    bn, relu, pool = est.layers
    assert [x.flops for x in est.layers] == [0, 0, 0]
    assert bn.bytes == (1024 + 1024) * 4 + 32 * 4  # gamma, beta are params; running stats are buffers, not bytes
    assert relu.bytes == (1024 + 1024) * 4
    assert pool.bytes == (1024 + 256) * 4
    assert all(x.bound == "memory" for x in est.layers)
    assert est.compute_share == 0.0


def test_a_join_reads_every_input() -> None:
    rep = run("input: 4x4x8\nlayers:\n  - add: [conv 8 1x1 bias=false, identity]\n")
    est = roofline(rep, toy(peak=10**9, bandwidth=10**9), "fp32")
    add = next(x for x in est.layers if x.op == "add")
    assert add.bytes == (128 + 128 + 128) * 4


def test_totals_sum_the_layers() -> None:
    rep = run("input: 8x8x3\nlayers:\n  - conv 16 3x3 pad=1, relu\n  - fc 10\n")
    est = roofline(rep, toy(peak=1_000, bandwidth=1_000), "fp32", batch=2)
    assert est.flops == 2 * rep.total.flops
    assert est.bytes == sum(x.bytes for x in est.layers)
    assert est.time == pytest.approx(sum(x.time for x in est.layers))
    computed = sum(x.time for x in est.layers if x.bound == "compute")
    assert est.compute_time == pytest.approx(computed)
    assert est.memory_time == pytest.approx(est.time - computed)
    assert est.compute_share == pytest.approx(computed / est.time)
    assert 0 < est.compute_share < 1


def test_a_real_network_on_a_bundled_device() -> None:
    rep = analyze_spec("resnet50")
    est = roofline(rep, "nvidia-a100-sxm4-40gb", "fp16", batch=8)
    assert est.flops == 2 * rep.total.macs * 8
    assert len(est.layers) == len(rep.layers)
    assert est.device.key == "nvidia-a100-sxm4-40gb"
    assert 0 < est.time < 1 and 0 <= est.compute_share <= 1
    # a bigger batch never lowers the throughput (param bytes are shared)
    assert roofline(rep, est.device, "fp16", batch=64).throughput >= est.throughput


def test_every_bundled_device_has_a_source_and_positive_figures() -> None:
    devices = load_devices()
    assert {
        "nvidia-a100-sxm4-40gb",
        "nvidia-t4",
        "nvidia-rtx-3090",
        "apple-m1",
        "raspberry-pi-4",
        "intel-xeon-8380",
        "jetson-nano",
    } <= set(devices)
    for key, dev in devices.items():
        assert dev.key == key and dev.name
        assert len(dev.source) > 40, key
        assert isinstance(dev.bandwidth, int) and dev.bandwidth > 0
        assert dev.dtypes and set(dev.peak_flops) <= set(DTYPE_BYTES)
        assert "fp32" in dev.peak_flops, key
        for dtype, value in dev.peak_flops.items():
            assert isinstance(value, int) and value > 0, (key, dtype)
            assert dev.peak(dtype) == value
            assert value >= dev.peak_flops["fp32"], (key, dtype)  # no narrower dtype is slower than fp32 here


def test_unsupported_dtype_lists_what_the_device_has() -> None:
    with pytest.raises(UnsupportedDtypeError) as err:
        roofline(run(ONE_CONV), get_device("raspberry-pi-4"), "fp16")
    assert "`raspberry-pi-4` has no fp16 figure; it has fp32" in err.value.message
    assert isinstance(err.value, CnncalcError)
    with pytest.raises(UnsupportedDtypeError, match="`nvidia-a100-sxm4-40gb` has fp32, tf32, fp16, bf16, int8"):
        get_device("nvidia-a100-sxm4-40gb").peak("fp64")
    with pytest.raises(UnsupportedDtypeError, match=r"unknown dtype `fp61`; did you mean `fp16`\?"):
        get_device("nvidia-t4").peak("fp61")


def test_unknown_device_suggests_a_name() -> None:
    with pytest.raises(UnknownDeviceError, match=r"unknown device `nvidia-t5`; did you mean `nvidia-t4`\?") as err:
        roofline(run(ONE_CONV), "nvidia-t5", "fp32")
    assert isinstance(err.value, UnknownNameError) and isinstance(err.value, DeviceError)
    assert any("jetson-nano" in n for n in err.value.notes)
    with pytest.raises(UnknownDeviceError) as far:
        get_device("cray-1")
    assert "did you mean" not in far.value.message


@pytest.mark.parametrize("batch", [0, -1, True, 1.5])
def test_batch_must_be_a_whole_number(batch: object) -> None:
    with pytest.raises(DeviceError, match="batch"):
        roofline(run(ONE_CONV), toy(1, 1), "fp32", batch=batch)  # type: ignore[arg-type]


def test_import_stays_light() -> None:
    code = "import sys, cnncalc.devices, cnncalc.render.plot; print(sorted(m for m in ('matplotlib', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
