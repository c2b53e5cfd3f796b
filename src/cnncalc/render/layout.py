"""Plain-text documents laid out for a width: tables and wrapped prose.

A document is a list of blocks: :class:`Para` (prose, wrapped to the width) and :class:`Table` (columns sized to
their content). When a width is set (``--width``, ``COLUMNS`` or the terminal) and a table is wider, it is
fitted in four steps, each only as far as needed:

1. shrinkable columns (layer paths, prose) shorten to a comfortable minimum: a path in the middle
   (``features.stage#2…mul.b2.conv``), prose at its end or by wrapping;
2. optional columns are left out in the table's stated order (for ``show``: RF/stride, activations, op, the
   share bars, ops), and a note under the table names them;
3. shrinkable columns shorten further, to a hard minimum;
4. exact numbers become rounded ones (``15.5G``), with a note saying so.

Without a width (a pipe or a file) nothing in a table is shortened: every row is whole, for grep and diff (prose
wraps at :data:`PROSE_WIDTH` or the table's width). Rendering is
plain string formatting, linear in the rows: a 100,000-row table takes well under a second.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ..perf import without_gc

#: Spaces between columns.
GAP = 2
#: Shrinkable columns first shorten to this many characters (step 1), then at most to the hard minimum (step 3).
SOFT_MIN = {"middle": 24, "end": 24, "wrap": 24, "label": 8}
HARD_MIN = {"middle": 11, "end": 10, "wrap": 12, "label": 6}
#: Prose without a width (a pipe, a file) wraps at the widest table of its document, but at least here.
PROSE_WIDTH = 100

Line = tuple[str, "str | None"]


class Para(NamedTuple):
    """Prose: wrapped to the width; ``indent`` spaces before the first line, ``hang`` before the others."""

    text: str
    style: str | None = None
    indent: int = 0
    hang: int = 0


def shorten_middle(text: str, width: int, ell: str = "…") -> str:
    """``text`` in at most ``width`` characters, its middle replaced by ``ell`` (the end, a layer's name, kept longer)."""
    if len(text) <= width:
        return text
    room = width - len(ell)
    if room < 2:
        return text[: max(width, 0)]
    head = room // 3
    return text[:head] + ell + text[len(text) - (room - head) :]


def shorten_end(text: str, width: int, ell: str = "…") -> str:
    """``text`` cut to ``width`` characters, ending in ``ell``."""
    if len(text) <= width:
        return text
    return text[: max(width - len(ell), 0)].rstrip() + ell if width > len(ell) else text[:width]


def compact_number(cell: str) -> str:
    """``15,470,264,320`` -> ``15.5G``; anything that is not a whole number with separators stays as it is."""
    digits = cell.replace(",", "")
    if not digits.lstrip("-").isdigit():
        return cell
    n = int(digits)
    x = float(n)
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}" if abs(x) / scale < 100 else f"{x / scale:.0f}{unit}"
    return str(n)


