"""Count the MACs PyTorch executes in one training step (forward + backward), frozen or not, for cnncalc's tests.

What it does
------------
For each case in ``CASES`` (a bundled network, what trains, an optional new head) the PyTorch model is built
by torchvision where it has the network (``weights=None``: nothing is downloaded), else from cnncalc's own
export (``cnncalc export --to pytorch``, whose submodules follow the layer paths). Frozen parameters get
``requires_grad=False``, and so does the input; the model runs once in ``train()`` mode on a batch of
``BATCH`` on PyTorch's ``meta`` device (shapes only, nothing computed), and ``out.sum().backward()`` runs the
backward pass. A dispatch mode counts every op with ``torch.utils.flop_counter``'s own formulas
(``flop_registry``, what ``FlopCounterMode`` uses; MACs = FLOPs / 2) and attributes it to a module:

* forward: the innermost module running (forward hooks);
* backward: the module whose autograd nodes are running (each leaf module's nodes are found by walking the
  autograd graph from its output to its input, and get pre/post hooks) -- ``FlopCounterMode``'s own module
  tracker never leaves a module whose input needs no gradient, so its per-module backward counts leak;
* a ``convolution_backward`` is split into its input-gradient and weight-gradient parts with the same
  formula (``output_mask`` one at a time); a matrix product in a linear layer's backward is its weight
  gradient when its result has the weight's shape, else its input gradient.

Every leaf module with parameters (or with counted MACs) is recorded in forward order: name, type, groups,
params, whether they train, forward / grad-input / grad-weight MACs over the batch; and the totals: every op
counted in the forward and in the backward pass, attributed or not. ``tests/test_training.py`` compares them
with ``cnncalc.analysis.training`` (no torch needed), documenting where the conventions differ.

torch/torchvision are NOT project dependencies; use a throwaway virtualenv::

    python -m venv /tmp/tvenv && /tmp/tvenv/bin/pip install torch torchvision
    /tmp/tvenv/bin/pip install -e . --no-deps
    /tmp/tvenv/bin/python tools/train_reference.py [-o tests/data/train_reference.json]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry
from torchvision import models

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "tests" / "data" / "train_reference.json"
BATCH = 2
aten = torch.ops.aten


def _set_head(path: str) -> Callable[[nn.Module, int], None]:
    """Replace the nn.Linear at ``path`` (``fc``, ``classifier.1``) by a new one with ``n`` outputs."""

    def replace(model: nn.Module, n: int) -> None:
        parent_name, _, child = path.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        old = parent.get_submodule(child)
        setattr(parent, child, nn.Linear(old.in_features, n, bias=old.bias is not None))

    return replace


#: torchvision builders: (function, head module path).
TORCHVISION = {
    "alexnet-torchvision": (models.alexnet, "classifier.6"),
    "resnet18": (models.resnet18, "fc"),
    "mobilenet-v2": (models.mobilenet_v2, "classifier.1"),
    "efficientnet-b0": (models.efficientnet_b0, "classifier.1"),
    "convnext-tiny": (models.convnext_tiny, "classifier.2"),
}

#: Specs written here (not bundled): a side head, whose auxiliary classifier the loss reads too.
INLINE = {
    "side-head": """input: 32x32x3
layers:
  - stem: conv 16 3x3 pad=1, bn, relu
  - aux: {side: [conv 8 1x1, relu, gap, fc 5]}
  - body: conv 32 3x3 stride=2 pad=1, bn, relu
  - gap, fc 10
