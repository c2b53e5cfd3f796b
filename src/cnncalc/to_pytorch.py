"""``cnncalc export --to pytorch``: one spec configuration as a self-contained, readable PyTorch module.

The module follows the spec's layer paths. Every path prefix that holds layers (a named layer line, a block
call, a join and its branches, a repeat) is a submodule named after its path segment (``conv#1`` becomes
``conv_1``); a prefix whose layers form a chain is an ``nn.Sequential`` of them, any other one (joins, skip
connections, several outputs) a class with an explicit ``forward``. Prefixes built alike (the blocks of a stage,
the same block in several stages) share one class, and the values that differ between them (channels, strides)
become its constructor's arguments, named after the PyTorch parameters they feed. Joins and identity need no
module: they are expressions in ``forward`` (``self.b1(x) + x``, ``torch.cat([...], dim=1)``).

How each op becomes code is its registry entry's ``torch`` field (:mod:`cnncalc.torchcode`); this module knows no
op by name. An op without one, or a layer its entry cannot write, stops the export with a located error; an
``opaque`` layer becomes a marked placeholder module that raises until written.

Shapes that the spec derives from the input (``upsample to=LAYER``, ``crop to=LAYER``, asymmetric ``same``
padding) are written as the numbers of this configuration: export again for another ``--input``.
The result also says, for every layer, where ``cnncalc verify`` finds its output in the running module.
"""

from __future__ import annotations

import keyword
import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import layers as L  # noqa: N812 - the registry
from .analysis import LayerResult, Report
from .errors import CnncalcError
from .spec import ArchitectureSpec
from .torchcode import REQUIRED, TorchArg, TorchCode

INPUT = -1  # the value index of the network's input


class ExportError(CnncalcError):
    """A spec cannot be written as PyTorch code (an op without PyTorch code), or verified (a placeholder)."""

    code = "E700"


class Observation(NamedTuple):
    """Where a layer's output shows in the running module: the output (``out``) or an input (``in``) of the
    submodule ``module`` (``""``: the model), at ``position`` (0 for a single tensor)."""

    module: str
    where: str
    position: int


class Owner(NamedTuple):
    """What holds a layer's parameters: its own submodule (``module``), the class of its join (``box``: what
    the class holds beyond its children), or nothing (``inline``: an expression in ``forward``)."""

    kind: str
    module: str


@dataclass(frozen=True)
class Export:
    """The generated source and how to find each layer in the module it defines."""

    source: str
    model_class: str
    observe: tuple[Observation | None, ...]  # per layer of the report
    owners: tuple[Owner, ...]  # per layer of the report
    modules: tuple[str, ...]  # per layer: its submodule's name in the model ("" for an expression)
    placeholders: tuple[int, ...]  # layers whose module is a placeholder (opaque)
    outputs: tuple[int, ...]  # the values the model returns, in order (layer indices; -1: the input)


# --------------------------------------------------------------------------- module code as data


@dataclass(eq=False)
class _Hole:
    """One argument value of a constructor: a literal, or a class argument when it differs between instances."""

    slot: str  # the constructor's parameter name
    value: Any
    keyword: bool
    default: Any
    owner: str  # the attribute it belongs to, for naming a class argument when slots clash


@dataclass(eq=False)
class _Call:
    func: str
    args: list[_Hole | _Call]  # a nested constructor is an argument of its own (nn.Sequential(pad, conv))
    slots: list[str]
    keywords: list[bool]
    placeholder: bool = False


@dataclass(eq=False)
class _Seq:
    items: list[tuple[str, Any]]  # (attribute, code)


@dataclass(eq=False)
class _New:
    cls: _Class
    args: list[_Hole]


def _call(tc: TorchCode, owner: str) -> _Call:
    args: list[_Hole | _Call] = []
    for a in tc.args:
        args.append(_call(a.value, owner) if isinstance(a.value, TorchCode) else _hole(a, owner))
    return _Call(tc.module, args, [a.name for a in tc.args], [a.keyword for a in tc.args], tc.placeholder)


def _hole(a: TorchArg, owner: str) -> _Hole:
    return _Hole(a.name, a.value, a.keyword, a.default, owner)


def _holes(code: Any, out: list[_Hole]) -> list[_Hole]:
    """The holes of ``code`` in writing order."""
    if isinstance(code, _Hole):
        out.append(code)
    elif isinstance(code, _Call):
        for a in code.args:
            _holes(a, out)
    elif isinstance(code, _Seq):
        for _, c in code.items:
            _holes(c, out)
    elif isinstance(code, _New):
        out.extend(code.args)
    return out


def _key(code: Any) -> str:
    """The structure of ``code`` without its values: codes with equal keys differ only in their holes."""
    if isinstance(code, _Hole):
        return f"<{code.slot}{'=' if code.keyword else ''}{'' if code.default is REQUIRED else repr(code.default)}>"
    if isinstance(code, _Call):
        return f"{code.func}({','.join(_key(a) for a in code.args)})"
    if isinstance(code, _Seq):
        return "Seq(" + ",".join(f"{n}:{_key(c)}" for n, c in code.items) + ")"
    assert isinstance(code, _New)
    return f"{code.cls.name}({len(code.args)})"


