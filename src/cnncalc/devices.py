"""A labelled roofline latency *estimate* of a network on a named device.

This is an estimate, not a measurement. For every layer of a :class:`~cnncalc.analysis.Report` it
computes two exact integers and two floats:

* **FLOPs** = 2 x MACs x batch (the report's MACs, so conv, depthwise conv and fc only).
* **bytes moved** = (input elements + output elements) x batch x dtype bytes + params x dtype bytes.
* **compute time** = FLOPs / peak FLOP/s of the device for the dtype.
* **memory time** = bytes / peak memory bandwidth of the device.
* **time** = max(compute time, memory time); the layer is **compute**-bound when its compute time is
  strictly greater than its memory time, otherwise **memory**-bound.

The totals are the sum of the layer times and the share of that time spent in compute-bound layers.

Assumptions, exactly:

* **No fusion.** Every layer is a separate kernel: a conv followed by bn and relu is three layers,
  each reading its input from memory and writing its output back.
* **Every tensor is read and written once**: each input of a layer is read once from memory, its
  output is written once, and its params (weights, biases, BN gamma/beta) are read once per forward
  pass, whatever the batch. Nothing is cached between layers, nothing is re-read (no tiling
  traffic); a join (add, concat, mul, mean) reads every one of its inputs. BN running statistics
  (buffers) are not counted as bytes.
* **Element-wise and data-movement layers** (relu, bn, pooling, add, concat, flatten, dropout, ...)
  cost 0 FLOPs, as everywhere in cnncalc, but their bytes are counted, so they are always
  memory-bound. Flatten and dropout, free in a real framework, are counted too.
* **Peak figures are theoretical**: vendor datasheet peaks (dense, not sparsity figures) or figures
  derived from published clocks and unit counts, as each profile's ``source`` says. Real kernels
  reach a fraction of them, so the estimate is a lower bound on latency, not a prediction.
* **One dtype throughout**: activations and params are both stored in the chosen dtype
  (``fp32``/``tf32`` 4 bytes, ``fp16``/``bf16`` 2, ``int8`` 1); ``tf32`` is a Tensor-Core compute
  mode on fp32 storage.
* **Batch**: FLOPs and activation bytes scale with the batch; param bytes do not (weights are read
  once per batch), so larger batches raise arithmetic intensity.
* Every layer of the report counts, including side heads (auxiliary classifiers), as in the
  report's totals. Launch overheads, host transfers, and compute/memory overlap between layers
  are ignored.

FLOPs and bytes are exact ``int``; times are ``float`` seconds, because they are estimates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from types import MappingProxyType
from typing import Any

from .analysis import DTYPE_BYTES, Report
from .errors import CnncalcError, UnknownNameError
from .spec import did_you_mean

ASSUMPTIONS = (
    "roofline estimate, not a measurement: per layer time = max(FLOPs / peak, bytes / bandwidth); "
    "FLOPs = 2 x MACs x batch; bytes = (input + output elements) x batch x dtype bytes + params x dtype bytes; "
    "no fusion, every tensor read and written once, nothing cached; element-wise layers 0 FLOPs but bytes counted; "
    "peaks are theoretical vendor figures"
)
"""One line restating the model, for table footers."""


class DeviceError(CnncalcError):
    """A device profile or dtype cannot be used (unknown device, dtype it has no figure for, bad profile)."""

    code = "E600"


class UnknownDeviceError(DeviceError, UnknownNameError):
    """No bundled device profile has that name."""

    code = "E601"


class UnsupportedDtypeError(DeviceError):
    """The device profile has no peak figure for the dtype (or the dtype is unknown)."""

    code = "E602"


@dataclass(frozen=True, slots=True)
class Device:
    """One device profile: theoretical peak FLOP/s per dtype, peak memory bandwidth, and their source.

    ``peak_flops`` maps a dtype (``fp32``, ``tf32``, ``fp16``, ``bf16``, ``int8``) to FLOP/s (op/s for
    int8); a dtype is absent when no confident figure exists. ``bandwidth`` is bytes/s.
    """

    key: str
    name: str
    peak_flops: Mapping[str, int] = field(hash=False)
    bandwidth: int
    source: str

    @property
    def dtypes(self) -> tuple[str, ...]:
        """The dtypes this profile has a peak for, in the order of :data:`DTYPE_BYTES`."""
        return tuple(d for d in DTYPE_BYTES if d in self.peak_flops)

    def peak(self, dtype: str) -> int:
        """Peak FLOP/s for ``dtype``; :class:`UnsupportedDtypeError` listing the dtypes it has if none."""
        if dtype not in DTYPE_BYTES:
            raise UnsupportedDtypeError(
                f"unknown dtype `{dtype}`{did_you_mean(dtype, self.dtypes)}; device `{self.key}` has "
                f"{', '.join(self.dtypes)} (cnncalc knows {', '.join(DTYPE_BYTES)})"
            )
        if dtype not in self.peak_flops:
            raise UnsupportedDtypeError(
                f"device `{self.key}` has no {dtype} figure; it has {', '.join(self.dtypes)}",
                notes=(f"source: {self.source}",),
            )
        return self.peak_flops[dtype]

    def ridge(self, dtype: str) -> float:
        """Arithmetic intensity (FLOPs per byte) above which a layer is compute-bound: peak / bandwidth."""
        return self.peak(dtype) / self.bandwidth


def _device(key: str, raw: Mapping[str, Any]) -> Device:
    """Validate one profile from ``devices.json``."""
    try:
        peaks = dict(raw["peak_flops"])
        bandwidth = raw["bandwidth"]
        name, source = raw["name"], raw["source"]
    except (KeyError, TypeError) as err:
        raise DeviceError(f"device profile `{key}` lacks {err}") from None
    for dtype, value in peaks.items():
        if dtype not in DTYPE_BYTES:
            raise DeviceError(f"device profile `{key}`: unknown dtype `{dtype}`")
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise DeviceError(f"device profile `{key}`: {dtype} peak must be a positive integer, got {value!r}")
    if not isinstance(bandwidth, int) or isinstance(bandwidth, bool) or bandwidth <= 0:
        raise DeviceError(f"device profile `{key}`: bandwidth must be a positive integer, got {bandwidth!r}")
    if not peaks or not isinstance(source, str) or not source.strip() or not isinstance(name, str):
        raise DeviceError(f"device profile `{key}` needs a name, a source and at least one peak")
    return Device(key, name, MappingProxyType(peaks), bandwidth, source)


def load_devices() -> dict[str, Device]:
    """The bundled device profiles (``cnncalc/devices.json``), by key, in file order."""
    data = json.loads(files("cnncalc").joinpath("devices.json").read_text(encoding="utf-8"))
    return {key: _device(key, raw) for key, raw in data["devices"].items()}


def get_device(name: str) -> Device:
    """The bundled profile called ``name``; :class:`UnknownDeviceError` with a did-you-mean otherwise."""
    devices = load_devices()
    if name not in devices:
        raise UnknownDeviceError(
            f"unknown device `{name}`{did_you_mean(name, devices)}", notes=(f"devices: {', '.join(devices)}",)
        )
    return devices[name]


@dataclass(frozen=True, slots=True)
class LayerRoofline:
    """One layer's estimate: exact FLOPs and bytes, float times in seconds, and which bound applies."""

    path: str
    op: str
    flops: int
    bytes: int
    compute_time: float
    memory_time: float
    bound: str  # "compute" or "memory"

    @property
    def time(self) -> float:
        """Estimated seconds: max(compute time, memory time)."""
        return max(self.compute_time, self.memory_time)

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOPs per byte moved."""
        return self.flops / self.bytes if self.bytes else 0.0


@dataclass(frozen=True, slots=True)
class Roofline:
    """A whole network's estimate on one device, dtype and batch.

    ``flops`` and ``bytes`` are exact sums; ``time`` (seconds) and ``compute_share`` are floats because
    they are estimates (see the module docstring for the assumptions).
    """

    device: Device
    dtype: str
    batch: int
    layers: tuple[LayerRoofline, ...]
    flops: int
    bytes: int
    time: float
    compute_time: float  # summed time of the compute-bound layers

    @property
    def memory_time(self) -> float:
        """Summed time of the memory-bound layers."""
        return self.time - self.compute_time

    @property
    def compute_share(self) -> float:
        """Fraction of the estimated time spent in compute-bound layers (0 when the time is 0)."""
        return self.compute_time / self.time if self.time else 0.0

    @property
    def throughput(self) -> float:
        """Estimated samples per second: batch / time."""
        return self.batch / self.time if self.time else float("inf")


def roofline(report: Report, device: Device | str, dtype: str, batch: int = 1) -> Roofline:
    """Estimate the latency of one forward pass of ``report`` at ``batch`` on ``device`` in ``dtype``.

    A report analysed with a batch (``analyze(..., batch=N)``) already counts N samples; ``batch`` multiplies
    on top of that (the effective batch is ``report.batch * batch``).

    ``device`` is a :class:`Device` or the key of a bundled profile. FLOPs and bytes per layer are exact
    ints; times are float seconds, a roofline estimate under the assumptions of the module docstring
    (no fusion, every tensor read and written once, theoretical peaks). Raises
    :class:`UnsupportedDtypeError` if the device has no figure for ``dtype``, :class:`UnknownDeviceError`
    for an unknown device name, and :class:`DeviceError` for a batch below 1.
    """
    dev = get_device(device) if isinstance(device, str) else device
    peak = dev.peak(dtype)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise DeviceError(f"batch must be a whole number >= 1, got {batch!r}")
    size = DTYPE_BYTES[dtype]
    bw = dev.bandwidth
    rows = []
    samples = report.batch * batch
    for r in report.layers:
        flops = 2 * r.macs * batch  # the report's MACs already count its own batch
        nbytes = (sum(s.numel for s in r.inputs) + r.output.numel) * samples * size + r.params * size
        # compare exactly in integers: flops/peak > bytes/bw  <=>  flops*bw > bytes*peak
        bound = "compute" if flops * bw > nbytes * peak else "memory"
        rows.append(LayerRoofline(r.path, r.op, flops, nbytes, flops / peak, nbytes / bw, bound))
    layers = tuple(rows)
    total = sum(x.time for x in layers)
    compute = sum(x.time for x in layers if x.bound == "compute")
    return Roofline(
        dev, dtype, samples, layers, sum(x.flops for x in layers), sum(x.bytes for x in layers), total, compute
    )


__all__ = [
    "ASSUMPTIONS",
    "DTYPE_BYTES",
    "Device",
    "DeviceError",
    "LayerRoofline",
    "Roofline",
    "UnknownDeviceError",
    "UnsupportedDtypeError",
    "get_device",
    "load_devices",
    "roofline",
]
