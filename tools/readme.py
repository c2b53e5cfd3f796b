"""Regenerate the generated blocks of README.md and docs/*.md from the code (and check them in tests).

A page holds blocks between ``<!-- generated:KIND ARGS -->`` and ``<!-- end:KIND -->``; everything between the
two markers is rewritten from KIND and ARGS, everything outside them is hand-written:

* ``run [exit=N] cnncalc ARGS``: the command and what it prints (standard output and error, as a terminal shows
  them), run in-process at 100 columns with colour off, in a scratch folder holding the files the page has
  declared so far (see below) and ``architectures/`` (the bundled specs, as in a checkout). A command that exits non-zero must say so (``exit=1``), so an example that starts
  failing, or stops failing, breaks the docs check;
* ``mermaid cnncalc ARGS``: the command's output as a Mermaid block (GitHub draws it);
* ``python``: runs the page's preceding python code block in the scratch folder and shows what it prints;
* ``file NAME``: the file NAME as the page's declarations have assembled it so far;
* ``excerpt PATH KEY...``: the top-level sections KEY... of the repository's file PATH (a bundled spec);
* ``commands``: ``cnncalc --help``, then per command its ``--help`` and, where :data:`EXAMPLES` names one, an
  example run;
* ``toc``: a list of links to the commands' sections;
* ``library``: the bundled specs, one table per file (a family and its variants);
* ``limits``: the size limits of specs, from the constants the code enforces;
* ``modules``: the modules of the ``cnncalc`` package, each with the first sentence of its docstring;
* ``tools``: the scripts in ``tools/`` and ``bench/``, each with the first sentence of its docstring.

Files for ``run``: ``<!-- file:NAME -->`` right before a yaml code block declares the file NAME. The first
declaration of NAME is the whole file; a later one holds only some top-level sections (``layers:``,
``blocks:``, ``expect:``, ...): each replaces the section of that key, in place, and a new key is added at the
end. So a tutorial shows only what changes at each step, and every output is that of the file as it stands.

The pages are README.md and every docs/*.md that has a block; docs/ops.md and docs/diagnostics.md are written
whole by tools/docs.py.

Usage: ``python tools/readme.py`` rewrites the pages; ``python tools/readme.py --check`` exits 1 when one
drifted.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import shlex
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
WIDTH = 100
ENV = {"COLUMNS": str(WIDTH), "NO_COLOR": "1", "TERM": "dumb"}

# The example run under each command in docs/commands.md (the arguments after `cnncalc`).
EXAMPLES: dict[str, str] = {
    "check": "check architectures/inception-naive.yaml architectures/inception-bottleneck.yaml",
    "compare": "compare inception-naive inception-bottleneck",
    "devices": "devices",
    "explain": "explain alexnet conv1",
    "export": "export inception-bottleneck --to pytorch",
    "graph": "graph lenet5",
    "show": "show lenet5",
    "schema": "",  # the Schema is long JSON: its help says what it is for
    "plot": "",  # writes a picture (an optional extra, matplotlib)
    "list": "",  # the whole library is docs/library.md
    "verify": "",  # needs torch, which cnncalc never depends on
}

BLOCK = re.compile(r"<!-- generated:(?P<kind>[a-z]+)(?P<args>[^\n]*?) -->\n(?P<body>.*?)<!-- end:(?P=kind) -->", re.S)
FILE = re.compile(r"<!-- file:(?P<name>[\w.-]+) -->\n```yaml\n(?P<text>.*?)```\n", re.S)
PYTHON = re.compile(r"```python\n(?P<code>.*?)```\n", re.S)
SECTION = re.compile(r"^[A-Za-z_][\w-]*:", re.M)


class DocError(Exception):
    """A block that cannot be rendered: its page, its marker and why."""


# --------------------------------------------------------------------------- running cnncalc


@contextlib.contextmanager
def _scratch(files: dict[str, str]) -> Iterator[None]:
    """Work in a new folder holding ``files``, ``architectures/`` and ``tests/`` (as in a checkout); then come back."""
    here = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "architectures").symlink_to(ROOT / "architectures", target_is_directory=True)
        (Path(tmp) / "tests").symlink_to(ROOT / "tests", target_is_directory=True)  # fixtures, as in a checkout
        for name, text in files.items():
            (Path(tmp) / name).write_text(text, encoding="utf-8")
        os.chdir(tmp)
        try:
            yield
        finally:
            os.chdir(here)


def invoke(args: list[str], files: dict[str, str]) -> tuple[int, str]:
    """``cnncalc ARGS`` in-process in a scratch folder holding ``files``: (exit status, what a terminal shows)."""
    from cnncalc.cli import cli

    with _scratch(files):
        result = CliRunner(env=ENV).invoke(cli, args, prog_name="cnncalc")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise DocError(f"cnncalc {shlex.join(args)} raised {result.exception!r}")
    return result.exit_code, result.output


def _run(*args: str) -> str:
    """``cnncalc ARGS``' standard output (no files, any exit status)."""
    from cnncalc.cli import cli

    return CliRunner(env=ENV).invoke(cli, list(args), prog_name="cnncalc").stdout


