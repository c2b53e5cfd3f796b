"""A small, safe, exact expression language for numbers in specs.

Wherever a spec expects a number it accepts an expression over the spec's
``params``, a block's arguments, the repeat index ``i`` and the current input
size ``in_h``, ``in_w``, ``in_c``. Expressions are parsed with :mod:`ast` in
``eval`` mode and interpreted by a whitelist; Python's ``eval`` is never used.

Arithmetic is exact: numbers are ``int`` or :class:`fractions.Fraction`, so
``0.29*100`` is exactly 29. Allowed: numbers, names, ``+ - * / // % **``,
comparisons, ``and or not``, ``a if c else b``, list literals and indexing,
and the functions ``int`` (truncates), ``round`` (half to even), ``floor``,
``ceil``, ``min``, ``max``, ``abs`` and ``divisible(v, d, min=d)`` (the
MobileNet/EfficientNet ``make_divisible``).
"""

from __future__ import annotations

import ast
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .errors import ExprError

#: Longest expression accepted, in characters.
MAX_EXPR_CHARS = 1000
#: Largest exponent ``**`` accepts, and the largest result in bits.
MAX_POWER = 256
MAX_BITS = 4096
#: The longest list an expression may build.
MAX_LIST = 10_000
#: Parsed expressions kept for reuse, in characters of source text (the parse of a long expression is large).
MAX_CACHE_CHARS = 2_000_000
#: Results remembered per expression (for different values of the names it reads), and in all.
MEMO = 64
MAX_MEMO_ENTRIES = 200_000
_NONE = object()


class Meter:
    """The work of expression evaluation, in units of about a microsecond: one per evaluation and per syntax node
    evaluated (two per evaluation whose result is remembered), two more for arithmetic on fractions, one more per
    64 bits of a large number and per 64 values of a list an operation builds. A caller that budgets the work reads :attr:`used` before and after; :mod:`cnncalc.graph` budgets it
    per file."""

    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used = 0


#: The one meter (evaluation is single-threaded).
METER = Meter()


@dataclass(frozen=True, slots=True)
class Dim:
    """A pair written ``AxB``: a kernel ``kh x kw``, a stride, or padding per axis."""

    a: int
    b: int

    def __str__(self) -> str:
        return f"{self.a}x{self.b}"


Number = int | Fraction
Value = int | Fraction | bool | str | Dim | tuple[Any, ...]  # tuple: a list value

_FUNCS: dict[str, Callable[..., Value]] = {}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
}


def normalize(x: Number) -> Number:
    """A Fraction with denominator 1 becomes an int."""
    if isinstance(x, Fraction) and x.denominator == 1:
        return int(x.numerator)
    return x


def fmt(v: object, limit: int = 80) -> str:
    """A value as a spec would write it (Fractions shown as decimals where short), cut at ``limit`` characters.

    The cut matters: lists may nest lists that share structure (``p2: [p1, p1, p1]``), so their full text can
    be exponentially long although they take little memory.
    """
    if hasattr(v, "fmt_text"):
        return str(v.fmt_text())
    if isinstance(v, tuple):
        parts: list[str] = []
        used = 1
        for x in v:
            if used > limit:
                parts.append("...")
                break
            text = fmt(x, limit - used)
            parts.append(text)
            used += len(text) + 2
        return "[" + ", ".join(parts) + "]"
    text = _fmt_scalar(v)
    return text if len(text) <= limit else text[: max(limit - 3, 1)] + "..."


def _fmt_scalar(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Fraction):
        d = v.denominator
        while d % 2 == 0:
            d //= 2
        while d % 5 == 0:
            d //= 5
        if d == 1 and v.denominator <= 10**6:
            return f"{float(v):.10g}"
        return f"{v.numerator}/{v.denominator}"
    return str(v)


class _EvalError(Exception):
    """Raised inside evaluation; carries a column offset inside the expression.

    ``suffix`` goes after the quoted expression (``unknown function 'sqrt' in `sqrt(64)`; the functions are...``).
    """

    def __init__(self, message: str, col: int = 0, hint: str = "", suffix: str = "") -> None:
        super().__init__(message)
        self.message, self.col, self.hint, self.suffix = message, col, hint, suffix


def _num(v: Value, col: int, what: str = "a number") -> Number:
    if isinstance(v, bool) or not isinstance(v, (int, Fraction)):
        raise _EvalError(f"expected {what}, got {fmt(v)!r}", col)
    return v


def _reg(name: str) -> Callable[[Callable[..., Value]], Callable[..., Value]]:
    def deco(f: Callable[..., Value]) -> Callable[..., Value]:
        _FUNCS[name] = f
        return f

    return deco


