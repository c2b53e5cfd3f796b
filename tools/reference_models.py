"""Generate PyTorch reference numbers for the networks that use cnncalc's newer ops (issue 9).

What it does
------------
For each model in ``MODELS`` this script builds the network in PyTorch with no
weights (nothing is ever downloaded), puts it in ``eval()`` mode and runs one
forward pass under ``torch.no_grad()`` on a zero tensor of batch 1 at the
stated input size.  Forward hooks on every ``nn.Conv2d``, ``nn.ConvTranspose2d``
and ``nn.Linear`` record, in execution order, each call's output shape,
parameters and MACs.  The results are written as deterministic JSON
(``indent=1``, ``sort_keys=True``) to ``tests/data/vocabulary_reference.json``;
tests/test_vocabulary_networks.py compares the bundled specs against it.

The networks:

* ConvNeXt-Tiny/Small/Base/Large: ``torchvision.models.convnext_*``.
* FCN-ResNet50/101, DeepLabV3-ResNet50/101/MobileNetV3-Large, LR-ASPP-MobileNetV3-Large:
  ``torchvision.models.segmentation.*`` with ``weights=None, weights_backbone=None``
  (``aux_loss=False`` where the builder takes it), 21 classes, at 520x520.
* U-Net (Ronneberger, Fischer & Brox 2015, Fig. 1), written below from the paper:
  valid 3x3 convs with bias + ReLU, 2x2 max pool stride 2, 2x2 up-convolution
  (``ConvTranspose2d(k=2, s=2)``) halving the channels, centre crop of the skip
  then concatenation, 64..1024 channels, final 1x1 conv to 2 classes; no batch norm.
* DCGAN generator and discriminator as in PyTorch's ``examples/dcgan/main.py``
  (nz=100, ngf=ndf=64, nc=3), written below from the example's code.  The
  example's discriminator flattens its 1x1x1 map with ``view(-1, 1)``; the
  reference records the map itself.

torch/torchvision are NOT project dependencies; use a throwaway virtualenv::

    python -m venv /root/tvenv
    /root/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /root/tvenv/bin/python tools/reference_models.py [-o PATH]

Counting conventions
--------------------
* shapes are reported channels-last, without the batch dim: ``[H, W, C]``;
  a linear layer on a 2-D tensor as ``[N]`` (on an NHWC tensor ``[H, W, C]``);
  segmentation models' output is their ``"out"`` tensor.
* ``params``: sum of ``p.numel()`` over ``model.parameters()`` (including
  BatchNorm/LayerNorm gamma/beta and ConvNeXt's layer-scale vectors).
* ``buffers``: numel of BatchNorm ``running_mean``/``running_var`` buffers;
  the scalar ``num_batches_tracked`` buffers are counted in ``bn_counters``.
* ``macs`` (multiply-accumulates, batch 1), only these layers count:
  Conv2d = output elements * (in_channels // groups) * kh * kw;
  ConvTranspose2d = input elements * (out_channels // groups) * kh * kw (every
  input element times every weight it meets, the fvcore / FlopCounterMode convention);
  Linear = in_features * out_features * (positions it is applied at).
  Bias adds, normalisation, activations, pooling, interpolation, elementwise
  adds/muls and concatenations are NOT counted.
* a module called more than once is recorded once per call.
"""

import os

import torch
import torchvision
from torch import nn
from torchvision import models
from torchvision.models import segmentation
from torchvision_reference import count_buffers, count_params, module_params, run  # the sibling script

DEFAULT_OUTPUT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "tests",
    "data",
    "vocabulary_reference.json",
)

CONVENTIONS = (
    "batch 1, eval(), zero input; shapes channels-last [H, W, C] without batch "
    "(linear on a 2-D tensor: [N]); params = sum numel(model.parameters()); buffers = numel of "
    "BN running_mean+running_var, bn_counters = number of num_batches_tracked; "
    "macs count only Conv2d (out_elems * in_ch/groups * kh * kw), ConvTranspose2d "
    "(in_elems * out_ch/groups * kh * kw) and Linear (in * out * positions); bias, norms, "
    "activations, pooling, interpolation, elementwise ops not counted; repeated module calls are recorded per call"
)


