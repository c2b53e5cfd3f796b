"""cnncalc's performance budgets, measured in one run and reported as ratios.

Usage::

    python bench/bench.py            # every budget; exit 1 when one is missed
    python bench/bench.py --pairs 9  # more start-up pairs (median of alternating runs)
    python bench/bench.py --peers    # also time torchinfo / fvcore / FlopCounterMode when importable

Budgets (issue "Instant and linear"):

1. ``cnncalc show resnet152`` (whole process, table output) costs at most 2.0x the floor
   ``python -c "import yaml, click, rich.console, rich.table"``; alternating runs, median of the pairs' ratios.
2. A plain ``show`` imports nothing heavy (numpy, jsonschema, matplotlib, torch).
3. A generated 100,000-layer spec (chains, residual branches, concat, repeats) is analysed in at most 3 s,
   and time(100,000) / time(10,000) is at most 12; peak memory grows linearly.
4. ``cnncalc check architectures/`` over the whole library (every torchvision CNN, issue "Every CNN in torchvision"),
   in one process, in at most 1.5 s.
5. ``show`` of the generated 100,000-layer spec: drawing the table (rows, layout for a width, the text) costs at
   most half of reading and counting the spec (it was 8.8 of 14 s with rich).

No unit test times anything (the machines are shared and noisy); this script is run on demand.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numpy", "jsonschema", "matplotlib", "torch", "pandas", "scipy")
FLOOR = [sys.executable, "-c", "import yaml, click, rich.console, rich.table"]


def cnncalc_cmd(*args: str) -> list[str]:
    """The installed console script if it is next to this interpreter, else python -m cnncalc."""
    script = Path(sys.executable).with_name("cnncalc")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "cnncalc", *args]


#: A user's Python caches compiled modules (.pyc); a sandbox may switch that off, which would time the
#: compiler rather than cnncalc. Pip-installed packages ship their .pyc either way.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"COLUMNS": "120"}


def wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=ENV)
    return time.perf_counter() - t


def startup(pairs: int) -> tuple[float, float, float]:
    """Median floor time, median show time, and the median of the per-pair ratios."""
    show = cnncalc_cmd("show", "resnet152")
    wall(FLOOR), wall(show)  # warm the file cache and the .pyc files
    floors, shows, ratios = [], [], []
    for i in range(pairs):
        order = (FLOOR, show) if i % 2 == 0 else (show, FLOOR)
        times = {id(cmd): wall(cmd) for cmd in order}
        f, s = times[id(FLOOR)], times[id(show)]
        floors.append(f), shows.append(s), ratios.append(s / f)
    return statistics.median(floors), statistics.median(shows), statistics.median(ratios)


def heavy_imports() -> list[str]:
    """Heavy modules a plain `show` has imported by the time it exits."""
    code = (
        "import sys; sys.argv = ['cnncalc', 'show', 'resnet152']\n"
        "from cnncalc.cli import cli\n"
        "try:\n    cli(prog_name='cnncalc')\nexcept SystemExit:\n    pass\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    last = out.strip().splitlines()[-1] if out.strip() else ""
    return [m for m in last.split() if m in HEAVY]


def generated_spec(layers: int) -> str:
    """A spec of about ``layers`` layers: residual units (add), inception-like units (concat), repeats."""
    # unit: conv, bn, relu, conv, bn, identity, add, relu = 8 layers
    # mixer: conv, conv, conv, concat, conv = 5 layers
    units = max(1, layers // 13)
    return f"""
name: generated ({layers} layers)
input: 32x32x16
blocks:
  res(c):
    - add:
        - conv c 3x3 pad=1, bn, relu, conv c 3x3 pad=1, bn
        - identity
    - relu
  mix(c):
    - concat:
        - conv c//2 1x1
        - conv c//4 3x3 pad=1
        - conv c//4 1x1
    - conv c 1x1
  stage(n, c):
    - res c
    - mix c
    - repeat: n - 1
      do:
        - res c
        - mix c
layers:
  - stage {units} 16
  - gap, fc 10
