"""The Canziani-style chart: accuracy parsing, argument errors, the optional-matplotlib error, PNG/SVG output."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from cnncalc.errors import CnncalcError
from cnncalc.render.plot import MISSING_MATPLOTLIB, MatplotlibMissingError, PlotError, accuracy_source, plot, top1
from tests.helpers import run

SMALL = "input: 32x32x3\nlayers:\n  - conv 16 3x3 pad=1, relu\n  - gap\n  - fc 10\n"
BIG = "input: 32x32x3\nlayers:\n  - conv 64 3x3 pad=1, relu\n  - conv 64 3x3 pad=1, relu\n  - gap\n  - fc 10\n"


def texts(svg: str) -> str:
    """The SVG's text elements, joined by spaces (a wrapped caption reads as one line)."""
    return " ".join(re.findall(r"<text[^>]*>([^<]*)", svg))


def with_accuracy(text: str, top: str, source: str = "") -> str:
    acc = f"accuracy: {{top1: '{top}'" + (f", source: '{source}'" if source else "") + "}\n"
    return acc + text


# ---------------------------------------------------------------- no matplotlib needed


def test_top1_and_source_come_from_the_spec() -> None:
    rep = run(with_accuracy(SMALL, "76.13", "torchvision weights table"))
    assert top1(rep) == pytest.approx(76.13)
    assert accuracy_source(rep) == "torchvision weights table"
    assert top1(run(with_accuracy(SMALL, "71.5%"))) == pytest.approx(71.5)
    assert top1(run(SMALL)) is None and accuracy_source(run(SMALL)) == ""


@pytest.mark.parametrize("bad", ["high", "176", "-1"])
def test_an_unreadable_accuracy_is_an_error(bad: str) -> None:
    with pytest.raises(PlotError, match="accuracy `top1"):
        top1(run(with_accuracy(SMALL, bad)))


def test_missing_matplotlib_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    with pytest.raises(MatplotlibMissingError) as err:
        plot([run(SMALL)], ["small"], tmp_path / "c.png")
    assert err.value.message == MISSING_MATPLOTLIB == "cnncalc plot needs matplotlib: pip install 'cnncalc[plot]'"
    assert isinstance(err.value, CnncalcError)
    assert not (tmp_path / "c.png").exists()


@pytest.mark.parametrize(
    ("reports", "labels", "name", "kwargs", "message"),
    [
        (0, [], "c.png", {}, "no reports"),
        (1, ["a", "b"], "c.png", {}, "1 reports but 2 labels"),
        (1, ["a"], "c.pdf", {}, r"\.png or \.svg"),
        (1, ["a"], "chart", {}, r"\.png or \.svg"),
        (1, ["a"], "c.png", {"y": "top5"}, "auto, top1 or params"),
        (1, ["a"], "c.png", {"y": "top1"}, "no spec states a top-1"),
    ],
)
def test_argument_errors(
    reports: int, labels: list[str], name: str, kwargs: dict[str, str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(PlotError, match=message):
        plot([run(SMALL)] * reports, labels, tmp_path / name, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- drawing


@pytest.fixture
def mpl() -> None:
    pytest.importorskip("matplotlib")


@pytest.mark.usefixtures("mpl")
def test_png_is_written(tmp_path: Path) -> None:
    out = tmp_path / "chart.PNG"
    plot([run(SMALL), run(BIG)], ["small", "big"], out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.usefixtures("mpl")
def test_svg_names_labels_axes_and_accuracy_sources(tmp_path: Path) -> None:
    reps = [run(with_accuracy(SMALL, "61.5", "Paper A, table 2")), run(with_accuracy(BIG, "70.25", "Paper B"))]
    out = tmp_path / "chart.svg"
    plot(reps, ["small-net", "big-net"], out)
    svg = out.read_text()
    words = texts(svg)
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    for text in (
        "small-net",
        "big-net",
        "Top-1 accuracy vs. MACs",
        "top-1 accuracy, %",
        "Paper A, table 2 (small-net)",
        "Paper B (big-net)",
        "marker area",
    ):
        assert text in words, text
    again = tmp_path / "again.svg"
    plot(reps, ["small-net", "big-net"], again)
    assert again.read_text() == svg  # reproducible: no date, fixed ids


@pytest.mark.usefixtures("mpl")
def test_y_falls_back_to_params_unless_every_spec_states_top1(tmp_path: Path) -> None:
    reps = [run(with_accuracy(SMALL, "61.5", "Paper A")), run(BIG)]
    out = tmp_path / "auto.svg"
    plot(reps, ["small-net", "big-net"], out)
    svg = texts(out.read_text())
    assert "Parameters vs. MACs" in svg and "parameters, M" in svg and "y is params" in svg
    forced = tmp_path / "top1.svg"
    plot(reps, ["small-net", "big-net"], forced, y="top1")
    svg = texts(forced.read_text())
    assert "Top-1 accuracy vs. MACs" in svg
    assert "Not plotted (no top-1 in the spec): big-net" in svg
    assert "source not stated" not in svg


@pytest.mark.usefixtures("mpl")
def test_log_axis_is_chosen_by_the_spread(tmp_path: Path) -> None:
    tiny = run("input: 8x8x1\nlayers:\n  - conv 2 3x3\n  - fc 2\n")  # far fewer MACs than BIG
    out = tmp_path / "spread.svg"
    plot([tiny, run(BIG)], ["tiny", "big"], out)
    assert "MACs per image, M" in texts(out.read_text())  # BIG: 39.5M MACs
    assert "log scale" in texts(out.read_text())
    flat = tmp_path / "near.svg"
    plot([run(SMALL), run(SMALL)], ["a", "b"], flat)
    assert "log scale" not in flat.read_text()
    with pytest.raises(PlotError, match="MACs > 0"):
        plot([run("input: 8x8x3\nlayers:\n  - maxpool 2x2\n")], ["pool"], tmp_path / "z.png", log_x=True)


@pytest.mark.usefixtures("mpl")
def test_bundled_networks_render(tmp_path: Path) -> None:
    from cnncalc.api import analyze_spec

    names = ["resnet18", "resnet50", "vgg16", "googlenet", "mobilenet-v2", "alexnet"]
    out = tmp_path / "zoo.png"
    plot([analyze_spec(n) for n in names], names, out)
    assert out.stat().st_size > 10_000


def test_plot_module_does_not_import_matplotlib() -> None:
    import subprocess

    code = "import sys, cnncalc.render.plot; print('matplotlib' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
