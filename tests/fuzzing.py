"""Property-based robustness testing: random specs, mutated bundled specs, and a CLI oracle.

Three reusable pieces, shared by ``tests/test_fuzz.py`` (a small CI share) and ``tools/fuzz.py``
(the long run):

* :func:`generated_specs` draws whole spec files from the grammar (README "The spec language"):
  random op lines over :data:`cnncalc.layers.LAYER_TYPES` with sensible and junk arguments, joins
  with branches, ``repeat``/``do``, ``if``/``then``/``else``, ``side``, ``fractal``, named items,
  ``from=`` references, blocks with parameters and calls, ``params``, ``variants``, ``defaults``,
  ``expect`` blocks and inline ``=>`` shapes. Most draws are close to valid, so the deeper stages
  (expansion, counting, expectations, rendering) are reached, not only the YAML reader.
* :func:`mutated_specs` takes the text of a bundled ``architectures/*.yaml`` and applies 1-6 random
  edits: delete/duplicate/swap lines, numbers to 0/-1/huge/fractions/expressions, indentation,
  tabs, unicode, truncation, op names, random characters, keys, shapes, comments.
* :func:`outcome` runs ``cnncalc check FILE`` and ``cnncalc show FILE --format json`` in-process
  and returns ``"ok"`` or ``"error"``, or raises :class:`Violation` (an ``AssertionError``) when the
  CLI breaks its contract: an internal error (exit 3) or an escaped exception, an error that is not
  ``FILE:LINE:COL: error: ...`` with LINE >= 1, another exit code, unparsable JSON, or ``show``
  failing a spec that ``check`` passes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from click.testing import CliRunner, Result
from hypothesis import strategies as st

from cnncalc import layers as L  # noqa: N812 - as in cnncalc.graph

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
ARCH = ROOT / "architectures"
BUNDLED: dict[str, str] = {p.name: p.read_text(encoding="utf-8") for p in sorted(ARCH.glob("*.yaml"))}

OPS = sorted(L.LAYER_TYPES)
ALIASES = sorted(L.ALIASES)
SIMPLE_OPS = ("relu", "bn", "identity", "sigmoid", "relu6", "hswish", "dropout 0.2", "swish", "tanh")


# =========================================================================== a tiny YAML emitter
#
# Specs are built as trees of str / list / Map / Flow / Raw and emitted as text, so that the
# generator controls block vs. flow style and quoting (and can deliberately emit broken YAML).


class Map(list):  # type: ignore[type-arg]
    """An ordered YAML mapping as (key, value) pairs; duplicate keys are allowed on purpose."""


class Flow:
    """Emit the wrapped list or Map in flow style (``[a, b]``, ``{k: v}``)."""

    def __init__(self, node: Any) -> None:
        self.node = node


class Raw(str):
    """A scalar emitted exactly as written, never quoted (may break the YAML on purpose)."""

    __slots__ = ()


_PLAIN_START = re.compile(r"[A-Za-z0-9_(~.+]")
_FLOW_CHARS = set(",[]{}")


def scalar(text: str, flow: bool = False) -> str:
    """``text`` as a YAML scalar: plain when that reads back as the same string, else double-quoted."""
    if isinstance(text, Raw):
        return str(text)
    safe = (
        text != ""
        and _PLAIN_START.match(text) is not None
        and text == text.strip()
        and ": " not in text
        and " #" not in text
        and not text.endswith(":")
        and "\t" not in text
        and "\n" not in text
        and not (flow and _FLOW_CHARS & set(text))
        and all(ch.isprintable() for ch in text)
    )
    return text if safe else json.dumps(text)  # a JSON string is a valid YAML double-quoted scalar


def _flow(node: Any) -> str:
    if isinstance(node, Flow):
        node = node.node
    if isinstance(node, Map):
        return "{" + ", ".join(f"{scalar(k, True)}: {_flow(v)}" for k, v in node) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(_flow(v) for v in node) + "]"
    return scalar(node, flow=True)


def emit_lines(node: Any, indent: int = 0) -> list[str]:
    """The lines of ``node`` (a Map or list) in block style at ``indent`` spaces."""
    pad = " " * indent
    out: list[str] = []
    if isinstance(node, Map):
        for k, v in node:
            key = scalar(k)
            if isinstance(v, Flow) or (isinstance(v, (list, Map)) and not v):
                out.append(f"{pad}{key}: {_flow(v)}")
            elif isinstance(v, (list, Map)):
                out.append(f"{pad}{key}:")
                out.extend(emit_lines(v, indent + 2))
            else:
                out.append(f"{pad}{key}: {scalar(v)}")
        return out
    if isinstance(node, list):
        for v in node:
            if isinstance(v, Flow) or (isinstance(v, (list, Map)) and not v):
                out.append(f"{pad}- {_flow(v)}")
            elif isinstance(v, Map):
                sub = emit_lines(v, indent + 2)
                out.append(f"{pad}- {sub[0][indent + 2 :]}")
                out.extend(sub[1:])
            elif isinstance(v, list):
                out.append(f"{pad}-")
                out.extend(emit_lines(v, indent + 2))
            else:
                out.append(f"{pad}- {scalar(v)}")
        return out
    return [pad + scalar(node)]


def emit(node: Any) -> str:
    """A whole YAML document."""
    return "\n".join(emit_lines(node)) + "\n"


# =========================================================================== values

JUNK_VALUES = (
    "",
    "-1",
    "0",
    "-0",
    "1.5",
    "1/2",
    "1/0",
    "x",
    "3x",
    "x3",
    "3x3x3",
    "(1)x(0)",
    "-3x3",
    "0x0",
    "(",
    ")",
    "()",
    "[1, 2]",
    "[]",
    "[1][5]",
    "{}",
    "same",
    "valid",
    "same_lower",
    "SAME",
    "true",
    "false",
    "none",
    "null",
    "nan",
    "inf",
    "1e9",
    "1e999",
    "-1e999",
    "2**31",
    "2**31-1",
    "2**300",
    "10**1000",
    "2**256**2",
    "9" * 40,
    "1_000",
    "0x10",
    "0b11",
    "1j",
    "'a'",
    '"q"',
    "undefined",
    "a.b",
    "__import__('os')",
    "lambda: 1",
    "1 if",
    "not",
    "divisible(1, 0)",
    "divisible(-8, 8)",
    "round(1, -1)",
    "round(2.5, 400)",
    "min()",
    "max([])",
    "abs(true)",
    "int(1e400)",
    "int(-0.5)",
    "ceil(-1/3)",
    "floor(1e300)",
    "in_c//0",
    "in_c % 0",
    "i",
    "in_h/7",
    "[1, 2][i]",
    "depths[9]",
    "depths",
    "3x(k)",
    "(k)x(k)",
    "(0-1)x3",
    "1 2",
    "1,2",
    "=",
    "==",
    "=>",
    "..",
    "1..2",
    "±1",
    "~1M",
    "3×3",
    "３",
    "1\u00a02",
    "٣",
    "x" * 1100,
    "(" * 300 + "1" + ")" * 300,
    "-" * 50 + "1",
    "+" * 200 + "1",
    "[" * 100 + "]" * 100,
    "1 < 2 < 3",
    "true and 3",
    "max(1, [2])",
    "[1] + [2]",
    "[1] * 3",
    "1 == [1]",
    "divisible(8, 0)",
    "divisible(8, 0, min=1)",
    "0**-1",
    "(0)**(-2)",
    "(1/3)**-256",
    "round(1/3, 100000)",
    "round(1/3, 3000000)",
    "round(1, -2000000)",
    "(" + "*".join(["2**255"] * 60) + ")",
    "(2**255*2**255)",
    "[[1]]",
    "[[]]",
    "[[1, 2]]",
    "200000000",
    "2147483647",
    "(2**31)",
    "(-2**31)",
    "1e-300",
    "2**-255",
)

EXPR_ATOMS = (
    "1",
    "2",
    "3",
    "8",
    "16",
    "0.5",
    "1/3",
    "in_c",
    "in_h",
    "in_w",
    "i",
    "g",
    "c",
    "k",
    "alpha",
    "depths[0]",
    "depths[i]",
    "true",
    "false",
    "q",
    "0",
    "-1",
    "2**255",
    "1e300",
    "depths",
    "big3",
)

REPEATS = ("2", "0", "1", "3", "i", "g", "-1", "1.5", "100001", "n", "(2**20)")
#: Large but legal magnitudes (an "extreme" spec uses them often): the size limits must keep cnncalc fast.
EXTREME: dict[str, tuple[str, ...]] = {
    "dim": ("200000000", "2147483647", "(2**30)", "65535", "1x2147483647", "99999"),
    "count": ("2147483647", "65536", "(2**30)", "100000"),
    "pad": ("2147483647", "(2**30)", "100000x0"),
    "repeat": ("100000", "99999", "30000", "(2**16)"),
}
#: Junk that targets one kind of argument (type confusion, extreme magnitudes).
JUNK_BY_KIND: dict[str, tuple[str, ...]] = {
    "pad": ("[[1]]", "[[]]", "[[1, 2, 3]]", "[[1, 2]]", "[1, 2]", "(2**30)", "2147483647", "3x3x3", "same x"),
    "dim": ("200000000", "2147483647", "(2**30)", "(2**31)", "[3, 3]", "(0)x(3)", "3x(2**31)", "1x1x1"),
    "count": ("2147483647", "(2**31-1)", "[8]", "(8, 8)", "3x3", "same", "in_c*2**20", "big3"),
    "index": ("-1", "(2**31)", "0.5", "[0]"),
    "bool": ("2", "-1", "yes", "on", "[true]", "0.5"),
    "number": ("[0.5]", "1e-300", "2**255", "(-1)", "3x3"),
}


_SAMPLERS: dict[Any, st.SearchStrategy[Any]] = {}


def _sampler(choices: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    try:
        return _SAMPLERS[choices]
    except KeyError:
        strategy = _SAMPLERS[choices] = st.sampled_from(choices)
        return strategy
    except TypeError:  # unhashable
        return st.sampled_from(choices)


def rare(draw: st.DrawFn, n: int) -> bool:
    """True about once in ``n`` draws; shrinks to False (so minimal examples drop the oddity)."""
    return draw(_sampler(tuple(range(n)))) == n - 1  # type: ignore[no-any-return]


def fault(draw: st.DrawFn, ctx: Ctx, n: int) -> bool:
    """Like :func:`rare`, for a choice that makes the spec wrong; never in a clean spec (``ctx.clean``)."""
    return not ctx.clean and rare(draw, n)


def pick(draw: st.DrawFn, choices: Sequence[T]) -> T:
    """One of ``choices`` (repeat an entry to weight it); shrinks towards the first."""
    return draw(_sampler(tuple(choices)))  # type: ignore[no-any-return]


@st.composite
def expressions(draw: st.DrawFn, depth: int = 2) -> str:
    """A random expression over the language's operators and functions (often ill-typed, on purpose)."""
    kind = pick(draw, ("atom", "atom", "bin", "call", "ifexp", "unary", "index", "list")) if depth > 0 else "atom"
    if kind == "atom":
        return pick(draw, EXPR_ATOMS)
    a = draw(expressions(depth - 1))
    if kind == "bin":
        op = pick(draw, ("+", "-", "*", "/", "//", "%", "**", "==", "<", "and", "or"))
        return f"({a} {op} {draw(expressions(depth - 1))})"
    if kind == "call":
        fn = pick(draw, ("int", "round", "floor", "ceil", "abs", "min", "max", "divisible", "sqrt"))
        args = [a] + ([draw(expressions(depth - 1))] if fn in ("min", "max", "divisible", "round") else [])
        return f"{fn}({', '.join(args)})"
    if kind == "ifexp":
        return f"({a} if {draw(expressions(depth - 1))} else {draw(expressions(depth - 1))})"
    if kind == "unary":
        return pick(draw, (f"(-{a})", f"(not {a})", f"(+{a})"))
    if kind == "list":
        return pick(draw, (f"[{a}]", f"[[{a}]]", f"[{a}, {a}]", f"[[{a}, {a}]]", "[]", "[[]]"))
    return f"[{a}, {draw(expressions(depth - 1))}][{pick(draw, ('0', '1', 'i', '2', '-1'))}]"