"""


def chain_spec(layers: int) -> str:
    """A literal chain of ``layers`` op lines (no repeats: exercises the YAML reader and naming)."""
    lines = ["name: chain", "input: 16x16x8", "layers:"]
    lines += ["  - conv 8 3x3 pad=1, relu" for _ in range(layers // 2)]
    return "\n".join(lines) + "\n"


def analyse_time(text: str) -> tuple[float, int, int]:
    """Seconds to parse, expand and count ``text``; the layer count; peak traced memory in bytes."""
    from cnncalc.analysis import analyze
    from cnncalc.graph import build_graph
    from cnncalc.spec import parse_spec

    t = time.perf_counter()
    spec = parse_spec(text, "generated.yaml")
    report = analyze(build_graph(spec))
    elapsed = time.perf_counter() - t
    tracemalloc.start()
    spec = parse_spec(text, "generated.yaml")
    report = analyze(build_graph(spec))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return elapsed, len(report.layers), peak


def show_time(text: str, width: int | None = 100) -> tuple[float, float]:
    """CPU seconds to analyse ``text`` and to draw its ``show`` table (laid out for ``width``) as text.

    CPU time (one thread), not wall time: the ratio of the two should not depend on what else the machine runs.
    """
    from cnncalc import render
    from cnncalc.analysis import analyze
    from cnncalc.graph import build_graph
    from cnncalc.render import layout
    from cnncalc.spec import parse_spec

    t = time.process_time()
    spec = parse_spec(text, "generated.yaml")
    report = analyze(build_graph(spec))
    t1 = time.process_time()
    layout.to_text(layout.render(render.report_table(report), width))
    return t1 - t, time.process_time() - t1


def check_library() -> float:
    from cnncalc.analysis import check_spec_file
    from cnncalc.library import library_files

    t = time.perf_counter()
    results = [check_spec_file(f) for f in library_files()]
    elapsed = time.perf_counter() - t
    assert all(r.ok for r in results), "the library does not check clean"
    return elapsed


def peers(python: str) -> list[tuple[str, float]]:
    """Seconds for each peer to summarise ResNet-152 with ``python`` (which must import torch, torchvision, the peer)."""
    out: list[tuple[str, float]] = []
    code = {
        "import torch + torchvision": "import torch, torchvision",
        "torchinfo.summary": "import torch, torchvision, torchinfo; m = torchvision.models.resnet152(weights=None)"
        "; torchinfo.summary(m, (1, 3, 224, 224), verbose=0)",
        "fvcore FlopCountAnalysis": "import torch, torchvision; from fvcore.nn import FlopCountAnalysis"
        "; m = torchvision.models.resnet152(weights=None).eval()"
        "; FlopCountAnalysis(m, torch.zeros(1, 3, 224, 224)).total()",
        "torch FlopCounterMode": "import torch, torchvision; from torch.utils.flop_counter import FlopCounterMode"
        "; m = torchvision.models.resnet152(weights=None).eval()\n"
        "with FlopCounterMode(display=False) as f:\n    m(torch.zeros(1, 3, 224, 224))",
    }
    for name, src in code.items():
        try:
            out.append((name, wall([python, "-c", src])))
        except subprocess.CalledProcessError:
            out.append((name, float("nan")))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=7, help="alternating floor/show pairs (default 7)")
    ap.add_argument("--peers", action="store_true", help="also time torchinfo, fvcore and FlopCounterMode")
    ap.add_argument(
        "--peer-python",
        default=sys.executable,
        help="the interpreter that has torch, torchvision, torchinfo and fvcore (default: this one)",
    )
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    rows: list[tuple[str, str, str, bool]] = []

    floor, show, ratio = startup(args.pairs)
    rows.append(
        (
            "show resnet152 / floor (median of pairs)",
            f"{ratio:.2f}x ({show * 1000:.0f} ms vs {floor * 1000:.0f} ms)",
            "<= 2.0x",
            ratio <= 2.0,
        )
    )
    heavy = heavy_imports()
    rows.append(("heavy modules imported by show", ", ".join(heavy) or "none", "none", not heavy))

    t10, n10, m10 = analyse_time(generated_spec(10_000))
    t100, n100, m100 = analyse_time(generated_spec(100_000))
    rows.append((f"generated {n100:,} layers", f"{t100:.2f} s", "<= 3 s", t100 <= 3.0))
    rows.append((f"time({n100:,}) / time({n10:,})", f"{t100 / t10:.1f}", "<= 12", t100 / t10 <= 12))
    rows.append(
        (
            f"peak memory({n100:,}) / memory({n10:,})",
            f"{m100 / m10:.1f} ({m100 / 2**20:.0f} MiB)",
            "<= 12 (linear)",
            m100 / m10 <= 12,
        )
    )
    c10, k10, _ = analyse_time(chain_spec(10_000))
    c100, k100, _ = analyse_time(chain_spec(100_000))
    # Beyond the budget (which is about generated specs with repeats): 50,000 op lines written out,
    # so reading the YAML dominates. Only its linearity is a budget; the time is reported.
    rows.append(
        (
            f"literal chain {k100:,} layers (reported)",
            f"{c100:.2f} s; ratio to {k10:,}: {c100 / c10:.1f}",
            "ratio <= 12",
            c100 / c10 <= 12,
        )
    )
    a100, d100 = show_time(generated_spec(100_000))
    rows.append(
        (
            f"show {n100:,} layers: drawing / analysis",
            f"{d100 / a100:.2f} ({d100:.2f} s of {a100 + d100:.2f} s)",
            "<= 0.5",
            d100 / a100 <= 0.5,
        )
    )
    lib = check_library()
    rows.append(("check architectures/ (in one process)", f"{lib:.2f} s", "<= 1.5 s", lib <= 1.5))

    width = max(len(r[0]) for r in rows)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {sys.platform}")
    for name, value, budget, ok in rows:
        print(f"{name:<{width}}  {value:<36} budget {budget:<16} {'ok' if ok else 'MISSED'}")
    if args.peers:
        ours = show
        for name, secs in peers(args.peer_python):
            print(f"peer: {name:<28} {secs:6.2f} s   = {secs / ours:5.1f}x cnncalc show resnet152")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