def run_block(args: str, files: dict[str, str]) -> str:
    """``run [exit=N] cnncalc ARGS``: the command line and its output."""
    words = shlex.split(args)
    want = 0
    if words and words[0].startswith("exit="):
        want = int(words.pop(0).removeprefix("exit="))
    if not words or words[0] != "cnncalc":
        raise DocError(f"a run block runs `cnncalc ...`, got {args!r}")
    code, out = invoke(words[1:], files)
    if code != want:
        raise DocError(f"`{shlex.join(words)}` exited {code}, the block says {want}:\n{out}")
    return "```\n$ " + " ".join(words) + "\n" + out.rstrip() + "\n```"


def mermaid_block(args: str, files: dict[str, str]) -> str:
    """``mermaid cnncalc graph ...``: the command's output as a Mermaid block."""
    words = shlex.split(args)
    if words[:2] != ["cnncalc", "graph"]:
        raise DocError(f"a mermaid block runs `cnncalc graph ...`, got {args!r}")
    code, out = invoke(words[1:], files)
    if code:
        raise DocError(f"`{args}` exited {code}:\n{out}")
    return "```mermaid\n" + out.rstrip() + "\n```"


def python_block(code: str, files: dict[str, str]) -> str:
    """What ``code`` prints, run in a scratch folder holding ``files``."""
    out = io.StringIO()
    try:
        with _scratch(files), contextlib.redirect_stdout(out):
            exec(compile(code, "<docs example>", "exec"), {"__name__": "__docs__"})  # noqa: S102 - our own page
    except Exception as err:  # noqa: BLE001 - any failure of the example is the page's problem
        raise DocError(f"the python example fails: {err!r}") from err
    return "```\n" + out.getvalue().rstrip() + "\n```"


# --------------------------------------------------------------------------- spec files built up in a page


def _sections(text: str) -> list[tuple[str, str]]:
    """A spec's text cut at its top-level keys: (key, text up to the next key); ("", ...) for a preamble."""
    out: list[tuple[str, str]] = []
    key, chunk = "", ""
    for line in text.splitlines(keepends=True):
        m = SECTION.match(line)
        if m:
            if key or chunk:
                out.append((key, chunk))
            key, chunk = m.group(0)[:-1], ""
        chunk += line
    if key or chunk:
        out.append((key, chunk))
    return out


def merge(current: str, fragment: str) -> str:
    """``current`` with each top-level section of ``fragment`` replacing its namesake (new keys at the end)."""
    have = _sections(current)
    keys = [k for k, _ in have]
    for key, chunk in _sections(fragment):
        if not key:
            raise DocError(f"a partial file starts with a top-level key, not {chunk[:40]!r}")
        if key in keys:
            have[keys.index(key)] = (key, chunk)
        else:
            have.append((key, chunk))
            keys.append(key)
    return "".join(chunk if chunk.endswith("\n") else chunk + "\n" for _, chunk in have)


def file_block(args: str, files: dict[str, str]) -> str:
    """``file NAME``: the file as assembled so far."""
    name = args.strip()
    if name not in files:
        raise DocError(f"no file {name!r} declared before this block")
    return "```yaml\n" + files[name] + "```"


# --------------------------------------------------------------------------- whole-page blocks


def commands() -> str:
    """``cnncalc --help``, then each command's ``--help`` and example run."""
    from cnncalc.cli import cli

    parts = ["```", "$ cnncalc --help", _run("--help").rstrip(), "```"]
    for name in sorted(cli.commands):
        command = cli.commands[name]
        parts += ["", f"## {name}", "", (command.get_short_help_str(limit=200) or name), ""]
        parts += ["```", f"$ cnncalc {name} --help", _run(name, "--help").rstrip(), "```"]
        example = EXAMPLES.get(name)
        if example:
            parts += ["", "Example:", "", run_block("cnncalc " + example, {})]
    return "\n".join(parts)


