"""Writing an imported :class:`~cnncalc.importers.network.Network` as a spec a person can read.

What a person writes, and how it is found in a graph:

* **Joins with their branches.** A join (add, concat, mul, mean) becomes ``add:`` with one branch per input when
  every branch starts at one value (the join's immediate dominator) and no layer inside a branch is read from
  outside it; a branch that is that value itself is ``identity``. This nests (a squeeze-excitation ``mul:``
  inside a residual branch). Where it does not hold (DenseNet's shared features), the section between two
  values every path to the output passes is written flat instead: every line named, ``from=`` where a line
  does not read the one before it, a join as ``{add: [identity], from: [...]}``.
* **Lines.** A chain of layers is written as lines, each with one layer that computes (conv, pool, fc...)
  followed by the element-wise ones after it: ``conv 64 7x7 stride=2 pad=3, bn, relu``.
* **Blocks.** Top-level units (a join with the element-wise lines after it) that are built alike share a block
  whose parameters are the argument values that differ between them (channels, strides), equal values merged
  into one parameter; consecutive calls with the same arguments become one with ``repeat=N``.
* **Names** are the source's (``layer1.0.conv1`` -> ``layer1_0``): a line is named after its first layer, a
  unit after the module path its layers share; consecutive items of one top-level module (``layer1``) are
  gathered under its name.

Layers no path from the input to the output needs (a second output's head) are written as a ``side:`` entry.
The writer also returns, in the order cnncalc evaluates the spec, which layer of the network each row is, so
that the import can check every row (:func:`cnncalc.importers.compare`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .. import layers as L  # noqa: N812 - the registry
from ..argkinds import Derived
from ..expr import Dim
from ..shapes import Shape
from ..spec import STRUCTURAL
from .network import INPUT, Layer, Network

#: A row of the spec as evaluated: the network layer it is, or None for an ``identity`` the writer added.
Row = int | None

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: Names a layer cannot have: the network input, the names expressions see, and the keys of structural entries.
_RESERVED = {"input", "i", "in_h", "in_w", "in_c", "true", "false", "do", "from", "then", "else", "expect", "join"}
_RESERVED |= {*STRUCTURAL}
#: Arguments a spec's ``defaults:`` may set when most layers of an op share a value.
_DEFAULTABLE = ("bias", "eps", "ceil", "affine")
#: Ops that end a line as much as start one: a line holds one of these, then the light ones after it.
_LIGHT = {"flatten", "identity"}
LINE_WIDTH = 96


class UnstructuredError(Exception):
    """The graph between two values is no nest of joins and chains."""


@dataclass
class Seg:
    """A step of a structured sequence: one layer, or a join with its branches."""

    layer: int
    branches: list[list[Seg]] | None = None


@dataclass
class Item:
    """One entry of a written layer list."""

    kind: str  # "line", "join", "flatjoin", "call", "group", "side"
    layers: list[int] = field(default_factory=list)  # line: its layers; join: the join layer
    name: str = ""
    source: str = ""  # the source's module path (for names and groups)
    src: str | None = None  # from=NAME for the first layer of a flat line; flat joins: the first input
    refs: list[str] = field(default_factory=list)  # flat join: further inputs
    branches: list[list[Item]] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)  # group, side
    call: str = ""  # call: "block args"
    block: str = ""
    args: tuple[Any, ...] = ()
    repeat: int = 1
    rows: list[list[Row]] = field(default_factory=list)  # call: the rows of each repetition
    out: int = INPUT  # the value it produces

    def end(self) -> int:
        return self.out


class Writer:
    """Makes the spec text of a network (:meth:`text`) and the row order cnncalc will evaluate it in."""

    def __init__(self, net: Network, name: str | None = None, fold: bool = True) -> None:
        self.net = net
        self.layers = net.layers
        self.name = name or net.name
        self.fold = fold
        _chain_concats(self.layers)
        self.consumers: dict[int, list[int]] = {}
        for k, layer in enumerate(self.layers):
            for v in dict.fromkeys(layer.inputs):
                self.consumers.setdefault(v, []).append(k)
        self.live = self._ancestors(net.output)
        self.idom = self._dominators()
        self.defaults = self._defaults()
        self.names: set[str] = set()
        self.value_names: dict[int, str] = {INPUT: "input"}
        self.blocks: dict[str, tuple[list[str], dict[str, str], list[str]]] = {}  # name -> params, defaults, body

    # -- the graph

    def _ancestors(self, out: int) -> set[int]:
        seen: set[int] = set()
        todo = [out]
        while todo:
            v = todo.pop()
            if v == INPUT or v in seen:
                continue
            seen.add(v)
            todo.extend(self.layers[v].inputs)
        return seen

    def _dominators(self) -> dict[int, int]:
        """The immediate dominator of every live layer (values in index order are topological)."""
        idom: dict[int, int] = {}

        def intersect(a: int, b: int) -> int:
            while a != b:
                if a > b:
                    a = idom[a]
                else:
                    b = idom[b]
            return a

        for v in sorted(self.live):
            preds = list(dict.fromkeys(self.layers[v].inputs))
            d = preds[0]
            for p in preds[1:]:
                d = intersect(d, p)
            idom[v] = d
        return idom

    def _is_join(self, k: int) -> bool:
        return L.LAYER_TYPES[self.layers[k].op].role == "join"

    # -- structure

    def build(self, s: int, t: int, seen: set[int] | None = None) -> list[Seg]:
        """The steps from value ``s`` to value ``t``: chains, and joins whose branches start at their dominator.
        A layer met twice (a value two branches share) ends the attempt at once."""
        seen = set() if seen is None else seen
        segs: list[Seg] = []
        while t != s:
            if t == INPUT or t < s or t in seen:
                raise UnstructuredError
            seen.add(t)
            layer = self.layers[t]
            if self._is_join(t):
                d = self.idom[t]
                if d < s:
                    raise UnstructuredError
                segs.append(Seg(t, [self.build(d, v, seen) for v in layer.inputs]))
                t = d
            else:
                if len(layer.inputs) != 1:
                    raise UnstructuredError
                segs.append(Seg(t))
                t = layer.inputs[0]
        segs.reverse()
        return segs

    def check(self, segs: list[Seg], start: int, region: set[int]) -> int:
        """Follow the data through ``segs`` from ``start``: every layer reads what the structure gives it and
        appears once, and only layers of ``region`` appear (raises UnstructuredError); the value at the end."""
        seen: set[int] = set()
        end = self._flow(segs, start, seen, region)
        if seen != region:
            raise UnstructuredError
        return end

    def _flow(self, segs: list[Seg], cur: int, seen: set[int], region: set[int]) -> int:
        for seg in segs:
            k = seg.layer
            if k in seen or k not in region:
                raise UnstructuredError
            seen.add(k)
            if seg.branches is None:
                if self.layers[k].inputs != [cur]:
                    raise UnstructuredError
            else:
                ends = [self._flow(b, cur, seen, region) for b in seg.branches]
                if ends != self.layers[k].inputs:
                    raise UnstructuredError
                for b, e in zip(seg.branches, ends):  # a value inside a branch is read by nothing outside it
                    inside = _layers_of(b)
                    for inner in inside:
                        if inner != e and any(u not in inside for u in self.consumers.get(inner, [])):
                            raise UnstructuredError
            cur = k
        return cur

    def sections(self) -> list[tuple[int, int]]:
        """Consecutive values every path from the input to the output passes, as (start, end) pairs."""
        chain = [self.net.output]
        while chain[-1] != INPUT:
            chain.append(self.idom[chain[-1]])
        chain.reverse()
        return list(zip(chain, chain[1:]))

    # -- items

    def items(self) -> list[Item]:
        """The top-level items: structured sections, and flat ones where the structure does not hold."""
        dead = sorted(set(range(len(self.layers))) - self.live)
        needed = {v for k in dead for v in self.layers[k].inputs if v != INPUT and v in self.live}
        out: list[Item] = []
        pending: list[Seg] = []  # structured sections in a row: one sequence, so lines run across them
        for s, t in self.sections():
            region = {k for k in self.live if s < k <= t}
            segs: list[Seg] | None = None
            if not needed & (region - {t}):
                try:
                    segs = self.build(s, t)
                    self.check(segs, s, region)
                except UnstructuredError:
                    segs = None
            if segs is not None:
                pending.extend(segs)
                continue
            if pending:
                out.extend(self._top_items(pending))
                pending = []
            if out and out[-1].end() not in self.value_names:  # the flat lines read it by name
                out[-1].name = self._unique(_ident(out[-1].source) or out[-1].kind)
                self.value_names[out[-1].end()] = out[-1].name
            out.extend(self._flat(sorted(region), out[-1].end() if out else INPUT))
        if pending:
            out.extend(self._top_items(pending))
        for item in out:  # the values a side branch reads are named
            if item.out in needed and item.out not in self.value_names:
                item.name = self._unique(_ident(item.source) or item.kind)
                self.value_names[item.out] = item.name
        if dead:
            side = Item("side", items=self._flat(dead, None, side=True))
            out.append(side)
        return out

    def _lines(self, chain: list[int]) -> list[list[int]]:
        """A chain cut into lines: one computing layer each, with the light ones after it."""
        lines: list[list[int]] = []
        for k in chain:
            if lines and not self._heavy(k):
                lines[-1].append(k)
            else:
                lines.append([k])
        return lines

    def _heavy(self, k: int) -> bool:
        op = self.layers[k].op
        return not (L.LAYER_TYPES[op].elementwise or op in _LIGHT)

    def _seg_items(self, segs: list[Seg]) -> list[Item]:
        """Steps as items: runs of layers become lines, joins join items with their branches."""
        items: list[Item] = []
        chain: list[int] = []

        def flush() -> None:
            for line in self._lines(chain):
                items.append(Item("line", line, source=self.layers[line[0]].name, out=line[-1]))
            chain.clear()

        for seg in segs:
            if seg.branches is None:
                chain.append(seg.layer)
            else:
                flush()
                branches = [self._seg_items(b) for b in seg.branches]
                items.append(Item("join", [seg.layer], branches=branches, out=seg.layer))
        flush()
        return items

    def _top_items(self, segs: list[Seg]) -> list[Item]:
        items = self._seg_items(segs)
        for item in items:
            if item.kind == "join":
                item.source = _common(self.layers[k].name for k in _item_layers(item))
        return items

    def _flat(self, region: list[int], cur: int | None, side: bool = False) -> list[Item]:
        """Layers in order, each line named, ``from=`` where a line does not read the one before it."""
        items: list[Item] = []
        run: list[int] = []
        in_region = set(region)

        def ends_run(k: int) -> bool:
            users = self.consumers.get(k, [])
            return len(users) != 1 or users[0] not in in_region or self._is_join(users[0])

        def add(new: list[Item]) -> None:
            for item in new:
                item.name = self._unique(_ident(item.source) or item.kind)
                self.value_names[item.out] = item.name
            items.extend(new)

        for k in region:
            layer = self.layers[k]
            if self._is_join(k):
                if run:
                    add(self._flat_run(run, cur))
                    cur, run = run[-1], []
                first = layer.inputs[0]
                src = None if first == cur else self._ref(first)
                refs = [self._ref(v) for v in layer.inputs[1:]]
                add([Item("flatjoin", [k], source=layer.name, src=src, refs=refs, out=k)])
                cur = k
                continue
            if run and (layer.inputs != [run[-1]] or ends_run(run[-1])):
                add(self._flat_run(run, cur))
                cur, run = run[-1], []
            run.append(k)
        if run:
            add(self._flat_run(run, cur))
        return items

    def _flat_run(self, run: list[int], cur: int | None) -> list[Item]:
        first = self.layers[run[0]].inputs[0]
        items = []
        for n, line in enumerate(self._lines(run)):
            src = None if n > 0 or first == cur else self._ref(first)
            items.append(Item("line", line, source=self.layers[line[0]].name, src=src, out=line[-1]))
        return items

    def _ref(self, v: int) -> str:
        if v not in self.value_names:
            raise AssertionError(f"layer {v} is read by name but has none")
        return self.value_names[v]

    def _unique(self, base: str) -> str:
        name = base if base not in _RESERVED else f"{base}_"
        k = 2
        while name in self.names:
            name = f"{base}_{k}"
            k += 1
        self.names.add(name)
        return name

    # -- blocks

    def fold_units(self, items: list[Item]) -> list[Item]:
        """Top-level units built alike as calls of one block; equal consecutive calls as one with ``repeat``."""
        units: list[tuple[int, int]] = []  # (first, last+1) item positions
        k = 0
        while k < len(items):
            if items[k].kind == "join":
                j = k + 1
                parent = _unit_module(items[k].source)  # the relu after a block's add belongs to the block
                while (
                    j < len(items)
                    and items[j].kind == "line"
                    and not any(self._heavy(x) for x in items[j].layers)
                    and (not parent or items[j].source.startswith(parent + "."))
                ):
                    j += 1
                units.append((k, j))
                k = j
            else:
                k += 1
        groups: dict[Any, list[tuple[int, int]]] = {}
        units = [(a, b) for a, b in units if not any(items[x].name for x in range(a, b))]  # named: read by name
        for u in units:
            groups.setdefault(self._signature(items[u[0] : u[1]]), []).append(u)
        replaced: dict[int, tuple[int, Item]] = {}
        names = Counter[str]()
        for sig, members in groups.items():
            if len(members) < 2:
                continue
            made = self._block(sig, [items[a:b] for a, b in members], names)
            if made is None:
                continue
            for (a, b), call in zip(members, made):
                replaced[a] = (b, call)
        out: list[Item] = []
        k = 0
        while k < len(items):
            if k in replaced:
                b, call = replaced[k]
                if out and out[-1].kind == "call" and out[-1].block == call.block and out[-1].args == call.args:
                    out[-1].repeat += 1
                    out[-1].rows.extend(call.rows)
                    out[-1].out = call.out
                else:
                    out.append(call)
                k = b
            else:
                out.append(items[k])
                k += 1
        return out

    def _signature(self, unit: list[Item]) -> Any:
        def sig(item: Item) -> Any:
            if item.kind == "line":
                return ("line", tuple(self.layers[k].op for k in item.layers))
            return ("join", self.layers[item.layers[0]].op, tuple(tuple(sig(i) for i in b) for b in item.branches))

        return tuple(sig(i) for i in unit)

    def _slots(self, unit: list[Item]) -> list[int]:
        """The unit's layers in the order cnncalc evaluates them."""
        out: list[int] = []
        for item in unit:
            out.extend(_item_layers(item))
        return out

    def _block(self, sig: Any, instances: list[list[Item]], names: Counter[str]) -> list[Item] | None:
        slots = [self._slots(u) for u in instances]
        n = len(slots[0])
        keys: list[list[str]] = []
        for s in range(n):
            ks: dict[str, None] = {}
            for inst in slots:
                layer = self.layers[inst[s]]
                for key in self._written(layer):
                    ks[key] = None
            keys.append(list(ks))
        holes: dict[tuple[int, str], tuple[Any, ...]] = {}
        for s in range(n):
            for key in keys[s]:
                vals = tuple(self._value(self.layers[inst[s]], key) for inst in slots)
                if len(set(map(_norm, vals))) > 1:
                    if any(isinstance(v, (dict, str, Shape)) for v in vals):
                        return None
                    holes[(s, key)] = vals
        distinct: dict[tuple[str, Any], None] = {}
        for (_, key), vals in holes.items():
            distinct[("c" if key == "out" else key, tuple(map(_norm, vals)))] = None
        per_base = Counter(base for base, _ in distinct)
        numbered = Counter[str]()
        param_of: dict[tuple[str, Any], str] = {}
        for base, nv in distinct:
            numbered[base] += 1
            param_of[(base, nv)] = f"{base}{numbered[base]}" if per_base[base] > 1 else base
        params = list(param_of.values())
        hole_param = {
            (s, key): param_of[("c" if key == "out" else key, tuple(map(_norm, vals)))]
            for (s, key), vals in holes.items()
        }
        pvalues: dict[str, tuple[Any, ...]] = {}
        for h, pname in hole_param.items():
            pvalues.setdefault(pname, holes[h])
        positional = [param_of[d] for d in distinct if d[0] == "c"]
        keyword = [param_of[d] for d in distinct if d[0] != "c"]
        defaults = {p: Counter(map(_text, pvalues[p])).most_common(1)[0][0] for p in keyword}
        join_op = self.layers[next(i for i in instances[0] if i.kind == "join").layers[0]].op
        base_name = {"add": "residual", "concat": "module", "mul": "gated", "mean": "averaged"}.get(join_op, "unit")
        names[base_name] += 1
        bname = base_name if names[base_name] == 1 else f"{base_name}{names[base_name]}"
        header = f"{bname}({', '.join(positional + [f'{p}={defaults[p]}' for p in keyword])})"
        sub = {(slots[0][s], key): pname for (s, key), pname in hole_param.items()}
        body = self._render_items(instances[0], 0, sub=sub)
        self.blocks[bname] = (params, defaults, [header, *body])
        calls = []
        for k, unit in enumerate(instances):
            args = [_text(pvalues[p][k]) for p in positional]
            args += [f"{p}={_text(pvalues[p][k])}" for p in keyword if _text(pvalues[p][k]) != defaults[p]]
            src = _common(self.layers[x].name for x in slots[k])
            calls.append(
                Item(
                    "call",
                    slots[k],
                    source=src,
                    call=" ".join([bname, *args]),
                    block=bname,
                    args=tuple(args),
                    rows=[self._rows(unit)],
                    out=unit[-1].end(),
                )
            )
        return calls

    # -- names and groups

    def group(self, items: list[Item]) -> list[Item]:
        """Name the items after their source and gather consecutive ones of one top-level module."""
        out: list[Item] = []
        k = 0
        while k < len(items):
            top = _top(items[k].source)
            j = k
            while j < len(items) and items[j].kind in ("line", "join", "call") and _top(items[j].source) == top:
                if items[j].out in self._referenced():
                    break
                j += 1
            if top and j - k >= 2 and all(items[x].source.startswith(top + ".") for x in range(k, j)):
                inner = items[k:j]
                for item in inner:  # names are unique in the whole list (a group is no scope of its own)
                    rest = item.source[len(top) + 1 :]
                    name = _ident(rest) if _IDENT.match(rest.replace(".", "_")) else ""
                    item.name = "" if not name or name in self.names or name in _RESERVED else name
                    self.names.add(item.name)
                self.names.discard("")
                out.append(Item("group", name=self._unique(_ident(top)), items=inner, out=inner[-1].end()))
                k = j
                continue
            item = items[k]
            if top and j - k == 1 and item.source.startswith(top + ".") and top not in self.names:
                item.name = self._unique(_ident(top))  # the only item of its module: named after the module
            if not item.name and item.kind in ("line", "join", "call"):
                item.name = self._unique(_ident(item.source) or item.kind)
            out.append(item)
            k += 1
        return out

    def _referenced(self) -> set[int]:
        return {v for v, n in self.value_names.items() if v != INPUT and n}

    # -- rendering

    def _written(self, layer: Layer) -> list[str]:
        """The argument names a layer writes: positional ones, and keywords not at their default."""
        lt = L.LAYER_TYPES[layer.op]
        out = []
        for spec in lt.args:
            if spec.name not in layer.args:
                continue
            if spec.positional or not self._is_default(layer, spec):
                out.append(spec.name)
        return out

    def _default(self, op: str, spec: L.ArgSpec, args: dict[str, Any]) -> Any:
        if spec.name in self.defaults.get(op, {}):
            return self.defaults[op][spec.name]
        d = spec.default
        if isinstance(d, Derived):
            try:
                return d.rule({k: _norm(v) for k, v in args.items()})
            except (KeyError, TypeError):
                return None
        return d

    def _is_default(self, layer: Layer, spec: L.ArgSpec) -> bool:
        d = self._default(layer.op, spec, layer.args)
        return d is not None and _norm(layer.args[spec.name]) == _norm(d)

    def _value(self, layer: Layer, key: str) -> Any:
        if key in layer.args:
            return layer.args[key]
        spec = L.LAYER_TYPES[layer.op].arg(key)
        assert spec is not None
        return self._default(layer.op, spec, layer.args)

    def op_text(self, k: int, sub: dict[tuple[int, str], str] | None = None, src: str | None = None) -> str:
        layer = self.layers[k]
        lt = L.LAYER_TYPES[layer.op]
        parts = [layer.op]
        for key in self._written(layer) if sub is None else self._written_union(k, sub):
            spec = lt.arg(key)
            assert spec is not None
            v = sub.get((k, key)) if sub else None
            text = v if v is not None else _text(self._value(layer, key), key)
            parts.append(text if spec.positional else f"{key}={text}")
        if src is not None:
            parts.append(f"from={src}")
        return " ".join(parts)

    def _written_union(self, k: int, sub: dict[tuple[int, str], str]) -> list[str]:
        keys = self._written(self.layers[k])
        extra = [key for (kk, key) in sub if kk == k and key not in keys]
        order = [a.name for a in L.LAYER_TYPES[self.layers[k].op].args]
        return sorted(keys + extra, key=order.index)

    def line_text(self, item: Item, sub: dict[tuple[int, str], str] | None = None) -> str:
        return ", ".join(self.op_text(k, sub, item.src if n == 0 else None) for n, k in enumerate(item.layers))

    def _render_items(
        self, items: Sequence[Item], indent: int, sub: dict[tuple[int, str], str] | None = None, shapes: bool = False
    ) -> list[str]:
        """YAML lines of a layer list at ``indent`` spaces."""
        pad = " " * indent
        texts: list[tuple[str, str, Item]] = []
        for item in items:
            if item.kind == "line":
                texts.append((item.name, self.line_text(item, sub), item))
            elif item.kind == "call":
                texts.append((item.name, item.call + (f" repeat={item.repeat}" if item.repeat > 1 else ""), item))
            else:
                texts.append((item.name, "", item))
        width = max((len(_head(n)) + len(t) for n, t, i in texts if t), default=0)
        width = min(width, LINE_WIDTH - indent - 4)
        out: list[str] = []
        for name, text, item in texts:
            if text:
                head = _head(name) + _scalar(text)
                if shapes:
                    head = head.ljust(width) + f"  => {_shape(self._out_shape(item))}"
                out.append(f"{pad}- {head}")
            elif item.kind in ("join", "flatjoin"):
                out.extend(self._render_join(item, indent, sub))
            elif item.kind == "group":
                out.append(f"{pad}- {item.name}:")
                out.extend(self._render_items(item.items, indent + 4, sub, shapes))
            elif item.kind == "side":
                out.append(f"{pad}- side:")
                out.extend(self._render_items(item.items, indent + 4, sub, False))
        return out

    def _render_join(self, item: Item, indent: int, sub: dict[tuple[int, str], str] | None) -> list[str]:
        pad = " " * indent
        op = self.layers[item.layers[0]].op
        lines: list[str] = []
        inner = indent + 2
        if item.name:
            lines.append(f"{pad}- {item.name}:")
            inner = indent + 4
        key_pad = " " * inner
        first = f"{pad}- " if not item.name else key_pad
        if item.kind == "flatjoin":
            ident = "identity" + (f" from={item.src}" if item.src else "")
            lines.append(f"{first}{op}: [{ident}]")
            lines.append(f"{key_pad}from: [{', '.join(item.refs)}]")
            return lines
        lines.append(f"{first}{op}:")
        for branch in item.branches:
            lines.extend(self._render_branch(branch, inner + 2, sub))
        return lines

    def _render_branch(self, branch: list[Item], indent: int, sub: dict[tuple[int, str], str] | None) -> list[str]:
        pad = " " * indent
        if not branch:
            return [f"{pad}- identity"]
        if len(branch) == 1 and branch[0].kind == "line":
            return [f"{pad}- {_scalar(self.line_text(branch[0], sub))}"]
        if all(i.kind == "line" for i in branch):
            one = ", ".join(self.line_text(i, sub) for i in branch)
            if len(one) + indent + 2 <= LINE_WIDTH:
                return [f"{pad}- {_scalar(one)}"]
        body = self._render_items(branch, indent + 2, sub)
        return [pad + "- " + body[0][indent + 2 :], *body[1:]]

    def _out_shape(self, item: Item) -> Shape:
        return self.layers[item.end()].out

    # -- rows

    def _rows(self, items: Iterable[Item]) -> list[Row]:
        rows: list[Row] = []
        for item in items:
            if item.kind == "line":
                rows.extend(item.layers)
            elif item.kind == "join":
                for b in item.branches:
                    rows.extend(self._rows(b) if b else [None])
                rows.append(item.layers[0])
            elif item.kind == "flatjoin":
                rows.extend([None, item.layers[0]])
            elif item.kind == "call":
                for r in item.rows:
                    rows.extend(r)
            elif item.kind in ("group", "side"):
                rows.extend(self._rows(item.items))
        return rows

    # -- defaults

    def _defaults(self) -> dict[str, dict[str, Any]]:
        """``defaults: {conv: {bias: false}, bn: {eps: 0.001}}``: an argument most layers of an op share, when it
        is not the registry's default."""
        values: dict[tuple[str, str], Counter[Any]] = {}
        for layer in self.layers:
            if layer.op == "opaque":
                continue
            for key in _DEFAULTABLE:
                if key in layer.args:
                    values.setdefault((layer.op, key), Counter())[_norm(layer.args[key])] += 1
        out: dict[str, dict[str, Any]] = {}
        for (op, key), counts in values.items():
            (value, n), total = counts.most_common(1)[0], sum(counts.values())
            spec = L.LAYER_TYPES[op].arg(key)
            if spec is not None and n >= 2 and 2 * n > total and value != _norm(spec.default):
                out.setdefault(op, {})[key] = value
        return out

    # -- the whole spec

    def write(self) -> tuple[str, list[Row]]:
        """The spec text and its rows."""
        items = self.items()
        if self.fold:
            items = self.fold_units(items)
        items = self.group(items)
        out = ["cnncalc: 1", f"name: {_quoted(self.name)}", f"source: {_quoted(self.net.source)}"]
        out.append(f"input: {_shape(self.net.input)}")
        if self.defaults:
            out.append("defaults:")
            for op, d in self.defaults.items():
                out.append(f"  {op}: {{{', '.join(f'{k}: {_text(v)}' for k, v in d.items())}}}")
        if self.blocks:
            out.append("blocks:")
            for _params, _defaults, body in self.blocks.values():
                out.append(f"  {body[0]}:")
                out.extend(f"    {line}" for line in body[1:])
        out.append("layers:")
        out.extend(self._render_items(items, 2, shapes=True))
        out.append("expect:")
        out.append(f"  output: {_shape(self.layers[self.net.output].out)}")
        out.append(f"  params: {_grouped(self.net.params)}")
        out.append(f"  buffers: {_grouped(self.net.buffers)}")
        return "\n".join(out) + "\n", self._rows(items)


