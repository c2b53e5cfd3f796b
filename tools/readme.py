"""Regenerate the generated parts of README.md from the code (and check them in tests).

The README holds blocks between ``<!-- generated:NAME -->`` and ``<!-- end:NAME -->``:

* ``layers``: the table of layer types, from ``cnncalc.layers.LAYER_TYPES``;
* ``help``: ``cnncalc --help`` and every command's ``--help``;
* ``example``: ``cnncalc show alexnet`` at 100 columns;
* ``library``: ``cnncalc list --format json`` as a Markdown table.

Usage: ``python tools/readme.py`` rewrites README.md; ``python tools/readme.py --check`` exits 1 when it drifted.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def _run(*args: str) -> str:
    from cnncalc.cli import cli

    result = CliRunner(env={"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}).invoke(
        cli, list(args), prog_name="cnncalc"
    )
    return result.stdout


def _default(v: object) -> str:
    from fractions import Fraction

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Fraction):
        return f"{float(v):g}"
    return str(v)


def layers_table() -> str:
    """The layer-type table, one row per registry entry (each entry's ``doc_row``)."""
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


def help_text() -> str:
    """Every command's --help."""
    from cnncalc.cli import cli

    parts = ["```", "$ cnncalc --help", _run("--help").rstrip(), "```"]
    for name in sorted(cli.commands):
        parts += ["", "```", f"$ cnncalc {name} --help", _run(name, "--help").rstrip(), "```"]
    return "\n".join(parts)


def example() -> str:
    """A sample show table."""
    return "```\n$ cnncalc show alexnet\n" + _run("show", "alexnet").rstrip() + "\n```"


def library() -> str:
    """The bundled specs as a Markdown table."""
    rows = json.loads(_run("list", "--format", "json"))
    out = ["| name | input | output | params | MACs | file |", "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        shape = "x".join(map(str, r["input"]))
        outs = "x".join(map(str, r["output"]))
        variant = " (variant)" if r["variant"] else ""
        out.append(f"| `{r['name']}` | {shape} | {outs} | {r['params']:,} | {r['macs']:,} | {r['file']}{variant} |")
    return "\n".join(out)


VIEWS = (
    ("share bars and element-wise ops", ("show", "resnet18", "--depth", "1", "--bars", "--ops")),
    ("memory", ("show", "mobilenet-v2", "--depth", "1", "--memory", "--dtype", "fp16", "--optimizer", "adam")),
    ("latency estimate", ("show", "resnet50", "--depth", "1", "--device", "nvidia-t4", "--dtype", "fp16")),
    (
        "comparison with a per-branch breakdown",
        ("compare", "inception-naive", "inception-bottleneck", "--depth", "2", "--bars"),
    ),
    ("what-if: another input size", ("show", "resnet50", "--input", "448x448x3", "--depth", "1")),
    ("explain one layer", ("explain", "alexnet", "pool1")),
)


def views() -> str:
    """One example of each view, and the graph as a Mermaid block GitHub renders."""
    parts = []
    for title, args in VIEWS:
        parts += [f"**{title}**", "", "```", "$ cnncalc " + " ".join(args), _run(*args).rstrip(), "```", ""]
    parts += [
        "**the layer graph** (`cnncalc graph inception-bottleneck`, Mermaid, rendered by GitHub)",
        "",
        "```mermaid",
        _run("graph", "inception-bottleneck").rstrip(),
        "```",
    ]
    return "\n".join(parts)


SECTIONS = {"layers": layers_table, "help": help_text, "example": example, "library": library, "views": views}


def render(text: str) -> str:
    """README text with every generated block refreshed."""
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(<!-- end:{name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- generated:{name} --> block")
        body = make()
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    current = README.read_text(encoding="utf-8")
    fresh = render(current)
    if "--check" in argv:
        if fresh != current:
            print("README.md is out of date: run python tools/readme.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
