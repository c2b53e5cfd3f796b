"""The docs stay true and findable: generated blocks match the code, every command and op has its section, every
link and repository path points somewhere, and the README's set-up commands are what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cnncalc.cli import cli
from cnncalc.layers import LAYER_TYPES
from tests.conftest import ROOT
from tools import docs, readme

PAGES = [readme.README, *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?^```[ \t]*$", re.S | re.M)
LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
CODE = re.compile(r"`([^`\n]+)`")
REPO_DIRS = ("src/", "tests/", "tools/", "docs/", "architectures/", "bench/", ".ci/")


def _prose(text: str) -> str:
    """``text`` without its fenced code blocks (their lines kept empty, so nothing moves)."""
    return FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a page (a repeated heading gets -1, -2, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for m in re.finditer(r"^#{1,6} (.+?)\s*$", _prose(path.read_text(encoding="utf-8")), re.M):
        slug = readme._slug(m.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# --------------------------------------------------------------------------- generated blocks


@pytest.mark.parametrize("page", list(readme.pages()), ids=_name)
def test_generated_blocks_are_up_to_date(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert readme.render(text, _name(page)) == text, "run: python tools/readme.py"


def test_every_page_with_a_block_is_rendered() -> None:
    rendered = set(readme.pages())
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        if "<!-- generated:" in text and page not in (docs.OPS, docs.DIAGNOSTICS):
            assert page in rendered, _name(page)


def test_a_stale_block_is_rewritten() -> None:
    page = "x\n<!-- generated:run cnncalc show inception-bottleneck -->\nold output\n<!-- end:run -->\ny\n"
    fresh = readme.render(page)
    assert "old output" not in fresh and "$ cnncalc show inception-bottleneck" in fresh and "271,351,808" in fresh
    assert fresh.startswith("x\n<!-- generated:run") and fresh.endswith("<!-- end:run -->\ny\n")
    assert readme.render(fresh) == fresh


def test_a_failing_example_must_say_so() -> None:
    with pytest.raises(readme.DocError, match="exited 1, the block says 0"):
        readme.render("<!-- generated:run cnncalc show no-such-spec -->\n<!-- end:run -->\n")
    with pytest.raises(readme.DocError, match="exited 0, the block says 1"):
        readme.render("<!-- generated:run exit=1 cnncalc show lenet5 -->\n<!-- end:run -->\n")
    with pytest.raises(readme.DocError, match="unknown kind"):
        readme.render("<!-- generated:nonsense -->\n<!-- end:nonsense -->\n")
    with pytest.raises(readme.DocError, match="python example fails"):
        readme.render("```python\n1 / 0\n```\n<!-- generated:python -->\n<!-- end:python -->\n")


def test_a_declared_file_is_built_up_by_its_top_level_sections() -> None:
    page = (
        "<!-- file:n.yaml -->\n```yaml\ncnncalc: 1\ninput: 8x8x3\nlayers:\n  - conv 4 3x3\n```\n"
        "<!-- generated:run cnncalc check n.yaml -->\n<!-- end:run -->\n"
        "<!-- file:n.yaml -->\n```yaml\nlayers:\n  - conv 4 3x3 pad=1   => 8x8x4\nexpect:\n  params: 113\n```\n"
        "<!-- generated:file n.yaml -->\n<!-- end:file -->\n"
        "<!-- generated:run exit=1 cnncalc check n.yaml -->\n<!-- end:run -->\n"
    )
    out = readme.render(page)
    whole = "```yaml\ncnncalc: 1\ninput: 8x8x3\nlayers:\n  - conv 4 3x3 pad=1   => 8x8x4\nexpect:\n  params: 113\n```"
    assert whole in out
    assert "expected 113, computed 112" in out  # 3*3*3*4 + 4: the check ran on the assembled file


# --------------------------------------------------------------------------- the README


def test_readme_opens_with_the_two_setup_commands_and_ci_runs_the_second() -> None:
    text = readme.README.read_text(encoding="utf-8")
    block = re.search(r"```\n(.*?)\n```", text, re.S)
    assert block is not None and text.index(block.group(0)) < 200, "the README opens with the commands"
    install, test = block.group(1).splitlines()
    assert "pip install ." in install and "cnncalc show" in install
    assert "pip install '.[dev]'" in test and "tools/check" in test
    check = (ROOT / "tools" / "check").read_text(encoding="utf-8")
    for step in ("ruff check", "ruff format --check", "mypy --strict", "pytest"):
        assert step in check, step
    assert test in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_is_short_and_leads_to_the_docs() -> None:
    text = readme.README.read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) <= 13_000, "the README is an entry point: move detail to docs/"
    for section in ("## Write your first spec", "## What cnncalc does not do", "## Conventions"):
        assert f"\n{section}\n" in text, section
    linked = {m.group("target").split("#")[0] for m in LINK.finditer(_prose(text))}
    assert "docs/README.md" in linked
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    index_links = {m.group("target").split("#")[0] for m in LINK.finditer(index)}
    for page in sorted((ROOT / "docs").glob("*.md")):
        if page.name != "README.md":
            assert page.name in index_links, f"docs/README.md does not link {page.name}"
            assert f"docs/{page.name}" in linked, f"README.md does not link docs/{page.name}"


# --------------------------------------------------------------------------- commands and ops


def test_every_command_is_documented() -> None:
    page = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    assert set(readme.EXAMPLES) <= set(cli.commands), "an example for a command that no longer exists"
    for name, command in cli.commands.items():
        assert command.help and "Example:" in command.help, name
        assert f"\n## {name}\n" in page and f"$ cnncalc {name} --help" in page, name


def test_every_op_is_documented_in_the_ops_page() -> None:
    page = docs.OPS.read_text(encoding="utf-8")
    for name in LAYER_TYPES:
        assert f"\n## {name}\n" in page, name
    assert "| `conv` (" not in readme.README.read_text(encoding="utf-8"), "the op table lives in docs/ops.md"


def test_every_module_is_in_the_development_guide() -> None:
    import cnncalc

    page = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    package = Path(cnncalc.__file__).resolve().parent
    for path in package.rglob("*.py"):
        if "__pycache__" not in path.parts:
            assert f"| `{path.relative_to(package).as_posix()}` |" in page, path.name


# --------------------------------------------------------------------------- links and paths


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_relative_link_points_to_a_file_and_anchor(page: Path) -> None:
    text = _prose(page.read_text(encoding="utf-8"))
    text = CODE.sub("", text)
    for m in LINK.finditer(text):
        target = m.group("target")
        if re.match(r"[a-z]+:", target):
            assert target.startswith("https://"), f"{_name(page)}: {target}"
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        assert dest.is_relative_to(ROOT), f"{_name(page)}: {target} leaves the repository"
        assert dest.exists(), f"{_name(page)}: {target} does not exist"
        if anchor:
            assert dest.suffix == ".md", f"{_name(page)}: {target}: an anchor in a file that is not a page"
            assert anchor in _anchors(dest), f"{_name(page)}: {target}: no such heading"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_nothing_refers_to_files_outside_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for bad in ("/work/", "/home/", "/Users/", "file://", "shared/design"):
        assert bad not in text, f"{_name(page)} mentions {bad}"
    for m in CODE.finditer(_prose(text)):
        path = m.group(1).strip()
        if re.search(r"[A-Z]{3,}|\s|[<>{}]", path):
            continue  # a placeholder (architectures/NAME.yaml) or not a path
        if path.startswith(REPO_DIRS):
            assert list(ROOT.glob(path.rstrip("/"))), f"{_name(page)}: `{path}` does not exist"
        elif re.fullmatch(r"[\w./-]+\.md", path):
            assert (ROOT / path).exists() or (page.parent / path).exists(), f"{_name(page)}: `{path}` is not here"
