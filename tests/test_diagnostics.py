"""The diagnostics model holds together: one table of codes, the raise sites agree with it, the docs page is its copy.

The catalogue of bad input (tests/test_invalid.py) shows each code reported; these tests read the source: every
code written in cnncalc is in the table, every table code is used, each raise site uses the class the table
names for its code, warnings are made as warnings (nothing sets a severity), and the reporter's three formats
and exit statuses follow the table.
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest

import cnncalc
from cnncalc.diagnostics import CODES, Diagnostic, ExitCode, Location, lookup
from cnncalc.errors import CnncalcError, ExprError, SpecError
from cnncalc.report import Reporter, exit_code, github, record
from tools import docs

SRC = Path(cnncalc.__file__).resolve().parent
CODE = re.compile(r"[EW]\d{3}\Z")


def _sources() -> dict[str, ast.Module]:
    return {p.relative_to(SRC).as_posix(): ast.parse(p.read_text(encoding="utf-8")) for p in sorted(SRC.rglob("*.py"))}


def _error_classes() -> dict[str, type[CnncalcError]]:
    for mod in pkgutil.walk_packages(cnncalc.__path__, "cnncalc."):
        if mod.name not in ("cnncalc.__main__",):
            importlib.import_module(mod.name)
    out: dict[str, type[CnncalcError]] = {}
    todo: list[type[CnncalcError]] = [CnncalcError]
    while todo:
        cls = todo.pop()
        out[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return out


def test_the_table_is_well_formed() -> None:
    names = [c.name for c in CODES.values()]
    assert len(set(names)) == len(names)
    for code, row in CODES.items():
        assert code == row.code and CODE.match(code), code
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", row.name), row.name
        assert row.summary.endswith(".") and "\n" not in row.summary and len(row.summary) < 200, code
        assert row.exit == (ExitCode.FAILED if row.severity == "error" else ExitCode.OK)
    assert list(CODES) == sorted(CODES, key=lambda c: (c[0] == "W", c)), "keep the table in order"


def test_every_code_in_the_source_is_in_the_table_and_every_table_code_is_used() -> None:
    used: dict[str, list[str]] = {}
    for name, tree in _sources().items():
        if name == "diagnostics.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.match(node.value):
                used.setdefault(node.value, []).append(f"{name}:{node.lineno}")
    used.pop("E000", None)  # CnncalcError's placeholder: a raise that names no code (flagged below)
    unknown = {c: where for c, where in used.items() if c not in CODES}
    assert not unknown, f"codes missing from cnncalc.diagnostics.CODES: {unknown}"
    unused = [c for c in CODES if c not in used]
    assert not unused, f"codes in the table that no source file uses: {unused}"


def test_each_raise_site_uses_the_class_the_table_names() -> None:
    classes = _error_classes()
    wrong = []
    for name, tree in _sources().items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            cls_name = node.func.id
            if cls_name not in classes and cls_name != "Diagnostic":
                continue
            kw = next((k.value for k in node.keywords if k.arg == "code"), None)
            if kw is None and len(node.args) >= 4:
                kw = node.args[3]
            if kw is not None and not isinstance(kw, ast.Constant):
                continue  # a code passed through (errors.py rebuilding a diagnostic)
            code = kw.value if kw is not None else classes[cls_name].default_code if cls_name in classes else None
            if code is None:
                wrong.append(f"{name}:{node.lineno}: Diagnostic without a code")
                continue
            row = lookup(code)
            if code not in CODES:
                wrong.append(f"{name}:{node.lineno}: {cls_name}(...) with {code}, which is not in the table")
            elif cls_name == "Diagnostic":
                if row.severity != "warning":
                    wrong.append(f"{name}:{node.lineno}: a Diagnostic made for the error {code}; raise an error")
            elif row.kind not in {c.__name__ for c in classes[cls_name].__mro__}:
                wrong.append(
                    f"{name}:{node.lineno}: {cls_name}(..., code={code!r}) but {code} is a {row.kind or 'warning'}"
                )
    assert not wrong, "\n".join(wrong)


def test_every_class_default_is_in_the_table_with_that_class() -> None:
    for name, cls in _error_classes().items():
        if cls is CnncalcError:
            continue
        row = CODES.get(cls.default_code)
        assert row is not None, f"{name}: default code {cls.default_code} is not in the table"
        assert row.kind in {c.__name__ for c in cls.__mro__}, (name, row)


def test_nothing_sets_a_severity() -> None:
    for name, tree in _sources().items():
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for t in targets:
                assert not (isinstance(t, ast.Attribute) and t.attr == "severity"), f"{name}:{node.lineno}"


def test_severity_follows_the_code() -> None:
    err = SpecError("bad", Location("a.yaml", 3, 4, "conv1"), code="E111")
    assert err.severity == "error" and err.diagnostic.code == "E111" and err.path == "conv1"
    with pytest.raises(ValueError, match="E111 is an error"):
        err.severity = "warning"
    warn = Diagnostic("odd", Location("a.yaml", 1, 2), code="W201")
    assert warn.severity == "warning" and warn.info.name == "misaligned-join"
    assert str(warn) == "a.yaml:1:2: warning: odd"
    assert ExprError("x").code == "E300" and ExprError("x", code="E304").diagnostic.info.name == "out-of-range"


def test_an_error_carries_its_diagnostic_while_it_travels() -> None:
    err = SpecError("no", code="E207")
    err.located(Location("f.yaml", 2, 3))
    err.located(Location("f.yaml", 9, 9, "stem.conv"))
    err.message += " (twice)"
    err.notes = ("a note",)
    assert err.diagnostic == Diagnostic("no (twice)", Location("f.yaml", 2, 3, "stem.conv"), ("a note",), code="E207")
    assert str(err) == "f.yaml:2:3: error: stem.conv: no (twice)\n  = a note"
    assert Diagnostic.from_error(err) is err.diagnostic
    assert str(SpecError("no file")) == "cnncalc: error: no file"


def test_the_reporter_formats_and_exit_status() -> None:
    lines: list[tuple[str, bool]] = []

    def echo(text: str, err: bool = False) -> None:
        lines.append((text, err))

    err = Diagnostic("50% too big", Location("a.yaml", 3, 5, "conv1"), ("line one", "line two"), code="E502")
    warn = Diagnostic("mixed", Location("b.yaml", 4, 1), code="W101")
    assert exit_code([]) == exit_code([warn]) == ExitCode.OK and exit_code([warn, err]) == ExitCode.FAILED
    assert github(err, "x") == "::error file=a.yaml,line=3,col=5::50%25 too big%0Aline one%0Aline two"
    assert github(Diagnostic("m", code="E505"), "c.yaml") == "::error file=c.yaml,line=1,col=1::m"
    assert record(Diagnostic("m", code="E505"), "c.yaml") == {
        "file": "c.yaml",
        "line": 0,
        "column": 0,
        "severity": "error",
        "code": "E505",
        "message": "m",
        "path": "",
        "notes": [],
    }
    text = Reporter("text", echo=echo)
    text.file("a.yaml", ("(base)",), [err])
    text.file("b.yaml", ("(base)", "v"), [warn])
    assert text.finish() == ExitCode.FAILED
    assert lines == [
        ("a.yaml:3:5: error: conv1: 50% too big\n  = line one\n  = line two", False),
        ("b.yaml:4:1: warning: mixed", False),
        ("ok  b.yaml (base and 1 variant: v)", False),
        ("1 spec ok, 1 failed", True),
    ]
    lines.clear()
    quiet = Reporter("json", quiet=True, echo=echo)
    quiet.file("b.yaml", ("(base)",), [warn])
    assert quiet.finish() == ExitCode.OK
    assert json.loads(lines[0][0])[0]["code"] == "W101" and lines[1] == ("1 spec ok, 0 failed", True)
    with pytest.raises(ValueError):
        Reporter("xml")


def test_docs_page_is_generated_from_the_table() -> None:
    page = docs.DIAGNOSTICS.read_text(encoding="utf-8")
    assert page == docs.diagnostics_page(), "run: python tools/docs.py"
    for code in CODES:
        assert f"### {code}" in page
