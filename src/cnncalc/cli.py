"""The ``cnncalc`` command line: a thin layer over the library.

Exit codes (``ExitCode``, stated in ``cnncalc --help``): 0 success; 1 a spec has an error,
a check failed, a SPEC names no spec file or bundled spec, or the output could not be
written (a full device; a closed pipe such as ``| head`` ends quietly with 1, as click does);
2 usage error (unknown option, bad option value, a ``check`` PATH that does not exist, a
``plot -o`` folder that does not exist); 3 internal error (a bug: please report it;
``--traceback`` shows the Python trace). Diagnostics are printed, and their exit codes
chosen, by :mod:`cnncalc.report` from the table of codes. Output streams (width, colour,
encodings, closed pipes) are :mod:`cnncalc.term`'s.
"""

from __future__ import annotations

import errno
import glob
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import report as reporting
from .diagnostics import ExitCode
from .errors import CnncalcError
from .perf import without_gc

F = TypeVar("F", bound=Callable[..., Any])


def parse_count(value: str) -> int:
    """``25M``, ``4.1G``, ``1B``, ``1_000`` -> an int (for budgets): the parser of ``expect:`` counts, exact only."""
    from .errors import Location, SpecError
    from .spec import parse_expect_value

    try:
        count = parse_expect_value(value, Location("<option>"))
    except SpecError:
        count = None
    if count is None or count.tolerance or count.text.startswith("~"):
        raise click.BadParameter(f"{value!r} is not a count such as 25000000, 25M, 4.1G or 1B") from None
    return int(count.target)


class _TableChoice(click.Choice):  # type: ignore[type-arg]  # generic only in click >= 8.2
    """A choice among the keys of a library table, read when first needed (heavy modules stay unloaded)."""

    def __init__(self, table: Callable[[], Iterable[str]]) -> None:
        self.table = table
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]  # click stores a tuple; here it is read live
        return tuple(self.table())


def _dtypes() -> Iterable[str]:
    from .analysis import DTYPE_BYTES

    return DTYPE_BYTES


def _optimizers() -> Iterable[str]:
    from .analysis import OPTIMIZER_STATES

    return OPTIMIZER_STATES


def _graph_formats() -> Iterable[str]:
    from .render.diagram import FORMATS as GRAPH_FORMATS

    return GRAPH_FORMATS


class _Count(click.ParamType):  # type: ignore[type-arg]  # generic only in click >= 8.2
    name = "COUNT"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        return value if isinstance(value, int) else parse_count(str(value))


class _ShapeType(click.ParamType):  # type: ignore[type-arg]  # generic only in click >= 8.2
    name = "HxWxC"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        from .errors import SpecError
        from .shapes import Shape
        from .spec import parse_shape

        try:
            sa = parse_shape(str(value), __import__("cnncalc.errors").errors.Location("--input"))
        except SpecError as exc:
            self.fail(exc.message, param, ctx)
        if len(sa.dims) != 3:
            self.fail("the input must be HxWxC, such as 448x448x3", param, ctx)
        return Shape(sa.dims)


def _sets(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for v in values:
        name, eq, text = v.partition("=")
        if not eq or not name.strip() or not text.strip():
            raise click.BadParameter(f"{v!r}: expected NAME=VALUE, e.g. --set alpha=0.75", param_hint="--set")
        out[name.strip()] = text.strip()
    return out


def config_options(f: F) -> F:
    """--variant, --set, --input, --batch and --no-bias, shared by show, compare and check."""
    f = click.option(
        "--batch",
        type=click.IntRange(1),
        default=1,
        show_default=True,
        help="Samples per batch: multiplies MACs, FLOPs, ops and activations, never params.",
    )(f)
    f = click.option(
        "--no-bias",
        is_flag=True,
        help="Count as if no conv or fc layer had a bias (the lecture's 'without bias' figures).",
    )(f)
    f = click.option(
        "--input",
        "input_shape",
        type=_ShapeType(),
        help="Evaluate at another input size, e.g. 448x448x3 (inline => assertions are then skipped).",
    )(f)
    f = click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="NAME=VALUE",
        help="Override a spec parameter (repeatable), e.g. --set alpha=0.75.",
    )(f)
    f = click.option("--variant", help="Use a named variant from the spec's `variants:`.")(f)
    return f


def _analyze(
    name: str,
    variant: str | None,
    sets: tuple[str, ...],
    input_shape: Any,
    no_bias: bool,
    batch: int = 1,
    head: int | None = None,
) -> Any:
    if name == STDIN:
        return _analyze_stdin(variant, sets, input_shape, no_bias, batch, head)
    if head is not None:  # --head: the pipeline replaces the classifier's output size
        from .pipeline import evaluate

        return evaluate(name, variant, _sets(sets), input_shape, no_bias, batch, head=head)
    from .api import analyze_spec

    return analyze_spec(name, variant=variant, sets=_sets(sets), input_shape=input_shape, no_bias=no_bias, batch=batch)


