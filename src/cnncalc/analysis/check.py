"""Checking files: parse, evaluate the spec and every variant, check expectations and budgets (`cnncalc check`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import CnncalcError, Diagnostic, ExpectationError, Location
from ..graph import Work
from ..pipeline import evaluate
from ..shapes import Shape
from ..spec import Expectations, did_you_mean, load_spec
from .expectations import check_expectations


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of checking one spec file (every variant)."""

    file: str
    configs: tuple[str, ...]  # "(base)" and each variant that was evaluated
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        """True when no diagnostic is an error."""
        return not any(d.severity == "error" for d in self.diagnostics)


def _diag(err: CnncalcError, variant: str | None) -> Diagnostic:
    d = Diagnostic.from_error(err)
    if variant is not None:
        d = d.with_message(f"[variant {variant}] {d.message}")
    return d


def check_spec_file(
    path: str | Path,
    max_params: int | None = None,
    max_macs: int | None = None,
    *,
    variant: str | None = None,
    sets: Mapping[str, str] | None = None,
    input_shape: Shape | None = None,
    no_bias: bool = False,
    batch: int = 1,
) -> CheckResult:
    """Parse ``path``, evaluate the spec and each variant, and check every expectation and budget.

    With ``variant`` only that variant is evaluated. Overrides (``sets``, ``input_shape``, ``no_bias``,
    ``batch``) describe another configuration than the one the file's expectations state, so with any of
    them only parsing, shapes and the budgets are checked.
    """
    file = str(path)
    try:
        spec = load_spec(path)
    except CnncalcError as err:
        return CheckResult(file, (), (_diag(err, None),))
    diags: list[Diagnostic] = []
    known = {v.name for v in spec.variants}
    by_variant = {name: exp for name, _, exp in spec.expect.variants}
    for name, loc, _ in spec.expect.variants:
        if name not in known:
            diags.append(
                _diag(
                    ExpectationError(
                        f"expect.variants: no variant `{name}`{did_you_mean(name, known)}", loc, code="E504"
                    ),
                    None,
                )
            )
    overridden = bool(sets) or input_shape is not None or no_bias or batch != 1
    configs: list[str] = []
    work = Work()  # the file's budgets, shared by the spec and all its variants
    for config in (variant,) if variant is not None else (None, *(v.name for v in spec.variants)):
        configs.append(config or "(base)")
        try:
            report = evaluate(spec, config, sets, input_shape, no_bias, batch, work)
        except CnncalcError as err:
            diags.append(_diag(err, config))
            if work.exhausted:
                break  # the file's budget is spent: every further variant would fail the same way
            continue
        if config is None:
            diags.extend(report.warnings)
        if not overridden:
            expect = spec.expect if config is None else by_variant.get(config, Expectations())
            diags.extend(_diag(f, config) for f in check_expectations(report, expect))
        for label, limit, value in (("params", max_params, report.total.params), ("MACs", max_macs, report.total.macs)):
            if limit is not None and value > limit:
                diags.append(
                    _diag(
                        ExpectationError(
                            f"{value:,} {label} exceed the budget --max-{label.lower()}={limit:,} (by {value - limit:,})",
                            Location(file),
                            code="E505",
                        ),
                        config,
                    )
                )
    return CheckResult(file, tuple(configs), tuple(diags))
