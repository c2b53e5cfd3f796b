"""Expansion and shape propagation: :class:`ArchitectureSpec` -> :class:`Graph`.

The spec's items are expanded in order (blocks called, repeats unrolled,
``if`` resolved, branches joined) while shapes are propagated, because
expressions may depend on the current input (``in_c``) and on block arguments.
Each built-in op becomes one :class:`Node` with resolved integer attributes, its
input and output shapes, its location in the file and the block-call chain that
produced it. Nodes come out in evaluation order, which is a topological order:
a ``from=`` reference can only name a layer evaluated earlier, so cycles cannot
be written.

Layer paths are hierarchical: a named entry contributes its name; an unnamed one
contributes ``op#k`` (k counts that op within its parent), shortened to ``op``
when it is the only one; join branches are ``b1``, ``b2``... Inside a repeated
body a named entry is numbered too (``x#1``, ``x#2``...), so every layer has a
path of its own. A path is a :class:`LayerPath`, a segment with a pointer to its
parent's path: building one costs the same whatever the depth, and its text is
made when asked for.

Work is bounded per file (:class:`Work`): the layers, expansion steps and
expression work of every configuration built from one file (``check`` builds the
spec and each variant) draw on the ``MAX_FILE_*`` budgets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, NamedTuple

from . import layers as L  # noqa: N812 - the registry, used on nearly every line
from .argkinds import ArgKind
from .binding import MAX_SIZE, Binding, _Env
from .errors import (
    CnncalcError,
    Diagnostic,
    ExpectationError,
    ExprError,
    Location,
    ShapeError,
    SpecError,
    UnknownNameError,
)
from .expr import METER, Value, fmt
from .perf import without_gc
from .shapes import Shape
from .spec import (
    ArchitectureSpec,
    Arg,
    BlockDef,
    Call,
    Fractal,
    If,
    Item,
    Join,
    OpLine,
    Repeat,
    Seq,
    ShapeAssert,
    Side,
    SubSeq,
    did_you_mean,
)

#: Limits on expansion, so hostile specs end quickly with a located error.
MAX_NODES = 200_000
MAX_REPEAT = 100_000
#: Repeat iterations in all (an empty body repeated 10**10 times makes no layers but would never end).
MAX_ITERATIONS = 1_000_000
MAX_BLOCK_DEPTH = 64
MAX_FRACTAL = 10
#: Budgets per file, over every configuration built from it (the spec and each variant): layers in all;
#: expansion steps (entries, calls and repeat iterations: blocks that make nothing still cost steps); and
#: expression work (one unit per syntax node evaluated, one more per 64 bits of a large number).
MAX_FILE_LAYERS = 200_000
MAX_FILE_STEPS = 1_000_000
MAX_FILE_EXPR = 2_000_000
INPUT = -1  # the node index that stands for the network input
#: Paths up to this many characters keep their text; longer ones make it when asked (see LayerPath).
_TEXT_KEPT = 256


class LayerPath:
    """A layer path (``stage2.block#3.conv``) as its last segment and the path of its parent scope.

    Layers share their parent's path object, so a network of deeply nested blocks with long names takes memory
    in proportion to its layers, not to layers x path length. Short paths keep their text; ``str()`` of a long
    one joins the segments each time. Paths compare and hash by their segments, without making their text
    (segments never hold a dot, so equal segments mean equal text); compare ``str()`` with text.
    """

    __slots__ = ("parent", "segment", "size", "text", "key")

    def __init__(self, parent: LayerPath | None, segment: str) -> None:
        self.parent = parent
        self.segment = segment
        if parent is None:
            self.size = len(segment)
            self.text: str | None = segment
            self.key = hash(segment)
        else:
            self.size = parent.size + 1 + len(segment)
            up = parent.text
            self.text = f"{up}.{segment}" if up is not None and self.size <= _TEXT_KEPT else None
            self.key = hash((parent.key, segment))

    @classmethod
    def parse(cls, text: str) -> LayerPath:
        """The path written as ``text`` (segments between dots)."""
        path: LayerPath | None = None
        for segment in text.split("."):
            path = cls(path, segment)
        assert path is not None
        return path

    def __str__(self) -> str:
        if self.text is not None:
            return self.text
        parts: list[str] = []
        node: LayerPath | None = self
        while node is not None:
            parts.append(node.segment)
            node = node.parent
        return ".".join(reversed(parts))

    def tail(self, n: int) -> str:
        """The last ``n`` characters of the text (all of it when shorter), made from the last segments only."""
        parts: list[str] = []
        size = -1
        node: LayerPath | None = self
        while node is not None and size < n:
            parts.append(node.segment)
            size += len(node.segment) + 1
            node = node.parent
        text = ".".join(reversed(parts))
        return text[-n:] if n > 0 else ""

    def head(self, n: int) -> str:
        """The first ``n`` characters of the text (all of it when shorter), without making the rest."""
        if self.text is not None or self.size <= n:
            return str(self)[:n]
        chain: list[LayerPath] = []
        node: LayerPath | None = self
        while node is not None:
            chain.append(node)
            node = node.parent
        parts: list[str] = []
        size = -1
        for node in reversed(chain):
            if size >= n:
                break
            parts.append(node.segment)
            size += len(node.segment) + 1
        return ".".join(parts)[:n]

    def __repr__(self) -> str:
        return f"LayerPath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, LayerPath):
            return NotImplemented
        if self.size != other.size or self.key != other.key:
            return False
        a: LayerPath | None = self
        b: LayerPath | None = other
        while a is not b:
            if a is None or b is None or a.segment != b.segment:
                return False
            a, b = a.parent, b.parent
        return True

    def __hash__(self) -> int:
        return self.key


PathLike = LayerPath | str


class _NodeFields(NamedTuple):
    position: int  # in evaluation order (Graph.nodes[position] is this node)
    path: PathLike  # Node.path gives it as text
    op: str
    attrs: Mapping[str, Any]
    inputs: tuple[int, ...]
    in_shapes: tuple[Shape, ...]
    out: Shape
    loc: Location
    info: Mapping[str, Any] = {}
    side: bool = False


class Node(_NodeFields):
    """One built-in op in the expanded graph, with resolved attributes and shapes (immutable).

    ``path`` is the layer's path as text; ``ref`` the shared :class:`LayerPath` it is made from.
    """

    __slots__ = ()

    @property
    def path(self) -> str:
        """The layer's path, e.g. ``stage2.block#3.conv``."""
        return str(super().path)

    @property
    def ref(self) -> PathLike:
        """The layer's path as stored: a :class:`LayerPath` shared with its siblings (or text)."""
        return super().path


@dataclass(slots=True)
class Work:
    """The work done for one file so far, over every configuration built from it (the ``MAX_FILE_*`` budgets)."""

    layers: int = 0
    steps: int = 0
    expr: int = 0
    exhausted: bool = False  # a budget ran out: every further configuration of the file would fail at once


@dataclass(frozen=True, slots=True)
class Graph:
    """The expanded network: nodes in evaluation order and the output node."""

    name: str
    file: str
    input: Shape
    nodes: tuple[Node, ...]
    output: int
    variant: str | None = None
    params: tuple[tuple[str, str], ...] = ()  # the resolved top-level params, as text
    rounding: str = "floor"
    no_bias: bool = False
    warnings: tuple[Diagnostic, ...] = ()
    own_title: bool = False  # the variant names itself (`name:` in its mapping): the title is its own
    source: str = ""  # the spec's `source:`
    accuracy: tuple[tuple[str, str], ...] = ()  # the spec's `accuracy:` entries, the variant's own over them

    @property
    def title(self) -> str:
        """The display name: the spec's, a variant's own, or ``vgg13 (variant of VGG-16 ...)``."""
        if self.variant and not self.own_title:
            return f"{self.variant} (variant of {self.name})"
        return self.name

    @property
    def output_shape(self) -> Shape:
        """The shape of the network's output."""
        return self.input if self.output == INPUT else self.nodes[self.output].out


@dataclass(slots=True)
class _Frame:
    """A naming scope: the top level or one block-call instance."""

    names: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (node index, id(item))
    parent: _Frame | None = None

    def find(self, name: str) -> int | None:
        frame: _Frame | None = self
        while frame is not None:
            if name in frame.names:
                return frame.names[name][0]
            frame = frame.parent
        return None

    def all_names(self) -> list[str]:
        out: list[str] = []
        frame: _Frame | None = self
        while frame is not None:
            out.extend(frame.names)
            frame = frame.parent
        return out


@dataclass(slots=True)
class _Scope:
    """Where items are being expanded: path prefix (None at the top), env, names, block chain, op counters."""

    prefix: LayerPath | None
    env: dict[str, Value]
    frame: _Frame
    chain: tuple[object, ...]
    active: tuple[str, ...]  # block names being expanded (recursion check)
    counters: dict[str, int] = field(default_factory=dict)
    i: int | None = None
    side: bool = False
    static: dict[str, int] | None = None  # how often each unnamed op/kind occurs here, counted before expansion

    def child(self, segment: str) -> _Scope:
        return _Scope(self.join(segment), self.env, self.frame, self.chain, self.active, {}, self.i, self.side)

    def join(self, segment: str) -> LayerPath:
        return LayerPath(self.prefix, segment)

    @property
    def where(self) -> PathLike:
        """The scope's path for messages ("" at the top)."""
        return self.prefix if self.prefix is not None else ""

    def named(self, name: str) -> str:
        """The segment of an entry called ``name``: ``name#k`` in a repeated body, where it recurs."""
        if self.static is not _SEVERAL:
            return name
        k = self.counters.get(name, 0) + 1
        self.counters[name] = k
        return f"{name}#{k}"

    def segment(self, base: str) -> str:
        """``base#k``, or just ``base`` when it is the only one of its kind in this scope."""
        k = self.counters.get(base, 0) + 1
        self.counters[base] = k
        if self.static is not None and self.static.get(base, 0) <= 1:
            return base
        return f"{base}#{k}"


def _branch_segments(join: Join) -> list[str]:
    """The path segment of each branch of a join: its name when the spec names it (a mapping of branches); ""
    (no segment of its own) for every branch when each is one entry that names itself (a named entry, a lone op
    or block call) and the names differ; else ``b1``, ``b2``... So ``add: [bottleneck_branch c, identity]`` gives
    ``add.bottleneck_branch...`` and ``add.identity``, while chains of layers stay ``add.b1``, ``add.b2``."""
    if join.names:
        return [n or f"b{k + 1}" for k, n in enumerate(join.names)]
    leads: list[str | None] = []
    for branch in join.branches:
        lead = None
        if len(branch) == 1:
            item = branch[0]
            if item.name is not None:
                lead = item.name
            elif isinstance(item.body, OpLine) and len(item.body.calls) == 1:
                call = item.body.calls[0]
                if call.kwarg("repeat") is None:
                    lead = _base(call)
        leads.append(lead)
    numbered = [f"b{k + 1}" for k in range(len(leads))]
    names = [x for x in leads if x is not None]
    if len(names) == len(leads) and len(set(names)) == len(names) and not set(names) & set(numbered):
        return [""] * len(leads)
    return numbered


def _base(call: Call) -> str:
    lt = L.lookup(call.op)
    return lt.name if lt is not None else call.op


def _static_counts(items: Seq, into: dict[str, int] | None = None) -> dict[str, int]:
    """How many unnamed segments of each kind a sequence makes at its own level (2 standing for 'several').

    Counting before expansion lets a lone op be called ``conv`` rather than ``conv#1``, in tables and in
    errors alike; ``if`` branches count as the larger of the two, repeats as several.
    """
    counts: dict[str, int] = {} if into is None else into
    for item in items:
        if item.name is not None:
            continue
        body = item.body
        if isinstance(body, OpLine):
            for call in body.calls:
                base = _base(call)
                counts[base] = counts.get(base, 0) + (2 if call.kwarg("repeat") is not None else 1)
        elif isinstance(body, If):
            a, b = _static_counts(body.then), _static_counts(body.orelse)
            for key in a.keys() | b.keys():
                counts[key] = counts.get(key, 0) + max(a.get(key, 0), b.get(key, 0))
        else:
            key = _STRUCT_BASE.get(type(body), "") or getattr(body, "kind", "")
            counts[key] = counts.get(key, 0) + 1
    return counts


class Builder(Binding):
    """Expands one spec configuration into nodes (argument binding: :class:`~cnncalc.binding.Binding`)."""

    def __init__(
        self,
        spec: ArchitectureSpec,
        env: dict[str, Value],
        input_shape: Shape,
        *,
        no_bias: bool = False,
        check_inline: bool = True,
        work: Work | None = None,
    ) -> None:
        self.spec = spec
        self.file = spec.file
        self.base_env = env
        self.input = input_shape
        self.no_bias = no_bias
        self.check_inline = check_inline
        self.rounding = spec.rounding
        self.nodes: list[Node] = []
        self.shapes: list[Shape] = []
        self.warnings: list[Diagnostic] = []
        self.iterations = 0
        self.work = Work() if work is None else work
        self.steps = 10 + len(spec.blocks) + len(spec.defaults)  # what every build costs before its first layer
        self.step_limit = MAX_FILE_STEPS - self.work.steps
        self.layer_limit = min(MAX_NODES, MAX_FILE_LAYERS - self.work.layers)
        self.meter_start = METER.used
        self.expr_budget = MAX_FILE_EXPR
        self.expr_limit = METER.used + MAX_FILE_EXPR - self.work.expr
        self.plans: dict[int, list[tuple[L.ArgSpec, Arg | None]]] = {}  # per call site (specs outlive builds)
        self.literals: dict[tuple[ArgKind, str], Any] = {}
        self.statics: dict[int, dict[str, int]] = {}
        self.sites: dict[int, tuple[L.LayerType | None, BlockDef | None, Arg | None, Arg | None]] = {}
        self.warned: set[int] = set()
        self.blocks: dict[str, BlockDef] = {b.name: b for b in spec.blocks}
        self.defaults: dict[str, dict[str, Arg]] = {}
        for op, kws, where in spec.defaults:
            lt = L.lookup(op)
            if lt is None and op not in self.blocks:
                raise UnknownNameError(
                    f"`defaults:` names unknown op `{op}`{L.suggest(op, self.blocks)}",
                    where,
                    notes=(L.OPAQUE_HELP,),
                    code="E201",
                )
            name = lt.name if lt else op
            for key, arg in kws:
                key = L.keyword(lt, key) if lt is not None else key
                if lt is not None and lt.arg(key) is None:
                    raise UnknownNameError(
                        f"`defaults:` for `{name}`: unknown keyword `{key}`"
                        f"{did_you_mean(key, [a.name for a in lt.args])}",
                        arg.where,
                        code="E203",
                    )
                self.defaults.setdefault(name, {})[key] = arg
        for b in spec.blocks:
            if L.lookup(b.name) is not None:
                raise SpecError(f"block `{b.name}` has the name of a built-in op; rename it", b.loc, code="E204")

    # ------------------------------------------------------------------ helpers

    def shape_of(self, idx: int) -> Shape:
        return self.input if idx == INPUT else self.shapes[idx]

    def fail(self, err: CnncalcError, loc: Location, path: PathLike, scope: _Scope) -> CnncalcError:
        err.located(loc.with_path(str(path)))
        if scope.chain and not any(n.startswith("in block") for n in err.notes):
            err.notes = err.notes + tuple(str(site) for site in scope.chain)
        return err

    def add_node(
        self,
        op: str,
        attrs: dict[str, Any],
        inputs: list[int],
        path: PathLike,
        loc: Location,
        scope: _Scope,
        notes: tuple[str, ...] = (),
    ) -> int:
        lt = L.LAYER_TYPES[op]
        if len(self.nodes) >= self.layer_limit:
            raise self.fail(SpecError(self.too_many_layers(), code="E104"), loc, path, scope)
        in_shapes = [self.shape_of(i) for i in inputs]
        ctx = L.Ctx(self.rounding)
        try:
            out = lt.shape(attrs, in_shapes, ctx)
        except ShapeError as exc:
            if len(in_shapes) == 1:
                exc.notes = (f"input {in_shapes[0]}",) + exc.notes
            raise self.fail(exc, loc, path, scope) from None
        if min(out.dims) < 1 or max(out.dims) > MAX_SIZE:
            raise self.fail(ShapeError(f"output shape {out} is out of range", code="E401"), loc, path, scope)
        idx = len(self.nodes)
        self.nodes.append(Node(idx, path, op, attrs, tuple(inputs), tuple(in_shapes), out, loc, ctx.info, scope.side))
        self.shapes.append(out)
        return idx

    def too_many_layers(self) -> str:
        if self.layer_limit == MAX_NODES:
            return f"the network expands to more than {MAX_NODES:,} layers"
        self.work.exhausted = True
        return (
            f"the spec and its variants expand to more than {MAX_FILE_LAYERS:,} layers in all"
            f" ({self.work.layers:,} before this configuration; the limit is per file)"
        )

    def step(self, loc: Location, path: PathLike, scope: _Scope, n: int = 1) -> None:
        """Count ``n`` expansion steps (entries, calls, repeat iterations) against the file's budget."""
        self.steps += n
        if self.steps > self.step_limit:
            self.work.exhausted = True
            raise self.fail(
                SpecError(
                    f"expanding this file takes more than {MAX_FILE_STEPS:,} steps in all (entries, block calls and"
                    " repeat iterations, over the spec and its variants)",
                    code="E104",
                ),
                loc,
                path,
                scope,
            )

    def assert_shape(self, expect: ShapeAssert | None, idx: int, what: PathLike, scope: _Scope) -> None:
        if expect is None or not self.check_inline:
            return
        got = self.shape_of(idx)
        if got.dims != expect.dims:
            notes: tuple[str, ...] = ()
            node = self.nodes[idx] if idx != INPUT else None
            wins = node.info.get("windows") if node else None
            if wins:
                notes = tuple(w.arithmetic() for w in wins if not w.whole or w.out != w.size)
            raise self.fail(
                ExpectationError(
                    f"`{what or 'input'}` produces {got}, but the spec says => {expect.text}", notes=notes, code="E501"
                ),
                expect.loc,
                what,
                scope,
            )

    def resolve_source(self, arg: Arg, scope: _Scope, path: PathLike, key: str = "from") -> int:
        name = arg.text.strip()
        if name == "input":
            return INPUT
        idx = scope.frame.find(name)
        if idx is None:
            known = scope.frame.all_names()
            raise self.fail(
                UnknownNameError(
                    f"`{key}={name}` names no layer defined before this point{did_you_mean(name, known)}",
                    notes=("a reference can only name an earlier layer in this block or an enclosing one",),
                    code="E205",
                ),
                arg.loc,
                path,
                scope,
            )
        return idx

    # ------------------------------------------------------------------ expansion

    def build(self) -> Graph:
        scope = _Scope(None, self.base_env, _Frame(), (), ())
        try:
            out = self.seq(self.spec.layers, INPUT, scope)
        finally:
            work = self.work
            work.layers += len(self.nodes)
            work.steps += self.steps
            work.expr += METER.used - self.meter_start
        nodes = tuple(self.nodes)
        params = tuple((k, fmt(v)) for k, v in self.base_env.items())
        return Graph(
            self.spec.name,
            self.file,
            self.input,
            nodes,
            out,
            None,
            params,
            self.rounding,
            self.no_bias,
            tuple(self.warnings),
        )

    def seq(self, items: Seq, cur: int, scope: _Scope) -> int:
        if scope.static is None:
            static = self.statics.get(id(items))
            if static is None:
                static = self.statics[id(items)] = _static_counts(items)
            scope.static = static
        for item in items:
            cur = self.item(item, cur, scope)
        return cur

    def item(self, item: Item, cur: int, scope: _Scope) -> int:
        self.steps += 1
        if self.steps > self.step_limit:
            self.step(item.loc, scope.where, scope, 0)
        seg = None
        if item.name is not None:
            if item.name == "input":
                raise self.fail(
                    SpecError("`input` is reserved for the network input; rename the layer", code="E206"),
                    item.loc,
                    item.name,
                    scope,
                )
            seg = scope.named(item.name)
        if item.source is not None and not isinstance(item.body, Join):
            cur = self.resolve_source(item.source, scope, scope.join(seg or "?"))
        body = item.body
        if isinstance(body, OpLine):
            out = self.op_line(item, body, cur, scope, seg)
        else:
            if seg is not None:
                sub = scope.child(seg)
            else:
                base = _STRUCT_BASE.get(type(body), "") or getattr(body, "kind", "")
                sub = scope if isinstance(body, If) else scope.child(scope.segment(base))
            out = self.structural(item, body, cur, sub, scope)
        if item.name is not None:
            prev = scope.frame.names.get(item.name)
            if prev is not None and prev[1] != id(item):
                raise self.fail(
                    SpecError(f"layer name `{item.name}` is used twice in this scope", code="E207"),
                    item.loc,
                    scope.join(seg or item.name),
                    scope,
                )
            scope.frame.names[item.name] = (out, id(item))
        return out

    def structural(self, item: Item, body: Any, cur: int, sub: _Scope, outer: _Scope) -> int:
        if isinstance(body, Join):
            self.lint_branches(item, body, sub)
            inputs = []
            branch_notes = []
            for b, (branch, seg) in enumerate(zip(body.branches, _branch_segments(body))):
                bscope = sub.child(seg) if seg else _Scope(sub.prefix, sub.env, sub.frame, sub.chain, sub.active,
                                                           {}, sub.i, sub.side)  # fmt: skip
                end = self.seq(branch, cur, bscope)
                inputs.append(end)
                branch_notes.append(f"branch {b + 1}: {self.shape_of(end)} (from line {branch[0].loc.line})")
            for src in body.sources:
                end = self.resolve_source(src, sub, sub.where)
                inputs.append(end)
                branch_notes.append(f"from {src.text}: {self.shape_of(end)}")
            notes = (f"input {self.shape_of(cur)}", *branch_notes)
            try:
                out = self.add_node(body.kind, {}, inputs, sub.where, item.loc, outer)
            except ShapeError as exc:
                exc.notes = (
                    notes
                    + tuple(n for n in exc.notes if not n.startswith("input"))
                    + _join_help(body.kind, [self.shape_of(i) for i in inputs])
                )
                raise
            self.assert_shape(body.expect, out, sub.where, outer)
            return out
        if isinstance(body, Repeat):
            n = self.whole(
                self.value(body.count, _Env(sub.env, self.shape_of(cur), sub.i), sub.where, sub),
                body.count,
                "`repeat`",
                sub.where,
                sub,
                0,
            )
            self.check_repeat(n, body.count, sub)
            sub.static = _SEVERAL  # every op in a repeated body occurs several times: always numbered
            start, steps = len(self.nodes), self.steps
            for i in range(n):
                sub.i = i
                cur = self.seq(body.body, cur, sub)
                if i == 0:
                    self.check_budget(n, len(self.nodes) - start, self.steps - steps, body.count, sub)
            self.assert_shape(body.expect, cur, sub.where, outer)
            return cur
        if isinstance(body, If):
            env = _Env(sub.env, self.shape_of(cur), sub.i)
            cond = self.value(body.cond, env, sub.where, sub)
            if not isinstance(cond, (bool, int, Fraction)):
                raise self.fail(
                    ExprError(f"`if:` condition must be true or false, got {fmt(cond)}", code="E303"),
                    body.cond.loc,
                    sub.where,
                    sub,
                )
            out = self.seq(body.then if cond else body.orelse, cur, sub)
            self.assert_shape(body.expect, out, sub.where or "if", outer)
            return out
        if isinstance(body, Side):
            sub.side = True
            start = self.resolve_source(body.source, sub, sub.where) if body.source is not None else cur
            self.seq(body.body, start, sub)
            return cur  # a side head never changes the main chain
        if isinstance(body, Fractal):
            env = _Env(sub.env, self.shape_of(cur), sub.i)
            cols = self.whole(
                self.value(body.columns, env, sub.where, sub), body.columns, "`fractal` columns", sub.where, sub
            )
            if cols > MAX_FRACTAL:
                raise self.fail(
                    SpecError(f"`fractal: {cols}` exceeds the limit of {MAX_FRACTAL} columns", code="E104"),
                    body.columns.loc,
                    sub.where,
                    sub,
                )
            ends = self.fractal(cols, cur, body, sub, sub.prefix, item.loc)
            out = ends[0] if len(ends) == 1 else self.add_node(body.join, {}, ends, sub.join("join"), item.loc, sub)
            self.assert_shape(body.expect, out, sub.where, outer)
            return out
        if isinstance(body, SubSeq):
            out = self.seq(body.body, cur, sub)
            return out
        raise AssertionError(type(body))  # pragma: no cover

    def lint_branches(self, item: Item, body: Join, scope: _Scope) -> None:
        """Warn about the YAML flow-list trap: in `[a, b]` commas separate branches, not layers."""
        if id(item) in self.warned:
            return
        for b, branch in enumerate(body.branches):
            only = branch[0].body if len(branch) == 1 else None
            if isinstance(only, OpLine) and len(only.calls) == 1 and _is_elementwise(only.calls[0].op):
                self.warned.add(id(item))
                warn = Diagnostic(
                    f"branch {b + 1} of `{body.kind}` is only `{only.calls[0].op}`, applied to the join's input;"
                    " in a YAML flow list [a, b] commas separate branches: put a multi-layer branch on one"
                    " `- ` line (`- conv 64 1x1, relu`)",
                    branch[0].loc.with_path(str(scope.where)),
                    code="W101",
                )
                self.warnings.append(warn)
                return

    def fractal(
        self, cols: int, cur: int, body: Fractal, scope: _Scope, prefix: LayerPath | None, loc: Location
    ) -> list[int]:
        """The column outputs of a ``cols``-column fractal block, before its final join.

        f1(z) = unit(z); f(C)(z) = join(f(C-1)(f(C-1)(z)), unit(z)); joins that meet at the
        same depth are merged into one, as in the paper's figure.
        """
        unit = _Scope(
            LayerPath(prefix, f"col{cols}"), scope.env, scope.frame, scope.chain, scope.active, {}, scope.i, scope.side
        )
        if cols == 1:
            return [self.seq(body.body, cur, unit)]
        top = LayerPath(prefix, "top")
        first = self.fractal(cols - 1, cur, body, scope, top, loc)
        mid = first[0] if len(first) == 1 else self.add_node(body.join, {}, first, LayerPath(top, "join"), loc, scope)
        second = self.fractal(cols - 1, mid, body, scope, LayerPath(prefix, "bottom"), loc)
        return second + [self.seq(body.body, cur, unit)]

    def check_repeat(self, n: int, arg: Arg, scope: _Scope) -> None:
        if n > MAX_REPEAT:
            raise self.fail(
                SpecError(f"repeat={n:,} exceeds the limit of {MAX_REPEAT:,}", code="E104"),
                arg.loc,
                scope.where,
                scope,
            )
        self.iterations += n
        if self.iterations > MAX_ITERATIONS:
            raise self.fail(
                SpecError(
                    f"the repeats of this spec run more than {MAX_ITERATIONS:,} iterations in all "
                    "(repeats of repeats multiply)",
                    code="E104",
                ),
                arg.loc,
                scope.where,
                scope,
            )

    def check_budget(self, n: int, per: int, steps: int, arg: Arg, scope: _Scope) -> None:
        """After the first of ``n`` iterations (``per`` layers, ``steps`` steps): stop now if the rest cannot fit."""
        if per and len(self.nodes) + (n - 1) * per > self.layer_limit:
            layers = f"{per:,} layer{'s' * (per != 1)}"
            if self.layer_limit == MAX_NODES:
                message = f"repeating {n:,} times {layers} exceeds the limit of {MAX_NODES:,} layers"
            else:
                message = f"repeating {n:,} times {layers}: {self.too_many_layers()}"
            raise self.fail(SpecError(message, code="E104"), arg.loc, scope.where, scope)
        if self.steps + (n - 1) * steps > self.step_limit:
            self.step(arg.loc, scope.where, scope, (n - 1) * steps)

    def op_line(self, item: Item, line: OpLine, cur: int, scope: _Scope, seg: str | None = None) -> int:
        """An op line; ``seg`` is the path segment of a named line (its name, numbered in a repeated body)."""
        calls = line.calls
        if seg is not None and len(calls) == 1:
            cur = self.call(calls[0], cur, scope, name=seg)
            self.assert_shape(line.expect, cur, scope.join(seg), scope)
            return cur
        sub = scope.child(seg) if seg is not None else scope
        if sub.static is None:
            sub.static = _static_counts((Item(None, line, item.loc),))
        for call in calls:
            cur = self.call(call, cur, sub)
        what: PathLike = scope.join(seg) if seg else self.nodes[cur].ref if cur != INPUT else "input"
        self.assert_shape(line.expect, cur, what, scope)
        return cur

    def call(self, call: Call, cur: int, scope: _Scope, name: str | None = None) -> int:
        """Expand one call (built-in op or block), honouring ``repeat=`` and ``from=``."""
        site = self.sites.get(id(call))
        if site is None:
            site = self.sites[id(call)] = (
                L.lookup(call.op),
                self.blocks.get(call.op),
                call.kwarg("from"),
                call.kwarg("repeat"),
            )
        lt, block, src, rep = site
        if lt is None and block is None:
            raise self.fail(
                UnknownNameError(
                    f"unknown op or block `{call.op}`{L.suggest(call.op, self.blocks)}",
                    notes=(L.OPAQUE_HELP,),
                    code="E201",
                ),
                call.loc,
                scope.join(name) if name else scope.where,
                scope,
            )
        if src is not None:
            cur = self.resolve_source(src, scope, scope.join(name or call.op))
        if rep is None:
            return self.once(call, lt, block, cur, scope, name, scope.i)
        n = self.whole(
            self.value(rep, _Env(scope.env, self.shape_of(cur), scope.i), scope.where, scope),
            rep,
            "`repeat`",
            scope.join(name or call.op),
            scope,
            0,
        )
        self.check_repeat(n, rep, scope)
        sub = scope.child(name) if name is not None else scope
        if name is not None:
            sub.static = _SEVERAL
        start, steps = len(self.nodes), self.steps
        for i in range(n):
            cur = self.once(call, lt, block, cur, sub, None, i)
            if i == 0:
                self.check_budget(n, len(self.nodes) - start, self.steps - steps, rep, scope)
        return cur

    def once(
        self,
        call: Call,
        lt: L.LayerType | None,
        block: BlockDef | None,
        cur: int,
        scope: _Scope,
        name: str | None,
        i: int | None,
    ) -> int:
        base = lt.name if lt is not None else call.op
        path = scope.join(name) if name is not None else scope.join(scope.segment(base))
        self.steps += 1
        if self.steps > self.step_limit:
            self.step(call.loc, path, scope, 0)
        env = _Env(scope.env, self.shape_of(cur), i)
        if block is not None:
            return self.block_call(call, block, cur, scope, path, env, i)
        assert lt is not None
        return self.builtin(call, lt, cur, scope, path, env)

    def builtin(self, call: Call, lt: L.LayerType, cur: int, scope: _Scope, path: PathLike, env: _Env) -> int:
        return self.add_node(lt.name, self.bind_op(call, lt, path, scope, env), [cur], path, call.loc, scope)

    def block_call(
        self, call: Call, block: BlockDef, cur: int, scope: _Scope, path: LayerPath, env: _Env, i: int | None
    ) -> int:
        if block.name in scope.active:
            cycle = " -> ".join((*scope.active[scope.active.index(block.name) :], block.name))
            raise self.fail(
                SpecError(f"block `{block.name}` calls itself ({cycle}); recursion is not allowed", code="E209"),
                call.loc,
                path,
                scope,
            )
        if len(scope.active) >= MAX_BLOCK_DEPTH:
            raise self.fail(
                SpecError(f"blocks nested more than {MAX_BLOCK_DEPTH} deep", code="E104"), call.loc, path, scope
            )
        bound, local = self.bind_block(call, block, path, scope, env, i)
        site = _CallSite(block, call, bound, i)  # formatted only if an error needs it
        sub = _Scope(
            path,
            local,
            _Frame(parent=scope.frame),
            (site, *scope.chain),
            (*scope.active, block.name),
            {},
            None,
            scope.side,
        )
        return self.seq(block.body, cur, sub)


def _join_help(kind: str, shapes: list[Shape]) -> tuple[str, ...]:
    """A concrete fix for a residual join whose branches disagree: the projection that would make them agree."""
    if kind not in ("add", "mean") or len(shapes) != 2 or any(s.is_flat for s in shapes):
        return ()
    small, big = sorted(shapes, key=lambda s: (s.c, -s.h))  # the shortcut is the one with fewer channels
    if small.h % big.h or small.w % big.w or small.h // big.h != small.w // big.w:
        return ()
    stride = small.h // big.h
    conv = f"conv {big.c} 1x1" + (f" stride={stride}" if stride > 1 else "")
    return (
        f"help: the shortcut must map {small} to {big}; use a projection such as `{conv}, bn` "
        "(in a block: `if: stride != 1 or in_c != out`, `then: conv out 1x1 stride=stride, bn`)",
    )


class _CallSite:
    """One block call on the chain that produced a layer; its text is made only when an error shows it."""

    __slots__ = ("block", "call", "bound", "i")

    def __init__(self, block: BlockDef, call: Call, bound: dict[str, Value], i: int | None) -> None:
        self.block, self.call, self.bound, self.i = block, call, bound, i

    def __str__(self) -> str:
        args = " ".join(f"{p}={fmt(v)}" for p, v in self.bound.items())
        rep = f", repeat i={self.i}" if self.i is not None else ""
        return (
            f"in block `{self.block.name}` (defined at {self.block.loc.prefix()}), called at "
            f"{self.call.loc.prefix()} [{args}{rep}]"
        )


class _Several(dict):  # type: ignore[type-arg]
    """Static counts of a repeated scope: every kind occurs several times."""

    def get(self, key: object, default: object = None) -> int:
        return 2


_SEVERAL = _Several()
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_STRUCT_BASE: dict[type, str] = {Repeat: "repeat", Side: "side", Fractal: "fractal", SubSeq: "seq", If: "if"}


def _is_elementwise(op: str) -> bool:
    lt = L.lookup(op)
    return lt is not None and lt.elementwise


def resolve_params(
    spec: ArchitectureSpec,
    variant: str | None = None,
    sets: Mapping[str, str] | None = None,
    work: Work | None = None,
) -> tuple[dict[str, Value], Shape]:
    """Top-level params after the variant and ``--set`` overrides, and the input shape (charged to ``work``)."""
    texts: dict[str, Arg] = dict(spec.params)
    input_dims = spec.input.dims
    if variant is not None:
        v = spec.variant(variant)
        for name, arg in v.params:
            if name not in texts:
                raise UnknownNameError(
                    f"variant `{v.name}` sets `{name}`, which is not in `params:`"
                    f"{did_you_mean(name, [*texts, 'input'])}",
                    arg.where,
                    code="E210",
                )
            texts[name] = arg
        if v.input is not None:
            input_dims = v.input.dims
    for name, text in (sets or {}).items():
        if name not in texts:
            raise UnknownNameError(
                f"--set {name}=...: the spec has no parameter `{name}`{did_you_mean(name, texts)}"
                f"; params: {', '.join(texts) or 'none'}",
                Location(spec.file),
                code="E210",
            )
        texts[name] = Arg(text, Location("--set"))
    env: dict[str, Value] = {}
    shape = Shape(input_dims)
    work = Work() if work is None else work
    builder = Builder.__new__(Builder)  # only for value(): no layers are built
    builder.file = spec.file
    builder.work = work
    start = METER.used
    builder.expr_limit = start + MAX_FILE_EXPR - work.expr
    scope = _Scope(LayerPath(None, "params"), env, _Frame(), (), ())
    try:
        for name, arg in texts.items():
            env[name] = builder.value(arg, _Env(env, shape), f"params.{name}", scope)
    finally:
        work.expr += METER.used - start
    return env, shape


@without_gc
def build_graph(
    spec: ArchitectureSpec,
    variant: str | None = None,
    sets: Mapping[str, str] | None = None,
    input_shape: Shape | None = None,
    no_bias: bool = False,
    work: Work | None = None,
) -> Graph:
    """Expand ``spec`` (with a variant, ``--set`` overrides and an input override) into a :class:`Graph`.

    Inline ``=>`` assertions are checked only for the spec as written (no variant, no
    overrides), since variants and what-ifs legitimately change shapes. ``work`` carries the file's budgets
    across builds (``check`` passes one for the spec and all its variants); by default the build has them to
    itself.
    """
    work = Work() if work is None else work
    env, shape = resolve_params(spec, variant, sets, work)
    if input_shape is not None:
        shape = input_shape
    check_inline = variant is None and not sets and input_shape is None
    graph = Builder(spec, env, shape, no_bias=no_bias, check_inline=check_inline, work=work).build()
    accuracy = dict(spec.accuracy)
    title = None
    if variant is not None:
        v = spec.variant(variant)
        title = v.title
        accuracy.update(v.accuracy)
    return replace(
        graph,
        variant=variant,
        name=title or graph.name,
        own_title=title is not None,
        source=spec.source,
        accuracy=tuple(accuracy.items()),
    )