#: The SPEC argument that reads the spec from standard input (`cat net.yaml | cnncalc show -`).
STDIN = "-"
STDIN_NAME = "<stdin>"


def _analyze_stdin(
    variant: str | None, sets: tuple[str, ...], input_shape: Any, no_bias: bool, batch: int, head: int | None = None
) -> Any:
    """The spec on standard input, read as a file named ``<stdin>`` is (same limits, same checks)."""
    from .pipeline import evaluate
    from .spec import LIMITS, decode, parse_spec

    obj = click.get_current_context().find_root().ensure_object(dict)
    if "stdin" not in obj:  # read once: `cnncalc compare - -:wide` reads the same spec twice
        from .render import term

        if term.is_terminal(sys.stdin):
            click.echo("cnncalc: reading a spec from standard input (end it with Ctrl-D)", err=True)
        obj["stdin"] = decode(sys.stdin.buffer.read(LIMITS["file_bytes"] + 1), STDIN_NAME)
    spec = parse_spec(obj["stdin"], STDIN_NAME)
    return evaluate(spec, variant, _sets(sets), input_shape, no_bias, batch, head=head)


def train_options(f: F) -> F:
    """--train, --freeze, --train-only and --head: what a training step costs, frozen or not."""
    f = click.option(
        "--head",
        type=click.IntRange(1),
        metavar="N",
        help="Replace the classifier's output size by N, as when fine-tuning on N classes (the last layer with "
        "params before the output: fc, linear or conv); the new head trains even when frozen.",
    )(f)
    f = click.option(
        "--train-only",
        metavar="PATHS",
        help="Train only these layers or blocks (comma-separated paths); every other layer is frozen. Implies --train.",
    )(f)
    f = click.option(
        "--freeze",
        metavar="UPTO",
        help="Freeze every layer up to and including UPTO (a layer or block path, in table order), as in "
        "transfer learning. Implies --train.",
    )(f)
    f = click.option(
        "--train",
        is_flag=True,
        help="Add the backward pass: per layer the MACs of the input and weight gradients and whether it "
        "trains; totals of forward, backward and one training step.",
    )(f)
    return f


def _training(report: Any, train: bool, freeze: str | None, train_only: str | None, head: int | None) -> Any:
    """The training step --train, --freeze or --train-only ask for (None when none of them is given)."""
    if freeze is not None and train_only is not None:
        raise click.UsageError("--freeze and --train-only both choose what trains; give one of them")
    if not (train or freeze is not None or train_only is not None):
        return None
    from .analysis.training import training

    paths = tuple(p.strip() for p in (train_only or "").split(",") if p.strip())
    if train_only is not None and not paths:
        raise click.BadParameter("give one or more layer or block paths, comma-separated", param_hint="--train-only")
    return training(report, freeze, paths, head is not None)


def memory_options(f: F) -> F:
    """--dtype and --optimizer for the memory estimate."""
    f = click.option(
        "--optimizer",
        type=_TableChoice(_optimizers),
        default="sgd",
        show_default=True,
        help="Optimizer state in the training-memory estimate (0, 1 or 2 values per parameter).",
    )(f)
    f = click.option(
        "--dtype",
        type=_TableChoice(_dtypes),
        default="fp32",
        show_default=True,
        help="Bytes per value for the memory estimate.",
    )(f)
    return f


