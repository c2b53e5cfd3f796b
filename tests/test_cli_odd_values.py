"""No exit 3 a user can reach: every command, every option, odd values.

Each command is run once as a user would run it, then once per option with each odd value in place (empty,
zero, negative, huge, not a number, a path that does not exist, an unwritable output); every run must end with
a documented status (0 ok, 1 a finding or an error in the input, 2 a usage error) and never with an internal
error or a traceback. The options are read from the commands themselves, so a new option is covered at once.
"""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from cnncalc.cli import cli
from tests.conftest import ARCH, Cli

SPEC = str(ARCH / "alexnet.yaml")  # absolute: the tests run in a temporary folder
#: A sensible run of each command (the base the odd values are put into); {tmp} is a writable folder.
BASE: dict[str, tuple[str, ...]] = {
    "check": (SPEC,),
    "compare": ("alexnet", "vgg16"),
    "devices": (),
    "explain": (SPEC, "conv1"),
    "export": (SPEC, "--to", "pytorch"),
    "graph": (SPEC,),
    "import": ("{tmp}/missing.onnx",),
    "list": (),
    "plot": ("alexnet", "-o", "{tmp}/chart.png"),
    "schema": (),
    "show": (SPEC,),
    "verify": (SPEC,),
}
ODD = ("", "0", "-1", "99999999999999999999999", "nan", "x" * 300, "/nonexistent/dir/file", "1B", "3x3x3x3")


def _options(name: str) -> list[click.Option]:
    command = cli.commands[name]
    return [p for p in command.params if isinstance(p, click.Option) and not p.hidden and p.name != "help"]


def test_every_command_has_a_base_run() -> None:
    assert set(BASE) == set(cli.commands), "add the new command to BASE"


def _check(cli_: Cli, args: list[str]) -> None:
    res = cli_(*args, code=None)
    out = res.stdout + res.stderr
    assert res.exit_code in (0, 1, 2), f"cnncalc {' '.join(args)} exited {res.exit_code}\n{out[-2000:]}"
    assert "internal error" not in out and "Traceback" not in out, f"cnncalc {' '.join(args)}\n{out[-2000:]}"


@pytest.mark.parametrize("name", sorted(BASE))
def test_odd_values_in_every_option_end_in_a_documented_status(
    name: str, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # options that name an output file write it here
    base = [a.replace("{tmp}", str(tmp_path)) for a in BASE[name]]
    _check(cli, [name, *base])
    for option in _options(name):
        flag = max(option.opts, key=len)
        if option.is_flag:
            _check(cli, [name, *base, flag])
            continue
        for value in ODD:
            _check(cli, [name, *base, flag, value])


@pytest.mark.parametrize("name", sorted(n for n, args in BASE.items() if args))
def test_odd_arguments_end_in_a_documented_status(
    name: str, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for value in ("", "/nonexistent.yaml", "-x", "architectures", "x" * 300):
        _check(cli, [name, value])


def test_check_of_a_folder_names_what_is_named_like_a_spec_but_is_none(cli: Cli, tmp_path: Path) -> None:
    import os

    (tmp_path / "ok.yaml").write_text((ARCH / "alexnet.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "dangling.yaml").symlink_to(tmp_path / "missing.yaml")
    res = cli("check", str(tmp_path), code=2)
    assert "dangling.yaml" in res.stderr and "not a regular file" in res.stderr
    (tmp_path / "dangling.yaml").unlink()
    os.mkfifo(tmp_path / "pipe.yaml")
    res = cli("check", str(tmp_path), code=2)
    assert "pipe.yaml" in res.stderr


def test_a_name_too_long_for_the_file_system_is_an_error_not_a_crash(cli: Cli) -> None:
    res = cli("show", "x" * 300, code=1)
    assert "internal error" not in res.stderr


def test_an_empty_name_and_a_folder_named_like_a_bundled_spec(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "an empty spec name" in cli("show", "", code=1).stderr
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vgg16").mkdir()  # a folder is no spec: the bundled vgg16 is meant
    assert cli("show", "vgg16", "--depth", "1").stdout.startswith("VGG-16")


def test_github_annotations_escape_the_file_property() -> None:
    from cnncalc.diagnostics import Diagnostic, Location
    from cnncalc.report import github

    d = Diagnostic("bad", Location("a,b:c%d\nx.yaml", 3, 4), code="E401")
    line = github(d, "a,b:c%d\nx.yaml")
    assert line.startswith("::error file=a%2Cb%3Ac%25d%0Ax.yaml,line=3,col=4::")


def test_a_variant_follows_the_last_colon(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "a:b"
    folder.mkdir()
    (folder / "net.yaml").write_text((ARCH / "alexnet.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    out = cli("compare", f"{folder / 'net.yaml'}:alexnet-one-tower", "alexnet", "--format", "json").stdout
    assert '"variant": "alexnet-one-tower"' in out
