"""The ops of segmentation, generative and modern classification networks (registered on import by layers.py).

Transposed convolution, upsampling, pixel (un)shuffle, crop and zero padding change the grid; LayerNorm,
GroupNorm and InstanceNorm normalise without running statistics; ``linear`` is a fully connected layer applied
at every position (ConvNeXt's pointwise MLP); ``layerscale`` a learnable per-channel scale; ``droppath``
stochastic depth. Each entry is complete here: arguments, shape, counts, receptive-field rule and explanation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

from . import fields
from . import onnxcode as ox
from .argkinds import BOOL, COUNT, DIM, DIM0, LAYER, NUMBER, PAD_AMOUNT, POSITIVE, PROBABILITY, Choice
from .errors import ShapeError
from .expr import Dim
from .fields import Axis, Field, FieldArgs
from .layers import ArgSpec, Attrs, Ctx, LayerType, n, pair, register, resolve_pad
from .onnxcode import onnx
from .shapes import Shape
from .torchcode import TorchCode, kw, pos, size_arg

# --------------------------------------------------------------------------- transposed convolution


def _need_grid(op: str, x: Shape) -> None:
    if x.is_flat:
        raise ShapeError(f"`{op}` needs an HxWxC input, got the flat vector {x}", code="E401")


def _deconv_axis(size: int, k: int, s: int, p: int, op: int, d: int) -> int:
    return (size - 1) * s - 2 * p + d * (k - 1) + op + 1


def _deconv_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    x = ins[0]
    _need_grid("deconv", x)
    g = a["groups"]
    if x.c % g or a["out"] % g:
        raise ShapeError(
            f"groups={g} must divide the input channels ({x.c}) and the output channels ({a['out']})", code="E402"
        )
    (kh, kw), (sh, sw), (ph, pw), (oh, ow), (dh, dw) = (
        pair(a[k]) for k in ("kernel", "stride", "pad", "out_pad", "dilation")
    )
    if oh >= max(sh, dh) or ow >= max(sw, dw):
        raise ShapeError(
            f"output padding {oh}x{ow} must be smaller than the stride {sh}x{sw} or the dilation {dh}x{dw}"
            " (PyTorch's rule)",
            code="E402",
        )
    h = _deconv_axis(x.h, kh, sh, ph, oh, dh)
    w = _deconv_axis(x.w, kw, sw, pw, ow, dw)
    if h < 1 or w < 1:
        raise ShapeError(
            f"the output would be {h}x{w}: padding {ph}x{pw} removes more than the transposed convolution adds",
            code="E401",
        )
    ctx.info["deconv"] = ((x.h, kh, sh, ph, oh, dh, h), (x.w, kw, sw, pw, ow, dw, w))
    return Shape.spatial(h, w, a["out"])


def _deconv_params(a: Attrs, ins: list[Shape], out: Shape) -> tuple[int, int]:
    kh, kw = pair(a["kernel"])
    return kh * kw * ins[0].c * (out.c // a["groups"]), out.c if a["bias"] else 0


def _deconv_macs(a: Attrs, ins: list[Shape], out: Shape) -> int:
    kh, kw = pair(a["kernel"])
    groups: int = a["groups"]
    return ins[0].numel * (out.c // groups) * kh * kw


def _deconv_field(x: FieldArgs) -> Field:
    f = x.srcs[0]
    if f is None:
        return None
    return tuple(  # type: ignore[return-value]
        _deconv_axis_field(f[i], k, s, p, d) for i, (_, k, s, p, _, d, _) in enumerate(x.info["deconv"])
    )


def _deconv_axis_field(a: Axis, k: int, s: int, p: int, d: int) -> Axis:
    # Output o reads input i through kernel tap t when i*s - p + t*d = o: every s outputs, one input further.
    def taps(o: int) -> tuple[int, int] | None:
        reads = [(o + p - t * d) // s for t in range(k) if (o + p - t * d) % s == 0]
        return (min(reads), max(reads)) if reads else None

    return fields.gather(a, s, 1, taps)


def _deconv_explain(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> list[str]:
    x = ins[0]
    g = a["groups"]
    kh, kw = pair(a["kernel"])
    w, b = _deconv_params(a, ins, out)
    lines = [f"input {x} -> output {out}: each input value scatters a {kh} x {kw} x {out.c // g} kernel"]
    for axis, (size, k, s, p, op, d, o) in zip(("height", "width"), info["deconv"]):
        span = str(k - 1) if d == 1 else f"{d}x({k} - 1)"
        lines.append(f"{axis}: ({size} - 1)x{s} - 2x{p} + {span} + {op} + 1 = {o}")
    lines.append(
        f"params: ({kh} x {kw} x {out.c // g}) x {x.c}"
        + (f" + {out.c}" if b else "")
        + f" = {n(w + b)}"
        + ("" if b else " (no bias)")
    )
    lines.append(
        f"MACs: {x.h} x {x.w} x {x.c} x ({kh} x {kw} x {out.c}{f'/{g}' if g > 1 else ''})"
        f" = {n(_deconv_macs(a, ins, out))}"
        " (every input value times every weight it meets; the convention of fvcore and PyTorch's FlopCounter)"
    )
    return lines


def _deconv_onnx(node: ox.OnnxNode) -> ox.Args:
    """``deconv`` from ``ConvTranspose``: weights [C, C'/groups, kh, kw]; output_shape is taken as padding."""
    ox.need_grid(node)
    w = node.weight(1)
    if w is None or len(w) != 4:
        raise ox.UnsupportedError("the weights are not a parameter of 4 dimensions (a 2-D transposed convolution)")
    if "output_shape" in node.attrs or node.attrs.get("auto_pad", "NOTSET") != "NOTSET":
        raise ox.UnsupportedError("output_shape or auto_pad (give pads and output_padding)")
    kernel = ox.pair_attr(node, "kernel_shape", 0) if "kernel_shape" in node.attrs else (w[2], w[3])
    pad = ox.pads(node, kernel, (1, 1))
    if isinstance(pad, dict):
        raise ox.UnsupportedError("asymmetric padding")
    g = int(node.attrs.get("group", 1))
    return {
        "out": w[1] * g,
        "kernel": kernel,
        "stride": ox.square(ox.pair_attr(node, "strides", 1)),
        "pad": pad,
        "out_pad": ox.square(ox.pair_attr(node, "output_padding", 0)),
        "dilation": ox.square(ox.pair_attr(node, "dilations", 1)),
        "groups": g,
        "bias": node.weight(2) is not None,
    }


def _deconv_torch(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> TorchCode:
    return TorchCode(
        "nn.ConvTranspose2d",
        (
            pos("in_channels", ins[0].c),
            pos("out_channels", out.c),
            pos("kernel_size", size_arg(pair(a["kernel"]))),
            kw("stride", size_arg(pair(a["stride"])), 1),
            kw("padding", size_arg(pair(a["pad"])), 0),
            kw("output_padding", size_arg(pair(a["out_pad"])), 0),
            kw("groups", a["groups"], 1),
            kw("bias", a["bias"], True),
            kw("dilation", size_arg(pair(a["dilation"])), 1),
        ),
    )


register(
    LayerType(
        "deconv",
        "transposed convolution (PyTorch's ConvTranspose2d): upsamples by the stride",
        (
            ArgSpec("out", COUNT, positional=True, doc="output channels"),
            ArgSpec("kernel", DIM, positional=True, doc="K or KhxKw"),
            ArgSpec("stride", DIM, 1, doc="upsampling factor per axis"),
            ArgSpec("pad", DIM0, 0, doc="P or PhxPw: removed from each side of the output"),
            ArgSpec("out_pad", DIM0, 0, doc="added to the bottom/right (output_padding)"),
            ArgSpec("dilation", DIM, 1),
            ArgSpec("groups", COUNT, 1),
            ArgSpec("bias", BOOL, True),
        ),
        _deconv_shape,
        _deconv_params,
        _deconv_macs,
        params_doc="kh·kw·C·(C'/groups) + C' bias",
        macs_doc="H·W·C·(C'/groups)·kh·kw, counted per *input* element",
        aliases=("ConvTranspose2d", "Conv2DTranspose", "Deconvolution", "conv_transpose", "transposed_conv"),
        ops=lambda a, i, o: o.numel if a["bias"] else 0,
        ops_doc="1 bias add per output element (if bias)",
        explain=_deconv_explain,
        rf=_deconv_field,
        rf_doc="output o reads the inputs i with i·s - pad + t·d = o: exact per phase, stride j/s",
        example="deconv 8 4x4 stride=2 pad=1",
        grad_input_macs=_deconv_macs,
        grad_input_doc="= MACs (a convolution of the output gradient with the same weights)",
        grad_weight_macs=_deconv_macs,
        grad_weight_doc="= MACs (every input value times each output gradient it reached)",
        onnx=onnx("ConvTranspose", read=_deconv_onnx),
        torch=_deconv_torch,
    )
)

# --------------------------------------------------------------------------- upsampling


_TAPS = {"nearest": 1, "bilinear": 2, "bicubic": 4}


def _upsample_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    x = ins[0]
    _need_grid("upsample", x)
    given = [k for k in ("scale", "size", "to") if a[k] is not None]
    if len(given) != 1:
        raise ShapeError(
            "`upsample` needs exactly one of a scale (upsample 2), size=HxW or to=LAYER"
            + (f"; got {' and '.join(given)}" if given else ""),
            code="E402",
        )
    if a["align_corners"] and a["mode"] == "nearest":
        raise ShapeError("align_corners applies to bilinear and bicubic, not nearest", code="E402")
    if a["scale"] is not None:
        sh, sw = (a["scale"], a["scale"]) if not isinstance(a["scale"], Dim) else (a["scale"].a, a["scale"].b)
        h, w = int(x.h * sh), int(x.w * sw)  # PyTorch: floor(n * scale)
    elif a["size"] is not None:
        h, w = pair(a["size"])
    else:
        target: Shape = a["to"]
        if target.is_flat:
            raise ShapeError(f"`to=` names a layer with the flat output {target}; it needs HxW", code="E402")
        h, w = target.h, target.w
    if h < 1 or w < 1:
        raise ShapeError(f"the output would be {h}x{w}", code="E401")
    return Shape.spatial(h, w, x.c)


def _upsample_scale(a: Attrs, size: int, out: int, axis: int) -> Fraction:
    """The factor PyTorch maps output to input coordinates with: the given scale, else out/in."""
    s = a["scale"]
    if s is not None:
        return Fraction(s.a if axis == 0 else s.b) if isinstance(s, Dim) else Fraction(s)
    return Fraction(out, size)


def _upsample_field(x: FieldArgs) -> Field:
    f = x.srcs[0]
    if f is None:
        return None
    i, o, a = x.ins[0], x.out, x.attrs
    return (
        _upsample_axis(f[0], a, i.h, o.h, 0),
        _upsample_axis(f[1], a, i.w, o.w, 1),
    )


def _upsample_axis(f: Axis, a: Attrs, size: int, out: int, axis: int) -> Axis:
    """PyTorch's sampling: nearest reads floor(o r); bilinear and bicubic interpolate around
    (o + 1/2) r - 1/2 (or o (n-1)/(m-1) with align_corners), r = inputs per output. A tap whose weight is 0 (the
    sample falls exactly on an input) reads nothing."""
    mode = a["mode"]
    if a["align_corners"]:
        r = Fraction(size - 1, out - 1) if out > 1 else Fraction(0)
        centre = Fraction(0)
    else:
        r = 1 / _upsample_scale(a, size, out, axis)
        centre = Fraction(0) if mode == "nearest" else (r - 1) / 2
    per, advance = (r.denominator, r.numerator) if r else (1, 0)

    def taps(o: int) -> tuple[int, int]:
        src = o * r + centre
        i0 = src.numerator // src.denominator
        if mode == "nearest" or src == i0:
            return (i0, i0)
        return (i0, i0 + 1) if mode == "bilinear" else (i0 - 1, i0 + 2)

    return fields.gather(f, per, advance, taps)


def _upsample_explain(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> list[str]:
    x = ins[0]
    if a["scale"] is not None:
        how = f"by {a['scale']} (floor({x.h} x {a['scale']}) = {out.h}, floor({x.w} x {a['scale']}) = {out.w})"
    elif a["size"] is not None:
        how = f"to {out.h}x{out.w}"
    else:
        how = f"to the size of the named layer, {out.h}x{out.w}"
    taps = _TAPS[a["mode"]]
    return [
        f"{a['mode']} interpolation {how}: {x} -> {out}, each channel on its own",
        f"each output reads {taps * taps} input value{'s' * (taps > 1)} ({taps} x {taps})"
        + (" with align_corners" if a["align_corners"] else ""),
        "no parameters; 0 MACs (interpolation weights: see --ops)",
    ]


def _upsample_torch(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> TorchCode:
    scale = a["scale"]
    if scale is not None:  # the factor itself: PyTorch maps output to input coordinates with it
        factor = (float(scale.a), float(scale.b)) if isinstance(scale, Dim) else float(scale)
        how = kw("scale_factor", factor[0] if isinstance(factor, tuple) and factor[0] == factor[1] else factor)
    else:  # size=HxW, or to=LAYER: that layer's size in this configuration
        how = kw("size", size_arg((out.h, out.w)))
    args = [how, kw("mode", a["mode"], "nearest")]
    if a["mode"] != "nearest":
        args.append(kw("align_corners", a["align_corners"], False))
    return TorchCode("nn.Upsample", tuple(args))


register(
    LayerType(
        "upsample",
        "upsampling by interpolation (nearest, bilinear, bicubic): by a scale, to a size, or to a named layer's size",
        (
            ArgSpec("scale", POSITIVE, optional=True, positional=True, doc="factor; the output is floor(n·scale)"),
            ArgSpec("mode", Choice(tuple(_TAPS)), "nearest"),
            ArgSpec("size", DIM, optional=True, doc="output HxW"),
            ArgSpec("to", LAYER, optional=True, doc="the HxW of an earlier layer (U-Net, FPN, DeepLab)"),
            ArgSpec("align_corners", BOOL, False),
        ),
        _upsample_shape,
        aliases=(
            "Upsample",
            "UpSampling2D",
            "interpolate",
            "resize",
            "UpsamplingNearest2d",
            "UpsamplingBilinear2d",
            "Resize",
        ),
        ops=lambda a, i, o: o.numel * (_TAPS[a["mode"]] ** 2 if a["mode"] != "nearest" else 0),
        ops_doc="taps² multiplies per output element (nearest 0, bilinear 4, bicubic 16)",
        explain=_upsample_explain,
        rf=_upsample_field,
        rf_doc="the inputs each output samples (nearest 1, bilinear 2, bicubic 4; 1 where it falls on an input): exact per phase, stride j/scale",
        example="upsample 2 mode=bilinear",
        onnx=onnx("Resize", "Upsample", read=ox.resize_args),
        torch=_upsample_torch,
    )
)

# --------------------------------------------------------------------------- pixel shuffle


def _pixel_shuffle_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    x, r = ins[0], a["factor"]
    _need_grid("pixel_shuffle", x)
    if x.c % (r * r):
        raise ShapeError(f"pixel_shuffle {r} needs channels ({x.c}) divisible by {r}x{r} = {r * r}", code="E402")
    return Shape.spatial(x.h * r, x.w * r, x.c // (r * r))


def _pixel_unshuffle_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    x, r = ins[0], a["factor"]
    _need_grid("pixel_unshuffle", x)
    if x.h % r or x.w % r:
        raise ShapeError(f"pixel_unshuffle {r} needs height and width ({x.h}x{x.w}) divisible by {r}", code="E402")
    return Shape.spatial(x.h // r, x.w // r, x.c * r * r)


def _pixel_shuffle_field(x: FieldArgs) -> Field:
    f, r = x.srcs[0], x.attrs["factor"]
    if f is None:
        return None
    return (
        fields.gather(f[0], r, 1, lambda o: (o // r, o // r)),
        fields.gather(f[1], r, 1, lambda o: (o // r, o // r)),
    )


def _pixel_unshuffle_field(x: FieldArgs) -> Field:
    f, r = x.srcs[0], x.attrs["factor"]
    return None if f is None else (fields.window(f[0], r, r, 0), fields.window(f[1], r, r, 0))


register(
    LayerType(
        "pixel_shuffle",
        "rearranges C·r² channels into an r-times larger grid (sub-pixel convolution; depth to space)",
        (ArgSpec("factor", COUNT, positional=True, doc="r"),),
        _pixel_shuffle_shape,
        aliases=("PixelShuffle", "depth_to_space", "DepthToSpace"),
        explain=lambda a, i, o, info: [
            f"moves each group of {a['factor']}x{a['factor']} channels to a {a['factor']}x{a['factor']} block of "
            f"positions: {i[0]} -> {o}",
            "no parameters; 0 MACs (data movement only)",
        ],
        rf=_pixel_shuffle_field,
        rf_doc="output o reads input o // r: stride j/r",
        example="pixel_shuffle 2",
        onnx=onnx("DepthToSpace", read=lambda node: {"factor": int(node.attrs["blocksize"])}),
        torch=lambda a, i, o, info: TorchCode("nn.PixelShuffle", (pos("upscale_factor", a["factor"]),)),
    )
)
register(
    LayerType(
        "pixel_unshuffle",
        "rearranges each r x r block of positions into channels (space to depth)",
        (ArgSpec("factor", COUNT, positional=True, doc="r"),),
        _pixel_unshuffle_shape,
        aliases=("PixelUnshuffle", "space_to_depth", "SpaceToDepth"),
        explain=lambda a, i, o, info: [
            f"moves each {a['factor']}x{a['factor']} block of positions into channels: {i[0]} -> {o}",
            "no parameters; 0 MACs (data movement only)",
        ],
        rf=_pixel_unshuffle_field,
        rf_doc="an r x r window at stride r",
        example="pixel_unshuffle 2",
        onnx=onnx("SpaceToDepth", read=lambda node: {"factor": int(node.attrs["blocksize"])}),
        torch=lambda a, i, o, info: TorchCode("nn.PixelUnshuffle", (pos("downscale_factor", a["factor"]),)),
    )
)

# --------------------------------------------------------------------------- crop and zero padding


def _crop_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    x = ins[0]
    _need_grid("crop", x)
    if (a["size"] is None) == (a["to"] is None):
        raise ShapeError("`crop` needs exactly one of a size (crop 64x64) or to=LAYER", code="E402")
    if a["size"] is not None:
        h, w = pair(a["size"])
    else:
        target: Shape = a["to"]
        if target.is_flat:
            raise ShapeError(f"`to=` names a layer with the flat output {target}; it needs HxW", code="E402")
        h, w = target.h, target.w
    if h > x.h or w > x.w:
        raise ShapeError(f"cannot crop {x} to {h}x{w}: the crop is larger than the input", code="E402")
    ctx.info["crop"] = ((x.h - h) // 2, (x.w - w) // 2)
    return Shape.spatial(h, w, x.c)


def _crop_field(x: FieldArgs) -> Field:
    f = x.srcs[0]
    if f is None:
        return None
    top, left = x.info["crop"]
    return (fields.shifted(f[0], top), fields.shifted(f[1], left))


_CENTER_CROP = '''class CenterCrop(nn.Module):
    """The central height x width of the input (U-Net's copy and crop); the odd row or column is cut at the
    bottom or right."""

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        self.height, self.width = height, width

    def forward(self, x: Tensor) -> Tensor:
        top, left = (x.shape[2] - self.height) // 2, (x.shape[3] - self.width) // 2
        return x[:, :, top : top + self.height, left : left + self.width]
'''


register(
    LayerType(
        "crop",
        "centre crop to a size or to a named layer's size (U-Net's skip connections)",
        (
            ArgSpec("size", DIM, optional=True, positional=True, doc="output HxW"),
            ArgSpec("to", LAYER, optional=True, doc="the HxW of an earlier layer"),
        ),
        _crop_shape,
        aliases=("Cropping2D", "CenterCrop", "center_crop"),
        explain=lambda a, i, o, info: [
            f"keeps the central {o.h}x{o.w} of {i[0].h}x{i[0].w}: drops {info['crop'][0]} rows at the top, "
            f"{i[0].h - o.h - info['crop'][0]} at the bottom, {info['crop'][1]} columns on the left, "
            f"{i[0].w - o.w - info['crop'][1]} on the right (the odd one at the bottom/right)",
            "no parameters; 0 MACs",
        ],
        rf=_crop_field,
        rf_doc="same size and stride, centres shifted by the crop",
        example="crop 6x6",
        torch=lambda a, i, o, info: TorchCode(
            "CenterCrop", (pos("height", o.h), pos("width", o.w)), helpers=(_CENTER_CROP,)
        ),
    )
)


def _zeropad_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    x = ins[0]
    _need_grid("zeropad", x)
    t, b, left, r = resolve_pad(a["pad"], (x.h, x.w), (1, 1), (1, 1), (1, 1))
    ctx.info["pads"] = (t, b, left, r)
    return Shape.spatial(x.h + t + b, x.w + left + r, x.c)


def _zeropad_field(x: FieldArgs) -> Field:
    f = x.srcs[0]
    if f is None:
        return None
    t, _, left, _ = x.info["pads"]
    return (fields.shifted(f[0], -t), fields.shifted(f[1], -left))


register(
    LayerType(
        "zeropad",
        "explicit zero padding (P, PhxPw or per side)",
        (ArgSpec("pad", PAD_AMOUNT, positional=True, doc="P, PhxPw or {top, bottom, left, right}"),),
        _zeropad_shape,
        aliases=("ZeroPad2d", "ZeroPadding2D", "ConstantPad2d"),
        explain=lambda a, i, o, info: [
            "adds zeros: top {}, bottom {}, left {}, right {}: {} -> {}".format(*info["pads"], i[0], o),
            "no parameters; 0 MACs",
        ],
        rf=_zeropad_field,
        rf_doc="same size and stride, centres shifted by the leading padding",
        example="zeropad 1x2",
        onnx=onnx("Pad", read=ox.pad_args),
        torch=lambda a, i, o, info: TorchCode(
            "nn.ZeroPad2d", (pos("padding", (info["pads"][2], info["pads"][3], info["pads"][0], info["pads"][1])),)
        ),
    )
)

# --------------------------------------------------------------------------- normalisation without running stats


_EPS = ArgSpec("eps", NUMBER, Fraction(1, 100000))


def _affine(a: Attrs, ins: list[Shape], out: Shape) -> tuple[int, int]:
    return (out.c, out.c) if a["affine"] else (0, 0)


def _register_norm(
    name: str,
    summary: str,
    args: tuple[ArgSpec, ...],
    shape: Callable[[Attrs, list[Shape], Ctx], Shape],
    aliases: tuple[str, ...],
    what: Callable[[Attrs, Shape], str],
    example: str = "",
    *,
    torch: Callable[[Attrs, list[Shape], Shape, Mapping[str, Any]], TorchCode],
    onnx: ox.OnnxRule | None = None,
) -> None:
    def explain(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> list[str]:
        lines = [f"{what(a, ins[0])}: {out}, shape unchanged"]
        if a["affine"]:
            lines.append(f"params: gamma + beta = 2 x {out.c} = {n(2 * out.c)} (per channel)")
        else:
            lines.append("no parameters (affine=false)")
        lines.append("no running statistics (buffers 0); 0 MACs (element-wise work: see --ops)")
        return lines

    register(
        LayerType(
            name,
            summary,
            (*args, _EPS, ArgSpec("affine", BOOL, name != "instancenorm", doc="learnable gamma and beta")),
            shape,
            params=_affine,
            params_doc="2·C (gamma, beta) if affine",
            aliases=aliases,
            ops=lambda a, i, o: 2 * o.numel,
            ops_doc="2 per element (normalise, scale and shift; statistics not counted)",
            explain=explain,
            elementwise=True,
            example=example,
            torch=torch,
            onnx=onnx,
        )
    )


def _groupnorm_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    x, g = ins[0], a["groups"]
    if x.c % g:
        raise ShapeError(f"groupnorm groups={g} must divide the channels ({x.c})", code="E402")
    if x.numel // g < 2:  # PyTorch refuses: the statistics of one value are undefined
        raise ShapeError(
            f"groupnorm over {x} with groups={g} has 1 value per group; PyTorch refuses (its variance is undefined)",
            code="E402",
        )
    return x


def _same(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    return ins[0]


def _instancenorm_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    _need_grid("instancenorm", ins[0])
    if ins[0].h * ins[0].w < 2:  # PyTorch refuses: one position has no spatial statistics
        raise ShapeError(
            f"instancenorm over {ins[0]} has 1 position per channel; PyTorch refuses (its variance is undefined)",
            code="E402",
        )
    return ins[0]


_LAYER_NORM_2D = '''class LayerNorm2d(nn.LayerNorm):
    """Layer normalisation over the channels at each position (ConvNeXt's LayerNorm2d)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
'''


def _layernorm_torch(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> TorchCode:
    flat = out.is_flat
    return TorchCode(
        "nn.LayerNorm" if flat else "LayerNorm2d",
        (pos("normalized_shape", out.c), kw("eps", float(a["eps"]), 1e-5), kw("elementwise_affine", a["affine"], True)),
        helpers=() if flat else (_LAYER_NORM_2D,),
    )


def _groupnorm_torch(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> TorchCode:
    return TorchCode(
        "nn.GroupNorm",
        (
            pos("num_groups", a["groups"]),
            pos("num_channels", out.c),
            kw("eps", float(a["eps"]), 1e-5),
            kw("affine", a["affine"], True),
        ),
    )


def _instancenorm_torch(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> TorchCode:
    return TorchCode(
        "nn.InstanceNorm2d",
        (pos("num_features", out.c), kw("eps", float(a["eps"]), 1e-5), kw("affine", a["affine"], False)),
    )


_register_norm(
    "layernorm",
    "layer normalisation over the channels at each position (ConvNeXt's LayerNorm2d; on a flat vector, over its"
    " features)",
    (),
    _same,
    ("LayerNorm", "LayerNorm2d", "LayerNormalization"),
    lambda a, x: f"normalises the {x.c} channels at each of the {x.h * x.w} positions",
    torch=_layernorm_torch,
    onnx=onnx("LayerNormalization", read=ox.layernorm_args),
)
_register_norm(
    "groupnorm",
    "group normalisation: statistics over each group of channels and all positions",
    (ArgSpec("groups", COUNT, positional=True),),
    _groupnorm_shape,
    ("GroupNorm", "GroupNormalization"),
    lambda a, x: f"normalises each of {a['groups']} groups of {x.c // a['groups']} channels over all positions",
    "groupnorm 4",
    torch=_groupnorm_torch,
    onnx=onnx(
        "GroupNormalization",
        read=lambda node: {
            "groups": int(node.attrs["num_groups"]),
            **ox.eps(node),
            "affine": node.weight(1) is not None,
        },
    ),
)
_register_norm(
    "instancenorm",
    "instance normalisation: statistics per channel over all positions (PyTorch's default affine=false)",
    (),
    _instancenorm_shape,
    ("InstanceNorm2d", "InstanceNormalization"),
    lambda a, x: f"normalises each of the {x.c} channels over its {x.h * x.w} positions",
    torch=_instancenorm_torch,
    onnx=onnx(
        "InstanceNormalization",
        read=ox.instancenorm_args,
    ),
)

# --------------------------------------------------------------------------- per-position linear, scale, depth


def _linear_shape(a: Attrs, ins: list[Shape], ctx: Ctx) -> Shape:
    return ins[0].with_channels(a["out"])


def _linear_explain(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> list[str]:
    x = ins[0]
    positions = x.numel // x.c
    bias = f" + {n(out.c)}" if a["bias"] else ""
    where = f"at each of the {n(positions)} positions" if not x.is_flat else "on the vector"
    return [
        f"a fully connected layer from {n(x.c)} to {n(out.c)} features, applied {where}: {x} -> {out}",
        f"params: {n(x.c)} x {n(out.c)}{bias} = {n(x.c * out.c + (out.c if a['bias'] else 0))}"
        + ("" if a["bias"] else " (no bias)"),
        f"MACs: {n(positions)} x {n(x.c)} x {n(out.c)} = {n(positions * x.c * out.c)}",
    ]


_POINTWISE_LINEAR = '''class PointwiseLinear(nn.Linear):
    """A fully connected layer over the channels at every position (ConvNeXt's MLP): nn.Linear on the
    channels-last tensor."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
'''


def _linear_onnx(node: ox.OnnxNode) -> ox.Args:
    """``linear`` from a ``MatMul`` by a [C, C'] parameter (or a ``Gemm``) on a channels-last map (ConvNeXt's MLP)."""
    if node.layout != "NHWC":
        raise ox.UnsupportedError("a matrix product over the width of an NCHW map, not over the channels")
    w = node.weight(1)
    if w is None or len(w) != 2:
        raise ox.UnsupportedError("the matrix is not a parameter")
    c_in, c_out = (w[1], w[0]) if node.attrs.get("transB", 0) else w
    if c_in != node.x.c or node.attrs.get("transA", 0):
        raise ox.UnsupportedError(f"the matrix {list(w)} does not take the {node.x.c} channels")
    return {"out": c_out, "bias": node.weight(2) is not None}


def _linear_torch(a: Attrs, ins: list[Shape], out: Shape, info: Mapping[str, Any]) -> TorchCode:
    flat = ins[0].is_flat
    return TorchCode(
        "nn.Linear" if flat else "PointwiseLinear",
        (pos("in_features", ins[0].c), pos("out_features", out.c), kw("bias", a["bias"], True)),
        helpers=() if flat else (_POINTWISE_LINEAR,),
    )


register(
    LayerType(
        "linear",
        "fully connected over the channels, applied at every position (nn.Linear on channels-last; ConvNeXt's MLP);"
        " on a flat vector the same as fc",
        (ArgSpec("out", COUNT, positional=True, doc="output features"), ArgSpec("bias", BOOL, True)),
        _linear_shape,
        lambda a, i, o: (i[0].c * o.c, o.c if a["bias"] else 0),
        lambda a, i, o: (i[0].numel // i[0].c) * i[0].c * o.c,
        params_doc="C·C' + C' bias",
        macs_doc="H·W·C·C' (positions x inputs x outputs)",
        aliases=("Linear", "Dense", "pointwise_linear"),
        ops=lambda a, i, o: o.numel if a["bias"] else 0,
        ops_doc="1 bias add per output element (if bias)",
        explain=_linear_explain,
        example="linear 64",
        grad_input_macs=lambda a, i, o: (i[0].numel // i[0].c) * i[0].c * o.c,
        grad_input_doc="= MACs (the output gradient times the weight matrix, at every position)",
        grad_weight_macs=lambda a, i, o: (i[0].numel // i[0].c) * i[0].c * o.c,
        grad_weight_doc="= MACs (the output gradient's outer product with the input, summed over positions)",
        onnx=onnx("MatMul", "Gemm", read=_linear_onnx, when=lambda node: not node.x.is_flat),
        torch=_linear_torch,
    )
)
_LAYER_SCALE = '''class LayerScale(nn.Module):
    """A learnable scale per channel (ConvNeXt's and CaiT's layer scale)."""

    def __init__(self, channels: int, init: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), init))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma.view(1, -1, *[1] * (x.dim() - 2))
'''


register(
    LayerType(
        "layerscale",
        "a learnable scale per channel (ConvNeXt's and CaiT's layer scale)",
        (ArgSpec("init", NUMBER, Fraction(1, 1000000), doc="initial value (no effect on counts)"),),
        _same,
        params=lambda a, i, o: (o.c, 0),
        params_doc="C",
        aliases=("LayerScale",),
        ops=lambda a, i, o: o.numel,
        ops_doc="1 multiply per element",
        explain=lambda a, i, o, info: [
            f"multiplies each of the {o.c} channels by its own learnable factor: {o}, shape unchanged",
            f"params: {n(o.c)}",
            "0 MACs (1 multiply per element: see --ops)",
        ],
        elementwise=True,
        onnx=onnx("Mul", when=ox.is_per_channel_parameter),
        torch=lambda a, i, o, info: TorchCode(
            "LayerScale", (pos("channels", o.c), kw("init", float(a["init"]), 1e-6)), helpers=(_LAYER_SCALE,)
        ),
    )
)
_DROP_PATH = '''class DropPath(nn.Module):
    """Stochastic depth: while training, zeroes the whole input of a sample with probability p (and scales the
    rest by 1/(1-p)); the identity at inference."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.empty(x.shape[0], *[1] * (x.dim() - 1), device=x.device).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)
'''


register(
    LayerType(
        "droppath",
        "stochastic depth: drops a whole residual branch at random while training (no cost; identity at inference)",
        (ArgSpec("p", PROBABILITY, Fraction(0), positional=True),),
        _same,
        aliases=("StochasticDepth", "DropPath", "drop_path", "stochastic_depth"),
        explain=lambda a, i, o, info: [
            f"stochastic depth (training only; the identity at inference): {o}",
            "no parameters; 0 MACs",
        ],
        elementwise=True,
        example="droppath 0.1",
        torch=lambda a, i, o, info: TorchCode("DropPath", (pos("p", float(a["p"])),), helpers=(_DROP_PATH,)),
    )
)
