"""``cnncalc import``: ONNX models built here with the onnx package's helper API (no torch), and the fixtures that
tools/make_onnx_fixtures.py exported from torchvision and from cnncalc's own PyTorch export.

Each import is held to the model: the spec it writes is evaluated by cnncalc, every row's op, shape, params and
buffers compared with the model's (the importer does it itself, :func:`cnncalc.importers.compare`), and here the
totals are compared with figures counted by hand or recorded from PyTorch. Then the spec's readability: lines,
joins, blocks with ``repeat``, names; and hostile files end with a located error in bounded time.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from cnncalc.errors import CnncalcError
from cnncalc.pipeline import evaluate_text
from cnncalc.shapes import Shape
from tests.conftest import DATA, Cli

onnx = pytest.importorskip("onnx")
helper = onnx.helper
TensorProto = onnx.TensorProto

from cnncalc.importers import import_onnx  # noqa: E402 - after the skip: the importer needs onnx

FIXTURES = DATA / "onnx"


# --------------------------------------------------------------------------- building models


class Net:
    """A small ONNX graph under construction: ``x = net.conv(x, 16, 3, pad=1)`` and so on."""

    def __init__(self, shape: tuple[int, ...] = (1, 3, 32, 32)) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.input = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
        self.n = 0

    def name(self, base: str) -> str:
        self.n += 1
        return f"{base}{self.n}"

    def param(self, dims: list[int], name: str | None = None) -> str:
        name = name or self.name("w")
        size = 1
        for d in dims:
            size *= d
        self.inits.append(helper.make_tensor(name, TensorProto.FLOAT, dims, [0.0] * size))
        return name

    def const(self, values: list[int] | list[float], dtype: int = TensorProto.INT64) -> str:
        name = self.name("k")
        self.inits.append(helper.make_tensor(name, dtype, [len(values)], values))
        return name

    def op(self, op_type: str, inputs: list[str], name: str | None = None, outputs: int = 1, **attrs: Any) -> str:
        outs = [self.name("v") for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=name or self.name(op_type), **attrs))
        return outs[0]

    def conv(
        self,
        x: str,
        c_in: int,
        c_out: int,
        k: int,
        stride: int = 1,
        pad: int = 0,
        groups: int = 1,
        bias: bool = True,
        name: str | None = None,
    ) -> str:
        ins = [x, self.param([c_out, c_in // groups, k, k])] + ([self.param([c_out])] if bias else [])
        return self.op("Conv", ins, name, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4, group=groups)

    def bn(self, x: str, c: int, name: str | None = None) -> str:
        return self.op("BatchNormalization", [x, *(self.param([c]) for _ in range(4))], name)

    def model(self, out: str, out_dims: list[int] | None = None, opset: int = 17) -> Any:
        output = helper.make_tensor_value_info(out, TensorProto.FLOAT, out_dims)
        graph = helper.make_graph(self.nodes, "test", [self.input], [output], self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])

    def save(self, tmp_path: Path, out: str, name: str = "model.onnx", **kw: Any) -> Path:
        path = tmp_path / name
        path.write_bytes(self.model(out, **kw).SerializeToString())
        return path


def stem(net: Net, c: int = 16) -> str:
    x = net.conv("x", 3, c, 3, pad=1, bias=False, name="/conv1/Conv")
    x = net.bn(x, c, name="/bn1/BatchNormalization")
    return net.op("Relu", [x], "/relu/Relu")


def residual(net: Net, x: str, c: int, k: int) -> str:
    y = net.conv(x, c, c, 3, pad=1, bias=False, name=f"/layer1/layer1.{k}/conv1/Conv")
    y = net.bn(y, c, name=f"/layer1/layer1.{k}/bn1/BatchNormalization")
    y = net.op("Relu", [y], f"/layer1/layer1.{k}/relu/Relu")
    y = net.conv(y, c, c, 3, pad=1, bias=False, name=f"/layer1/layer1.{k}/conv2/Conv")
    y = net.bn(y, c, name=f"/layer1/layer1.{k}/bn2/BatchNormalization")
    y = net.op("Add", [y, x], f"/layer1/layer1.{k}/Add")
    return net.op("Relu", [y], f"/layer1/layer1.{k}/relu_1/Relu")


def head(net: Net, x: str, c: int, classes: int = 10) -> str:
    x = net.op("GlobalAveragePool", [x], "/avgpool/GlobalAveragePool")
    x = net.op("Flatten", [x], "/Flatten", axis=1)
    return net.op("Gemm", [x, net.param([classes, c]), net.param([classes])], "/fc/Gemm", transB=1)


def small_resnet(tmp_path: Path, blocks: int = 3) -> Path:
    net = Net()
    x = stem(net)
    for k in range(blocks):
        x = residual(net, x, 16, k)
    return net.save(tmp_path, head(net, x, 16))


# --------------------------------------------------------------------------- figures and readability


def conv_params(c_in: int, c_out: int, k: int, bias: bool = False) -> int:
    return c_in * c_out * k * k + (c_out if bias else 0)


def test_a_small_resnet_has_the_figures_counted_by_hand(tmp_path: Path) -> None:
    result = import_onnx(small_resnet(tmp_path))
    per_block = 2 * conv_params(16, 16, 3) + 2 * 32
    params = conv_params(3, 16, 3) + 32 + 3 * per_block + 16 * 10 + 10
    assert result.report.total.params == result.network.params == params
    assert result.report.total.buffers == 32 + 3 * 64
    assert result.report.output == Shape.flat(10)
    macs = 32 * 32 * conv_params(3, 16, 3) + 3 * 2 * 32 * 32 * conv_params(16, 16, 3) + 160
    assert result.report.total.macs == macs
    assert evaluate_text(result.spec).total.params == params  # the text alone says so


def test_lines_joins_blocks_and_names_read_as_a_person_writes_them(tmp_path: Path) -> None:
    spec = import_onnx(small_resnet(tmp_path)).spec
    assert "  - conv1: conv 16 3x3 pad=1, bn, relu  " in spec  # conv, bn, activation on one line, named
    assert "defaults:\n  conv: {bias: false}\n" in spec
    assert "residual(c):" in spec or "residual():" in spec
    assert "- add:\n        - conv" in spec and "        - identity\n" in spec
    assert "residual 16 repeat=3" in spec or "residual repeat=3" in spec  # three blocks built alike: one call
    assert "  - fc: fc 10" in spec


def test_flat_writes_no_blocks_and_gives_the_same_figures(tmp_path: Path) -> None:
    path = small_resnet(tmp_path)
    folded, flat = import_onnx(path), import_onnx(path, fold=False)
    assert "blocks:" not in flat.spec and flat.spec.count("add:") == 3
    assert flat.report.total == folded.report.total


def test_blocks_take_the_values_that_differ_as_arguments(tmp_path: Path) -> None:
    net = Net()
    x = stem(net, 8)
    for k, (c, stride) in enumerate([(16, 2), (32, 2)]):
        prev = 8 if k == 0 else 16
        y = net.conv(x, prev, c, 3, stride=stride, pad=1, bias=False, name=f"/layer{k}/conv1/Conv")
        y = net.bn(y, c, name=f"/layer{k}/bn1/BatchNormalization")
        s = net.conv(x, prev, c, 1, stride=stride, bias=False, name=f"/layer{k}/down/Conv")
        x = net.op("Relu", [net.op("Add", [y, s], f"/layer{k}/Add")], f"/layer{k}/relu/Relu")
    result = import_onnx(net.save(tmp_path, head(net, x, 32)))
    assert "residual(c):" in result.spec
    assert "conv c 3x3 stride=2 pad=1, bn" in result.spec and "conv c 1x1 stride=2" in result.spec
    assert "residual 16 " in result.spec and "residual 32 " in result.spec


def test_a_pad_before_a_conv_is_its_padding_and_swish_is_one_op(tmp_path: Path) -> None:
    net = Net()
    x = net.op("Pad", ["x", net.const([0, 0, 0, 1, 0, 0, 1, 2])], "/pad/Pad", mode="constant")
    x = net.conv(x, 3, 8, 3, stride=2, name="/conv/Conv")
    x = net.op("Mul", [x, net.op("Sigmoid", [x], "/act/Sigmoid")], "/act/Mul")
    result = import_onnx(net.save(tmp_path, x))
    assert "conv 8 3x3 stride=2 pad={top:0,bottom:1,left:1,right:2}, swish" in result.spec
    assert result.report.output == Shape.spatial(16, 17, 8)  # (32 + 0 + 1 - 3)//2 + 1, (32 + 1 + 2 - 3)//2 + 1
    assert len(result.report.layers) == 2


def test_depthwise_conv_matmul_add_and_reduce_mean(tmp_path: Path) -> None:
    net = Net((1, 8, 16, 16))
    x = net.conv("x", 8, 8, 3, pad=1, groups=8, name="/dw/Conv")
    x = net.op("ReduceMean", [x, net.const([2, 3])], "/pool/ReduceMean", keepdims=0)
    x = net.op("MatMul", [x, net.param([8, 4])], "/fc/MatMul")
    x = net.op("Add", [x, net.param([4])], "/fc/Add")
    result = import_onnx(net.save(tmp_path, x, opset=18))
    assert "dwconv 3x3 pad=1" in result.spec and "gap, flatten" in result.spec and "fc 4" in result.spec
    assert result.report.total.params == 8 * 9 + 8 + 8 * 4 + 4


def test_squeeze_excitation_and_inception_joins(tmp_path: Path) -> None:
    net = Net((1, 16, 8, 8))
    gate = net.op("GlobalAveragePool", ["x"], "/se/pool")
    gate = net.conv(gate, 16, 4, 1, name="/se/fc1")
    gate = net.op("Relu", [gate], "/se/relu")
    gate = net.op("Sigmoid", [net.conv(gate, 4, 16, 1, name="/se/fc2")], "/se/sigmoid")
    x = net.op("Mul", ["x", gate], "/se/Mul")
    a = net.conv(x, 16, 8, 1, name="/mix/b1")
    b = net.conv(net.conv(x, 16, 4, 1, name="/mix/b2a"), 4, 8, 3, pad=1, name="/mix/b2b")
    x = net.op("Concat", [a, b], "/mix/Concat", axis=1)
    result = import_onnx(net.save(tmp_path, x))
    assert "mul:" in result.spec and "concat:" in result.spec
    assert result.report.output == Shape.spatial(8, 8, 16)


def test_densenet_concatenations_become_joins_and_a_block(tmp_path: Path) -> None:
    """DenseNet concatenates all earlier features each time: cat(x0..xk) after cat(x0..xk-1) reads that one and
    xk (the same channels), so each dense layer is a join with a branch, and layers built alike one block."""
    net = Net((1, 8, 8, 8))
    feats = ["x"]
    c = 8
    for k in range(4):
        cat = net.op("Concat", feats, f"/dense/cat{k}", axis=1) if len(feats) > 1 else "x"
        new = net.op("Relu", [net.conv(cat, c, 4, 3, pad=1, name=f"/dense/conv{k}")], f"/dense/relu{k}")
        feats.append(new)
        c += 4
    out = net.op("Concat", feats, "/dense/out", axis=1)
    result = import_onnx(net.save(tmp_path, out))
    assert "from" not in result.spec and "repeat=" in result.spec
    assert result.report.output == Shape.spatial(8, 8, 24)
    assert result.report.total.params == sum(conv_params(8 + 4 * k, 4, 3, True) for k in range(4))


def test_shared_values_are_written_flat_with_from(tmp_path: Path) -> None:
    """A value two branches of a join read (b, read by c and by the concat) is no nest of branches: named lines
    and from=."""
    net = Net((1, 8, 8, 8))
    a = net.op("Relu", [net.conv("x", 8, 8, 3, pad=1, name="/a")], "/a_relu")
    b = net.conv(a, 8, 8, 3, pad=1, name="/b")
    c = net.conv(b, 8, 8, 3, pad=1, name="/c")
    out = net.op("Concat", [a, c, b], "/out", axis=1)
    result = import_onnx(net.save(tmp_path, out))
    assert "from:" in result.spec or "from=" in result.spec
    assert result.report.output == Shape.spatial(8, 8, 24)
    assert result.report.total.params == 3 * conv_params(8, 8, 3, True)


def test_a_second_output_is_a_side_branch(tmp_path: Path) -> None:
    net = Net((1, 4, 8, 8))
    x = net.op("Relu", [net.conv("x", 4, 8, 3, pad=1, name="/a")], "/relu")
    aux = net.conv(x, 8, 2, 1, name="/aux")
    main = net.conv(x, 8, 6, 1, name="/main")
    model = net.model(main)
    model.graph.output.append(helper.make_tensor_value_info(aux, TensorProto.FLOAT, None))
    path = tmp_path / "two.onnx"
    path.write_bytes(model.SerializeToString())
    result = import_onnx(path)
    assert "side:" in result.spec and result.report.output == Shape.spatial(8, 8, 6)
    assert result.report.total.params == conv_params(4, 8, 3, True) + conv_params(8, 2, 1, True) + 54


def test_channels_last_layer_norm_and_linear(tmp_path: Path) -> None:
    """ConvNeXt's block: permute to channels-last, LayerNorm and Linear over the channels, permute back."""
    net = Net((1, 8, 4, 4))
    x = net.op("Transpose", ["x"], "/p1", perm=[0, 2, 3, 1])
    x = net.op("LayerNormalization", [x, net.param([8]), net.param([8])], "/norm", axis=-1, epsilon=1e-6)
    x = net.op("Add", [net.op("MatMul", [x, net.param([8, 32])], "/fc1/MatMul"), net.param([32])], "/fc1/Add")
    x = net.op("Transpose", [x], "/p2", perm=[0, 3, 1, 2])
    result = import_onnx(net.save(tmp_path, x))
    assert "layernorm eps=0.000001 " in result.spec and "linear 32 " in result.spec
    assert result.report.output == Shape.spatial(4, 4, 32) and result.report.total.params == 16 + 8 * 32 + 32