GOOD_BY_KIND: dict[str, tuple[str, ...]] = {
    "count": (
        "8",
        "1",
        "2",
        "4",
        "16",
        "32",
        "in_c",
        "in_c//2",
        "2*in_c",
        "c",
        "g",
        "int(8*alpha)",
        "divisible(in_c*alpha, 8)",
        "max(in_c//4, 8)",
        "(2 if i == 0 else 1)",
        "depths[0]",
    ),
    "index": ("0", "1", "0", "i"),
    "dim": ("1", "3", "2", "3x3", "1x1", "1x3", "3x1", "5x5", "2x2", "(k)x(k)", "k", "7x7", "1x7"),
    "pad": ("1", "0", "2", "0x1", "1x0", "same", "same_lower", "valid", "k//2"),
    "bool": ("false", "true", "1", "0"),
    "number": ("0.5", "0.2", "1/3", "0.001", "1", "alpha"),
    "shape": ("10", "4x4x8", "1x1x16", "100"),
}


@st.composite
def values(draw: st.DrawFn, kind: str, ctx: Ctx | None = None) -> str:
    """A value for an argument of ``kind``: sensible (weight ``ctx.good``), else an expression, a number or junk.

    In a clean spec (``ctx.clean``) about one value in 8 is odd until ``ctx.faults`` runs out.
    """
    if ctx is not None and ctx.extreme and kind in EXTREME and rare(draw, 3):
        return pick(draw, EXTREME[kind])
    if ctx is not None and ctx.clean:
        odd = ctx.faults > 0 and rare(draw, 8)
        ctx.faults -= odd
        how = pick(draw, ("expr", "junk", "kind-junk", "kind-junk", "int")) if odd else "good"
    else:
        how = pick(
            draw, ("good",) * (ctx.good if ctx else 40) + ("expr", "expr", "junk", "kind-junk", "kind-junk", "int")
        )
    if how == "good":
        return pick(draw, GOOD_BY_KIND.get(kind, GOOD_BY_KIND["count"]))
    if how == "expr":
        e = draw(expressions())
        return f"({e})" if " " in e else e
    if how == "junk" or (how == "kind-junk" and kind not in JUNK_BY_KIND):
        return pick(draw, JUNK_VALUES)
    if how == "kind-junk":
        return pick(draw, JUNK_BY_KIND[kind])
    return str(draw(st.integers(-5, 2**33)))


