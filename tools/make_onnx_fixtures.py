"""Make the ONNX fixtures of tests/test_import.py: torchvision models and the repo's own exports, as ONNX files.

Two sets, written to tests/data/onnx/ with their reference figures in tests/data/onnx/fixtures.json:

* ``tv-NAME.onnx``: ``torchvision.models.NAME(weights=None)`` exported by PyTorch's ONNX exporter (opset 17,
  batch norm kept, not folded into the convolutions); the reference is the module's own ``parameters()`` and
  floating-point buffers (``num_batches_tracked`` left out, as cnncalc does), and the output shape;
* ``rt-SPEC.onnx``: a bundled spec, written as PyTorch by ``cnncalc export --to pytorch``, built and exported
  the same way (the round trip spec -> export -> ONNX -> import); the reference is cnncalc's own figures of the
  spec (params, buffers, MACs, output).

Each file is stripped of its weights: tensors over 1 KB are moved to external data, which is not kept, so the file
holds the graph and every initializer's dimensions (what ``cnncalc import`` reads) in a few kilobytes. Then the
file is imported here once, and its figures are recorded too; the test (no torch) imports each file again and
checks the figures against the references.

torch is not a dependency of cnncalc; run this in a throwaway venv with torch, torchvision and onnx, and cnncalc
installed editable::

    python -m venv /tmp/tvenv && /tmp/tvenv/bin/pip install torch torchvision onnx
    /tmp/tvenv/bin/pip install --no-deps -e .
    /tmp/tvenv/bin/python tools/make_onnx_fixtures.py       # writes tests/data/onnx/
"""

from __future__ import annotations

import json
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "onnx"
TORCHVISION = {
    "resnet18": {},
    "resnet50": {},
    "mobilenet_v3_small": {},
    "squeezenet1_1": {},
    "googlenet": {"aux_logits": False, "init_weights": False},
    "shufflenet_v2_x0_5": {},
    "convnext_tiny": {},
    "efficientnet_b0": {},
}
ROUND_TRIP = [
    "resnet18",
    "mobilenet-v2",
    "inception-bottleneck",
    "squeezenet1.0",
    "alexnet-torchvision",
    "alexnet",
    "lenet5",
    "unet",
]
SIZE_LIMIT = 200_000


def export(model: Any, shape: tuple[int, int, int], path: Path) -> None:
    """``model`` as an ONNX file without its weights (tensors over 1 KB moved to external data, not kept)."""
    import onnx
    import torch

    h, w, c = shape
    x = torch.zeros(1, c, h, w)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = Path(tmp) / "model.onnx"
        torch.onnx.export(model.eval(), (x,), str(full), dynamo=False, opset_version=17, do_constant_folding=False)
        proto = onnx.load(str(full))
        onnx.save_model(
            proto,
            str(Path(tmp) / path.name),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location="weights.bin",
            size_threshold=1024,
        )
        path.write_bytes((Path(tmp) / path.name).read_bytes())  # the graph alone: weights.bin is not kept


def imported(path: Path) -> dict[str, Any]:
    from cnncalc.importers import import_onnx

    result = import_onnx(path)
    total = result.report.total
    return {
        "params": total.params,
        "buffers": total.buffers,
        "macs": total.macs,
        "output": list(result.report.output.dims),
        "layers": len(result.network.layers),
        "opaque": [layer.where for layer in result.network.opaque()],
        "spec_lines": len(result.spec.splitlines()),
    }


def torchvision_fixture(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    import torchvision

    model = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    path = OUT / f"tv-{name.replace('_', '-')}.onnx"
    export(model, (224, 224, 3), path)
    buffers = sum(b.numel() for n, b in model.named_buffers() if b.is_floating_point() and "num_batches" not in n)
    return {
        "file": path.name,
        "source": f"torchvision.models.{name}(weights=None)",
        "reference": {"params": sum(p.numel() for p in model.parameters()), "buffers": buffers, "output": [1000]},
        "imported": imported(path),
    }


def round_trip_fixture(spec: str) -> dict[str, Any]:
    from cnncalc import analyze_spec
    from cnncalc.to_pytorch import export_pytorch

    report = analyze_spec(spec)
    exp = export_pytorch(report)
    namespace: dict[str, Any] = {}
    exec(compile(exp.source, f"<{spec}>", "exec"), namespace)  # noqa: S102 - cnncalc's own export
    model = namespace[exp.model_class]()
    path = OUT / f"rt-{spec.replace('.', '-')}.onnx"
    export(model, report.input.dims, path)  # type: ignore[arg-type]
    total = report.total
    return {
        "file": path.name,
        "source": f"cnncalc export {spec} --to pytorch",
        "reference": {
            "params": total.params,
            "buffers": total.buffers,
            "macs": total.macs,
            "output": list(report.output.dims),
        },
        "imported": imported(path),
    }


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, kwargs in TORCHVISION.items():
        entries.append(torchvision_fixture(name, kwargs))
        print(entries[-1]["file"], entries[-1]["imported"], file=sys.stderr)
    for spec in ROUND_TRIP:
        entries.append(round_trip_fixture(spec))
        print(entries[-1]["file"], entries[-1]["imported"], file=sys.stderr)
    for e in entries:
        size = (OUT / e["file"]).stat().st_size
        e["bytes"] = size
        if size > SIZE_LIMIT:
            raise SystemExit(f"{e['file']} is {size:,} bytes, over the {SIZE_LIMIT:,} a fixture may have")
    (OUT / "fixtures.json").write_text(json.dumps(entries, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(entries)} fixtures to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
