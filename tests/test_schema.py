"""The JSON Schema shipped for editors: generated from the grammar, accepts every valid spec, rejects mistakes.

``src/cnncalc/spec.schema.json`` is written by ``python tools/docs.py`` from the syntax tree's definitions in
:mod:`cnncalc.spec`; these tests hold it to the parser three ways:

* every form the grammar accepts (``FORMS``: each top-level key, structural entry, long form, named form, value
  kind; scalars that YAML types as numbers or booleans where cnncalc reads text) parses *and* validates;
* the keys the schema allows in each mapping are the keys the parser allows (read from its own "allowed: ..."
  message, so a key added to the parser and not to the generator fails here);
* random specs drawn from the grammar (``tests.fuzzing.generated_specs``) that cnncalc accepts validate.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings

import cnncalc
from cnncalc import spec as S  # noqa: N812 - the grammar's constants
from cnncalc.errors import CnncalcError, SpecError
from cnncalc.graph import build_graph
from cnncalc.library import library_files
from cnncalc.spec import parse_spec
from tests.conftest import Cli
from tests.fuzzing import generated_specs
from tools import docs

SCHEMA_PATH = Path(cnncalc.__file__).resolve().parent / "spec.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _json(value: Any) -> Any:
    """YAML as an editor's JSON view: keys as text; scalars YAML 1.1 types oddly (dates) as text."""
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, datetime.date | bytes):
        return str(value)
    return value


def _validate(text: str) -> None:
    VALIDATOR.validate(_json(yaml.safe_load(text)))


def test_schema_is_generated_from_the_grammar() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == docs.schema_text(), "run: python tools/docs.py"


def test_schema_is_a_valid_schema_and_names_no_op() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    from cnncalc.layers import LAYER_TYPES

    words = set(re.findall(r'"([A-Za-z_0-9]+)"', json.dumps(SCHEMA)))
    ops = set(LAYER_TYPES) - set(S.STRUCTURAL) - {"identity"}
    assert not words & ops, f"the schema lists ops {sorted(words & ops)}; op lines are cnncalc's to check"


@pytest.mark.parametrize("path", library_files(), ids=lambda p: p.stem)
def test_bundled_specs_validate(path: Path) -> None:
    _validate(path.read_text(encoding="utf-8"))


HEAD = "input: 8x8x3\n"

