"""Graph export (Mermaid and DOT): counts, nesting, folding, escaping, determinism and golden files.

Both formats are read back here by small strict parsers (every line must be one of the statements the
exporter writes), so the tests need neither Mermaid nor Graphviz; when Graphviz's ``dot`` is installed it
must also accept the output.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from dataclasses import dataclass, field

import pytest

from cnncalc.analysis import Report
from cnncalc.api import analyze_spec
from cnncalc.render import short
from cnncalc.render.diagram import FORMATS, dot_escape, mermaid_escape, render_graph
from tests.conftest import check_golden
from tests.helpers import run

CHAIN = "input: 8x8x3\nlayers:\n  - conv 4 3x3 pad=1\n  - relu\n  - maxpool 2x2 stride=2\n  - fc 10\n"
BRANCHY = """\
input: 16x16x8
layers:
  - stem: conv 8 3x3 pad=1, bn, relu
  - mod:
      concat:
        - conv 4 1x1
        - - conv 4 1x1
          - conv 6 3x3 pad=1
        - maxpool 3x3 stride=1 pad=1, conv 2 1x1
  - res:
      add:
        - conv 12 3x3 pad=1, bn
        - identity
  - aux:
      side: gap, fc 3
      from: stem
  - head:
      - gap
      - fc 10
"""


# --------------------------------------------------------------------------- strict readers of the two formats


@dataclass
class Parsed:
    """What a diagram declares: nodes (id -> label lines), edges, subgraphs (id -> label) and nesting."""

    nodes: dict[str, list[str]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    parent: dict[str, str] = field(default_factory=dict)  # node or subgraph id -> enclosing subgraph id ('' top)
    edges: list[tuple[str, str, str]] = field(default_factory=list)
    subgraphs: dict[str, str] = field(default_factory=dict)
    side: list[str] = field(default_factory=list)


def _mermaid_decode(text: str) -> str:
    """Mermaid's own entity step (``#\\w+;``); the exporter must only ever produce numeric entities."""

    def one(m: re.Match[str]) -> str:
        assert m[1].isdigit(), f"named entity #{m[1]}; in a label"
        return chr(int(m[1]))

    return re.sub(r"#(\w+);", one, text)


_M_NODE = re.compile(r'(\w+)(\(\[|\[\[|\[)"([^"]*)"(\]\)|\]\]|\]):::(\w+)')
_M_SUB = re.compile(r'subgraph (\w+) \["([^"]*)"\]')
_M_EDGE = re.compile(r'(\w+) -->\|"([^"]*)"\| (\w+)')
_M_CLASS = re.compile(r"class ([\w,]+) side")


def parse_mermaid(text: str) -> Parsed:
    """Read the exporter's Mermaid, failing on any line it does not recognise or on unbalanced subgraphs."""
    p = Parsed()
    lines = text.splitlines()
    assert text.endswith("\n")
    while lines and lines[0].startswith("%% "):
        lines.pop(0)
    assert lines.pop(0) == "flowchart TB"
    stack = [""]
    for raw in lines:
        line = raw.strip()
        assert raw == "  " * (len(stack) - (line == "end")) + line, f"indentation: {raw!r}"
        # Mermaid drops the last ';' of any line matching these (meant for colours): only classDef lines may
        assert line.startswith("classDef ") or not re.search(r"(style|classDef).*:\S*#.*;", line), raw
        if line.startswith("classDef "):
            assert stack == [""]
        elif m := _M_SUB.fullmatch(line):
            assert m[1] not in p.subgraphs and m[1] not in p.nodes
            p.subgraphs[m[1]] = _mermaid_decode(m[2])
            p.parent[m[1]] = stack[-1]
            stack.append(m[1])
        elif line == "end":
            assert len(stack) > 1, "`end` without `subgraph`"
            stack.pop()
        elif m := _M_NODE.fullmatch(line):
            assert m[1] not in p.nodes and m[1] not in p.subgraphs, f"{m[1]} declared twice"
            assert (m[2], m[4]) in {("([", "])"), ("[[", "]]"), ("[", "]")}
            p.nodes[m[1]] = [_mermaid_decode(s) for s in m[3].split("<br/>")]
            p.kinds[m[1]] = m[5]
            p.parent[m[1]] = stack[-1]
        elif m := _M_EDGE.fullmatch(line):
            assert stack == [""], "edges are written after every subgraph is closed"
            assert m[1] in p.nodes and m[3] in p.nodes, f"edge to an undeclared node: {raw}"
            p.edges.append((m[1], m[3], _mermaid_decode(m[2])))
        elif m := _M_CLASS.fullmatch(line):
            p.side = m[1].split(",")
            assert all(n in p.nodes for n in p.side)
        else:
            raise AssertionError(f"unexpected Mermaid line {raw!r}")
    assert stack == [""], "a subgraph is not closed"
    return p


