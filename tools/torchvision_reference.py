"""Generate torchvision reference numbers for cnncalc's tests.

What it does
------------
For each model in ``MODELS`` this script builds the torchvision model with
``weights=None`` (nothing is ever downloaded), puts it in ``eval()`` mode and
runs a single forward pass under ``torch.no_grad()`` on a zero tensor of
batch 1 at the stated input size.  Forward hooks on every ``nn.Conv2d`` and
``nn.Linear`` record, in execution order, each call's output shape,
parameters and MACs.  The results are written as deterministic JSON
(``indent=1``, ``sort_keys=True``) to ``tests/data/torchvision_reference.json``.

torch/torchvision are NOT project dependencies; use a throwaway virtualenv::

    python -m venv /root/tvenv
    /root/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /root/tvenv/bin/python tools/torchvision_reference.py [-o PATH]

Counting conventions
--------------------
* shapes are reported channels-last, without the batch dim: conv outputs as
  ``[H, W, C]``, linear outputs as ``[N]``; ``input`` is ``[H, W, C]``.
* ``params``: sum of ``p.numel()`` over ``model.parameters()`` (trainable
  weights and biases, including BatchNorm gamma/beta).
* ``buffers``: numel of BatchNorm ``running_mean``/``running_var`` buffers;
  the scalar ``num_batches_tracked`` buffers are counted in ``bn_counters``.
* ``macs`` (multiply-accumulates, batch 1), only Conv2d and Linear count:
  conv = output elements * (in_channels // groups) * kh * kw;
  linear = in_features * out_features * (leading non-batch dims, normally 1).
  Bias adds, BatchNorm, activations, pooling, elementwise adds/muls (e.g.
  residuals, squeeze-excitation scaling) and concatenations are NOT counted.
* a module called more than once is recorded once per call.
"""

import argparse
import json
import os

import torch
import torchvision
from torch import nn
from torchvision import models

DEFAULT_OUTPUT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "tests",
    "data",
    "torchvision_reference.json",
)

CONVENTIONS = (
    "batch 1, eval(), zero input; shapes channels-last [H, W, C] without batch "
    "(linear: [N]); params = sum numel(model.parameters()); buffers = numel of "
    "BN running_mean+running_var, bn_counters = number of num_batches_tracked; "
    "macs count only Conv2d (out_elems * in_ch/groups * kh * kw) and Linear "
    "(in * out); bias, BN, activations, pooling, elementwise ops not counted; "
    "repeated module calls are recorded per call"
)