#: One spec per accepted form of the grammar (README "The spec language"); each parses and validates.
FORMS = {
    "op-line": HEAD + "layers:\n  - conv 8 3x3 pad=1, bn, relu => 8x8x8\n",
    "layers-as-one-line": HEAD + "layers: conv 8 3x3\n",
    "layers-as-one-entry": HEAD + "layers:\n  concat: [conv 4 1x1, conv 4 1x1]\n",
    "flow-list": HEAD + "layers: [conv 8 3x3, relu]\n",
    "nested-list": HEAD + "layers:\n  - [conv 8 3x3, relu]\n  - - gap\n    - fc 10\n",
    "named-line": HEAD + "layers:\n  - conv1: conv 8 3x3, relu\n",
    "named-list": HEAD + "layers:\n  - stem:\n      - conv 8 3x3\n      - relu\n",
    "named-structural": HEAD + "layers:\n  - mix:\n      add:\n        - conv 3 1x1\n        - identity\n",
    "named-long-form": HEAD + "layers:\n  - conv1: {op: conv, out: 16, kernel: 3x3}\n",
    "long-form": HEAD
    + "layers:\n  - {op: conv, args: [8, 3x3], stride: 1, pad: {top: 1, bottom: 1, left: 1, right: 1},"
    " expect: 8x8x8}\n",
    "long-form-scalar-args": HEAD + "layers:\n  - {op: fc, args: 10}\n",
    "long-form-numbers": HEAD + "layers:\n  - {op: conv, out: 8, kernel: 3, bias: false, expect: 6x6x8}\n",
    "long-form-from": HEAD + "layers:\n  - a: conv 8 3x3 pad=1\n  - relu\n  - {op: identity, from: a}\n",
    "joins": HEAD
    + "layers:\n  - a: conv 4 1x1\n"
    + "".join(f"  - {j}:\n      - conv 4 1x1\n      - conv 4 1x1\n    from: [a]\n" for j in S.JOINS)
    + "  - concat: [identity, identity]\n    expect: 8x8x8\n",
    "join-from-text": HEAD + "layers:\n  - a: conv 3 1x1\n  - add: [identity]\n    from: a\n",
    "repeat": HEAD + "layers:\n  - repeat: 2\n    do: conv 3 3x3 pad=1\n    expect: 8x8x3\n",
    "repeat-expression": HEAD + "params: {n: 2}\nlayers:\n  - repeat: n + 1\n    do: [relu]\n",
    "if-then-else": HEAD
    + "params: {deep: true}\nlayers:\n  - if: deep\n    then: conv 3 3x3 pad=1\n    else: [identity]\n    expect: 8x8x3\n",
    "if-number": HEAD + "layers:\n  - if: 1\n    then: relu\n",
    "side": HEAD + "layers:\n  - a: conv 3 3x3 pad=1\n  - side: [gap, fc 10]\n    from: a\n  - relu\n",
    "fractal": HEAD + "layers:\n  - fractal: 2\n    do: conv 3 3x3 pad=1\n    join: mean\n    expect: 8x8x3\n",
    "blocks": HEAD + "blocks:\n  'unit(c, k=3)':\n    - conv c k pad=(k-1)//2\n  plain: relu\n"
    "layers:\n  - unit 8\n  - unit c=8 k=1\n  - plain\n",
    "params-variants": HEAD + "params:\n  width: 8\n  alpha: 0.5\n  flag: true\n  sizes: [1, 2]\n"
    "variants:\n  wide: {width: 16, input: 16x16x3, accuracy: {top1: 70.1, source: paper}}\n  1x: {alpha: 1}\n"
    "layers:\n  - conv int(width*alpha) 3x3\n",
    "defaults": HEAD + "defaults:\n  conv: {bias: false, pad: 1}\n  maxpool: {ceil: true}\nlayers:\n  - conv 8 3x3\n",
    "rounding-floor": HEAD + "rounding: floor\nlayers: [conv 8 3x3]\n",
    "rounding-ceil": HEAD + "rounding: ceil\nlayers: [conv 8 3x3]\n",
    "rounding-exact": HEAD + "rounding: exact\nlayers: [conv 8 3x3]\n",
    "text-scalars": HEAD + "cnncalc: 1\nname: 42\ndescription: 42\nsource: true\nnotes: 3.5\n"
    "accuracy: {top1: 76.13, top5: '93%', source: torchvision}\nlayers: [relu]\n",
    "empty-text": HEAD + "name:\nlayers: [relu]\n",
    "version-text": HEAD + "cnncalc: '1'\nlayers: [relu]\n",
    "expect": HEAD
    + "layers:\n  - c: conv 8 3x3\nexpect:\n  source: by hand\n  output: 6x6x8\n  params: 224\n  macs: ~7.8K\n"
    "  flops: 15.6K ±1%\n  activations: {value: 288, source: counted, tolerance: 0}\n  buffers: 0\n  weights: 216\n"
    "  biases: 8\n  layers:\n    c.conv: {shape: 6x6x8, params: 224, macs: 7776, activations: 288}\n",
    "expect-variants": HEAD + "params: {w: 8}\nvariants: {wide: {w: 16}}\nlayers: [conv w 3x3]\n"
    "expect:\n  params: 224\n  variants:\n    wide: {params: 448, output: 6x6x16, layers: {conv: {shape: 6x6x16}}}\n",
    "expect-flat": "input: 8x8x3\nlayers: [flatten, fc 10 => 10]\nexpect: {output: 10}\n",
}


@pytest.mark.parametrize("name", sorted(FORMS))
def test_every_accepted_form_parses_and_validates(name: str) -> None:
    text = FORMS[name]
    spec = parse_spec(text, f"{name}.yaml")
    build_graph(spec)  # valid, not only well-formed
    _validate(text)


def _forms_tree() -> list[Any]:
    return [_json(yaml.safe_load(t)) for t in FORMS.values()]