""",
}

#: name -> (spec, cnncalc options, torch modules frozen (prefixes) or trained (prefixes, with "only:")).
#: For exported models the frozen modules follow from the cnncalc options by their definition (every layer up to
#: and including --freeze; every layer outside --train-only), the layer paths being the export's.
CASES: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {
    "alexnet-torchvision": ("alexnet-torchvision", {}, ()),
    "alexnet-torchvision/freeze-features-head-10": (
        "alexnet-torchvision",
        {"freeze": "features", "head": 10},
        ("features",),
    ),
    "resnet18": ("resnet18", {}, ()),
    "resnet18/freeze-layer3-head-10": (
        "resnet18",
        {"freeze": "layer3", "head": 10},
        ("conv1", "bn1", "layer1", "layer2", "layer3"),
    ),
    "resnet18/train-only-layer2": ("resnet18", {"train_only": ("layer2",)}, ("only:", "layer2")),
    "mobilenet-v2": ("mobilenet-v2", {}, ()),
    "mobilenet-v2/freeze-features-head-10": ("mobilenet-v2", {"freeze": "features", "head": 10}, ("features",)),
    "efficientnet-b0": ("efficientnet-b0", {}, ()),
    "efficientnet-b0/freeze-features": ("efficientnet-b0", {"freeze": "features"}, ("features",)),
    "convnext-tiny/freeze-stage3-head-10": (
        "convnext-tiny",
        {"freeze": "stage3", "head": 10},
        tuple(f"features.{i}" for i in range(6)),
    ),
    "dcgan": ("dcgan", {}, ()),
    "dcgan/freeze-generator.up1": ("dcgan", {"freeze": "generator.up1"}, ()),
    "unet/freeze-enc4": ("unet", {"freeze": "enc4"}, ()),
    "side-head": ("side-head", {}, ()),
    "side-head/train-only-aux": ("side-head", {"train_only": ("aux",)}, ()),
    "side-head/freeze-stem": ("side-head", {"freeze": "stem"}, ()),
}


class _Counter(TorchDispatchMode):
    """Counts the MACs of every op flop_counter has a formula for, per module and phase."""

    def __init__(self) -> None:
        super().__init__()
        self.forward_stack: list[str] = []
        self.backward_module: list[str] = []
        self.weight_shape: dict[str, tuple[int, ...]] = {}
        self.per: dict[str, dict[str, int]] = {}
        self.totals = {"forward": 0, "backward": 0, "unattributed_backward": 0}

    def enter(self, module: str) -> None:
        self.backward_module.append(module)

    def leave(self) -> None:
        self.backward_module.pop()

    def _add(self, module: str | None, key: str, flops: int) -> None:
        if module is None:
            self.totals["unattributed_backward"] += flops // 2
            return
        self.per.setdefault(module, {"forward": 0, "grad_input": 0, "grad_weight": 0})[key] += flops // 2

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func._overloadpacket
        formula = flop_registry.get(packet)
        if formula is None:
            return out
        flops = int(formula(*args, **kwargs, out_val=out))
        backward = torch._C._current_graph_task_id() != -1
        if not backward:
            self.totals["forward"] += flops // 2
            self._add(self.forward_stack[-1] if self.forward_stack else None, "forward", flops)
            return out
        self.totals["backward"] += flops // 2
        module = self.backward_module[-1] if self.backward_module else None
        if packet is aten.convolution_backward:
            mask = list(args[10])
            for k, key in enumerate(("grad_input", "grad_weight")):
                if mask[k]:
                    one = list(args)
                    one[10] = [j == k for j in range(3)]
                    self._add(module, key, int(formula(*one, **kwargs, out_val=out)))
        elif packet in (aten.mm, aten.addmm, aten.bmm) and module is not None:
            shape = tuple(out.shape)
            weight = self.weight_shape.get(module)
            key = "grad_weight" if weight is not None and shape in (weight, weight[::-1]) else "grad_input"
            self._add(module, key, flops)
        else:
            self._add(module, "grad_input", flops)
        return out


def _own_nodes(output: torch.Tensor, inputs: list[torch.Tensor]) -> list[Any]:
    """The autograd nodes a module's forward made: reachable from its output, not through its inputs."""
    stop = {t.grad_fn for t in inputs if t.grad_fn is not None}
    seen: list[Any] = []
    todo = [output.grad_fn] if output.grad_fn is not None else []
    while todo:
        node = todo.pop()
        if node in stop or node in seen or type(node).__name__ == "AccumulateGrad":
            continue
        seen.append(node)
        todo.extend(n for n, _ in node.next_functions if n is not None)
    return seen