def toc() -> str:
    """Links to each command's section of docs/commands.md."""
    from cnncalc.cli import cli

    return "\n".join(
        f"- [`{name}`](#{name}): {cli.commands[name].get_short_help_str(limit=90)}" for name in sorted(cli.commands)
    )


def _rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(_run("list", "--format", "json"))
    return rows


def library() -> str:
    """The bundled specs, one table per file (a family): each name with its title, shapes and totals."""
    from cnncalc.library import library_dir
    from cnncalc.spec import load_spec

    groups: dict[str, list[dict[str, object]]] = {}
    for r in _rows():
        groups.setdefault(str(r["file"]), []).append(r)
    files = sorted(groups, key=lambda f: f.removesuffix(".yaml"))
    out = [
        "Families: " + " · ".join(f"[{f.removesuffix('.yaml')}](#{_slug(f.removesuffix('.yaml'))})" for f in files),
        "",
    ]
    for file in files:
        rows = groups[file]
        spec = load_spec(library_dir() / file)
        variants = len(spec.variants)
        more = f", {variants} variant{'s' if variants != 1 else ''}" if variants else ""
        out += [f"### {file.removesuffix('.yaml')}", "", f"[`architectures/{file}`](../architectures/{file}){more}", ""]
        out += ["| name | title | input | output | params | MACs |", "|---|---|---:|---:|---:|---:|"]
        for r in sorted(rows, key=lambda r: (r["variant"] is not None, str(r["name"]))):
            variant = spec.by_name.get(str(r["variant"])) if r["variant"] else None
            title = spec.name if variant is None else variant.title or f"variant of {spec.name}"
            shape = "x".join(map(str, r["input"]))  # type: ignore[call-overload]
            outs = "x".join(map(str, r["output"]))  # type: ignore[call-overload]
            out.append(f"| `{r['name']}` | {_cell(title)} | {shape} | {outs} | {r['params']:,} | {r['macs']:,} |")
        out.append("")
    return "\n".join(out).rstrip()


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation other than - and _ dropped, spaces to -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _summary(source: str) -> str:
    doc = ast.get_docstring(ast.parse(source)) or ""
    text = " ".join(doc.split("\n\n")[0].split())
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text).replace("``", "`")
    return text


def modules() -> str:
    """Every module of the cnncalc package (subpackages too), with the first paragraph of its docstring."""
    import cnncalc

    package = Path(cnncalc.__file__).resolve().parent
    out = ["| module | what it holds |", "|---|---|"]
    for path in sorted(package.rglob("*.py"), key=lambda p: p.relative_to(package).parts):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(package).as_posix()
        out.append(f"| `{rel}` | {_cell(_summary(path.read_text(encoding='utf-8')))} |")
    return "\n".join(out)


def tools() -> str:
    """The scripts in tools/ and bench/ with the first paragraph of their docstrings."""
    out = ["| script | what it does |", "|---|---|"]
    for path in sorted([*(ROOT / "tools").glob("*.py"), *(ROOT / "bench").glob("*.py")]):
        if path.name == "__init__.py":
            continue
        rel = path.relative_to(ROOT).as_posix()
        out.append(f"| `{rel}` | {_cell(_summary(path.read_text(encoding='utf-8')))} |")
    return "\n".join(out)


def limits() -> str:
    """The limits that stop hostile input early, from the constants the reader, expander and evaluator use."""
    from cnncalc import expr, graph, spec

    lim = spec.LIMITS
    rows = [
        (
            "spec file",
            f"{lim['file_bytes']:,} bytes of UTF-8 (UTF-16, NUL bytes, control characters and U+2028 refused)",
        ),
        (
            "YAML",
            f"nesting {lim['yaml_depth']} levels, {lim['yaml_nodes']:,} nodes; no anchors, aliases, merge keys, tags "
            "or second documents",
        ),
        (
            "expressions",
            f"{expr.MAX_EXPR_CHARS:,} characters; exponents up to {expr.MAX_POWER}; every number up to "
            f"{expr.MAX_BITS:,} bits; lists up to {expr.MAX_LIST:,} values",
        ),
        ("sizes", f"every dimension, channel count, kernel and stride up to {graph.MAX_SIZE:,} (2^31 - 1)"),
        (
            "expansion",
            f"`repeat` up to {graph.MAX_REPEAT:,}; {graph.MAX_ITERATIONS:,} repeat iterations in all; "
            f"{graph.MAX_NODES:,} layers; blocks nested {graph.MAX_BLOCK_DEPTH} deep; fractals of "
            f"{graph.MAX_FRACTAL} columns",
        ),
        (
            "per file (the spec and all its variants)",
            f"{graph.MAX_FILE_LAYERS:,} layers, {graph.MAX_FILE_STEPS:,} expansion steps, "
            f"{graph.MAX_FILE_EXPR:,} units of expression work",
        ),
    ]
    return "\n".join(["| limit | value |", "|---|---|", *(f"| {a} | {_cell(b)} |" for a, b in rows)])