# --------------------------------------------------------------------------- helpers


def _chain_concats(layers: list[Layer]) -> None:
    """DenseNet's ``cat([x0, x1, ..., xk])`` after an earlier ``cat([x0, ..., x(k-1)])`` reads that earlier one and
    ``xk`` instead: the same channels in the same order, so the same shape and counts, and the features are no
    longer read by every later layer, which lets the dense layers be joins with branches (and a block)."""
    seen: dict[tuple[int, ...], int] = {}
    for k, layer in enumerate(layers):
        if layer.op != "concat":
            continue
        ins = tuple(layer.inputs)
        if len(ins) >= 3 and ins[:-1] in seen:
            layer.inputs = [seen[ins[:-1]], ins[-1]]
        seen.setdefault(ins, k)


def _unit_module(source: str) -> str:
    """The module a unit's trailing element-wise lines must belong to: the unit's own (torchvision's
    ``layer1.0``), or the one above a join that is a module of its own (cnncalc's export: ``layer1.basic_1.add``)."""
    head, _, last = source.rpartition(".")
    return head if last.rstrip("_0123456789") in ("add", "concat", "mul", "mean", "cat") else source


def _layers_of(segs: list[Seg]) -> set[int]:
    out: set[int] = set()
    for s in segs:
        out.add(s.layer)
        for b in s.branches or ():
            out |= _layers_of(b)
    return out