# key -> (builder function name, extra kwargs, input [H, W, C])
MODELS = {
    "alexnet-torchvision": ("alexnet", {}, [224, 224, 3]),
    "vgg11": ("vgg11", {}, [224, 224, 3]),
    "vgg13": ("vgg13", {}, [224, 224, 3]),
    "vgg16": ("vgg16", {}, [224, 224, 3]),
    "vgg19": ("vgg19", {}, [224, 224, 3]),
    "vgg11-bn": ("vgg11_bn", {}, [224, 224, 3]),
    "vgg13-bn": ("vgg13_bn", {}, [224, 224, 3]),
    "vgg16-bn": ("vgg16_bn", {}, [224, 224, 3]),
    "vgg19-bn": ("vgg19_bn", {}, [224, 224, 3]),
    "googlenet": ("googlenet", {"aux_logits": False, "init_weights": False}, [224, 224, 3]),
    "inception-v3": ("inception_v3", {"aux_logits": False, "init_weights": False}, [299, 299, 3]),
    "resnet18": ("resnet18", {}, [224, 224, 3]),
    "resnet34": ("resnet34", {}, [224, 224, 3]),
    "resnet50": ("resnet50", {}, [224, 224, 3]),
    "resnet50@448": ("resnet50", {}, [448, 448, 3]),
    "resnet101": ("resnet101", {}, [224, 224, 3]),
    "resnet152": ("resnet152", {}, [224, 224, 3]),
    "wide-resnet50-2": ("wide_resnet50_2", {}, [224, 224, 3]),
    "wide-resnet101-2": ("wide_resnet101_2", {}, [224, 224, 3]),
    "resnext50-32x4d": ("resnext50_32x4d", {}, [224, 224, 3]),
    "resnext101-32x8d": ("resnext101_32x8d", {}, [224, 224, 3]),
    "resnext101-64x4d": ("resnext101_64x4d", {}, [224, 224, 3]),
    "densenet121": ("densenet121", {}, [224, 224, 3]),
    "densenet161": ("densenet161", {}, [224, 224, 3]),
    "densenet169": ("densenet169", {}, [224, 224, 3]),
    "densenet201": ("densenet201", {}, [224, 224, 3]),
    "squeezenet1.0": ("squeezenet1_0", {}, [224, 224, 3]),
    "squeezenet1.1": ("squeezenet1_1", {}, [224, 224, 3]),
    "mobilenet-v2": ("mobilenet_v2", {}, [224, 224, 3]),
    "shufflenet-v2": ("shufflenet_v2_x1_0", {}, [224, 224, 3]),
    "shufflenet-v2-x0.5": ("shufflenet_v2_x0_5", {}, [224, 224, 3]),
    "shufflenet-v2-x1.0": ("shufflenet_v2_x1_0", {}, [224, 224, 3]),
    "shufflenet-v2-x1.5": ("shufflenet_v2_x1_5", {}, [224, 224, 3]),
    "shufflenet-v2-x2.0": ("shufflenet_v2_x2_0", {}, [224, 224, 3]),
    "mobilenet-v3-large": ("mobilenet_v3_large", {}, [224, 224, 3]),
    "mobilenet-v3-small": ("mobilenet_v3_small", {}, [224, 224, 3]),
    "mnasnet0.5": ("mnasnet0_5", {}, [224, 224, 3]),
    "mnasnet0.75": ("mnasnet0_75", {}, [224, 224, 3]),
    "mnasnet1.0": ("mnasnet1_0", {}, [224, 224, 3]),
    "mnasnet1.3": ("mnasnet1_3", {}, [224, 224, 3]),
    "convnext-tiny": ("convnext_tiny", {}, [224, 224, 3]),
    "convnext-small": ("convnext_small", {}, [224, 224, 3]),
    "convnext-base": ("convnext_base", {}, [224, 224, 3]),
    "convnext-large": ("convnext_large", {}, [224, 224, 3]),
    # EfficientNet at the paper's resolutions (Tan & Le 2019, Section 4/Table 2), V2 at torchvision's eval crops
    "efficientnet-b0": ("efficientnet_b0", {}, [224, 224, 3]),
    "efficientnet-b1": ("efficientnet_b1", {}, [240, 240, 3]),
    "efficientnet-b2": ("efficientnet_b2", {}, [260, 260, 3]),
    "efficientnet-b3": ("efficientnet_b3", {}, [300, 300, 3]),
    "efficientnet-b4": ("efficientnet_b4", {}, [380, 380, 3]),
    "efficientnet-b5": ("efficientnet_b5", {}, [456, 456, 3]),
    "efficientnet-b6": ("efficientnet_b6", {}, [528, 528, 3]),
    "efficientnet-b7": ("efficientnet_b7", {}, [600, 600, 3]),
    "efficientnet-v2-s": ("efficientnet_v2_s", {}, [384, 384, 3]),
    "efficientnet-v2-m": ("efficientnet_v2_m", {}, [480, 480, 3]),
    "efficientnet-v2-l": ("efficientnet_v2_l", {}, [480, 480, 3]),
    # RegNet (Radosavovic et al. 2020): every size torchvision builds
    "regnet-x-400mf": ("regnet_x_400mf", {}, [224, 224, 3]),
    "regnet-x-800mf": ("regnet_x_800mf", {}, [224, 224, 3]),
    "regnet-x-1.6gf": ("regnet_x_1_6gf", {}, [224, 224, 3]),
    "regnet-x-3.2gf": ("regnet_x_3_2gf", {}, [224, 224, 3]),
    "regnet-x-8gf": ("regnet_x_8gf", {}, [224, 224, 3]),
    "regnet-x-16gf": ("regnet_x_16gf", {}, [224, 224, 3]),
    "regnet-x-32gf": ("regnet_x_32gf", {}, [224, 224, 3]),
    "regnet-y-400mf": ("regnet_y_400mf", {}, [224, 224, 3]),
    "regnet-y-800mf": ("regnet_y_800mf", {}, [224, 224, 3]),
    "regnet-y-1.6gf": ("regnet_y_1_6gf", {}, [224, 224, 3]),
    "regnet-y-3.2gf": ("regnet_y_3_2gf", {}, [224, 224, 3]),
    "regnet-y-8gf": ("regnet_y_8gf", {}, [224, 224, 3]),
    "regnet-y-16gf": ("regnet_y_16gf", {}, [224, 224, 3]),
    "regnet-y-32gf": ("regnet_y_32gf", {}, [224, 224, 3]),
    "regnet-y-128gf": ("regnet_y_128gf", {}, [224, 224, 3]),
}


