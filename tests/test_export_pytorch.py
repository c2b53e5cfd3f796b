"""`cnncalc export --to pytorch` and `cnncalc verify`, tested without torch.

The generated code is golden-tested for three specs (a chain with groups and LRN, residual blocks, a U-Net with
crops and skip connections) and parsed for every bundled configuration; its structure is checked on small specs
(chains as nn.Sequential, joins as forward code, identities looked through, shared classes and their arguments).
That the code runs and matches cnncalc is the reference run's (tools/verify_all.py, in a venv with torch):
tests/data/verify_reference.json must hold every bundled spec and variant with 0 differences.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnncalc.api import analyze_spec
from cnncalc.library import library_files
from cnncalc.spec import load_spec, parse_spec
from cnncalc.to_pytorch import ExportError, Observation, export_pytorch
from tests.conftest import DATA, Cli, check_golden
from tests.helpers import run

REFERENCE = DATA / "verify_reference.json"


def configurations() -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for f in library_files():
        out.append((f.name, None))
        out.extend((f.name, v.name) for v in load_spec(f).variants)
    return out


def _source(text: str) -> str:
    return export_pytorch(run(text), parse_spec(text, "t.yaml")).source


def _classes(source: str) -> dict[str, ast.ClassDef]:
    return {n.name: n for n in ast.parse(source).body if isinstance(n, ast.ClassDef)}


# --------------------------------------------------------------------------- golden files


@pytest.mark.parametrize("name", ["alexnet", "resnet18", "unet"])
def test_golden(cli: Cli, name: str, update_golden: bool) -> None:
    source = cli("export", name, "--to", "pytorch").stdout
    check_golden(f"pytorch-{name}.py", source, update_golden)


# --------------------------------------------------------------------------- every bundled configuration


def test_every_bundled_configuration_exports_to_python_that_needs_torch_only() -> None:
    for file, variant in configurations():
        spec = str(Path(library_files()[0]).parent / file)
        exp = export_pytorch(analyze_spec(spec, variant=variant))
        tree = ast.parse(exp.source)  # valid Python
        imported = {
            (n.module if isinstance(n, ast.ImportFrom) else a.name).split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, (ast.Import, ast.ImportFrom))
            for a in n.names
        }
        assert imported <= {"__future__", "collections", "torch"}, (file, variant, imported)
        assert exp.model_class in _classes(exp.source)
        assert not exp.placeholders
        assert all(o is not None for o in exp.observe), (file, variant)


def test_the_reference_run_verified_every_bundled_configuration() -> None:
    data = json.loads(REFERENCE.read_text(encoding="utf-8"))
    # the same run caught a deliberate mistake: the stem's shape, its MACs, the missing BN parameters, the totals
    caught = data["self_test"]["differences"]
    assert {"conv1.conv shape: 112x112x64 vs 111x111x64", "conv1.bn params: 128 vs 0"} <= set(caught), caught
    # and random networks of tools/difftest.py's generator: none that PyTorch could build and run differs
    drawn = data["random"]
    assert drawn["networks"] >= 500 and drawn["outcomes"]["verified"] >= drawn["networks"] // 2, drawn
    assert drawn["with_differences"] == [] and drawn["layers_verified"] > 5000, drawn["with_differences"]
    entries = {(e["spec"], e["variant"]): e for e in data["configurations"]}
    missing = [c for c in configurations() if c not in entries]
    assert not missing, f"run tools/verify_all.py in a venv with torch; not verified: {missing}"
    for (file, variant), e in entries.items():
        assert e["differences"] == 0 and not e["first_differences"], (file, variant, e["first_differences"])
        assert e["compared"] == e["layers"] and not e["unobserved"], (file, variant)
        for figure, pair in e["totals"].items():
            assert pair["cnncalc"] == pair["torch"], (file, variant, figure, pair)
    for file, variant in configurations():  # the reference is of today's figures
        spec = str(Path(library_files()[0]).parent / file)
        report = analyze_spec(spec, variant=variant)
        assert entries[(file, variant)]["layers"] == len(report.layers), (file, variant, "layers")
        totals = entries[(file, variant)]["totals"]
        assert totals["params"]["cnncalc"] == f"{report.total.params:,}", (file, variant)
        assert totals["MACs"]["cnncalc"] == f"{report.total.macs:,}", (file, variant)
        assert totals["buffers"]["cnncalc"] == f"{report.total.buffers:,}", (file, variant)


# --------------------------------------------------------------------------- structure


def test_a_chain_is_a_sequential_named_after_its_paths() -> None:
    source = _source("input: 32x32x3\nlayers:\n  - stem: conv 16 3x3 pad=1, bn, relu\n  - head: gap, fc 10\n")
    assert '("conv", nn.Conv2d(3, 16, 3, padding=1)),' in source
    assert '("bn", nn.BatchNorm2d(16)),' in source
    assert '("fc", FlatLinear(16, 10)),' in source
    assert "class FlatLinear(nn.Linear):" in source  # the helper its registry entry needs, written once
    assert "        x = self.stem(x)\n        return self.head(x)\n" in source


def test_a_residual_join_is_forward_code_and_identity_is_looked_through() -> None:
    spec = "input: 8x8x16\nlayers:\n  - res: {add: [conv 16 3x3 pad=1, identity]}\n  - relu\n"
    exp = export_pytorch(run(spec))
    assert "return self.conv(x) + x" in exp.source  # branches named by what they hold: conv, identity
    assert "Identity" not in exp.source
    report = run(spec)
    paths = [r.path for r in report.layers]
    identity = paths.index("res.identity")
    assert exp.observe[identity] == Observation("", "in", 0)  # the identity's output is the model's input
    assert exp.observe[paths.index("res")] == Observation("res", "out", 0)
    assert exp.owners[paths.index("res")].kind == "box"


def test_blocks_built_alike_share_a_class_whose_arguments_are_what_differs() -> None:
    spec = (
        "input: 32x32x3\nblocks:\n  unit(c, s=1): [conv c 3x3 stride=s pad=1, bn, relu]\n"
        "layers:\n  - a: unit 16\n  - b: unit 32 s=2\n  - c: unit 64 s=2\n"
    )
    source = _source(spec)
    classes = _classes(source)
    assert "Unit" in classes and "Unit_2" not in classes
    assert "def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:" in source
    assert "nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)" in source
    assert "self.b = Unit(in_channels=16, out_channels=32, stride=2)" in source
    without_spec = export_pytorch(run(spec)).source  # no blocks to read: the class is named after the first layer
    assert "class A(nn.Sequential):" in without_spec


def test_keywords_at_their_default_are_left_out_and_pytorch_padding_is_exact() -> None:
    source = _source(
        "input: 15x15x4\nrounding: ceil\nlayers:\n  - conv 8 3x3 pad=same stride=2\n  - maxpool 3x3 stride=2\n"
        "  - avgpool 2 stride=1\n"
    )
    # TensorFlow's same padding at stride 2 on 15 is 1 before and 1 after: symmetric, written as padding=1
    assert "nn.Conv2d(4, 8, 3, stride=2, padding=1)" in source
    assert "nn.MaxPool2d(3, stride=2, ceil_mode=True)" in source  # (8 - 3)/2 + 1 = 3.5 -> 4 with ceil
    assert "nn.AvgPool2d(2, stride=1)" in source


def test_asymmetric_padding_becomes_an_explicit_pad() -> None:
    source = _source("input: 16x16x4\nlayers:\n  - conv 8 3x3 stride=2 pad=same\n  - maxpool 2 stride=2 pad=same\n")
    assert "nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(4, 8, 3, stride=2))" in source
    assert "nn.ConstantPad2d" not in source  # 8 / 2: no padding needed for the pool


def test_skip_connections_are_forward_arguments() -> None:
    spec = (
        "input: 16x16x3\nlayers:\n  - enc: conv 8 3x3 pad=1\n  - down: maxpool 2\n  - mid: conv 8 3x3 pad=1\n"
        "  - up: upsample 2\n  - cat: {concat: [crop to=up from=enc, identity]}\n  - conv 2 1x1\n"
    )
    source = _source(spec)
    assert "def forward(self, x: Tensor, enc: Tensor) -> Tensor:" in source
    assert "return torch.cat([self.crop(enc), x], dim=1)" in source
    assert "        enc = self.enc(x)\n        x = self.down(enc)\n" in source
    assert "x = self.cat(x, enc)" in source


def test_side_heads_are_returned_after_the_output() -> None:
    spec = "input: 8x8x3\nlayers:\n  - a: conv 4 3x3\n  - aux: {side: [gap, fc 5]}\n  - conv 4 3x3\n"
    report = run(spec)
    exp = export_pytorch(report)
    paths = [r.path for r in report.layers]
    assert exp.outputs == (paths.index("conv#2") if "conv#2" in paths else len(paths) - 1, paths.index("aux.fc"))
    assert "def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:" in exp.source
    assert "side heads): `aux.fc`" in exp.source


def test_dangling_layers_are_extra_outputs() -> None:
    spec = "input: 8x8x3\nlayers:\n  - a: conv 4 3x3\n  - aux: fc 5\n  - conv 4 3x3 from=a\n"
    exp = export_pytorch(run(spec))
    assert "def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:" in exp.source
    assert "side heads): `aux`" in exp.source
    assert exp.outputs == (2, 1)


def test_opaque_is_a_marked_placeholder() -> None:
    report = run("input: 8x8x3\nlayers:\n  - conv 4 3x3\n  - mystery: opaque out=(in_h)x(in_w)x(8) params=12 macs=99\n")
    exp = export_pytorch(report)
    assert exp.placeholders == (1,)
    assert "class Opaque(nn.Module):" in exp.source and "raise NotImplementedError(" in exp.source
    assert "self.mystery = Opaque((8, 6, 6), params=12, macs=99)  # PLACEHOLDER" in exp.source


def test_a_layer_pytorch_cannot_write_is_a_located_error() -> None:
    with pytest.raises(ExportError) as err:
        export_pytorch(run("input: 16x16x8\nlayers:\n  - avgpool 3x3 stride=1 dilation=2\n"))
    assert err.value.code == "E700"
    assert err.value.path == "avgpool" and "no dilation" in err.value.message


def test_every_op_in_the_vocabulary_exports() -> None:
    """The ops' docs examples: each exports (no op without a `torch` field) as a module or an expression."""
    from cnncalc import layers as L  # noqa: N812

    for name, lt in L.LAYER_TYPES.items():
        assert lt.torch is not None, f"`{name}` has no `torch` field"
    source = _source(
        "input: 16x16x8\nlayers:\n  - deconv 8 4 stride=2 pad=1\n  - upsample 0.5 mode=bilinear\n"
        "  - pixel_unshuffle 2\n  - pixel_shuffle 2\n  - crop 14x14\n  - zeropad 1\n  - layernorm\n  - groupnorm 4\n"
        "  - instancenorm\n  - linear 8\n  - layerscale\n  - droppath 0.1\n  - shuffle 2\n  - split 2 index=1\n"
        "  - dwconv 3x3 pad=1 mult=2\n  - lrn 3\n  - leaky 0.2\n  - scale 0.5\n  - mul: [identity, [gap, sigmoid]]\n"
        "  - mean: [identity, relu6]\n  - flatten\n  - fc 10\n  - softmax\n"
    )
    for expected in (
        "nn.ConvTranspose2d(8, 8, 4, stride=2, padding=1)",
        'nn.Upsample(scale_factor=0.5, mode="bilinear")',
        "nn.PixelUnshuffle(2)",
        "nn.PixelShuffle(2)",
        "CenterCrop(14, 14)",
        "nn.ZeroPad2d((1, 1, 1, 1))",
        "LayerNorm2d(8)",
        "nn.GroupNorm(4, 8)",
        "nn.InstanceNorm2d(8)",
        "PointwiseLinear(8, 8)",
        "LayerScale(8)",
        "DropPath(0.1)",
        "nn.ChannelShuffle(2)",
        "ChannelSlice(4, 8)",
        "nn.Conv2d(4, 8, 3, padding=1, groups=4)",
        "nn.LocalResponseNorm(3)",
        "nn.LeakyReLU(0.2)",
        "Scale(0.5)",
        "nn.Linear(2048, 10)",
        "nn.Softmax(dim=1)",
    ):
        assert expected in source, expected


