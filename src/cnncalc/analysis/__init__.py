"""Analysis: the graph's numbers. Every figure is an exact ``int``; nothing here is rounded or formatted.

* :mod:`.counts`: per-layer params, buffers, MACs, ops and their totals (:func:`analyze`, :class:`Report`);
* :mod:`.receptive`: receptive field and effective stride of every layer, by each op's rule;
* :mod:`.memory`: memory estimates per dtype and optimizer;
* :mod:`.compare`: reports side by side, with exact ratios;
* :mod:`.expectations`: a report against the spec's `expect:` block;
* :mod:`.check`: a whole file, every variant, expectations and budgets (`cnncalc check`);
* :mod:`.training`: what a training step costs, frozen or not (backward MACs, trained params, memory).
"""

from __future__ import annotations

from .check import CheckResult, check_spec_file
from .compare import Comparison, compare
from .counts import TOTAL_KEYS, LayerResult, Report, Totals, analyze
from .expectations import check_expectations
from .memory import DTYPE_BYTES, OPTIMIZER_STATES, Memory, memory
from .receptive import Fields, receptive_fields
from .training import Training, TrainingMemory, replace_head, training, training_memory

__all__ = [
    "DTYPE_BYTES",
    "OPTIMIZER_STATES",
    "TOTAL_KEYS",
    "CheckResult",
    "Comparison",
    "Fields",
    "LayerResult",
    "Memory",
    "Report",
    "Totals",
    "Training",
    "TrainingMemory",
    "analyze",
    "check_expectations",
    "check_spec_file",
    "compare",
    "memory",
    "receptive_fields",
    "replace_head",
    "training",
    "training_memory",
]