_DOT_STR = r'"((?:[^"\\]|\\.)*)"'
_D_NODE = re.compile(rf"(\w+) \[label={_DOT_STR}((?:, \w+=(?:\w+|\"[^\"\\]*\"))*)\];")
_D_SUB = re.compile(r"subgraph cluster_(\w+) \{")
_D_LABEL = re.compile(rf"label={_DOT_STR};")
_D_EDGE = re.compile(rf"(\w+) -> (\w+) \[label={_DOT_STR}\];")


def _dot_unescape(text: str) -> list[str]:
    lines: list[str] = []
    cur: list[str] = []
    chars = iter(text)
    for c in chars:
        if c == "\\":
            nxt = next(chars)
            assert nxt in '"\\n', f"unexpected escape \\{nxt}"
            if nxt == "n":
                lines.append("".join(cur))
                cur = []
                continue
            c = nxt
        cur.append(c)
    return [*lines, "".join(cur)]


def parse_dot(text: str) -> Parsed:
    """Read the exporter's DOT, failing on any line it does not recognise or on unbalanced braces."""
    p = Parsed()
    lines = text.splitlines()
    assert text.endswith("\n")
    assert lines.pop(0) == "digraph cnncalc {" and lines.pop() == "}"
    assert re.fullmatch(rf"  graph \[.*label={_DOT_STR}\];", lines.pop(0))
    assert lines.pop(0).startswith("  node [") and lines.pop(0).startswith("  edge [")
    stack = [""]
    expect_label = False
    for raw in lines:
        line = raw.strip()
        assert raw == "  " * (len(stack) - (line == "}")) + line, f"indentation: {raw!r}"
        if expect_label:
            m = _D_LABEL.fullmatch(line)
            assert m, f"a cluster starts with its label: {raw!r}"
            p.subgraphs[stack[-1]] = "\n".join(_dot_unescape(m[1]))
            expect_label = False
        elif m := _D_SUB.fullmatch(line):
            assert m[1] not in p.subgraphs and m[1] not in p.nodes
            p.parent[m[1]] = stack[-1]
            stack.append(m[1])
            expect_label = True
        elif line == "}":
            assert len(stack) > 1, "unbalanced }"
            stack.pop()
        elif m := _D_NODE.fullmatch(line):
            assert m[1] not in p.nodes and m[1] not in p.subgraphs, f"{m[1]} declared twice"
            p.nodes[m[1]] = _dot_unescape(m[2])
            p.parent[m[1]] = stack[-1]
            if "dashed" in m[3]:
                p.side.append(m[1])
        elif m := _D_EDGE.fullmatch(line):
            assert stack == [""]
            assert m[1] in p.nodes and m[2] in p.nodes, f"edge to an undeclared node: {raw}"
            p.edges.append((m[1], m[2], "\n".join(_dot_unescape(m[3]))))
        else:
            raise AssertionError(f"unexpected DOT line {raw!r}")
    assert stack == [""], "a cluster is not closed"
    return p


