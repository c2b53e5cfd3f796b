"""Errors with a location: the one base class every cnncalc failure derives from.

Every error that bad input can cause is a :class:`CnncalcError`, and every one carries a
:class:`~cnncalc.diagnostics.Diagnostic` (code, message, location with the layer path, notes; severity from
the table of codes in :mod:`cnncalc.diagnostics`). It renders as one compiler-style line::

    alexnet.yaml:7:12: error: conv1: (224 + 0 - 11)/4 + 1 = 54.25 is not a whole number

Optional ``notes`` add the facts (shapes, arithmetic, block call chain); the first line always stands
alone, so ``check`` can print one line per problem. Each code is raised by one class (the table's
``kind``): the class says which stage failed, the code says what went wrong.
"""

from __future__ import annotations

from typing import ClassVar

from .diagnostics import Diagnostic, Location, Severity


class CnncalcError(Exception):
    """Base class of every error cnncalc reports about its input.

    ``code`` is a stable identifier from :data:`cnncalc.diagnostics.CODES` (``check --format json`` reports
    it); a subclass states its default as ``code = "E..."`` in its body, a raise site may give another.
    """

    default_code: ClassVar[str] = "E000"

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        default = cls.__dict__.get("code")
        if isinstance(default, str):  # `code = "E600"` in a subclass body is its default code
            cls.default_code = default
            delattr(cls, "code")

    def __init__(
        self,
        message: str,
        location: Location | None = None,
        notes: tuple[str, ...] | list[str] = (),
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.diagnostic = Diagnostic(message, location, tuple(notes), code=code or self.default_code)

    # The diagnostic is replaced, never mutated: while the error travels up, callers add what they know.

    @property
    def message(self) -> str:
        """The problem, without location or severity."""
        return self.diagnostic.message

    @message.setter
    def message(self, value: str) -> None:
        self.diagnostic = self.diagnostic.with_message(value)

    @property
    def location(self) -> Location | None:
        """Where the problem is, if known."""
        return self.diagnostic.location

    @location.setter
    def location(self, value: Location | None) -> None:
        self.diagnostic = Diagnostic(self.message, value, self.notes, code=self.code)

    @property
    def notes(self) -> tuple[str, ...]:
        """Facts that explain the problem, one per line."""
        return self.diagnostic.notes

    @notes.setter
    def notes(self, value: tuple[str, ...]) -> None:
        self.diagnostic = Diagnostic(self.message, self.location, tuple(value), code=self.code)

    @property
    def code(self) -> str:
        """The diagnostic code (``E201``)."""
        return self.diagnostic.code

    @code.setter
    def code(self, value: str) -> None:
        self.diagnostic = Diagnostic(self.message, self.location, self.notes, code=value)

    @property
    def severity(self) -> Severity:
        """``error`` (or ``warning``), as the table of codes says for :attr:`code`."""
        return self.diagnostic.severity

    @severity.setter
    def severity(self, value: Severity) -> None:
        if value != self.diagnostic.severity:
            raise ValueError(f"{self.code} is an {self.diagnostic.severity} by the table of codes, not a {value}")

    @property
    def path(self) -> str:
        """The layer path the problem is in ("" when not in a layer)."""
        return self.diagnostic.path

    def located(self, location: Location) -> CnncalcError:
        """Give the error a location if it has none yet (returns self)."""
        if self.location is None:
            self.location = location
        elif not self.location.path and location.path:
            self.location = self.location.with_path(location.path)
        return self

    def headline(self) -> str:
        """The one-line form: ``file:line:col: error: path: message``."""
        return self.diagnostic.headline()

    def __str__(self) -> str:
        return str(self.diagnostic)


class SpecError(CnncalcError):
    """The file is not a valid spec: YAML syntax, structure, unknown keys, bad values, limits; misused names."""

    code = "E100"


class UnknownNameError(CnncalcError):
    """A name that does not resolve to one thing: an op, block, keyword, parameter, variant, layer, dtype."""

    code = "E201"


class ExprError(CnncalcError):
    """An expression cannot be parsed or evaluated, or a value is of the wrong kind or out of range."""

    code = "E300"


class ShapeError(CnncalcError):
    """A layer cannot accept its input shape, or a join's inputs disagree."""

    code = "E400"


class ExpectationError(CnncalcError):
    """A stated expectation (inline ``=>`` shape, ``expect:`` value, a budget) does not hold."""

    code = "E502"


__all__ = [
    "CnncalcError",
    "Diagnostic",
    "ExpectationError",
    "ExprError",
    "Location",
    "ShapeError",
    "SpecError",
    "UnknownNameError",
]
