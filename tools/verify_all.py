"""Reference run of ``cnncalc verify`` over the whole library: every bundled spec and every variant.

Each configuration is exported to PyTorch (``cnncalc export --to pytorch``), the module is executed, built and run
once (meta device, else CPU), and every layer's output shape, params, buffers and MACs, and the totals, are
compared with cnncalc's (:mod:`cnncalc.verify`). The result, one entry per configuration with its number of
differences (0 expected) and the totals on both sides, goes to tests/data/verify_reference.json, which
tests/test_export_pytorch.py reads without torch.

torch is not a dependency of cnncalc; run this in a throwaway venv with cnncalc installed editable::

    python -m venv /tmp/tvenv && /tmp/tvenv/bin/pip install torch
    /tmp/tvenv/bin/pip install --no-deps -e .
    /tmp/tvenv/bin/python tools/verify_all.py            # writes tests/data/verify_reference.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "verify_reference.json"


def configurations() -> list[tuple[str, str | None]]:
    """(library file name, variant or None) for every bundled spec and each of its variants."""
    from cnncalc.library import library_files
    from cnncalc.spec import load_spec

    out: list[tuple[str, str | None]] = []
    for f in library_files():
        out.append((f.name, None))
        out.extend((f.name, v.name) for v in load_spec(f).variants)
    return out


def run(file: str, variant: str | None) -> tuple[dict[str, Any], float]:
    from cnncalc.analysis import analyze
    from cnncalc.graph import build_graph
    from cnncalc.library import library_dir
    from cnncalc.spec import load_spec
    from cnncalc.verify import verify

    spec = load_spec(library_dir() / file)
    report = analyze(build_graph(spec, variant))
    start = time.perf_counter()
    v = verify(report)
    return {
        "spec": file,
        "variant": variant,
        "title": report.title,
        "model_class": v.export.model_class,
        "device": v.device,
        "layers": len(report.layers),
        "compared": v.layers,
        "unobserved": list(v.unobserved),
        "differences": len(v.differences),
        "first_differences": [
            {"layer": d.layer, "module": d.module, "figure": d.figure, "cnncalc": d.cnncalc, "torch": d.torch}
            for d in v.differences[:10]
        ],
        "totals": {figure: {"cnncalc": mine, "torch": theirs} for figure, mine, theirs in v.totals},
    }, time.perf_counter() - start


#: A deliberate mistake the verification must catch: the export of resnet18 with its first convolution padded 2
#: instead of 3 (the stem's output 111x111 instead of 112x112) and its first batch norm without parameters.
MUTATIONS = (
    ("nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)", "nn.Conv2d(3, 64, 7, stride=2, padding=2, bias=False)"),
    ('("bn", nn.BatchNorm2d(64)),', '("bn", nn.BatchNorm2d(64, affine=False)),'),
)


def self_test() -> dict[str, Any]:
    """Verify a mutated export of resnet18: the differences found (the run is worthless if there are none)."""
    from cnncalc.api import analyze_spec
    from cnncalc.to_pytorch import export_pytorch
    from cnncalc.verify import verify

    report = analyze_spec("resnet18")
    source = export_pytorch(report).source
    for old, new in MUTATIONS:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    v = verify(report, source, "mutated resnet18")
    return {
        "spec": "resnet18.yaml",
        "mutations": [f"{old} -> {new}" for old, new in MUTATIONS],
        "differences": [f"{d.layer} {d.figure}: {d.cnncalc} vs {d.torch}" for d in v.differences],
    }


def random_networks(count: int, seed: str) -> dict[str, Any]:
    """Export and verify ``count`` random networks of tools/difftest.py's generator (every op, joins, skips, odd
    sizes, per-side padding, ceil mode): how many verified with how many differences, and what stopped the rest
    (cnncalc refusing the spec, an op PyTorch has no module for, an opaque placeholder, PyTorch refusing a layer)."""
    from collections import Counter

    from cnncalc.errors import CnncalcError
    from cnncalc.pipeline import evaluate_text
    from cnncalc.verify import verify

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tools.difftest import draw_network, spec_text

    outcome: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    layers = unobserved = 0
    failures = []
    for k in range(count):
        text = spec_text(draw_network(f"{seed}{k}"))
        try:
            report = evaluate_text(text, f"{seed}{k}.yaml")
        except CnncalcError:
            outcome["cnncalc refuses the spec"] += 1
            continue
        try:
            v = verify(report)
        except CnncalcError as err:
            outcome[f"{err.code} {err.diagnostic.info.name}"] += 1
            if err.code == "E703":  # PyTorch refuses a layer cnncalc accepts: group the reasons
                refused[err.message.split("(", 1)[-1].split(":")[0] + ": " + _reason(err.message)] += 1
            continue
        outcome["verified"] += 1
        layers += len(report.layers)
        unobserved += len(v.unobserved)
        if v.differences:
            failures.append({"seed": f"{seed}{k}", "differences": [f"{d.layer} {d.figure}" for d in v.differences[:5]]})
    return {
        "seed": seed,
        "networks": count,
        "outcomes": dict(sorted(outcome.items())),
        "pytorch_refuses": dict(sorted(refused.items())),
        "layers_verified": layers,
        "layers_unobserved": unobserved,
        "with_differences": failures,
    }


def _reason(message: str) -> str:
    """The gist of PyTorch's complaint (sizes and numbers left out, so that equal reasons group)."""
    import re

    text = message.split(": ", 2)[-1]
    return re.sub(r"\d+", "N", re.sub(r"torch\.Size\(\[[^\]]*\]\)|\[[\d, ]*\]", "[...]", text))[:100]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    parser.add_argument("--only", help="only the configurations whose file or variant contains this text")
    parser.add_argument("--random", type=int, default=500, help="random networks to verify too (0: none)")
    parser.add_argument("--seed", default="verify", help="the random networks' seed prefix")
    args = parser.parse_args()
    import torch

    entries = []
    failed = 0
    for file, variant in configurations():
        if args.only and args.only not in file and args.only not in (variant or ""):
            continue
        entry, seconds = run(file, variant)
        entries.append(entry)
        failed += entry["differences"] > 0
        print(
            f"{file + (':' + variant if variant else ''):42} {entry['compared']:5}/{entry['layers']:<5} layers "
            f"{entry['device']:4} {entry['differences']:3} differences  params {entry['totals']['params']['torch']:>13}"
            f"  MACs {entry['totals']['MACs']['torch']:>18}  {seconds:6.2f}s",
            flush=True,
        )
    if not args.only:
        check = self_test()
        print(f"self-test: a mutated resnet18 export shows {len(check['differences'])} differences")
        drawn = random_networks(args.random, args.seed)
        failed += len(drawn["with_differences"])
        print(f"random networks: {json.dumps(drawn, indent=1)}")
        data = {"torch": torch.__version__, "self_test": check, "random": drawn, "configurations": entries}
        args.output.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.output}: {len(entries)} configurations, {failed} with differences")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
