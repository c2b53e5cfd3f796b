"""Start-up stays light: a plain `show` imports no heavy module (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "numpy",
    "jsonschema",
    "matplotlib",
    "torch",
    "pandas",
    "scipy",
    "cnncalc.render.plot",
    "cnncalc.devices",
    "cnncalc.render.diagram",
)


def _modules_after(*argv: str) -> set[str]:
    code = (
        "import json, sys\n"
        f"sys.argv = ['cnncalc', *{list(argv)!r}]\n"
        "from cnncalc.cli import cli\n"
        "try:\n    cli(prog_name='cnncalc')\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_plain_show_imports_nothing_heavy() -> None:
    loaded = _modules_after("show", "resnet152")
    assert "cnncalc.render" in loaded and "yaml" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_check_and_json_stay_light_too() -> None:
    for argv in (
        ("check", "architectures", "-q"),
        ("show", "alexnet", "--format", "json"),
        ("explain", "alexnet", "conv1"),
    ):
        loaded = _modules_after(*argv)
        assert not loaded & set(HEAVY), (argv, sorted(loaded & set(HEAVY)))