@st.composite
def shapes(draw: st.DrawFn) -> str:
    """An ``=> SHAPE`` / ``expect:`` shape: plausible or junk."""
    how = pick(draw, ("hwc", "hwc", "flat") + (("junk",) if rare(draw, 3) else ()))
    if how == "hwc":
        return "x".join(str(pick(draw, (8, 1, 2, 4, 16, 32, 7, 3))) for _ in range(3))
    if how == "flat":
        return str(pick(draw, (10, 1, 8, 16, 100, 1000)))
    return pick(
        draw,
        (
            "0",
            "1x1",
            "1x1x0",
            "-1",
            "3x3x3x3",
            "a",
            "",
            "99999999999999999999x1x1",
            "1_0x1_0x1_0",
            "8 x 8 x 8",
            "8×8×8",
            "٣x3x3",
            "9" * 5000 + "x1x1",
        ),
    )


# =========================================================================== spec trees


class Ctx:
    """What the generator knows while drawing: names in scope, blocks, params (all best-effort)."""

    def __init__(self) -> None:
        self.names: list[str] = ["input"]
        self.blocks: dict[str, list[str]] = {}
        self.params: list[str] = []
        self.counter = 0
        self.good = 40  # weight of sensible values against 6 for odd ones (expressions, junk, numbers)
        self.clean = False  # a clean spec: no structural faults, at most `faults` odd values
        self.faults = 0
        self.extreme = False  # huge sizes, strides and repeat counts: the limits must keep it fast

    def fresh(self) -> str:
        self.counter += 1
        return f"l{self.counter}"


COMMON_OPS = (
    "relu",
    "conv",
    "bn",
    "identity",
    "dwconv",
    "sigmoid",
    "relu6",
    "hswish",
    "hsigmoid",
    "swish",
    "dropout",
    "scale",
    "leaky",
    "lrn",
    "maxpool",
    "avgpool",
    "elu",
    "gelu",
    "tanh",
    "shuffle",
    "split",
)
JUNK_OPS = (
    "conv2d",
    "Conv",
    "pool",
    "1conv",
    "con-v",
    "fc_",
    "op",
    "repeat",
    "if",
    "side",
    "fractal",
    "input",
    "_",
    "x",
    "conv.1",
    "卷积",
    "relu(",
    "=>",
    "-",
)
JUNK_KEYS = (
    "bogus",
    "s",
    "p",
    "g",
    "k",
    "padding",
    "repeat",
    "from",
    "stride",
    "pad",
    "groups",
    "out",
    "kernel",
    "in_c",
    "i",
    "_",
    "Stride",
    "1x",
)


@st.composite
def op_calls(draw: st.DrawFn, ctx: Ctx) -> str:
    """One ``op arg... key=value...`` call: a built-in op (mostly), a block, an alias or junk."""
    choice = pick(
        draw, ("common",) * 8 + ("any", "any", "block", "block", "alias") + (("junk",) if fault(draw, ctx, 3) else ())
    )
    if choice == "block" and ctx.blocks:
        name = pick(draw, sorted(ctx.blocks))
        params = ctx.blocks[name]
        npos = len(params) if not fault(draw, ctx, 4) else draw(st.integers(0, len(params) + 1))
        parts = [name] + [draw(values("count", ctx)) for _ in range(npos)]
        if params and rare(draw, 3):
            parts.append(f"{pick(draw, params)}={draw(values('count', ctx))}")
    else:
        pool: Sequence[str] = {"common": COMMON_OPS, "alias": ALIASES, "junk": JUNK_OPS}.get(choice, OPS)
        op = pick(draw, pool)
        lt = L.lookup(op)
        parts = [op]
        if lt is not None:
            pos = lt.positional
            npos = draw(st.integers(0, len(pos))) if fault(draw, ctx, 8) else len(pos)
            for spec in pos[:npos]:
                parts.append(draw(values(spec.kind, ctx)))
            if fault(draw, ctx, 20):
                parts.append(draw(values("count", ctx)))  # one positional too many
            keywords = [a for a in lt.args if not a.positional]
            for spec in draw(
                st.lists(st.sampled_from(keywords), max_size=2, unique_by=lambda a: a.name) if keywords else st.just([])
            ):
                parts.append(f"{spec.name}={draw(values(spec.kind, ctx))}")
        if fault(draw, ctx, 15):
            parts.append(f"{pick(draw, JUNK_KEYS)}={draw(values('count', ctx))}")
        if rare(draw, 8):
            parts.append(f"from={pick(draw, ctx.names[::-1] + ['nowhere'])}")
    if rare(draw, 10):
        parts.append(
            f"repeat={pick(draw, EXTREME['repeat']) if ctx.extreme and rare(draw, 3) else pick(draw, REPEATS)}"
        )
    return " ".join(p for p in parts if p != "") if not fault(draw, ctx, 30) else " ".join(parts)


@st.composite
def op_lines(draw: st.DrawFn, ctx: Ctx) -> str:
    """Comma-chained calls with an optional ``=> SHAPE``."""
    calls = [draw(op_calls(ctx)) for _ in range(pick(draw, (1, 1, 2, 3)))]
    sep = ", " if not fault(draw, ctx, 60) else pick(draw, (",", " , ", ",,", ", ,", ";", " ,, "))
    line = sep.join(calls)
    if fault(draw, ctx, 10):
        line += f"  => {draw(shapes())}"
    if fault(draw, ctx, 40):
        line += pick(draw, (" => 1", " =>", ","))
    return line