def test_the_forms_cover_the_grammar() -> None:
    trees = _forms_tree()
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            keys.update(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for tree in trees:
        walk(tree)
    assert set(S.TOP_KEYS) <= keys, set(S.TOP_KEYS) - keys
    assert set(S.STRUCTURAL) <= keys, set(S.STRUCTURAL) - keys
    rounding = {t.get("rounding") for t in trees}
    assert set(S.ROUNDING) <= rounding


def _allowed(text: str) -> set[str]:
    """The keys the parser allows where ``text`` puts the unknown key ``zzz``, from its error message."""
    with pytest.raises(SpecError) as err:
        parse_spec(text, "t.yaml")
    assert err.value.code == "E111", err.value
    m = re.search(r"allowed: (.*)$", err.value.message)
    assert m, err.value.message
    return set(m.group(1).split(", "))


def _props(ref: dict[str, Any]) -> set[str]:
    return set(ref["properties"])


def _structural(kind: str) -> dict[str, Any]:
    return next(s for s in SCHEMA["$defs"]["structural"]["oneOf"] if kind in s["required"])


PROBES = {
    **{kind: f"{HEAD}layers:\n  - {kind}: [relu]\n    zzz: 1\n" for kind in S.JOINS},
    "repeat": f"{HEAD}layers:\n  - repeat: 2\n    do: relu\n    zzz: 1\n",
    "if": f"{HEAD}layers:\n  - if: 1\n    then: relu\n    zzz: 1\n",
    "side": f"{HEAD}layers:\n  - side: relu\n    zzz: 1\n",
    "fractal": f"{HEAD}layers:\n  - fractal: 2\n    do: relu\n    zzz: 1\n",
}


@pytest.mark.parametrize("kind", sorted(PROBES))
def test_structural_keys_are_the_parsers(kind: str) -> None:
    assert _props(_structural(kind)) == _allowed(PROBES[kind])


def test_other_mapping_keys_are_the_parsers() -> None:
    defs = SCHEMA["$defs"]
    assert set(SCHEMA["properties"]) == _allowed(f"{HEAD}layers: [relu]\nzzz: 1\n") == set(S.TOP_KEYS)
    assert _props(defs["expect"]) == _allowed(f"{HEAD}layers: [relu]\nexpect: {{zzz: 1}}\n")
    nested = f"{HEAD}variants: {{v: {{}}}}\nlayers: [relu]\nexpect: {{variants: {{v: {{zzz: 1}}}}}}\n"
    assert _props(defs["variantExpect"]) == _allowed(nested)
    per_layer = defs["expect"]["properties"]["layers"]["additionalProperties"]
    assert _props(per_layer) == _allowed(f"{HEAD}layers: [relu]\nexpect: {{layers: {{relu: {{zzz: 1}}}}}}\n")
    value = defs["count"]["anyOf"][1]
    assert _props(value) == _allowed(f"{HEAD}layers: [relu]\nexpect: {{params: {{value: 1, zzz: 1}}}}\n")


@pytest.mark.parametrize(
    "text",
    [
        "input: 8x8x1\nlayer: [relu]\n",  # misspelt key
        "input: 8x8\nlayers: [relu]\n",  # not HxWxC
        "input: 8x8x1\nlayers: [relu]\nrounding: up\n",
        "input: 8x8x1\nlayers:\n  - concat: [relu]\n    expct: 8x8x1\n",
        "input: 8x8x1\nlayers:\n  - repeat: 2\n",  # repeat without do
        "input: 8x8x1\nlayers: [relu]\nexpect: {param: 3}\n",
        "input: 8x8x1\nlayers: []\n",  # an empty list
        "input: 8x8x1\nlayers:\n  - a:\n      b: relu\n",  # a named layer inside a named layer
        "input: 8x8x1\nlayers:\n  - fractal: 2\n    do: relu\n    join: max\n",
        "input: 8x8x1\nlayers: [relu]\nexpect: {variants: {v: {variants: {}}}}\n",  # variants nest once
    ],
)
def test_schema_rejects_mistakes(text: str) -> None:
    assert not _accepted(text)  # cnncalc rejects them too
    with pytest.raises(jsonschema.ValidationError):
        _validate(text)


def _accepted(text: str) -> bool:
    """cnncalc parses and builds the spec and each of its variants (expectations aside)."""
    try:
        spec = parse_spec(text, "t.yaml")
        for v in (None, *(v.name for v in spec.variants)):
            build_graph(spec, v)
    except (CnncalcError, RecursionError):
        return False
    return True


@settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
@given(generated_specs())
def test_specs_cnncalc_accepts_validate(text: str) -> None:
    if _accepted(text):
        _validate(text)


def test_schema_command_prints_it(cli: Cli) -> None:
    assert json.loads(cli("schema").stdout) == SCHEMA
