"""Comparisons: several reports side by side, with exact ratios to the first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from .counts import LayerResult, Report, Totals


@dataclass(frozen=True, slots=True)
class Comparison:
    """Several reports side by side; ratios are to the first."""

    reports: tuple[Report, ...]
    labels: tuple[str, ...] = ()  # what the user typed for each (defaults to the reports' names)

    def label(self, i: int) -> str:
        """The column label of report ``i``."""
        if i < len(self.labels):
            return self.labels[i]
        rep = self.reports[i]
        return rep.name + (f" [{rep.variant}]" if rep.variant else "")

    def ratio(self, i: int, key: str) -> Fraction | None:
        """report[i].key / report[0].key, exactly (None when the first is 0)."""
        base = self.reports[0].total.get(key)
        return Fraction(self.reports[i].total.get(key), base) if base else None

    def rows(self, depth: int) -> list[tuple[str, list[Totals | None]]]:
        """Per-group totals at path ``depth``, matched by path across the reports (first seen order)."""
        order: list[str] = []
        tables: list[dict[str, Totals]] = []
        for rep in self.reports:
            table: dict[str, list[LayerResult]] = {}
            for key, rs in rep.groups(depth):
                if key not in table:
                    table[key] = []
                    if key not in order:
                        order.append(key)
                table[key].extend(rs)
            tables.append({k: Totals.of(v) for k, v in table.items()})
        return [(k, [t.get(k) for t in tables]) for k in order]


def compare(reports: Sequence[Report], labels: Sequence[str] = ()) -> Comparison:
    """Compare reports (ratios to the first), labelled as the user named them."""
    return Comparison(tuple(reports), tuple(labels))