@st.composite
def long_forms(draw: st.DrawFn, ctx: Ctx) -> Any:
    """``{op: conv, out: 8, kernel: 3x3, pad: {top: 0, ...}}``."""
    op = pick(draw, COMMON_OPS + tuple(OPS) + JUNK_OPS[:3])
    lt = L.lookup(op)
    m = Map([("op", op)])
    if lt is not None:
        for spec in lt.args:
            if spec.positional or rare(draw, 3):
                if spec.kind == "pad" and draw(st.booleans()):
                    sides = draw(
                        st.lists(st.sampled_from(("top", "bottom", "left", "right", "middle")), max_size=4, unique=True)
                    )
                    m.append((spec.name, Map([(s, draw(values("index", ctx))) for s in sides])))
                else:
                    m.append((spec.name, draw(values(spec.kind, ctx))))
    if rare(draw, 6):
        m.append(("args", [draw(values("count", ctx)) for _ in range(pick(draw, (1, 0, 2, 3)))]))
    if rare(draw, 6):
        m.append(("from", pick(draw, ctx.names[::-1])))
    if rare(draw, 6):
        m.append(("expect", draw(shapes())))
    if fault(draw, ctx, 10):
        m.append((pick(draw, JUNK_KEYS), draw(values("count", ctx))))
    return Flow(m) if draw(st.booleans()) else m


def _maybe_flow(draw: st.DrawFn, node: Any) -> Any:
    return Flow(node) if rare(draw, 7) else node


@st.composite
def items(draw: st.DrawFn, ctx: Ctx, depth: int) -> Any:
    """One layer item: an op line, a named item, a long form, a nested list or a structural entry."""
    kinds: tuple[str, ...] = ("line", "line", "line", "named", "named", "long")
    if depth > 0:
        kinds += ("struct", "struct", "struct", "named_struct", "named_struct", "list")
    kind = pick(draw, kinds)
    if kind == "line":
        return draw(op_lines(ctx))
    if kind == "long":
        return draw(long_forms(ctx))
    if kind == "named":
        name = ctx.fresh() if not fault(draw, ctx, 8) else pick(draw, ctx.names + ["input", "1bad", "a b", "x.y", "i"])
        value: Any = draw(op_lines(ctx)) if depth <= 0 or not rare(draw, 3) else draw(sequences(ctx, depth - 1))
        ctx.names.append(name)
        return Map([(name, value)])
    if kind == "named_struct":
        name = ctx.fresh()
        inner = draw(structurals(ctx, depth - 1))
        ctx.names.append(name)
        return Map([(name, inner)])
    if kind == "list":
        return draw(sequences(ctx, depth - 1))  # a nested list
    return draw(structurals(ctx, depth - 1))


@st.composite
def sequences(draw: st.DrawFn, ctx: Ctx, depth: int) -> Any:
    """A list of items (sometimes a single op line, which a sequence also accepts; rarely empty)."""
    if rare(draw, 5):
        return draw(op_lines(ctx))
    n = pick(draw, (1, 2, 3, 1, 2, 4)) if not fault(draw, ctx, 60) else 0
    return _maybe_flow(draw, [draw(items(ctx, depth)) for _ in range(n)])


BRANCH_LINES = (
    "identity",
    "conv 8 1x1",
    "conv in_c 3x3 pad=1",
    "maxpool 3x3 stride=1 pad=1",
    "relu",
    "conv 8 3x3 pad=1, bn, relu",
    "gap",
    "avgpool 3x3 stride=1 pad=1, conv 4 1x1",
)


@st.composite
def structurals(draw: st.DrawFn, ctx: Ctx, depth: int) -> Map:
    """A join, repeat, if, side or fractal mapping."""
    kind = pick(draw, ("concat", "add", "repeat", "if", "side", "fractal", "mean", "mul"))
    m = Map()
    if kind in ("concat", "add", "mean", "mul"):
        if kind == "mul" and not rare(draw, 3):
            bs: list[Any] = ["identity", ["gap", "conv in_c//2 1x1", "relu", "conv in_c 1x1", "hsigmoid"]]
        elif kind in ("add", "mean") and not rare(draw, 3):
            bs = ["identity", pick(draw, ("conv in_c 3x3 pad=1, bn", "relu", "bn", "dwconv 3x3 pad=1"))]
        else:
            bs = []
            for _ in range(pick(draw, (2, 1, 3, 4, 2, 1, 3, 2) + ((0,) if fault(draw, ctx, 4) else ()))):
                bs.append(pick(draw, BRANCH_LINES) if draw(st.booleans()) else draw(sequences(ctx, depth)))
        m.append((kind, _maybe_flow(draw, bs)))
        if rare(draw, 4):
            src = draw(st.lists(st.sampled_from(ctx.names[::-1] + ["nowhere"]), min_size=1, max_size=2))
            m.append(("from", src[0] if len(src) == 1 and draw(st.booleans()) else Flow(src)))
    elif kind == "repeat":
        if ctx.extreme and rare(draw, 3):
            m.append(("repeat", pick(draw, EXTREME["repeat"])))
        else:
            m.append(
                (
                    "repeat",
                    pick(draw, ("2", "0", "1", "3", "g", "depths[0]"))
                    if not rare(draw, 4)
                    else draw(values("count", ctx)),
                )
            )
        if not fault(draw, ctx, 15):
            m.append(("do", draw(sequences(ctx, depth))))
    elif kind == "if":
        m.append(
            (
                "if",
                pick(draw, ("in_c == 8", "i == 0", "true", "false", "g > 1", "in_c != 16 or in_h > 4"))
                if not fault(draw, ctx, 4)
                else draw(expressions()),
            )
        )
        if not fault(draw, ctx, 15):
            m.append(("then", draw(sequences(ctx, depth))))
        if draw(st.booleans()):
            m.append(("else", draw(sequences(ctx, depth))))
    elif kind == "side":
        m.append(("side", draw(sequences(ctx, depth))))
        if draw(st.booleans()):
            m.append(("from", pick(draw, ctx.names[::-1] + ["nowhere"])))
    else:
        m.append(
            ("fractal", pick(draw, ("2", "1", "3", "4")) if not fault(draw, ctx, 5) else draw(values("count", ctx)))
        )
        if not fault(draw, ctx, 15):
            m.append(
                (
                    "do",
                    pick(draw, ("conv 8 3x3 pad=1, bn, relu", "relu", "conv in_c 1x1"))
                    if draw(st.booleans())
                    else draw(sequences(ctx, depth)),
                )
            )
        if draw(st.booleans()):
            m.append(("join", pick(draw, ("mean", "add", "concat", "mul", "max", ""))))
    if fault(draw, ctx, 8) and kind != "side":
        m.append(("expect", draw(shapes())))
    if fault(draw, ctx, 30):
        m.append((pick(draw, ("bogus", "do", "then", "from", "expect", kind)), "relu"))
    return m


EXPECT_VALUES = (
    "1000",
    "~724M",
    "4.09G ±1%",
    "1_000",
    "12.5",
    "~12.5K",
    "0",
    "abc",
    "±1",
    "1,000",
    "~1.2.3",
    "138.4M ±0.1M",
    "5 +- 1",
    "7 +/- 100%",
    "99999999999999999999999999",
    "1e3",
    "-1",
    "~0.0001",
    "~1" + "0" * 30 + "M",
    "9" * 5000,
    "1." + "0" * 5000,
    "~1 ±" + "9" * 5000,
)


