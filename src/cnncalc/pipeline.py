"""The one pipeline: source -> spec -> graph -> report.

Every caller that turns a spec into numbers goes through here: the API (:func:`cnncalc.analyze_spec`), the
commands, ``cnncalc check`` (:func:`cnncalc.analysis.check_spec_file`) and the tests. The stages:

1. :func:`cnncalc.library.find_spec` and :func:`cnncalc.spec.load_spec`: a path or a bundled name -> the
   syntax tree (:class:`~cnncalc.spec.ArchitectureSpec`), numbers still as text;
2. :func:`cnncalc.graph.build_graph`: argument binding, expansion and shape propagation -> the
   :class:`~cnncalc.graph.Graph` (which carries the spec's metadata: name, source, accuracy, variant);
3. :func:`cnncalc.analysis.analyze`: the registry's counts and the receptive fields -> the
   :class:`~cnncalc.analysis.Report`; then renderers (:mod:`cnncalc.render`) turn it into text or data.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .analysis.counts import Report, analyze
from .graph import Work, build_graph
from .library import find_spec
from .shapes import Shape
from .spec import ArchitectureSpec, load_spec, parse_spec


def evaluate(
    source: str | Path | ArchitectureSpec,
    variant: str | None = None,
    sets: Mapping[str, str] | None = None,
    input_shape: Shape | None = None,
    no_bias: bool = False,
    batch: int = 1,
    work: Work | None = None,
    head: int | None = None,
) -> Report:
    """Evaluate one configuration of a spec: a path, a bundled name (``resnet152`` may select a variant itself)
    or an already parsed spec; ``variant``, ``sets``, ``input_shape``, ``no_bias`` and ``batch`` as the
    commands' options; ``work`` shares a file's budgets across its configurations; ``head``: the classifier
    gives this many outputs (``--head``, fine-tuning on that many classes:
    :func:`cnncalc.analysis.training.replace_head` transforms the graph before it is counted)."""
    if isinstance(source, ArchitectureSpec):
        spec = source
    else:
        found = find_spec(str(source))
        spec = load_spec(found.path)
        variant = variant or found.variant
    graph = build_graph(spec, variant, sets, input_shape, no_bias, work)
    if head is not None:
        from .analysis.training import replace_head

        graph = replace_head(graph, head)
    return analyze(graph, batch)


def evaluate_text(text: str, file: str = "<text>", **options: object) -> Report:
    """Evaluate a spec given as YAML text (tests, stdin); ``options`` as :func:`evaluate`'s."""
    return evaluate(parse_spec(text, file), **options)  # type: ignore[arg-type]