def _item_layers(item: Item) -> list[int]:
    if item.kind == "line":
        return list(item.layers)
    if item.kind == "join":
        out: list[int] = []
        for b in item.branches:
            for i in b:
                out.extend(_item_layers(i))
        return [*out, item.layers[0]]
    return list(item.layers)


def _common(names: Iterable[str]) -> str:
    parts = [n.split(".") for n in names if n]
    if not parts:
        return ""
    common = parts[0]
    for p in parts[1:]:
        k = 0
        while k < len(common) and k < len(p) and common[k] == p[k]:
            k += 1
        common = common[:k]
    return ".".join(common)


def _top(source: str) -> str:
    return source.split(".", 1)[0] if "." in source else ""


def _ident(name: str) -> str:
    s = re.sub(r"\W+", "_", name).strip("_")
    if not s:
        return ""
    if s[0].isdigit():
        s = f"n{s}"
    return s


def _head(name: str) -> str:
    return f"{name}: " if name else ""


def _norm(v: Any) -> Any:
    if isinstance(v, tuple) and len(v) == 2 and v[0] == v[1]:
        return _norm(v[0])
    if isinstance(v, Dim):
        return _norm((v.a, v.b))
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float, Fraction)):
        return Fraction(v)
    if isinstance(v, dict):
        return tuple(sorted(v.items()))
    return v