# --------------------------------------------------------------------------- the commands


def test_export_writes_a_file_and_says_so(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "net.py"
    res = cli("export", "resnet18", "-o", str(out))
    assert out.read_text(encoding="utf-8") == cli("export", "resnet18").stdout
    assert res.stdout == "" and f"wrote {out}: class ResNet18" in res.stderr


def test_export_to_a_missing_folder_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    res = cli("export", "alexnet", "-o", str(tmp_path / "no" / "net.py"), code=2)
    assert "cnncalc export: error: cannot write" in res.stderr and "Traceback" not in res.stderr


def test_export_follows_variant_set_and_input(cli: Cli) -> None:
    wide = cli("export", "resnet18", "--variant", "resnet34").stdout
    assert "class ResNet34(nn.Module):" in wide and "variant resnet34" in wide
    small = cli("export", "unet", "--input", "252x252x1").stdout
    assert "torch.zeros(1, 1, 252, 252)" in small and "CenterCrop(" in small
    assert "for a 252x252x1 input" in small


def test_export_of_an_opaque_layer_notes_the_placeholder(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "o.yaml"
    spec.write_text("input: 8x8x3\nlayers:\n  - conv 4 3x3\n  - mystery: opaque params=5\n", encoding="utf-8")
    res = cli("export", str(spec))
    assert "opaque layers are placeholders that raise until written: mystery" in res.stderr


def test_verify_without_torch_says_how_to_install_it(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "torch" or m.startswith("torch.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)
    res = cli("verify", "alexnet", code=1)
    assert res.stderr.startswith("cnncalc: error: cnncalc verify needs PyTorch")
    assert "pip install 'cnncalc[torch]'" in res.stderr


def test_export_imports_no_torch_and_nothing_heavy() -> None:
    code = (
        "import json, sys\nsys.argv = ['cnncalc', 'export', 'resnet18']\nfrom cnncalc.cli import cli\n"
        "try:\n    cli(prog_name='cnncalc')\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(res.stderr.strip().splitlines()[-1]))
    assert "cnncalc.to_pytorch" in loaded
    assert not loaded & {"torch", "numpy", "cnncalc.verify"}, sorted(loaded & {"torch", "numpy", "cnncalc.verify"})


def test_export_reads_standard_input(cli: Cli) -> None:
    res = CliRunner(env={"NO_COLOR": "1"}).invoke(
        __import__("cnncalc.cli").cli.cli, ["export", "-"], input="input: 8x8x3\nlayers:\n  - a: conv 4 3x3\n"
    )
    assert res.exit_code == 0, res.output
    assert "self.a = nn.Conv2d(3, 4, 3)" in res.stdout and "exported by cnncalc from <stdin>" in res.stdout