def layers_table() -> str:
    """The layer-type table, one row per registry entry (each entry's ``doc_row``); docs/ops.md is the reference."""
    from cnncalc.layers import LAYER_TYPES

    cols = {
        "op": "op (aliases)",
        "what": "what it is",
        "positional": "positional",
        "keywords": "keywords (default)",
        "params": "params",
        "macs": "MACs",
        "ops": "ops (`--ops`)",
        "field": "receptive field",
    }
    rows = ["| " + " | ".join(cols.values()) + " |", "|" + "---|" * len(cols)]
    for lt in LAYER_TYPES.values():
        row = lt.doc_row()
        rows.append("| " + " | ".join(row[k].replace("|", "\\|") for k in cols) + " |")
    return "\n".join(rows)


def excerpt_block(args: str, files: dict[str, str]) -> str:
    """``excerpt PATH KEY...``: the top-level sections KEY... of the repository's file PATH, as they stand."""
    path, *keys = args.split()
    text = (ROOT / path).read_text(encoding="utf-8")
    chunks = dict(_sections(text))
    missing = [k for k in keys if k not in chunks]
    if not keys or missing:
        raise DocError(f"{path} has no top-level {', '.join(missing) or 'KEY (name at least one)'}")
    return "```yaml\n" + "".join(chunks[k] for k in keys).rstrip("\n") + "\n```"


def _page(make: Callable[[], str]) -> Callable[[str, dict[str, str]], str]:
    def block(args: str, files: dict[str, str]) -> str:
        if args:
            raise DocError("this kind of block takes no arguments")
        return make()

    return block


BLOCKS: dict[str, Callable[[str, dict[str, str]], str]] = {
    "run": run_block,
    "mermaid": mermaid_block,
    "file": file_block,
    "excerpt": excerpt_block,
    "commands": _page(commands),
    "toc": _page(toc),
    "limits": _page(limits),
    "library": _page(library),
    "modules": _page(modules),
    "tools": _page(tools),
    "layers": _page(layers_table),
}


# --------------------------------------------------------------------------- pages


def render(text: str, page: str = "README.md") -> str:
    """``text`` with every generated block rewritten; files and python code are taken in page order."""
    files: dict[str, str] = {}
    out: list[str] = []
    pos = 0
    events = sorted([*FILE.finditer(text), *BLOCK.finditer(text)], key=lambda m: m.start())
    for m in events:
        if m.start() < pos:
            raise DocError(f"{page}: a file declaration overlaps a generated block at offset {m.start()}")
        out.append(text[pos : m.end()] if m.re is FILE else text[pos : m.start("body")])
        if m.re is FILE:
            name, body = m.group("name"), m.group("text")
            files[name] = merge(files[name], body) if name in files else body
        else:
            kind, args = m.group("kind"), m.group("args").strip()
            try:
                if kind in BLOCKS:
                    body = BLOCKS[kind](args, files)
                elif kind == "python":
                    code = list(PYTHON.finditer(text, 0, m.start()))
                    if not code:
                        raise DocError("no python code block before it")
                    body = python_block(code[-1].group("code"), files)
                else:
                    raise DocError(f"unknown kind of block {kind!r}")
            except DocError as err:
                raise DocError(f"{page}: <!-- generated:{kind} {args} -->: {err}") from None
            out.append(body + "\n" + f"<!-- end:{kind} -->")
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def pages() -> Iterator[Path]:
    """README.md and every docs page that has a generated block or a file declaration."""
    yield README
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        if BLOCK.search(text) or FILE.search(text):
            yield path


def main(argv: list[str]) -> int:
    stale = []
    for path in pages():
        current = path.read_text(encoding="utf-8")
        try:
            fresh = render(current, path.relative_to(ROOT).as_posix())
        except DocError as err:
            print(err, file=sys.stderr)
            return 1
        if fresh == current:
            continue
        if "--check" in argv:
            stale.append(path.relative_to(ROOT).as_posix())
        else:
            path.write_text(fresh, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)}: run python tools/readme.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