def test_an_unknown_op_is_opaque_with_its_parameters_and_a_warning(tmp_path: Path) -> None:
    net = Net((1, 4, 8, 8))
    x = net.op("Relu", ["x"], "/relu")
    x = net.op("Mystery", [x, net.param([4, 4])], "/odd", domain="com.example")
    model = net.model(x, [1, 4, 8, 8])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    path = tmp_path / "odd.onnx"
    path.write_bytes(model.SerializeToString())
    result = import_onnx(path)
    assert "opaque out=8x8x4 params=16" in result.spec
    assert [w.code for w in result.warnings] == ["W801"] and "`/odd`" in result.warnings[0].message
    assert result.report.total.params == 16


def test_the_command_writes_the_spec_and_warns(cli: Cli, tmp_path: Path) -> None:
    path = small_resnet(tmp_path)
    out = tmp_path / "net.yaml"
    res = cli("import", str(path), "-o", str(out), "--name", "Small ResNet")
    assert "every layer's shape, params and buffers equal the model's" in res.stderr
    assert 'name: "Small ResNet"' in out.read_text()
    assert cli("check", str(out)).exit_code == 0


def test_strict_fails_on_opaque_layers(cli: Cli, tmp_path: Path) -> None:
    model = tmp_path / "erf.onnxtxt"
    model.write_text(
        '<ir_version: 8, opset_import: ["" : 17]>\nagraph (float[1,3,8,8] x) => (float[1,3,8,8] y) {\n'
        "    y = Erf(x)\n}\n"
    )
    assert cli("import", str(model), code=0).exit_code == 0
    res = cli("import", str(model), "--strict", code=1)
    assert "warning:" in res.stderr and "opaque" in res.stderr


