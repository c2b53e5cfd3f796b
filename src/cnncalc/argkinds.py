"""Argument kinds of the ops: each one parses, converts and documents itself.

An op's :class:`~cnncalc.layers.ArgSpec` names its kind (``COUNT``, ``DIM``, ``PAD``...). The expansion stage
hands every written argument to ``kind.convert(binder, arg)``; the :class:`Binder` is the expansion stage's
side of the bargain (evaluating expressions in the current environment, locating errors, finding named layers),
so a kind never needs to know where it is used. ``kind.doc`` is what the generated docs and error messages say
the kind accepts. A new kind is a new class here; the expansion stage does not change.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Protocol

from .errors import CnncalcError, ExprError, Location, SpecError
from .expr import Dim, Value, fmt
from .shapes import Shape

if TYPE_CHECKING:  # pragma: no cover - typing only (spec.py imports the registry)
    from .spec import Arg

#: Padding words (TensorFlow's SAME, its top/left variant, and VALID = 0).
PAD_WORDS = ("same", "same_lower", "valid")
SIDES = ("top", "bottom", "left", "right")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class Binder(Protocol):
    """What a kind may ask of the expansion stage while converting one argument."""

    def value(self, arg: Arg) -> Value:
        """The argument evaluated in the current environment (a Dim for ``AxB``, a tuple for a list)."""

    def whole(self, v: Value, arg: Arg, what: str, minimum: int = 1, text: str | None = None) -> int:
        """``v`` as a whole number >= ``minimum`` within the size limit, or a located error naming ``what``."""

    def fail(self, err: CnncalcError, loc: Location) -> CnncalcError:
        """``err`` located at ``loc`` with the current layer path and block chain, ready to raise."""

    def word(self, arg: Arg) -> str | None:
        """The argument's text when it is a bare word that names no parameter, else None."""

    def layer_shape(self, arg: Arg) -> Shape:
        """The output shape of the earlier layer that ``arg`` names (a located error if there is none)."""

    def mapping(self, v: Value) -> Mapping[str, Arg] | None:
        """The written ``{key: value}`` mapping that ``v`` stands for, else None."""


class ArgKind:
    """Base of the kinds: ``name`` as errors show it, ``doc`` as the docs show it."""

    name = "value"
    doc = ""
    #: May a converted value be cached by its text (a literal that does not depend on the environment)?
    cacheable = True

    def convert(self, b: Binder, arg: Arg, what: str) -> Any:  # pragma: no cover - every kind overrides it
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True, repr=False)
class Whole(ArgKind):
    """A whole number >= ``minimum`` (``count``: >= 1, ``index``: >= 0)."""

    minimum: int = 1

    @property
    def name(self) -> str:  # type: ignore[override]
        return "count" if self.minimum == 1 else "index"

    @property
    def doc(self) -> str:  # type: ignore[override]
        return f"whole number >= {self.minimum}"

    def convert(self, b: Binder, arg: Arg, what: str) -> int:
        return b.whole(b.value(arg), arg, what, self.minimum)


@dataclass(frozen=True, repr=False)
class Number(ArgKind):
    """A number, possibly fractional, optionally within [lo, hi] (or > lo when ``open_lo``)."""

    lo: Fraction | None = None
    hi: Fraction | None = None
    open_lo: bool = False

    @property
    def name(self) -> str:  # type: ignore[override]
        return "probability" if self.lo == 0 and self.hi == 1 else "number"

    @property
    def doc(self) -> str:  # type: ignore[override]
        if self.lo is not None and self.hi is not None:
            return f"number between {fmt(self.lo)} and {fmt(self.hi)}"
        if self.lo is not None:
            return f"number {'>' if self.open_lo else '>='} {fmt(self.lo)}"
        return "number"

    def convert(self, b: Binder, arg: Arg, what: str) -> Fraction | int:
        v = b.value(arg)
        if isinstance(v, bool) or not isinstance(v, (int, Fraction)):
            raise b.fail(ExprError(f"{what} must be a number, got {fmt(v)}", code="E303"), arg.loc)
        low_bad = self.lo is not None and (v <= self.lo if self.open_lo else v < self.lo)
        if low_bad or (self.hi is not None and v > self.hi):
            raise b.fail(
                ExprError(f"{what} must be {self.doc.removeprefix('number ')}, got {fmt(v)}", code="E304"), arg.loc
            )
        return v