def _text(v: Any, key: str = "") -> str:
    """A value as a spec writes it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Shape):
        return _shape(v)
    if isinstance(v, tuple) and len(v) == 2:
        return f"{v[0]}x{v[1]}" if key == "kernel" or v[0] != v[1] else str(v[0])
    if isinstance(v, Dim):
        return _text((v.a, v.b), key)
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{v[k]}" for k in ("top", "bottom", "left", "right")) + "}"
    if isinstance(v, Fraction):
        if v.denominator == 1:
            return str(v.numerator)
        d = v.denominator
        while d % 2 == 0:
            d //= 2
        while d % 5 == 0:
            d //= 5
        if d == 1:
            return f"{float(v):.12g}" if "e" not in f"{float(v):.12g}" else _decimal(v)
        return f"{v.numerator}/{v.denominator}"
    if isinstance(v, int):
        return str(v)
    return str(v)


def _decimal(v: Fraction) -> str:
    """An exact decimal for a fraction whose denominator is 2^a 5^b (1e-05 -> 0.00001)."""
    k = 0
    while (v * 10**k).denominator != 1:
        k += 1
    n = v * 10**k
    sign = "-" if n < 0 else ""
    digits = str(abs(n.numerator)).rjust(k + 1, "0")
    return f"{sign}{digits[:-k]}.{digits[-k:]}" if k else f"{sign}{digits}"


def _shape(s: Shape) -> str:
    return "x".join(str(d) for d in s.dims)


def _grouped(n: int) -> str:
    return f"{n:_}"


def _scalar(text: str) -> str:
    """An op line as a YAML scalar (quoted when YAML would read it otherwise)."""
    if re.search(r": |\s#|^[\[\]{}&*!|>'\"%@`,?:-]", text) or text.endswith(":"):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_spec(net: Network, name: str | None = None, fold: bool = True) -> tuple[str, list[Row]]:
    """The spec of ``net`` and, per row cnncalc will evaluate, the layer it is (None: an added identity)."""
    return Writer(net, name, fold).write()


__all__ = ["Row", "Writer", "write_spec"]