@st.composite
def expect_blocks(draw: st.DrawFn, ctx: Ctx, variants: list[str]) -> Map:
    m = Map()
    if draw(st.booleans()):
        m.append(("output", draw(shapes())))
    for key in draw(
        st.lists(
            st.sampled_from(("params", "macs", "flops", "activations", "buffers", "weights", "biases", "bogus")),
            max_size=3,
            unique=True,
        )
    ):
        v: Any = pick(draw, EXPECT_VALUES) if draw(st.booleans()) else str(draw(st.integers(0, 10**9)))
        if rare(draw, 4):
            v = Map([("value", v), ("source", "a paper")] + ([("tolerance", "1%")] if draw(st.booleans()) else []))
        m.append((key, v))
    if rare(draw, 3):
        paths = ctx.names[1:] + ["conv", "conv#1", "b1", "nowhere", "l1.conv", "l1", "l2"]
        layers = Map()
        for p in draw(st.lists(st.sampled_from(paths), max_size=3, unique=True)):
            entry = Map()
            for k in draw(
                st.lists(st.sampled_from(("shape", "params", "macs", "activations", "flops")), max_size=2, unique=True)
            ):
                entry.append((k, draw(shapes()) if k == "shape" else pick(draw, EXPECT_VALUES)))
            layers.append((p, Flow(entry)))
        m.append(("layers", layers))
    if rare(draw, 3):
        vs = Map()
        for name in draw(st.lists(st.sampled_from(variants + ["ghost"]), max_size=2, unique=True)):
            vs.append((name, Flow(Map([("params", pick(draw, EXPECT_VALUES))]))))
        m.append(("variants", vs))
    return m


PARAM_VALUES = {
    "g": ("1", "2", "4"),
    "c": ("8", "16"),
    "k": ("3", "1"),
    "alpha": ("1", "0.5", "0.75"),
    "depths": ("[1, 2]", "[2, 1, 3]"),
    "n": ("2", "0"),
    "q": ("1",),
}


@st.composite
def spec_trees(draw: st.DrawFn) -> Map:
    """A whole spec as a tree (see :func:`generated_specs` for text)."""
    ctx = Ctx()
    ctx.good = pick(draw, (40, 40, 12, 3))  # most specs are nearly clean, some are junk-heavy
    ctx.clean = draw(st.booleans())  # half the specs are clean but for (at most) one odd value
    ctx.faults = 1
    ctx.extreme = rare(draw, 12)
    if ctx.extreme:  # a clean spec at extreme sizes: no other fault stops it early
        ctx.clean, ctx.faults = True, 0
    spec = Map()
    if not rare(draw, 8):
        spec.append(("cnncalc", pick(draw, ("1", "2", "x")) if fault(draw, ctx, 10) else "1"))
    spec.append(("name", "fuzz"))
    if draw(st.booleans()):
        spec.append(("source", "tests/fuzzing.py"))
    if not fault(draw, ctx, 80):
        if fault(draw, ctx, 10):
            shape = draw(shapes())
        elif ctx.extreme or fault(draw, ctx, 15):
            shape = pick(
                draw,
                (
                    "1100000001x1x1",
                    "2147483647x1x1",
                    "2147483648x1x1",
                    "1x2147483647x3",
                    "99999999999x1x1",
                    "65536x65536x1024",
                    "1x1x1",
                ),
            )
        else:
            shape = f"{pick(draw, (32, 16, 8, 1, 3, 40))}x{pick(draw, (32, 16, 8, 1, 7))}x{pick(draw, (8, 3, 1, 16))}"
        spec.append(("input", shape))
    params = Map()
    names = ["g", "c", "k", "alpha", "depths"] if not fault(draw, ctx, 10) else []
    names += [pick(draw, ("n", "q", "n", "q", "in_c", "i", "1x"))] if fault(draw, ctx, 4) else []
    for name in names:
        v = pick(draw, PARAM_VALUES.get(name, ("1",))) if not fault(draw, ctx, 10) else draw(values("count", ctx))
        if v.startswith("[") and draw(st.booleans()):
            params.append((name, Flow([x.strip() for x in v[1:-1].split(",")])))
        else:
            params.append((name, v))
        ctx.params.append(name)
    if fault(draw, ctx, 12):  # each squaring doubles the size: 2**255, 2**510, ... (big numbers must stay cheap)
        params.append(("big0", "2**255"))
        for j in range(1, pick(draw, (3, 6, 10, 14, 18))):
            params.append((f"big{j}", f"big{j - 1}*big{j - 1}"))
    if params or rare(draw, 10):
        spec.append(("params", params))
    variant_names: list[str] = []
    if rare(draw, 3):
        variants = Map()
        for vname in draw(st.lists(st.sampled_from(("v1", "v2", "big", "small", "in put")), max_size=3, unique=True)):
            overrides = Map()
            for p in draw(st.lists(st.sampled_from(ctx.params + ["unknown", "input"]), max_size=2, unique=True)):
                overrides.append((p, draw(shapes()) if p == "input" else draw(values("count", ctx))))
            variants.append((vname, Flow(overrides)))
            variant_names.append(vname)
        spec.append(("variants", variants))
    if rare(draw, 4):
        defaults = Map()
        for op in draw(
            st.lists(
                st.sampled_from(("conv", "maxpool", "bn", "fc", "dwconv", "nope", "avgpool", "linear")),
                max_size=2,
                unique=True,
            )
        ):
            lt = L.lookup(op)
            kws = list(lt.args) if lt else []
            entry = Map()
            for a in draw(st.lists(st.sampled_from(kws), max_size=2, unique_by=lambda a: a.name)) if kws else []:
                entry.append((a.name, draw(values(a.kind, ctx))))
            if rare(draw, 6):
                entry.append((pick(draw, ("bogus", "s", "repeat")), "1"))
            defaults.append((op, Flow(entry)))
        spec.append(("defaults", defaults))
    if ctx.extreme or fault(draw, ctx, 8):
        spec.append(("rounding", pick(draw, ("exact", "ceil", "floor", "up"))))
    if rare(draw, 3):
        blocks = Map()
        for bname in draw(
            st.lists(st.sampled_from(("unit", "stage", "cbr", "se", "b")), min_size=1, max_size=3, unique=True)
        ):
            pnames = draw(st.lists(st.sampled_from(("c", "k", "s", "n", "mid")), max_size=3, unique=True))
            header_params = []
            seen_default = False
            for pn in pnames:
                if draw(st.booleans()) or seen_default:
                    header_params.append(f"{pn}={pick(draw, ('1', '2', '8', 'c', 'in_c', 'bad(', 'n'))}")
                    seen_default = True
                else:
                    header_params.append(pn)
            header = f"{bname}({', '.join(header_params)})" if bool(pnames) or draw(st.booleans()) else bname
            if fault(draw, ctx, 40):
                header = pick(draw, ("relu(c)", "conv", "input(a)", "i"))  # a built-in's name
            if fault(draw, ctx, 25):
                header = pick(draw, ("1x(", "unit(a, a)", "unit(a=1, b)", "unit(,)", "unit)", "u(a=(1, 2))"))
            body_ctx = Ctx()
            body_ctx.good, body_ctx.clean, body_ctx.faults = ctx.good, ctx.clean, ctx.faults
            body_ctx.extreme = ctx.extreme
            body_ctx.blocks = dict(ctx.blocks)
            if fault(draw, ctx, 6):
                body_ctx.blocks[bname] = pnames  # a block calling itself: recursion must be an error
            body_ctx.params = ctx.params + pnames
            body = draw(sequences(body_ctx, 1))
            ctx.faults = body_ctx.faults
            ctx.blocks[bname] = pnames
            blocks.append((header, body))
        spec.append(("blocks", blocks))
    if not fault(draw, ctx, 80):
        layers = (
            [draw(items(ctx, 2)) for _ in range(pick(draw, (1, 2, 3, 4, 5, 6)))] if not fault(draw, ctx, 40) else []
        )
        spec.append(("layers", layers))
    if rare(draw, 3):
        spec.append(("expect", draw(expect_blocks(ctx, variant_names))))
    if rare(draw, 10):
        spec.append(("notes", "free text: with a colon"))
    if rare(draw, 10):
        spec.append(("accuracy", Flow(Map([("top1", "76.1")]))))
    if fault(draw, ctx, 30):
        spec.append((pick(draw, ("layer", "inputs", "block", "expects", "name")), "x"))
    if rare(draw, 10):  # shuffle the top-level keys
        order = draw(st.permutations(list(range(len(spec)))))
        spec = Map([spec[i] for i in order])
    return spec