@dataclass(frozen=True, repr=False)
class Bool(ArgKind):
    """true / false (or 1 / 0, or an expression that gives one)."""

    name = "bool"
    doc = "true or false"

    def convert(self, b: Binder, arg: Arg, what: str) -> bool:
        word = b.word(arg)
        if word is not None:
            if word in ("true", "True"):
                return True
            if word in ("false", "False"):
                return False
            raise b.fail(ExprError(f"{what} must be true or false, got `{word}`", code="E303"), arg.loc)
        v = b.value(arg)
        if isinstance(v, bool):
            return v
        if isinstance(v, int) and v in (0, 1):
            return bool(v)
        raise b.fail(ExprError(f"{what} must be true or false, got {fmt(v)}", code="E303"), arg.loc)


@dataclass(frozen=True, repr=False)
class DimKind(ArgKind):
    """``K`` (square) or ``KhxKw``, each side a whole number >= ``minimum``."""

    minimum: int = 1

    name = "dim"

    @property
    def doc(self) -> str:  # type: ignore[override]
        return "K or KhxKw" + (" (0 allowed)" if self.minimum == 0 else "")

    def convert(self, b: Binder, arg: Arg, what: str) -> int | Dim:
        return _dim(b, arg, b.value(arg), self.minimum, what)


def _dim(b: Binder, arg: Arg, v: Value, minimum: int, what: str) -> int | Dim:
    if isinstance(v, Dim):
        texts = [t.strip() for t in (split_dim(arg.text) or ("", ""))]
        texts = [t[1:-1] if t.startswith("(") and t.endswith(")") else t for t in texts]
        return Dim(
            b.whole(v.a, arg, f"{what} height", minimum, texts[0]),
            b.whole(v.b, arg, f"{what} width", minimum, texts[1]),
        )
    return b.whole(v, arg, what, minimum)


@dataclass(frozen=True, repr=False)
class Pad(ArgKind):
    """Padding: P, PhxPw, a word (same, same_lower, valid) when ``words``, or {top, bottom, left, right}."""

    words: bool = True

    name = "pad"

    @property
    def doc(self) -> str:  # type: ignore[override]
        return "P, PhxPw" + (", same, same_lower, valid" if self.words else "") + " or {top, bottom, left, right}"

    def convert(self, b: Binder, arg: Arg, what: str) -> int | Dim | str | tuple[int, int, int, int]:
        word = b.word(arg)
        if word is not None:
            if self.words and word in PAD_WORDS:
                return word
            from .spec import did_you_mean  # spec.py imports the registry: a late import

            raise b.fail(
                ExprError(
                    f"{what} must be {self.doc}, got `{word}`{did_you_mean(word, PAD_WORDS) if self.words else ''}",
                    code="E303",
                ),
                arg.loc,
            )
        v = b.value(arg)
        if isinstance(v, str) and self.words and v in PAD_WORDS:  # a block parameter holding `same`
            return v
        sides = b.mapping(v)
        if sides is not None:
            from .spec import did_you_mean

            for k, side in sides.items():
                if k not in SIDES:
                    raise b.fail(
                        SpecError(
                            f"padding side `{k}` is not one of top, bottom, left, right{did_you_mean(k, SIDES)}",
                            code="E111",
                        ),
                        side.where,
                    )
            return tuple(  # type: ignore[return-value]
                b.whole(b.value(sides[k]), sides[k], f"pad {k}", 0) if k in sides else 0 for k in SIDES
            )
        return _dim(b, arg, v, 0, what)


@dataclass(frozen=True, repr=False)
class Choice(ArgKind):
    """One of a fixed set of words."""

    words: tuple[str, ...] = ()

    name = "choice"

    @property
    def doc(self) -> str:  # type: ignore[override]
        return " | ".join(self.words)

    def convert(self, b: Binder, arg: Arg, what: str) -> str:
        word = arg.text.strip()
        if word not in self.words:
            from .spec import did_you_mean

            raise b.fail(
                ExprError(
                    f"{what} must be one of {', '.join(self.words)}, got `{word}`{did_you_mean(word, self.words)}",
                    code="E303",
                ),
                arg.loc,
            )
        return word