def literal(v: Any) -> str:
    """A value as Python source."""
    if isinstance(v, bool) or v is None:
        return repr(v)
    if isinstance(v, float):
        return repr(v) if v == v and abs(v) != float("inf") else f'float("{v}")'
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, tuple):
        inner = ", ".join(literal(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    return repr(v)


def _type(values: Sequence[Any]) -> str:
    """The annotation of a class argument taking ``values``."""
    kinds: list[str] = []
    for v in values:
        if isinstance(v, bool):
            k = "bool"
        elif isinstance(v, int):
            k = "int"
        elif isinstance(v, float):
            k = "float"
        elif isinstance(v, str):
            k = "str"
        elif isinstance(v, tuple) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            k = "tuple[int, int]" if len(v) == 2 else "tuple[int, ...]"
        elif isinstance(v, tuple):
            k = "tuple[tuple[int, ...], ...]" if all(isinstance(x, tuple) for x in v) else "tuple[object, ...]"
        else:
            k = "object"
        if k not in kinds:
            kinds.append(k)
    if kinds == ["int", "float"] or kinds == ["float", "int"]:
        return "float"
    return " | ".join(kinds)


Binding = Callable[[_Hole], "str | None"]  # a hole's class argument, or None: write its value


def _render(code: Any, bind: Binding, indent: str, lead: int = 0) -> str:
    """``code`` as source at ``indent``, after ``lead`` characters on its first line."""
    if isinstance(code, _Call):
        parts = []
        for a, kwd, slot in zip(code.args, code.keywords, code.slots):
            if isinstance(a, _Call):
                text = _render(a, bind, indent + "    ", len(slot) + 1 if kwd else 0)
            else:
                name = bind(a)
                if name is None and kwd and a.default is not REQUIRED and _same(a.value, a.default):
                    continue
                text = name if name is not None else literal(a.value)
                if len(text) > 80 and isinstance(a.value, tuple):  # a long table: one row per line
                    rows = "".join(f"{indent}        {literal(v)},\n" for v in a.value)
                    text = f"(\n{rows}{indent}    )"
            parts.append(f"{slot}={text}" if kwd else text)
        return _wrap_call(code.func, parts, indent, lead)
    if isinstance(code, _Seq):
        inner = indent + "    "
        lines = [f'{inner}("{name}", {_render(c, bind, inner, len(name) + 5)}),' for name, c in code.items]
        return "nn.Sequential(OrderedDict([\n" + "\n".join(lines) + f"\n{indent}]))"
    assert isinstance(code, _New)
    args = []
    for (pname, _), h in zip(code.cls.params, code.args):
        name = bind(h)
        args.append(f"{pname}={name if name is not None else literal(h.value)}")
    return _wrap_call(code.cls.name, args, indent, lead)


#: A call longer than this (with its indentation) is written one argument per line.
_LINE = 116


def _wrap_call(func: str, parts: list[str], indent: str, lead: int) -> str:
    one = f"{func}({', '.join(parts)})"
    if len(indent) + lead + len(one) + 2 <= _LINE or not parts:
        return one
    inner = indent + "    "
    return f"{func}(\n" + "".join(f"{inner}{p},\n" for p in parts) + f"{indent})"


def _same(a: Any, b: Any) -> bool:
    return bool(a == b) and isinstance(a, bool) == isinstance(b, bool)


def _literal_binding(h: _Hole) -> str | None:
    return None


# --------------------------------------------------------------------------- the tree of layer paths


@dataclass(eq=False)
class _Box:
    """A path prefix holding layers: its children (boxes and layer indices) in evaluation order."""

    segs: tuple[str, ...]
    parent: _Box | None
    children: list[_Box | int] = field(default_factory=list)
    by_seg: dict[str, _Box] = field(default_factory=dict)
    own: int | None = None  # a join whose path is this prefix: its branches are the children
    attr: str = ""  # the attribute name in the parent
    names: dict[int, str] = field(default_factory=dict)  # id(child) -> attribute name
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    nodes: list[int] = field(default_factory=list)  # every layer inside, in order
    code: Any = None  # how the parent constructs it (None: no module, an expression)
    collapsed: bool = False  # the box is its only child's module
    kind: str = ""  # "seq", "class" or "root"
    key: str = ""
    forward: list[str] = field(default_factory=list)
    signature: str = ""
    steps: list[Any] = field(default_factory=list)  # children (flattened), then the own join
    items: list[tuple[str, Any]] = field(default_factory=list)  # (attribute, code) of its modules
    inline_only: bool = False


_MODULE_ATTRS = frozenset(
    """forward training train eval parameters modules children buffers apply cuda cpu to type float double half
    bfloat16 state_dict load_state_dict zero_grad register_buffer register_parameter add_module register_module
    named_modules named_parameters named_buffers named_children requires_grad_ extra_repr get_submodule
    get_parameter get_buffer share_memory ipu xpu mtia compile dump_patches call_super_init append extend insert
    pop to_empty register_forward_hook register_forward_pre_hook register_backward_hook
    register_full_backward_hook set_extra_state get_extra_state""".split()
)
_RESERVED_VARS = frozenset({"self", "torch", "nn", "Tensor", "OrderedDict"})


def _identifier(seg: str) -> str:
    name = re.sub(r"\W", "_", seg.replace("#", "_"))
    if not name or name[0].isdigit():
        name = "layer_" + name
    if keyword.iskeyword(name) or name in _MODULE_ATTRS or name in _RESERVED_VARS:
        name += "_"
    return name


def _unique(name: str, taken: set[str], sep: str = "_") -> str:
    out, k = name, 2
    while out in taken:
        out, k = f"{name}{sep}{k}", k + 1
    taken.add(out)
    return out


def _camel(text: str) -> str:
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", text) if p]
    name = "".join(p[0].upper() + p[1:] for p in parts)
    if not name or name[0].isdigit():
        name = "Net" + name
    return name


class _Builder:
    def __init__(self, report: Report, spec: ArchitectureSpec | None = None) -> None:
        self.report = report
        self.layers = report.layers
        self.codes: list[TorchCode] = []
        self.alias: dict[int, int] = {}  # an identity (an expression that is its input) -> the value it passes on
        self.src: list[list[int]] = []  # each layer's inputs, identities looked through
        self.readers: list[list[int]] = []
        self.outputs: list[int] = []
        self.helpers: dict[str, None] = {}
        self.classes: list[_Class] = []
        self.class_names: set[str] = set()
        self.uses_seq = False
        self.block_calls, self.blocks = _block_calls(report.file, spec)

    # ---------------------------------------------------------------- codes from the registry

    def collect_codes(self) -> None:
        missing: list[tuple[LayerResult, str]] = []
        for r in self.layers:
            lt = L.LAYER_TYPES[r.op]
            code: TorchCode | str = (
                f"`{r.op}` has no PyTorch code in cnncalc's registry"
                if lt.torch is None
                else lt.torch(r.attrs, list(r.inputs), r.output, r.info)
            )
            if isinstance(code, str):
                missing.append((r, code))
                code = TorchCode()
            self.codes.append(code)
        if missing:
            first, why = missing[0]
            others = tuple(f"also {r.path} (`{r.op}`): {w}" for r, w in missing[1:6])
            more = (f"and {len(missing) - 6} more",) if len(missing) > 6 else ()
            raise ExportError(
                f"cannot export to PyTorch: {why}" + (f" ({len(missing)} layers)" if len(missing) > 1 else ""),
                first.loc.with_path(first.path),
                (*others, *more),
            )

    def inline(self, i: int) -> bool:
        return self.codes[i].inline is not None

    def resolve(self, v: int) -> int:
        return self.alias.get(v, v)

    def look_through(self) -> None:
        """Identities (an ``if`` branch that adds nothing, a residual's shortcut) are no code of their own: their
        readers read their input. Then who reads what, and the values the model returns."""
        for i, r in enumerate(self.layers):
            inline = self.codes[i].inline
            if inline is not None and len(r.sources) == 1 and inline(["\0"]) == "\0":
                self.alias[i] = self.resolve(r.sources[0])
        self.src = [[self.resolve(v) for v in r.sources] for r in self.layers]
        self.readers = [[] for _ in self.layers]
        for j in range(len(self.layers)):
            if j not in self.alias:
                for v in dict.fromkeys(self.src[j]):
                    if v != INPUT:
                        self.readers[v].append(j)
        read = {v for r in self.layers for v in r.sources}
        last = self.report.output_index
        unread = [self.resolve(i) for i in range(len(self.layers)) if i != last and i not in read]
        self.outputs = list(dict.fromkeys([self.resolve(last), *unread]))

    # ---------------------------------------------------------------- the tree

    def tree(self) -> _Box:
        root = _Box((), None)
        leaf_paths: dict[tuple[str, ...], int] = {}
        for i, r in enumerate(self.layers):
            if i in self.alias:
                continue
            segs = tuple(r.path.split("."))
            box = root
            for k in range(len(segs) - 1):
                nxt = box.by_seg.get(segs[k])
                if nxt is None:
                    if segs[: k + 1] in leaf_paths:
                        raise AssertionError(f"layer {'.'.join(segs[: k + 1])} is also a prefix of {r.path}")
                    nxt = _Box(segs[: k + 1], box)
                    box.by_seg[segs[k]] = nxt
                    box.children.append(nxt)
                box = nxt
            existing = box.by_seg.get(segs[-1])
            if existing is not None:  # a join after its branches
                if existing.own is not None or self.codes[i].inline is None:
                    raise AssertionError(f"layer {r.path} has the path of a group of layers")
                existing.own = i
            else:
                leaf_paths[segs] = i
                box.children.append(i)
        self.index(root)
        self.dissolve(root)
        self.name(root)
        self.flow(root)
        return root

    def index(self, box: _Box) -> list[int]:
        nodes: list[int] = []
        for c in box.children:
            nodes.extend(self.index(c) if isinstance(c, _Box) else [c])
        if box.own is not None:
            nodes.append(box.own)
        nodes.sort()
        box.nodes = nodes
        box.inline_only = all(self.inline(i) for i in nodes)
        return nodes

    def dissolve(self, box: _Box) -> None:
        """Boxes with no module inside (an identity branch) become expressions of their parent."""
        steps: list[Any] = []
        for c in box.children:
            if isinstance(c, _Box):
                self.dissolve(c)
                if c.inline_only:
                    steps.extend(c.steps)
                    continue
            steps.append(c)
        if box.own is not None:
            steps.append(box.own)
        box.steps = steps

    def name(self, box: _Box) -> None:
        taken: set[str] = set()
        for c in box.steps:
            if isinstance(c, _Box):
                c.attr = _unique(_identifier(c.segs[-1]), taken)
                box.names[id(c)] = c.attr
                self.name(c)
            elif c != box.own and not self.inline(c):
                box.names[c] = _unique(_identifier(self.layers[c].path.rsplit(".", 1)[-1]), taken)

    def flow(self, box: _Box) -> None:
        inside = set(box.nodes)
        ins: set[int] = set()
        outs: set[int] = set()
        for j in box.nodes:
            ins.update(v for v in self.src[j] if v not in inside)
            readers = self.readers[j]
            if any(k not in inside for k in readers) or j in self.outputs:
                outs.add(j)
        box.inputs = sorted(ins, reverse=True)
        box.outputs = sorted(outs, reverse=True)
        if box.parent is None:
            box.inputs = [INPUT]
            box.outputs = list(self.outputs)
        for c in box.steps:
            if isinstance(c, _Box):
                self.flow(c)

    # ---------------------------------------------------------------- step facts

    def step_inputs(self, step: Any) -> list[int]:
        if isinstance(step, _Box):
            return step.inputs
        return list(dict.fromkeys(self.src[step]))

    def step_outputs(self, step: Any) -> list[int]:
        return step.outputs if isinstance(step, _Box) else [step]

    def is_chain(self, box: _Box) -> bool:
        if box.parent is None or box.own is not None or len(box.inputs) != 1 or len(box.outputs) != 1:
            return False
        prev = box.inputs[0]
        for k, step in enumerate(box.steps):
            if not isinstance(step, _Box) and self.inline(step):
                return False
            ins, outs = self.step_inputs(step), self.step_outputs(step)
            if ins != [prev] or len(outs) != 1:
                return False
            if isinstance(step, int) and len(self.src[step]) != 1:
                return False
            prev = outs[0]
            if k < len(box.steps) - 1:
                following = box.steps[k + 1]
                inside = set(following.nodes) if isinstance(following, _Box) else {following}
                if prev in box.outputs or not set(self.readers[prev]) <= inside:
                    return False
        return prev == box.outputs[0]

    # ---------------------------------------------------------------- forward code

    def forward_code(self, box: _Box, generic: bool = False) -> tuple[str, list[str]]:
        """The signature and lines of ``forward`` for a class box: values named, single-use ones written inline in
        joins. ``generic`` names the inputs after the first ``skip`` (or ``x2``, ``x3``...) rather than after the
        layers they come from, for a class shared by boxes that read different layers."""
        steps = box.steps
        uses: dict[int, list[int]] = {}
        for k, step in enumerate(steps):
            for v in self.step_inputs(step) if not isinstance(step, int) else self.src[step]:
                uses.setdefault(v, []).append(k)
        end = len(steps)
        for v in box.outputs:
            uses.setdefault(v, []).append(end)
        names: dict[int, str] = {}
        refs: dict[int, set[str]] = {}  # variables an inline expression reads
        atomic: dict[int, bool] = {}
        taken = set(_RESERVED_VARS) | {"x"}
        params = []
        for n, v in enumerate(box.inputs):
            if n == 0:
                names[v] = "x"
            else:
                generic_name = "skip" if len(box.inputs) == 2 else f"x{n + 1}"
                names[v] = _unique(generic_name if generic else self.value_name(v, box), taken)
            refs[v] = {names[v]}
            atomic[v] = True
            params.append(f"{names[v]}: Tensor")
        holder: dict[str, int] = {"x": box.inputs[0]}
        pending: set[int] = set()
        lines: list[str] = []

        def expr(v: int, inside_inline: bool) -> str:
            pending.discard(v)
            text = names[v]
            if inside_inline and not atomic.get(v, True):
                return f"({text})"
            return text

        def last_use(v: int) -> int:
            return max(uses.get(v, [-1]))

        for k, step in enumerate(steps):
            alias = False
            if isinstance(step, _Box):
                args = [expr(v, False) for v in step.inputs]
                call = f"self.{step.attr}({', '.join(args)})"
                outs = step.outputs
                is_inline = False
            elif self.inline(step):
                srcs = self.src[step]
                call = self.codes[step].inline([expr(v, True) for v in srcs])
                outs = [step]
                is_inline = True
                alias = self.codes[step].inline(["\0"]) == "\0"
            else:
                srcs = self.src[step]
                call = f"self.{box.names[step]}({', '.join(expr(v, False) for v in srcs)})"
                outs = [step]
                is_inline = False
            read = {nm for v in self.step_inputs(step) if v in refs for nm in refs[v]}
            if len(outs) == 1:
                v = outs[0]
                consumers = uses.get(v, [])
                consumer_steps = [c for c in consumers if c < end]
                single = len(consumers) == 1
                into_inline = single and consumer_steps and self.step_is_inline(steps[consumer_steps[0]])
                if into_inline or (is_inline and alias and single):
                    names[v] = call
                    refs[v] = read
                    atomic[v] = not is_inline or alias or _is_atomic(call)
                    pending.add(v)
                    continue
            targets = []
            for v in outs:
                consumers = uses.get(v, [])
                nxt = consumers == [k + 1] or consumers == [end] and k == end - 1
                free = last_use(holder["x"]) <= k and not any("x" in refs[p] for p in pending if p in refs)
                if nxt and free and (len(outs) == 1 or v == outs[0]):
                    name = "x"
                else:
                    base = box.names.get(id(step), "") if isinstance(step, _Box) else box.names.get(step, "")
                    if isinstance(step, _Box) and len(outs) > 1 and v != step.own:
                        base = self.value_name(v, step)
                    if not base:
                        base = _identifier(self.layers[v].path.rsplit(".", 1)[-1])
                    name = _unique(base, taken)
                names[v] = name
                refs[v] = {name}
                atomic[v] = True
                targets.append(name)
                if name == "x":
                    holder["x"] = v
            lines.append(f"{', '.join(targets)} = {call}")
        ret = ", ".join(expr(v, False) for v in box.outputs)
        if lines and lines[-1].startswith("x = ") and ret == "x":
            last = lines.pop()
            ret = last[4:]
        lines.append(f"return {ret}")
        rtype = "Tensor" if len(box.outputs) == 1 else f"tuple[{', '.join(['Tensor'] * len(box.outputs))}]"
        return f"def forward(self, {', '.join(params)}) -> {rtype}:", lines

    def step_is_inline(self, step: Any) -> bool:
        return not isinstance(step, _Box) and self.inline(step)

    def value_name(self, v: int, box: _Box) -> str:
        """A variable name for value ``v`` as seen from ``box``: its path segment where it leaves the box's path."""
        if v == INPUT:
            return "x_in"
        segs = self.layers[v].path.split(".")
        k = 0
        while k < len(box.segs) and k < len(segs) - 1 and segs[k] == box.segs[k]:
            k += 1
        return _identifier(segs[k])

    # ---------------------------------------------------------------- codes and classes, bottom up

    def child_codes(self, box: _Box) -> list[tuple[str, Any]]:
        out = []
        for step in box.steps:
            if isinstance(step, _Box):
                if isinstance(step.code, _New):
                    for h in step.code.args:
                        h.owner = step.attr
                out.append((step.attr, step.code))
            elif step != box.own and not self.inline(step):
                name = box.names[step]
                tc = self.codes[step]
                self.helpers.update(dict.fromkeys(_all_helpers(tc)))
                out.append((name, _call(tc, name)))
        return out

    def build(self, root: _Box) -> None:
        levels: dict[int, list[_Box]] = {}

        def height(box: _Box) -> int:
            h = 0
            for s in box.steps:
                if isinstance(s, _Box):
                    h = max(h, height(s) + 1)
            levels.setdefault(h, []).append(box)
            return h

        height(root)
        for h in sorted(levels):
            groups: dict[str, list[_Box]] = {}
            for box in levels[h]:
                if box.parent is None:
                    continue
                items = box.items = self.child_codes(box)
                if self.is_chain(box):
                    if len(items) == 1:
                        box.collapsed = True
                        box.code = items[0][1]
                        continue
                    box.kind = "seq"
                    box.code = _Seq(items)
                    box.key = "seq|" + _key(box.code)
                else:
                    box.kind = "class"
                    box.signature, box.forward = self.forward_code(box)
                    generic = self.forward_code(box, generic=True)
                    box.code = _Seq(items)  # the children; replaced by the class instance below
                    box.key = "class|" + generic[0] + "\n".join(generic[1]) + "|" + _key(box.code)
                groups.setdefault(box.key, []).append(box)
            for boxes in groups.values():
                if boxes[0].kind == "seq" and len(boxes) == 1:
                    self.uses_seq = True
                    continue
                self.make_class(boxes)

    def make_class(self, boxes: list[_Box]) -> None:
        first = boxes[0]
        if first.kind == "class" and any(b.forward != first.forward for b in boxes):
            first.signature, first.forward = self.forward_code(first, generic=True)
        per_box = [_holes(b.code, []) for b in boxes]
        n = len(per_box[0])
        params: list[tuple[str, str]] = []
        bind: dict[int, str] = {}  # hole position -> argument name
        by_values: dict[tuple[str, ...], str] = {}
        taken: set[str] = {"self"}
        for p in range(n):
            values = [hs[p].value for hs in per_box]
            h = per_box[0][p]
            sig = (_CHANNELS if h.slot in _CHANNEL_SLOTS else h.slot, *(literal(v) for v in values))
            if len(set(sig[1:])) == 1:
                continue
            if sig in by_values:
                bind[p] = by_values[sig]
                continue
            name = h.slot if h.slot not in taken or not h.owner else f"{h.owner}_{h.slot}"
            name = _unique(_identifier(name), taken)
            by_values[sig] = name
            bind[p] = name
            params.append((name, _type(values)))
        cls = _Class(self.class_name(boxes), first, params, [".".join(b.segs) for b in boxes], bind)
        self.classes.append(cls)
        if first.kind == "seq" or any(isinstance(c, _Seq) for _, c in first.items):
            self.uses_seq = True
        for b, hs in zip(boxes, per_box):
            args = []
            for pname, _ in params:
                p = next(q for q, nm in bind.items() if nm == pname)
                args.append(_Hole(pname, hs[p].value, True, REQUIRED, ""))
            b.code = _New(cls, args)

    def block_of(self, base: str) -> str | None:
        """The block a path segment calls: a named call's block, or the segment of an unnamed call."""
        if base in self.block_calls:
            return self.block_calls[base]
        return base if base in self.blocks else None

    def class_name(self, boxes: list[_Box]) -> str:
        """After the spec: the block a box calls (``enc1: double_conv 64`` is DoubleConv, ``basic#1`` Basic); a
        join or a branch after the block holding it (``basic#1.add`` BasicAdd, ``basic#1.add.b2`` BasicBranch2;
        a join that is its block's whole body takes the block's name); else the layer name (``cat1``..``cat4``:
        Cat)."""

        def base(seg: str) -> str:
            return seg.split("#")[0]

        def generic(seg: str) -> bool:
            return L.lookup(base(seg)) is not None or bool(_GENERIC.fullmatch(base(seg)))

        def named(box: _Box) -> str:
            return self.block_of(base(box.segs[-1])) or base(box.segs[-1])

        box = boxes[0]
        last = {b.segs[-1] for b in boxes}
        if all(generic(seg) for seg in last):
            owner = box.parent
            whole = len(box.parent.steps) == 1 if box.parent is not None else False
            while owner is not None and owner.segs and generic(owner.segs[-1]):
                whole = whole and owner.parent is not None and len(owner.parent.steps) == 1
                owner = owner.parent
            prefix = named(owner) if owner is not None and owner.segs else ""
            branches = {re.fullmatch(r"b(\d+)", base(seg)) for seg in last}
            kinds = {base(seg) for seg in last}
            if whole and prefix:
                name = prefix
            elif all(m is not None for m in branches):
                numbers = {m.group(1) for m in branches if m is not None}
                name = f"{prefix}_branch" + (numbers.pop() if len(numbers) == 1 else "")
            else:
                name = f"{prefix}_{kinds.pop() if len(kinds) == 1 else 'block'}"
        else:
            called = {self.block_of(base(b.segs[-1])) for b in boxes}
            stripped = {re.sub(r"[#_]?\d+$", "", seg) for seg in last}
            if len(called) == 1 and None not in called:
                name = str(called.pop())
            elif len(last) > 1 and len(stripped) == 1 and stripped != {""}:
                name = stripped.pop()
            else:
                name = named(box)
        return _unique(_camel(name), self.class_names, "")


#: PyTorch's names of a layer's channel counts: equal counts of these share one class argument.
_CHANNEL_SLOTS = frozenset(
    "in_channels out_channels channels num_features num_channels in_features out_features normalized_shape".split()
)
_CHANNELS = "<channels>"


def _block_calls(file: str, spec: ArchitectureSpec | None) -> tuple[dict[str, str | None], set[str]]:
    """Layer names that name one call of a block in the spec (``enc1: double_conv 64``): name -> block (None
    when the name calls different blocks, or repeats one). Empty when the file cannot be read again."""
    from .spec import load_spec

    if spec is None:
        try:
            spec = load_spec(file)
        except (CnncalcError, OSError):
            return {}, set()
    blocks = {b.name for b in spec.blocks}
    out: dict[str, str | None] = {}

    def visit(seq: Any) -> None:
        for item in seq:
            body = item.body
            calls = getattr(body, "calls", None)
            if item.name is not None and calls is not None and len(calls) == 1 and calls[0].op in blocks:
                block = calls[0].op if calls[0].kwarg("repeat") is None else None
                out[item.name] = block if out.get(item.name, block) == block else None
            for attr in ("branches", "body", "then", "orelse"):
                sub = getattr(body, attr, None)
                if isinstance(sub, tuple):
                    for part in sub if attr == "branches" else (sub,):
                        visit(part)

    visit(spec.layers)
    for b in spec.blocks:
        visit(b.body)
    return out, blocks


#: Segments cnncalc makes for unnamed structure: join branches, fractal columns, sub-sequences.
_GENERIC = re.compile(r"b\d+|col\d+|top|bottom|join|seq|repeat|side|if|fractal")


def _all_helpers(tc: TorchCode) -> list[str]:
    out = list(tc.helpers)
    for a in tc.args:
        if isinstance(a.value, TorchCode):
            out.extend(_all_helpers(a.value))
    return out


def _is_atomic(text: str) -> bool:
    """True when ``text`` needs no parentheses as an operand: a name or one call."""
    if re.fullmatch(r"[\w.]+", text):
        return True
    m = re.match(r"[\w.]+\(", text)
    if not m or not text.endswith(")"):
        return False
    depth = 0
    for k, ch in enumerate(text[m.end() - 1 :], m.end() - 1):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth == 0:
            return k == len(text) - 1
    return False


@dataclass(eq=False)
class _Class:
    name: str
    box: _Box  # the first instance: its children and forward are the class's
    params: list[tuple[str, str]]  # (argument, annotation)
    instances: list[str]  # the path of each instance
    bind: dict[int, str]  # hole position -> argument


# --------------------------------------------------------------------------- writing the file


def _class_source(cls: _Class, builder: _Builder) -> str:
    box = cls.box
    positions = iter(range(10**9))

    def bind(h: _Hole) -> str | None:
        return cls.bind.get(next(positions))

    paths = cls.instances
    shown = ", ".join(f"`{p}`" for p in paths[:4]) + (f" and {len(paths) - 4} more" if len(paths) > 4 else "")
    sig = ", ".join(f"{n}: {t}" for n, t in cls.params)
    head = f"def __init__(self{', ' + sig if sig else ''}) -> None:"
    if len(head) > 112:
        head = (
            "def __init__(\n        self,\n" + "".join(f"        {n}: {t},\n" for n, t in cls.params) + "    ) -> None:"
        )
    doc = "\n".join(_wrap(f'"""The spec\'s {shown}."""', "    "))
    doc = textwrap.indent(doc, "    ")
    lines = []
    if box.kind == "seq":
        lines += [f"class {cls.name}(nn.Sequential):", doc, "", f"    {head}"]
        lines.append(
            f"        super().__init__({_render(_Seq(box.items), bind, '        ')[len('nn.Sequential(') : -1]})"
        )
        return "\n".join(lines) + "\n"
    lines += [f"class {cls.name}(nn.Module):", doc, "", f"    {head}", "        super().__init__()"]
    for name, code in box.items:
        lines.append(f"        self.{name} = {_render(code, bind, '        ', len(name) + 8)}")
    lines += ["", f"    {box.signature}"]
    lines += [f"        {line}" for line in box.forward]
    return "\n".join(lines) + "\n"


def _model_name(report: Report) -> str:
    if report.variant and not report.own_title:
        return _camel(report.variant)
    title = report.name.split(" (")[0]
    return _camel(title)


def _doc(text: str) -> str:
    """``text`` safe inside a docstring."""
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, 116 - len(indent), break_long_words=False, break_on_hyphens=False) or [""]


def _model_source(name: str, root: _Box, builder: _Builder, report: Report, file: str) -> str:
    t = report.total
    shape = "x".join(map(str, report.input.dims))
    outs = [builder.layers[v].output if v != INPUT else report.input for v in builder.outputs]
    config = [f"from {_doc(file)}"]
    if report.variant:
        config.append(f"variant {report.variant}")
    if report.params:
        config.append(_doc("parameters " + ", ".join(f"{k}={v}" for k, v in report.params)))
    if report.no_bias:
        config.append("without biases (--no-bias)")
    doc = [f"{_doc(report.title)}.", ""]
    if report.source:
        doc += _wrap(f"Source: {_doc(report.source)}", "    ")
        doc.append("")
    doc += _wrap(f"Exported by cnncalc {'; '.join(config)}.", "    ")
    doc += _wrap(
        f"cnncalc's figures for a {shape} input (batch 1): output {' + '.join(map(str, outs))}; "
        f"params {t.params:,}; buffers {t.buffers:,}; MACs {t.macs:,}.",
        "    ",
    )
    if len(builder.outputs) > 1:
        extra = ", ".join(f"`{builder.layers[v].path}`" for v in builder.outputs[1:])
        doc += _wrap(f"forward returns the output, then the outputs nobody reads (side heads): {extra}.", "    ")
    lines = [f"class {name}(nn.Module):", '    """' + doc[0], *[f"    {d}" if d else "" for d in doc[1:]], '    """']
    lines += ["", "    def __init__(self) -> None:", "        super().__init__()"]
    for attr, code in builder.child_codes(root):
        comment = "  # PLACEHOLDER: an opaque layer; write it" if _placeholder(code) else ""
        lines.append(f"        self.{attr} = {_render(code, _literal_binding, '        ', len(attr) + 8)}{comment}")
    lines += ["", f"    {root.signature}", *[f"        {line}" for line in root.forward]]
    return "\n".join(lines) + "\n"


def _file_name(file: str) -> str:
    """A bundled spec as its name in the library (``resnet50.yaml``), any other file as given."""
    from pathlib import Path

    from .library import library_dir

    try:
        return Path(file).resolve().relative_to(library_dir().resolve()).as_posix()
    except (ValueError, OSError):
        return file


def _placeholder(code: Any) -> bool:
    return isinstance(code, _Call) and code.placeholder


def export_pytorch(report: Report, spec: ArchitectureSpec | None = None) -> Export:
    """``report``'s network as the source of one PyTorch module (see the module docstring).

    ``spec`` (read again from ``report.file`` when not given) names the classes after the blocks they call.
    """
    b = _Builder(report, spec)
    b.collect_codes()
    b.look_through()
    root = b.tree()
    b.build(root)
    root.signature, root.forward = b.forward_code(root)
    model = _unique(_model_name(report), b.class_names, "")
    file = _file_name(report.file)
    models = _model_source(model, root, b, report, file)
    classes = [_class_source(c, b) for c in b.classes]
    observe, owners, modules = _observations(b, root)
    placeholders = tuple(i for i, c in enumerate(b.codes) if c.placeholder)
    shape = "x".join(map(str, report.input.dims))
    header = [
        *_wrap(f'"""{_doc(report.title)} in PyTorch: exported by cnncalc from {_doc(file)}, for a {shape} input.', ""),
        "",
        *_wrap(
            "Generated by `cnncalc export --to pytorch`; depends on torch only. Submodules are named after the spec's "
            "layer paths (`conv#1` is `conv_1`); `cnncalc verify` checks every layer's output shape, parameters, "
            "buffers and MACs against the spec.",
            "",
        ),
        '"""',
        "",
        "from __future__ import annotations",
        "",
    ]
    if b.uses_seq or "OrderedDict" in models or any("OrderedDict" in c for c in classes):
        header += ["from collections import OrderedDict", ""]
    header += ["import torch", "from torch import Tensor, nn", ""]
    body = [*b.helpers, *classes, models]
    c, h, w = report.input.c, report.input.h, report.input.w
    x = f"torch.zeros(1, {c}, {h}, {w})" if not report.input.is_flat else f"torch.zeros(1, {c})"
    main = [
        'if __name__ == "__main__":',
        f"    model = {model}().eval()",
        "    with torch.no_grad():",
        f"        y = model({x})",
    ]
    if len(b.outputs) > 1:
        main.append("    print([tuple(t.shape) for t in y])")
    else:
        main.append("    print(tuple(y.shape))")
    source = _join_blocks(header, body, main)
    return Export(source, model, observe, owners, modules, placeholders, tuple(b.outputs))


def _join_blocks(header: list[str], body: list[str], main: list[str]) -> str:
    text = "\n".join(header) + "\n"
    for block in body:
        text += "\n" + block.rstrip("\n") + "\n\n"
    text += "\n" + "\n".join(main) + "\n"
    return text


def _observations(b: _Builder, root: _Box) -> tuple[tuple[Observation | None, ...], tuple[Owner, ...], tuple[str, ...]]:
    """Where each layer's output shows (a module's output, else a module's input), and what holds its params."""
    n = len(b.layers)
    outs: list[Observation | None] = [None] * n
    ins: list[Observation | None] = [None] * n
    owners: list[Owner] = [Owner("inline", "")] * n
    modules: list[str] = [""] * n

    def seen_in(fqn: str, values: Sequence[int]) -> None:
        for k, v in enumerate(values):
            if v != INPUT and ins[v] is None:
                ins[v] = Observation(fqn, "in", k)

    def walk(box: _Box, fqn: str) -> None:
        def child_fqn(name: str) -> str:
            return fqn if box.collapsed else (f"{fqn}.{name}" if fqn else name)

        for step in box.steps:
            if isinstance(step, _Box):
                walk(step, child_fqn(step.attr))
                seen_in(child_fqn(step.attr), step.inputs)
            elif step == box.own:
                owners[step] = Owner("box", fqn)
            elif b.inline(step):
                pass  # an expression: seen as the input of the module that reads it, or as its box's output
            else:
                name = child_fqn(box.names[step])
                owners[step] = Owner("module", name)
                modules[step] = name
                outs[step] = Observation(name, "out", 0)
                seen_in(name, b.src[step])
        for k, v in enumerate(box.outputs):
            if v != INPUT and outs[v] is None:
                outs[v] = Observation(fqn, "out", k)

    walk(root, "")
    observe = [o if o is not None else i for o, i in zip(outs, ins)]
    for i, src in b.alias.items():
        observe[i] = Observation("", "in", 0) if src == INPUT else observe[src]
    return tuple(observe), tuple(owners), tuple(modules)


__all__ = ["Export", "ExportError", "Observation", "Owner", "export_pytorch", "literal"]
