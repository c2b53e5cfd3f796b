"""Training (issue 14): the backward MACs of each layer, frozen or not, against what PyTorch executes.

The reference numbers come from tools/train_reference.py (torch in a throwaway venv; committed as
tests/data/train_reference.json): one forward and one backward pass of torchvision's models (weights=None) and of
cnncalc's own exports, with some parameters frozen (``requires_grad=False``) and the input needing no gradient,
counted op by op with ``torch.utils.flop_counter``'s formulas (MACs = FLOPs / 2) and attributed to modules; a
``convolution_backward`` split into its input-gradient and weight-gradient parts.

One deliberate convention difference, documented where it is asserted: for a grouped convolution (depthwise
and grouped convs, grouped transposed convs) flop_counter counts the weight gradient ``groups`` times over. Its
formula for ``grad_weight`` is conv(x, grad_out) with the batch and channel dimensions swapped, i.e. H'·W'·kh·kw
· C_in · C_out · N, which leaves out the 1/groups of the weight's shape; the multiplications executed are
H'·W'·kh·kw · (C_in/groups) · C_out · N, which is what cnncalc counts. (Its forward and input-gradient formulas
read the grouped weight's shape (C_out, C_in/groups, kh, kw) and agree with cnncalc.) Everything else agrees
exactly: batch norm, layer norm, activations, pooling, joins and the gating products cost 0 MACs in both, and a
bias gradient (a sum) is not counted by either.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from cnncalc.analysis import memory
from cnncalc.analysis.training import Training, find_head, training, training_memory
from cnncalc.errors import CnncalcError
from cnncalc.layers import LAYER_TYPES
from cnncalc.pipeline import evaluate
from cnncalc.spec import parse_spec
from tests.conftest import DATA, Cli
from tests.helpers import run

REF = json.loads((DATA / "train_reference.json").read_text(encoding="utf-8"))
CASES = REF["cases"]


def _training(case: dict[str, Any]) -> Training:
    options = case["options"]
    if "spec_text" in case:  # a spec written in tools/train_reference.py (a side head)
        report = evaluate(parse_spec(case["spec_text"], f"{case['spec']}.yaml"), batch=case["batch"])
    else:
        report = evaluate(case["spec"], batch=case["batch"], head=options.get("head"))
    return training(report, options.get("freeze"), options.get("train_only", ()), options.get("head") is not None)


def _groups(train: Training, i: int) -> int:
    """The groups of layer ``i`` as PyTorch builds it (a depthwise conv: one group per input channel)."""
    r = train.report.layers[i]
    if r.op == "dwconv":
        return r.inputs[0].c
    return int(r.attrs.get("groups", 1))


def _ours(train: Training, i: int) -> tuple[int, bool, int, int, int]:
    """(params, trains, forward, grad-input, grad-weight) of layer ``i`` in flop_counter's convention."""
    r, t = train.report.layers[i], train.layers[i]
    # flop_counter: grad_weight of a grouped conv counted `groups` times over (see the module docstring)
    return (r.params, t.trains, r.macs, t.grad_input, t.grad_weight * _groups(train, i))


def _theirs(m: dict[str, Any]) -> tuple[int, bool, int, int, int]:
    return (m["params"], m["trainable"], m["forward"], m["grad_input"], m["grad_weight"])


def test_the_reference_covers_frozen_and_unfrozen_cases() -> None:
    assert {c["builder"].split(".")[0] for c in CASES.values()} == {"torchvision", "cnncalc export --to pytorch"}
    frozen = [n for n, c in CASES.items() if c["totals"]["frozen_params"]]
    whole = [n for n, c in CASES.items() if not c["totals"]["frozen_params"]]
    assert len(frozen) >= 6 and len(whole) >= 4, (frozen, whole)
    assert any("head" in c["options"] for c in CASES.values())
    assert any("train_only" in c["options"] for c in CASES.values())