def generated_specs() -> st.SearchStrategy[str]:
    """Random spec texts drawn from the grammar."""
    return spec_trees().map(emit)


# =========================================================================== mutations of bundled specs

UNICODE = (
    "\u00a0",
    "\u200b",
    "\ufeff",
    "\u2028",
    "\u2029",
    "\u0085",
    "\u202e",
    "é",
    "×",
    "±",
    "３",
    "٣",
    "😀",
    "\u0301",
    "\r",
    "\r\n",
    "\x0b",
    "\x0c",
    "\x1b",
    "\x00",
    "\x7f",
    "\ud800",
    "\U0010ffff",
    "ﬁ",
    "İ",
)
NUMBERS = (
    "0",
    "-1",
    "-0",
    "1",
    "2",
    "00",
    "0.5",
    "1.5",
    "1/2",
    "1/3",
    "2/3",
    "1e9",
    "1e-9",
    "2147483647",
    "2147483648",
    "4294967296",
    "99999999999999999999",
    "9" * 400,
    "9" * 5000,
    "10**9",
    "2**31",
    "2**64",
    "(1+1)",
    "in_c",
    "in_c//2",
    "i",
    "(i+1)",
    "g",
    "x",
    "(1/0)",
    "-(1)",
    "1_",
    "_1",
    "1__0",
    "0x1",
    "1.0",
    ".5",
    "5.",
    "1,000",
    "(3)",
    "3x3",
    "3 x 3",
    "~1",
)
KEYS = (
    "cnncalc",
    "name",
    "source",
    "description",
    "input",
    "params",
    "variants",
    "defaults",
    "rounding",
    "blocks",
    "layers",
    "expect",
    "notes",
    "accuracy",
    "concat",
    "add",
    "mean",
    "mul",
    "repeat",
    "do",
    "if",
    "then",
    "else",
    "side",
    "fractal",
    "join",
    "from",
    "op",
    "output",
    "value",
    "tolerance",
    "shape",
    "macs",
    "params",
    "flops",
    "input",
    "layer",
    "bogus",
    "Layers",
    "expect ",
    "- x",
    "a b",
    "x=1",
    "&a",
    "*a",
    "!!str",
    "? q",
    "<<",
    "",
)
RANDOM_CHARS = "-:#[]{}|>&*!%@`'\",=()x~±?\\ \n\t.;0123456789abcxyz"
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NUMBER = re.compile(r"\d[\d_]*(?:\.\d+)?")
KEY = re.compile(r"^(\s*(?:-\s+)?)([^\s:#-][^:#\n]*?):(?=\s|$)", re.M)


def _lines(text: str) -> list[str]:
    return text.split("\n")


@st.composite
def _pos(draw: st.DrawFn, n: int) -> int:
    return draw(st.integers(0, max(n - 1, 0)))


def _m_delete_line(draw: st.DrawFn, t: str) -> str:
    ls = _lines(t)
    del ls[draw(_pos(len(ls)))]
    return "\n".join(ls)


def _m_duplicate_line(draw: st.DrawFn, t: str) -> str:
    ls = _lines(t)
    i = draw(_pos(len(ls)))
    ls.insert(draw(_pos(len(ls) + 1)) if draw(st.booleans()) else i, ls[i])
    return "\n".join(ls)


def _m_swap_lines(draw: st.DrawFn, t: str) -> str:
    ls = _lines(t)
    i, j = draw(_pos(len(ls))), draw(_pos(len(ls)))
    ls[i], ls[j] = ls[j], ls[i]
    return "\n".join(ls)


def _m_number(draw: st.DrawFn, t: str) -> str:
    ms = list(NUMBER.finditer(t))
    if not ms:
        return t
    m = ms[draw(_pos(len(ms)))]
    new = draw(
        st.one_of(
            st.sampled_from(NUMBERS),
            st.sampled_from(JUNK_VALUES),
            expressions().map(lambda e: e if " " not in e else f"({e})"),
        )
    )
    return t[: m.start()] + new + t[m.end() :]


def _m_indent(draw: st.DrawFn, t: str) -> str:
    ls = _lines(t)
    i = draw(_pos(len(ls)))
    delta = draw(st.sampled_from((-4, -2, -1, 1, 2, 4)))
    ls[i] = ls[i][-delta:] if delta < 0 and ls[i][:-delta].strip() == "" else " " * max(delta, 0) + ls[i]
    return "\n".join(ls)


def _m_tab(draw: st.DrawFn, t: str) -> str:
    if draw(st.booleans()):
        ls = _lines(t)
        i = draw(_pos(len(ls)))
        ls[i] = "\t" + ls[i] if draw(st.booleans()) else ls[i].replace("  ", "\t", 1)
        return "\n".join(ls)
    p = draw(_pos(len(t) + 1))
    return t[:p] + "\t" + t[p:]


def _m_unicode(draw: st.DrawFn, t: str) -> str:
    p = draw(_pos(len(t) + 1))
    return t[:p] + draw(st.sampled_from(UNICODE)) + t[p:]


def _m_truncate(draw: st.DrawFn, t: str) -> str:
    return t[: draw(_pos(len(t) + 1))]