def test_a_symbolic_input_takes_input(tmp_path: Path) -> None:
    net = Net(("N", 3, "H", "W"))  # type: ignore[arg-type]
    x = stem(net)
    path = net.save(tmp_path, x)
    with pytest.raises(CnncalcError) as err:
        import_onnx(path)
    assert err.value.code == "E803" and "--input" in err.value.message
    result = import_onnx(path, Shape.spatial(48, 64, 3))
    assert result.report.output == Shape.spatial(48, 64, 16)


# --------------------------------------------------------------------------- hostile files


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "E801"),
        (b"\x08\x07\x12\xff\xff\xff\xff\x0f", "E801"),  # a length far past the end
        (bytes(range(256)) * 8, "E801"),
        (b"agraph (float[1,3,8,8] x) => (y) { y = Relu(x) ", "E801"),  # unclosed text
    ],
)
def test_bytes_that_are_no_model_are_e801(tmp_path: Path, data: bytes, code: str) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(data)
    with pytest.raises(CnncalcError) as err:
        import_onnx(path)
    assert err.value.code == code and err.value.location is not None and err.value.location.file == str(path)


def test_a_truncated_model_is_e801(tmp_path: Path) -> None:
    whole = small_resnet(tmp_path).read_bytes()
    for cut in (len(whole) // 3, len(whole) // 2, len(whole) - 5):
        path = tmp_path / "cut.onnx"
        path.write_bytes(whole[:cut])
        with pytest.raises(CnncalcError) as err:
            import_onnx(path)
        assert err.value.code in ("E801", "E802"), err.value


def test_graphs_that_are_no_network_are_e802(tmp_path: Path) -> None:
    net = Net()
    net.nodes.append(helper.make_node("Relu", ["b"], ["a"], name="first"))
    net.nodes.append(helper.make_node("Relu", ["a"], ["b"], name="second"))
    with pytest.raises(CnncalcError) as err:
        import_onnx(net.save(tmp_path, "a", name="cycle.onnx"))
    assert err.value.code == "E802" and "cycle" in err.value.message and err.value.path == "first"
    net = Net()
    net.op("Relu", ["nowhere"], "/orphan")
    with pytest.raises(CnncalcError) as err:
        import_onnx(net.save(tmp_path, "v1", name="orphan.onnx"))
    assert err.value.code == "E802" and "`nowhere`" in err.value.message
    net = Net()
    out = net.op("Add", ["x", "x2"], "/two")
    model = net.model(out)
    model.graph.input.append(helper.make_tensor_value_info("x2", TensorProto.FLOAT, [1, 3, 32, 32]))
    path = tmp_path / "two.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(CnncalcError) as err:
        import_onnx(path)
    assert err.value.code == "E802" and "2 inputs" in err.value.message


def test_huge_dimensions_and_unknown_shapes_are_e803(tmp_path: Path) -> None:
    net = Net((1, 3, 8, 10**12))
    with pytest.raises(CnncalcError) as err:
        import_onnx(net.save(tmp_path, net.op("Relu", ["x"], "/r")))
    assert err.value.code == "E803"
    net = Net((1, 3, 8, 8))
    x = net.op("Mystery", ["x"], "/odd", domain="com.example")  # no shape inference for it, no value_info
    model = net.model(net.op("Relu", [x], "/after"))
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    path = tmp_path / "unknown.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(CnncalcError) as err:
        import_onnx(path)
    assert err.value.code == "E803" and err.value.path == "/odd"


def test_a_long_chain_imports_in_bounded_time(tmp_path: Path) -> None:
    net = Net((1, 4, 8, 8))
    x = "x"
    for _ in range(5000):
        x = net.op("Relu", [x])
    start = time.perf_counter()
    result = import_onnx(net.save(tmp_path, x))
    assert time.perf_counter() - start < 30
    assert len(result.report.layers) == 5000


# --------------------------------------------------------------------------- fixtures from PyTorch


def _fixtures() -> list[dict[str, Any]]:
    path = FIXTURES / "fixtures.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []


@pytest.mark.parametrize("entry", _fixtures(), ids=lambda e: e["file"])
def test_fixture_imports_with_the_source_figures(entry: dict[str, Any]) -> None:
    """torchvision's models (their parameters() and buffers) and cnncalc's own exports (the spec's figures):
    exported to ONNX without weights, imported, every figure equal."""
    result = import_onnx(FIXTURES / entry["file"])
    total = result.report.total
    ref = entry["reference"]
    if entry["imported"]["opaque"]:  # an opaque layer counts what it reads as params: ONNX has no buffers
        assert total.params + total.buffers == ref["params"] + ref["buffers"]
    else:
        assert total.params == ref["params"] and total.buffers == ref["buffers"]
    assert list(result.report.output.dims) == ref["output"]
    if "macs" in ref:
        assert total.macs == ref["macs"]
    assert [layer.where for layer in result.network.opaque()] == entry["imported"]["opaque"]
    assert (FIXTURES / entry["file"]).stat().st_size < 200_000


def test_the_round_trip_covers_the_bundled_specs_as_they_are() -> None:
    """spec -> export -> ONNX -> import: the recorded references are still cnncalc's figures of the bundled specs."""
    from cnncalc import analyze_spec

    trips = [e for e in _fixtures() if e["file"].startswith("rt-")]
    assert len(trips) >= 5
    for e in trips:
        spec = e["source"].split()[2]
        total = analyze_spec(spec).total
        assert (total.params, total.buffers, total.macs) == (
            e["reference"]["params"],
            e["reference"]["buffers"],
            e["reference"]["macs"],
        ), spec


def test_torchvision_resnet18_reads_like_the_bundled_spec() -> None:
    """Issue 16's goal: at most about twice the bundled spec's length, with its numbers."""
    from cnncalc import analyze_spec

    result = import_onnx(FIXTURES / "tv-resnet18.onnx")
    bundled = Path(__file__).resolve().parent.parent / "architectures" / "resnet18.yaml"
    assert len(result.spec.splitlines()) <= 2 * len(bundled.read_text(encoding="utf-8").splitlines())
    assert "  - conv1: conv 64 7x7 stride=2 pad=3, bn, relu" in result.spec
    assert "  - layer1: residual 64 repeat=2" in result.spec
    ours, theirs = result.report.total, analyze_spec("resnet18").total
    assert (ours.params, ours.macs, ours.buffers) == (theirs.params, theirs.macs, theirs.buffers)


# --------------------------------------------------------------------------- PyTorch modules (torch.fx)

REFERENCE = json.loads((DATA / "import_reference.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("entry", REFERENCE, ids=lambda e: e["model"].rsplit(".", 1)[-1])
def test_a_torchvision_import_gives_the_bundled_specs_figures(entry: dict[str, Any]) -> None:
    """tools/import_reference.py imported torchvision's classifiers with torch.fx: each recorded spec still
    evaluates to the module's parameters and buffers, and to the bundled spec's params and MACs."""
    from cnncalc import analyze_spec

    report = evaluate_text(entry["spec"])
    total = report.total
    assert (total.params, total.buffers, total.macs) == (entry["params"], entry["buffers"], entry["macs"])
    assert entry["opaque"] == []
    if entry["model"].endswith(("googlenet", "inception_v3")):  # auxiliary heads: in the module, not in forward
        assert entry["module_params"] > total.params
    else:
        assert (entry["module_params"], entry["module_buffers"]) == (total.params, total.buffers)
    if entry["bundled"]:
        name, _, variant = entry["bundled"].partition(":")
        theirs = analyze_spec(name, variant=variant or None).total
        assert (total.params, total.macs) == (theirs.params, theirs.macs), entry["bundled"]


def test_torchvision_resnet50_is_at_most_twice_the_bundled_spec() -> None:
    """Issue 16's goal, for the PyTorch import of torchvision's ResNet-50."""
    entry = next(e for e in REFERENCE if e["model"] == "torchvision.models.resnet50")
    bundled = (Path(__file__).resolve().parent.parent / "architectures" / "resnet50.yaml").read_text(encoding="utf-8")
    assert len(entry["spec"].splitlines()) <= 2 * len(bundled.splitlines())
    assert "  - layer3:\n      - residual 256 1024  " in entry["spec"]
    assert "residual2 256 1024 repeat=5" in entry["spec"]
