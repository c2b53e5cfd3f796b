"""The package under test is the installed one, and an installed wheel finds its bundled data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cnncalc
from cnncalc.devices import load_devices
from cnncalc.library import find_spec, library_dir
from tests.conftest import ROOT

PACKAGE = Path(cnncalc.__file__).resolve().parent


def test_tests_never_import_the_checkout_root() -> None:
    # src/ layout: the repository root (on sys.path under `python -m pytest`) holds no importable cnncalc
    assert PACKAGE != ROOT / "cnncalc"
    assert not (ROOT / "cnncalc").exists()


@pytest.mark.skipif(PACKAGE == ROOT / "src" / "cnncalc", reason="editable install: the wheel's layout is not in use")
def test_wheel_ships_specs_schema_and_device_profiles() -> None:
    assert library_dir() == PACKAGE / "architectures"
    assert find_spec("vgg16").path.resolve().is_relative_to(PACKAGE)
    assert json.loads((PACKAGE / "spec.schema.json").read_text(encoding="utf-8"))["$schema"]
    assert load_devices()
    assert (PACKAGE / "py.typed").is_file()  # the API is typed for its users (PEP 561)