def _m_op(draw: st.DrawFn, t: str) -> str:
    names = set(OPS) | set(ALIASES)
    ms = [m for m in WORD.finditer(t) if m.group() in names]
    if not ms:
        return t
    m = ms[draw(_pos(len(ms)))]
    new = draw(st.sampled_from(OPS + ALIASES + list(JUNK_OPS) + ["", "bottleneck", "stage", "inception", "cbr"]))
    return t[: m.start()] + new + t[m.end() :]


def _m_chars(draw: st.DrawFn, t: str) -> str:
    p = draw(_pos(len(t) + 1))
    return t[:p] + draw(st.text(st.sampled_from(RANDOM_CHARS), min_size=1, max_size=4)) + t[p:]


def _m_delete_chars(draw: st.DrawFn, t: str) -> str:
    p = draw(_pos(len(t)))
    return t[:p] + t[p + draw(st.integers(1, 5)) :]


def _m_key(draw: st.DrawFn, t: str) -> str:
    ms = list(KEY.finditer(t))
    if not ms:
        return t
    m = ms[draw(_pos(len(ms)))]
    new = draw(st.one_of(st.sampled_from(KEYS), st.sampled_from([k.group(2) for k in ms])))
    return t[: m.start(2)] + new + t[m.end(2) :]


def _m_word(draw: st.DrawFn, t: str) -> str:
    ms = list(WORD.finditer(t))
    if len(ms) < 2:
        return t
    m = ms[draw(_pos(len(ms)))]
    new = ms[draw(_pos(len(ms)))].group()
    return t[: m.start()] + new + t[m.end() :]


def _m_splice(draw: st.DrawFn, t: str) -> str:
    other = _lines(BUNDLED[draw(st.sampled_from(sorted(BUNDLED)))])
    ls = _lines(t)
    ls.insert(draw(_pos(len(ls) + 1)), other[draw(_pos(len(other)))])
    return "\n".join(ls)


def _m_shape(draw: st.DrawFn, t: str) -> str:
    ms = list(re.finditer(r"\d+x\d+(?:x\d+)?", t))
    if not ms:
        return t
    m = ms[draw(_pos(len(ms)))]
    a, *rest = m.group().split("x")
    new = draw(
        st.sampled_from(
            (
                f"{a}x",
                f"x{a}",
                f"{a}x{a}x{a}x{a}",
                f"{a}×{a}",
                f"{a} x {a}",
                f"({a})x({a})",
                f"0x{a}",
                f"{a}x0",
                f"-{a}x{a}",
                f"{a}",
                "x",
                f"{a}x{a}x0",
            )
        )
    )
    return t[: m.start()] + new + t[m.end() :]


def _m_comment(draw: st.DrawFn, t: str) -> str:
    p = draw(_pos(len(t) + 1))
    return t[:p] + draw(st.sampled_from(("# ", " #", "#"))) + t[p:]


def _m_yaml(draw: st.DrawFn, t: str) -> str:
    """YAML features the reader must reject or survive: anchors, tags, documents, flow/block switches."""
    ls = _lines(t)
    i = draw(_pos(len(ls)))
    snippet = draw(
        st.sampled_from(
            (
                "---",
                "...",
                "&a",
                "*a",
                "!!python/object:os.system",
                "!tag",
                "? x",
                "<<: *a",
                "- ",
                "|",
                ">",
                "{",
                "[",
                "%YAML 1.1",
                "'",
                '"',
                "key: [a, b",
                "k: {a: 1,",
            )
        )
    )
    if draw(st.booleans()):
        ls.insert(i, snippet)
    else:
        ls[i] = ls[i] + " " + snippet
    return "\n".join(ls)


_KWARG = re.compile(r"\b([a-z_]+)=([^\s,=][^\s,]*)")
_KIND_OF_KEY = {
    "stride": "dim",
    "s": "dim",
    "dilation": "dim",
    "kernel": "dim",
    "k": "dim",
    "pad": "pad",
    "p": "pad",
    "padding": "pad",
    "groups": "count",
    "g": "count",
    "out": "count",
    "mult": "count",
    "repeat": "count",
    "bias": "bool",
    "ceil": "bool",
    "eps": "number",
    "alpha": "number",
    "beta": "number",
    "index": "index",
    "size": "count",
}


def _m_kwarg(draw: st.DrawFn, t: str) -> str:
    """``key=value`` in an op line -> ``key=<junk for that key's kind>`` (a deep fault in an otherwise valid spec)."""
    ms = list(_KWARG.finditer(t))
    if not ms:
        return _m_number(draw, t)
    m = ms[draw(_pos(len(ms)))]
    kind = _KIND_OF_KEY.get(m.group(1), "count")
    new = draw(
        st.one_of(
            st.sampled_from(JUNK_BY_KIND.get(kind, ("x",))),
            st.sampled_from(JUNK_VALUES),
            st.sampled_from(GOOD_BY_KIND.get(pick(draw, sorted(GOOD_BY_KIND)), ("1",))),
        )
    )
    if " " in new and not new.startswith("("):
        new = f"({new})"
    return t[: m.start(2)] + new + t[m.end(2) :]


MUTATIONS: dict[str, Callable[[st.DrawFn, str], str]] = {
    "delete_line": _m_delete_line,
    "duplicate_line": _m_duplicate_line,
    "swap_lines": _m_swap_lines,
    "number": _m_number,
    "indent": _m_indent,
    "tab": _m_tab,
    "unicode": _m_unicode,
    "truncate": _m_truncate,
    "op": _m_op,
    "chars": _m_chars,
    "delete_chars": _m_delete_chars,
    "key": _m_key,
    "word": _m_word,
    "splice": _m_splice,
    "shape": _m_shape,
    "comment": _m_comment,
    "yaml": _m_yaml,
    "kwarg": _m_kwarg,
}


@st.composite
def mutated_specs(draw: st.DrawFn) -> str:
    """A bundled spec's text after 1-6 random mutations (most often one: a single fault reaches deep)."""
    name = draw(st.sampled_from(sorted(BUNDLED)))
    text = BUNDLED[name]
    kinds = sorted(MUTATIONS) + ["number", "kwarg", "kwarg"]  # value faults weigh more
    for _ in range(pick(draw, (1, 1, 1, 2, 2, 3, 6))):
        text = MUTATIONS[pick(draw, kinds)](draw, text)
    return text


# =========================================================================== the oracle


class Violation(AssertionError):  # noqa: N818 - the name the brief and reports use
    """The CLI broke its contract on some input. ``kind`` groups violations; ``signature`` dedupes them."""

    def __init__(self, kind: str, command: str, detail: str, signature: str = "") -> None:
        self.kind, self.command, self.detail = kind, command, detail
        self.signature = signature or kind
        super().__init__(f"[{kind}] `{command}`: {detail}")


class CaseTimeout(BaseException):
    """Raised by the alarm of :func:`outcome`'s ``timeout`` (a BaseException, so cnncalc cannot swallow it)."""