@dataclass(frozen=True, repr=False)
class Table(ArgKind):
    """A list of lists of channel numbers (a partial connection table)."""

    name = "table"
    doc = "list of lists of input channels"

    def convert(self, b: Binder, arg: Arg, what: str) -> tuple[tuple[int, ...], ...]:
        v = b.value(arg)
        if not isinstance(v, tuple) or b.mapping(v) is not None or not all(isinstance(row, tuple) for row in v):
            raise b.fail(
                ExprError(f"{what} must be a list of lists of channel numbers, got {fmt(v)}", code="E303"),
                arg.loc,
            )
        return tuple(tuple(b.whole(x, arg, "a channel number", 0) for x in row) for row in v)


@dataclass(frozen=True, repr=False)
class ShapeKind(ArgKind):
    """A shape ``HxWxC`` or ``N`` whose sides may be expressions: ``(in_h)x(in_w)x(2*in_c)``."""

    name = "shape"
    doc = "HxWxC or N (sides may be expressions in parentheses)"
    cacheable = False

    def convert(self, b: Binder, arg: Arg, what: str) -> Shape:
        parts = split_sides(arg.text)
        if parts is None or len(parts) not in (1, 3):
            raise b.fail(
                SpecError(
                    f"{what} must be a shape HxWxC or N, got {arg.text.strip()!r}"
                    " (write expressions in parentheses: (in_h)x(in_w)x(2*in_c))",
                    code="E106",
                ),
                arg.loc,
            )
        dims = []
        for axis, text in zip(("height", "width", "channels") if len(parts) == 3 else ("size",), parts):
            v = b.value(arg._replace(text=text, mapping=None, items=None))
            dims.append(b.whole(v, arg, f"{what} {axis}", 1, text))
        return Shape(tuple(dims))


@dataclass(frozen=True, repr=False)
class LayerRef(ArgKind):
    """The name of an earlier layer; converts to that layer's output shape."""

    name = "layer"
    doc = "name of an earlier layer"
    cacheable = False

    def convert(self, b: Binder, arg: Arg, what: str) -> Shape:
        return b.layer_shape(arg)  # the name is located by the binder


@dataclass(frozen=True)
class Derived:
    """A default computed from the other arguments, e.g. a pooling stride that defaults to the kernel."""

    rule: Callable[[Mapping[str, Any]], Any]
    doc: str  # how the docs state it ("= kernel")


def same_as(name: str) -> Derived:
    """A default equal to argument ``name``."""
    return Derived(lambda a: a[name], f"= {name}")


def split_dim(text: str) -> tuple[str, str] | None:
    """``3x3`` or ``(k)x(k)`` -> the two sides; None otherwise."""
    sides = split_sides(text)
    return (sides[0], sides[1]) if sides is not None and len(sides) == 2 else None


def split_sides(text: str) -> list[str] | None:
    """``AxB`` / ``AxBxC`` whose sides are digits or parenthesised expressions -> the sides; ``N`` -> [N].

    None when the text is not of that form (it is then an ordinary expression).
    """
    t = text.strip()
    for sep in ("x", "×"):
        if sep not in t:
            continue
        parts: list[str] = []
        depth, start = 0, 0
        for i, ch in enumerate(t):
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif ch == sep and depth == 0:
                parts.append(t[start:i])
                start = i + 1
        parts.append(t[start:])
        if len(parts) > 1 and all(_side(p) for p in parts):
            return [p.strip() for p in parts]
    return [t] if _side(t) else None


def _side(s: str) -> bool:
    s = s.strip()
    return s.isdigit() or (s.startswith("(") and s.endswith(")") and _balanced(s[1:-1]))


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return False
    return depth == 0


def is_word(text: str) -> bool:
    """A bare identifier (true, same, nearest, a layer name)."""
    return bool(_WORD.match(text))


COUNT = Whole(1)
INDEX = Whole(0)
NUMBER = Number()
POSITIVE = Number(Fraction(0), None, open_lo=True)
PROBABILITY = Number(Fraction(0), Fraction(1))
BOOL = Bool()
DIM = DimKind(1)
DIM0 = DimKind(0)
PAD = Pad(True)
PAD_AMOUNT = Pad(False)
TABLE = Table()
SHAPE = ShapeKind()
LAYER = LayerRef()