def builder_string(fn_name, kwargs):
    """Render the builder call, e.g. 'googlenet(weights=None, aux_logits=False)'."""
    args = ["weights=None"] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return "{}({})".format(fn_name, ", ".join(args))


def build_model(fn_name, kwargs):
    """Build a torchvision model without weights, in eval mode."""
    model = getattr(models, fn_name)(weights=None, **kwargs)
    return model.eval()


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def count_buffers(model):
    """Return (running-stat buffer numel, number of num_batches_tracked buffers)."""
    stats = counters = 0
    for name, buf in model.named_buffers():
        if name.endswith("running_mean") or name.endswith("running_var"):
            stats += buf.numel()
        elif name.endswith("num_batches_tracked"):
            counters += 1
    return stats, counters


def module_params(module):
    return sum(p.numel() for p in module.parameters())


def conv_record(name, module, output):
    n, c, h, w = output.shape
    kh, kw = module.kernel_size
    macs = (output.numel() // n) * (module.in_channels // module.groups) * kh * kw
    return {
        "kind": "conv",
        "name": name,
        "output": [h, w, c],
        "params": module_params(module),
        "macs": macs,
        "groups": module.groups,
        "kernel": list(module.kernel_size),
        "stride": list(module.stride),
        "padding": list(module.padding),
        "dilation": list(module.dilation),
        "bias": module.bias is not None,
    }


def fc_record(name, module, output):
    batch = output.shape[0]
    leading = output.numel() // batch // module.out_features
    return {
        "kind": "fc",
        "name": name,
        "output": list(output.shape[1:]),
        "params": module_params(module),
        "macs": module.in_features * module.out_features * leading,
        "bias": module.bias is not None,
    }


def trace_layers(model, input_hwc):
    """Run one forward pass and return (layer records in call order, output shape)."""
    layers = []
    handles = []

    def make_hook(name, record_fn):
        def hook(module, inputs, output):
            layers.append(record_fn(name, module, output))

        return hook

    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(make_hook(name, conv_record)))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(make_hook(name, fc_record)))

    h, w, c = input_hwc
    with torch.no_grad():
        out = model(torch.zeros(1, c, h, w))
    for handle in handles:
        handle.remove()
    return layers, list(out.shape[1:])


def reference_for(fn_name, kwargs, input_hwc):
    model = build_model(fn_name, kwargs)
    layers, output = trace_layers(model, input_hwc)
    buffers, bn_counters = count_buffers(model)
    return {
        "builder": builder_string(fn_name, kwargs),
        "input": list(input_hwc),
        "params": count_params(model),
        "buffers": buffers,
        "bn_counters": bn_counters,
        "macs": sum(layer["macs"] for layer in layers),
        "layers": layers,
        "output": output,
    }


def generate():
    data = {
        "generated_by": "tools/torchvision_reference.py",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "conventions": CONVENTIONS,
        "models": {},
    }
    for key, (fn_name, kwargs, input_hwc) in MODELS.items():
        ref = reference_for(fn_name, kwargs, input_hwc)
        data["models"][key] = ref
        print(f"{key:<20} params={ref['params']:<11d} macs={ref['macs']:<12d} output={ref['output']}", flush=True)
    return data


def run(generate, default_output, doc):
    """The command line of a reference script: ``-o PATH``, a fixed seed, deterministic JSON (also used by
    tools/reference_models.py)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("-o", "--output", default=default_output, help="JSON file to write (default: %(default)s)")
    args = parser.parse_args()
    torch.manual_seed(0)
    data = generate()
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {args.output}")


def main():
    run(generate, DEFAULT_OUTPUT, __doc__)


if __name__ == "__main__":
    main()
