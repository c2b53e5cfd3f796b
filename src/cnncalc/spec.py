"""Spec files: YAML text -> :class:`ArchitectureSpec`, a syntax tree with locations.

The YAML is read as an event stream (C-accelerated where libyaml is present) and
built into a small node tree of our own, so that:

* every scalar stays a string with its 1-based line and column; nothing goes
  through YAML 1.1 implicit typing (``1:2`` is not 62, ``no`` is not False);
* duplicate keys, anchors/aliases, explicit tags (``!!python/object``) and
  multiple documents are errors, never silently accepted or executed;
* size, depth and node-count limits stop hostile input early (see ``LIMITS``).

This stage does no arithmetic: numbers stay text (:class:`Arg`) until
:mod:`cnncalc.graph` evaluates them, because they may depend on block
arguments, variants and input shapes.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from .errors import Location, SpecError, UnknownNameError
from .layers import joins
from .perf import without_gc

#: Hard limits on input, so hostile files end quickly with a located error.
LIMITS = {
    "file_bytes": 2_000_000,
    "yaml_depth": 64,
    "yaml_nodes": 200_000,
}

TOP_KEYS = (
    "cnncalc",
    "name",
    "description",
    "source",
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
)
#: The joins are the registry's ops with role 'join'; the other structural keys belong to the grammar.
JOINS = joins()
STRUCTURAL = (*JOINS, "repeat", "if", "side", "fractal")
ROUNDING = ("floor", "ceil", "exact")


# --------------------------------------------------------------------------- YAML nodes


@dataclass(slots=True)
class YNode:
    """A YAML node: ``kind`` is 'str', 'seq' or 'map'; maps keep (key, value) pairs in order."""

    kind: str
    loc: Location
    text: str = ""
    items: list[YNode] = field(default_factory=list)
    pairs: list[tuple[YNode, YNode]] = field(default_factory=list)
    plain: bool = True  # a plain (unquoted) single-line scalar: columns inside it are exact
    quote: int = 0  # columns taken by an opening quote
    keys: dict[str, YNode] | None = None  # a mapping's keys, to find a duplicate without a quadratic search

    def get(self, key: str) -> YNode | None:
        """The value under ``key`` in a mapping."""
        for k, v in self.pairs:
            if k.text == key:
                return v
        return None

    def describe(self) -> str:
        """'a mapping', 'a list' or 'text'."""
        return {"map": "a mapping", "seq": "a list", "str": f"{self.text!r}"}[self.kind]


def _mark_loc(file: str, mark: Any) -> Location:
    if mark is None:
        return Location(file)
    return Location(file, mark.line + 1, mark.column + 1)


def parse_yaml(text: str, file: str) -> YNode | None:
    """Build the node tree of a single-document YAML text (None for an empty document)."""
    loader = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
    stack: list[YNode] = []
    pending_key: list[YNode | None] = []
    root: YNode | None = None
    count = 0
    docs = 0
    try:
        for ev in yaml.parse(text, Loader=loader):
            loc = _mark_loc(file, ev.start_mark)
            if isinstance(ev, yaml.DocumentStartEvent):
                docs += 1
                if docs > 1:
                    raise SpecError("a spec file holds one YAML document; found a second `---`", loc, code="E101")
                continue
            if isinstance(ev, yaml.AliasEvent):
                raise SpecError(
                    f"YAML aliases (*{ev.anchor}) are not allowed; use `blocks:` to reuse layers", loc, code="E102"
                )
            if not isinstance(
                ev,
                (
                    yaml.ScalarEvent,
                    yaml.SequenceStartEvent,
                    yaml.MappingStartEvent,
                    yaml.SequenceEndEvent,
                    yaml.MappingEndEvent,
                ),
            ):
                continue
            if isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                done = stack.pop()
                pending_key.pop()
                _attach(stack, pending_key, done)
                continue
            if getattr(ev, "anchor", None):
                raise SpecError(
                    f"YAML anchors (&{ev.anchor}) are not allowed; use `blocks:` to reuse layers", loc, code="E102"
                )
            tag = getattr(ev, "tag", None)
            if tag not in (None, "!"):
                raise SpecError(
                    f"YAML tags such as {tag!r} are not allowed (nothing in a spec is typed by tags)", loc, code="E103"
                )
            count += 1
            if count > LIMITS["yaml_nodes"]:
                raise SpecError(f"more than {LIMITS['yaml_nodes']:,} YAML nodes", loc, code="E104")
            if isinstance(ev, yaml.ScalarEvent):
                style = ev.style or ""
                single = (
                    ev.start_mark is not None and ev.end_mark is not None and ev.start_mark.line == ev.end_mark.line
                )
                node = YNode(
                    "str",
                    loc,
                    text=ev.value,
                    plain=single and style == "",
                    quote=1 if single and style in ("'", '"') else 0,
                )
                if not stack:
                    root = node
                else:
                    _attach(stack, pending_key, node)
                continue
            kind = "seq" if isinstance(ev, yaml.SequenceStartEvent) else "map"
            if len(stack) >= LIMITS["yaml_depth"]:
                raise SpecError(f"YAML nested more than {LIMITS['yaml_depth']} levels deep", loc, code="E104")
            node = YNode(kind, loc)
            if not stack:
                root = node
            stack.append(node)
            pending_key.append(None)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        ctx = exc.context_mark
        if (
            exc.context
            and ctx is not None
            and mark is not None
            and (ctx.line, ctx.column) != (mark.line, mark.column)
            and ("flow" in exc.context or "quoted" in exc.context)
        ):  # an unclosed [ { or quote: say where
            problem += f" ({exc.context} that starts at line {ctx.line + 1}, column {ctx.column + 1})"
        lines = text.splitlines()
        if mark is not None and mark.line < len(lines) and lines[mark.line][mark.column : mark.column + 1] == "\t":
            problem += " (a tab: indent with spaces, not tabs)"
        elif mark is not None and mark.line < len(lines) and "={" in lines[mark.line] and "mapping values" in problem:
            problem += (
                " (`: ` inside a layer line ends it in YAML: write `pad={top:0,bottom:1,left:0,right:1}`"
                " without spaces, or put the whole line in quotes)"
            )
        raise SpecError(f"YAML syntax error: {problem}", _mark_loc(file, mark), code="E101") from None
    except yaml.reader.ReaderError as exc:
        line, col = _line_col(text, exc.position)
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise SpecError(
            f"the file contains the control character U+{ord(char):04X}, which YAML does not allow",
            Location(file, line, col),
            code="E100",
        ) from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise SpecError(f"YAML error: {first}", Location(file, 1, 1), code="E101") from None
    return root


def _line_col(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of a character offset, counting lines as editors do (at \\n)."""
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


