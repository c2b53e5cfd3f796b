"""Output-size arithmetic, checked against the lecture's worked examples."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from cnncalc.shapes import Shape, same_padding, window_out


def test_alexnet_conv1_is_55() -> None:
    w = window_out(227, 11, 4, 0, 0)  # lecture: (227-11)/4+1 = 55
    assert w.out == (227 - 11) // 4 + 1 == 55
    assert w.whole
    assert w.arithmetic() == "(227 + 0 + 0 - 11)/4 + 1 = 55"


def test_alexnet_pool1_is_27() -> None:
    assert window_out(55, 3, 2, 0, 0).out == (55 - 3) // 2 + 1 == 27


def test_alexnet_at_224_floors_54_25_to_54() -> None:
    w = window_out(224, 11, 4, 0, 0)
    assert w.exact == Fraction(224 - 11, 4) + 1 == Fraction(217, 4)
    assert w.out == 54
    assert "floor -> 54" in w.arithmetic()


def test_ceil_mode_googlenet_pool_112_to_56() -> None:
    assert window_out(112, 3, 2, 0, 0).out == 55
    assert window_out(112, 3, 2, 0, 0, ceil=True).out == 56


def test_ceil_mode_drops_a_window_that_starts_in_the_padding() -> None:
    # PyTorch: MaxPool2d(2, stride=2, padding=1, ceil_mode=True) on 4 gives 3, not 4.
    assert window_out(4, 2, 2, 1, 1, ceil=True).out == 3


def test_dilation_widens_the_kernel() -> None:
    assert window_out(32, 3, 1, 0, 0, dilation=2).out == 32 - (2 * (3 - 1) + 1) + 1 == 28


def test_same_padding_puts_the_odd_pixel_after() -> None:
    assert same_padding(224, 3, 2) == (0, 1)  # TF SAME: out 112, total pad 1
    assert same_padding(224, 3, 2, lower=True) == (1, 0)
    assert same_padding(7, 3, 1) == (1, 1)


@given(st.integers(1, 512), st.integers(1, 11), st.integers(1, 4))
def test_same_padding_gives_ceil_of_n_over_stride(n: int, k: int, s: int) -> None:
    p0, p1 = same_padding(n, k, s)
    assert window_out(n, k, s, p0, p1).out == -(-n // s)


def test_shape_text_and_numel() -> None:
    s = Shape.spatial(55, 55, 96)
    assert str(s) == "55x55x96" and s.numel == 55 * 55 * 96
    assert str(Shape.flat(4096)) == "4096" and Shape.flat(4096).is_flat
    assert s.with_channels(3) == Shape((55, 55, 3))