@pytest.mark.parametrize("name", sorted(CASES))
def test_totals_equal_pytorch(name: str) -> None:
    case = CASES[name]
    train = _training(case)
    ref = case["totals"]
    assert ref["unattributed_backward"] == 0
    assert (train.trainable_params, train.frozen_params) == (ref["trainable_params"], ref["frozen_params"])
    assert train.forward == ref["forward"]
    # flop_counter's backward = ours + (groups - 1) x the weight gradient of each grouped conv
    over = sum((_groups(train, i) - 1) * t.grad_weight for i, t in enumerate(train.layers))
    assert train.backward + over == ref["backward"]
    if not over:
        assert train.backward == ref["backward"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_weighted_layer_equals_pytorch(name: str) -> None:
    """Layer by layer: by path for cnncalc's exports; as a multiset of (params, trains, forward, grad-input,
    grad-weight) over the layers that multiply-accumulate for torchvision's models (whose module names differ)."""
    case = CASES[name]
    train = _training(case)
    counted = [i for i, r in enumerate(train.report.layers) if r.macs]
    theirs = [m for m in case["modules"] if m["forward"]]
    if "path" in (case["modules"][0] if case["modules"] else {}):
        by_path = {m["path"]: m for m in case["modules"]}
        for i in counted:
            r = train.report.layers[i]
            assert _ours(train, i) == _theirs(by_path[r.path]), r.path
        for i, r in enumerate(train.report.layers):  # layers with params but no MACs (batch norm): trained or not
            if r.params and r.path in by_path:
                assert train.layers[i].trains == by_path[r.path]["trainable"], r.path
    assert Counter(_ours(train, i) for i in counted) == Counter(_theirs(m) for m in theirs)


def test_frozen_prefix_has_no_backward_and_the_first_trained_layer_no_input_gradient() -> None:
    case = CASES["resnet18/freeze-layer3-head-10"]
    train = _training(case)
    layers = train.report.layers
    upto = max(r.node.position for r in train.report.find("layer3"))
    assert not any(t.backward or t.grad_input or t.grad_weight for t in train.layers[: upto + 1])
    first = [i for i, r in enumerate(layers) if r.path.startswith("layer4") and r.op == "conv"]
    # layer4's first block: its first conv and its downsample read layer3's output, which carries no gradient
    readers = [i for i in first if layers[i].sources and layers[i].sources[0] <= upto]
    assert len(readers) == 2
    assert all(train.layers[i].grad_input == 0 and train.layers[i].grad_weight == layers[i].macs for i in readers)
    torch_names = {m["name"]: m for m in case["modules"]}
    assert torch_names["layer4.0.conv1"]["grad_input"] == torch_names["layer4.0.downsample.0"]["grad_input"] == 0


def test_train_only_a_middle_stage_passes_input_gradients_through_frozen_layers() -> None:
    train = _training(CASES["resnet18/train-only-layer2"])
    for r, t in zip(train.report.layers, train.layers):
        if r.path.startswith(("layer3", "layer4", "head")) and r.macs:
            assert t.frozen and t.grad_weight == 0 and t.grad_input == r.macs, r.path
        if r.path.startswith(("conv1", "layer1")):
            assert not t.backward


# --------------------------------------------------------------------------- the rules on small networks

NET = """input: 8x8x3
layers:
  - a: conv 4 3x3 pad=1, relu
  - b: conv 8 3x3 pad=1, bn, relu
  - gap
  - fc 10
  - softmax
"""


def test_everything_trains_by_default_and_the_first_layer_needs_no_input_gradient() -> None:
    rep = run(NET)
    train = training(rep)
    macs = {r.path: r.macs for r in rep.layers}
    grads = {r.path: (t.grad_input, t.grad_weight) for r, t in zip(rep.layers, train.layers)}
    assert grads["a.conv"] == (0, macs["a.conv"])
    assert grads["b.conv"] == (macs["b.conv"], macs["b.conv"])
    assert grads["fc"] == (80, 80) and grads["b.bn"] == (0, 0)
    assert train.backward == 2 * rep.total.macs - macs["a.conv"]
    assert train.step == train.forward + train.backward
    assert (train.trainable_params, train.frozen_params) == (rep.total.params, 0)


def test_freeze_and_train_only_and_the_batch() -> None:
    rep = run(NET, batch=4)
    macs = {r.path: r.macs for r in rep.layers}
    train = training(rep, freeze="b")
    assert train.grad_input == 0 and train.grad_weight == macs["fc"]  # fc reads a tensor with no gradient
    assert train.trainable_params == 8 * 10 + 10
    assert train.per_sample(train.backward) * 4 == train.backward
    only = training(rep, train_only=["a"])
    # a trains: its weight gradient; every layer after it passes the input gradient down, frozen or not
    assert only.grad_weight == macs["a.conv"] and only.grad_input == macs["b.conv"] + macs["fc"]
    assert [t.frozen for t in only.layers if t.trains or t.frozen] == [False, True, True, True]


def test_training_memory_keeps_only_what_a_gradient_needs() -> None:
    rep = run(NET)
    full = training_memory(training(rep), "fp32", "adam")
    # every output a layer reads, the input (the first conv trains) and the output the loss reads: all of them
    assert full.activations == 4 * (rep.input.numel + rep.total.activations)
    assert full.gradients == 4 * rep.total.params and full.optimizer_state == 2 * full.gradients
    head = training_memory(training(rep, freeze="gap"), "fp32", "sgd")
    # only fc trains: it keeps its input (8 values of the gap) and the softmax its input and output (10 + 10)
    assert head.activations == 4 * (8 + 10 + 10)
    assert head.gradients == 4 * 90 and head.optimizer_state == 0
    assert head.total == head.activations + head.params + head.gradients + head.buffers


@pytest.mark.parametrize("name", ["resnet50", "mobilenet-v3-large", "inception-v3", "unet", "convnext-tiny"])
def test_training_everything_keeps_what_the_plain_estimate_keeps(name: str) -> None:
    rep = evaluate(name, batch=3)
    assert training_memory(training(rep), "fp16").activations == memory(rep, "fp16").train_activations


def test_a_network_starting_without_params_keeps_less() -> None:
    rep = run("input: 8x8x3\nlayers:\n  - maxpool 2\n  - conv 4 3x3 pad=1\n")
    kept = training_memory(training(rep)).activations
    assert kept == 4 * (4 * 4 * 3 + 4 * 4 * 4) == memory(rep).train_activations - 4 * 8 * 8 * 3


def test_a_side_head_is_read_by_the_loss() -> None:
    rep = run(
        """input: 8x8x3
layers:
  - conv 4 3x3 pad=1
  - aux: {side: [gap, fc 5]}
  - conv 4 3x3 pad=1
  - gap, fc 10
"""
    )
    train = training(rep, train_only=["aux"])
    assert train.grad_weight == 4 * 5 and train.grad_input == 0


def test_head_replacement_is_a_graph_transformation() -> None:
    rep = evaluate("resnet18", head=10)
    assert rep.output.dims == (10,) and rep.total.params == 11689512 - 513000 + 5130
    assert rep.layers[find_head(rep.graph)].path == "head.fc"
    seg = run("input: 8x8x3\nlayers:\n  - conv 4 3x3 pad=1\n  - conv 21 1x1, upsample 2, softmax\n", head=3)
    assert seg.output.dims == (16, 16, 3) and seg.layers[-1].inputs[0].dims == (16, 16, 3)
    with pytest.raises(CnncalcError, match="has params but no output size") as err:
        run("input: 8x8x3\nlayers:\n  - conv 4 3x3\n  - bn\n", head=3)
    assert err.value.code == "E218"
    with pytest.raises(CnncalcError, match="join") as err:
        run("input: 8x8x3\nlayers:\n  - add: [conv 4 1x1, conv 4 1x1]\n", head=3)
    assert err.value.code == "E218"
    with pytest.raises(CnncalcError, match="with --head 3: groups=2") as err:
        run("input: 8x8x4\nlayers:\n  - conv 4 1x1 groups=2\n", head=3)


def test_the_new_head_trains_even_when_frozen() -> None:
    rep = evaluate("resnet18", head=10)
    train = training(rep, train_only=["layer4"], head=True)
    assert train.layers[train.head or 0].trains and train.head == len(rep.layers) - 1
    assert "the new head `head.fc` trains" in train.how


def test_every_op_with_macs_states_its_gradients() -> None:
    for name, lt in LAYER_TYPES.items():
        if lt.macs_doc != "0":
            assert lt.grad_input_doc != "0", name
        if lt.macs_doc == "0":
            assert (lt.grad_input_doc, lt.grad_weight_doc) == ("0", "0"), name


def test_opaque_gradients_are_given_or_its_macs() -> None:
    rep = run(
        "input: 8x8x3\nlayers:\n  - conv 4 1x1\n  - opaque params=10 macs=100\n  - opaque macs=50 grad_input_macs=7\n"
    )
    train = training(rep)
    assert [(t.grad_input, t.grad_weight) for t in train.layers] == [(0, 8 * 8 * 4 * 3), (100, 100), (7, 0)]


# --------------------------------------------------------------------------- the commands


def test_show_train_table_and_footer(cli: Cli) -> None:
    out = cli("show", "resnet18", "--freeze", "layer3", "--head", "10", "--depth", "1").stdout
    assert "grad-input MACs" in out and "grad-weight MACs" in out and "trains" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "frozen" in rows["layer3"].split() and "yes" in rows["layer4"].split()
    out = " ".join(out.split())  # the notes wrap
    assert "forward 1,813,566,464 + backward 757,868,544 = 2,571,435,008 MACs per sample" in out
    assert "8,398,858 train (75.1%), 2,782,784 frozen" in out
    assert "`head.fc` is a new head of 10 outputs" in out


def test_show_train_json_markdown_and_csv(cli: Cli) -> None:
    data = json.loads(cli("show", "resnet18", "--train", "--batch", "2", "-f", "json", "--optimizer", "adam").stdout)
    t = data["training"]
    assert t["step_macs"] == t["forward_macs"] + t["backward_macs"] and t["batch"] == 2
    assert t["per_sample"]["step_macs"] * 2 == t["step_macs"]
    assert t["memory"]["optimizer_state"] == 2 * t["memory"]["gradients"]
    first = data["layers"][0]
    assert first["grad_input_macs"] == 0 and first["grad_weight_macs"] == first["macs"] and first["trains"] is True
    blocks = json.loads(cli("show", "resnet18", "--freeze", "layer1", "-f", "json", "--depth", "1").stdout)["blocks"]
    assert [b["trains"] for b in blocks] == [False, None, False, True, True, True, True]
    md = cli("show", "lenet5", "--train", "-f", "markdown").stdout
    assert "| grad-input MACs | grad-weight MACs | trains |" in md and "training step (every layer trains)" in md
    res = cli("show", "lenet5", "--train", "-f", "csv")
    assert "leaves out --train" in res.stderr


def test_freeze_and_train_only_together_is_a_usage_error(cli: Cli) -> None:
    res = cli("show", "resnet18", "--freeze", "layer1", "--train-only", "layer2", code=2)
    assert "give one of them" in res.stderr
    assert "paths" in cli("show", "resnet18", "--train-only", " , ", code=2).stderr


def test_explain_and_compare_train(cli: Cli) -> None:
    out = cli("explain", "resnet18", "conv1.conv", "--train").stdout
    assert "no input gradient (its input is the network input); weight gradient = MACs = 118,013,952" in out
    out = cli("explain", "resnet18", "layer1", "--freeze", "layer1").stdout
    assert "backward (--train): none (frozen, and no layer before it trains" in out
    out = cli("compare", "resnet18", "mobilenet-v2", "--head", "10", "--freeze", "layer4", code=1).stderr
    assert "--freeze: no layer `layer4` in MobileNetV2" in out
    out = cli("compare", "resnet18", "resnet50", "--head", "10", "--train").stdout
    assert "training step (--train; batch 1" in out and "step MACs" in out
    data = json.loads(cli("compare", "resnet18", "resnet50", "--train", "-f", "json").stdout)
    assert all("training" in a for a in data["architectures"])
