"""The differential tester's generator (tools/difftest.py), without PyTorch.

The long run compares every layer with PyTorch (``python tools/difftest.py --networks 5000``, torch needed); here
CI checks what needs no torch: the generator covers every op of the registry (a new op must be taught to it, or
this fails), the networks it draws reach every op, cnncalc accepts them (except the draws that aim at a known
rejection) with the shapes the generator's own model predicts, and the PyTorch source it writes is valid Python.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cnncalc import analyze_spec
from cnncalc.layers import LAYER_TYPES
from tools.difftest import (
    JOINS,
    OPS,
    VALIDITY_TAGS,
    check_coverage,
    draw_network,
    spec_text,
    torch_source,
    uncovered_ops,
    walk,
)


def test_the_generator_covers_every_op_of_the_registry() -> None:
    assert uncovered_ops() == []
    check_coverage()  # the tool's own loud check passes too
    assert set(JOINS) <= set(LAYER_TYPES)


def test_a_new_op_without_a_generator_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(OPS, "pixel_shuffle")
    assert uncovered_ops() == ["pixel_shuffle"]
    with pytest.raises(SystemExit, match="pixel_shuffle"):
        check_coverage()


def test_draws_reach_every_op() -> None:
    seen: set[str] = set()
    for i in range(250):
        seen |= {nd.op for nd in walk(draw_network(f"ci:{i}"))}
    assert set(LAYER_TYPES) - seen == set()


def test_draws_are_deterministic() -> None:
    assert spec_text(draw_network("ci:7")) == spec_text(draw_network("ci:7"))
    assert spec_text(draw_network("ci:7")) != spec_text(draw_network("ci:8"))


@pytest.mark.parametrize("seed", [f"ci:{i}" for i in range(0, 60, 3)])
def test_cnncalc_accepts_the_drawn_specs_with_the_generators_shapes(seed: str, tmp_path: Path) -> None:
    net = draw_network(seed)
    nodes = walk(net)
    tags = set().union(*(nd.tags for nd in nodes))
    compile(torch_source(net), f"<difftest {seed}>", "exec")  # the PyTorch side is valid Python
    if tags & VALIDITY_TAGS:
        pytest.skip(f"drawn to hit a known validity difference: {sorted(tags & VALIDITY_TAGS)}")
    path = tmp_path / "net.yaml"
    path.write_text(spec_text(net), encoding="utf-8")
    report = analyze_spec(str(path))
    got = {r.path.rsplit(".", 1)[-1]: tuple(r.output.dims) for r in report.layers}
    assert got == {nd.name: nd.out for nd in nodes}
