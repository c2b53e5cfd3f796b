"""The catalogue of bad input: every file in tests/invalid/ must fail `cnncalc check` with one exact message.

Each file is one case, named ``<code>-<what>.yaml`` after the diagnostic code that ``cnncalc check --format
json`` reports (``e201-unknown-op.yaml``). Its first line holds the expected first line of ``cnncalc check
FILE`` output, with the file's path written as ``FILE``::

    # expect: FILE:5:5: error: unknown op or block `covn`; did you mean `conv`?

An optional second header line ``# xfail: REASON`` marks a case where cnncalc does not (yet) behave as a
demanding user would want; the expectation then states the wanted message, and the case is a strict xfail,
so it turns into a failure as soon as cnncalc gets it right (remove the ``# xfail:`` line then). The header
lines are part of the file, so the line numbers in the expectations count them.

Inputs whose first line cannot be a YAML comment (an empty file, NUL bytes, bytes that are not UTF-8, a BOM,
control characters, Unicode line separators) are not committed: ``GENERATED`` below holds their bytes and
expectations, and the test writes them to a temporary directory.

For every case the test asserts: exit code 1, the first stdout line equal to the expectation, the JSON
diagnostic code equal to the file-name prefix, and no Python traceback anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.conftest import Cli

INVALID = Path(__file__).resolve().parent / "invalid"


class Case(NamedTuple):
    code: str
    expect: str
    xfail: str | None


def read_header(path: Path) -> Case:
    """The ``# expect:`` and optional ``# xfail:`` lines at the top of a catalogue file."""
    lines = path.read_bytes().decode("utf-8").split("\n")  # not splitlines(): keep YAML's idea of a line
    if not lines[0].startswith("# expect: "):
        raise AssertionError(f"{path.name}: the first line must be `# expect: FILE:...`")
    xfail = lines[1].removeprefix("# xfail: ").strip() if lines[1].startswith("# xfail: ") else None
    return Case(path.name.split("-", 1)[0].upper(), lines[0].removeprefix("# expect: ").rstrip("\r"), xfail)


def check_case(cli: Cli, path: Path, case: Case) -> None:
    res = cli("check", str(path), code=None)
    assert "Traceback" not in res.stdout + res.stderr, res.stdout + res.stderr
    assert res.exit_code == 1, f"exit {res.exit_code}\n--- stdout\n{res.stdout}\n--- stderr\n{res.stderr}"
    first = res.stdout.splitlines()[0] if res.stdout else ""
    assert first == case.expect.replace("FILE", str(path))
    diags = json.loads(cli("check", str(path), "--format", "json", code=None).stdout)
    assert diags and diags[0]["code"] == case.code


FILES = sorted(INVALID.glob("*.yaml"))


def _param(path: Path) -> object:
    case = read_header(path)
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(path, case, id=path.stem, marks=marks)


@pytest.mark.parametrize(("path", "case"), [_param(p) for p in FILES])
def test_invalid_file(cli: Cli, path: Path, case: Case) -> None:
    check_case(cli, path, case)


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
def test_invalid_generated(cli: Cli, tmp_path: Path, name: str, data: bytes, expect: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(data)
    check_case(cli, path, Case(name.split("-", 1)[0].upper(), expect, None))


def test_catalogue_is_well_formed() -> None:
    assert len(FILES) + len(GENERATED) >= 65
    for path in FILES:
        case = read_header(path)
        assert case.expect.startswith("FILE:"), path.name
        assert len(case.code) == 4 and case.code[0] == "E" and case.code[1:].isdigit(), path.name
