"""Hostile input: every case must end with exit code 1 and one located error line, never a crash or a hang.

Each case builds a spec file in ``tmp_path`` and runs ``cnncalc check FILE`` through the ``cli`` fixture. The
assertions: exit code 1; no Python traceback; the first stdout line is ``FILE:LINE:COL: error: ...`` (only the
file-size limit may leave out the line and column); every further stdout line is an indented ``  = note``;
and the error line stays readable (at most ``MAX_LINE`` characters after the path), so an error never echoes
a hostile input back in full.

There are no timing assertions. To keep a regression from freezing the suite, each case runs in a forked
child (on POSIX) with its address space capped and a hang guard of ``CNNCALC_HANG_GUARD`` seconds (default
120): far above any expected run time, it only turns a hang or a memory bomb into one failed test. Cases that
are known to hang today are strict xfails that are not run (they would cost the whole guard on every run);
``CNNCALC_RUN_HANGS=1 python -m pytest tests/test_hostile.py`` runs them, e.g. to confirm a fix.

YAML-level cases run twice, with libyaml and with PyYAML's pure-Python parser (cnncalc's fallback).
"""

from __future__ import annotations

import json
import os
import random
import re
import select
import signal
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from tests.conftest import Cli

HANG_GUARD = float(os.environ.get("CNNCALC_HANG_GUARD", "120"))
RUN_HANGS = os.environ.get("CNNCALC_RUN_HANGS") == "1"
MEMORY_CAP = 2 * 1024**3  # bytes of address space the child may add to what it has at fork time
MAX_LINE = 500


class Outcome(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str


def _cap_memory() -> None:
    try:
        import resource

        with open("/proc/self/statm") as f:
            current = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (current + MEMORY_CAP, current + MEMORY_CAP))
    except (ImportError, OSError, ValueError):
        pass  # no /proc or no rlimits: run uncapped


