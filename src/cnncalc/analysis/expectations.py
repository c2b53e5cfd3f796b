"""Expectations: a report against the spec's `expect:` block (totals, shapes, per-layer values)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from ..errors import ExpectationError
from ..graph import LayerPath
from ..spec import Expectations, ExpectValue, ShapeAssert, did_you_mean
from .counts import LayerResult, Report, Totals


def _fmt_int(n: int) -> str:
    return f"{n:,}"


def _holds(ev: ExpectValue, value: int) -> bool:
    return abs(Fraction(value) - ev.target) <= ev.tolerance


def _total_failure(key: str, ev: ExpectValue, value: int, report: Report, prefix: str) -> ExpectationError:
    diff = value - ev.target
    pct = f", {float(diff / ev.target) * 100:+.1f}%" if ev.target else ""
    sign = "+" if diff >= 0 else "-"
    notes = [f"source: {ev.source}"] if ev.source else []
    metric = {"flops": "macs"}.get(key, key)
    if metric in ("params", "macs", "weights", "biases", "buffers", "activations"):
        top = [r for r in sorted(report.layers, key=lambda r: -getattr(r, metric))[:4] if getattr(r, metric)]
        if top:
            notes.append(
                f"layers with the largest {metric}: "
                + " · ".join(f"{r.path} {_fmt_int(getattr(r, metric))}" for r in top)
            )
    return ExpectationError(
        f"{prefix}expect.{key}: expected {ev.text}, computed {_fmt_int(value)} ({sign}{_fmt_int(abs(int(diff)))}{pct})",
        ev.loc,
        notes,
        code="E502",
    )


def _layer_index(report: Report, queries: Sequence[str]) -> dict[str, list[LayerResult]]:
    """``report.find(q)`` for every path ``q`` at once, in one pass over the layers (each ``find`` scans them all:
    20,000 expected layers of a 100,000-layer network would take minutes).

    A layer belongs to each queried path among its own path and its ancestors; those are found per path object
    (layers share their parents' objects), by segments, without making any path's text.
    """
    wanted = {LayerPath.parse(q): q for q in queries}
    found: dict[str, list[LayerResult]] = {q: [] for q in queries}
    memo: dict[int, tuple[str, ...]] = {}  # id of a path object -> the queries it lies under
    keep: list[object] = []  # the objects whose ids are in memo stay alive
    for r in report.layers:
        ref = r.node.ref
        node = ref if isinstance(ref, LayerPath) else LayerPath.parse(ref)
        chain: list[LayerPath] = []
        under: tuple[str, ...] = ()
        cur: LayerPath | None = node
        while cur is not None:
            hit = memo.get(id(cur))
            if hit is not None:
                under = hit
                break
            chain.append(cur)
            cur = cur.parent
        for n in reversed(chain):
            q = wanted.get(n)
            under = (*under, q) if q is not None else under
            memo[id(n)] = under
            keep.append(n)
        for q in under:
            found[q].append(r)
    return found


def check_expectations(report: Report, expect: Expectations, prefix: str = "") -> list[ExpectationError]:
    """Every failed expectation of ``expect`` against ``report`` (empty when all hold)."""
    failures: list[ExpectationError] = []
    for key, ev in expect.totals:
        value = report.total.get(key)
        if not _holds(ev, value):
            failures.append(_total_failure(key, ev, value, report, prefix))
    if expect.output is not None and report.output.dims != expect.output.dims:
        failures.append(
            ExpectationError(
                f"{prefix}expect.output: expected {expect.output.text}, computed {report.output}",
                expect.output.loc,
                code="E502",
            )
        )
    index = _layer_index(report, [path for path, _, _ in expect.layers]) if expect.layers else {}
    paths: set[str] | None = None
    suggested = 0
    for path, loc, entries in expect.layers:
        found = index[path]
        if not found:
            hint = ""
            if suggested < 20:  # a did-you-mean costs a search over every path: a few are enough
                suggested += 1
                paths = {r.path for r in report.layers} if paths is None else paths
                hint = did_you_mean(path, paths)
            failures.append(ExpectationError(f"{prefix}expect.layers: no layer `{path}`{hint}", loc, code="E503"))
            continue
        sub = Totals.of(found)
        for key, want in entries:
            if isinstance(want, ShapeAssert):
                got = found[-1].output
                if got.dims != want.dims:
                    failures.append(
                        ExpectationError(
                            f"{prefix}expect.layers.{path}.shape: expected {want.text}, computed {got}",
                            want.loc,
                            code="E502",
                        )
                    )
            else:
                value = sub.get(key)
                if not _holds(want, value):
                    failures.append(
                        ExpectationError(
                            f"{prefix}expect.layers.{path}.{key}: expected {want.text}, computed {_fmt_int(value)}",
                            want.loc,
                            (f"source: {want.source}",) if want.source else (),
                            code="E502",
                        )
                    )
    return failures