def _attach(stack: list[YNode], pending_key: list[YNode | None], node: YNode) -> None:
    if not stack:
        return
    parent = stack[-1]
    if parent.kind == "seq":
        parent.items.append(node)
        return
    key = pending_key[-1]
    if key is None:
        if node.kind != "str":
            raise SpecError("mapping keys must be plain text", node.loc, code="E101")
        if node.text == "<<" and node.plain:
            raise SpecError(
                "YAML merge keys (<<) are not allowed; write the keys out, or use `blocks:` and `variants:`",
                node.loc,
                code="E102",
            )
        if parent.keys is None:
            parent.keys = {}
        k = parent.keys.get(node.text)
        if k is not None:
            raise SpecError(
                f"duplicate key `{node.text}` (first at line {k.loc.line}, column {k.loc.column})",
                node.loc,
                code="E105",
            )
        parent.keys[node.text] = node
        pending_key[-1] = node
    else:
        parent.pairs.append((key, node))
        pending_key[-1] = None


# --------------------------------------------------------------------------- syntax tree


class Arg(NamedTuple):
    """A value as written (an expression, ``3x3``, ``same``...), with its location.

    ``mapping`` holds a long-form mapping value such as ``pad: {top: 0, bottom: 1}``.
    """

    text: str
    loc: Location
    mapping: tuple[tuple[str, Arg], ...] | None = None
    items: tuple[Arg, ...] | None = None  # a YAML list value
    key_loc: Location | None = None  # of `key=` or `key:`, if any
    exact: bool = True  # columns inside the text map onto the file (False for quoted/multi-line scalars)

    def at(self, offset: int) -> Location:
        """The location ``offset`` characters into the value (its start when columns are not exact)."""
        return self.loc.shifted(offset) if self.exact else self.loc

    @property
    def where(self) -> Location:
        """The keyword's location when it has one, else the value's."""
        return self.key_loc or self.loc


class Call(NamedTuple):
    """``op arg... key=value...``: a built-in op or a block call."""

    op: str
    args: tuple[Arg, ...]
    kwargs: tuple[tuple[str, Arg], ...]
    loc: Location

    def kwarg(self, key: str) -> Arg | None:
        """The value of keyword ``key``, if given."""
        for k, v in self.kwargs:
            if k == key:
                return v
        return None


@dataclass(frozen=True, slots=True)
class ShapeAssert:
    """An inline ``=> 55x55x96`` (or ``expect:`` on a structural entry)."""

    dims: tuple[int, ...]
    text: str
    loc: Location = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class OpLine:
    """A comma-separated chain of calls, with an optional shape assertion."""

    calls: tuple[Call, ...]
    expect: ShapeAssert | None


@dataclass(frozen=True, slots=True)
class Join:
    """``concat:``/``add:``/``mean:``/``mul:`` over branches that all read the same input."""

    kind: str
    branches: tuple[Seq, ...]
    sources: tuple[Arg, ...]  # from: names; each becomes one more input
    expect: ShapeAssert | None
    names: tuple[str | None, ...] = ()  # branch names given in the spec (`add: {main: [...], shortcut: [...]}`)


@dataclass(frozen=True, slots=True)
class Repeat:
    """``repeat: N`` with ``do: <sequence>``; ``i`` is the 0-based index inside."""

    count: Arg
    body: Seq
    expect: ShapeAssert | None


@dataclass(frozen=True, slots=True)
class If:
    """``if: cond`` / ``then:`` / ``else:`` (else defaults to identity)."""

    cond: Arg
    then: Seq
    orelse: Seq
    expect: ShapeAssert | None


@dataclass(frozen=True, slots=True)
class Side:
    """``side: <sequence>``: a side head (e.g. an auxiliary classifier) off the main chain."""

    body: Seq
    source: Arg | None


@dataclass(frozen=True, slots=True)
class Fractal:
    """``fractal: C`` with ``do:``: FractalNet's expansion f1 = do, f(C+1) = join(f(C)(f(C)(z)), f1(z))."""

    columns: Arg
    body: Seq
    join: str
    expect: ShapeAssert | None


@dataclass(frozen=True, slots=True)
class SubSeq:
    """A named list of items (``name: [ ... ]``)."""

    body: Seq
    expect: ShapeAssert | None


Body = OpLine | Join | Repeat | If | Side | Fractal | SubSeq


@dataclass(frozen=True, slots=True)
class Item:
    """One entry of a sequence: an optional name and what it does."""

    name: str | None
    body: Body
    loc: Location = field(compare=False, repr=False)
    source: Arg | None = None  # from=NAME on the entry (structural or long form)


