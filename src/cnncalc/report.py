"""Reporting diagnostics: the text, JSON and GitHub-annotation forms, the summary and the exit status.

The command line hands every diagnostic to this module and asks it for the exit status; nothing else
prints a diagnostic or picks an exit code for one (as black's ``report.py`` does for black)::

    reporter = Reporter("github")
    for result in results:
        reporter.file(result.file, result.configs, result.diagnostics)
    sys.exit(reporter.finish())

* ``text``: ``file:line:col: severity: path: message`` and indented ``= note`` lines; an ``ok  FILE (configs)``
  line for a file without errors unless ``quiet``;
* ``json``: one list of records (file, line, column, severity, code, message, path, notes), printed at the end;
* ``github``: one GitHub Actions workflow command per diagnostic (``::error file=...,line=...,col=...::``).

The summary (``3 specs ok, 1 failed``) goes to stderr in every format. The exit status is the worst of the
diagnostics' statuses in the table of codes (errors 1, warnings 0).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import click

from .diagnostics import Diagnostic, ExitCode, lookup
from .errors import CnncalcError

FORMATS: tuple[str, ...] = ("text", "json", "github")
"""The output formats of :class:`Reporter` (``cnncalc check --format``)."""

Echo = Callable[..., Any]


def text(d: Diagnostic) -> str:
    """The compiler form: the headline, then one ``  = note`` line per note."""
    return str(d)


def record(d: Diagnostic, file: str) -> dict[str, Any]:
    """The JSON record of a diagnostic found in ``file`` (used when the diagnostic has no location)."""
    loc = d.location
    return {
        "file": loc.file if loc else file,
        "line": loc.line if loc else 0,
        "column": loc.column if loc else 0,
        "severity": d.severity,
        "code": d.code,
        "message": d.message,
        "path": d.path,
        "notes": list(d.notes),
    }


def _escape(data: str) -> str:
    """Escape a GitHub workflow-command message (``%``, CR and LF)."""
    return data.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(data: str) -> str:
    """Escape a workflow-command property value: as a message, plus ``:`` and ``,`` (they end a property)."""
    return _escape(data).replace(":", "%3A").replace(",", "%2C")


def github(d: Diagnostic, file: str) -> str:
    """A GitHub Actions annotation; the notes follow the message on their own lines."""
    loc = d.location
    message = _escape(d.message + "".join(f"\n{n}" for n in d.notes))
    return (
        f"::{d.severity} file={_escape_property(loc.file if loc else file)},line={loc.line if loc else 1},"
        f"col={loc.column if loc else 1}::{message}"
    )


def exit_code(diagnostics: Iterable[Diagnostic]) -> ExitCode:
    """The worst exit status the diagnostics lead to (``OK`` for none)."""
    return max((d.info.exit for d in diagnostics), default=ExitCode.OK)


class Reporter:
    """Collects the diagnostics of a run, prints them in one format, and decides the exit status."""

    def __init__(self, fmt: str = "text", quiet: bool = False, echo: Echo = click.echo) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown report format {fmt!r}: one of {', '.join(FORMATS)}")
        self.fmt = fmt
        self.quiet = quiet
        self.echo = echo
        self.ok = 0
        self.failed = 0
        self.status = ExitCode.OK
        self.records: list[dict[str, Any]] = []

    def diagnostic(self, d: Diagnostic, file: str = "") -> None:
        """Report one diagnostic found in ``file``."""
        self.status = max(self.status, d.info.exit)
        if self.fmt == "json":
            self.records.append(record(d, file))
        elif self.fmt == "github":
            self.echo(github(d, file))
        else:
            self.echo(text(d))

    def file(self, file: str, configs: Sequence[str], diagnostics: Sequence[Diagnostic]) -> None:
        """Report one checked file: its diagnostics, then ``ok`` (text format, unless quiet) if none is an error."""
        for d in diagnostics:
            self.diagnostic(d, file)
        if exit_code(diagnostics) == ExitCode.OK:
            self.ok += 1
            if self.fmt == "text" and not self.quiet:
                self.echo(f"ok  {file}{_configs(configs)}")
        else:
            self.failed += 1

    def summary(self) -> str:
        """``N specs ok, M failed``."""
        return f"{self.ok} spec{'s' * (self.ok != 1)} ok, {self.failed} failed"

    def finish(self) -> ExitCode:
        """Print what was collected (the JSON list) and the summary (stderr); the exit status."""
        if self.fmt == "json":
            self.echo(json.dumps(self.records, indent=1))
        self.echo(self.summary(), err=True)
        return self.status


def error(err: CnncalcError, echo: Echo = click.echo) -> ExitCode:
    """Report an error that ended a command (stderr, compiler form); the exit status it leads to."""
    echo(str(err), err=True)
    return lookup(err.code).exit


def warning(d: Diagnostic, echo: Echo = click.echo) -> None:
    """Report a warning next to a command's output (stderr, compiler form)."""
    echo(text(d), err=True)


__all__ = ["FORMATS", "Reporter", "error", "exit_code", "github", "record", "text", "warning"]


def _configs(configs: Sequence[str]) -> str:
    """`` (base and 3 variants: a, b, c)``; nothing for the base alone; the first names of many."""
    variants = [c for c in configs if c != "(base)"]
    if not variants:
        return ""
    base = "base and " if "(base)" in configs else ""
    shown = ", ".join(variants[:8]) + (f", ... ({len(variants) - 8} more)" if len(variants) > 8 else "")
    return f" ({base}{len(variants)} variant{'s' * (len(variants) != 1)}: {shown})"
