"""The catalogue of bad input: every file in tests/invalid/ is one case that cnncalc must report with one exact message.

Each file is one case, named ``<code>-<what>.yaml`` after the diagnostic code cnncalc reports for it
(``e201-unknown-op.yaml``; ``w101-...`` for a warning). Its first line holds the expected first line of the
output, with the file's path written as ``FILE``::

    # expect: FILE:5:5: error: unknown op or block `covn`; did you mean `conv`?

Optional header lines follow it:

* ``# run: cnncalc show FILE --device nvidia-t5``: the command (default ``cnncalc check FILE``), for codes that
  only a command-line argument can cause (budgets, variants, devices, charts, ``explain``'s layer);
* ``# xfail: REASON`` marks a case where cnncalc does not (yet) behave as a demanding user would want; the
  expectation then states the wanted message, and the case is a strict xfail, so it turns into a failure as
  soon as cnncalc gets it right (remove the ``# xfail:`` line then).

The header lines are part of the file, so the line numbers in the expectations count them.

Inputs whose first line cannot be a YAML comment (an empty file, NUL bytes, bytes that are not UTF-8, a BOM,
control characters, Unicode line separators) are not committed: ``GENERATED`` below holds their bytes and
expectations, and the test writes them to a temporary directory.

For every case the test asserts: the exit status the table of codes gives the code (1 for an error, 0 for a
warning), the first line of the output (stdout for ``check``, stderr for the other commands) equal to the
expectation, the code reported equal to the file-name prefix (``check --format json``; for other commands the
error the CLI reports), and no Python traceback anywhere. ``test_every_code_has_a_case`` keeps the table of codes
and the catalogue together: every code has a case here, or (if no command line can cause it) in ``API_CASES``.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

import cnncalc.report
from cnncalc.diagnostics import CODES, Diagnostic, lookup
from cnncalc.errors import CnncalcError
from tests.conftest import Cli
from tests.helpers import run

INVALID = Path(__file__).resolve().parent / "invalid"


class Case(NamedTuple):
    code: str
    expect: str
    xfail: str | None
    argv: tuple[str, ...] = ("check", "FILE")


def read_header(path: Path) -> Case:
    """The ``# expect:`` line and the optional ``# run:`` and ``# xfail:`` lines at the top of a catalogue file."""
    lines = path.read_bytes().decode("utf-8").split("\n")  # not splitlines(): keep YAML's idea of a line
    if not lines[0].startswith("# expect: "):
        raise AssertionError(f"{path.name}: the first line must be `# expect: FILE:...`")
    xfail, argv = None, ("check", "FILE")
    for line in lines[1:3]:
        if line.startswith("# xfail: "):
            xfail = line.removeprefix("# xfail: ").strip()
        elif line.startswith("# run: "):
            words = shlex.split(line.removeprefix("# run: "))
            if words[:1] != ["cnncalc"] or not any("FILE" in w for w in words):
                raise AssertionError(f"{path.name}: `# run:` holds a cnncalc command naming FILE")
            argv = tuple(words[1:])
    code = path.name.split("-", 1)[0].upper()
    return Case(code, lines[0].removeprefix("# expect: ").rstrip("\r"), xfail, argv)


