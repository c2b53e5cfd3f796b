"""Draw the torchvision zoo's chart for the docs: MACs against top-1 accuracy, marker area = params.

    python tools/zoo_chart.py            # writes docs/zoo.png (needs the plot extra: pip install '.[plot]')

Every bundled torchvision classifier that states an ImageNet top-1 accuracy (torchvision's IMAGENET1K_V1 acc@1,
in its spec's `accuracy:`) is drawn with `cnncalc plot`; the names come from the library (`cnncalc list`), so
a new bundled network appears on the next run.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "zoo.png"


def names() -> list[str]:
    """The bundled torchvision classifiers with a stated top-1, one name per network."""
    from cnncalc.api import library_reports
    from cnncalc.errors import CnncalcError

    chosen: dict[tuple[int, int], str] = {}
    for name, _, variant, rep in library_reports():
        if isinstance(rep, CnncalcError) or "torchvision" not in rep.source or not rep.output.is_flat:
            continue
        if "top1" not in dict(rep.accuracy):
            continue
        key = (rep.total.params, rep.total.macs)
        if key not in chosen or variant is not None:  # a base and its variant named as torchvision names it
            chosen[key] = name
    return list(chosen.values())


def main() -> int:
    from click.testing import CliRunner

    from cnncalc.cli import cli

    result = CliRunner().invoke(cli, ["plot", *names(), "-o", str(OUT)])
    sys.stdout.write(result.output)
    return result.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
