"""Robustness, the CI share: random and mutated specs never crash cnncalc or give an unlocated error.

Every input must end in ``ok`` or in a located ``FILE:LINE:COL: error: ...`` (see
:func:`tests.fuzzing.outcome`). The examples are derandomized so CI is deterministic; the long,
randomized run is ``python tools/fuzz.py --cases 10000``.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings

from tests.fuzzing import generated_specs, mutated_specs, outcome

# --------------------------------------------------------------------------- excluded from the CI share only
# The two bugs once listed here (a list of lists as padding: exit 3; `rounding: exact` on huge sizes: a minute)
# are fixed; what remains is legitimately expensive input. tools/fuzz.py excludes nothing.


def _huge_repeat(text: str) -> bool:
    # Not a bug, a cost by design: the limits allow specs of up to 200,000 layers (the budget of 100,000 layers in
    # 3 s is a requirement), and such a spec takes seconds, which would make this CI share slow. tools/fuzz.py
    # runs them (and reports them as slow when over its time limit).
    return (
        re.search(
            r"repeat\s*[=:]\s*[\"']?\(?\s*(?:\d{5,}|[1-9]\d{3}\b|\(?\s*2\s*\*\*\s*\(?\s*(?:1[0-9]|[2-9]\d))", text
        )
        is not None
    )


def _known_bug(text: str) -> bool:
    return _huge_repeat(text)


CI = settings(
    deadline=None,
    derandomize=True,  # deterministic in CI; tools/fuzz.py explores with fresh seeds
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


@settings(CI, max_examples=120)
@given(generated_specs().filter(lambda t: not _known_bug(t)))
def test_generated_specs_end_in_ok_or_a_located_error(text: str) -> None:
    assert outcome(text) in ("ok", "error")


@settings(CI, max_examples=200)
@given(mutated_specs().filter(lambda t: not _known_bug(t)))
def test_mutated_bundled_specs_end_in_ok_or_a_located_error(text: str) -> None:
    assert outcome(text) in ("ok", "error")


def test_outcome_classifies() -> None:
    assert outcome("input: 8x8x3\nlayers:\n  - conv 4 3x3, relu\n") == "ok"
    assert outcome("input: 8x8x3\nlayers:\n  - conv 4 9x9\n") == "error"
    assert outcome("input: 8x8x3\nlayers: [relu]\nbogus: 1\n") == "error"
