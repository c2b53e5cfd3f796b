"""Rendering: golden tables (pytest --update-golden rewrites them) and the JSON/CSV shapes."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pytest

from cnncalc.api import analyze_spec
from cnncalc.render import JSON_FORMAT, MANY_ROWS, report_csv, report_dict, report_rows, report_table, short
from cnncalc.render.layout import Para, Table, compact_number, shorten_middle, to_text
from cnncalc.render.layout import render as render_doc
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
    assert rows[-1] == f"total,,10,61706,61470,236,0,416520,833040,{activations},,,total"


def test_short_numbers() -> None:
    assert [short(n) for n in (999, 61_706, 60_965_224, 15_470_264_320)] == ["999", "61.7K", "61M", "15.5G"]


# --------------------------------------------------------------------------- layout for a width


def test_shorten_middle_keeps_both_ends() -> None:
    path = "features.stage#2.mbconv#2.add.b1.mbconv_branch.squeeze_excite.mul.b2.conv#1"
    for width in (11, 20, 28, 60):
        s = shorten_middle(path, width)
        head, _, tail = s.partition("…")
        assert len(s) == width and path.startswith(head) and path.endswith(tail) and len(tail) >= len(head)
    assert shorten_middle(path, len(path)) == path
    assert shorten_middle(path, 20, "...").count("...") == 1 and len(shorten_middle(path, 20, "...")) == 20


def test_columns_are_left_out_in_the_stated_order() -> None:
    rows = [(["a.very.long.path.of.layers.indeed.conv", "conv", "1,234", "56,789", "3/1"], None)]
    table = Table(
        ("layer", "op", "params", "MACs", "RF/stride"),
        ("left", "left", "right", "right", "right"),
        rows,
        fit=("middle", "", "number", "number", ""),
        drop=(0, 2, 0, 0, 1),
    )
    assert table.plan(None) == ([0, 1, 2, 3, 4], table.natural(), False)
    shown, widths, rounded = table.plan(52)
    assert shown == [0, 1, 2, 3] and not rounded  # RF/stride first
    assert sum(widths[j] for j in shown) + 2 * (len(shown) - 1) <= 52
    shown, widths, _ = table.plan(45)
    assert shown == [0, 2, 3] and widths[0] == 45 - 6 - 6 - 4  # then op; the path gets the room that frees
    lines = [text for text, _ in table.lines(45)]
    assert all(len(line) <= 45 for line in lines)
    assert "left out to fit 45 columns: RF/stride, op" in " ".join(lines)  # in the order they went


def test_numbers_are_rounded_only_as_a_last_resort() -> None:
    rows = [(["x", "15,470,264,320", "138,357,544"], None)]
    table = Table(("layer", "MACs", "params"), ("left", "right", "right"), rows, fit=("middle", "number", "number"))
    assert table.plan(40)[2] is False
    narrow = Table(
        ("layer", "MACs", "params"),
        ("left", "right", "right"),
        [(["a.b.c.d.e.f.g.h.i.j.k.l.m.n", "15,470,264,320", "138,357,544"], None)] * 2,
        fit=("middle", "number", "number"),
    )
    lines = [text for text, _ in narrow.lines(24)]
    assert "15.5G" in lines[2] and "138M" in lines[2] and "numbers rounded" in " ".join(lines)
    assert compact_number("999") == "999" and compact_number("n/a") == "n/a" and compact_number("61,706") == "61.7K"


def test_prose_wraps_at_the_width_and_keeps_its_words() -> None:
    text = "bias as written; params = weights 60,954,656 + biases 10,568 (incl. BN gamma/beta); " * 3
    lines = [t for t, _ in render_doc([Para(text, "dim", indent=2, hang=4)], 50)]
    assert all(len(line) <= 50 for line in lines) and lines[0].startswith("  b") and lines[1].startswith("    ")
    assert " ".join(" ".join(lines).split()) == " ".join(text.split())


def test_colour_needs_a_terminal_and_an_empty_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    from cnncalc.render import term

    monkeypatch.setattr(term, "is_terminal", lambda stream=None: True)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr(term.sys, "platform", "linux")
    monkeypatch.setenv("NO_COLOR", "")
    assert term.use_colour()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not term.use_colour()
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not term.use_colour()
    monkeypatch.setattr(term, "is_terminal", lambda stream=None: False)
    monkeypatch.setenv("TERM", "xterm")
    assert not term.use_colour()
    assert "\x1b[1m" in to_text([("title", "bold")], colour=True) and "\x1b" not in to_text([("title", "bold")])


def test_width_comes_from_the_option_then_columns_then_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from cnncalc.render import term

    monkeypatch.setenv("COLUMNS", "90")
    assert term.output_width(70) == 70 and term.output_width(None) == 90
    monkeypatch.setenv("COLUMNS", "12")
    assert term.output_width(None) == term.MIN_WIDTH
    monkeypatch.delenv("COLUMNS")
    monkeypatch.setattr(term, "is_terminal", lambda stream=None: False)
    assert term.output_width(None) is None


# --------------------------------------------------------------------------- formats agree with the table


def test_csv_carries_rf_ops_and_marks_the_total() -> None:
    rep = analyze_spec("alexnet")
    rows = list(csv.DictReader(io.StringIO(report_csv(rep, ops=True))))
    assert rows[0]["receptive_field"] == "11" and rows[0]["effective_stride"] == "4" and rows[0]["kind"] == "layer"
    assert rows[-1]["kind"] == "total" and int(rows[-1]["ops"]) == rep.total.ops == sum(
        int(r["ops"]) for r in rows[:-1]
    )
    blocks = list(csv.DictReader(io.StringIO(report_csv(rep, depth=1))))
    assert {r["kind"] for r in blocks} == {"block", "total"} and "ops" not in blocks[0]
    assert sum(int(r["macs"]) for r in blocks[:-1]) == rep.total.macs


def test_markdown_has_the_table_columns_memory_and_latency(cli: Cli) -> None:
    res = cli("show", "resnet18", "-f", "markdown", "--ops", "--bars", "--memory", "--device", "nvidia-t4")
    head = next(line for line in res.stdout.splitlines() if line.startswith("| layer"))
    assert head == (
        "| layer | op | output HxWxC | params | MACs | activations | RF/stride | ops | MACs share | params share |"
    )
    assert "| **total** |" in res.stdout and "**memory (fp32" in res.stdout and "**latency ESTIMATE" in res.stdout
    assert res.stderr == ""
    res = cli("show", "resnet18", "-f", "csv", "--memory", "--bars")
    assert (
        res.stderr.strip()
        == "cnncalc show: note: --format csv leaves out --bars, --memory (the table shows everything)"
    )


def test_json_has_a_format_version_and_honours_depth(cli: Cli) -> None:
    data = json.loads(cli("show", "resnet50", "-f", "json", "--depth", "2").stdout)
    assert data["format"] == JSON_FORMAT and data["depth"] == 2 and "layers" not in data
    assert data["file"] == "resnet50.yaml"
    assert sum(b["macs"] for b in data["blocks"]) == data["total"]["macs"]
    assert sum(b["layers"] for b in data["blocks"]) == len(analyze_spec("resnet50").layers)
    assert all(b["path"].count(".") <= 1 for b in data["blocks"]) and data["blocks"][-1]["output"] == [1000]
    full = json.loads(cli("show", "resnet50", "-f", "json").stdout)
    assert full["format"] == JSON_FORMAT and "blocks" not in full and len(full["layers"]) > len(data["blocks"])
    comp = json.loads(cli("compare", "alexnet", "vgg16", "-f", "json").stdout)
    assert comp["format"] == JSON_FORMAT


def test_a_huge_table_suggests_depth() -> None:
    rep = analyze_spec("alexnet")
    many = replace(rep, layers=rep.layers * (MANY_ROWS // len(rep.layers) + 1))
    notes = [b.text for b in report_table(many) if isinstance(b, Para)]
    assert any("--depth 1" in n for n in notes) and not any("--depth 1" in n for n in notes[:1])
    assert not any("--depth 1" in b.text for b in report_table(rep) if isinstance(b, Para))


@pytest.mark.parametrize("name", ["alexnet", "resnet50", "googlenet", "mobilenet-v3-large"])
def test_fast_cells_equal_the_row_by_row_cells(name: str) -> None:
    """show_cells' column-by-column path (Column.layers) gives exactly the cells of Column.cell, row by row."""
    from dataclasses import replace as swap

    from cnncalc.render import show_cells, show_columns

    rep = analyze_spec(name)
    cols = show_columns(rep, ops=True, bars=True)
    assert all(c.layers is not None for c in cols)
    slow = [swap(c, layers=None) for c in cols]
    assert [list(cells) for cells, _ in show_cells(rep, cols)] == [list(cells) for cells, _ in show_cells(rep, slow)]
    assert [s for _, s in show_cells(rep, cols)] == [s for _, s in show_cells(rep, slow)]


def test_a_report_prints_its_table_and_gives_its_json_object() -> None:
    import cnncalc

    rep = cnncalc.analyze_spec("alexnet")
    text = str(rep)
    assert text.splitlines()[0].startswith("AlexNet") and "conv1.conv" in text and "60,965,224" in text
    assert max(len(line) for line in rep.table(width=60).splitlines()) <= 60
    data = rep.to_dict()
    assert data["total"]["params"] == 60_965_224 and data["format"] == JSON_FORMAT
    assert [b["path"] for b in rep.to_dict(depth=1)["blocks"]][:2] == ["conv1", "pool1"]