def measure(model: nn.Module, shape: list[int], names: dict[nn.Module, str]) -> dict[str, Any]:
    """One forward + backward of ``model`` on a batch of zeros: per leaf module and in total."""
    counter = _Counter()
    order: list[str] = []
    handles = []
    for module, name in names.items():
        if list(module.children()):
            continue

        def pre(m: nn.Module, a: Any, name: str = name) -> None:
            counter.forward_stack.append(name)
            if name not in order:
                order.append(name)

        def post(m: nn.Module, a: Any, out: Any, name: str = name) -> None:
            counter.forward_stack.pop()
            if not isinstance(out, torch.Tensor) or out.grad_fn is None:
                return
            for node in _own_nodes(out, [t for t in a if isinstance(t, torch.Tensor)]):
                node.register_prehook(lambda g, name=name: counter.enter(name))
                node.register_hook(lambda gi, go: counter.leave())

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
        weight = getattr(module, "weight", None)
        if isinstance(weight, torch.Tensor):
            counter.weight_shape[name] = tuple(weight.shape)
    h, w, c = shape
    x = torch.zeros(BATCH, c, h, w, device="meta")
    with counter:
        out = model(x)
        outs = [out] if isinstance(out, torch.Tensor) else list(out)  # the loss reads every output
        loss = sum(o.sum() for o in outs if o.requires_grad)
        if isinstance(loss, torch.Tensor):
            loss.backward()
    for handle in handles:
        handle.remove()
    records = []
    for name in order:
        module = next(m for m, n in names.items() if n == name)
        params = list(module.parameters(recurse=False))
        counts = counter.per.get(name, {"forward": 0, "grad_input": 0, "grad_weight": 0})
        if not params and not any(counts.values()):
            continue
        records.append(
            {
                "name": name,
                "type": type(module).__name__,
                "groups": getattr(module, "groups", 1),
                "params": sum(p.numel() for p in params),
                "trainable": bool(params) and all(p.requires_grad for p in params),
                **counts,
            }
        )
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {
        "modules": records,
        "totals": {**counter.totals, "trainable_params": trainable, "frozen_params": total - trainable},
    }


def _freeze(model: nn.Module, names: dict[nn.Module, str], frozen: Callable[[str], bool]) -> None:
    for module, name in names.items():
        for p in module.parameters(recurse=False):
            p.requires_grad_(not frozen(name))


def _prefixed(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def run_case(spec: str, options: dict[str, Any], torch_rule: tuple[str, ...]) -> dict[str, Any]:
    from cnncalc.pipeline import evaluate
    from cnncalc.spec import parse_spec

    head = options.get("head")
    source = parse_spec(INLINE[spec], f"{spec}.yaml") if spec in INLINE else spec
    report = evaluate(source, batch=BATCH, head=head)
    shape = list(report.input.dims)
    if spec in TORCHVISION:
        build, head_path = TORCHVISION[spec]
        with torch.device("meta"):
            model = build(weights=None)
            if head is not None:
                _set_head(head_path)(model, head)
        names = {m: n for n, m in model.named_modules()}
        if torch_rule and torch_rule[0] == "only:":
            keep = torch_rule[1:]
            _freeze(model, names, lambda n: not _prefixed(n, keep))
        else:
            _freeze(model, names, lambda n: _prefixed(n, torch_rule))
        builder = f"torchvision.models.{build.__name__}"
        paths: dict[str, str] = {}
    else:
        from cnncalc.to_pytorch import export_pytorch

        exp = export_pytorch(report)
        namespace: dict[str, Any] = {"__name__": "cnncalc_export"}
        exec(compile(exp.source, f"<export of {spec}>", "exec"), namespace)  # noqa: S102 - our own export
        with torch.device("meta"):
            model = namespace[exp.model_class]()
        names = {m: n for n, m in model.named_modules()}
        frozen_layers: set[int] = set()
        if options.get("freeze"):
            upto = max(r.node.position for r in report.find(options["freeze"]))
            frozen_layers = set(range(upto + 1))
        elif options.get("train_only"):
            chosen = {r.node.position for p in options["train_only"] for r in report.find(p)}
            frozen_layers = set(range(len(report.layers))) - chosen
        frozen_modules = {exp.modules[i] for i in frozen_layers if exp.modules[i]}
        _freeze(model, names, lambda n: n in frozen_modules)
        builder = "cnncalc export --to pytorch"
        paths = {exp.modules[i]: r.path for i, r in enumerate(report.layers) if exp.modules[i]}
    model.train()
    result = measure(model, shape, names)
    for record in result["modules"]:
        if paths:
            record["path"] = paths.get(record["name"])
    text = {"spec_text": INLINE[spec]} if spec in INLINE else {}
    return {"spec": spec, **text, "builder": builder, "options": options, "batch": BATCH, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("cases", nargs="*", help="only these cases (default: all)")
    args = parser.parse_args()
    out: dict[str, Any] = {
        "generated_by": "tools/train_reference.py",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cases": {},
    }
    for name, (spec, options, rule) in CASES.items():
        if args.cases and name not in args.cases:
            continue
        print(name, flush=True)
        out["cases"][name] = run_case(spec, options, rule)
    args.output.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