_RUNNER = CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"})
_TMP: dict[int, Path] = {}


def _spec_path() -> Path:
    pid = os.getpid()
    if pid not in _TMP:
        _TMP[pid] = Path(tempfile.mkdtemp(prefix="cnncalc-fuzz-")) / "spec.yaml"
    return _TMP[pid]


def _invoke(args: list[str], timeout: float | None) -> Result:
    from cnncalc.cli import cli

    if not timeout:
        return _RUNNER.invoke(cli, args, prog_name="cnncalc")

    def alarm(signum: int, frame: Any) -> None:
        raise CaseTimeout(f"cnncalc {' '.join(args)} took more than {timeout} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return _RUNNER.invoke(cli, args, prog_name="cnncalc")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _innermost(tb: Any) -> str:
    """``file:line in func`` of the innermost cnncalc frame of a traceback (the bug's address)."""
    frames = [f for f in traceback.extract_tb(tb) if "cnncalc" in f.filename and "/tests/" not in f.filename]
    if not frames:
        frames = traceback.extract_tb(tb)
    if not frames:
        return "?"
    f = frames[-1]
    return f"{Path(f.filename).name}:{f.lineno} in {f.name}"


def _traceback_of(args: list[str], timeout: float | None) -> tuple[str, str]:
    """Re-run with --traceback to get the internal error's trace and signature."""
    res = _invoke(["--traceback", *args], timeout)
    exc = res.exception
    if exc is None or isinstance(exc, SystemExit) or res.exc_info is None:
        return "(no traceback on re-run)", "?"
    tb = "".join(traceback.format_exception(*res.exc_info))
    return tb, f"{type(exc).__name__} at {_innermost(res.exc_info[2])}"


def _check_result(res: Result, args: list[str], path: str, text_lines: list[str], timeout: float | None) -> str:
    """ "ok", "error", or raise Violation for one invocation."""
    cmd = "cnncalc " + " ".join(args)
    exc = res.exception
    if exc is not None and not isinstance(exc, SystemExit):
        tb = "".join(traceback.format_exception(*res.exc_info)) if res.exc_info else repr(exc)
        sig = f"{type(exc).__name__} at {_innermost(res.exc_info[2]) if res.exc_info else '?'}"
        raise Violation("uncaught-exception", cmd, f"{type(exc).__name__}: {exc}\n{tb}", f"uncaught {sig}")
    code = res.exit_code
    if code == 3:
        tb, sig = _traceback_of(args, timeout)
        raise Violation("internal-error", cmd, f"exit 3: {res.stderr.strip()}\n{tb}", f"internal {sig}")
    if code == 0:
        if args[0] == "show":
            try:
                data = json.loads(res.stdout)
            except ValueError as e:
                raise Violation("bad-json", cmd, f"exit 0 but stdout is not JSON ({e}): {res.stdout[:300]!r}") from None
            if not isinstance(data, dict) or "layers" not in data or "total" not in data:
                raise Violation("bad-json", cmd, f"JSON without layers/total: {res.stdout[:300]!r}")
        elif "1 spec ok, 0 failed" not in res.stderr:
            raise Violation("bad-summary", cmd, f"exit 0 but the summary is {res.stderr.strip()!r}")
        return "ok"
    if code != 1:
        raise Violation(
            "bad-exit", cmd, f"exit {code}\nstdout: {res.stdout[:500]!r}\nstderr: {res.stderr[:500]!r}", f"exit {code}"
        )
    out = res.stdout if args[0] == "check" else res.stderr
    first = out.split("\n", 1)[0]
    m = re.match(rf"^{re.escape(path)}:(\d+):(\d+): (error|warning): ", first)
    if not m:
        words = re.sub(r"[`'\"].*?[`'\"]|#x[0-9a-fA-F]+|\d+", "…", first.replace(path, "FILE"))[:70]
        raise Violation(
            "unlocated-error",
            cmd,
            f"first line of {'stdout' if args[0] == 'check' else 'stderr'} is "
            f"not FILE:LINE:COL: error: ...\n{out[:800]}",
            f"unlocated: {words}",
        )
    line, col = int(m.group(1)), int(m.group(2))
    width = len(text_lines[line - 1]) if 1 <= line <= len(text_lines) else 0
    if line < 1 or col < 1 or line > len(text_lines) + 1 or col > width + 1:
        words = re.sub(r"\d+", "…", first.replace(path, "FILE"))[:70]
        where = f"line {line}, column {col} is outside the file ({len(text_lines)} lines, that one {width} characters)"
        raise Violation("mislocated-error", cmd, f"{where}\n{out[:800]}", f"mislocated: {words}")
    if args[0] == "check" and "0 specs ok, 1 failed" not in res.stderr:
        raise Violation("bad-summary", cmd, f"exit 1 but the summary is {res.stderr.strip()!r}")
    return "error"


#: The line breaks locations count: as editors do. YAML also breaks lines at U+0085, U+2028 and U+2029, but
#: cnncalc refuses those characters before YAML reads the file, locating them where an editor shows them.
_YAML_LINES = re.compile("\r\n|[\n\r]")


def outcome(text: str | bytes, timeout: float | None = None, all_formats: bool = False) -> str:
    """Run ``check`` and ``show --format json`` on ``text``: "ok" (both exit 0), "error" (a located error).

    Raises :class:`Violation` (an AssertionError) when either command breaks the CLI's contract,
    and :class:`CaseTimeout` when ``timeout`` seconds pass in one command (a hang). With
    ``all_formats``, a spec that ``show`` accepts must also render as a table, CSV and Markdown
    (``--depth 1`` too) with exit 0.
    """
    path = _spec_path()
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    path.write_bytes(data)
    p = str(path)
    n_lines = _YAML_LINES.split(data.decode("utf-8", "replace"))
    c_args = ["check", p]
    s_args = ["show", p, "--format", "json"]
    c = _check_result(_invoke(c_args, timeout), c_args, p, n_lines, timeout)
    s = _check_result(_invoke(s_args, timeout), s_args, p, n_lines, timeout)
    if c == "ok" and s == "error":
        raise Violation("inconsistent", "cnncalc show " + p, "`check` passes the spec but `show` fails it")
    if all_formats and s == "ok":
        for extra in (
            ["show", p],
            ["show", p, "--format", "csv"],
            ["show", p, "--format", "markdown", "--depth", "1"],
            ["show", p, "--depth", "1", "--width", "40"],
        ):
            res = _invoke(extra, timeout)
            if res.exit_code != 0:
                _check_result(res, extra, p, n_lines, timeout)  # raises for exit 3 / escaped exceptions
                raise Violation(
                    "format-error",
                    "cnncalc " + " ".join(extra),
                    f"`show --format json` works but this exits {res.exit_code}: {res.stderr[:300]}",
                )
    return "ok" if c == s == "ok" else "error"
