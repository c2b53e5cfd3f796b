"""``cnncalc verify``: the exported PyTorch module, built and run once, against the spec, layer by layer.

The module :func:`cnncalc.to_pytorch.export_pytorch` writes is executed, instantiated and run on one input of
zeros (batch as given, 1 by default) on PyTorch's ``meta`` device, where no value is computed and no memory is
taken; a model an op of which has no meta kernel runs on the CPU instead. Hooks record every layer's output
(where the export says it shows), ``torch.utils.flop_counter.FlopCounterMode`` counts the FLOPs of each
submodule (MACs = FLOPs / 2: convolutions, transposed convolutions per input element, matrix products), and the
parameters and buffers are counted per submodule (``num_batches_tracked`` is PyTorch's step counter, no value of
the network, and is left out as cnncalc leaves it out). Each figure of each layer, and the totals, are compared
with cnncalc's.

torch is an optional extra (``pip install 'cnncalc[torch]'``), imported only here, only when verifying.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from .analysis import Report
from .errors import Location
from .to_pytorch import Export, ExportError, export_pytorch

TORCH_HELP = "cnncalc verify needs PyTorch, an optional extra: pip install 'cnncalc[torch]'"


class TorchMissingError(ExportError):
    """torch, the optional ``torch`` extra, is not installed."""

    code = "E701"


@dataclass(frozen=True, slots=True)
class Difference:
    """One figure of one layer (or of the totals) where the running module disagrees with cnncalc."""

    layer: str  # cnncalc's path, or "total"
    module: str  # the submodule in the exported model ("" for the model itself or an expression)
    figure: str  # "shape", "params", "buffers" or "MACs"
    cnncalc: str
    torch: str


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of one verification: what was compared and every difference."""

    report: Report
    export: Export
    device: str
    layers: int  # layers whose output was observed and compared
    unobserved: tuple[str, ...]  # layers whose output no hook sees (written inside an expression)
    totals: tuple[tuple[str, str, str], ...]  # (figure, cnncalc, PyTorch)
    differences: tuple[Difference, ...]

    @property
    def ok(self) -> bool:
        """True when nothing differs."""
        return not self.differences


def import_torch() -> Any:
    """The torch module, or :class:`TorchMissingError` saying how to install it."""
    import importlib

    try:
        return importlib.import_module("torch")
    except ImportError:
        raise TorchMissingError(TORCH_HELP) from None


class _ModuleFailedError(Exception):
    """The module under test raised while being built or run (in the submodule ``module``, when known)."""

    def __init__(self, message: str, module: str | None = None) -> None:
        super().__init__(message)
        self.module = module


def verify(report: Report, source: str | None = None, source_name: str = "") -> Verification:
    """Export ``report``'s network, build and run it, and compare every layer (see the module docstring).

    ``source`` verifies that module instead of a fresh export: an exported module edited by hand (its opaque
    layers written, say), which must keep the exported class name and submodule names.
    """
    exp = export_pytorch(report)
    if source is None and exp.placeholders:
        first = report.layers[exp.placeholders[0]]
        count = len(exp.placeholders)
        raise ExportError(
            "cannot verify: an opaque layer exports as a placeholder that raises until its PyTorch code is written"
            + (f" ({count} opaque layers)" if count > 1 else ""),
            first.loc.with_path(first.path),
            ("help: export it, write the placeholder, then `cnncalc verify SPEC --module FILE`",),
            code="E702",
        )
    if source is not None:
        exp = replace(exp, source=source)
    name = source_name or f"<cnncalc export of {report.name}>"
    try:
        code = compile(exp.source, name, "exec")
    except (SyntaxError, ValueError) as exc:
        line, col = (exc.lineno or 0, exc.offset or 0) if isinstance(exc, SyntaxError) else (0, 0)
        why = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise ExportError(
            f"cannot verify: not a Python module: {why}", Location(name, line, col), code="E703"
        ) from None
    torch = import_torch()
    namespace: dict[str, Any] = {"__name__": "cnncalc_export"}
    try:
        exec(code, namespace)  # noqa: S102 - the exported module, or the one the user asked to verify
    except Exception as exc:  # noqa: BLE001 - whatever the module raises is its failure, reported as such
        raise ExportError(
            f"cannot verify: the module fails on import: {type(exc).__name__}: {exc}", Location(name), code="E703"
        ) from None
    model_class = namespace.get(exp.model_class)
    if model_class is None:
        raise ExportError(f"cannot verify: the module has no class `{exp.model_class}`", Location(name), code="E703")
    failures = []
    for device in ("meta", "cpu"):  # the meta device computes nothing; an op without a meta kernel runs on the CPU
        try:
            return _run(torch, model_class, report, exp, device)
        except _ModuleFailedError as exc:
            failures.append((device, exc))
    device, last = failures[-1]
    layer = _layer_of(exp, report, last.module)
    where = Location(name) if layer is None else layer.loc.with_path(layer.path)
    what = "the module fails to build or run" if last.module is None else "PyTorch fails on this layer"
    raise ExportError(
        f"cannot verify: {what} ({last})",
        where,
        [
            f"on the {d} device"
            + (f", in `{e.module or type(exp).__name__}`" if e.module is not None else "")
            + f": {e}"
            for d, e in failures
        ],
        code="E703",
    )