PARSERS = {"mermaid": parse_mermaid, "dot": parse_dot}


def parse(report: Report, fmt: str, depth: int | None = None) -> Parsed:
    return PARSERS[fmt](render_graph(report, fmt, depth))


def _ancestry(p: Parsed, ident: str) -> list[str]:
    """Labels of the subgraphs around ``ident``, outermost first."""
    out = []
    while p.parent[ident]:
        ident = p.parent[ident]
        out.append(p.subgraphs[ident])
    return out[::-1]


# --------------------------------------------------------------------------- counts and structure


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("text", [CHAIN, BRANCHY], ids=["chain", "branchy"])
def test_one_node_per_layer_and_one_edge_per_source(text: str, fmt: str) -> None:
    rep = run(text)
    p = parse(rep, fmt)
    assert len(p.nodes) == len(rep.layers) + 2  # + input and output
    assert len(p.edges) == sum(len(r.sources) for r in rep.layers) + 1  # + the output marker
    ids = [f"n{i}" for i in range(len(rep.layers))]
    assert set(p.nodes) == {"input", *ids, "output"}
    expected = [
        ("input" if s < 0 else f"n{s}", f"n{i}", str(rep.input if s < 0 else rep.layers[s].output))
        for i, r in enumerate(rep.layers)
        for s in r.sources
    ]
    assert p.edges[:-1] == expected
    assert p.edges[-1] == (f"n{len(rep.layers) - 1}", "output", str(rep.output))
    assert p.nodes["input"] == ["input", str(rep.input)] and p.nodes["output"] == ["output", str(rep.output)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_labels_nesting_and_side_heads(fmt: str) -> None:
    rep = run(BRANCHY)
    p = parse(rep, fmt)
    for i, r in enumerate(rep.layers):
        node = f"n{i}"
        name = r.path.rpartition(".")[2]
        assert p.nodes[node][0] == (name if name == r.op else f"{name} ({r.op})")
        if r.params or r.macs:
            assert fmt == "dot" or p.kinds[node] == "counted"
            assert p.nodes[node][1].endswith(" MACs") and " params, " in p.nodes[node][1]
        else:
            assert len(p.nodes[node]) == 1
        # the subgraphs around a layer spell its path; a join sits inside the block its path names
        segments = r.path.split(".")
        inner = segments if any(o.path.startswith(r.path + ".") for o in rep.layers) else segments[:-1]
        assert _ancestry(p, node) == inner
    assert sorted(p.side) == [f"n{i}" for i, r in enumerate(rep.layers) if r.side] != []
    # the side head's last layer is not the output: the main chain's is
    assert p.edges[-1][0] == f"n{len(rep.layers) - 1}" and not rep.layers[-1].side
    conv = rep.layers[0]
    assert p.nodes["n0"] == ["conv", f"{short(conv.params)} params, {short(conv.macs)} MACs"]


def test_short_numbers_and_exact_totals() -> None:
    rep = analyze_spec("inception-bottleneck")
    text = render_graph(rep, "mermaid")
    assert "%% params 346,720; MACs 271,351,808" in text  # the header states the totals exactly
    assert '"conv#2 (conv)<br/>111K params, 86.7M MACs"' in text  # nodes in short form
    dot = render_graph(rep, "dot")
    assert "params 346,720; MACs 271,351,808" in dot


# --------------------------------------------------------------------------- folding with depth


@pytest.mark.parametrize("fmt", FORMATS)
def test_depth_folds_groups(fmt: str) -> None:
    rep = run(BRANCHY)
    p = parse(rep, fmt, depth=1)
    tops = list(dict.fromkeys(r.path.split(".")[0] for r in rep.layers))
    assert tops == ["stem", "mod", "res", "aux", "head"]
    assert len(p.nodes) == len(tops) + 2 and not p.subgraphs
    mod = [r for r in rep.layers if r.path.split(".")[0] == "mod"]
    first = rep.layers.index(mod[0])
    params, macs = sum(r.params for r in mod), sum(r.macs for r in mod)
    assert p.nodes[f"n{first}"] == [
        f"mod ({len(mod)} layers)",
        f"{short(params)} params, {short(macs)} MACs",
        f"out {mod[-1].output}",
    ]
    # edges between groups, each pair once: three branches read stem's output but one edge enters `mod`
    pairs = [(s, d) for s, d, _ in p.edges]
    assert len(pairs) == len(set(pairs))
    assert pairs == [("input", "n0"), ("n0", "n3"), ("n3", "n9"), ("n0", "n13"), ("n9", "n15"), ("n15", "output")]
    assert first == 3 and p.side == ["n13"]  # the side head `aux`


@pytest.mark.parametrize("fmt", FORMATS)
def test_depth_keeps_outer_subgraphs_and_lists_every_shape_crossing(fmt: str) -> None:
    text = (
        "input: 8x8x3\nlayers:\n  - a:\n      - x: conv 4 1x1\n      - y: conv 6 1x1\n"
        "  - m:\n      concat:\n        - identity\n        - conv 2 1x1\n      from: x\n"
    )
    rep = run(text)
    p = parse(rep, fmt, depth=1)
    assert p.edges == [("input", "n0", "8x8x3"), ("n0", "n2", "8x8x6, 8x8x4"), ("n2", "output", "8x8x12")]
    p2 = parse(rep, fmt, depth=2)  # m.b1 and m.b2 fold; the join `m` itself is a layer in subgraph m
    assert set(p2.subgraphs.values()) == {"a", "m"}
    assert _ancestry(p2, "n4") == ["m"] and p2.nodes["n4"] == ["m (concat)"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_deep_depth_is_the_full_graph(fmt: str) -> None:
    rep = run(BRANCHY)
    assert render_graph(rep, fmt, depth=99) == render_graph(rep, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_layers_at_all(fmt: str) -> None:
    p = parse(run("input: 8x8x3\nlayers:\n  - repeat: 0\n    do: conv 4 1x1\n"), fmt)
    assert list(p.nodes) == ["input", "output"] and p.edges == [("input", "output", "8x8x3")]


def test_bad_arguments() -> None:
    rep = run(CHAIN)
    with pytest.raises(ValueError, match="unknown graph format"):
        render_graph(rep, "svg")
    with pytest.raises(ValueError, match="depth"):
        render_graph(rep, "dot", depth=0)


# --------------------------------------------------------------------------- escaping

NASTY = [
    "[bold]",
    'say "hi" \\N',
    "<b>x</b> & y;z:w",
    "end",
    "#quot;#59;%%{init}",
    "a|b`c`",
    "tab\there",
    "line\nbreak",
    "subgraph",
    "ünï ✓",
    "style x:#f00;",
    "#35",
]


def nasty_report() -> Report:
    """A report whose names contain everything a label must survive (specs restrict names; reports may not)."""
    rep = run("input: 8x8x3\nlayers:\n  - a:\n      - b:\n          - conv 4 3x3 pad=1\n          - relu\n  - fc 2\n")
    assert [r.path for r in rep.layers] == ["a.b.conv", "a.b.relu", "fc"]
    paths = [f"{NASTY[0]}.{NASTY[1]}.{NASTY[2]}", f"{NASTY[0]}.{NASTY[1]}.{NASTY[3]}", NASTY[4]]
    layers = tuple(r._replace(node=r.node._replace(path=p)) for r, p in zip(rep.layers, paths))
    last = rep.layers[2]
    rest = [last._replace(node=last.node._replace(path=n, inputs=(2 + k,))) for k, n in enumerate(NASTY[5:])]
    graph = dataclasses.replace(rep.graph, name='evil "name"\n%%{init: {}}%% \\')
    return dataclasses.replace(rep, layers=layers + tuple(rest), graph=graph)


@pytest.mark.parametrize("fmt", FORMATS)
def test_labels_survive_any_name(fmt: str) -> None:
    rep = nasty_report()
    text = render_graph(rep, fmt)
    p = PARSERS[fmt](text)  # every line still parses, and reads back as the names
    assert list(p.subgraphs.values()) == NASTY[:2]
    for i, r in enumerate(rep.layers):
        want = f"{r.path.rpartition('.')[2]} ({r.op})"
        if r.params or r.macs:
            want += f"\n{short(r.params)} params, {short(r.macs)} MACs"
        if fmt == "dot":  # DOT has no escape for a control character other than a newline
            want = want.replace("\t", "?")
        assert "\n".join(p.nodes[f"n{i}"]) == want
    assert all(re.fullmatch(r"n\d+|input|output", n) for n in p.nodes)
    assert all(re.fullmatch(r"s\d+", s) for s in p.subgraphs)
    if fmt == "mermaid":  # the title's comment can neither end early nor hold a `%%{...}%%` directive
        assert text.splitlines()[0] == '%% evil "name" #37;#37;{init: {}}#37;#37; \\'
        assert text.splitlines()[3] == "flowchart TB"


def test_escapers() -> None:
    assert mermaid_escape('a"b') == "a#34;b" and mermaid_escape("x;y") == "x#59;y"
    assert mermaid_escape("conv#2 (conv) [bold]") == "conv#2 (conv) [bold]"  # nothing to escape
    assert mermaid_escape("<br/>\n") == "#60;br/#62;#10;"
    assert dot_escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


# --------------------------------------------------------------------------- determinism, real specs, Graphviz


@pytest.mark.parametrize("fmt", FORMATS)
def test_deterministic(fmt: str) -> None:
    a = [render_graph(analyze_spec("googlenet"), fmt, d) for d in (None, 2)]
    b = [render_graph(analyze_spec("googlenet"), fmt, d) for d in (None, 2)]
    assert a == b


@pytest.mark.parametrize("name", ["googlenet", "resnet50", "inception-bottleneck", "densenet121"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_bundled_specs_parse(name: str, fmt: str) -> None:
    rep = analyze_spec(name)
    for depth in (None, 1, 2, 3):
        p = parse(rep, fmt, depth)
        assert p.edges[-1][1:] == ("output", str(rep.output))
        reached = {d for _, d, _ in p.edges} | {s for s, _, _ in p.edges}
        assert reached == set(p.nodes), "every node is connected"
        if depth is None:
            assert len(p.nodes) == len(rep.layers) + 2
            assert len(p.edges) == sum(len(r.sources) for r in rep.layers) + 1


DOT = shutil.which("dot")


@pytest.mark.skipif(DOT is None, reason="Graphviz `dot` is not installed")
@pytest.mark.parametrize("name", ["googlenet", "resnet50", "inception-bottleneck", None])
def test_graphviz_accepts_it(name: str | None) -> None:
    rep = nasty_report() if name is None else analyze_spec(name)
    for depth in (None, 2):
        res = subprocess.run(
            [str(DOT), "-Tsvg"],
            input=render_graph(rep, "dot", depth),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert res.returncode == 0 and "Error" not in res.stderr, res.stderr
        assert res.stdout.rstrip().endswith("</svg>")
        if name is None and depth is None:
            assert "&lt;b&gt;x&lt;/b&gt; &amp; y;z:w (conv)" in res.stdout


# --------------------------------------------------------------------------- golden files


@pytest.mark.parametrize("fmt", FORMATS)
def test_golden(fmt: str, update_golden: bool) -> None:
    out = render_graph(analyze_spec("inception-bottleneck"), fmt)
    check_golden(f"graph-inception-bottleneck.{'mmd' if fmt == 'mermaid' else 'dot'}", out, update_golden)