Seq = tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class BlockDef:
    """``name(p1, p2=default): body``: a reusable, parameterised sub-network."""

    name: str
    params: tuple[tuple[str, Arg | None], ...]
    body: Seq
    loc: Location = field(compare=False, repr=False)

    def signature(self) -> str:
        """``name(a, b, c=1)``."""
        inner = ", ".join(n if d is None else f"{n}={d.text}" for n, d in self.params)
        return f"{self.name}({inner})"


@dataclass(frozen=True, slots=True)
class ExpectValue:
    """An expected count: exact, ``~724M`` (to the precision written) or ``X ±T`` / ``X ±P%``."""

    text: str
    target: Fraction
    tolerance: Fraction  # absolute
    source: str
    loc: Location = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Expectations:
    """An ``expect:`` block (totals, output shape, per-layer values)."""

    totals: tuple[tuple[str, ExpectValue], ...] = ()
    output: ShapeAssert | None = None
    layers: tuple[tuple[str, Location, tuple[tuple[str, ExpectValue | ShapeAssert], ...]], ...] = ()
    variants: tuple[tuple[str, Location, Expectations], ...] = ()


@dataclass(frozen=True, slots=True)
class Variant:
    """A named set of parameter overrides (and optionally another input shape)."""

    name: str
    params: tuple[tuple[str, Arg], ...]
    input: ShapeAssert | None
    loc: Location = field(compare=False, repr=False)
    accuracy: tuple[tuple[str, str], ...] = ()  # overrides the spec's `accuracy:` entries
    title: str | None = None  # the variant's own display name (`name:`), e.g. "VGG-13 (configuration B)"


@dataclass(frozen=True, slots=True)
class ArchitectureSpec:
    """A parsed spec: everything in the file, numbers still as text."""

    file: str
    name: str
    input: ShapeAssert
    layers: Seq
    params: tuple[tuple[str, Arg], ...] = ()
    variants: tuple[Variant, ...] = ()
    defaults: tuple[tuple[str, tuple[tuple[str, Arg], ...], Location], ...] = ()  # op, keywords, where
    blocks: tuple[BlockDef, ...] = ()
    rounding: str = "floor"
    expect: Expectations = Expectations()
    source: str = ""
    description: str = ""
    accuracy: tuple[tuple[str, str], ...] = ()
    by_name: dict[str, Variant] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        for v in self.variants:
            self.by_name.setdefault(v.name, v)  # looked up once per build: a dict, for files of many variants

    def variant(self, name: str) -> Variant:
        """The variant called ``name`` (SpecError with a did-you-mean otherwise)."""
        found = self.by_name.get(name)
        if found is not None:
            return found
        known = [v.name for v in self.variants]
        listed = ", ".join(known[:20]) + (f", ... ({len(known):,} in all)" if len(known) > 20 else "")
        raise UnknownNameError(
            f"no variant {name!r}{did_you_mean(name, known)}; variants: {listed or 'none'}",
            Location(self.file),
            code="E211",
        )


# --------------------------------------------------------------------------- helpers


def did_you_mean(name: str, choices: object) -> str:
    """``"; did you mean `x`?"`` when a close match exists, else ``""``."""
    options = list(choices)  # type: ignore[call-overload]
    if len(options) > 5000:  # difflib is quadratic-ish: keep a typo in a huge spec from taking seconds
        options = [o for o in options if o[:1] == name[:1] and abs(len(o) - len(name)) <= 2][:5000]
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