def _layer_of(exp: Export, report: Report, module: str | None) -> Any:
    """The layer whose submodule (or whose join's class) is ``module``, if any."""
    if module is None:
        return None
    for i, owner in enumerate(exp.owners):
        if owner.kind != "inline" and owner.module == module:
            return report.layers[i]
    return None


def _count(tensors: Any) -> int:
    return sum(int(t.numel()) for t in tensors)


def _buffers(module: Any, recurse: bool = True) -> int:
    return sum(
        int(b.numel()) for n, b in module.named_buffers(recurse=recurse) if not n.endswith("num_batches_tracked")
    )


def _shape(t: Any, batch: int) -> tuple[int, ...] | str:
    dims = tuple(int(d) for d in getattr(t, "shape", ()))
    if len(dims) == 4 and dims[0] == batch:
        return (dims[2], dims[3], dims[1])
    if len(dims) == 2 and dims[0] == batch:
        return (dims[1],)
    return "x".join(map(str, dims)) + " (NCHW)" if dims else type(t).__name__


def _shape_text(s: tuple[int, ...] | str) -> str:
    return s if isinstance(s, str) else "x".join(map(str, s))


def _macs(flops: int | Fraction) -> str:
    return f"{flops:,}" if isinstance(flops, int) else f"{float(flops):,}"


def _run(torch: Any, model_class: Any, report: Report, exp: Export, device: str) -> Verification:
    import importlib

    flop_counter_mode = importlib.import_module("torch.utils.flop_counter").FlopCounterMode
    try:
        with torch.device(device):
            model = model_class()
        model.eval()
    except Exception as exc:  # noqa: BLE001 - the module's own failure
        raise _ModuleFailedError(f"{type(exc).__name__}: {exc}") from None
    stack: list[str] = []  # the submodules being run, innermost last: the one that raised stays on top
    for fqn, module in model.named_modules():
        module.register_forward_pre_hook(lambda m, a, fqn=fqn: stack.append(fqn))
        module.register_forward_hook(lambda m, a, out: None if stack.pop() else None)  # a hook's value replaces out
    seen: dict[tuple[str, str], Any] = {}
    wanted = {(o.module, o.where) for o in exp.observe if o is not None} | {("", "out")}
    handles = []
    missing: set[str] = set()
    for fqn, where in sorted(wanted):
        try:
            module = model.get_submodule(fqn)
        except AttributeError:
            missing.add(fqn)
            continue
        if where == "out":
            hook = module.register_forward_hook(lambda m, a, out, key=(fqn, where): seen.__setitem__(key, out))
        else:
            hook = module.register_forward_pre_hook(lambda m, a, key=(fqn, where): seen.__setitem__(key, a))
        handles.append(hook)
    batch = report.batch
    dims = report.input.dims
    x = torch.zeros(batch, dims[-1], *dims[:-1], device=device)
    counter = flop_counter_mode(display=False)
    try:
        with torch.no_grad(), counter:
            model(x)
    except Exception as exc:  # noqa: BLE001 - the module's own failure
        raise _ModuleFailedError(f"{type(exc).__name__}: {exc}", stack[-1] if stack else None) from None
    finally:
        for h in handles:
            h.remove()
    counts = counter.get_flop_counts()
    prefix = type(model).__name__

    def flops(fqn: str) -> int:
        return int(sum(counts.get(f"{prefix}.{fqn}" if fqn else prefix, {}).values()))

    diffs: list[Difference] = [Difference("-", fqn, "module", "present", "missing") for fqn in sorted(missing)]
    compared = 0
    unobserved: list[str] = []
    for i, r in enumerate(report.layers):
        obs = exp.observe[i]
        if obs is None:
            unobserved.append(r.path)
        else:
            value = seen.get((obs.module, obs.where))
            tensor = value[obs.position] if isinstance(value, tuple) else value if obs.position == 0 else None
            got = _shape(tensor, batch)
            compared += 1
            if got != r.output.dims:
                diffs.append(Difference(r.path, obs.module, "shape", str(r.output), _shape_text(got)))
        owner = exp.owners[i]
        if owner.kind == "inline" or owner.module in missing:
            params = buffers = 0
            macs: int | Fraction = 0
        else:
            try:
                module = model.get_submodule(owner.module)
            except AttributeError:
                missing.add(owner.module)
                diffs.append(Difference(r.path, owner.module, "module", "present", "missing"))
                continue
            if owner.kind == "module":
                params, buffers, fl = _count(module.parameters()), _buffers(module), flops(owner.module)
            else:  # a join's class: what it holds and computes beyond its submodules
                params = _count(module.parameters(recurse=False))
                buffers = _buffers(module, recurse=False)
                fl = flops(owner.module) - sum(
                    flops(f"{owner.module}.{n}" if owner.module else n) for n, _ in module.named_children()
                )
            macs = Fraction(fl, 2) if fl % 2 else fl // 2
        for figure, ours, pytorch in (("params", r.params, params), ("buffers", r.buffers, buffers)):
            if ours != pytorch:
                diffs.append(Difference(r.path, owner.module, figure, f"{ours:,}", f"{pytorch:,}"))
        if r.macs != macs:
            diffs.append(Difference(r.path, owner.module, "MACs", f"{r.macs:,}", _macs(macs)))
    t = report.total
    total_flops = int(sum(counts.get("Global", {}).values()))
    total_macs = Fraction(total_flops, 2) if total_flops % 2 else total_flops // 2
    out = seen.get(("", "out"))
    outs = out if isinstance(out, tuple) else (out,)
    mine_out = " + ".join(str(report.layers[v].output if v >= 0 else report.input) for v in exp.outputs)
    theirs_out = " + ".join(_shape_text(_shape(o, batch)) for o in outs)
    totals = (
        ("params", f"{t.params:,}", f"{_count(model.parameters()):,}"),
        ("buffers", f"{t.buffers:,}", f"{_buffers(model):,}"),
        ("MACs", f"{t.macs:,}", _macs(total_macs)),
        ("output", mine_out, theirs_out),
    )
    for figure, mine, theirs in totals:
        if mine != theirs:
            diffs.append(Difference("total", "", figure, mine, theirs))
    return Verification(report, exp, device, compared, tuple(unobserved), totals, tuple(diffs))