@_reg("int")
def _int(x: Number) -> Value:
    return int(x)  # truncates toward zero, like Python and TF-slim's int(c*alpha)


@_reg("floor")
def _floor(x: Number) -> Value:
    return math.floor(x)


@_reg("ceil")
def _ceil(x: Number) -> Value:
    return math.ceil(x)


@_reg("round")
def _round(x: Number, nd: int = 0) -> Value:
    if not isinstance(nd, int) or not -100 <= nd <= 100:
        raise ValueError(f"the digits must be a whole number from -100 to 100, got {fmt(nd)}")
    return normalize(Fraction(round(Fraction(x), nd))) if nd else round(Fraction(x))


@_reg("abs")
def _abs(x: Number) -> Value:
    return -x if x < 0 else x


@_reg("min")
def _min(*xs: Number) -> Value:
    return min(xs)


@_reg("max")
def _max(*xs: Number) -> Value:
    return max(xs)


@_reg("divisible")
def _divisible(v: Number, d: int, min: int | None = None) -> Value:  # noqa: A002 - the spec's keyword
    """make_divisible from MobileNetV2: round v to a multiple of d, never below 90% of v."""
    if not isinstance(d, int) or d < 1:
        raise ValueError(f"the divisor must be a whole number of at least 1, got {fmt(d)}")
    floor_value = d if min is None else min
    new_v = max(floor_value, int(Fraction(v) + Fraction(d, 2)) // d * d)
    if new_v < Fraction(9, 10) * v:
        new_v += d
    return new_v


class Expr:
    """A parsed expression; :meth:`evaluate` interprets it in an environment.

    ``size`` is its number of syntax nodes (the most one evaluation visits: the language has no loops);
    ``names`` the names it reads. Results are remembered per value of those names (``memo``, at most
    ``MEMO`` entries), so a block body repeated with the same arguments works each expression out once.
    """

    __slots__ = ("source", "tree", "names", "size", "memo")

    def __init__(self, source: str) -> None:
        self.source = source
        if len(source) > MAX_EXPR_CHARS:
            raise _EvalError(f"an expression of {len(source):,} characters (the limit is {MAX_EXPR_CHARS:,})")
        for i, ch in enumerate(source):
            if ord(ch) > 127:
                hint = "; did you mean `x`?" if ch in "хХ×" else ""
                raise _EvalError(f"{ch!r} (U+{ord(ch):04X}) is not an ASCII character", i, suffix=hint)
        try:
            with warnings.catch_warnings():  # `1if x` warns "invalid decimal literal": the parse decides, quietly
                warnings.simplefilter("ignore")
                self.tree = ast.parse(source.strip(), mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            col = max(getattr(exc, "offset", 1) or 1, 1) - 1
            raise _EvalError("cannot parse this expression", col) from None
        nodes = _validate(self.tree)
        self.size = len(nodes)
        self.names = tuple(dict.fromkeys(n.id for n in nodes if isinstance(n, ast.Name)))
        self.memo: dict[tuple[Any, ...], Value] = {}

    def evaluate(self, env: Mapping[str, Value]) -> Value:
        """The expression's value; raises :class:`_EvalError` on failure."""
        key = self._key(env)
        if key is not None:
            value = self.memo.get(key, _NONE)
            if value is not _NONE:
                METER.used += 2  # an evaluation remembered still costs its look-up
                return value  # type: ignore[return-value]
        METER.used += 1 + self.size
        value = _eval(self.tree, env)
        if key is not None:
            if len(self.memo) >= MEMO:
                self.memo.clear()
            if _MEMO_ENTRIES[0] >= MAX_MEMO_ENTRIES:
                _forget()
            self.memo[key] = value
            _MEMO_ENTRIES[0] += 1
        return value

    def _key(self, env: Mapping[str, Value]) -> tuple[Any, ...] | None:
        """The values of the names read, with their types (1, True and 1/1 differ here); None when a value is a
        list (hashing one may walk shared levels) or a name is undefined (evaluation reports it)."""
        key: list[Any] = []
        for name in self.names:
            try:
                v = env[name]
            except KeyError:
                if name in ("true", "True", "false", "False"):
                    continue
                return None
            if isinstance(v, tuple):
                return None
            key.append(type(v))
            key.append(v)
        return tuple(key)


_ALLOWED = (
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.List,
    ast.Tuple,
    ast.Subscript,
    ast.keyword,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.USub,
    ast.UAdd,
    ast.Not,
    ast.And,
    ast.Or,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
)


_NAMES = {
    "Attribute": "attribute access (a.b)",
    "Lambda": "lambda",
    "ListComp": "a list comprehension",
    "SetComp": "a set comprehension",
    "DictComp": "a dict comprehension",
    "GeneratorExp": "a generator",
    "NamedExpr": "assignment (:=)",
    "Dict": "a dict",
    "Set": "a set",
    "JoinedStr": "an f-string",
    "Starred": "unpacking (*)",
    "Slice": "slicing (a:b)",
    "Await": "await",
    "Yield": "yield",
    "BitAnd": "&",
    "BitOr": "|",
    "BitXor": "^",
    "LShift": "<<",
    "RShift": ">>",
    "Invert": "~",
    "MatMult": "@",
    "In": "in",
    "NotIn": "not in",
    "Is": "is",
    "IsNot": "is not",
}


def _validate(tree: ast.AST) -> list[ast.AST]:
    nodes = list(ast.walk(tree))
    for node in nodes:  # disallowed constructs first: they say more than "unknown function"
        col = getattr(node, "col_offset", 0)
        if not isinstance(node, _ALLOWED):
            kind = type(node).__name__
            raise _EvalError(f"{_NAMES.get(kind, kind.lower())} is not allowed in an expression", col)
        if isinstance(node, ast.Constant) and (
            isinstance(node.value, (str, bytes, complex)) or node.value is None or node.value is ...
        ):
            what = "text" if isinstance(node.value, (str, bytes)) else repr(node.value)
            raise _EvalError(f"{what} is not allowed in an expression (only numbers, names and lists)", col)
    for node in nodes:
        if isinstance(node, ast.Call):
            col = node.col_offset
            if not isinstance(node.func, ast.Name):
                raise _EvalError("only the built-in functions may be called: " + ", ".join(sorted(_FUNCS)), col)
            if node.func.id not in _FUNCS:
                raise _EvalError(
                    f"unknown function {node.func.id!r}", col, suffix=f"; the functions are {', '.join(sorted(_FUNCS))}"
                )
    return nodes


def _const(v: object) -> Value:
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise _EvalError("a number must be finite")
        return normalize(Fraction(repr(v)))  # 0.29 is exactly 29/100, as written
    raise _EvalError(f"literal {v!r} is not allowed")


def _eval(node: ast.AST, env: Mapping[str, Value]) -> Value:
    col = getattr(node, "col_offset", 0)
    if isinstance(node, ast.Constant):
        return _const(node.value)
    if isinstance(node, ast.Name):
        try:
            return env[node.id]
        except KeyError:
            if node.id in ("true", "True"):
                return True
            if node.id in ("false", "False"):
                return False
            raise _EvalError(f"undefined name {node.id!r}", col, hint=node.id) from None
    if isinstance(node, ast.BinOp):
        return _binop(node, _eval(node.left, env), _eval(node.right, env))
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, env)
        if isinstance(node.op, ast.Not):
            return not _truth(v, col)
        n = _num(v, col)
        return -n if isinstance(node.op, ast.USub) else n
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            result: Value = True
            for sub in node.values:
                result = _eval(sub, env)
                if not _truth(result, col):
                    return result
            return result
        for sub in node.values:
            result = _eval(sub, env)
            if _truth(result, col):
                return result
        return result
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp, env)
            if isinstance(left, tuple) or isinstance(right, tuple):  # lists may share levels: 10**12 leaves deep
                raise _EvalError(f"cannot compare {fmt(left)} and {fmt(right)}", col)
            try:
                ok = _COMPARE[type(op)](left, right)
            except TypeError:
                raise _EvalError(f"cannot compare {fmt(left)} and {fmt(right)}", col) from None
            if not ok:
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body if _truth(_eval(node.test, env), col) else node.orelse, env)
    if isinstance(node, (ast.List, ast.Tuple)):
        return tuple(_eval(e, env) for e in node.elts)
    if isinstance(node, ast.Subscript):
        seq = _eval(node.value, env)
        idx = _eval(node.slice, env)
        if not isinstance(seq, tuple):
            raise _EvalError(f"{fmt(seq)} is not a list and cannot be indexed", col)
        if isinstance(idx, bool) or not isinstance(idx, int):
            raise _EvalError(f"a list index must be a whole number, got {fmt(idx)}", col)
        if not -len(seq) <= idx < len(seq):
            raise _EvalError(f"index {idx} is out of range for a list of {len(seq)}", col)
        item: Value = seq[idx]
        return item
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        args = [_num(_eval(a, env), col) for a in node.args]
        kwargs = {k.arg: _num(_eval(k.value, env), col) for k in node.keywords if k.arg}
        try:
            return normalize(_FUNCS[node.func.id](*args, **kwargs))  # type: ignore[arg-type]
        except TypeError as exc:
            detail = str(exc).split("() ", 1)[-1]  # drop the internal function's name
            raise _EvalError(f"bad call to {node.func.id}(): {detail}", col) from None
        except (ValueError, ZeroDivisionError, OverflowError) as exc:
            raise _EvalError(f"bad call to {node.func.id}(): {exc}", col) from None
    raise _EvalError(f"{type(node).__name__} is not allowed", col)  # pragma: no cover - validated


