"""The registry is the one home of an op: a throwaway op registered here reaches every stage with no other edit.

If this test needs a change outside the registry entry below to pass, some stage keeps a list of ops of its own.
"""

from __future__ import annotations

import ast
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import yaml

import cnncalc
from cnncalc import fields
from cnncalc import layers as L  # noqa: N812
from cnncalc.argkinds import COUNT, Derived
from cnncalc.fields import FieldArgs
from cnncalc.layers import ArgSpec, LayerType
from cnncalc.shapes import Shape
from tests.conftest import Cli
from tests.helpers import run
from tools import readme


def _tile_field(x: FieldArgs) -> fields.Field:
    f = x.srcs[0]
    return None if f is None else (fields.window(f[0], 3, 1, 1), fields.window(f[1], 3, 1, 1))


TILE = LayerType(
    "tile_blur",
    "a made-up op: a 3x3 blur, then the channels repeated `times` times, plus a bias per output channel",
    (
        ArgSpec("times", COUNT, 2, positional=True, doc="how often the channels repeat"),
        ArgSpec("keep", COUNT, Derived(lambda a: a["times"] * 10, "= 10·times"), doc="a derived default"),
    ),
    lambda a, i, ctx: i[0].with_channels(i[0].c * a["times"]),
    params=lambda a, i, o: (0, o.c),
    macs=lambda a, i, o: 9 * i[0].numel,
    buffers=lambda a, i, o: a["keep"],
    params_doc="C' (bias)",
    macs_doc="9·H·W·C",
    buffers_doc="10·times",
    aliases=("TileBlur2d",),
    ops=lambda a, i, o: o.numel,
    ops_doc="1 bias add per output element",
    explain=lambda a, i, o, info: [f"blurs and tiles {a['times']} times: {i[0]} -> {o}", f"keep = {a['keep']}"],
    rf=_tile_field,
    rf_doc="a 3x3 window at stride 1",
)
SPEC = "cnncalc: 1\ninput: 8x8x4\nlayers:\n  - conv 4 3x3 pad=1\n  - tb: TileBlur2d 3\n  - gap\n"


@pytest.fixture
def spec(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "tile.yaml"
    path.write_text(SPEC, encoding="utf-8")
    with L.registered(TILE):
        yield str(path)
    assert L.lookup("tile_blur") is None


def test_parse_shape_counts_and_field(spec: str) -> None:
    rep = run(SPEC)
    tb = rep.layers[1]
    assert (tb.op, tb.output) == ("tile_blur", Shape.spatial(8, 8, 12))
    assert (tb.params, tb.biases, tb.macs, tb.buffers, tb.ops) == (12, 12, 9 * 8 * 8 * 4, 30, 8 * 8 * 12)
    assert tb.attrs["keep"] == 30  # the derived default, computed from `times`
    assert tb.rf == (5, 5) and tb.jump == (1, 1)  # conv 3x3 then the op's own 3x3 window
    assert rep.total.params == 4 * 9 * 4 + 4 + 12


def test_errors_know_its_arguments(spec: str) -> None:
    with pytest.raises(cnncalc.CnncalcError, match="`tile_blur` has no keyword `tims`; did you mean `times`"):
        run(SPEC.replace("TileBlur2d 3", "tile_blur tims=3"))
    with pytest.raises(cnncalc.CnncalcError, match="did you mean `tile_blur` \\(TileBlur2d\\)"):
        run(SPEC.replace("TileBlur2d 3", "tileblur2 3"))


def test_explain_and_every_output_format(spec: str, cli: Cli) -> None:
    assert "blurs and tiles 3 times: 8x8x4 -> 8x8x12" in cli("explain", spec, "tb").stdout
    assert "tile_blur" in cli("show", spec).stdout
    row = next(r for r in json.loads(cli("show", spec, "--format", "json").stdout)["layers"] if r["op"] == "tile_blur")
    assert (row["params"], row["macs"], row["receptive_field"]) == (12, 2304, 5)
    rows = list(csv.DictReader(io.StringIO(cli("show", spec, "--format", "csv").stdout)))
    assert any(r["op"] == "tile_blur" for r in rows)
    assert "tile_blur" in cli("show", spec, "--format", "markdown").stdout


def test_schema_conventions_and_docs(spec: str) -> None:
    schema = json.loads((Path(cnncalc.__file__).parent / "spec.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(yaml.safe_load(SPEC), schema)
    assert "tile_blur" in L.conventions()  # its MACs and buffers are named where the conventions are stated
    table = readme.layers_table()
    assert "`tile_blur` (TileBlur2d)" in table and "`keep` (= 10·times)" in table and "9·H·W·C" in table


def test_ops_page_is_generated_and_every_example_builds() -> None:
    from tools import docs

    page = docs.ops_page()  # builds and explains every op's example: an entry whose example fails breaks this
    assert docs.OPS.read_text(encoding="utf-8") == page, "run: python tools/docs.py"
    for name in L.LAYER_TYPES:
        assert f"\n## {name}\n" in page


_TILE_BLUR_MODULE = '''class TileBlur(nn.Module):
    """A 3x3 blur (a fixed depthwise kernel), the channels repeated `times` times, a bias per output channel."""

    def __init__(self, channels: int, times: int) -> None:
        super().__init__()
        self.times = times
        self.bias = nn.Parameter(torch.zeros(channels * times, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.avg_pool2d(x, 3, 1, 1).repeat(1, self.times, 1, 1) + self.bias
'''


def test_export_names_the_layer_of_an_op_without_pytorch_code(spec: str, cli: Cli) -> None:
    res = cli("export", spec, "--to", "pytorch", code=1)
    assert res.stderr.startswith(
        f"{spec}:5:9: error: tb: cannot export to PyTorch: `tile_blur` has no PyTorch code in cnncalc's registry"
    )
    assert "Traceback" not in res.stderr


def test_its_torch_field_is_all_the_export_needs(spec: str, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from cnncalc.torchcode import TorchCode, kw, pos

    def torch(a: object, ins: list[Shape], out: Shape, info: object) -> TorchCode:
        return TorchCode(
            "TileBlur",
            (pos("channels", ins[0].c), kw("times", a["times"])),
            helpers=(_TILE_BLUR_MODULE,),  # type: ignore[index]
        )

    monkeypatch.setitem(L.LAYER_TYPES, "tile_blur", replace(TILE, torch=torch))
    source = cli("export", spec).stdout
    assert "class TileBlur(nn.Module):" in source and "self.tb = TileBlur(4, times=3)" in source
    ast.parse(source)