def _complete_spec(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of a SPEC: bundled names (every variant is one too), then the shell's own file paths."""
    from click.shell_completion import CompletionItem

    from .library import bundled_names

    names = [CompletionItem(n) for n in sorted(bundled_names()) if n.startswith(incomplete)]
    return [*names, CompletionItem(incomplete, type="file")]


def _complete_device(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of --device: the bundled device profiles."""
    from click.shell_completion import CompletionItem

    from .devices import load_devices

    return [CompletionItem(d) for d in sorted(load_devices()) if d.startswith(incomplete)]


def _name_variant(name: str, variant: str | None) -> tuple[str, str | None]:
    """``alexnet:alexnet-one-tower`` -> ("alexnet", "alexnet-one-tower"); a path that exists is taken whole."""
    try:
        exists = Path(name).exists()
    except OSError:  # a name too long for the file system: not a path
        exists = False
    if exists or ":" not in name:
        return name, variant
    spec_name, _, var = name.rpartition(":")  # the variant follows the last colon: `dir/a:b.yaml:v`
    return spec_name, var or variant


class _Group(click.Group):
    """Translates library errors into one located message and an exit code, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            try:
                return super().invoke(ctx)
            finally:
                sys.stdout.flush()  # a closed pipe or a full disk shows here, not at exit
        except CnncalcError as err:
            ctx.exit(reporting.error(err))
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except MemoryError:  # a resource limit, not a bug: the output asked for does not fit in memory
            click.echo(
                "cnncalc: error: out of memory while making the output (a table or JSON of every layer); "
                "try --depth N for one row per block, or `cnncalc check`",
                err=True,
            )
            ctx.exit(ExitCode.FAILED)
        except Exception as exc:  # noqa: BLE001 - the one place internal errors are caught
            if isinstance(exc, OSError) and _output_failed(exc):
                ctx.exit(ExitCode.FAILED)
            if isinstance(exc, OSError) and exc.errno in _INPUT_ERRNOS:  # a path the file system refuses
                name = str(exc.filename or "")
                click.echo(f"cnncalc: error: {name[:80]}{'...' * (len(name) > 80)}: {exc.strerror}", err=True)
                ctx.exit(ExitCode.FAILED)
            if ctx.obj and ctx.obj.get("traceback"):
                raise
            command = f"cnncalc {ctx.invoked_subcommand}" if ctx.invoked_subcommand else "cnncalc"
            click.echo(
                f"cnncalc: internal error, please report: {type(exc).__name__}: {exc} (in `{command}`; "
                "`cnncalc --traceback ...` shows the trace)",
                err=True,
            )
            ctx.exit(ExitCode.INTERNAL)


#: errno values of a path the file system refuses to look at (an input error, not a bug).
_INPUT_ERRNOS = {errno.ENAMETOOLONG, errno.ELOOP, errno.EACCES, errno.ENOTDIR, errno.EISDIR}
#: errno values of a failed write to stdout: a closed pipe, a full or failing device.
_OUTPUT_ERRNOS = {errno.EPIPE, errno.ENOSPC, errno.EIO, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _output_failed(exc: OSError) -> bool:
    """Handle a failed write to stdout: quietly for a closed pipe (``| head``), else one line on stderr.

    False when ``exc`` is no output error (then it is an internal one).
    """
    from .render import term

    if term.is_closed_pipe(exc):
        term.silence_stdout()
        return True
    if exc.errno not in _OUTPUT_ERRNOS:
        return False
    term.silence_stdout()  # what is still buffered would fail again at exit
    try:
        click.echo(f"cnncalc: error: cannot write the output: {exc.strerror or exc}", err=True)
    except OSError:
        pass
    return True


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="cnncalc")
@click.option("--traceback", is_flag=True, help="Show the Python traceback of an internal error.")
@click.pass_context
def cli(ctx: click.Context, traceback: bool) -> None:
    """Exact shapes, parameters and MACs of CNNs written as YAML specs.

    SPEC is a path to a .yaml file, the name of a bundled spec (see `cnncalc list`), or - to read the spec
    from standard input.

    Tables fit --width, else COLUMNS, else the terminal (long paths shortened in the middle, columns left out
    in a stated order and named under the table); into a pipe or a file every table row is whole. NO_COLOR=1 turns
    colour off.

    Exit status: 0 success; 1 a spec has an error, a check failed, a SPEC names no spec file or bundled spec,
    or the output could not be written (a full device; a closed pipe, as with `| head`, ends quietly); 2 a usage
    error (unknown option, bad option value, a check PATH or a plot -o folder that does not exist); 3 an
    internal error (a bug: please report it).
    """
    ctx.obj = {"traceback": traceback}
    from .render import term

    term.setup_streams()


FORMATS = click.Choice(["table", "json", "csv", "markdown"])
#: What each --format of `show` carries of the options that add to the table (a note names the others).
#: JSON always has every layer's ops and the memory estimate; CSV is one row per layer (or block).
FORMAT_SHOWS = {
    "table": {"--ops", "--bars", "--memory", "--device", "--explain", "--train"},
    "json": {"--ops", "--memory", "--device", "--train"},
    "csv": {"--ops"},
    "markdown": {"--ops", "--bars", "--memory", "--device", "--train"},
}


@cli.command()
@click.argument("spec", shell_complete=_complete_spec)
@config_options
@memory_options
@train_options
@click.option("-f", "--format", "fmt", type=FORMATS, default="table", show_default=True, help="Output format.")
@click.option("--depth", type=click.IntRange(1), help="Collapse rows to blocks at this path depth.")
@click.option(
    "--ops",
    is_flag=True,
    help="Add a column of element-wise operations (pooling, BN, activations, "
    "joins, bias adds), counted apart from MACs.",
)
@click.option("--bars", is_flag=True, help="Add bars showing each row's share of MACs and of params.")
@click.option(
    "--memory",
    "show_memory",
    is_flag=True,
    help="Print the memory estimate (parameters, activations, peak, training) under the table.",
)
@click.option("--explain", is_flag=True, help="Print every layer's formulas with its numbers substituted.")
@click.option(
    "--device",
    help="Add a roofline latency estimate on a bundled device profile (see `cnncalc devices`), in --dtype.",
    shell_complete=_complete_device,
)
@click.option(
    "--width",
    type=click.IntRange(40),
    help="Table width (default: COLUMNS, else the terminal's; whole rows into a pipe). A narrower table shortens "
    "layer paths in the middle, then leaves out RF/stride, activations, op, the share bars, ops, in that order.",
)
def show(
    spec: str,
    variant: str | None,
    sets: tuple[str, ...],
    input_shape: Any,
    no_bias: bool,
    batch: int,
    dtype: str,
    optimizer: str,
    train: bool,
    freeze: str | None,
    train_only: str | None,
    head: int | None,
    fmt: str,
    depth: int | None,
    ops: bool,
    bars: bool,
    show_memory: bool,
    explain: bool,
    device: str | None,
    width: int | None,
) -> None:
    """Per-layer table: output HxWxC, params, MACs, activations, receptive field, with totals.

    \b
    Example:
        cnncalc show vgg16
        cnncalc show alexnet --variant alexnet-one-tower --format json
        cnncalc show resnet50 --input 448x448x3 --depth 1
        cnncalc show mobilenet-v2 --batch 32 --memory --dtype fp16 --optimizer adam
        cnncalc show resnet50 --device nvidia-t4 --dtype fp16
        cnncalc show resnet50 --train --freeze layer3 --head 10 --depth 1
    """
    report = _analyze(spec, variant, sets, input_shape, no_bias, batch, head)
    for warning in report.warnings:
        reporting.warning(warning.diagnostic if isinstance(warning, CnncalcError) else warning)
    from .analysis import memory

    mem = memory(report, dtype, optimizer) if show_memory or fmt == "json" else None
    step = _training(report, train, freeze, train_only, head)
    step_mem = None
    if step is not None and mem is not None:
        from .analysis.training import training_memory

        step_mem = training_memory(step, dtype, optimizer)
    roof = None
    if device is not None:
        from .devices import roofline

        roof = roofline(report, device, dtype)
    asked = {
        "--ops": ops,
        "--bars": bars,
        "--memory": show_memory,
        "--device": device is not None,
        "--explain": explain,
        "--train": step is not None,
    }
    left_out = [flag for flag, on in asked.items() if on and flag not in FORMAT_SHOWS[fmt]]
    if left_out:
        click.echo(
            f"cnncalc show: note: --format {fmt} leaves out {', '.join(left_out)} (the table shows everything)",
            err=True,
        )
    if fmt == "json":
        from .render import dumps as render_dumps
        from .render import report_dict, roofline_dict

        data = report_dict(report, mem, depth, step, step_mem)
        if roof is not None:
            data["latency"] = roofline_dict(roof)
        click.echo(render_dumps(data))
    elif fmt == "csv":
        from .render import report_csv

        click.echo(report_csv(report, depth, ops=ops), nl=False)
    elif fmt == "markdown":
        from .render import report_markdown

        text = report_markdown(report, depth, ops=ops, bars=bars, mem=mem, roof=roof, train=step, train_mem=step_mem)
        click.echo(text, nl=False)
    else:
        _show_table(report, depth, ops, bars, mem, roof, explain, width, step, step_mem)


@without_gc  # a huge table's rows are acyclic: the collector would walk the whole report again and again
def _show_table(
    report: Any,
    depth: int | None,
    ops: bool,
    bars: bool,
    mem: Any,
    roof: Any,
    explain: bool,
    width: int | None,
    step: Any = None,
    step_mem: Any = None,
) -> None:
    from . import render

    doc = render.report_table(report, depth, ops=ops, bars=bars, train=step)
    if mem is not None:
        doc += render.memory_table(mem, report.batch, step_mem)
    if roof is not None:
        doc += render.roofline_table(roof, depth)
    if explain:
        doc += render.explain_text(report, list(report.layers), step)
    render.emit(doc, width)


@cli.command(name="explain")
@click.argument("spec", shell_complete=_complete_spec)
@click.argument("layer")
@config_options
@train_options
def explain_(
    spec: str,
    layer: str,
    variant: str | None,
    sets: tuple[str, ...],
    input_shape: Any,
    no_bias: bool,
    batch: int,
    train: bool,
    freeze: str | None,
    train_only: str | None,
    head: int | None,
) -> None:
    """Explain one layer (or block): its formulas with the numbers substituted.

    LAYER is a path (`conv1.conv`), a block path (`inception3a`: every layer in it) or a unique name.

    \b
    Example:
        cnncalc explain alexnet conv1
        cnncalc explain inception-bottleneck module
        cnncalc explain resnet18 layer4.basic#1.add.residual.conv#1 --train --freeze layer3
    """
    from . import render
    from .api import select_layers

    report = _analyze(spec, variant, sets, input_shape, no_bias, batch, head)
    step = _training(report, train, freeze, train_only, head)
    doc = render.explain_text(report, select_layers(report, layer), step)
    if step is not None:
        from .render.layout import Para

        doc += [Para(line, "dim") for line in render.training_lines(step)]
    render.emit(doc)


@cli.command()
@click.argument("specs", nargs=-1, required=True, shell_complete=_complete_spec)
@config_options
@train_options
@click.option("-f", "--format", "fmt", type=FORMATS, default="table", show_default=True, help="Output format.")
@click.option("--depth", type=click.IntRange(1), help="Also break totals down per block at this path depth.")
@click.option("--bars", is_flag=True, help="Add bars: each architecture against the largest, each block's share.")
@click.option("--width", type=click.IntRange(40), help="Table width (default: COLUMNS, else the terminal's).")
def compare(
    specs: tuple[str, ...],
    variant: str | None,
    sets: tuple[str, ...],
    input_shape: Any,
    no_bias: bool,
    batch: int,
    train: bool,
    freeze: str | None,
    train_only: str | None,
    head: int | None,
    fmt: str,
    depth: int | None,
    bars: bool,
    width: int | None,
) -> None:
    """Architectures side by side: params, MACs, FLOPs, output, with ratios to the first.

    A SPEC may carry a variant after a colon: `alexnet:alexnet-one-tower`.

    \b
    Example:
        cnncalc compare inception-naive inception-bottleneck
        cnncalc compare resnet50 resnet101 resnet152 --format json
        cnncalc compare resnet18 mobilenet-v2 --head 10 --train
    """
    from .analysis import compare as compare_reports

    reports = [_analyze(*_name_variant(name, variant), sets, input_shape, no_bias, batch, head) for name in specs]
    comp = compare_reports(reports, specs)
    steps = [_training(r, train, freeze, train_only, head) for r in reports]
    trains = steps if steps[0] is not None else None
    from . import render

    if trains is not None and fmt in ("csv", "markdown"):
        click.echo(f"cnncalc compare: note: --format {fmt} leaves out --train (table and json show it)", err=True)
    if fmt == "json":
        click.echo(json.dumps(render.comparison_dict(comp, trains), indent=1))
    elif fmt == "csv":
        click.echo(render.comparison_csv(comp), nl=False)
    elif fmt == "markdown":
        click.echo(render.comparison_markdown(comp), nl=False)
    else:
        doc = render.comparison_table(comp, depth, bars)
        if trains is not None:
            doc += render.training_comparison_table(trains, [comp.label(i) for i in range(len(reports))])
        render.emit(doc, width)


def _expand(paths: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p == STDIN:
            raise click.BadParameter(
                "check reads files and folders; `cnncalc show -` reads a spec from standard input", param_hint="PATH"
            )
        path = Path(p)
        try:
            is_dir, is_file = path.is_dir(), path.is_file()
        except OSError as exc:  # a name too long for the file system, a loop of symlinks...
            raise click.BadParameter(f"{p[:80]!r}: {exc.strerror}", param_hint="PATH") from None
        if is_dir:
            for q in sorted(q for q in path.rglob("*") if q.suffix in (".yaml", ".yml")):
                if q.is_file():
                    files.append(q)
                elif not q.is_dir():  # a dangling symlink, a symlink loop, a FIFO: named like a spec, not one
                    raise click.BadParameter(
                        f"{str(q)!r} is named like a spec but is not a regular file", param_hint="PATH"
                    )
        elif is_file:
            files.append(path)
        elif any(ch in p for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(p, recursive=True) if Path(m).is_file())
            if not matches:
                raise click.BadParameter(f"{p!r} matches no file", param_hint="PATH")
            files.extend(matches)
        else:
            raise click.BadParameter(f"{p!r} does not exist", param_hint="PATH")
    return files


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(reporting.FORMATS),
    default="text",
    show_default=True,
    help="text: file:line:col lines; json: a list of diagnostics; github: GitHub Actions annotations.",
)
@click.option("--max-params", type=_Count(), help="Fail a spec whose params exceed this (25M, 1.5G...).")
@click.option("--max-macs", type=_Count(), help="Fail a spec whose MACs exceed this (4.1G...).")
@click.option("-q", "--quiet", is_flag=True, help="Print only problems and the summary.")
@config_options
def check(
    paths: tuple[str, ...],
    fmt: str,
    max_params: int | None,
    max_macs: int | None,
    quiet: bool,
    variant: str | None,
    sets: tuple[str, ...],
    input_shape: Any,
    no_bias: bool,
    batch: int,
) -> None:
    """Check specs: every file, directory (recursively) or glob; every variant.

    Parses and evaluates each spec and each of its variants, checks inline `=>` shapes and
    `expect:` values, keeps going after a failure, and prints one located line per problem.
    Exit 0 when everything holds, 1 when any spec failed, 2 on a usage error. With --variant only that
    variant is checked; with --set, --input, --no-bias or --batch the file's expectations (which describe
    the spec as written) are skipped and only shapes and budgets are checked.

    \b
    Example:
        cnncalc check architectures/
        cnncalc check 'specs/**/*.yaml' --max-macs 5G --format github
    """
    from .analysis import check_spec_file

    files = _expand(paths)
    overrides = _sets(sets)
    reporter = reporting.Reporter(fmt, quiet)
    from .render import term

    progress = len(files) > 1 and term.is_terminal(sys.stderr)  # a terminal watching a long run sees it move
    for k, f in enumerate(files):  # each file's result as soon as it is known (click.echo flushes: a pipe too)
        if progress:
            sys.stderr.write(f"\r\033[Kchecking {k + 1}/{len(files)}: {f}"[: term.output_width(None, sys.stderr)])
            sys.stderr.flush()
        r = check_spec_file(
            f,
            max_params,
            max_macs,
            variant=variant,
            sets=overrides,
            input_shape=input_shape,
            no_bias=no_bias,
            batch=batch,
        )
        if progress:
            sys.stderr.write("\r\033[K")  # the progress line gives way to the file's result
        reporter.file(r.file, r.configs, r.diagnostics)
    sys.exit(reporter.finish())


@cli.command()
@click.argument("spec", shell_complete=_complete_spec)
@config_options
@click.option(
    "-f",
    "--format",
    "fmt",
    type=_TableChoice(_graph_formats),
    default="mermaid",
    show_default=True,
    help="mermaid (renders in GitHub Markdown) or dot (Graphviz: dot -Tsvg).",
)
@click.option("--depth", type=click.IntRange(1), help="Collapse blocks below this path depth into one node each.")
def graph(
    spec: str,
    variant: str | None,
    sets: tuple[str, ...],
    input_shape: Any,
    no_bias: bool,
    batch: int,
    fmt: str,
    depth: int | None,
) -> None:
    """The layer graph with shapes on the edges, blocks as (collapsible) subgraphs.

    \b
    Example:
        cnncalc graph inception-bottleneck > module.mmd
        cnncalc graph resnet50 --format dot --depth 2 | dot -Tsvg > resnet50.svg
    """
    from .render.diagram import render_graph

    report = _analyze(spec, variant, sets, input_shape, no_bias, batch)
    click.echo(render_graph(report, fmt, depth), nl=False)


@cli.command(name="export")
@click.argument("spec", shell_complete=_complete_spec)
@click.option(
    "--to",
    "target",
    type=click.Choice(["pytorch"]),
    default="pytorch",
    show_default=True,
    help="The framework to write the network for.",
)
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False),
    help="Write the module to this file (default: standard output).",
)
@config_options
def export_(
    spec: str,
    target: str,
    out: str | None,
    variant: str | None,
    sets: tuple[str, ...],
    input_shape: Any,
    no_bias: bool,
    batch: int,
) -> None:
    """Write the network as runnable code: one self-contained PyTorch module that needs torch only.

    Submodules follow the spec's layer paths (`conv#1` is `conv_1`): chains become nn.Sequential, blocks built
    alike share a class whose arguments are what differs between them, joins are explicit forward code. The
    docstring holds the spec's source and cnncalc's totals; `cnncalc verify SPEC` builds the module and checks
    every layer. An op with no PyTorch code stops the export (exit 1, the layer named); an `opaque` layer
    becomes a placeholder that raises until written. Sizes taken from other layers (`to=`) are this
    configuration's: export again for another --input. --batch does not change the module.

    \b
    Example:
        cnncalc export resnet18 --to pytorch -o resnet18.py
        cnncalc export unet --to pytorch --input 572x572x1 > unet.py
    """
    from .to_pytorch import export_pytorch

    report = _analyze(spec, variant, sets, input_shape, no_bias, batch)
    exp = export_pytorch(report)
    if exp.placeholders:
        paths = ", ".join(report.layers[i].path for i in exp.placeholders)
        click.echo(f"cnncalc export: note: opaque layers are placeholders that raise until written: {paths}", err=True)
    if out is None:
        click.echo(exp.source, nl=False)
        return
    try:
        Path(out).write_text(exp.source, encoding="utf-8")
    except OSError as exc:
        click.echo(f"cnncalc export: error: cannot write {out}: {exc.strerror or exc}", err=True)
        sys.exit(ExitCode.USAGE if exc.errno in _PATH_ERRNOS else ExitCode.FAILED)
    click.echo(f"wrote {out}: class {exp.model_class}", err=True)