# ---------------------------------------------------------------- U-Net (Ronneberger et al. 2015, Fig. 1)


def double_conv(cin, cout):
    """Two valid 3x3 convolutions, each followed by a ReLU (the paper's blue arrows)."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3),
        nn.ReLU(inplace=True),
    )


def center_crop(x, h, w):
    """Crop the centre h x w of an NCHW tensor (the paper's 'copy and crop')."""
    top = (x.shape[2] - h) // 2
    left = (x.shape[3] - w) // 2
    return x[:, :, top : top + h, left : left + w]


class UNet(nn.Module):
    """The paper's network: a 4-step contracting path, a 1024-channel bottom, a 4-step expansive path."""

    def __init__(self, in_channels=1, classes=2, widths=(64, 128, 256, 512, 1024)):
        super().__init__()
        self.down = nn.ModuleList()
        cin = in_channels
        for w in widths[:-1]:
            self.down.append(double_conv(cin, w))
            cin = w
        self.pool = nn.MaxPool2d(2, stride=2)
        self.bottom = double_conv(widths[-2], widths[-1])
        self.upconv = nn.ModuleList()
        self.up = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.upconv.append(nn.ConvTranspose2d(2 * w, w, 2, stride=2))  # halves the channels
            self.up.append(double_conv(2 * w, w))  # after concatenating the cropped skip
        self.head = nn.Conv2d(widths[0], classes, 1)

    def forward(self, x):
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for upconv, block, skip in zip(self.upconv, self.up, reversed(skips)):
            x = upconv(x)
            x = torch.cat([center_crop(skip, x.shape[2], x.shape[3]), x], dim=1)
            x = block(x)
        return self.head(x)


# ---------------------------------------------------------------- DCGAN (pytorch/examples, dcgan/main.py)


class DCGANGenerator(nn.Module):
    def __init__(self, nz=100, ngf=64, nc=3):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),  # 4x4
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),  # 8x8
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),  # 16x16
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),  # 32x32
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),  # 64x64
            nn.Tanh(),
        )

    def forward(self, x):
        return self.main(x)


class DCGANDiscriminator(nn.Module):
    def __init__(self, nc=3, ndf=64):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),  # 32x32
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),  # 16x16
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),  # 8x8
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),  # 4x4
            nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),  # 1x1
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.main(x)  # the example returns .view(-1, 1) of this 1x1x1 map


# ---------------------------------------------------------------- the table of models


def torchvision_model(fn_name, **kwargs):
    def build():
        return getattr(models, fn_name)(weights=None, **kwargs)

    args = ", ".join(["weights=None"] + [f"{k}={v!r}" for k, v in kwargs.items()])
    return build, f"torchvision.models.{fn_name}({args})"


def segmentation_model(fn_name, **kwargs):
    def build():
        return getattr(segmentation, fn_name)(weights=None, weights_backbone=None, num_classes=21, **kwargs)

    args = ", ".join(
        ["weights=None", "weights_backbone=None", "num_classes=21"] + [f"{k}={v!r}" for k, v in kwargs.items()]
    )
    return build, f"torchvision.models.segmentation.{fn_name}({args})"


def local_model(cls, description):
    return cls, description


