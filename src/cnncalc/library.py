"""The bundled library of specs (``architectures/``), found by bare name.

A name resolves to ``<name>.yaml`` in the library, or else to a variant called
``<name>`` inside a library file (so ``resnet152`` may live in ``resnet50.yaml``).
In a wheel the specs live in ``cnncalc/architectures``; in a source checkout
(editable install, src/ layout) in the repository's ``architectures/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import CnncalcError, Location
from .spec import did_you_mean, load_spec


def library_dir() -> Path:
    """The folder of bundled specs."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "architectures", here.parent.parent / "architectures"):
        if candidate.is_dir():
            return candidate
    return here / "architectures"  # pragma: no cover - a broken install


def library_files() -> list[Path]:
    """Every bundled spec file, sorted by name."""
    return sorted(library_dir().glob("*.yaml"))


@dataclass(frozen=True, slots=True)
class Found:
    """A resolved spec: its file and, for a family file, the variant the name selects."""

    path: Path
    variant: str | None = None


class NotFoundError(CnncalcError):
    """A spec argument that is neither a file nor a bundled name."""

    code = "E001"


def _variants_of(path: Path) -> list[str]:
    try:
        return [v.name for v in load_spec(path).variants]
    except CnncalcError:
        return []  # a broken bundled spec is reported by `check`, not here


def bundled_names() -> dict[str, Found]:
    """Every name the library answers to: file stems and the variants inside them."""
    names: dict[str, Found] = {}
    for f in library_files():
        names.setdefault(f.stem, Found(f))
        for v in _variants_of(f):
            names.setdefault(v, Found(f, v))
    return names


def find_spec(name: str) -> Found:
    """A path to an existing file, or a bundled name (``vgg13``, ``resnet152``)."""
    if not name.strip():
        raise NotFoundError(
            "an empty spec name: give a spec file or a bundled name (`cnncalc list`)", Location("<spec>")
        )
    p = Path(name)
    try:
        is_file, is_dir = p.is_file(), p.is_dir()
    except OSError as exc:  # a name too long for the file system, a loop of symlinks...
        raise NotFoundError(f"{name[:80]}{'...' * (len(name) > 80)}: {exc.strerror}", Location(name[:80])) from None
    if is_file:
        return Found(p)
    if is_dir and name not in bundled_names():  # a folder called `vgg16` does not hide the bundled vgg16
        raise NotFoundError(f"{name} is a directory; give a spec file (check takes directories)", Location(name))
    stem = name[:-5] if name.endswith(".yaml") else name
    lib = library_dir()
    direct = lib / f"{stem}.yaml"
    if "/" not in stem and direct.is_file():
        return Found(direct)
    for f in library_files():  # a variant inside a family file; parse only files that mention the name
        if stem in f.read_text(encoding="utf-8") and stem in _variants_of(f):
            return Found(f, stem)
    raise NotFoundError(
        f"no spec file or bundled spec named {name!r}{did_you_mean(stem, bundled_names())}"
        " (run `cnncalc list` to see the bundled specs)",
        Location(name),
    )
