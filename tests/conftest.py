"""Shared fixtures: a CLI runner with pinned width and no colour, and the golden-file switch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
ARCH = ROOT / "architectures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="Rewrite tests/golden/* from current output.")


GOLDEN = Path(__file__).resolve().parent / "golden"


def check_golden(name: str, text: str, update: bool) -> None:
    """``text`` equals ``tests/golden/<name>``; a missing file fails (``pytest --update-golden`` writes it)."""
    path = GOLDEN / name
    if update:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"golden file {path.name} is missing: run pytest --update-golden and review it"
    assert text == path.read_text(encoding="utf-8"), f"run pytest --update-golden if {name} changed on purpose"


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


class Cli:
    """Invoke cnncalc in-process at a fixed width with colour off; failures show stdout, stderr, exception."""

    def __init__(self) -> None:
        self.runner = CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"})

    def __call__(self, *args: str, code: int | None = 0) -> Result:
        from cnncalc.cli import cli

        result = self.runner.invoke(cli, list(args), prog_name="cnncalc")
        if code is not None and result.exit_code != code:
            raise AssertionError(
                f"cnncalc {' '.join(args)} exited {result.exit_code}, expected {code}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n--- exception\n{result.exception!r}"
            )
        return result


@pytest.fixture
def cli() -> Cli:
    return Cli()


def torchvision_reference() -> dict[str, Any]:
    """The committed output of tools/torchvision_reference.py."""
    return json.loads((DATA / "torchvision_reference.json").read_text())["models"]  # type: ignore[no-any-return]
