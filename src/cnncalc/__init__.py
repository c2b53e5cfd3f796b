"""cnncalc: exact shapes, parameters and MACs of CNN architectures written as YAML specs.

The data flow, one module per stage::

    spec.py (YAML -> syntax tree) -> graph.py (expand + shapes, using layers.py's registry)
    -> analysis.py (counts, totals, expectations) -> render.py (tables, JSON) -> cli.py

Typical use::

    from cnncalc import analyze_spec
    report = analyze_spec("vgg16")          # a bundled name or a path
    report.total.params, report.total.macs  # exact ints
"""

from .analysis import Comparison, LayerResult, Report, Totals, analyze, compare
from .api import analyze_spec
from .errors import CnncalcError, Location
from .graph import Graph, build_graph
from .shapes import Shape
from .spec import ArchitectureSpec, load_spec, parse_spec

__all__ = [
    "ArchitectureSpec",
    "CnncalcError",
    "Comparison",
    "Graph",
    "LayerResult",
    "Location",
    "Report",
    "Shape",
    "Totals",
    "analyze",
    "analyze_spec",
    "build_graph",
    "compare",
    "load_spec",
    "parse_spec",
]
__version__ = "0.1.0"
