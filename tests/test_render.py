"""Rendering: golden tables (pytest --update-golden rewrites them) and the JSON/CSV shapes."""

from __future__ import annotations

import json

import pytest

from cnncalc.api import analyze_spec
from cnncalc.render import report_csv, report_dict, report_rows, short
from tests.conftest import Cli, check_golden

CASES = {
    "show-alexnet": ("show", "alexnet"),
    "show-vgg16-no-bias": ("show", "vgg16", "--no-bias"),
    "show-googlenet-depth1": ("show", "googlenet", "--depth", "1"),
    "show-resnet50-depth2": ("show", "resnet50", "--depth", "2"),
    "compare-inception": ("compare", "inception-naive", "inception-bottleneck", "--depth", "2"),
    "compare-resnets": ("compare", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str, cli: Cli, update_golden: bool) -> None:
    check_golden(f"{name}.txt", cli(*CASES[name]).stdout, update_golden)


@pytest.mark.parametrize("name", ["alexnet", "resnet50", "googlenet"])
def test_rows_add_up_to_the_footer(name: str) -> None:
    rep = analyze_spec(name)
    leaves = [r for r in report_rows(rep) if r.kind == "layer"]
    assert sum(r.totals.params for r in leaves) == rep.total.params
    assert sum(r.totals.macs for r in leaves) == rep.total.macs
    groups = report_rows(rep, depth=1)
    assert sum(r.totals.macs for r in groups) == rep.total.macs


def test_json_is_plain_data() -> None:
    data = report_dict(analyze_spec("googlenet"))
    assert json.loads(json.dumps(data)) == data
    conv = next(layer for layer in data["layers"] if layer["op"] == "conv")
    assert conv["attrs"]["kernel"] == [7, 7] and conv["attrs"]["bias"] is False


def test_csv_total_row() -> None:
    rows = report_csv(analyze_spec("lenet5", variant="lenet5-simplified")).splitlines()
    activations = 2 * 28 * 28 * 6 + 14 * 14 * 6 + 2 * 10 * 10 * 16 + 5 * 5 * 16 + 2 * 120 + 2 * 84 + 10
    assert rows[-1] == f"total,,10,61706,61470,236,0,416520,833040,{activations}"


def test_short_numbers() -> None:
    assert [short(n) for n in (999, 61_706, 60_965_224, 15_470_264_320)] == ["999", "61.7K", "61M", "15.5G"]
