"""The JSON Schema shipped for editors accepts every bundled spec and rejects structural mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

import cnncalc
from cnncalc.library import library_files
from tests.conftest import Cli

SCHEMA = json.loads((Path(cnncalc.__file__).resolve().parent / "spec.schema.json").read_text())


def _validate(text: str) -> None:
    jsonschema.validate(yaml.safe_load(text), SCHEMA, cls=jsonschema.Draft202012Validator)


def test_schema_is_a_valid_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("path", library_files(), ids=lambda p: p.stem)
def test_bundled_specs_validate(path: Path) -> None:
    _validate(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "text",
    [
        "input: 8x8x1\nlayer: [relu]\n",  # misspelt key
        "input: 8x8\nlayers: [relu]\n",  # not HxWxC
        "input: 8x8x1\nlayers: [relu]\nrounding: up\n",
        "input: 8x8x1\nlayers:\n  - concat: [relu]\n    expct: 8x8x1\n",
        "input: 8x8x1\nlayers:\n  - repeat: 2\n",  # repeat without do
        "input: 8x8x1\nlayers: [relu]\nexpect: {param: 3}\n",
    ],
)
def test_schema_rejects_mistakes(text: str) -> None:
    with pytest.raises(jsonschema.ValidationError):
        _validate(text)


def test_schema_command_prints_it(cli: Cli) -> None:
    assert json.loads(cli("schema").stdout) == SCHEMA