def verification_text(v: Verification, width: int = 120) -> str:
    """The verification as the command prints it: the totals side by side, then a table of the differences."""
    r = v.report
    shape = "x".join(map(str, r.input.dims))
    lines = [
        f"{r.title}: the exported PyTorch module `{v.export.model_class}` against the spec, input {shape}"
        + (f", batch {r.batch}" if r.batch != 1 else "")
        + f", run on the {v.device} device"
    ]
    lines.append(
        f"{v.layers} of {len(r.layers)} layers compared: output shape, params, buffers and MACs (FLOPs / 2 of "
        "PyTorch's FlopCounterMode)"
    )
    if v.unobserved:
        lines.append(f"not observed (written inside an expression): {', '.join(v.unobserved)}")
    rows: list[tuple[str, ...]] = [("", "cnncalc", "PyTorch"), *v.totals]
    wide = [max(len(row[k]) for row in rows) for k in range(3)]
    lines.append("")
    for row in rows:
        lines.append(f"{row[0]:<{wide[0]}}  {row[1]:>{wide[1]}}  {row[2]:>{wide[2]}}".rstrip())
    lines.append("")
    if v.differences:
        table: list[tuple[str, ...]] = [("layer", "module", "figure", "cnncalc", "PyTorch")]
        table += [(d.layer, d.module or "-", d.figure, d.cnncalc, d.torch) for d in v.differences]
        wide = [max(len(row[k]) for row in table) for k in range(5)]
        for row in table:
            lines.append(
                f"{row[0]:<{wide[0]}}  {row[1]:<{wide[1]}}  {row[2]:<{wide[2]}}  {row[3]:>{wide[3]}}  "
                f"{row[4]:>{wide[4]}}".rstrip()
            )
        lines.append("")
    n = len(v.differences)
    lines.append(f"{n} difference{'s' * (n != 1)}" + ("" if n else ": the module is the network the spec sizes"))
    return "\n".join(lines) + "\n"


__all__ = [
    "TORCH_HELP",
    "Difference",
    "TorchMissingError",
    "Verification",
    "import_torch",
    "verification_text",
    "verify",
]
