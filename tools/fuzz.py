"""Long robustness run: thousands of random and mutated specs through `cnncalc check` and `show --format json`.

    python tools/fuzz.py --cases 10000 [--seed N] [--jobs 2] [--out DIR] [--minimize]

Half the cases are drawn from the spec grammar (tests/fuzzing.py `generated_specs`), half are bundled
specs after random mutations (`mutated_specs`). Every case must end in "ok" or in a located error
(tests/fuzzing.py `outcome`); a case that breaks the CLI's contract, takes longer than --time-limit
seconds (default 1) or hangs past --hard-timeout is a violation. Violating inputs are saved to --out
(each as NNN-KIND.yaml with a .txt holding the command and its output), a summary is printed, and
the exit status is 1 when any violation was found. Known bugs are NOT excluded here (tests/test_fuzz.py
excludes them from CI only). --minimize also writes a line/token-reduced reproducer per distinct violation.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

from tests.fuzzing import CaseTimeout, Violation, generated_specs, mutated_specs, outcome  # noqa: E402

CHUNK = 250  # cases per task (load balancing across --jobs)


def _save(out: Path, tag: str, text: str, report: str) -> str:
    path = out / f"{tag}.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    (out / f"{tag}.txt").write_text(report, encoding="utf-8", errors="backslashreplace")
    return str(path)


def run_task(task: tuple[str, int, int, float, float, str, int, bool]) -> dict[str, Any]:
    """Run ``n`` cases of one kind with one seed; return counts, timings and violations."""
    kind, n, task_seed, time_limit, hard_timeout, out_dir, keep, all_formats = task
    out = Path(out_dir)
    stats: dict[str, Any] = {
        "kind": kind,
        "cases": 0,
        "ok": 0,
        "error": 0,
        "violations": 0,
        "slow": 0,
        "slow_once": 0,
        "slowest": (0.0, ""),
        "signatures": Counter(),
        "examples": {},
    }
    strategy = generated_specs() if kind == "generated" else mutated_specs()

    def record(signature: str, text: str, report: str) -> None:
        stats["violations"] += 1
        stats["signatures"][signature] += 1
        saved = stats["examples"].setdefault(signature, [])
        if len(saved) < keep:
            tag = f"{kind}-s{task_seed}-{stats['cases']:05d}-{len(saved)}"
            saved.append(_save(out, tag, text, f"signature: {signature}\n\n{report}\n"))

    @seed(task_seed)
    @settings(
        max_examples=n, deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
    )
    @given(strategy)
    def case(text: str) -> None:
        stats["cases"] += 1
        t0 = time.perf_counter()
        try:
            result = outcome(text, timeout=hard_timeout, all_formats=all_formats)
        except Violation as v:
            record(v.signature, text, str(v))
            result = "violation"
        except CaseTimeout as exc:
            record(f"hang (> {hard_timeout:g} s)", text, str(exc))
            result = "violation"
        elapsed = time.perf_counter() - t0
        if result != "violation":
            stats[result] += 1
        if elapsed > stats["slowest"][0]:
            first = next((ln for ln in text.splitlines() if ln.startswith("name:")), "")
            stats["slowest"] = (elapsed, f"{kind} {first[:60]}")
        if elapsed > time_limit and result != "violation":
            t1 = time.perf_counter()  # time it again: a GC pause or a busy machine is not a slow spec
            outcome(text, timeout=hard_timeout, all_formats=all_formats)
            again = time.perf_counter() - t1
            if again > time_limit:
                stats["slow"] += 1
                record(
                    f"slow (> {time_limit:g} s)",
                    text,
                    f"took {elapsed:.2f} s, then {again:.2f} s (check + show), outcome {result}",
                )
                stats[result] -= 1
            else:
                stats["slow_once"] += 1

    case()
    return stats


# --------------------------------------------------------------------------- reduction


def _same_violation(text: str, signature: str, time_limit: float, hard_timeout: float, all_formats: bool) -> bool:
    t0 = time.perf_counter()
    try:
        outcome(text, timeout=hard_timeout, all_formats=all_formats)
    except Violation as v:
        return v.signature == signature
    except CaseTimeout:
        return signature.startswith("hang")
    return signature.startswith("slow") and time.perf_counter() - t0 > time_limit


def minimize(
    text: str,
    signature: str,
    time_limit: float = 1.0,
    hard_timeout: float = 10.0,
    all_formats: bool = False,
    seconds: float = 60.0,
) -> str:
    """Greedy reduction keeping the same violation signature: drop lines, then tokens, then characters.

    Stops after ``seconds`` (a hang costs ``hard_timeout`` per attempt) and returns the smallest text so far.
    """
    end = time.perf_counter() + seconds

    def more() -> bool:
        return time.perf_counter() < end

    def still(candidate: str) -> bool:
        return more() and _same_violation(candidate, signature, time_limit, hard_timeout, all_formats)

    for unit in ("lines", "tokens", "chars"):
        changed = True
        while changed and more():
            changed = False
            if unit == "lines":
                parts = text.split("\n")
                joiner = "\n"
            elif unit == "tokens":
                parts = text.split(" ")
                joiner = " "
            else:
                parts = list(text)
                joiner = ""
            size = max(len(parts) // 2, 1)
            while size >= 1 and more():
                i = len(parts) - size
                while i >= 0 and more():
                    candidate = joiner.join(parts[:i] + parts[i + size :])
                    if candidate != text and still(candidate):
                        text, parts, changed = candidate, parts[:i] + parts[i + size :], True
                    i -= size
                size //= 2
            if unit == "chars" and len(text) > 2000:
                break
    return text


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=10_000, help="total cases, split between generated and mutated")
    ap.add_argument("--seed", type=int, default=None, help="base seed (default: random, printed)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    ap.add_argument("--time-limit", type=float, default=1.0, help="flag a case slower than this (seconds)")
    ap.add_argument("--hard-timeout", type=float, default=10.0, help="abort a command after this (a hang)")
    ap.add_argument("--out", type=Path, default=None, help="folder for violating inputs")
    ap.add_argument("--keep", type=int, default=5, help="inputs saved per distinct violation per task")
    ap.add_argument("--all-formats", action="store_true", help="also render accepted specs as table, CSV, Markdown")
    ap.add_argument("--minimize", action="store_true", help="also write a reduced reproducer per violation")
    args = ap.parse_args(argv)

    base_seed = args.seed if args.seed is not None else random.randrange(10**6)
    out: Path = args.out or Path(f"/tmp/cnncalc-fuzz-out-{base_seed}")
    out.mkdir(parents=True, exist_ok=True)
    n_gen = args.cases // 2
    n_mut = args.cases - n_gen
    tasks = []
    for kind, n in (("generated", n_gen), ("mutated", n_mut)):
        for k, start in enumerate(range(0, n, CHUNK)):
            size = min(CHUNK, n - start)
            tasks.append(
                (
                    kind,
                    size,
                    base_seed * 1000 + k * 2 + (kind == "mutated"),
                    args.time_limit,
                    args.hard_timeout,
                    str(out),
                    args.keep,
                    args.all_formats,
                )
            )
    print(
        f"cnncalc fuzz: {args.cases:,} cases ({n_gen:,} generated, {n_mut:,} mutated), seed {base_seed}, "
        f"{args.jobs} job(s), {len(tasks)} tasks; inputs of violations -> {out}",
        flush=True,
    )

    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []
    if args.jobs > 1:
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            for r in pool.imap_unordered(run_task, tasks):
                results.append(r)
                done = sum(x["cases"] for x in results)
                print(
                    f"  {done:>6,} cases, {sum(x['violations'] for x in results)} violations, "
                    f"{time.perf_counter() - t0:6.1f} s",
                    flush=True,
                )
    else:
        for t in tasks:
            results.append(run_task(t))
            print(f"  {sum(x['cases'] for x in results):>6,} cases, {time.perf_counter() - t0:6.1f} s", flush=True)
    total = time.perf_counter() - t0

    signatures: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    print()
    print(f"{'kind':<10} {'cases':>7} {'ok':>7} {'error':>7} {'violations':>10} {'slow':>5}")
    for kind in ("generated", "mutated"):
        rs = [r for r in results if r["kind"] == kind]
        row = {k: sum(r[k] for r in rs) for k in ("cases", "ok", "error", "violations", "slow")}
        print(
            f"{kind:<10} {row['cases']:>7,} {row['ok']:>7,} {row['error']:>7,} {row['violations']:>10,} "
            f"{row['slow']:>5,}"
        )
    all_row = {k: sum(r[k] for r in results) for k in ("cases", "ok", "error", "violations", "slow")}
    print(
        f"{'total':<10} {all_row['cases']:>7,} {all_row['ok']:>7,} {all_row['error']:>7,} "
        f"{all_row['violations']:>10,} {all_row['slow']:>5,}"
    )
    for r in results:
        signatures.update(r["signatures"])
        for sig, paths in r["examples"].items():
            examples.setdefault(sig, []).extend(paths)
    slowest = max((r["slowest"] for r in results), default=(0.0, ""))
    once = sum(r["slow_once"] for r in results)
    print(
        f"\nslowest case: {slowest[0]:.3f} s ({slowest[1]}); cases over {args.time_limit:g} s: {all_row['slow']} "
        f"(confirmed by a second run; {once} more were slow once only, not counted)"
    )
    print(f"total time: {total:.1f} s ({total / max(all_row['cases'], 1) * 1000:.1f} ms per case, {args.jobs} jobs)")

    if signatures:
        print(f"\n{len(signatures)} distinct violation(s):")
        for sig, count in signatures.most_common():
            smallest = min(examples[sig], key=lambda p: Path(p).stat().st_size)
            print(f"  {count:>6,}  {sig}\n          e.g. {smallest}")
            if args.minimize:
                text = Path(smallest).read_bytes().decode("utf-8", "surrogatepass")
                reduced = minimize(text, sig, args.time_limit, args.hard_timeout, args.all_formats)
                slug = "".join(ch if ch.isalnum() else "-" for ch in sig)[:60].strip("-")
                path = out / f"minimal-{slug}.yaml"
                path.write_bytes(reduced.encode("utf-8", "surrogatepass"))
                print(f"          minimal ({len(reduced)} chars): {path}")
    (out / "summary.json").write_text(
        json.dumps(
            {
                "seed": base_seed,
                "cases": all_row,
                "total_seconds": round(total, 1),
                "slowest_seconds": round(slowest[0], 3),
                "violations": dict(signatures.most_common()),
                "examples": examples,
            },
            indent=1,
        )
    )
    print(f"\nsummary: {out / 'summary.json'}")
    return 1 if signatures else 0


if __name__ == "__main__":
    sys.exit(main())
