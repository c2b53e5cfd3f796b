"""Argument binding: what the values written in a spec mean, apart from how the spec expands.

The expansion stage (:mod:`cnncalc.graph`) walks the spec; whenever it meets an op or a block call it asks this
stage for the arguments: :meth:`Binding.prepare` matches what is written (positional values, keywords, the
spec's ``defaults:``) to the op's arguments once per call site; :meth:`Binding.bind_op` converts each value with
its argument's kind (:mod:`cnncalc.argkinds`) in the current environment; :meth:`Binding.bind_block` binds a
block's parameters. :meth:`Binding.value` and :meth:`Binding.whole` evaluate expressions for both stages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from . import layers as L  # noqa: N812 - the registry
from .argkinds import PAD_WORDS, ArgKind, Derived, is_word, split_dim
from .errors import CnncalcError, ExprError, Location, SpecError, UnknownNameError
from .expr import METER, Dim, Value, evaluate, fmt, quote
from .shapes import Shape
from .spec import Arg, BlockDef, Call, did_you_mean

if TYPE_CHECKING:  # pragma: no cover - typing only (graph.py builds on this module)
    from .graph import PathLike, Work, _Scope

#: The largest size a value may bind to (the expansion's limits, the file budgets among them, are in graph.py).
MAX_SIZE = 2**31 - 1

_MISSING = object()
_LITERAL = re.compile(r"\d+(x\d+)?\Z")


class _Env(Mapping[str, Value]):
    """Names visible to an expression: params and block args, plus in_h/in_w/in_c and i."""

    __slots__ = ("base", "shape", "i")

    def __init__(self, base: dict[str, Value], shape: Shape, i: int | None = None) -> None:
        self.base, self.shape, self.i = base, shape, i

    def __getitem__(self, key: str) -> Value:
        if key == "in_c":
            return self.shape.c
        if key == "in_h":
            return self.shape.h
        if key == "in_w":
            return self.shape.w
        if key == "i" and self.i is not None:
            return self.i
        return self.base[key]

    def __iter__(self) -> Iterator[str]:
        yield from self.base
        yield from ("in_c", "in_h", "in_w")
        if self.i is not None:
            yield "i"

    def __len__(self) -> int:
        return len(self.base) + 3 + (self.i is not None)


class _Mapping(tuple):  # type: ignore[type-arg]
    """A written mapping value ({top: 0, bottom: 1}) as (key, Arg) pairs, told apart from a list of lists."""

    def fmt_text(self) -> str:
        return "{" + ", ".join(f"{k}: {a.text}" for k, a in self) + "}"


class Binding:
    """The binding stage, mixed into the expansion stage's Builder (which provides what is declared here)."""

    base_env: dict[str, Value]
    defaults: dict[str, dict[str, Arg]]
    no_bias: bool
    plans: dict[int, list[tuple[L.ArgSpec, Arg | None]]]
    literals: dict[tuple[ArgKind, str], Any]
    work: Work
    expr_limit: int
    expr_budget: int  # the file's budget of expression work (graph.MAX_FILE_EXPR), for the message
    steps: int
    step_limit: int

    def fail(self, err: CnncalcError, loc: Location, path: PathLike, scope: _Scope) -> CnncalcError:
        raise NotImplementedError  # pragma: no cover - the Builder's

    def step(self, loc: Location, path: PathLike, scope: _Scope, n: int = 1) -> None:
        raise NotImplementedError  # pragma: no cover - the Builder's

    def shape_of(self, idx: int) -> Shape:
        raise NotImplementedError  # pragma: no cover - the Builder's

    def resolve_source(self, arg: Arg, scope: _Scope, path: PathLike, key: str = "from") -> int:
        raise NotImplementedError  # pragma: no cover - the Builder's

    def value(self, arg: Arg, env: Mapping[str, Value], path: PathLike, scope: _Scope) -> Value:
        """Evaluate an argument: a list, ``AxB`` (sides unchecked), a word, or an expression."""
        if arg.items is not None:
            return tuple(self.value(a, env, path, scope) for a in arg.items)
        if arg.mapping is not None:
            return _Mapping(arg.mapping)  # interpreted by the 'pad' kind
        text = arg.text
        if not text:
            raise self.fail(ExprError("empty value", code="E301"), arg.loc, path, scope)
        x = split_dim(text)
        if x is not None:
            a, b = (self.value(Arg(t.strip(), arg.loc), env, path, scope) for t in x)
            return Dim(a, b)  # type: ignore[arg-type]  # sides are checked where the kind is known
        if text in PAD_WORDS and text not in env:
            return text
        try:
            v = evaluate(text, env)
        except ExprError as exc:
            col = getattr(exc, "col", 0)
            hint = getattr(exc, "hint", "")
            suffix = getattr(exc, "suffix", "")
            if hint:
                exc.message += f" in {quote(text)}{did_you_mean(hint, [n for n in env if n != hint])}"
                exc.code = "E302"
            else:
                exc.message += f" in {quote(text)}{suffix}"
            raise self.fail(exc, arg.at(col), path, scope) from None
        if METER.used > self.expr_limit:
            self.work.exhausted = True
            raise self.fail(
                SpecError(
                    f"the expressions of this file take more than {self.expr_budget:,} units of work in all"
                    " (over the spec and its variants; a unit is one step of an expression, more for large numbers)",
                    code="E104",
                ),
                arg.loc,
                path,
                scope,
            )
        return v

    def whole(
        self, v: Value, arg: Arg, what: str, path: PathLike, scope: _Scope, minimum: int = 1, text: str | None = None
    ) -> int:
        """``v`` as a whole number in [minimum, MAX_SIZE], or a located error naming ``what``."""
        if isinstance(v, Fraction) and v.denominator == 1:
            v = v.numerator  # a whole value is whole however it was computed
        text = arg.text if text is None else text
        shown = f" (from {quote(text)})" if text and text != fmt(v) else ""
        if isinstance(v, bool) or not isinstance(v, (int, Fraction)):
            raise self.fail(
                ExprError(f"{what} must be a whole number, got {fmt(v)}{shown}", code="E303"), arg.loc, path, scope
            )
        if isinstance(v, Fraction):
            how = f"{text} = {fmt(v)}" if text and text != fmt(v) else fmt(v)
            raise self.fail(
                ExprError(
                    f"{what} = {how} is not a whole number",
                    notes=("help: write int(...), round(...) or divisible(..., 8) to say how to round",),
                    code="E303",
                ),
                arg.loc,
                path,
                scope,
            )
        if v < minimum:
            raise self.fail(
                ExprError(f"{what} must be at least {minimum}, got {v}{shown}", code="E304"), arg.loc, path, scope
            )
        if v > MAX_SIZE:
            raise self.fail(
                ExprError(f"{what} = {v:,} exceeds the limit of {MAX_SIZE:,}", code="E304"), arg.loc, path, scope
            )
        return v

    def prepare(self, call: Call, lt: L.LayerType, path: PathLike, scope: _Scope) -> list[tuple[L.ArgSpec, Arg | None]]:
        """Which written value (or default) feeds each argument of ``lt``: checked once per call site."""
        given: dict[str, Arg] = {}
        pos = lt.positional
        if len(call.args) > len(pos):
            sig = " ".join(a.name.upper() for a in pos)
            raise self.fail(
                SpecError(
                    f"`{lt.name}` takes {len(pos)} positional value{'s' * (len(pos) != 1)} ({lt.name} {sig}".rstrip()
                    + f"), got {len(call.args)}",
                    code="E208",
                ),
                call.args[len(pos)].loc,
                path,
                scope,
            )
        for spec, positional in zip(pos, call.args):
            given[spec.name] = positional
        for key, arg in call.kwargs:
            if key in ("repeat", "from"):
                continue
            key = L.keyword(lt, key)
            if lt.arg(key) is None:
                names = [a.name for a in lt.args]
                raise self.fail(
                    UnknownNameError(
                        f"`{lt.name}` has no keyword `{key}`{did_you_mean(key, names)}"
                        f"; it takes {', '.join(names) or 'no keywords'}",
                        code="E203",
                    ),
                    arg.where,
                    path,
                    scope,
                )
            if key in given:
                raise self.fail(SpecError(f"`{key}` given twice", code="E202"), arg.where, path, scope)
            given[key] = arg
        defaults = self.defaults.get(lt.name, {})
        plan: list[tuple[L.ArgSpec, Arg | None]] = []
        for spec in lt.args:
            source: Arg | None = given.get(spec.name) or defaults.get(spec.name)
            if source is None and spec.default is None and not spec.optional:
                raise self.fail(
                    SpecError(f"`{lt.name}` needs `{spec.name}` ({spec.doc or spec.kind})", code="E208"),
                    call.loc,
                    path,
                    scope,
                )
            plan.append((spec, source))
        return plan

    def bind_op(self, call: Call, lt: L.LayerType, path: PathLike, scope: _Scope, env: _Env) -> dict[str, Any]:
        """The op's attributes: every written value converted by its argument's kind, defaults (derived ones
        last), ``--no-bias`` applied."""
        plan = self.plans.get(id(call))
        if plan is None:
            plan = self.plans[id(call)] = self.prepare(call, lt, path, scope)
        attrs: dict[str, Any] = {}
        literals = self.literals
        binder: _Binder | None = None
        derived: list[L.ArgSpec] = []
        for spec, arg in plan:
            if arg is None:
                if isinstance(spec.default, Derived):
                    derived.append(spec)
                attrs[spec.name] = spec.default
                continue
            kind = spec.kind
            key = (kind, arg.text)
            value = literals.get(key, _MISSING) if kind.cacheable else _MISSING
            if value is _MISSING:
                if binder is None:
                    binder = _Binder(self, env, path, scope)
                value = kind.convert(binder, arg, f"`{spec.name}`")
                if kind.cacheable and _LITERAL.match(arg.text):  # a number written out does not depend on the env
                    literals[key] = value
            attrs[spec.name] = value
        for spec in derived:
            attrs[spec.name] = spec.default.rule(attrs)
        if self.no_bias and "bias" in attrs:
            attrs["bias"] = False
        return attrs

    def bind_block(
        self, call: Call, block: BlockDef, path: PathLike, scope: _Scope, env: _Env, i: int | None
    ) -> tuple[dict[str, Value], dict[str, Value]]:
        """A block call's arguments bound to its parameters (defaults evaluated in order, each seeing the ones
        before it): the bound values and the block body's whole environment."""
        names = [p for p, _ in block.params]
        if len(call.args) > len(names):
            raise self.fail(
                SpecError(
                    f"block `{block.signature()}` takes {len(names)} positional argument"
                    f"{'s' * (len(names) != 1)}; got {len(call.args)}",
                    code="E208",
                ),
                call.loc,
                path,
                scope,
            )
        bound: dict[str, Value] = {}
        for pname, arg in zip(names, call.args):
            bound[pname] = self.value(arg, env, path, scope)
        for key, arg in call.kwargs:
            if key in ("repeat", "from"):
                continue
            if key not in names:
                raise self.fail(
                    UnknownNameError(
                        f"block `{block.signature()}` has no parameter `{key}`{did_you_mean(key, names)}", code="E203"
                    ),
                    arg.where,
                    path,
                    scope,
                )
            if key in bound:
                raise self.fail(SpecError(f"parameter `{key}` given twice", code="E202"), arg.where, path, scope)
            bound[key] = self.value(arg, env, path, scope)
        local: dict[str, Value] = {**self.base_env, **bound}  # copied once per call: the copy is charged as steps
        self.steps += len(local) // 32
        if self.steps > self.step_limit:
            self.step(call.loc, path, scope, 0)
        for pname, default in block.params:
            if pname not in bound:
                if default is None:
                    raise self.fail(
                        SpecError(f"block `{block.signature()}` needs `{pname}`", code="E208"), call.loc, path, scope
                    )
                bound[pname] = local[pname] = self.value(default, _Env(local, env.shape, i), path, scope)
        return bound, local


class _Binder:
    """The expansion stage's side of argument conversion (:class:`cnncalc.argkinds.Binder`) for one call."""

    __slots__ = ("builder", "env", "path", "scope")

    def __init__(self, builder: Binding, env: _Env, path: PathLike, scope: _Scope) -> None:
        self.builder, self.env, self.path, self.scope = builder, env, path, scope

    def value(self, arg: Arg) -> Value:
        return self.builder.value(arg, self.env, self.path, self.scope)

    def whole(self, v: Value, arg: Arg, what: str, minimum: int = 1, text: str | None = None) -> int:
        return self.builder.whole(v, arg, what, self.path, self.scope, minimum, text)

    def fail(self, err: CnncalcError, loc: Location) -> CnncalcError:
        return self.builder.fail(err, loc, self.path, self.scope)

    def word(self, arg: Arg) -> str | None:
        text = arg.text
        return text if is_word(text) and text not in self.env else None

    def layer_shape(self, arg: Arg) -> Shape:
        return self.builder.shape_of(self.builder.resolve_source(arg, self.scope, self.path, key="to"))

    def mapping(self, v: Value) -> Mapping[str, Arg] | None:
        return dict(v) if isinstance(v, _Mapping) else None