def _truth(v: Value, col: int) -> bool:
    if isinstance(v, (bool, int, Fraction)):
        return bool(v)
    raise _EvalError(f"{fmt(v)!r} is not a truth value", col)


def _bits(x: Number) -> int:
    if isinstance(x, Fraction):
        return max(x.numerator.bit_length(), x.denominator.bit_length())
    return int(x).bit_length()


def _binop(node: ast.BinOp, a: Value, b: Value) -> Value:
    col = node.col_offset
    op = node.op
    if isinstance(op, ast.Add) and isinstance(a, tuple) and isinstance(b, tuple):
        if len(a) + len(b) > MAX_LIST:
            raise _EvalError(f"a list of more than {MAX_LIST:,} values", col)
        METER.used += (len(a) + len(b)) // 64
        return a + b
    x, y = _num(a, col), _num(b, col)
    result = _arith(op, x, y, col)
    size = _bits(result)
    bits = max(_bits(x), _bits(y), size)
    if bits > 64:
        METER.used += bits // 64
    if type(x) is Fraction or type(y) is Fraction:
        METER.used += 2
    if size > MAX_BITS:
        raise _EvalError(f"a number of more than {MAX_BITS:,} bits", col)
    return result


def _arith(op: ast.operator, x: Number, y: Number, col: int) -> Number:
    if isinstance(op, ast.Add):
        return normalize(x + y)  # 0.5 + 0.5 is the whole number 1, not the fraction 1/1
    if isinstance(op, ast.Sub):
        return normalize(x - y)
    if isinstance(op, ast.Mult):
        return normalize(x * y)  # 64*0.5 = 32 is whole
    if isinstance(op, ast.Pow):
        if isinstance(y, Fraction):
            raise _EvalError("only whole exponents are allowed", col)
        if abs(y) > MAX_POWER or (x not in (0, 1, -1) and abs(y) * max(_bits(x), 2) > MAX_BITS):
            raise _EvalError(f"{fmt(x)}**{fmt(y)} is too large", col)
        if y < 0:
            if x == 0:
                raise _EvalError("division by zero", col)
            return normalize(Fraction(x) ** y)
        return normalize(Fraction(x) ** y) if isinstance(x, Fraction) else x**y
    if y == 0:
        raise _EvalError("division by zero", col)
    if isinstance(op, ast.Div):
        return normalize(Fraction(x) / y)
    if isinstance(op, ast.FloorDiv):
        return int(x // y)
    if isinstance(op, ast.Mod):
        return normalize(x % y)
    raise _EvalError("operator not allowed", col)  # pragma: no cover - validated


_CACHE: dict[str, Expr] = {}
_CACHED_CHARS = [0]
_MEMO_ENTRIES = [0]


def _forget() -> None:
    """Drop every remembered result (they are only a speed-up)."""
    for expr in _CACHE.values():
        expr.memo.clear()
    _MEMO_ENTRIES[0] = 0


def compile_expr(source: str) -> Expr:
    """Parse ``source`` once; later calls with the same text reuse the parse (up to ``MAX_CACHE_CHARS``)."""
    expr = _CACHE.get(source)
    if expr is None:
        expr = Expr(source)
        if _CACHED_CHARS[0] + len(source) <= MAX_CACHE_CHARS:
            _CACHE[source] = expr
            _CACHED_CHARS[0] += len(source)
    return expr


def evaluate(source: str, env: Mapping[str, Value]) -> Value:
    """Evaluate ``source`` in ``env``; raises :class:`ExprError` (column offset in ``.col``)."""
    try:
        return compile_expr(source).evaluate(env)
    except _EvalError as exc:
        err = ExprError(exc.message)
        err.col = exc.col  # type: ignore[attr-defined]
        err.hint = exc.hint  # type: ignore[attr-defined]
        err.suffix = exc.suffix  # type: ignore[attr-defined]
        raise err from None
    except RecursionError:
        raise ExprError("the expression is nested too deeply") from None


def quote(source: str, limit: int = 60) -> str:
    """An expression for a message: in backquotes, shortened with ... past ``limit`` characters."""
    text = source if len(source) <= limit else source[: limit - 3] + "..."
    return f"`{text}`"
