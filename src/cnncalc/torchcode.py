"""How an op becomes PyTorch code: the value a registry entry's ``torch`` field returns.

A layer type's ``torch(attrs, inputs, output, info)`` returns a :class:`TorchCode` for one layer (or a sentence
saying why this layer cannot be written in PyTorch). The code is data, not text: the constructor's name and its
arguments, each named after the constructor's parameter, so that :mod:`cnncalc.to_pytorch` can write
``nn.Conv2d(64, 128, 3, stride=2, padding=1, bias=False)``, leave out keywords at their default, and turn the
values that differ between instances of a block into the block class's arguments. Ops that need no module (the
joins, identity) give ``inline``: their forward expression over their inputs' expressions. Classes the
constructor needs (a channels-last LayerNorm, a centre crop...) come as source text in ``helpers``; the export
writes each once at the top of the file. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: A keyword argument without a default: always written.
REQUIRED: Any = object()


@dataclass(frozen=True, slots=True)
class TorchArg:
    """One argument of a constructor: ``name`` is the constructor's parameter (and names a block argument made
    of it); ``keyword`` arguments are written ``name=value`` and left out when equal to ``default``."""

    name: str
    value: Any  # int, float, bool, str, None, a tuple of these, or a nested TorchCode
    keyword: bool = False
    default: Any = REQUIRED


def pos(name: str, value: Any) -> TorchArg:
    """A positional argument."""
    return TorchArg(name, value)


def kw(name: str, value: Any, default: Any = REQUIRED) -> TorchArg:
    """A keyword argument, left out when equal to ``default``."""
    return TorchArg(name, value, True, default)


@dataclass(frozen=True, slots=True)
class TorchCode:
    """One layer as PyTorch code: a module constructor (``module`` and ``args``) or an inline expression.

    ``inline(inputs)`` is the forward expression of an op that needs no module, over its inputs' expressions
    (``torch.cat([a, b], dim=1)``); a layer with ``inline`` has no module and no parameters. ``helpers`` are
    the sources of the classes ``module`` needs (each a complete ``class`` statement). ``placeholder`` marks a
    module that stands for code cnncalc cannot write (an ``opaque`` layer): it raises until written.
    """

    module: str = ""
    args: tuple[TorchArg, ...] = ()
    inline: Callable[[Sequence[str]], str] | None = None
    helpers: tuple[str, ...] = ()
    placeholder: bool = False


def size_arg(v: tuple[int, int]) -> int | tuple[int, int]:
    """``3`` for (3, 3), else the pair: how PyTorch's constructors take a kernel, stride or padding."""
    return v[0] if v[0] == v[1] else v


__all__ = ["REQUIRED", "TorchArg", "TorchCode", "kw", "pos", "size_arg"]
