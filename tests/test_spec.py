"""Reading spec files: safe YAML, located errors, the op-line grammar."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnncalc.errors import SpecError
from cnncalc.spec import OpLine, decode, parse_expect_value, parse_spec, read_text

MINI = "input: 32x32x3\nlayers:\n  - conv 8 3x3\n"


def _err(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "t.yaml")
    return info.value


def test_minimal_spec() -> None:
    spec = parse_spec(MINI, "t.yaml")
    assert spec.input.dims == (32, 32, 3)
    assert spec.name == "t"
    line = spec.layers[0].body
    assert isinstance(line, OpLine) and line.calls[0].op == "conv"


def test_scalars_are_never_yaml_typed() -> None:
    # YAML 1.1 would read 1:2 as 62 and `no` as False; cnncalc keeps the text.
    spec = parse_spec("input: 8x8x1\nparams: {a: '1:2', b: no, c: 010}\nlayers: [identity]\n", "t.yaml")
    assert dict((k, v.text) for k, v in spec.params) == {"a": "1:2", "b": "no", "c": "010"}


def test_tokens_are_located_by_column() -> None:
    spec = parse_spec("input: 8x8x1\nlayers:\n  - conv 8 3x3 stride=2\n", "t.yaml")
    call = spec.layers[0].body.calls[0]  # type: ignore[union-attr]
    assert (call.loc.line, call.loc.column) == (3, 5)
    assert call.args[1].text == "3x3" and call.args[1].loc.column == 12
    assert call.kwarg("stride").loc.column == 23  # type: ignore[union-attr]


def test_inline_shape_assertion() -> None:
    spec = parse_spec("input: 8x8x1\nlayers:\n  - conv 8 3x3 pad=1, relu  => 8x8x8\n", "t.yaml")
    line = spec.layers[0].body
    assert isinstance(line, OpLine) and line.expect is not None and line.expect.dims == (8, 8, 8)
    assert [c.op for c in line.calls] == ["conv", "relu"]


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("input: 8x8x1\nlayers: [relu]\ninput: 9x9x1\n", (3, 1), "duplicate key `input` (first at line 1"),
        ("input: 8x8x1\nlayers: &a [relu]\nx: *a\n", (2, 9), "anchors"),
        ("input: !!python/object:os.system 8x8x1\nlayers: [relu]\n", (1, 8), "tags"),
        ("input: 8x8x1\nlayers:\n\t- relu\n", (3, 1), "a tab: indent with spaces"),
        ("", (1, 1), "empty"),
        ("input: 8x8x1\n", (1, 1), "no `layers:`"),
        ("input: 8x8x1\nlayer: [relu]\n", (2, 1), "did you mean `layers`"),
        ("input: 8x8\nlayers: [relu]\n", (1, 8), "HxWxC"),
        ("input: 8x8x1\nlayers: [relu]\n---\ninput: 1x1x1\n", (3, 1), "one YAML document"),
        ("input: 8x8x1\nlayers:\n  - a: relu\n    b: relu\n", (4, 5), "single `name: layers` pair"),
        ("input: 8x8x1\nlayers:\n  - concat: relu\n", (3, 13), "list of branches"),
        ("input: 8x8x1\nlayers:\n  - relu => 8x8\n", (3, 13), "shape"),
        ("input: 8x8x1\nblocks: {'b(x, x)': relu}\nlayers: [relu]\n", (2, 16), "given twice"),
    ],
)
def test_errors_are_located(text: str, where: tuple[int, int], message: str) -> None:
    err = _err(text)
    assert message in err.message
    assert err.location is not None and (err.location.line, err.location.column) == where


def test_non_utf8_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not valid UTF-8") as info:
        decode(b"input: 8x8x1\nname: caf\xe9\n", "t.yaml")
    assert info.value.location is not None and info.value.location.line == 2
    with pytest.raises(SpecError, match="NUL"):
        decode(b"\x00\x01\x02", "t.yaml")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 3_000_000)
    with pytest.raises(SpecError, match="limited to"):
        read_text(big)


@pytest.mark.parametrize(
    ("text", "target", "tolerance"),
    [
        ("60_965_224", 60_965_224, 0),
        ("~724M", 724_000_000, 500_000),
        ("~1.43G", 1_430_000_000, 5_000_000),
        ("4.09G ±1%", 4_090_000_000, 40_900_000),
        ("138.4M +- 0.1M", 138_400_000, 100_000),
    ],
)
def test_expected_values(text: str, target: int, tolerance: int) -> None:
    from cnncalc.errors import Location

    ev = parse_expect_value(text, Location())
    assert ev.target == target and ev.tolerance == tolerance


# --------------------------------------------------------------------------- issue 11


def test_a_mapping_in_an_op_line_is_located_like_the_long_form() -> None:
    spec = parse_spec("input: 8x8x1\nlayers:\n  - conv 8 3x3 pad={top:0,bottom:1}\n", "t.yaml")
    pad = spec.layers[0].body.calls[0].kwarg("pad")  # type: ignore[union-attr]
    assert pad is not None and pad.mapping is not None
    assert [(k, a.text, a.loc.column) for k, a in pad.mapping] == [("top", "0", 25), ("bottom", "1", 34)]
    assert [a.key_loc.column for _, a in pad.mapping] == [21, 27]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("input: 8x8x1\nlayers:\n  - conv max(8, (4) 3x3\n", (3, 13), "`(` is never closed"),
        ("input: 8x8x1\nlayers:\n  - conv 8] 3x3\n", (3, 11), "`]` closes no bracket"),
        ("input: 8x8x1\nlayers:\n  - conv (8] 3x3\n", (3, 12), "`]` does not close the `(` at column 10"),
        ("input: 8x8x1\nlayers:\n  - conv 8 3x3 pad={top:1,top:2}\n", (3, 27), "`top` given twice"),
        ("input: 8x8x1\nlayers:\n", (2, 8), "`layers` is empty"),
        ("input: 8x8x1\nlayers:\n  - relu\n  - \n", (4, 4), "an empty entry in a layer list"),
        ("input: 8x8x1\nlayers:\n  - relu => 8x8x1\n  - => 8x8x1\n", (4, 5), "states the shape of no layer"),
        ("input: 8x8x1\nparams: {in_w: 2}\nlayers: [relu]\n", (2, 10), "`in_w` is a built-in name"),
        ("input: 8x8x1\nblocks: {'b(c, i)': relu}\nlayers: [relu]\n", (2, 16), "`i` is a built-in name"),
    ],
)
def test_issue_11_messages_are_located(text: str, where: tuple[int, int], message: str) -> None:
    err = _err(text)
    assert message in err.message
    assert err.location is not None and (err.location.line, err.location.column) == where


def test_a_keyword_in_any_letters_is_a_keyword() -> None:
    spec = parse_spec("input: 8x8x1\nlayers:\n  - conv 8 3x3 strïde=2\n", "t.yaml")
    call = spec.layers[0].body.calls[0]  # type: ignore[union-attr]
    assert [a.text for a in call.args] == ["8", "3x3"] and call.kwarg("strïde") is not None


def test_duplicate_keys_of_a_large_mapping_are_found_quickly() -> None:
    keys = "".join(f"  p{k}: {k}\n" for k in range(50_000))
    err = _err(f"input: 8x8x1\nparams:\n{keys}  p7: 1\nlayers: [relu]\n")
    assert "duplicate key `p7` (first at line 10, column 3)" in err.message
