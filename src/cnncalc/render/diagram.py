"""Graph export: a :class:`~cnncalc.analysis.Report` as a Mermaid flowchart or a Graphviz DOT digraph.

The diagram has one node per layer (its name, its op and, for a layer with parameters or MACs, both in
short form such as ``1.2M``), an ``input`` node and an ``output`` marker, and one edge from each of a
layer's sources, labelled with the shape that flows along it (``HxWxC``): shapes live on the edges.

Layers are nested in subgraphs by their path segments (Mermaid ``subgraph ... end``, DOT ``cluster_``), so
every block of the spec is a box a viewer can fold. ``depth=N`` folds everything below path depth N into
one node per group (its name, layer count, summed params/MACs and the output shape of its last layer),
keeping the edges between groups, deduplicated.

Node ids are generated (``n0``, ``n1``...: the index in ``report.layers`` of the node's first layer;
subgraphs ``s0``, ``s1``...), and every label is escaped for its format, whatever a spec names its layers.
The text is a pure function of the report, so it can be golden-tested; numbers in full (the totals in the
header) are exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ..analysis import LayerResult, Report, Totals
from .text import num, short

FORMATS: tuple[str, ...] = ("mermaid", "dot")
"""The formats :func:`render_graph` writes."""

INPUT_ID = "input"
OUTPUT_ID = "output"


# --------------------------------------------------------------------------- the format-neutral diagram


@dataclass(frozen=True, slots=True)
class _Node:
    id: str
    lines: tuple[str, ...]  # label lines, unescaped
    kind: str  # 'io', 'layer', 'counted' (has params or MACs) or 'group' (folded)
    side: bool = False  # part of a side head (drawn dashed)


@dataclass(slots=True)
class _Cluster:
    key: str  # the path prefix ('' for the whole graph)
    label: str  # its last segment
    id: str = ""
    items: list[_Node | _Cluster] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Edge:
    src: str
    dst: str
    label: str


@dataclass(frozen=True, slots=True)
class _Diagram:
    title: tuple[str, ...]
    root: _Cluster
    edges: tuple[_Edge, ...]


def _last(key: str) -> str:
    return key.rpartition(".")[2]


def _parent(key: str) -> str:
    return key.rpartition(".")[0]


def _figures(params: int, macs: int) -> str:
    return f"{short(params)} params, {short(macs)} MACs"


def _unit_node(key: str, rs: list[LayerResult], first: int) -> _Node:
    """A node for one layer, or for a folded group of layers (``key``: the path or the group's prefix)."""
    side = all(r.side for r in rs)
    name = _last(key)
    if len(rs) == 1:
        r = rs[0]
        head = name if name == r.op else f"{name} ({r.op})"
        if r.params or r.macs:
            return _Node(f"n{first}", (head, _figures(r.params, r.macs)), "counted", side)
        return _Node(f"n{first}", (head,), "layer", side)
    t = Totals.of(rs)
    lines = [f"{name} ({len(rs)} layers)"]
    if t.params or t.macs:
        lines.append(_figures(t.params, t.macs))
    lines.append(f"out {rs[-1].output}")
    return _Node(f"n{first}", tuple(lines), "group", side)


def _diagram(report: Report, depth: int | None) -> _Diagram:
    """Nodes nested by path, and the edges between them."""
    layers = report.layers
    # units: one per layer, or one per group of layers sharing the first `depth` path segments
    keys: list[str] = []
    members: list[list[int]] = []
    unit_of: list[int] = []
    by_key: dict[str, int] = {}
    for i, r in enumerate(layers):
        if depth is None:
            u = len(keys)
            keys.append(r.path)
            members.append([])
        else:
            key = ".".join(r.path.split(".")[:depth])
            if key not in by_key:
                by_key[key] = len(keys)
                keys.append(key)
                members.append([])
            u = by_key[key]
        members[u].append(i)
        unit_of.append(u)
    nodes = [_unit_node(k, [layers[i] for i in m], m[0]) for k, m in zip(keys, members)]

    # subgraphs: every proper prefix of a unit's key; a unit whose key is itself a prefix (a join's layer,
    # whose path names its block) sits inside that block's subgraph
    prefixes = {".".join(k.split(".")[:n]) for k in keys for n in range(1, k.count(".") + 1)}
    root = _Cluster("", "")
    clusters = {"": root}

    def cluster(key: str) -> _Cluster:
        c = clusters.get(key)
        if c is None:
            parent = cluster(_parent(key))
            c = clusters[key] = _Cluster(key, _last(key))
            parent.items.append(c)
        return c

    root.items.append(_Node(INPUT_ID, ("input", str(report.input)), "io"))
    for k, node in zip(keys, nodes):
        cluster(k if k in prefixes else _parent(k)).items.append(node)
    root.items.append(_Node(OUTPUT_ID, ("output", str(report.output)), "io"))
    _number(root, iter(range(len(clusters))))

    # edges: one per source; between folded groups, one per pair of groups listing the shapes crossing it
    pairs: dict[tuple[str, str], list[str]] = {}
    edges: list[_Edge] = []

    def connect(src: str, dst: str, shape: str) -> None:
        if depth is None:
            edges.append(_Edge(src, dst, shape))
        elif src != dst:
            shapes = pairs.setdefault((src, dst), [])
            if shape not in shapes:
                shapes.append(shape)

    for i, r in enumerate(layers):
        for s in r.sources:
            src, shape = (INPUT_ID, report.input) if s < 0 else (nodes[unit_of[s]].id, layers[s].output)
            connect(src, nodes[unit_of[i]].id, str(shape))
    # the network's output: the report's output layer (-1 is the input itself, for a network of no layers)
    out = report.output_index if report.output_index < len(layers) else -1
    connect(nodes[unit_of[out]].id if out >= 0 else INPUT_ID, OUTPUT_ID, str(report.output))
    edges.extend(_Edge(s, d, ", ".join(shapes)) for (s, d), shapes in pairs.items())

    name = report.name + (f" [{report.variant}]" if report.variant else "")
    title = (
        name,
        f"input {report.input}, output {report.output}",
        f"params {num(report.total.params)}; MACs {num(report.total.macs)}",
    )
    return _Diagram(title, root, tuple(edges))


def _number(c: _Cluster, counter: Iterator[int]) -> None:
    """Give the subgraphs ids s0, s1... in the order they are written."""
    for item in c.items:
        if isinstance(item, _Cluster):
            item.id = f"s{next(counter)}"
            _number(item, counter)


# --------------------------------------------------------------------------- Mermaid

# Inside a quoted Mermaid label these characters either end the string, start HTML or markdown, or take part
# in Mermaid's entity handling (`#name;`, and its `style...:...#...;` rewrite): each is written as the entity
# `#<code>;`. `#` itself stays: with every `;` escaped, a `#` in a name can never start an entity.
_MERMAID_SPECIAL = frozenset('";:<>&`|%\\')

_MERMAID_CLASSES = (
    "classDef io fill:#f2f2f2,stroke:#888888",
    "classDef layer fill:#ffffff,stroke:#888888",
    "classDef counted fill:#dbe9f6,stroke:#4a78a8",
    "classDef group fill:#fff3c4,stroke:#b08d1a",
    "classDef side stroke-dasharray:4 3",
)


def mermaid_escape(text: str) -> str:
    """``text`` made safe inside a double-quoted Mermaid label (special characters as ``#<code>;``)."""
    return "".join(f"#{ord(c)};" if c in _MERMAID_SPECIAL or not c.isprintable() else c for c in text)


def _mermaid_label(lines: tuple[str, ...]) -> str:
    return '"' + "<br/>".join(mermaid_escape(line) for line in lines) + '"'


def _comment(text: str) -> str:
    """A Mermaid comment's text: one line, and no ``%`` (Mermaid reads ``%%{...}%%`` anywhere as a directive)."""
    return "".join(" " if not c.isprintable() else "#37;" if c == "%" else c for c in text)


def _mermaid(d: _Diagram) -> str:
    out = [f"%% {_comment(line)}" for line in d.title]
    out.append("flowchart TB")
    out.extend(f"  {c}" for c in _MERMAID_CLASSES)
    side: list[str] = []

    def walk(c: _Cluster, indent: str) -> None:
        for item in c.items:
            if isinstance(item, _Cluster):
                out.append(f"{indent}subgraph {item.id} [{_mermaid_label((item.label,))}]")
                walk(item, indent + "  ")
                out.append(f"{indent}end")
                continue
            label = _mermaid_label(item.lines)
            shape = f"([{label}])" if item.kind == "io" else f"[[{label}]]" if item.kind == "group" else f"[{label}]"
            out.append(f"{indent}{item.id}{shape}:::{item.kind}")
            if item.side:
                side.append(item.id)

    walk(d.root, "  ")
    out.extend(f'  {e.src} -->|"{mermaid_escape(e.label)}"| {e.dst}' for e in d.edges)
    if side:
        out.append(f"  class {','.join(side)} side")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- DOT

_DOT_FILL = {"io": "#f2f2f2", "layer": "#ffffff", "counted": "#dbe9f6", "group": "#fff3c4"}


def dot_escape(text: str) -> str:
    """``text`` made safe inside a double-quoted DOT string (``"`` and ``\\`` escaped, no control characters)."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif not c.isprintable():
            out.append("?")
        else:
            out.append(c)
    return "".join(out)


def _dot_label(lines: tuple[str, ...]) -> str:
    return '"' + "\\n".join(dot_escape(line) for line in lines) + '"'


def _dot(d: _Diagram) -> str:
    out = [
        "digraph cnncalc {",
        f'  graph [rankdir=TB, fontname="Helvetica", fontsize=12, labelloc=t, labeljust=l, style=rounded, '
        f'color="#999999", label={_dot_label(d.title)}];',
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", color="#666666", fontname="Helvetica", '
        "fontsize=10];",
        '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
    ]

    def walk(c: _Cluster, indent: str) -> None:
        for item in c.items:
            if isinstance(item, _Cluster):
                out.append(f"{indent}subgraph cluster_{item.id} {{")
                out.append(f"{indent}  label={_dot_label((item.label,))};")
                walk(item, indent + "  ")
                out.append(f"{indent}}}")
                continue
            attrs = [f"label={_dot_label(item.lines)}"]
            if item.kind == "io":
                attrs.append("shape=oval")
            if item.kind != "layer":
                attrs.append(f'fillcolor="{_DOT_FILL[item.kind]}"')
            if item.side:
                attrs.append('style="rounded,filled,dashed"')
            out.append(f"{indent}{item.id} [{', '.join(attrs)}];")

    walk(d.root, "  ")
    out.extend(f"  {e.src} -> {e.dst} [label={_dot_label((e.label,))}];" for e in d.edges)
    out.append("}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- entry point


def render_graph(report: Report, fmt: str, depth: int | None = None) -> str:
    """The layer graph of ``report`` as Mermaid (``fmt="mermaid"``) or Graphviz DOT (``fmt="dot"``) text.

    Layers are nested in subgraphs by path; ``depth=N`` (N >= 1) folds everything below path depth N into one
    node per group. Raises ``ValueError`` for an unknown format or a depth below 1.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown graph format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if depth is not None and depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    d = _diagram(report, depth)
    return _mermaid(d) if fmt == "mermaid" else _dot(d)