# key -> ((builder, description), input [H, W, C])
MODELS = {
    "convnext-tiny": (torchvision_model("convnext_tiny"), [224, 224, 3]),
    "convnext-small": (torchvision_model("convnext_small"), [224, 224, 3]),
    "convnext-base": (torchvision_model("convnext_base"), [224, 224, 3]),
    "convnext-large": (torchvision_model("convnext_large"), [224, 224, 3]),
    "unet": (local_model(UNet, "UNet() in tools/reference_models.py (Ronneberger et al. 2015, Fig. 1)"), [572, 572, 1]),
    "dcgan": (
        local_model(DCGANGenerator, "DCGANGenerator(nz=100, ngf=64, nc=3) in tools/reference_models.py"),
        [1, 1, 100],
    ),
    "dcgan-discriminator": (
        local_model(DCGANDiscriminator, "DCGANDiscriminator(nc=3, ndf=64) in tools/reference_models.py"),
        [64, 64, 3],
    ),
    "fcn-resnet50": (segmentation_model("fcn_resnet50", aux_loss=False), [520, 520, 3]),
    "fcn-resnet101": (segmentation_model("fcn_resnet101", aux_loss=False), [520, 520, 3]),
    "deeplabv3-resnet50": (segmentation_model("deeplabv3_resnet50", aux_loss=False), [520, 520, 3]),
    "deeplabv3-resnet101": (segmentation_model("deeplabv3_resnet101", aux_loss=False), [520, 520, 3]),
    "deeplabv3-mobilenet-v3-large": (
        segmentation_model("deeplabv3_mobilenet_v3_large", aux_loss=False),
        [520, 520, 3],
    ),
    "lraspp-mobilenet-v3-large": (segmentation_model("lraspp_mobilenet_v3_large"), [520, 520, 3]),
}


# ---------------------------------------------------------------- counting


def hwc(t):
    """Channels-last shape without the batch dim of an NCHW (or N x F) tensor."""
    if t.dim() == 4:
        _, c, h, w = t.shape
        return [h, w, c]
    return list(t.shape[1:])


def conv_common(module):
    return {
        "groups": module.groups,
        "kernel": list(module.kernel_size),
        "stride": list(module.stride),
        "padding": list(module.padding),
        "dilation": list(module.dilation),
        "bias": module.bias is not None,
    }


def conv_record(name, module, inputs, output):
    kh, kw = module.kernel_size
    macs = (output.numel() // output.shape[0]) * (module.in_channels // module.groups) * kh * kw
    return {"kind": "conv", "name": name, "output": hwc(output), "params": module_params(module), "macs": macs} | (
        conv_common(module)
    )


def deconv_record(name, module, inputs, output):
    x = inputs[0]
    kh, kw = module.kernel_size
    macs = (x.numel() // x.shape[0]) * (module.out_channels // module.groups) * kh * kw
    record = {"kind": "deconv", "name": name, "output": hwc(output), "params": module_params(module), "macs": macs}
    return record | conv_common(module) | {"output_padding": list(module.output_padding)}


def linear_record(name, module, inputs, output):
    batch = output.shape[0]
    positions = output.numel() // batch // module.out_features
    return {
        "kind": "fc" if output.dim() == 2 else "linear",
        "name": name,
        "output": list(output.shape[1:]),  # a Linear acts on the last dim: NHWC in, NHWC out
        "params": module_params(module),
        "macs": module.in_features * module.out_features * positions,
        "bias": module.bias is not None,
    }


def trace_layers(model, input_hwc):
    """Run one forward pass and return (layer records in call order, output shape)."""
    layers = []
    handles = []

    def make_hook(name, record_fn):
        def hook(module, inputs, output):
            layers.append(record_fn(name, module, inputs, output))

        return hook

    for name, module in model.named_modules():
        if isinstance(module, nn.ConvTranspose2d):
            handles.append(module.register_forward_hook(make_hook(name, deconv_record)))
        elif isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(make_hook(name, conv_record)))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(make_hook(name, linear_record)))

    h, w, c = input_hwc
    with torch.no_grad():
        out = model(torch.zeros(1, c, h, w))
    for handle in handles:
        handle.remove()
    if isinstance(out, dict):
        out = out["out"]
    return layers, hwc(out)


def reference_for(build, description, input_hwc):
    model = build().eval()
    layers, output = trace_layers(model, input_hwc)
    buffers, bn_counters = count_buffers(model)
    return {
        "builder": description,
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
        "generated_by": "tools/reference_models.py",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "conventions": CONVENTIONS,
        "models": {},
    }
    for key, ((build, description), input_hwc) in MODELS.items():
        ref = reference_for(build, description, input_hwc)
        data["models"][key] = ref
        print(f"{key:<30} params={ref['params']:<11d} macs={ref['macs']:<13d} output={ref['output']}")
    return data


def main():
    run(generate, DEFAULT_OUTPUT, __doc__)


if __name__ == "__main__":
    main()