@cli.command(name="import")
@click.argument("model")
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False),
    help="Write the spec to this file (default: standard output).",
)
@click.option(
    "--input",
    "input_shape",
    type=_ShapeType(),
    help="The input size, e.g. 224x224x3, for a model whose input has no static size (or to import at another).",
)
@click.option("--name", help="The spec's `name:` (default: the model's).")
@click.option("--flat", is_flag=True, help="Write no blocks: every unit in full (joins and lines are kept).")
@click.option("--strict", is_flag=True, help="Exit 1 when a layer had to be written as `opaque` (W801).")
def import_(model: str, out: str | None, input_shape: Any, name: str | None, flat: bool, strict: bool) -> None:
    """Write a spec of a model: an ONNX file, or a PyTorch module given as package.module:callable.

    MODEL is an .onnx file (binary, or ONNX's textual syntax; its external data is not needed: initializers'
    dimensions give the parameters), read with the onnx package (pip install 'cnncalc[onnx]'), or a callable
    that returns an nn.Module (torchvision.models.resnet50, or a class), traced with torch.fx (pip install
    'cnncalc[torch]'; built without pretrained weights). Shapes come from the model (its input's static size,
    else --input); parameters from its initializers or parameters. The spec reads as a person writes one:
    conv, bn, activation on one line, a join with its branches, units built alike as calls of one block with
    their differing channels and strides as arguments, names after the model's. Before it is written, the spec
    is evaluated by cnncalc and every layer's op, shape, params and buffers compared with the model's (a
    difference is an error, E804). An op cnncalc does not know becomes an `opaque` layer with the model's output
    shape and parameters (MACs unknown, counted 0), and a W801 warning names its node.

    Exit status: 0 imported (warnings on stderr); 1 the model cannot be imported (E80x), or --strict and a
    layer is opaque; 2 a usage error.

    \b
    Example:
        cnncalc import resnet50.onnx -o resnet50.yaml
        cnncalc import model.onnx --input 512x512x3
        cnncalc import torchvision.models.resnet50 -o resnet50.yaml
    """
    from .importers import import_model

    result = import_model(model, input_shape, name, fold=not flat)
    for warning in result.warnings:
        reporting.warning(warning)
    total = result.report.total
    opaque = result.network.opaque()
    summary = (
        f"imported {model}: {len(result.network.layers):,} layers"
        + (f" ({len(opaque)} opaque)" if opaque else "")
        + f", {total.params:,} params, {total.buffers:,} buffers, {total.macs:,} MACs;"
        " every layer's shape, params and buffers equal the model's"
    )
    if out is None:
        click.echo(result.spec, nl=False)
    else:
        try:
            Path(out).write_text(result.spec, encoding="utf-8")
        except OSError as exc:
            click.echo(f"cnncalc import: error: cannot write {out}: {exc.strerror or exc}", err=True)
            sys.exit(ExitCode.USAGE if exc.errno in _PATH_ERRNOS else ExitCode.FAILED)
        summary = summary.replace(f"imported {model}", f"wrote {out} from {model}", 1)
    click.echo(summary, err=True)
    held = result.network.total_params
    if held is not None and held != total.params:  # a PyTorch module's parameters() beyond its traced forward
        click.echo(
            f"cnncalc import: note: the module holds {held:,} parameters; its forward at this input uses "
            f"{total.params:,} (the spec's); the others (an auxiliary head, an unused layer) are not in it",
            err=True,
        )
    if strict and opaque:
        sys.exit(ExitCode.FAILED)


