"""Errors with a location: the one base class every cnncalc failure derives from.

Every error that bad input can cause is a :class:`CnncalcError`. It carries a
:class:`Location` (file, 1-based line and column, and the layer path when one is
known) and renders as one compiler-style line::

    alexnet.yaml:7:12: error: conv1: (224 + 0 - 11)/4 + 1 = 54.25 is not a whole number

Optional ``notes`` add the facts (shapes, arithmetic, block call chain); the
first line always stands alone, so ``check`` can print one line per problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class Location(NamedTuple):
    """Where something is in a spec file: 1-based line and column, plus a layer path.

    An immutable value (a NamedTuple rather than a frozen dataclass: a spec makes one per token, and
    tuples are several times cheaper to create).
    """

    file: str = "<spec>"
    line: int = 0
    column: int = 0
    path: str = ""

    def prefix(self) -> str:
        """``file:line:col`` (line and column left out when unknown)."""
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"

    def shifted(self, columns: int) -> Location:
        """The same location, ``columns`` characters further right on its line."""
        return Location(self.file, self.line, self.column + columns, self.path)

    def with_path(self, path: str) -> Location:
        """The same location, naming the layer path ``path``."""
        return Location(self.file, self.line, self.column, path)


class CnncalcError(Exception):
    """Base class of every error cnncalc reports about its input.

    ``code`` is a short stable identifier (E1xx file/YAML, E2xx names,
    E3xx expressions, E4xx shapes, E5xx expectations) used by ``check --format json``.
    """

    code = "E000"
    severity = "error"

    def __init__(
        self,
        message: str,
        location: Location | None = None,
        notes: tuple[str, ...] | list[str] = (),
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.notes = tuple(notes)
        if code is not None:
            self.code = code

    def located(self, location: Location) -> CnncalcError:
        """Give the error a location if it has none yet (returns self)."""
        if self.location is None:
            self.location = location
        elif not self.location.path and location.path:
            self.location = self.location.with_path(location.path)
        return self

    def headline(self) -> str:
        """The one-line form: ``file:line:col: error: path: message``."""
        loc = self.location
        where = loc.prefix() if loc else "<spec>"
        path = f"{loc.path}: " if loc and loc.path and not self.message.startswith(f"`{loc.path}`") else ""
        return f"{where}: {self.severity}: {path}{self.message}"

    def __str__(self) -> str:
        lines = [self.headline()]
        lines.extend(f"  = {note}" for note in self.notes)
        return "\n".join(lines)


class SpecError(CnncalcError):
    """The file is not a valid spec: YAML syntax, unknown keys, bad values, limits."""

    code = "E100"


class UnknownNameError(CnncalcError):
    """An unknown op, block, keyword, parameter or layer name."""

    code = "E200"


class ExprError(CnncalcError):
    """An expression cannot be parsed or evaluated, or gives a value of the wrong kind."""

    code = "E300"


class ShapeError(CnncalcError):
    """A layer cannot accept its input shape, or a join's inputs disagree."""

    code = "E400"


class ExpectationError(CnncalcError):
    """A stated expectation (inline ``=>`` shape or ``expect:`` value) does not hold."""

    code = "E500"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One reported problem, as ``check`` lists them."""

    message: str
    location: Location | None
    severity: str = "error"
    code: str = "E000"
    notes: tuple[str, ...] = field(default=())

    @classmethod
    def from_error(cls, err: CnncalcError) -> Diagnostic:
        """The diagnostic for a raised error."""
        return cls(err.message, err.location, err.severity, err.code, err.notes)

    def headline(self) -> str:
        """The one-line ``file:line:col: severity: message`` form."""
        err = CnncalcError(self.message, self.location)
        err.severity = self.severity
        return err.headline()