def run_check(cli: Cli, path: Path) -> Outcome:
    """``cnncalc check PATH`` via the CLI fixture, in a forked child under a memory cap and the hang guard."""
    if not hasattr(os, "fork"):
        res = cli("check", str(path), code=None)
        return Outcome(res.exit_code, res.stdout, res.stderr)
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+: fork() in a multi-threaded process
        pid = os.fork()
    if pid == 0:  # the child: run, report through the pipe, exit without running pytest's clean-up
        try:
            os.close(read_fd)
            _cap_memory()
            res = cli("check", str(path), code=None)
            data = json.dumps([res.exit_code, res.stdout, res.stderr])
        except BaseException as exc:  # noqa: BLE001 - everything must reach the parent
            data = json.dumps([-1, "", f"test child failed: {type(exc).__name__}: {exc}"])
        try:
            with os.fdopen(write_fd, "w") as f:
                f.write(data)
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + HANG_GUARD
    try:
        while True:
            left = deadline - time.monotonic()
            ready = select.select([read_fd], [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                os.kill(pid, signal.SIGKILL)
                pytest.fail(
                    f"cnncalc check did not finish within the {HANG_GUARD:g} s hang guard (a hang, not a "
                    "performance bound)"
                )
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        os.waitpid(pid, 0)
    if not chunks:
        return Outcome(-1, "", "the test child died without a result (killed, e.g. out of memory)")
    code, out, err = json.loads(b"".join(chunks))
    return Outcome(code, out, err)


def assert_located_error(res: Outcome, path: Path, *, file_level: bool = False) -> None:
    """Exit 1, no traceback, one ``FILE:LINE:COL: error:`` line (plus indented notes) of readable length."""
    assert "Traceback" not in res.stdout + res.stderr, res.stdout + res.stderr
    assert res.exit_code == 1, f"exit {res.exit_code}\n--- stdout\n{res.stdout[:2000]}\n--- stderr\n{res.stderr[:2000]}"
    lines = res.stdout.splitlines()
    assert lines, res.stderr
    where = r"(:\d+:\d+)?" if file_level else r":[1-9]\d*:[1-9]\d*"
    assert re.match(re.escape(str(path)) + where + r": error: \S", lines[0]), lines[0][:500]
    assert all(line.startswith("  = ") for line in lines[1:]), "\n".join(lines[:5])[:2000]
    assert len(lines[0]) - len(str(path)) <= MAX_LINE, f"{len(lines[0])}-character error line: {lines[0][:300]}..."


# --------------------------------------------------------------------------- the cases

Builder = Callable[[Path], Path]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _layers(body: str, head: str = "") -> Callable[[Path], Path]:
    return lambda tmp: _write(tmp, f"input: 8x8x3\n{head}layers:\n{body}")


def billion_laughs(tmp: Path) -> Path:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return _write(tmp, "\n".join(lines) + "\ninput: 8x8x3\nlayers: [relu]\n")


def deep_block_mappings(tmp: Path) -> Path:
    # One space per level: 1,900 levels is as deep as a block mapping gets under the 2,000,000-byte file limit
    # (20,000 levels would need 200 MB of indentation, which the size limit rejects before parsing).
    depth = 1900
    body = "".join(" " * (i + 1) + f"a{i}:\n" for i in range(depth)) + " " * (depth + 1) + "relu\n"
    return _write(tmp, "input: 8x8x3\nlayers:\n" + body)


def ten_megabytes(tmp: Path) -> Path:
    return _write(tmp, "input: 8x8x3\nlayers:\n" + "  - relu\n" * (10_000_000 // 9))


def random_bytes(tmp: Path) -> Path:
    path = tmp / "hostile.yaml"
    path.write_bytes(random.Random(1234).randbytes(100_000))
    return path


def random_bytes_without_nul(tmp: Path) -> Path:
    path = tmp / "hostile.yaml"
    path.write_bytes(bytes(b or 1 for b in random.Random(5678).randbytes(100_000)))
    return path


def params_chain(step: Callable[[int], str], first: str, n: int) -> Callable[[Path], Path]:
    head = f"params:\n  p0: {first}\n" + "".join(f"  p{i}: {step(i - 1)}\n" for i in range(1, n + 1))
    return _layers("  - relu\n", head)


def shared_lists(tmp: Path) -> Path:
    """p12 is a list of lists ... 10**12 leaves deep in text, a few KB in memory (every level shares the last)."""
    head = "params:\n  p0: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"  p{i}: [{', '.join([f'p{i - 1}'] * 10)}]\n" for i in range(1, 13)
    )
    return _write(tmp, f"input: 8x8x3\n{head}layers:\n  - conv p12 1x1\n")


def empty_block_chain(tmp: Path) -> Path:
    blocks = "".join(f"  b{i}():\n    - b{i + 1} repeat=100000\n" for i in range(3)) + "  b3():\n    - relu repeat=0\n"
    return _write(tmp, f"input: 8x8x3\nblocks:\n{blocks}layers:\n  - b0\n")


def _rational_sum() -> str:
    """``1/2+1/3+1/5+...`` over primes, about 700 characters: each evaluation adds fractions of growing size."""
    primes = [p for p in range(2, 2000) if all(p % q for q in range(2, int(p**0.5) + 1))]
    text = ""
    for p in primes:
        if len(text) + len(f"1/{p}+") > 700:
            break
        text += f"1/{p}+"
    return text


def rational_repeat(tmp: Path) -> Path:
    """A 728-character rational expression in a 100,000-fold repeat: once 1.2 ms per iteration (minutes)."""
    return _write(tmp, f"input: 8x8x3\nlayers:\n  - conv int({_rational_sum()}in_c) 1x1 repeat=100000\n")


def heavy_default_no_layers(tmp: Path) -> Path:
    """No layer at all, but a block whose default is a long rational expression, called 10**6 times."""
    head = f"blocks:\n  b(x=int({_rational_sum()}i)):\n    - relu repeat=0\n"
    return _write(tmp, f"input: 8x8x3\n{head}layers:\n  - repeat: 1000\n    do:\n      - b repeat=1000\n")


def many_large_variants(tmp: Path) -> Path:
    """300 variants of a 100,000-layer network in 5 KB: once 17 minutes of `check`."""
    variants = "".join(f"  v{k}: {{n: {100_000 - k}}}\n" for k in range(1, 301))
    return _write(tmp, f"input: 8x8x3\nparams: {{n: 100000}}\nvariants:\n{variants}layers:\n  - relu repeat=n\n")


def block_fan_out(tmp: Path) -> Path:
    """Each block calls the next twice, 40 deep: 2**40 calls that make no layer and run no repeat."""
    blocks = (
        "".join(f"  b{k}():\n    - b{k + 1}\n    - b{k + 1}\n" for k in range(40)) + "  b40():\n    - relu repeat=0\n"
    )
    return _write(tmp, f"input: 8x8x3\nblocks:\n{blocks}layers:\n  - b0\n  - relu\n")


def compared_shared_lists(tmp: Path) -> Path:
    """Two lists of 10**12 leaves each (levels shared), compared: Python would walk every leaf."""
    head = "params:\n"
    for name in ("p", "q"):
        head += f"  {name}0: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
            f"  {name}{i}: [{', '.join([f'{name}{i - 1}'] * 10)}]\n" for i in range(1, 13)
        )
    return _write(tmp, f"input: 8x8x3\n{head}layers:\n  - conv (8 if p12 == q12 else 4) 1x1\n")


class Hostile(NamedTuple):
    build: Builder
    yaml_level: bool = False  # also run with PyYAML's pure-Python parser
    file_level: bool = False  # the error may name the file without a line (the size limit)
    xfail: str | None = None
    hangs: bool = False  # a known hang: not run unless CNNCALC_RUN_HANGS=1


HANG = "hangs or exhausts memory: "
CASES: dict[str, Hostile] = {
    "billion-laughs-alias-bomb": Hostile(billion_laughs, yaml_level=True),
    "flow-sequences-20000-deep": Hostile(_layers("  - " + "[" * 20000 + "relu" + "]" * 20000 + "\n"), yaml_level=True),
    "flow-mappings-20000-deep": Hostile(
        _layers("  - " + "{a: " * 20000 + "relu" + "}" * 20000 + "\n"), yaml_level=True
    ),
    "block-sequences-20000-deep": Hostile(_layers("  " + "- " * 20000 + "relu\n"), yaml_level=True),
    "block-mappings-1900-deep": Hostile(deep_block_mappings, yaml_level=True),
    "yaml-200001-nodes": Hostile(lambda tmp: _write(tmp, "input: 8x8x3\nlayers: [" + "relu, " * 200_001 + "relu]\n")),
    "file-10-megabytes": Hostile(ten_megabytes, file_level=True),
    "random-binary": Hostile(random_bytes),
    "random-binary-without-nul": Hostile(random_bytes_without_nul),
    "repeat-10**9": Hostile(_layers("  - relu repeat=10**9\n")),
    "nested-repeats-10**10-layers": Hostile(
        _layers("  - many repeat=100000\n", "blocks:\n  many():\n    - relu repeat=100000\n")
    ),
    "more-than-300000-layers": Hostile(_layers("  - relu repeat=100000\n" * 4)),
    "channels-10**30": Hostile(_layers("  - conv 10**30 3x3\n")),
    "expression-5000-characters": Hostile(_layers("  - conv " + "+".join(["1"] * 2500) + " 1x1\n")),
    "power-tower-2**2**2**2**2**2": Hostile(_layers("  - conv 2**2**2**2**2**2 1x1\n")),
    "parentheses-499-deep": Hostile(_layers("  - conv " + "(" * 499 + "8" + ")" * 499 + " 1x1\n")),
    "parentheses-2500-deep": Hostile(_layers("  - conv " + "(" * 2500 + "8" + ")" * 2500 + " 1x1\n")),
    "unary-minus-998-deep": Hostile(_layers("  - conv " + "-" * 998 + "8 1x1\n")),
    # Found while measuring, and bounded since: arithmetic results, list lengths, round() digits, iterations.
    "params-squared-10-times": Hostile(params_chain(lambda i: f"p{i}*p{i}", "2**256", 10)),
    "params-squared-30-times": Hostile(params_chain(lambda i: f"p{i}*p{i}", "2**256", 30)),
    "params-list-doubled-30-times": Hostile(params_chain(lambda i: f"p{i}+p{i}", "[1, 1]", 30)),
    "round-to-10**9-digits": Hostile(_layers("  - conv round(1/3, 10**9) 1x1\n")),
    "nested-repeats-of-nothing": Hostile(
        _layers("  - repeat: 100000\n    do:\n      - repeat: 100000\n        do: relu repeat=0\n")
    ),
    "block-repeats-of-nothing": Hostile(empty_block_chain),
    # Found by tests/test_fuzz.py: printing such a value walked every shared level (a hang).
    "shared-nested-lists-10**12-leaves": Hostile(shared_lists),
    # Issue 11: work is budgeted per file (expression units, expansion steps, layers over all variants).
    "rational-expression-in-repeat-100000": Hostile(rational_repeat),
    "no-layers-heavy-default-10**6-calls": Hostile(heavy_default_no_layers),
    "300-variants-of-100000-layers": Hostile(many_large_variants),
    "block-fan-out-2**40-calls-of-nothing": Hostile(block_fan_out),
    "shared-nested-lists-compared": Hostile(compared_shared_lists),
}


def _params() -> list[object]:
    out: list[object] = []
    for name, case in CASES.items():
        marks = []
        if case.xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=case.xfail, run=RUN_HANGS or not case.hangs))
        for loader in ("libyaml", "pure-python") if case.yaml_level else ("libyaml",):
            out.append(pytest.param(name, loader, id=f"{name}-{loader}" if case.yaml_level else name, marks=marks))
    return out


