"""The command line's choices and counts come from the library's tables, never from copied lists."""

from __future__ import annotations

import click
import pytest

from cnncalc import report
from cnncalc.analysis import DTYPE_BYTES, OPTIMIZER_STATES
from cnncalc.cli import cli, parse_count
from cnncalc.errors import Location
from cnncalc.spec import _SUFFIX, parse_expect_value
from tests.conftest import ARCH, Cli


def _choices(command: str, option: str) -> list[str]:
    params = {p.name: p for p in cli.commands[command].params}
    return list(params[option].type.choices)  # type: ignore[attr-defined]


def test_choices_are_the_library_tables() -> None:
    from cnncalc.render.diagram import FORMATS as GRAPH_FORMATS

    assert _choices("show", "dtype") == list(DTYPE_BYTES)
    assert _choices("show", "optimizer") == list(OPTIMIZER_STATES)
    assert _choices("graph", "fmt") == list(GRAPH_FORMATS)
    assert _choices("check", "fmt") == list(report.FORMATS)


@pytest.mark.parametrize("suffix", sorted(_SUFFIX))
def test_budgets_read_counts_as_expect_does(suffix: str) -> None:
    for number in ("3", "1_500", *(("2.5",) if suffix else ())):
        text = number + suffix
        assert parse_count(text) == parse_expect_value(text, Location()).target


@pytest.mark.parametrize("bad", ["lots", "~25M", "25M ±1%", "1.2345K", "-3", ""])
def test_a_budget_is_an_exact_count(bad: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_count(bad)


def test_every_dtype_and_a_billion(cli: Cli) -> None:
    alexnet = str(ARCH / "alexnet.yaml")
    cli("check", alexnet, "--max-params", "1B", "-q")
    cli("check", alexnet, "--max-params", "0.05B", code=1)
    for dtype in DTYPE_BYTES:
        cli("show", alexnet, "--dtype", dtype, "--memory", "--format", "json")
