"""Reference run of ``cnncalc import package.module:callable`` (torch.fx) over torchvision's classifiers.

Each model is imported as ``cnncalc import torchvision.models.NAME`` does (built with ``weights=None``, traced,
run once on zeros; inception_v3 at 299x299x3), and the result recorded in tests/data/import_reference.json: the
spec it wrote, cnncalc's totals of it, the module's own ``parameters()`` and buffers, and the opaque layers. The
import checks every row against the module itself (E804 on any difference); tests/test_import.py (no torch)
evaluates the recorded specs again and compares them with the bundled specs of the same networks.

torch is not a dependency of cnncalc; run this in a throwaway venv with cnncalc installed editable::

    python -m venv /tmp/tvenv && /tmp/tvenv/bin/pip install torch torchvision
    /tmp/tvenv/bin/pip install --no-deps -e .
    /tmp/tvenv/bin/python tools/import_reference.py      # writes tests/data/import_reference.json
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "import_reference.json"
#: torchvision builder -> the bundled spec (or ``spec:variant``) of the same network, or None.
MODELS: dict[str, str | None] = {
    "resnet18": "resnet18",
    "resnet50": "resnet50",
    "resnext50_32x4d": "resnet50:resnext50-32x4d",
    "wide_resnet50_2": "resnet50:wide-resnet50-2",
    "vgg16": None,
    "alexnet": "alexnet-torchvision",
    "squeezenet1_0": "squeezenet1.0",
    "densenet121": "densenet121",
    "googlenet": "googlenet",
    "inception_v3": "inception-v3",
    "mobilenet_v2": "mobilenet-v2",
    "mobilenet_v3_large": "mobilenet-v3-large",
    "mobilenet_v3_small": "mobilenet-v3-small",
    "shufflenet_v2_x1_0": "shufflenet-v2",
    "mnasnet1_0": "mnasnet",
    "efficientnet_b0": "efficientnet",
    "regnet_x_400mf": "regnet",
    "convnext_tiny": "convnext",
}


def run(name: str, bundled: str | None) -> dict[str, Any]:
    from cnncalc.importers import import_torch
    from cnncalc.shapes import Shape

    shape = Shape.spatial(299, 299, 3) if name == "inception_v3" else None
    start = time.perf_counter()
    result = import_torch(f"torchvision.models.{name}", shape)
    total = result.report.total
    return {
        "model": f"torchvision.models.{name}",
        "bundled": bundled,
        "input": list(result.report.input.dims),
        "params": total.params,
        "buffers": total.buffers,
        "macs": total.macs,
        "module_params": result.network.total_params,
        "module_buffers": result.network.total_buffers,
        "opaque": [layer.where for layer in result.network.opaque()],
        "seconds": round(time.perf_counter() - start, 1),
        "spec": result.spec,
    }


def main() -> int:
    warnings.filterwarnings("ignore")
    entries = []
    for name, bundled in MODELS.items():
        entries.append(run(name, bundled))
        e = entries[-1]
        print(
            f"{name:20s} {e['params']:>12,} params {e['macs']:>15,} MACs {len(e['spec'].splitlines()):4d} lines",
            file=sys.stderr,
        )
    OUT.write_text(json.dumps(entries, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