def check_case(cli: Cli, path: Path, case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    args = [a.replace("FILE", str(path)) for a in case.argv]
    reported: list[str] = []
    report_error = cnncalc.report.error

    def recording(err: CnncalcError, *rest: object) -> object:
        reported.append(err.code)
        return report_error(err, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(cnncalc.report, "error", recording)
    if case.code.startswith("W"):  # a warning next to a command's output (`cnncalc import`): reported, not raised
        report_warning = cnncalc.report.warning

        def warned(d: Diagnostic, *rest: object) -> None:
            reported.append(d.code)
            report_warning(d, *rest)  # type: ignore[arg-type]

        monkeypatch.setattr(cnncalc.report, "warning", warned)
    res = cli(*args, code=None)
    assert "Traceback" not in res.stdout + res.stderr, res.stdout + res.stderr
    want = lookup(case.code).exit
    assert res.exit_code == want, (
        f"exit {res.exit_code}, not {want}\n--- stdout\n{res.stdout}\n--- stderr\n{res.stderr}"
    )
    output = res.stdout if args[0] == "check" else res.stderr
    first = output.splitlines()[0] if output else ""
    assert first == case.expect.replace("FILE", str(path))
    if args[0] == "check":
        diags = json.loads(cli(*args, "--format", "json", code=None).stdout)
        assert diags and diags[0]["code"] == case.code
    else:
        assert reported == [case.code]


FILES = sorted(INVALID.glob("*.yaml"))


def _param(path: Path) -> object:
    case = read_header(path)
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(path, case, id=path.stem, marks=marks)


@pytest.mark.parametrize(("path", "case"), [_param(p) for p in FILES])
def test_invalid_file(cli: Cli, path: Path, case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    check_case(cli, path, case, monkeypatch)


#: Cases that cannot carry a YAML comment header: (id, file bytes, expected first line, xfail reason or None).
GENERATED: list[tuple[str, bytes, str, str | None]] = [
    ("e100-empty-file", b"", "FILE:1:1: error: the file is empty; a spec needs at least `input:` and `layers:`", None),
    (
        "e100-nul-bytes",
        b"input: 8x8x3\nlayers:\n  - relu\x00\n",
        "FILE:3:9: error: the file contains NUL bytes; is it a binary file?",
        None,
    ),
    (
        "e100-latin1-byte",
        b"input: 8x8x3\nname: caf\xe9\nlayers:\n  - relu\n",
        "FILE:2:10: error: the file is not valid UTF-8 (byte 0xe9)",
        None,
    ),
    (
        "e100-utf16",
        "input: 8x8x3\nlayers:\n  - relu\n".encode("utf-16"),
        "FILE:1:1: error: the file is UTF-16 (as PowerShell's `>` writes); save it as UTF-8",
        None,
    ),
    (
        "e105-utf8-bom-duplicate-key",
        b"\xef\xbb\xbfinput: 8x8x3\nlayers:\n  - relu\ninput: 9x9x3\n",
        "FILE:4:1: error: duplicate key `input` (first at line 1, column 1)",
        None,
    ),
    (
        "e100-control-character",
        b"input: 8x8x3\nname: a\x0cb\nlayers:\n  - relu\n",
        "FILE:2:8: error: the file contains the control character U+000C, which YAML does not allow",
        None,
    ),
    (
        "e100-line-separator",
        "input: 8x8x3\nname: a\u2028b\nlayers:\n  - conv 0 3x3\n".encode(),
        "FILE:2:8: error: the file contains U+2028 (LINE SEPARATOR), which YAML reads as a line break but editors do "
        "not; delete it",
        None,
    ),
]


def _generated(entry: tuple[str, bytes, str, str | None]) -> object:
    name, data, expect, xfail = entry
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(name, data, expect, id=name, marks=marks)


@pytest.mark.parametrize(("name", "data", "expect"), [_generated(g) for g in GENERATED])
def test_invalid_generated(
    cli: Cli, tmp_path: Path, name: str, data: bytes, expect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(data)
    check_case(cli, path, Case(name.split("-", 1)[0].upper(), expect, None), monkeypatch)


def test_catalogue_is_well_formed() -> None:
    assert len(FILES) + len(GENERATED) >= 65
    for path in FILES:
        case = read_header(path)
        assert case.expect.startswith(("FILE", "cnncalc: ")), path.name
        assert case.code in CODES, f"{path.name}: {case.code} is not in the table of codes (cnncalc.diagnostics)"
        assert path.name == path.name.lower() and path.suffix == ".yaml", path.name


def _memory(dtype: str, optimizer: str) -> None:
    from cnncalc.analysis import memory

    memory(run("input: 8x8x3\nlayers: [conv 8 3x3]\n"), dtype, optimizer)


def _roofline_batch() -> None:
    from cnncalc.devices import roofline

    roofline(run("input: 8x8x3\nlayers: [conv 8 3x3]\n"), "nvidia-t4", "fp32", batch=0)


def _bad_profile() -> None:
    from cnncalc.devices import _device

    _device("toy", {"name": "toy", "source": "s", "peak_flops": {"fp32": 0}, "bandwidth": 1})


def _plot_without_matplotlib(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cnncalc.render.plot import plot

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    plot([run("input: 8x8x3\nlayers: [conv 8 3x3]\n")], ["x"], tmp_path / "c.png")


def _verify_without_torch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cnncalc.verify import verify

    for name in [m for m in sys.modules if m == "torch" or m.startswith("torch.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    verify(run("input: 8x8x3\nlayers: [conv 8 3x3]\n"))


def _import_without(package: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cnncalc.importers import import_model

    for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, package, None)  # makes `import PACKAGE` raise ImportError
    model = tmp_path / "relu.onnxtxt"
    model.write_text(
        '<ir_version: 8, opset_import: ["" : 17]>\nagraph (float[1,3,8,8] x) => (float[1,3,8,8] y) {\n'
        "    y = Relu(x)\n}\n"
    )
    import_model("torchvision.models:resnet18" if package == "torch" else str(model))


def _import_with_a_wrong_rule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A registry rule that reads a Conv's output channels wrong: the import's own check catches it."""
    pytest.importorskip("onnx")
    from dataclasses import replace

    from cnncalc import layers
    from cnncalc.importers import import_model
    from cnncalc.onnxcode import conv_args

    conv = layers.LAYER_TYPES["conv"]
    assert conv.onnx is not None
    wrong = replace(conv.onnx, read=lambda node: {**conv_args(node), "out": 2 * conv_args(node)["out"]})
    monkeypatch.setitem(layers.LAYER_TYPES, "conv", replace(conv, onnx=wrong))
    model = tmp_path / "conv.onnxtxt"
    model.write_text(
        '<ir_version: 8, opset_import: ["" : 17]>\nagraph (float[1,3,8,8] x) => (float[1,4,8,8] y)\n'
        "   <float[4,3,1,1] w = {1,1,1,1,1,1,1,1,1,1,1,1}> {\n    y = Conv(x, w)\n}\n"
    )
    import_model(str(model))


#: Codes no command line can cause (the CLI offers only valid choices, or the cause is the environment or
#: bundled data): each with a call of the library that must raise it.
API_CASES: dict[str, Callable[[pytest.MonkeyPatch, Path], None]] = {
    "E214": lambda mp, tmp: _memory("fp64", "sgd"),
    "E215": lambda mp, tmp: _memory("fp32", "lion"),
    "E600": lambda mp, tmp: _bad_profile(),
    "E611": _plot_without_matplotlib,
    "E701": _verify_without_torch,
    "E800": lambda mp, tmp: _import_without("onnx", mp, tmp),
    "E804": lambda mp, tmp: _import_with_a_wrong_rule(mp, tmp),
    "E806": lambda mp, tmp: _import_without("torch", mp, tmp),
}


@pytest.mark.parametrize("code", sorted(API_CASES))
def test_api_case(code: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(CnncalcError) as err:
        API_CASES[code](monkeypatch, tmp_path)
    assert err.value.code == code
    assert type(err.value).__name__ == lookup(code).kind or lookup(code).kind in {
        c.__name__ for c in type(err.value).__mro__
    }


def test_roofline_batch_is_a_device_error() -> None:
    with pytest.raises(CnncalcError) as err:
        _roofline_batch()
    assert err.value.code == "E600"


def test_every_code_has_a_case() -> None:
    cased = {read_header(p).code for p in FILES} | {g[0].split("-", 1)[0].upper() for g in GENERATED}
    missing = [code for code in CODES if code not in cased and code not in API_CASES]
    assert not missing, f"codes without a case in tests/invalid/ (or API_CASES): {', '.join(missing)}"
    assert not cased & set(API_CASES), "a code with a catalogue case needs no API case"
    unknown = sorted(cased - set(CODES))
    assert not unknown, f"catalogue cases for codes the table lacks: {', '.join(unknown)}"
