"""Keeping big specs linear: the cyclic garbage collector paused while a spec is read, expanded or counted.

These stages allocate hundreds of thousands of small acyclic objects (nodes, shapes, locations); CPython's
generational collector would walk all live objects again and again as they accumulate, which makes a
100,000-layer spec quadratic. Nothing here forms reference cycles, so reference counting frees everything.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def without_gc(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` with the cyclic collector paused (restored afterwards, also on errors)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        was = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was:
                gc.enable()

    return wrapper