@cli.command(name="verify")
@click.argument("spec", shell_complete=_complete_spec)
@click.option(
    "--module",
    "module_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Verify this module file (an export you edited, e.g. its opaque layers written) instead of a fresh export.",
)
@config_options
def verify_(
    spec: str,
    module_file: str | None,
    variant: str | None,
    sets: tuple[str, ...],
    input_shape: Any,
    no_bias: bool,
    batch: int,
) -> None:
    """Check the exported PyTorch module against the spec: every layer's shape, params, buffers and MACs.

    Builds the module `cnncalc export` writes, runs it once on an input of zeros (PyTorch's meta device, else
    the CPU) and compares each layer's output shape, parameters, buffers and MACs (FLOPs / 2 of PyTorch's
    FlopCounterMode), and the totals, with cnncalc's. Prints the totals side by side and a table of the
    differences; exit 0 when nothing differs, 1 when anything does. With --module, the module file you give
    (an export you completed or changed, keeping its class and submodule names) is checked instead. Needs
    PyTorch, an optional extra: pip install 'cnncalc[torch]'.

    \b
    Example:
        cnncalc verify resnet18
        cnncalc verify mobilenet-v3-large --input 320x320x3
        cnncalc verify my-net.yaml --module my_net.py
    """
    from .verify import verification_text, verify

    report = _analyze(spec, variant, sets, input_shape, no_bias, batch)
    if module_file is None:
        result = verify(report)
    else:
        source = Path(module_file).read_text(encoding="utf-8", errors="replace")
        result = verify(report, source, module_file)
    click.echo(verification_text(result), nl=False)
    if not result.ok:
        sys.exit(ExitCode.FAILED)


