"""The exact, safe expression language."""

from __future__ import annotations

import ast
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnncalc.errors import ExprError
from cnncalc.expr import METER, evaluate


@pytest.mark.parametrize(
    ("text", "env", "value"),
    [
        ("0.29*100", {}, 29),  # exact: a float would give 28.999999999999996
        ("int(64*alpha)", {"alpha": Fraction(3, 4)}, 48),
        ("max(int(32*0.25), 8)", {}, 8),
        ("divisible(32*0.75, 8)", {}, 24),
        ("divisible(96*0.5, 8)", {}, 48),
        ("divisible(0.9*8, 8)", {}, 8),
        ("depths[1]", {"depths": (3, 4, 6, 3)}, 4),
        ("4*mid", {"mid": 64}, 256),
        ("in_c//2", {"in_c": 1024}, 512),
        ("2 if i == 0 else 1", {"i": 0}, 2),
        ("stride != 1 or c != out", {"stride": 1, "c": 64, "out": 256}, True),
        ("7/2", {}, Fraction(7, 2)),
        ("round(2.5)", {}, 2),
        ("ceil(2.1)", {}, 3),
        ("2**10", {}, 1024),
        ("[1, 2] + [3]", {}, (1, 2, 3)),
    ],
)
def test_values(text: str, env: dict, value: object) -> None:
    assert evaluate(text, env) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alpah*2", "undefined name 'alpah'"),
        ("__import__('os')", "text is not allowed"),
        ("sqrt(4)", "unknown function 'sqrt'"),
        ("(lambda: 1)()", "lambda is not allowed"),
        ("x.y", r"attribute access \(a\.b\) is not allowed"),
        ("'a'", "not allowed"),
        ("1/0", "division by zero"),
        ("10**10**10", "too large"),
        ("[1][3]", "out of range"),
        ("1 +", "cannot parse"),
        ("0**-1", "division by zero"),
        ("2.5**2000", "too large"),
        ("divisible(64, 0)", "divisor must be"),
        ("round(1/3, 10**9)", "digits must be"),
        (
            "x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x",
            "bits",
        ),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(ExprError, match=message):
        evaluate(text, {"x": 10**60})


@given(st.integers(-(10**6), 10**6), st.integers(1, 10**4))
def test_integer_arithmetic_agrees_with_python(a: int, b: int) -> None:
    env = {"a": a, "b": b}
    assert evaluate("a + b", env) == a + b
    assert evaluate("a * b - b", env) == a * b - b
    assert evaluate("a // b", env) == a // b
    assert evaluate("a % b", env) == a % b
    assert evaluate("a / b", env) == Fraction(a, b)


# --------------------------------------------------------------------------- issue 11


@pytest.mark.parametrize(
    ("text", "value"),
    [("64*alpha", 32), ("0.29*100", 29), ("(0.1+0.2)*10", 3), (".5*20", 10), ("4*alpha", 2), ("alpha+alpha", 1)],
)
def test_whole_valued_rationals_are_ints(text: str, value: int) -> None:
    got = evaluate(text, {"alpha": Fraction(1, 2)})
    assert got == value and type(got) is int  # a whole Fraction would be refused as "not a whole number"


def test_results_are_remembered_per_value_and_type_of_the_names() -> None:
    env: dict[str, object] = {"x": 1}
    assert evaluate("x + 1", env) == 2  # type: ignore[arg-type]
    with pytest.raises(ExprError, match="expected a number, got 'true'"):
        evaluate("x + 1", {"x": True})  # 1 == True, but True is no number: not the remembered 2
    assert evaluate("x + 1", {"x": Fraction(3, 2)}) == Fraction(5, 2)
    with pytest.raises(ExprError, match="undefined name 'x'"):
        evaluate("x + 1", {})


def test_the_meter_counts_nodes_fractions_and_large_numbers() -> None:
    start = METER.used
    evaluate("a + b", {"a": 1, "b": 2})
    nodes = len(list(ast.walk(ast.parse("a + b", mode="eval").body)))  # Python's syntax nodes: BinOp, Name, Add...
    assert METER.used - start == 1 + nodes  # one evaluation, and its nodes
    start = METER.used
    evaluate("a + b", {"a": 1, "b": 2})
    assert METER.used - start == 2  # remembered: the look-up only
    start = METER.used
    evaluate("a + b", {"a": Fraction(1, 3), "b": 2**1000})
    assert METER.used - start == 1 + nodes + 2 + 1001 // 64  # fraction arithmetic, a 1,001-bit number


def test_lists_do_not_compare() -> None:
    shared = (1,) * 10
    for _ in range(12):  # 10**13 leaves, a few hundred bytes: comparing would walk every leaf
        shared = (shared,) * 10
    with pytest.raises(ExprError, match="cannot compare"):
        evaluate("p == q", {"p": shared, "q": shared})