@pytest.mark.parametrize(("name", "loader"), _params())
def test_hostile(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, loader: str) -> None:
    case = CASES[name]
    if loader == "pure-python":
        monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    elif case.yaml_level and not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML is installed without libyaml")
    path = case.build(tmp_path)
    assert_located_error(run_check(cli, path), path, file_level=case.file_level)


@pytest.mark.parametrize("loader", ["libyaml", "pure-python"])
@pytest.mark.parametrize("where", ["input", "layer"])
def test_python_tags_are_never_executed(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loader: str, where: str
) -> None:
    if loader == "pure-python":
        monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    marker = tmp_path / "pwned"
    tag = f'!!python/object/apply:os.system ["echo pwned > {marker}"]'
    text = f"input: {tag}\nlayers: [relu]\n" if where == "input" else f"input: 8x8x3\nlayers:\n  - {tag}\n"
    path = _write(tmp_path, text)
    res = run_check(cli, path)
    assert not marker.exists(), "the YAML tag was executed"
    assert_located_error(res, path)
    assert "tags" in res.stdout.splitlines()[0]


def test_long_names_nested_deep_take_memory_per_layer(cli: Cli, tmp_path: Path) -> None:
    """60 nested blocks with 500-character names around `relu repeat=100000` (61 KB, within every limit): each
    layer's path is 30 KB of text, which once took more than 4 GB; paths are shared now, and the spec checks clean
    under the memory cap."""
    names = [f"b{k:02d}" + "x" * 497 for k in range(60)]
    lines = ["input: 8x8x3", "blocks:"]
    for k, name in enumerate(names):
        lines += [f"  {name}():", "    - relu repeat=100000" if k == 59 else f"    - {names[k + 1]}"]
    path = _write(tmp_path, "\n".join([*lines, "layers:", f"  - {names[0]}", ""]))
    assert path.stat().st_size < 62_000
    res = run_check(cli, path)
    assert res.exit_code == 0, res.stdout + res.stderr
    assert res.stdout.startswith("ok"), res.stdout


def test_show_of_deep_long_names_stays_small(tmp_path: Path) -> None:
    """60 nested blocks with 500-character names around relu repeat=100000: each path is ~30 KB; the table keeps
    only both ends of each (check: 114 MB; show: under 1 GB, measured in a subprocess)."""
    import subprocess
    import sys

    from tests.test_graph import _deep_names

    spec = tmp_path / "deep.yaml"
    spec.write_text(_deep_names(60, 500, 100_000), encoding="utf-8")
    code = (
        "import resource, sys\n"
        "from cnncalc.cli import cli\n"
        f"sys.argv = ['cnncalc', 'show', {str(spec)!r}, '--width', '100']\n"
        "try:\n    cli(prog_name='cnncalc')\nexcept SystemExit as e:\n    code = e.code\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "relu#100000" in res.stdout
    assert int(res.stderr.strip().splitlines()[-1]) < 1_000_000  # KiB: under 1 GB