_BRACKETS = re.compile(r"[()\[\]{}]")
_TOKEN = re.compile(r"\S+")
_KEYVAL = re.compile(r"([^\W\d]\w*)=(?!=)")  # any letters, so that `strïde=2` is an unknown keyword
#: Names an expression gives a meaning of its own: a parameter called so would be shadowed.
RESERVED = ("in_h", "in_w", "in_c", "i", "true", "false", "True", "False")
_CLOSE = {")": "(", "]": "[", "}": "{"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SHAPE = re.compile(r"\s*(\d[\d_]*)\s*(?:[x×]\s*(\d[\d_]*)\s*[x×]\s*(\d[\d_]*))?\s*\Z")


def split_top(text: str, sep: str) -> list[tuple[str, int]]:
    """Split ``text`` at ``sep`` outside brackets; each part with its start offset (parts unstripped)."""
    if not _BRACKETS.search(text):  # the common case: no brackets, so str.split is exact
        out, start = [], 0
        for part in text.split(sep):
            out.append((part, start))
            start += len(part) + len(sep)
        return out
    parts: list[tuple[str, int]] = []
    depth = 0
    start = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append((text[start:i], start))
            i += len(sep)
            start = i
            continue
        i += 1
    parts.append((text[start:], start))
    return parts


def unbalanced(text: str) -> tuple[int, str, int | None] | None:
    """The first bracket of ``text`` that does not pair up: (its offset, what is wrong, the offset of the opening
    bracket it fails to close); None when all pair up."""
    if not _BRACKETS.search(text):
        return None
    stack: list[tuple[int, str]] = []
    for i, ch in enumerate(text):
        if ch in "([{":
            stack.append((i, ch))
        elif ch in _CLOSE:
            if not stack:
                return i, f"`{ch}` closes no bracket", None
            at, opening = stack.pop()
            if opening != _CLOSE[ch]:
                return i, f"`{ch}` does not close the `{opening}`", at
    if stack:
        at, opening = stack[-1]
        return at, f"`{opening}` is never closed", None
    return None


def split_tokens(text: str) -> list[tuple[str, int]]:
    """Split at white space outside brackets; tokens with their offsets."""
    if not _BRACKETS.search(text):
        return [(m.group(), m.start()) for m in _TOKEN.finditer(text)]
    tokens: list[tuple[str, int]] = []
    depth = 0
    start = -1
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch.isspace() and depth <= 0:
            if start >= 0:
                tokens.append((text[start:i], start))
                start = -1
        elif start < 0:
            start = i
    if start >= 0:
        tokens.append((text[start:], start))
    return tokens


#: The largest size of any one dimension (as in the frameworks' int32 sizes).
MAX_DIM = 2**31 - 1


def _digits(text: str, loc: Location, what: str) -> int:
    """A whole number written with digits (and _), refusing absurd lengths before converting."""
    digits = text.replace("_", "").replace(",", "")
    if len(digits) > 30:
        raise SpecError(f"{what}: a number of {len(digits)} digits is out of range", loc, code="E106")
    return int(digits)


def parse_input(text: str, loc: Location, what: str) -> ShapeAssert:
    """An input shape: exactly HxWxC, every dimension between 1 and ``MAX_DIM``."""
    m = _SHAPE.match(text)
    if not m or m.group(2) is None:
        raise SpecError(f"{what} must be HxWxC, such as 224x224x3, got {text.strip()!r}", loc, code="E106")
    dims = tuple(_digits(g, loc, what) for g in m.groups())
    if min(dims) < 1:
        raise SpecError(f"{what} {text.strip()} has a dimension that is not positive", loc, code="E106")
    if max(dims) > MAX_DIM:
        raise SpecError(f"{what} {text.strip()} has a dimension above the limit of {MAX_DIM:,}", loc, code="E106")
    return ShapeAssert(dims, text.strip(), loc)


def parse_shape(text: str, loc: Location) -> ShapeAssert:
    """``HxWxC`` or ``N``."""
    m = _SHAPE.match(text)
    if not m:
        raise SpecError(
            f"expected a shape HxWxC such as 224x224x3 (or N, a flat vector), got {text.strip()!r}", loc, code="E106"
        )
    dims = tuple(_digits(g, loc, "a shape") for g in m.groups() if g is not None)
    if any(d <= 0 for d in dims):
        raise SpecError(f"shape {text.strip()!r} has a dimension that is not positive", loc, code="E106")
    return ShapeAssert(dims, text.strip(), loc)


def _reserved(name: str, what: str) -> str:
    meaning = {"in_h": "the input height", "in_w": "the input width", "in_c": "the input channels"}.get(
        name, "the repeat index" if name == "i" else "a truth value"
    )
    return f"`{name}` is a built-in name ({meaning}) and cannot be a {what}; rename it"


class _Reader:
    """Turns the YAML node tree into the syntax tree."""

    def __init__(self, file: str) -> None:
        self.file = file

    # -- scalars and op lines

    def token_loc(self, node: YNode, offset: int) -> Location:
        if node.plain or node.quote:
            return node.loc.shifted(offset + node.quote)
        return node.loc

    def text(self, node: YNode, what: str) -> str:
        if node.kind != "str":
            raise SpecError(f"{what} must be text, got {node.describe()}", node.loc, code="E107")
        return node.text

    def op_line(self, node: YNode) -> OpLine:
        text = node.text
        expect = None
        bad = unbalanced(text)
        if bad is not None:
            at, what, opening = bad
            if opening is not None and (node.plain or node.quote):
                what += f" at column {self.token_loc(node, opening).column}"
            raise SpecError(f"unbalanced brackets: {what}", self.token_loc(node, at), code="E108")
        arrow = split_top(text, "=>")
        if len(arrow) > 2:
            raise SpecError("more than one `=>` in a line", self.token_loc(node, arrow[2][1] - 2), code="E108")
        if len(arrow) == 2:
            shape_text, off = arrow[1]
            if not arrow[0][0].strip():
                raise SpecError(
                    f"`=> {shape_text.strip()}` states the shape of no layer: put it after the layers of a line"
                    f" (`- conv 8 3x3 => {shape_text.strip()}`)",
                    self.token_loc(node, off - 2),
                    code="E108",
                )
            expect = parse_shape(shape_text, self.token_loc(node, off + len(shape_text) - len(shape_text.lstrip())))
            text = arrow[0][0]
        calls = []
        for part, off in split_top(text, ","):
            if not part.strip():
                raise SpecError("empty layer between commas", self.token_loc(node, off), code="E108")
            calls.append(self.call(part, off, node))
        return OpLine(tuple(calls), expect)

    def call(self, text: str, base: int, node: YNode) -> Call:
        tokens = split_tokens(text)
        op, off = tokens[0]
        loc = self.token_loc(node, base + off)
        if not _IDENT.match(op):
            raise SpecError(f"expected an op or block name, got {op!r}", loc, code="E108")
        args: list[Arg] = []
        kwargs: list[tuple[str, Arg]] = []
        for tok, toff in tokens[1:]:
            tloc = self.token_loc(node, base + toff)
            m = _KEYVAL.match(tok)
            if m:
                key = m.group(1)
                if any(k == key for k, _ in kwargs):
                    raise SpecError(f"`{key}=` given twice in `{op}`", tloc, code="E202")
                value = tok[m.end() :]
                if not value:
                    raise SpecError(f"`{key}=` has no value", tloc, code="E108")
                kwargs.append((key, self.inline_arg(value, tloc.shifted(m.end()), node, key_loc=tloc)))
            else:
                if kwargs:
                    raise SpecError(f"positional value {tok!r} after keyword values in `{op}`", tloc, code="E108")
                args.append(self.inline_arg(tok, tloc, node))
        return Call(op, tuple(args), tuple(kwargs), loc)

    def inline_arg(self, text: str, loc: Location, node: YNode, key_loc: Location | None = None) -> Arg:
        """A value written in an op line; ``{top: 0, bottom: 1}`` becomes a mapping, as in the long form."""
        exact = node.plain or bool(node.quote)
        if not (text.startswith("{") and text.endswith("}")):
            return Arg(text, loc, key_loc=key_loc, exact=exact)
        pairs: list[tuple[str, Arg]] = []
        for part, off in split_top(text[1:-1], ","):
            ploc = loc.shifted(1 + off + len(part) - len(part.lstrip())) if exact else loc
            key, colon, value = part.partition(":")
            if not colon or not _IDENT.match(key.strip()) or not value.strip():
                raise SpecError(
                    f"expected `key: value` in {text!r}, got {part.strip()!r}"
                    " (a per-side padding reads {top: 0, bottom: 1, left: 0, right: 1})",
                    ploc,
                    code="E108",
                )
            if any(k == key.strip() for k, _ in pairs):
                raise SpecError(f"`{key.strip()}` given twice in {text!r}", ploc, code="E202")
            vloc = ploc.shifted(len(part.strip()) - len(value.lstrip())) if exact else loc
            pairs.append((key.strip(), Arg(value.strip(), vloc, key_loc=ploc, exact=exact)))
        return Arg(text, loc, mapping=tuple(pairs), key_loc=key_loc, exact=exact)

    def arg(self, node: YNode, what: str) -> Arg:
        if node.kind == "map":
            return Arg(
                "",
                node.loc,
                mapping=tuple((k.text, self.arg(v, f"{what}.{k.text}")._replace(key_loc=k.loc)) for k, v in node.pairs),
            )
        if node.kind == "seq":
            return Arg("", node.loc, items=tuple(self.arg(v, what) for v in node.items))
        return Arg(
            node.text.strip(),
            self.token_loc(node, len(node.text) - len(node.text.lstrip())),
            exact=node.plain or bool(node.quote),
        )

    # -- sequences

    def seq(self, node: YNode, what: str) -> Seq:
        if node.kind == "str":
            if not node.text.strip():
                raise SpecError(f"{what} is empty: it needs at least one layer", node.loc, code="E109")
            return (Item(None, self.op_line(node), node.loc),)
        if node.kind == "map":
            return (self.item(node),)
        if not node.items:
            raise SpecError(f"{what} is an empty list", node.loc, code="E109")
        return tuple(self.item(child) for child in node.items)

    def item(self, node: YNode) -> Item:
        if node.kind == "str":
            if not node.text.strip():
                raise SpecError(
                    "an empty entry in a layer list: write a layer, or delete the `-`", node.loc, code="E109"
                )
            return Item(None, self.op_line(node), node.loc)
        if node.kind == "seq":
            return Item(None, SubSeq(self.seq(node, "a nested list"), None), node.loc)
        keys = [k.text for k, _ in node.pairs]
        if not keys:
            raise SpecError("empty mapping in a layer list", node.loc, code="E109")
        first = keys[0]
        if first in STRUCTURAL or "op" in keys:
            return self.structural(node, None)
        if len(keys) > 1:
            raise SpecError(
                f"a named layer is a single `name: layers` pair; found keys {', '.join(keys)}"
                f" (indent the value, or start a structural entry with one of {', '.join(STRUCTURAL)})",
                node.pairs[1][0].loc,
                code="E110",
            )
        key, value = node.pairs[0]
        name = key.text
        if not _IDENT.match(name):
            raise SpecError(f"layer name {name!r} must be an identifier (letters, digits, _)", key.loc, code="E110")
        if value.kind == "str":
            if not value.text.strip():
                raise SpecError(f"layer `{name}` is empty: it needs at least one layer", key.loc, code="E109")
            return Item(name, self.op_line(value), key.loc)
        if value.kind == "seq":
            return Item(name, SubSeq(self.seq(value, f"`{name}`"), None), key.loc)
        inner = self.structural(value, name)
        return Item(name, inner.body, key.loc, inner.source)

    def _check_keys(self, node: YNode, allowed: tuple[str, ...], what: str) -> None:
        for k, _ in node.pairs:
            if k.text not in allowed:
                raise SpecError(
                    f"unknown key `{k.text}` in {what}{did_you_mean(k.text, allowed)}; allowed: {', '.join(allowed)}",
                    k.loc,
                    code="E111",
                )

    def _expect_shape(self, node: YNode) -> ShapeAssert | None:
        v = node.get("expect")
        return None if v is None else parse_shape(self.text(v, "`expect`"), v.loc)

    def structural(self, node: YNode, name: str | None) -> Item:
        keys = [k.text for k, _ in node.pairs]
        first_key = node.pairs[0][0]
        source = node.get("from")
        src_arg = self.arg(source, "from") if source is not None else None
        if "op" in keys:
            self._check_keys(node, tuple(keys), "")  # any keyword; the registry checks them
            op = self.text(node.get("op"), "`op`")  # type: ignore[arg-type]
            kwargs = []
            args: list[Arg] = []
            expect = None
            for k, v in node.pairs:
                if k.text == "op":
                    continue
                if k.text == "expect":
                    expect = self._expect_shape(node)
                elif k.text == "from":
                    continue
                elif k.text == "args":
                    args = [self.arg(x, "args") for x in (v.items if v.kind == "seq" else [v])]
                else:
                    kwargs.append((k.text, self.arg(v, k.text)._replace(key_loc=k.loc)))
            call = Call(op.strip(), tuple(args), tuple(kwargs), node.get("op").loc)  # type: ignore[union-attr]
            return Item(name, OpLine((call,), expect), node.loc, src_arg)
        kind = first_key.text
        value = node.pairs[0][1]
        expect = self._expect_shape(node)
        if kind in JOINS:
            self._check_keys(node, (kind, "expect", "from"), f"`{kind}`")
            names: tuple[str | None, ...] = ()
            if value.kind == "map":  # named branches: {main: [...], shortcut: identity}
                for k, _ in value.pairs:
                    if not _IDENT.match(k.text) or k.text == "input":
                        raise SpecError(
                            f"branch name {k.text!r} must be a name (letters, digits, _; not input)", k.loc, code="E112"
                        )
                names = tuple(k.text for k, _ in value.pairs)
                branches = tuple(self.seq(b, f"branch `{k.text}`") for k, b in value.pairs)
            elif value.kind != "seq":
                raise SpecError(
                    f"`{kind}:` takes a list of branches (or a mapping of named branches), got {value.describe()}",
                    value.loc,
                    code="E112",
                )
            else:
                branches = tuple(self.seq(b, f"branch {i + 1}") for i, b in enumerate(value.items))
            sources: tuple[Arg, ...] = ()
            if src_arg is not None:
                sources = (
                    src_arg.items
                    if src_arg.items is not None
                    else tuple(Arg(t.strip(), src_arg.loc) for t, _ in split_top(src_arg.text.strip("[]"), ","))
                )
            if len(branches) + len(sources) < 1:
                raise SpecError(f"`{kind}:` needs at least one branch", value.loc, code="E112")
            return Item(name, Join(kind, branches, sources, expect, names), first_key.loc)
        if kind == "repeat":
            self._check_keys(node, ("repeat", "do", "expect"), "`repeat`")
            body = node.get("do")
            if body is None:
                raise SpecError("`repeat:` needs a `do:` with the layers to repeat", first_key.loc, code="E112")
            return Item(name, Repeat(self.arg(value, "repeat"), self.seq(body, "`do`"), expect), first_key.loc)
        if kind == "if":
            self._check_keys(node, ("if", "then", "else", "expect"), "`if`")
            then = node.get("then")
            if then is None:
                raise SpecError("`if:` needs a `then:`", first_key.loc, code="E112")
            orelse = node.get("else")
            other = self.seq(orelse, "`else`") if orelse is not None else ()  # no `else`: nothing, no row
            return Item(name, If(self.arg(value, "if"), self.seq(then, "`then`"), other, expect), first_key.loc)
        if kind == "side":
            self._check_keys(node, ("side", "from"), "`side`")
            return Item(name, Side(self.seq(value, "`side`"), src_arg), first_key.loc)
        if kind == "fractal":
            self._check_keys(node, ("fractal", "do", "join", "expect"), "`fractal`")
            body = node.get("do")
            if body is None:
                raise SpecError("`fractal:` needs a `do:` with the unit's layers", first_key.loc, code="E112")
            join_node = node.get("join")
            join = self.text(join_node, "`join`").strip() if join_node is not None else "mean"
            if join not in JOINS:
                raise SpecError(f"`join: {join}` is not one of {', '.join(JOINS)}", join_node.loc, code="E112")  # type: ignore[union-attr]
            return Item(name, Fractal(self.arg(value, "fractal"), self.seq(body, "`do`"), join, expect), first_key.loc)
        raise SpecError(f"unknown structural key `{kind}`", first_key.loc, code="E111")  # pragma: no cover

    # -- top level

    def blocks(self, node: YNode) -> tuple[BlockDef, ...]:
        if node.kind != "map":
            raise SpecError(
                f"`blocks:` must be a mapping of `name(params): layers`, got {node.describe()}", node.loc, code="E113"
            )
        out = []
        for key, value in node.pairs:
            m = re.match(r"\s*([A-Za-z_]\w*)\s*(?:\((.*)\))?\s*\Z", key.text)
            if not m:
                raise SpecError(f"block header {key.text!r} must look like `name(a, b, c=1)`", key.loc, code="E113")
            params: list[tuple[str, Arg | None]] = []
            inner = m.group(2)
            if inner and inner.strip():
                for part, off in split_top(inner, ","):
                    ploc = key.loc.shifted(key.quote + m.start(2) + off + len(part) - len(part.lstrip()))
                    pname, eq, default = part.partition("=")
                    pname = pname.strip()
                    if not _IDENT.match(pname):
                        raise SpecError(f"bad block parameter {part.strip()!r}", ploc, code="E113")
                    if pname in RESERVED:
                        raise SpecError(_reserved(pname, "block parameter"), ploc, code="E206")
                    if any(p == pname for p, _ in params):
                        raise SpecError(f"block parameter `{pname}` given twice", ploc, code="E113")
                    if not eq and any(d is not None for _, d in params):
                        raise SpecError(
                            f"parameter `{pname}` without a default follows one with a default", ploc, code="E113"
                        )
                    params.append((pname, Arg(default.strip(), ploc) if eq else None))
            out.append(BlockDef(m.group(1), tuple(params), self.seq(value, f"block `{m.group(1)}`"), key.loc))
        names = [b.name for b in out]
        for b in out:
            if names.count(b.name) > 1:
                raise SpecError(f"block `{b.name}` is defined twice", b.loc, code="E113")
        return tuple(out)

    def named_args(self, node: YNode, what: str) -> tuple[tuple[str, Arg], ...]:
        if node.kind != "map":
            raise SpecError(f"{what} must be a mapping, got {node.describe()}", node.loc, code="E114")
        out = []
        for k, v in node.pairs:
            if not _IDENT.match(k.text):
                raise SpecError(f"{what}: {k.text!r} is not a valid name", k.loc, code="E114")
            out.append((k.text, self.arg(v, k.text)._replace(key_loc=k.loc)))
        return tuple(out)

    def params(self, node: YNode) -> tuple[tuple[str, Arg], ...]:
        out = self.named_args(node, "`params`")
        for name, arg in out:
            if name in RESERVED:
                raise SpecError(_reserved(name, "parameter"), arg.where, code="E206")
        return out

    def variants(self, node: YNode) -> tuple[Variant, ...]:
        if node.kind != "map":
            raise SpecError(f"`variants:` must be a mapping, got {node.describe()}", node.loc, code="E114")
        out = []
        for k, v in node.pairs:
            params = self.named_args(v, f"variant `{k.text}`")
            shape = None
            rest = []
            accuracy: tuple[tuple[str, str], ...] = ()
            title: str | None = None
            for pname, arg in params:
                if pname == "accuracy":
                    if arg.mapping is None:
                        raise SpecError(
                            f"variant `{k.text}`: `accuracy:` must be a mapping such as {{top1: 77.37, source: ...}}",
                            arg.loc,
                            code="E114",
                        )
                    accuracy = tuple((key, a.text) for key, a in arg.mapping)
                elif pname == "input":
                    shape = parse_input(arg.text, arg.loc, f"variant `{k.text}`: `input:`")
                elif pname == "name":
                    title = arg.text
                else:
                    rest.append((pname, arg))
            out.append(Variant(k.text, tuple(rest), shape, k.loc, accuracy, title))
        return tuple(out)

    def expect_value(self, node: YNode, source: str) -> ExpectValue:
        if node.kind == "map":
            self._check_keys(node, ("value", "source", "tolerance"), "an expected value")
            vnode = node.get("value")
            if vnode is None:
                raise SpecError("an expected value needs `value:`", node.loc, code="E115")
            snode = node.get("source")
            src = self.text(snode, "`source`") if snode is not None else source
            tnode = node.get("tolerance")
            text = self.text(vnode, "`value`") + (f" ±{self.text(tnode, '`tolerance`')}" if tnode else "")
            return parse_expect_value(text, vnode.loc, src)
        return parse_expect_value(self.text(node, "an expected value"), node.loc, source)

    def expectations(self, node: YNode, top: bool) -> Expectations:
        if node.kind != "map":
            raise SpecError(f"`expect:` must be a mapping, got {node.describe()}", node.loc, code="E115")
        allowed = (
            "output",
            "params",
            "macs",
            "flops",
            "activations",
            "buffers",
            "weights",
            "biases",
            "layers",
            "source",
        ) + (("variants",) if top else ())
        self._check_keys(node, allowed, "`expect`")
        snode = node.get("source")
        source = self.text(snode, "`source`") if snode is not None else ""
        totals = []
        output = None
        layers = []
        variants = []
        for k, v in node.pairs:
            if k.text == "output":
                output = parse_shape(self.text(v, "`output`"), v.loc)
            elif k.text == "layers":
                if v.kind != "map":
                    raise SpecError("`expect.layers` must map layer paths to values", v.loc, code="E115")
                for lk, lv in v.pairs:
                    if lv.kind != "map":
                        raise SpecError(
                            f"`expect.layers.{lk.text}` must be a mapping such as {{shape: 55x55x96, params: 34944}}",
                            lv.loc,
                            code="E115",
                        )
                    self._check_keys(lv, ("shape", "params", "macs", "activations"), f"`expect.layers.{lk.text}`")
                    entries: list[tuple[str, ExpectValue | ShapeAssert]] = []
                    for ek, ev in lv.pairs:
                        if ek.text == "shape":
                            entries.append(("shape", parse_shape(self.text(ev, "`shape`"), ev.loc)))
                        else:
                            entries.append((ek.text, self.expect_value(ev, source)))
                    layers.append((lk.text, lk.loc, tuple(entries)))
            elif k.text == "variants":
                if v.kind != "map":
                    raise SpecError("`expect.variants` must map variant names to expectations", v.loc, code="E115")
                for vk, vv in v.pairs:
                    variants.append((vk.text, vk.loc, self.expectations(vv, top=False)))
            elif k.text != "source":
                totals.append((k.text, self.expect_value(v, source)))
        return Expectations(tuple(totals), output, tuple(layers), tuple(variants))

    def spec(self, root: YNode | None) -> ArchitectureSpec:
        if root is None:
            raise SpecError(
                "the file is empty; a spec needs at least `input:` and `layers:`",
                Location(self.file, 1, 1),
                code="E100",
            )
        if root.kind != "map":
            raise SpecError(
                f"a spec is a mapping with `input:` and `layers:`, got {root.describe()}", root.loc, code="E100"
            )
        self._check_keys(root, TOP_KEYS, "the spec")
        for key in ("input", "layers"):
            if root.get(key) is None:
                raise SpecError(f"the spec has no `{key}:`", root.loc, code="E100")
        vnode = root.get("cnncalc")
        if vnode is not None and self.text(vnode, "`cnncalc`").strip() != "1":
            raise SpecError(
                f"`cnncalc: {vnode.text.strip()}` is not a format version this cnncalc reads (it reads 1)",
                vnode.loc,
                code="E114",
            )
        inode = root.get("input")
        assert inode is not None
        input_shape = parse_input(self.text(inode, "`input`"), self.token_loc(inode, 0), "`input:`")
        rounding = "floor"
        rnode = root.get("rounding")
        if rnode is not None:
            rounding = self.text(rnode, "`rounding`").strip()
            if rounding not in ROUNDING:
                raise SpecError(
                    f"`rounding:` is one of {', '.join(ROUNDING)}, got {rounding!r}", rnode.loc, code="E114"
                )
        defaults: list[tuple[str, tuple[tuple[str, Arg], ...], Location]] = []
        dnode = root.get("defaults")
        if dnode is not None:
            if dnode.kind != "map":
                raise SpecError(
                    "`defaults:` maps op names to keyword defaults, e.g. {conv: {bias: false}}", dnode.loc, code="E114"
                )
            for k, v in dnode.pairs:
                defaults.append((k.text, self.named_args(v, f"defaults for `{k.text}`"), k.loc))
        texts = {}
        for key in ("name", "source", "description"):
            n = root.get(key)
            texts[key] = self.text(n, f"`{key}`").strip() if n is not None else ""
        acc = root.get("accuracy")
        accuracy = tuple((k, a.text) for k, a in self.named_args(acc, "`accuracy`")) if acc is not None else ()
        pnode, vnode, bnode, enode = (root.get(k) for k in ("params", "variants", "blocks", "expect"))
        return ArchitectureSpec(
            file=self.file,
            name=texts["name"] or Path(self.file).stem,
            input=input_shape,
            layers=self.seq(root.get("layers"), "`layers`"),  # type: ignore[arg-type]
            params=self.params(pnode) if pnode is not None else (),
            variants=self.variants(vnode) if vnode is not None else (),
            defaults=tuple(defaults),
            blocks=self.blocks(bnode) if bnode is not None else (),
            rounding=rounding,
            expect=self.expectations(enode, top=True) if enode is not None else Expectations(),
            source=texts["source"],
            description=texts["description"],
            accuracy=accuracy,
        )


_SUFFIX = {"": 1, "K": 10**3, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "B": 10**9}
_EXPECT = re.compile(
    r"\s*(~)?\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([KkMGTB]?)\s*(?:(?:±|\+-|\+/-)\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([KkMGTB%]?))?\s*\Z"
)


def parse_expect_value(text: str, loc: Location, source: str = "") -> ExpectValue:
    """``60_965_224``, ``~724M``, ``4.09G ±1%``, ``138.4M ±0.1M``."""
    m = _EXPECT.match(text)
    if not m:
        raise SpecError(
            f"expected a count such as 60_965_224, ~724M or 4.09G ±1%, got {text.strip()!r}", loc, code="E115"
        )
    approx, num, suffix, tol, tol_suffix = m.groups()
    digits = num.replace("_", "").replace(",", "")
    if len(digits) > 40 or (tol is not None and len(tol) > 40):
        raise SpecError(f"{text.strip()[:40]}...: a count of more than 40 digits is out of range", loc, code="E115")
    scale = _SUFFIX[suffix]
    target = Fraction(digits) * scale
    tolerance = Fraction(0)
    if approx:
        decimals = len(digits.partition(".")[2])
        tolerance = Fraction(scale, 2 * 10**decimals)
    if tol is not None:
        t = Fraction(tol.replace("_", "").replace(",", ""))
        tolerance = max(tolerance, target * t / 100 if tol_suffix == "%" else t * _SUFFIX[tol_suffix or ""])
    if not approx and tol is None and target.denominator != 1:
        raise SpecError(
            f"{text.strip()!r} is not a whole count; write ~{text.strip()} for a rounded figure", loc, code="E115"
        )
    return ExpectValue(text.strip(), target, tolerance, source, loc)


def read_text(path: str | Path) -> str:
    """Read a spec file as UTF-8 text, with located errors for size, binary data and encoding."""
    p = Path(path)
    name = str(path)
    try:
        size = p.stat().st_size
        if size > LIMITS["file_bytes"]:
            raise SpecError(
                f"the file is {size:,} bytes; specs are limited to {LIMITS['file_bytes']:,} bytes",
                Location(name),
                code="E104",
            )
        data = p.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read the file: {exc.strerror or exc}", Location(name), code="E100") from None
    return decode(data, name)


def decode(data: bytes, name: str) -> str:
    """UTF-8 text from bytes, rejecting NUL bytes and invalid encodings with a location."""
    if len(data) > LIMITS["file_bytes"]:
        raise SpecError(
            f"the file is {len(data):,} bytes; specs are limited to {LIMITS['file_bytes']:,} bytes",
            Location(name),
            code="E104",
        )
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(data) >= 4 and data[1:4:2] == b"\0\0" and data[0:4:2] != b"\0\0"):
        raise SpecError(
            "the file is UTF-16 (as PowerShell's `>` writes); save it as UTF-8", Location(name, 1, 1), code="E100"
        )
    if b"\0" in data:
        at = data.index(b"\0")
        line = data.count(b"\n", 0, at) + 1
        col = at - (data.rfind(b"\n", 0, at) + 1) + 1
        raise SpecError("the file contains NUL bytes; is it a binary file?", Location(name, line, col), code="E100")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(
            f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x})", Location(name, line, col), code="E100"
        ) from None
    return text


@without_gc
def parse_spec(text: str, file: str = "<spec>") -> ArchitectureSpec:
    """Parse spec text (YAML) into an :class:`ArchitectureSpec`."""
    if len(text) > LIMITS["file_bytes"]:
        raise SpecError(
            f"the spec is {len(text):,} characters; specs are limited to {LIMITS['file_bytes']:,}",
            Location(file),
            code="E104",
        )
    for ch, name in (("\u2028", "LINE SEPARATOR"), ("\u2029", "PARAGRAPH SEPARATOR"), ("\x85", "NEXT LINE")):
        pos = text.find(ch)
        if pos >= 0:
            line, col = _line_col(text, pos)
            raise SpecError(
                f"the file contains U+{ord(ch):04X} ({name}), which YAML reads as a line break but "
                "editors do not; delete it",
                Location(file, line, col),
                code="E100",
            )
    return _Reader(file).spec(parse_yaml(text, file))


def load_spec(path: str | Path) -> ArchitectureSpec:
    """Read and parse the spec file at ``path``."""
    return parse_spec(read_text(path), str(path))