@cli.command()
@click.argument("specs", nargs=-1, required=True, shell_complete=_complete_spec)
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, writable=True),
    required=True,
    help="The chart file: .png or .svg.",
)
@click.option(
    "--y",
    "y_axis",
    type=click.Choice(["auto", "top1", "params"]),
    default="auto",
    show_default=True,
    help="y axis: top-1 accuracy (where specs state one) or params; auto picks accuracy when all have one.",
)
@config_options
def plot(
    specs: tuple[str, ...],
    out: str,
    y_axis: str,
    variant: str | None,
    sets: tuple[str, ...],
    input_shape: Any,
    no_bias: bool,
    batch: int,
) -> None:
    """A Canziani-style chart: MACs against accuracy (or params), marker area = params.

    Needs matplotlib, an optional extra: pip install 'cnncalc[plot]'. A SPEC may carry a variant after a
    colon, as in compare.

    \b
    Example:
        cnncalc plot alexnet-torchvision vgg16 resnet50 googlenet mobilenet-v2 -o chart.png
    """
    target = Path(out)
    if not target.parent.is_dir():  # before any work
        _cannot_write(out, f"the folder {target.parent} does not exist", ExitCode.USAGE)
    from .render.plot import plot as draw

    reports = [_analyze(*_name_variant(name, variant), sets, input_shape, no_bias, batch) for name in specs]
    try:
        draw(reports, list(specs), target, y=y_axis)
    except OSError as exc:
        _cannot_write(out, exc.strerror or str(exc), ExitCode.USAGE if exc.errno in _PATH_ERRNOS else ExitCode.FAILED)
    click.echo(f"wrote {out}", err=True)