@dataclass(frozen=True)
class Table:
    """A plain table: a rule under the header and above the footer; laid out for a width when printed.

    ``fit`` says per column how it may shorten: ``""`` not at all, ``"middle"`` (paths), ``"end"`` (prose cut
    with an ellipsis), ``"label"`` (short words such as op names, cut with an ellipsis), ``"wrap"`` (prose over
    several lines), ``"number"`` (exact numbers, rounded as a last resort). ``drop`` gives per column its place in the order columns are left out (1 first; 0 never).
    """

    headers: Sequence[str]
    justify: Sequence[str]
    rows: Sequence[tuple[Sequence[str], str | None]]
    footer: Sequence[str] | None = None
    fit: Sequence[str] = ()
    drop: Sequence[int] = ()

    def _fits(self) -> list[str]:
        return list(self.fit) or [""] * len(self.headers)

    def natural(self, compact: bool = False) -> list[int]:
        """Each column's width with nothing shortened (``compact``: with rounded numbers)."""
        n = len(self.headers)
        fits = self._fits()
        columns: list[Iterable[str]] = (
            [list(col) for col in zip(*(cells for cells, _ in self.rows))] if self.rows else [[] for _ in range(n)]
        )
        widths = []
        for j in range(n):
            cells = list(columns[j])
            if self.footer is not None:
                cells.append(self.footer[j])
            if compact and fits[j] == "number":
                cells = [compact_number(c) for c in cells]
            widths.append(max([len(self.headers[j]), *map(len, cells)]))
        return widths

    def plan(self, width: int | None, natural: list[int] | None = None) -> tuple[list[int], list[int], bool]:
        """The columns shown, their widths, and whether numbers are rounded, to fit ``width``."""
        natural = (natural or self.natural())[:]
        n = len(natural)
        active = list(range(n))
        if width is None:
            return active, natural, False
        fits = self._fits()
        drop = list(self.drop) or [0] * n
        w = natural[:]

        def total() -> int:
            return sum(w[j] for j in active) + GAP * (len(active) - 1)

        def squeeze(floors: dict[str, int]) -> None:
            for j in sorted((j for j in active if fits[j] in floors), key=lambda j: -w[j]):
                excess = total() - width
                if excess <= 0:
                    return
                floor = max(floors[fits[j]], len(self.headers[j]) if fits[j] != "wrap" else 0)
                w[j] -= max(0, min(excess, w[j] - floor))

        squeeze(SOFT_MIN)
        for rank in sorted({d for d in drop if d}):  # columns of one rank go together (a value and its ratio)
            if total() <= width:
                break
            active = [j for j in active if drop[j] != rank]
        squeeze(HARD_MIN)
        compact = False
        if total() > width and "number" in fits:
            compact = True
            rounded = self.natural(compact=True)
            for j in range(n):
                if fits[j] == "number":
                    w[j] = natural[j] = rounded[j]
            squeeze(HARD_MIN)
        slack = width - total()
        for j in active:  # give back what step 1 took and the dropped columns freed
            if slack <= 0:
                break
            add = min(slack, natural[j] - w[j])
            if add > 0:
                w[j] += add
                slack -= add
        return active, w, compact

    def lines(self, width: int | None, ell: str = "…") -> list[Line]:
        """The table's lines (text, style), fitted to ``width``, and a note for what fitting changed."""
        natural = self.natural()
        active, w, compact = self.plan(width, natural)
        fits = self._fits()
        if compact:
            natural = self.natural(compact=True)
        left = [j in active and self.justify[j] == "left" for j in range(len(self.headers))]
        fmt = "  ".join(f"{{{k}:{'<' if left[j] else '>'}{w[j]}}}" for k, j in enumerate(active))
        whole = len(active) == len(self.headers)
        fitted = [j for j in active if natural[j] > w[j] or (compact and fits[j] == "number")]
        wraps = any(fits[j] == "wrap" for j in fitted)
        out: list[Line] = []

        def emit(cells: Sequence[str], style: str | None) -> None:
            if not fitted:
                out.append((fmt.format(*cells if whole else [cells[j] for j in active]).rstrip(), style))
                return
            cells = list(cells)
            more: dict[int, list[str]] = {}
            for j in fitted:
                c, f = cells[j], fits[j]
                if f == "number" and compact:
                    cells[j] = c = compact_number(c)
                if len(c) <= w[j]:
                    continue
                if f == "middle":
                    cells[j] = shorten_middle(c, w[j], ell)
                elif f == "wrap":
                    parts = textwrap.wrap(c, w[j], subsequent_indent="  ", break_on_hyphens=False) or [""]
                    cells[j], more[j] = parts[0], parts[1:]
                else:
                    cells[j] = shorten_end(c, w[j], ell)
            out.append((fmt.format(*[cells[j] for j in active]).rstrip(), style))
            if wraps and more:
                for k in range(max(map(len, more.values()))):
                    extra = [more[j][k] if j in more and k < len(more[j]) else "" for j in range(len(cells))]
                    out.append((fmt.format(*[extra[j] for j in active]).rstrip(), style))

        rule = "─" * (sum(w[j] for j in active) + GAP * (len(active) - 1))
        emit(self.headers, "bold")
        out.append((rule, None))
        for cells, style in self.rows:
            emit(cells, style)
        if self.footer is not None:
            out.append((rule, None))
            emit(self.footer, "bold")
        notes = []
        # named in the order they were left out; a one-letter header (compare's "x", the ratio) goes with its
        # column and is not named again
        drop = list(self.drop) or [0] * len(self.headers)
        gone = sorted((j for j in range(len(self.headers)) if j not in active), key=lambda j: drop[j])
        dropped = list(dict.fromkeys(self.headers[j] for j in gone if len(self.headers[j]) > 1))
        if dropped:
            notes.append(
                f"left out to fit {width} columns: {', '.join(dropped)} (--width or a wider terminal shows them)"
            )
        if compact:
            notes.append(f"numbers rounded (K, M, G) to fit {width} columns; --width 120 shows them exactly")
        for note in notes:
            out.extend((line, "dim") for line in textwrap.wrap(note, width or PROSE_WIDTH))
        return out


Block = Para | Table


@without_gc  # lines are acyclic: the collector would only walk them again and again
def render(doc: Sequence[Block], width: int | None, ell: str = "…") -> list[Line]:
    """Every line of ``doc`` (text, style) laid out for ``width`` (None: tables whole, prose at its tables' width)."""
    tables: list[list[Line]] = [b.lines(width, ell) if isinstance(b, Table) else [] for b in doc]
    prose = width or max([PROSE_WIDTH, *(len(t[1][0]) for t in tables if len(t) > 1)])
    out: list[Line] = []
    for block, lines in zip(doc, tables):
        if isinstance(block, Table):
            out.extend(lines)
            continue
        for paragraph in block.text.split("\n"):
            wrapped = textwrap.wrap(
                paragraph,
                prose,
                initial_indent=" " * block.indent,
                subsequent_indent=" " * block.hang,
                break_on_hyphens=False,
            )
            out.extend((line, block.style) for line in wrapped or [""])
    return out


#: Select Graphic Rendition codes for the styles in use.
SGR = {"bold": "\x1b[1m", "dim": "\x1b[2m"}


@without_gc
def to_text(lines: Sequence[Line], colour: bool = False) -> str:
    """The lines joined, with ANSI styles when ``colour``."""
    if not colour:
        return "\n".join(text for text, _ in lines) + "\n"
    return "\n".join(f"{SGR[s]}{t}\x1b[0m" if s in SGR and t else t for t, s in lines) + "\n"
