"""The README stays true: generated blocks match the code, and the set-up commands match CI."""

from __future__ import annotations

import re

from cnncalc.cli import cli
from cnncalc.layers import LAYER_TYPES
from tests.conftest import ROOT
from tools import readme


def test_generated_blocks_are_up_to_date() -> None:
    text = readme.README.read_text(encoding="utf-8")
    assert readme.render(text) == text, "run: python tools/readme.py"


def test_readme_opens_with_the_two_setup_commands_and_ci_runs_the_second() -> None:
    text = readme.README.read_text(encoding="utf-8")
    block = re.search(r"```\n(.*?)\n```", text, re.S)
    assert block is not None and text.index(block.group(0)) < 200, "the README opens with the commands"
    install, test = block.group(1).splitlines()
    assert "pip install ." in install and "cnncalc show" in install
    assert "pip install '.[dev]'" in test and "tools/check" in test
    check = (ROOT / "tools" / "check").read_text(encoding="utf-8")
    for step in ("ruff check", "ruff format --check", "mypy --strict", "pytest"):
        assert step in check, step
    assert test in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_layer_type_and_command_is_documented() -> None:
    text = readme.README.read_text(encoding="utf-8")
    for name in LAYER_TYPES:
        assert f"`{name}`" in text
    for name, command in cli.commands.items():
        assert command.help and "Example:" in command.help, name
        assert f"cnncalc {name} --help" in text
