"""PyTorch reference numbers for each op of cnncalc's modern vocabulary, one small network per case.

Every case is a chain of layers written twice: as a cnncalc spec (one op line per layer) and as PyTorch code
(one callable per layer, in the same order). For each layer the script records what PyTorch computes: the
output shape (HxWxC, or N when flat), trainable params, buffers, and MACs under the house conventions (conv:
output elements x C_in/groups x kh x kw; transposed conv: *input* elements x C_out/groups x kh x kw, as fvcore
and torch.utils.flop_counter count it; linear: inputs x outputs x positions; everything else 0). For the last
layer it also measures the receptive field empirically: per axis, the widest support of the gradient of any
output value with respect to the input, among the outputs whose support does not touch the input's edge (double precision, positive random weights and inputs and a
random positive mix of the output channels, so that no cancellation hides a dependence). Cases whose statistics span all positions (GroupNorm, InstanceNorm) are
measured with those statistics detached, which is cnncalc's stated convention (statistics do not widen the local
field, as for a squeeze-excitation gate).

torch is not a dependency of cnncalc; run this in a throwaway venv and commit the JSON::

    python -m venv /tmp/tvenv && /tmp/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /tmp/tvenv/bin/python tools/op_reference.py            # writes tests/data/op_reference.json

tests/test_vocabulary_ops.py reads the JSON (no torch needed) and compares cnncalc layer by layer.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "op_reference.json"


def cases() -> list[dict[str, Any]]:
    """(name, input HxWxC, [(spec line, layer factory)], rf) — factories take torch and return a callable."""
    import torch
    import torch.nn.functional as F  # noqa: N812
    from torch import nn
    from torchvision.ops import StochasticDepth

    class ChannelsLast(nn.Module):
        """Apply a module over the channel axis at each position (ConvNeXt's permute pattern)."""

        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.dim() == 2:
                return self.inner(x)
            return self.inner(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    class Scale(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.gamma = nn.Parameter(torch.full((c, 1, 1), 1e-6))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.gamma * x

    class Fn(nn.Module):
        def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
            super().__init__()
            self.fn = fn

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fn(x)

    class DetachedStats(nn.Module):
        """GroupNorm / InstanceNorm with their statistics detached (for the receptive-field measurement only)."""

        def __init__(self, inner: nn.Module, groups: int) -> None:
            super().__init__()
            self.inner, self.groups = inner, groups

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            n, c, h, w = x.shape
            g = x.reshape(n, self.groups, -1)
            mean = g.mean(-1, keepdim=True).detach()
            var = g.var(-1, unbiased=False, keepdim=True).detach()
            y = ((g - mean) / torch.sqrt(var + 1e-5)).reshape(n, c, h, w)
            weight = getattr(self.inner, "weight", None)
            if weight is not None:
                y = y * weight.view(1, c, 1, 1) + self.inner.bias.view(1, c, 1, 1)
            return y

    crop = lambda h, w: Fn(lambda x: _centre_crop(x, h, w))  # noqa: E731

    return [
        {
            "name": "deconv-dcgan-first",
            "input": [1, 1, 100],
            "layers": [
                ("deconv 512 4 stride=1 pad=0 bias=false", lambda: nn.ConvTranspose2d(100, 512, 4, 1, 0, bias=False))
            ],
        },
        {
            "name": "deconv-dcgan-up",
            "input": [8, 8, 16],
            "layers": [("deconv 8 4 stride=2 pad=1", lambda: nn.ConvTranspose2d(16, 8, 4, 2, 1))],
        },
        {
            "name": "deconv-out-pad",
            "input": [7, 7, 4],
            "layers": [
                ("deconv 6 3x3 stride=2 pad=1 out_pad=1", lambda: nn.ConvTranspose2d(4, 6, 3, 2, 1, output_padding=1))
            ],
        },
        {
            "name": "deconv-rect-groups",
            "input": [5, 6, 4],
            "layers": [
                (
                    "deconv 8 4x3 stride=2x1 pad=1x0 groups=2 bias=false",
                    lambda: nn.ConvTranspose2d(4, 8, (4, 3), (2, 1), (1, 0), groups=2, bias=False),
                )
            ],
        },
        {
            "name": "deconv-dilated",
            "input": [5, 5, 3],
            "layers": [("deconv 3 3 stride=3 dilation=2", lambda: nn.ConvTranspose2d(3, 3, 3, 3, dilation=2))],
        },
        {
            "name": "deconv-dilated-shared-factor",
            "input": [9, 9, 3],
            "layers": [
                ("deconv 3 5 stride=2 dilation=2", lambda: nn.ConvTranspose2d(3, 3, 5, 2, dilation=2)),
                ("conv 3 3x3", lambda: nn.Conv2d(3, 3, 3)),
            ],
        },
        {
            "name": "deconv-k5-s2",
            "input": [9, 9, 3],
            "layers": [
                ("deconv 3 5 stride=2 pad=2 out_pad=1", lambda: nn.ConvTranspose2d(3, 3, 5, 2, 2, output_padding=1)),
                ("conv 3 3x3 pad=1", lambda: nn.Conv2d(3, 3, 3, padding=1)),
            ],
        },
        {
            "name": "deconv-unet-up",
            "input": [6, 6, 8],
            "layers": [
                ("conv 8 3x3", lambda: nn.Conv2d(8, 8, 3)),
                ("deconv 4 2x2 stride=2", lambda: nn.ConvTranspose2d(8, 4, 2, 2)),
                ("conv 4 3x3", lambda: nn.Conv2d(4, 4, 3)),
            ],
        },
        {
            "name": "deconv-after-stride",
            "input": [17, 17, 3],
            "layers": [
                ("conv 8 3x3 stride=2", lambda: nn.Conv2d(3, 8, 3, 2)),
                ("deconv 8 3x3 stride=2 pad=1", lambda: nn.ConvTranspose2d(8, 8, 3, 2, 1)),
                ("conv 4 3x3 pad=1", lambda: nn.Conv2d(8, 4, 3, padding=1)),
            ],
        },
        {
            "name": "upsample-nearest",
            "input": [5, 7, 3],
            "layers": [
                ("conv 3 3x3 pad=1", lambda: nn.Conv2d(3, 3, 3, padding=1)),
                ("upsample 2", lambda: nn.Upsample(scale_factor=2, mode="nearest")),
                ("conv 3 3x3", lambda: nn.Conv2d(3, 3, 3)),
            ],
        },
        {
            "name": "upsample-bilinear",
            "input": [11, 13, 3],
            "layers": [
                ("conv 3 3x3 stride=2", lambda: nn.Conv2d(3, 3, 3, 2)),
                ("upsample 2 mode=bilinear", lambda: nn.Upsample(scale_factor=2, mode="bilinear")),
                ("conv 3 3x3 pad=1", lambda: nn.Conv2d(3, 3, 3, padding=1)),
            ],
        },
        {
            "name": "upsample-bicubic-3",
            "input": [9, 10, 2],
            "layers": [("upsample 3 mode=bicubic", lambda: nn.Upsample(scale_factor=3, mode="bicubic"))],
        },
        {
            "name": "upsample-fractional-scale",
            "input": [7, 9, 2],
            "layers": [("upsample 1.5 mode=bilinear", lambda: nn.Upsample(scale_factor=1.5, mode="bilinear"))],
        },
        {
            "name": "upsample-size-align-corners",
            "input": [5, 6, 2],
            "layers": [
                (
                    "upsample size=9x11 mode=bilinear align_corners=true",
                    lambda: nn.Upsample(size=(9, 11), mode="bilinear", align_corners=True),
                )
            ],
        },
        {
            "name": "upsample-to-layer",
            "input": [12, 10, 3],
            "layers": [
                ("- a: conv 4 3x3 pad=1", lambda: nn.Conv2d(3, 4, 3, padding=1)),
                ("conv 4 3x3 stride=2", lambda: nn.Conv2d(4, 4, 3, 2)),
                ("upsample to=a mode=bilinear", lambda: Fn(lambda x: F.interpolate(x, size=(12, 10), mode="bilinear"))),
            ],
        },
        {
            "name": "pixel-shuffle",
            "input": [3, 5, 8],
            "layers": [
                ("conv 8 3x3 pad=1", lambda: nn.Conv2d(8, 8, 3, padding=1)),
                ("pixel_shuffle 2", lambda: nn.PixelShuffle(2)),
                ("conv 2 3x3 pad=1", lambda: nn.Conv2d(2, 2, 3, padding=1)),
            ],
        },
        {
            "name": "pixel-unshuffle",
            "input": [4, 6, 3],
            "layers": [
                ("pixel_unshuffle 2", lambda: nn.PixelUnshuffle(2)),
                ("conv 4 3x3 pad=1", lambda: nn.Conv2d(12, 4, 3, padding=1)),
            ],
        },
        {
            "name": "crop-size",
            "input": [13, 12, 3],
            "layers": [
                ("conv 3 3x3 pad=1", lambda: nn.Conv2d(3, 3, 3, padding=1)),
                ("crop 9x7", lambda: crop(9, 7)),
                ("conv 3 3x3", lambda: nn.Conv2d(3, 3, 3)),
            ],
        },
        {
            "name": "zeropad-sides",
            "input": [6, 5, 2],
            "layers": [
                ("- {op: zeropad, pad: {top: 1, bottom: 0, left: 2, right: 3}}", lambda: nn.ZeroPad2d((2, 3, 1, 0))),
                ("conv 2 3x3", lambda: nn.Conv2d(2, 2, 3)),
            ],
        },
        {
            "name": "zeropad-axes",
            "input": [6, 5, 2],
            "layers": [
                ("zeropad 1x2", lambda: nn.ZeroPad2d((2, 2, 1, 1))),
                ("conv 2 3x3 stride=2", lambda: nn.Conv2d(2, 2, 3, 2)),
            ],
        },
        {
            "name": "layernorm",
            "input": [5, 5, 8],
            "layers": [
                ("conv 8 3x3 pad=1", lambda: nn.Conv2d(8, 8, 3, padding=1)),
                ("layernorm", lambda: ChannelsLast(nn.LayerNorm(8))),
                ("layernorm affine=false", lambda: ChannelsLast(nn.LayerNorm(8, elementwise_affine=False))),
            ],
        },
        {
            "name": "groupnorm",
            "input": [5, 5, 8],
            "layers": [
                ("conv 8 3x3 pad=1", lambda: nn.Conv2d(8, 8, 3, padding=1)),
                ("groupnorm 4", lambda: DetachedStats(nn.GroupNorm(4, 8), 4)),
                ("groupnorm 2 affine=false", lambda: DetachedStats(nn.GroupNorm(2, 8, affine=False), 2)),
            ],
        },
        {
            "name": "instancenorm",
            "input": [5, 5, 8],
            "layers": [
                ("conv 8 3x3 pad=1", lambda: nn.Conv2d(8, 8, 3, padding=1)),
                ("instancenorm", lambda: DetachedStats(nn.InstanceNorm2d(8), 8)),
                ("instancenorm affine=true", lambda: DetachedStats(nn.InstanceNorm2d(8, affine=True), 8)),
            ],
        },
        {
            "name": "linear-per-position",
            "input": [5, 5, 8],
            "layers": [
                ("conv 8 3x3 pad=1", lambda: nn.Conv2d(8, 8, 3, padding=1)),
                ("linear 32", lambda: ChannelsLast(nn.Linear(8, 32))),
                ("gelu", lambda: nn.GELU()),
                ("linear 8 bias=false", lambda: ChannelsLast(nn.Linear(32, 8, bias=False))),
            ],
        },
        {
            "name": "layerscale-droppath",
            "input": [11, 11, 8],
            "layers": [
                ("conv 8 7x7 pad=3 groups=8", lambda: nn.Conv2d(8, 8, 7, padding=3, groups=8)),
                ("layerscale", lambda: Scale(8)),
                ("droppath 0.1", lambda: StochasticDepth(0.1, "row")),
            ],
        },
    ]


def _centre_crop(x: Any, h: int, w: int) -> Any:
    top, left = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2
    return x[:, :, top : top + h, left : left + w]


def _macs(module: Any, inp: Any, out: Any) -> int:
    from torch import nn

    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return out.numel() // out.shape[0] * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.ConvTranspose2d):
        kh, kw = module.kernel_size
        return inp.numel() // inp.shape[0] * (module.out_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return inp.numel() // inp.shape[0] * module.out_features
    return 0


def _shape(t: Any) -> list[int]:
    return [int(t.shape[2]), int(t.shape[3]), int(t.shape[1])] if t.dim() == 4 else [int(t.shape[1])]


def run(case: dict[str, Any]) -> dict[str, Any]:
    import torch
    from torch import nn

    torch.manual_seed(0)
    h, w, c = case["input"]
    layers = [factory() for _, factory in case["layers"]]
    for layer in layers:
        layer.eval()
    rows = []
    x = torch.zeros(1, c, h, w)
    with torch.no_grad():
        for layer in layers:
            inner = [m for m in layer.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
            macs = 0
            y = layer(x)
            if inner:  # one counted module per layer in these cases
                m = inner[0]
                if isinstance(m, nn.Linear) and x.dim() == 4:
                    macs = x.numel() * m.out_features
                else:
                    macs = _macs(m, x, y)
            params = sum(p.numel() for p in layer.parameters())
            buffers = sum(b.numel() for n, b in layer.named_buffers() if not n.endswith("num_batches_tracked"))
            rows.append({"output": _shape(y), "params": params, "buffers": buffers, "macs": macs})
            x = y
    return {"rows": rows, "rf": _field(layers, case["input"])}


def _field(layers: list[Any], hwc: list[int]) -> list[int | None] | None:
    """Per axis, the widest gradient support of any output value that lies inside the input (None if none does,
    or None overall when the output is flat): the receptive field as cnncalc defines it, a bound over positions.
    """
    import torch

    h, w, c = hwc
    model = torch.nn.Sequential(*layers).double().eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_((torch.rand(p.shape, generator=gen, dtype=torch.float64) + 0.5) / max(p.numel(), 1))
    x = (torch.rand(1, c, h, w, generator=gen, dtype=torch.float64) + 1.0).requires_grad_()
    y = model(x)
    if y.dim() != 4:
        return None
    pick = torch.rand(y.shape[1], generator=gen, dtype=torch.float64) + 0.5  # no symmetric cancellation
    widest: list[int | None] = [None, None]
    for oh in range(y.shape[2]):
        for ow in range(y.shape[3]):
            (g,) = torch.autograd.grad((y[0, :, oh, ow] * pick).sum(), x, retain_graph=True)
            support = g[0].abs().sum(0)
            for axis, (line, n) in enumerate(((support.sum(1), h), (support.sum(0), w))):
                idx = torch.nonzero(line).flatten()
                if len(idx) == 0 or idx.min() == 0 or idx.max() == n - 1:
                    continue  # touches the border: the field may be cut by the input's edge
                extent = int(idx.max() - idx.min() + 1)
                widest[axis] = max(widest[axis] or 0, extent)
    return widest


def spec_text(case: dict[str, Any]) -> str:
    h, w, c = case["input"]
    lines = [f"input: {h}x{w}x{c}", "layers:"]
    for line, _ in case["layers"]:
        lines.append(f"  {line}" if line.startswith("- ") else f"  - {line}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    args = parser.parse_args()
    import torch

    data: dict[str, Any] = {"torch": torch.__version__, "cases": {}}
    for case in cases():
        ref = run(case)
        data["cases"][case["name"]] = {"spec": spec_text(case), **ref}
        print(f"{case['name']:28} {[r['output'] for r in ref['rows']]} rf={ref['rf']}")
    args.output.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
