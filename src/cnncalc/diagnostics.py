"""The diagnostics model: every code cnncalc reports, in one table, and the one :class:`Diagnostic` type.

A diagnostic is one reported problem: a stable ``code`` (``E201``), a message, a :class:`Location` (file,
line, column and layer path) and facts in ``notes``. Its severity and the exit status it leads to are not
chosen where it is made: they come from the code's row in :data:`CODES`, so a warning is a warning from the
moment it exists. Errors are raised as exceptions (:mod:`cnncalc.errors`) that carry a diagnostic; warnings are
plain diagnostics collected on the report. :mod:`cnncalc.report` prints them (text, JSON, GitHub annotations).

The table is the single source of docs/diagnostics.md (``python tools/docs.py``). Each code has one meaning;
``kind`` names the exception class that raises it (a warning has none). Ranges: E0xx command arguments,
E1xx the file and its structure, E2xx names and arguments, E3xx expressions and values, E4xx shapes,
E5xx expectations and budgets, E6xx device profiles and charts, E7xx export to PyTorch and
verification, E8xx importing models, Wxxx warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:
    from .errors import CnncalcError

Severity = Literal["error", "warning"]


class ExitCode(IntEnum):
    """Process exit statuses of the ``cnncalc`` command."""

    OK = 0
    FAILED = 1
    USAGE = 2
    INTERNAL = 3


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


class Code(NamedTuple):
    """One row of the table of diagnostics."""

    code: str
    name: str  # a short kebab-case name, stable like the code
    summary: str  # one line: what the problem is
    kind: str  # the exception class raised with this code ("" for a warning: warnings are never raised)
    severity: Severity = "error"

    @property
    def exit(self) -> ExitCode:
        """The exit status a diagnostic with this code leads to (the worst one decides)."""
        return ExitCode.FAILED if self.severity == "error" else ExitCode.OK


_TABLE = (
    # E0xx: command arguments
    Code(
        "E001",
        "spec-not-found",
        "A SPEC argument is neither a spec file nor the name of a bundled spec.",
        "NotFoundError",
    ),
    # E1xx: the file and its structure
    Code(
        "E100",
        "not-a-spec",
        "The file as a whole is no spec: unreadable, empty, not UTF-8 text (NUL bytes, control characters, "
        "U+2028), or not a mapping with `input:` and `layers:`.",
        "SpecError",
    ),
    Code(
        "E101",
        "yaml-syntax",
        "The YAML does not parse: a syntax error, a tab indent, a second document, a key that is not text.",
        "SpecError",
    ),
    Code(
        "E102",
        "yaml-alias",
        "YAML anchors, aliases and merge keys (`&a`, `*a`, `<<`) are not allowed; `blocks:` reuse layers.",
        "SpecError",
    ),
    Code("E103", "yaml-tag", "Explicit YAML tags (`!!python/...`, `!!str`, `!local`) are not allowed.", "SpecError"),
    Code(
        "E104",
        "limit-exceeded",
        "A hard limit is exceeded: file size, YAML depth or nodes, repeat count or iterations, layers in all, "
        "block nesting, fractal columns.",
        "SpecError",
    ),
    Code("E105", "duplicate-key", "A mapping has the same key twice.", "SpecError"),
    Code(
        "E106",
        "bad-shape",
        "A shape (`input:`, `=> HxWxC`, an expected shape) is not HxWxC (or N), or a dimension is not positive "
        "or too large.",
        "SpecError",
    ),
    Code("E107", "not-text", "A value that must be text (an op, a name, a shape) is a mapping or a list.", "SpecError"),
    Code(
        "E108",
        "bad-op-line",
        "An op line does not parse: no op name, an empty layer between commas, two `=>`, `key=` without a "
        "value, a positional value after keywords.",
        "SpecError",
    ),
    Code("E109", "empty-list", "A layer list or a layer mapping is empty.", "SpecError"),
    Code(
        "E110",
        "bad-layer-name",
        "A named layer is not one `name: layers` pair, or its name is not an identifier.",
        "SpecError",
    ),
    Code(
        "E111",
        "unknown-key",
        "A mapping has a key its place does not allow (top level, structural entries, `expect:`, pad sides).",
        "SpecError",
    ),
    Code(
        "E112",
        "bad-structural-entry",
        "A structural entry (a join, `repeat:`, `if:`, `fractal:`) lacks its body or has a value of the wrong form.",
        "SpecError",
    ),
    Code(
        "E113",
        "bad-block-definition",
        "A `blocks:` entry is malformed: its header, a parameter given twice or out of order, a block defined twice.",
        "SpecError",
    ),
    Code(
        "E114",
        "bad-section",
        "A top-level section has the wrong form or value: `params:`, `variants:`, `defaults:`, `rounding:`, "
        "`accuracy:`, the `cnncalc:` version.",
        "SpecError",
    ),
    Code(
        "E115",
        "bad-expectation",
        "An `expect:` entry is malformed: not a mapping, or a count that does not parse or is not whole.",
        "SpecError",
    ),
    # E2xx: names and arguments
    Code(
        "E201", "unknown-op", "An op line or `defaults:` names neither a built-in op nor a block.", "UnknownNameError"
    ),
    Code(
        "E202",
        "duplicate-argument",
        "An argument is given twice (`key=` twice, or by position and by keyword).",
        "SpecError",
    ),
    Code("E203", "unknown-keyword", "An op has no such keyword, or a block no such parameter.", "UnknownNameError"),
    Code("E204", "block-shadows-op", "A block has the name of a built-in op.", "SpecError"),
    Code("E205", "unknown-source", "`from=` names no layer defined before this point.", "UnknownNameError"),
    Code("E206", "reserved-name", "A layer is named `input`, the name of the network input.", "SpecError"),
    Code("E207", "duplicate-layer-name", "Two layers in one scope have the same name.", "SpecError"),
    Code(
        "E208",
        "wrong-arguments",
        "An op or block call lacks a required argument or has too many positional ones.",
        "SpecError",
    ),
    Code("E209", "recursive-block", "A block calls itself, directly or through other blocks.", "SpecError"),
    Code(
        "E210",
        "unknown-param",
        "A variant or `--set` names a parameter that `params:` does not define.",
        "UnknownNameError",
    ),
    Code(
        "E211", "unknown-variant", "`--variant` (or `SPEC:VARIANT`) names no variant of the spec.", "UnknownNameError"
    ),
    Code("E212", "unknown-layer", "The layer argument of `explain` names no layer or block.", "UnknownNameError"),
    Code(
        "E213",
        "ambiguous-layer",
        "The layer argument of `explain` names several layers or blocks; give a path.",
        "UnknownNameError",
    ),
    Code(
        "E214",
        "unknown-dtype",
        "The memory estimate is asked for a dtype cnncalc has no size for (library API; the CLI offers the known ones).",
        "UnknownNameError",
    ),
    Code(
        "E215",
        "unknown-optimizer",
        "The memory estimate is asked for an unknown optimizer (library API; the CLI offers the known ones).",
        "UnknownNameError",
    ),
    Code(
        "E216",
        "unknown-train-layer",
        "`--freeze` or `--train-only` names no layer or block of the network.",
        "UnknownNameError",
    ),
    Code(
        "E217",
        "ambiguous-train-layer",
        "`--freeze` or `--train-only` names several layers or blocks; give a path.",
        "UnknownNameError",
    ),
    Code(
        "E218",
        "no-head",
        "`--head` finds no classifier to replace: the network output does not come from a layer with an `out` "
        "size (fc, linear, conv...) through layers without params.",
        "SpecError",
    ),
    # E3xx: expressions and values
    Code(
        "E300",
        "bad-expression",
        "An expression does not parse or cannot be evaluated: syntax, a construct that is not allowed, division "
        "by zero, an index out of range, a number too large.",
        "ExprError",
    ),
    Code("E301", "empty-value", "A value is empty, e.g. an empty list item in `args:`.", "ExprError"),
    Code("E302", "undefined-name", "An expression uses a name that is not defined where it is used.", "ExprError"),
    Code(
        "E303",
        "wrong-type",
        "A value has the wrong kind: a fraction where a whole number is needed, a list for a number, an unknown "
        "word, a truth value that is not true or false.",
        "ExprError",
    ),
    Code(
        "E304",
        "out-of-range",
        "A value is outside its range: not positive where it must be, above the size limit, a probability "
        "outside 0..1, a batch below 1.",
        "ExprError",
    ),
    # E4xx: shapes
    Code("E400", "flat-input", "A layer that needs an HxWxC input gets a flat vector.", "ShapeError"),
    Code(
        "E401",
        "empty-output",
        "The output would be empty or out of range: a window larger than its padded input.",
        "ShapeError",
    ),
    Code(
        "E402",
        "channels-mismatch",
        "Channels do not fit: groups, shuffle or split do not divide them, a split index or a connection table "
        "is out of range.",
        "ShapeError",
    ),
    Code(
        "E403",
        "concat-mismatch",
        "Concatenated inputs disagree in height x width, or mix flat and HxWxC inputs.",
        "ShapeError",
    ),
    Code(
        "E404",
        "join-mismatch",
        "The inputs of `add`, `mean` or `mul` have different shapes (a `mul` gate must be 1x1xC).",
        "ShapeError",
    ),
    Code("E405", "inexact-size", "With `rounding: exact`, an output size is not a whole number.", "ShapeError"),
    # E5xx: expectations and budgets
    Code(
        "E501",
        "shape-mismatch",
        "An inline `=> HxWxC` (or `expect:` on an entry) differs from the computed shape.",
        "ExpectationError",
    ),
    Code(
        "E502",
        "expectation-failed",
        "An `expect:` figure (a total, the output, a per-layer value) differs from the computed one.",
        "ExpectationError",
    ),
    Code("E503", "expect-unknown-layer", "`expect.layers` names no layer of the network.", "ExpectationError"),
    Code("E504", "expect-unknown-variant", "`expect.variants` names no variant of the spec.", "ExpectationError"),
    Code(
        "E505",
        "over-budget",
        "A spec exceeds a budget of `check --max-params` or `--max-macs`.",
        "ExpectationError",
    ),
    # E6xx: device profiles and charts
    Code(
        "E600",
        "device-error",
        "A roofline estimate cannot be made: a malformed device profile, or a batch below 1 (library API).",
        "DeviceError",
    ),
    Code("E601", "unknown-device", "`--device` names no bundled device profile.", "UnknownDeviceError"),
    Code(
        "E602",
        "unsupported-dtype",
        "The device profile has no peak figure for the dtype (or the dtype is unknown).",
        "UnsupportedDtypeError",
    ),
    Code(
        "E610",
        "plot-error",
        "A chart cannot be drawn: an unknown output format, an unreadable accuracy figure, no accuracy to plot, "
        "MACs of 0 on the log axis.",
        "PlotError",
    ),
    Code(
        "E611",
        "matplotlib-missing",
        "`cnncalc plot` needs matplotlib, an optional extra: pip install 'cnncalc[plot]'.",
        "MatplotlibMissingError",
    ),
    # E7xx: export to PyTorch and verification
    Code(
        "E700",
        "no-pytorch-code",
        "`export --to pytorch` meets a layer its op's registry entry cannot write as PyTorch code (or no code at all).",
        "ExportError",
    ),
    Code(
        "E701",
        "torch-missing",
        "`cnncalc verify` needs PyTorch, an optional extra: pip install 'cnncalc[torch]'.",
        "TorchMissingError",
    ),
    Code(
        "E702",
        "verify-placeholder",
        "`cnncalc verify` meets an `opaque` layer, which exports as a placeholder that raises until written.",
        "ExportError",
    ),
    Code(
        "E703",
        "module-fails",
        "The module `cnncalc verify` checks is no Python, lacks the model class, or fails to build or run.",
        "ExportError",
    ),
    # E8xx: importing models
    Code(
        "E800",
        "onnx-missing",
        "`cnncalc import` of an ONNX file needs the onnx package, an optional extra: pip install 'cnncalc[onnx]'.",
        "OnnxMissingError",
    ),
    Code(
        "E801",
        "not-a-model",
        "`cnncalc import` cannot read the model: no such file, not ONNX (truncated, damaged, text that does not "
        "parse), or no graph.",
        "ModelError",
    ),
    Code(
        "E802",
        "unsupported-graph",
        "The model's graph is no cnncalc network: a cycle, a value defined twice or never, no or several inputs, "
        "a tensor of another rank, too many nodes.",
        "ModelError",
    ),
    Code(
        "E803",
        "no-static-shape",
        "A tensor of the model has no static shape (a symbolic input size: give --input), or a dimension out of range.",
        "ModelError",
    ),
    Code(
        "E804",
        "import-mismatch",
        "The spec an import wrote does not give the model's figures (a bug in a registry `onnx` rule or a pattern).",
        "ImportMismatchError",
    ),
    Code(
        "E805",
        "model-fails",
        "`cnncalc import package.module:callable`: the module or callable is not found, does not build a module, "
        "or torch.fx cannot trace it.",
        "ModelError",
    ),
    Code(
        "E806",
        "torch-missing-import",
        "`cnncalc import package.module:callable` needs PyTorch, an optional extra: pip install 'cnncalc[torch]'.",
        "TorchImportMissingError",
    ),
    # Warnings: reported, never fatal
    Code(
        "W101",
        "flow-list-branch",
        "A join branch is a lone element-wise op: in a YAML flow list `[a, b]` commas separate branches, not layers.",
        "",
        "warning",
    ),
    Code(
        "W201",
        "misaligned-join",
        "A join's inputs have different effective strides or field centres: one position mixes features of "
        "different input locations.",
        "",
        "warning",
    ),
    Code(
        "W801",
        "opaque-import",
        "`cnncalc import` wrote a node it does not understand as an `opaque` layer (the model's shape and "
        "parameters; MACs unknown, counted 0).",
        "",
        "warning",
    ),
)


def _index(rows: tuple[Code, ...]) -> dict[str, Code]:
    table: dict[str, Code] = {}
    names = set()
    for row in rows:
        if row.code in table or row.name in names:
            raise AssertionError(f"diagnostic code {row.code} ({row.name}) is listed twice")
        if (row.severity == "warning") != row.code.startswith("W") or (row.severity == "warning") == bool(row.kind):
            raise AssertionError(f"{row.code}: W codes, and only they, are warnings, and warnings are never raised")
        table[row.code] = row
        names.add(row.name)
    return table


CODES: dict[str, Code] = _index(_TABLE)
"""Every diagnostic code, in order, by code."""


def lookup(code: str) -> Code:
    """The row of ``code``; an unlisted code (a bug the tests catch) is an error of unknown name."""
    row = CODES.get(code)
    if row is None:
        return Code(code, "unlisted", "", "", "warning" if code.startswith("W") else "error")
    return row


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One reported problem: message, location (with the layer path), notes, and its code.

    Severity and exit status follow from the code (see :data:`CODES`); nothing sets them afterwards.
    """

    message: str
    location: Location | None = None
    notes: tuple[str, ...] = ()
    code: str = field(kw_only=True)

    @classmethod
    def from_error(cls, err: CnncalcError) -> Diagnostic:
        """The diagnostic an exception carries (the same as ``err.diagnostic``)."""
        return err.diagnostic

    @property
    def info(self) -> Code:
        """This diagnostic's row of the table."""
        return lookup(self.code)

    @property
    def severity(self) -> Severity:
        """``error`` or ``warning``, from the table."""
        return self.info.severity

    @property
    def path(self) -> str:
        """The layer path the problem is in ("" when not in a layer)."""
        return self.location.path if self.location else ""

    def with_message(self, message: str) -> Diagnostic:
        """The same diagnostic with another message (e.g. prefixed with the variant it was found in)."""
        return replace(self, message=message)

    def headline(self) -> str:
        """The one-line compiler form: ``file:line:col: severity: path: message`` (``cnncalc:`` without a file)."""
        loc = self.location
        where = loc.prefix() if loc else "cnncalc"
        path = f"{loc.path}: " if loc and loc.path and not self.message.startswith(f"`{loc.path}`") else ""
        return f"{where}: {self.severity}: {path}{self.message}"

    def __str__(self) -> str:
        return "\n".join([self.headline(), *(f"  = {note}" for note in self.notes)])


__all__ = ["CODES", "Code", "Diagnostic", "ExitCode", "Location", "Severity", "lookup"]