#: errno values that say an output path is wrong (a usage error), not that the device failed.
_PATH_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENAMETOOLONG}


def _cannot_write(out: str, why: str, code: ExitCode) -> None:
    click.echo(f"cnncalc plot: error: cannot write {out}: {why}", err=True)
    sys.exit(code)


@cli.command()
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def devices(fmt: str) -> None:
    """The bundled device profiles for `show --device`: peak FLOP/s per dtype, bandwidth, source.

    \b
    Example:
        cnncalc devices
        cnncalc show resnet50 --device nvidia-a100-sxm4-40gb --dtype fp16
    """
    from . import render
    from .devices import load_devices

    devs = load_devices()
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    k: {"name": d.name, "peak_flops": dict(d.peak_flops), "bandwidth": d.bandwidth, "source": d.source}
                    for k, d in devs.items()
                },
                indent=1,
            )
        )
        return
    render.emit(render.devices_table(list(devs.values())))


@cli.command(name="list")
@click.argument("search", required=False, default="")
@click.option("--family", help="Only this family: a spec file's name (resnet50, vgg16, efficientnet...).")
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--width", type=click.IntRange(40), help="Table width (default: COLUMNS, else the terminal's).")
def list_(search: str, family: str | None, fmt: str, width: int | None) -> None:
    """The bundled specs by family: name, title, input, output, params, MACs, and each family's source.

    SEARCH keeps the names and titles that contain it (any case).

    \b
    Example:
        cnncalc list
        cnncalc list regnet
        cnncalc list --family resnet50 --format json
        cnncalc show resnet152
    """
    from .api import library_reports

    rows = library_reports()
    if family is not None:
        stems = {f.removesuffix(".yaml") for _, f, _, _ in rows}
        if family.removesuffix(".yaml") not in stems:
            from .spec import did_you_mean

            raise click.BadParameter(
                f"no family {family!r}{did_you_mean(family, sorted(stems))}; families: {', '.join(sorted(stems))}",
                param_hint="--family",
            )
        rows = [row for row in rows if row[1].removesuffix(".yaml") == family.removesuffix(".yaml")]
    if search:
        needle = search.lower()
        rows = [
            (n, f, v, r)
            for n, f, v, r in rows
            if needle in n.lower() or (not isinstance(r, CnncalcError) and needle in r.title.lower())
        ]
    broken = [(n, r) for n, _, _, r in rows if isinstance(r, CnncalcError)]
    good = [(n, f, v, r) for n, f, v, r in rows if not isinstance(r, CnncalcError)]
    if fmt == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "name": n,
                        "family": f.removesuffix(".yaml"),
                        "file": f,
                        "variant": v,
                        "title": r.title,
                        "input": r.input.as_list(),
                        "output": r.output.as_list(),
                        "params": r.total.params,
                        "macs": r.total.macs,
                        "source": r.source,
                    }
                    for n, f, v, r in good
                ],
                indent=1,
            )
        )
    else:
        from . import render

        render.emit(render.library_table([(n, f, r) for n, f, _, r in good]), width)
    for name, err in broken:
        click.echo(f"{name}: {err.headline()}", err=True)
    if broken:
        sys.exit(ExitCode.FAILED)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of spec files, for editors (yaml-language-server).

    \b
    Example:
        cnncalc schema > cnncalc.schema.json
        # then, as the first line of a spec:
        # yaml-language-server: $schema=cnncalc.schema.json
    """
    from importlib.resources import files

    click.echo(files("cnncalc").joinpath("spec.schema.json").read_text(encoding="utf-8"), nl=False)


def main() -> None:
    """Console-script entry point."""
    from .render import term

    term.setup_streams()
    try:
        cli(prog_name="cnncalc")
    except OSError as exc:  # --help or --version into a full device (click handles only a closed pipe)
        if not _output_failed(exc):
            raise
        sys.exit(ExitCode.FAILED)
    finally:
        try:  # help, usage errors and --version print outside the commands: flush them here, not at exit
            sys.stdout.flush()
        except OSError:
            term.silence_stdout()
            sys.exit(ExitCode.FAILED)
