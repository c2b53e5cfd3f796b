"""The bundled library: every spec checks clean, states its source and pins its totals."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnncalc.analysis import check_spec_file
from cnncalc.library import find_spec, library_files
from cnncalc.spec import load_spec

FILES = library_files()

#: Every name the issues promise `cnncalc show NAME` answers to.
NAMES = """
lenet5 alexnet alexnet-torchvision vgg11 vgg13 vgg16 vgg19 vgg16-bn inception-naive inception-bottleneck
googlenet inception-v3 resnet18 resnet34 resnet50 resnet101 resnet152 wide-resnet50-2 resnext50-32x4d
resnext101-32x8d densenet121 densenet169 densenet201 squeezenet1.0 squeezenet1.1 mobilenet-v2 shufflenet-v2
mobilenet-v3-large efficientnet-b0
""".split()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_spec_checks_clean(path: Path) -> None:
    result = check_spec_file(path)
    assert result.ok, "\n".join(d.headline() + "".join(f"\n  = {n}" for n in d.notes) for d in result.diagnostics)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_spec_states_source_and_pins_totals(path: Path) -> None:
    spec = load_spec(path)
    assert len(spec.source) > 40, "every bundled spec says where its figures come from"
    keys = {k for k, _ in spec.expect.totals}
    assert {"params", "macs"} <= keys
    pinned = {name for name, _, exp in spec.expect.variants if {"params", "macs"} <= {k for k, _ in exp.totals}}
    assert pinned == {v.name for v in spec.variants}, "every variant pins its params and MACs"


@pytest.mark.parametrize("name", NAMES)
def test_name_resolves(name: str) -> None:
    found = find_spec(name)
    assert found.path.is_file()
    assert found.path.stem == name or found.variant == name


def test_accuracy_entries_follow_the_variant() -> None:
    from cnncalc.api import analyze_spec

    assert dict(analyze_spec("resnet50").accuracy)["top1"] == "76.13"  # torchvision IMAGENET1K_V1 acc@1
    assert dict(analyze_spec("resnet152").accuracy)["top1"] == "78.312"  # the variant's own figure
    assert "torchvision" in dict(analyze_spec("resnet152").accuracy)["source"]  # the file's source carries over


def test_fractalnet_matches_an_independent_implementation() -> None:
    """The 20-layer CIFAR FractalNet: 33,724,618 params, as the tests of imgclsmob/pytorchcv's fractalnet_cifar10 assert."""
    from cnncalc.api import analyze_spec

    rep = analyze_spec("fractalnet")
    assert rep.total.params == 33_724_618
    convs = [r for r in rep.layers if r.op == "conv"]
    assert len(convs) == 5 * (2**3 - 1)  # 7 convs in each of the 5 blocks (C = 3)
    assert analyze_spec("fractalnet-40").total.params == 76_106_634


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("shufflenet-v1-g1", 1_531_936),
        ("shufflenet-v1-g2", 1_733_848),
        ("shufflenet-v1", 1_865_728),
        ("shufflenet-v1-g4", 1_968_344),
        ("shufflenet-v1-g8", 2_434_768),
    ],
)
def test_shufflenet_v1_matches_an_independent_implementation(name: str, params: int) -> None:
    """imgclsmob/pytorchcv's shufflenet_g{1,2,3,4,8}_w1 tests assert these counts."""
    from cnncalc.api import analyze_spec

    assert analyze_spec(name).total.params == params


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("zfnet", 62_357_608),
        ("zfnet-512-1024-512", 107_627_624),
        ("nin", 966_986),
        ("wrn-28-10", 36_479_194),
        ("mobilenet-v1", 4_231_976),
        ("mobilenet-v1-0.75", 2_585_560),
        ("mobilenet-v1-0.5", 1_331_592),
        ("mobilenet-v1-0.25", 470_072),
        ("inception-v4", 42_679_816),
        ("inception-resnet-v2", 55_843_464),
    ],
)
def test_paper_specs_match_an_independent_implementation(name: str, params: int) -> None:
    """The counts asserted by the tests of the imgclsmob/pytorchcv model zoo (zfnet, zfnetb, nin_cifar10,
    wrn28_10_cifar10, mobilenet_w1/_w3d4/_wd2/_wd4, InceptionV4, inceptionresnetv2): an implementation written
    independently of cnncalc (Inception-v4's count is also the one keras-hub's preset metadata states)."""
    from cnncalc.api import analyze_spec

    assert analyze_spec(name).total.params == params
