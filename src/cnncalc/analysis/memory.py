"""Memory estimates: parameters, buffers, activations (inference peak and training), per dtype and optimizer."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UnknownNameError
from .counts import Report

#: Bytes per stored value of each dtype (tf32 is a Tensor-Core compute mode on fp32 storage).
DTYPE_BYTES = {"fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "int8": 1}
OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2}


@dataclass(frozen=True, slots=True)
class Memory:
    """Memory estimates in bytes for one dtype (see :func:`memory` for what is modelled)."""

    dtype: str
    bytes_per_value: int
    params: int  # parameter bytes
    buffers: int  # BN running statistics and other fixed values
    activations: int  # every layer output and the input, kept at once (no reuse)
    peak: int  # the most activation bytes alive at once under the liveness model
    peak_at: str  # the layer being computed at the peak
    train_activations: int  # activations kept for the backward pass (every output and the input)
    gradients: int
    optimizer: str
    optimizer_state: int

    @property
    def inference(self) -> int:
        """Params + buffers + peak activations."""
        return self.params + self.buffers + self.peak

    @property
    def training(self) -> int:
        """Kept activations + weights + gradients + optimizer state + buffers."""
        return self.train_activations + self.params + self.gradients + self.optimizer_state + self.buffers


def memory(report: Report, dtype: str = "fp32", optimizer: str = "sgd") -> Memory:
    """Bytes for parameters and activations under a stated model.

    Inference peak: a tensor lives from the step that produces it to the last step that reads it (the input
    from the start; outputs nobody reads, i.e. the network's outputs, to the end); the inputs and the output
    of the layer being computed coexist, and so do all branches' outputs awaiting a join. No layer works in
    place, no tensor is freed early, workspaces and framework overheads are not modelled.
    Training: every layer output and the input are kept for the backward pass, plus weights, gradients
    (one per parameter) and optimizer state (sgd 0, momentum 1, adam 2 values per parameter); all in the
    same dtype (mixed-precision master weights are not modelled).
    """
    if dtype not in DTYPE_BYTES:
        raise UnknownNameError(f"unknown dtype {dtype!r}; one of {', '.join(DTYPE_BYTES)}", code="E214")
    if optimizer not in OPTIMIZER_STATES:
        raise UnknownNameError(f"unknown optimizer {optimizer!r}; one of {', '.join(OPTIMIZER_STATES)}", code="E215")
    b = DTYPE_BYTES[dtype]
    layers = report.layers
    count = len(layers)
    input_elems = report.input.numel * report.batch
    last = [-1] * (count + 1)  # last reader of each tensor; index count stands for the input
    for i, r in enumerate(layers):
        for src in r.sources:
            last[src if src >= 0 else count] = i
    delta = [0] * (count + 2)
    sizes = [r.activations for r in layers] + [input_elems]
    for j, size in enumerate(sizes):
        born = 0 if j == count else j
        dies = last[j] if last[j] >= born else count  # never read: a network output, alive to the end
        delta[born] += size
        delta[dies + 1] -= size
    peak, peak_at, alive = 0, "", 0
    for i in range(count):
        alive += delta[i]
        if alive > peak:
            peak, peak_at = alive, layers[i].path
    acts = sum(sizes)
    t = report.total
    states = OPTIMIZER_STATES[optimizer]
    return Memory(
        dtype,
        b,
        t.params * b,
        t.buffers * b,
        acts * b,
        peak * b,
        peak_at,
        acts * b,
        t.params * b,
        optimizer,
        states * t.params * b,
    )
