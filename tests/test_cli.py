"""The command line, in-process with click's CliRunner (width 120, no colour)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from tests.conftest import ARCH, Cli


def test_show_table_has_totals_and_conventions(cli: Cli) -> None:
    out = cli("show", "alexnet").stdout
    assert "conv1.conv" in out and "55x55x96" in out and "34,944" in out
    assert "60,965,224" in out and "724,406,816" in out
    assert "FLOPs = 2 x MACs = 1,448,813,632" in out
    assert "buffers" in out


def test_show_accepts_a_path_and_a_yaml_name(cli: Cli) -> None:
    assert "138,357,544" in cli("show", str(ARCH / "vgg16.yaml")).stdout
    assert "133,047,848" in cli("show", "vgg13.yaml").stdout  # a variant of vgg16.yaml, found by name


def test_show_json_contract(cli: Cli) -> None:
    data = json.loads(cli("show", "alexnet", "--format", "json").stdout)
    assert {"name", "input", "layers", "total"} <= set(data)
    assert data["input"] == [227, 227, 3]
    first = data["layers"][0]
    assert {"path", "op", "output", "params", "macs", "activations"} <= set(first)
    assert first["op"] == "conv" and first["output"] == [55, 55, 96] and first["params"] == 34_944
    assert data["layers"][-1]["output"] == [1000] and data["layers"][-1]["op"] == "fc"
    assert any("pool" in layer["op"] for layer in data["layers"])
    assert data["total"]["params"] == sum(layer["params"] for layer in data["layers"]) == 60_965_224
    assert data["total"]["flops"] == 2 * data["total"]["macs"]
    assert all(isinstance(v, int) for v in data["total"].values())


def test_show_no_bias_and_formats(cli: Cli) -> None:
    data = json.loads(cli("show", "vgg16", "--no-bias", "-f", "json").stdout)
    assert data["total"]["params"] == 138_344_128 and data["total"]["biases"] == 0
    csv = cli("show", "lenet5", "--variant", "lenet5-simplified", "--format", "csv").stdout.splitlines()
    assert csv[0].startswith("path,op,output,params") and csv[-1].startswith("total,,10,61706,")
    md = cli("show", "lenet5", "--variant", "lenet5-simplified", "--format", "markdown").stdout
    assert "| layer | op |" in md and "**61,706**" in md


def test_show_what_ifs(cli: Cli) -> None:
    data = json.loads(cli("show", "resnet50", "--input", "448x448x3", "-f", "json").stdout)
    assert data["total"]["macs"] == 16_350_593_024  # torchvision at 448 (tests/data/torchvision_reference.json)
    data = json.loads(cli("show", "alexnet", "--set", "g=1", "-f", "json").stdout)
    assert data["total"]["params"] == 62_378_344
    data = json.loads(cli("show", "resnet152", "-f", "json").stdout)
    assert data["total"]["params"] == 60_192_808 and data["variant"] == "resnet152"


def test_show_depth_collapses_blocks(cli: Cli) -> None:
    out = cli("show", "resnet50", "--depth", "1").stdout
    lines = out.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("───")]
    rows = "\n".join(lines[rules[0] + 1 : rules[1]])
    assert "layer1" in rows and "bottleneck" not in rows


def test_compare(cli: Cli) -> None:
    out = cli("compare", "inception-naive", "inception-bottleneck").stdout
    assert "854,196,224" in out and "271,351,808" in out and "0.318x" in out
    assert "28x28x672" in out and "28x28x480" in out
    data = json.loads(cli("compare", "inception-naive", "inception-bottleneck", "-f", "json").stdout)
    assert [a["total"]["macs"] for a in data["architectures"]] == [854_196_224, 271_351_808]
    assert [a["output"] for a in data["architectures"]] == [[28, 28, 672], [28, 28, 480]]
    out = cli("compare", "alexnet", "alexnet:alexnet-one-tower", "--depth", "1").stdout
    assert "conv2" in out and "447,897,600" in out
    out = cli("compare", "resnet18", "vgg16", "--bars", "--depth", "1").stdout
    assert "100.0%" in out and "MACs (vs largest)" in out and "share of MACs" in out


def test_check_ok_and_failures(cli: Cli, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("input: 8x8x1\nlayers:\n  - conv 2 3x3  => 6x6x2\nexpect: {params: 20}\n")
    bad = tmp_path / "sub" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text("input: 8x8x1\nlayers:\n  - conv 2 3x3  => 7x7x2\nexpect: {params: 21}\n")
    res = cli("check", str(tmp_path), code=1)
    assert f"{bad}:3:20: error:" in res.stdout and "produces 6x6x2, but the spec says => 7x7x2" in res.stdout
    assert "1 spec ok, 1 failed" in res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    res = cli("check", str(good))
    assert "1 spec ok, 0 failed" in res.stderr
    res = cli("check", str(tmp_path / "*.yaml"))
    assert "1 spec ok" in res.stderr


def test_check_formats_and_budgets(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: 8x8x1\nlayers:\n  - covn 2 3x3\n")
    diags = json.loads(cli("check", str(bad), "--format", "json", code=1).stdout)
    assert diags[0]["line"] == 3 and diags[0]["column"] == 5 and diags[0]["severity"] == "error"
    assert "did you mean `conv`" in diags[0]["message"] and diags[0]["code"] == "E201"
    gh = cli("check", str(bad), "--format", "github", code=1).stdout
    assert gh.startswith(f"::error file={bad},line=3,col=5::")
    res = cli("check", str(ARCH / "alexnet.yaml"), "--max-params", "50M", code=1)
    assert "exceed the budget --max-params=50,000,000" in res.stdout
    cli("check", str(ARCH / "alexnet.yaml"), "--max-macs", "1.2G")


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert "does not exist" in cli("check", "no/such/dir", code=2).stderr
    cli("show", "alexnet", "--format", "xml", code=2)
    cli("show", "alexnet", "--input", "12x12", code=2)
    cli("check", "architectures", "--max-macs", "lots", code=2)


def test_unknown_spec_name_is_a_located_error(cli: Cli) -> None:
    res = cli("show", "vgg61", code=1)
    assert "no spec file or bundled spec named 'vgg61'" in res.stderr and "did you mean" in res.stderr


def test_bad_spec_gives_one_located_line_and_exit_1(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: 28x28x256\nlayers:\n  - concat:\n      - conv 64 1x1\n      - conv 32 5x5\n")
    res = cli("show", str(bad), code=1)
    first = res.stderr.splitlines()[0]
    assert first.startswith(f"{bad}:3:5: error: concat: concat inputs disagree in height x width")
    assert "28x28x64" in res.stderr and "24x24x32" in res.stderr
    assert "Traceback" not in res.stderr


def test_internal_error_has_its_own_exit_code(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import cnncalc.api

    def boom(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(cnncalc.api, "analyze_spec", boom)
    res = cli("show", "alexnet", code=3)
    assert "internal error, please report" in res.stderr and "ZeroDivisionError" in res.stderr
    res = cli("--traceback", "show", "alexnet", code=1)
    assert isinstance(res.exception, ZeroDivisionError)


def test_list(cli: Cli) -> None:
    data = json.loads(cli("list", "--format", "json").stdout)
    names = {d["name"] for d in data}
    assert {"alexnet", "vgg13", "resnet152", "googlenet", "inception-naive"} <= names
    assert all(d["source"] for d in data)
    assert "resnet152" in cli("list").stdout


def test_python_m_entry_point() -> None:
    import subprocess
    import sys

    res = subprocess.run(
        [sys.executable, "-m", "cnncalc", "show", "lenet5", "-f", "json"], capture_output=True, text=True, check=True
    )
    assert json.loads(res.stdout)["total"]["params"] == 60_000


# --------------------------------------------------------------------------- streams: pipes, devices, encodings, stdin


def _run(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """cnncalc in a real process (stream handling happens where the process meets its file descriptors)."""
    return subprocess.run(
        [sys.executable, "-m", "cnncalc", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        encoding=(env or {}).get("PYTHONIOENCODING", "utf-8"),
        env={k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")} | (env or {}),
        timeout=120,
    )


@pytest.mark.parametrize(
    "args", [("show", "resnet152", "--memory"), ("check", str(ARCH)), ("show", "resnet152", "-f", "json"), ("--help",)]
)
def test_a_closed_pipe_ends_quietly(args: tuple[str, ...]) -> None:
    """As `cnncalc ... | head -1`: the reader is gone before cnncalc writes; no message, exit 1 (click's own)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnncalc", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ)
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert "error" not in err and "Traceback" not in err and "Exception" not in err, err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args", [("show", "alexnet"), ("show", "lenet5", "-f", "json"), ("--help",), ("list",)])
def test_a_full_device_is_one_line_and_exit_1(args: tuple[str, ...]) -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "cnncalc", *args], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120
        )
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == ["cnncalc: error: cannot write the output: No space left on device"]


def test_plot_into_a_missing_folder_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    res = cli("plot", "alexnet", "-o", str(tmp_path / "missing" / "a.png"), code=2)
    assert res.stderr.splitlines() == [
        f"cnncalc plot: error: cannot write {tmp_path / 'missing' / 'a.png'}: the folder {tmp_path / 'missing'} "
        "does not exist"
    ]


@pytest.mark.parametrize("encoding", ["cp1252", "ascii", "latin-1"])
def test_an_encoding_without_box_drawing_gets_ascii_rules(encoding: str) -> None:
    res = _run("show", "resnet18", "--bars", "--width", "60", env={"PYTHONIOENCODING": encoding})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert any(line and line == "-" * len(line) for line in lines) and "─" not in res.stdout
    assert ("…" in res.stdout) == (encoding == "cp1252")  # cp1252 has an ellipsis; the others get "..."
    assert ("..." in res.stdout) == (encoding != "cp1252")
    assert "11,689,512" in res.stdout.replace("\n", " ") or "11.7M" in res.stdout
    assert all(len(line) <= 60 for line in lines)


def test_cp1252_keeps_its_own_ellipsis() -> None:
    res = _run("show", "efficientnet-b0", "--width", "60", env={"PYTHONIOENCODING": "cp1252"})
    assert res.returncode == 0 and "…" in res.stdout and "─" not in res.stdout


def test_dash_reads_the_spec_from_stdin(cli: Cli) -> None:
    spec = (ARCH / "alexnet.yaml").read_text(encoding="utf-8")
    res = cli.runner.invoke(_cli(), ["show", "-", "-f", "json"], input=spec)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["total"]["params"] == 60_965_224 and data["file"] == "<stdin>"
    res = cli.runner.invoke(_cli(), ["compare", "--", "-", "-:alexnet-one-tower"], input=spec)
    assert res.exit_code == 0 and "60,965,224" in res.stdout and "0.318x" not in res.stdout
    res = cli.runner.invoke(_cli(), ["show", "-"], input="input: 8x8x1\nlayers:\n  - conv 2 5x5 => 3x3x2\n")
    assert res.exit_code == 1 and res.stderr.startswith("<stdin>:3:")
    assert (
        _run("show", "-", stdin=b"input: 8x8x1\nlayers: [conv 2 3x3]\n").stdout.count("6x6x2") == 3
    )  # title, row, total


def _cli() -> click.Command:
    from cnncalc.cli import cli

    return cli


def test_check_prints_each_file_as_it_goes(cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import cnncalc.analysis

    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.yaml").write_text("input: 8x8x1\nlayers:\n  - conv 2 3x3\n")
    seen: list[str] = []
    check = cnncalc.analysis.check_spec_file

    def spy(path: Path, *args: object, **kwargs: object) -> object:
        sys.stdout.flush()
        seen.append(sys.stdout.buffer.getvalue().decode())  # type: ignore[attr-defined]
        return check(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cnncalc.analysis, "check_spec_file", spy)
    out = cli("check", str(tmp_path)).stdout
    assert [s.count("ok  ") for s in seen] == [0, 1, 2] and out.count("ok  ") == 3


@pytest.mark.parametrize("width", [40, 60, 80, 100])
def test_width_and_columns_are_honoured(cli: Cli, width: int) -> None:
    for spec in ("alexnet", "vgg13", "resnet50", "efficientnet-b0", "inception-v3", "mobilenet-v3-large"):
        out = cli("show", spec, "--width", str(width), "--ops", "--bars", "--memory", "--device", "nvidia-t4").stdout
        assert max(map(len, out.splitlines())) <= width, spec
    out = cli.runner.invoke(_cli(), ["show", "efficientnet-b0"], env={"COLUMNS": "60"}).stdout
    assert max(map(len, out.splitlines())) <= 60 and "…" in out
    for args in (("compare", "resnet18", "resnet50", "vgg16", "--bars"), ("list",), ("devices",)):
        out = cli(*args, "--width", "60").stdout if args[0] != "devices" else cli(*args).stdout
        if args[0] != "devices":
            assert max(map(len, out.splitlines())) <= 60, args


def test_a_pipe_without_columns_gets_whole_lines() -> None:
    res = _run("show", "efficientnet-b0")
    assert "features.stage#2.mbconv#1.add.b1.mbconv_branch.squeeze_excite.mul.b2.conv#1" in res.stdout or (
        "…" not in res.stdout and max(map(len, res.stdout.splitlines())) > 120
    )
    assert "…" not in res.stdout and "left out" not in res.stdout


def test_help_states_the_exit_codes(cli: Cli) -> None:
    text = " ".join(cli("--help").stdout.split())
    assert "Exit status: 0 success; 1 a spec has an error" in text and "2 a usage error" in text
    assert cli("show", "/nonexistent/net.yaml", code=1).stderr.startswith("/nonexistent/net.yaml: error:")
    assert "does not exist" in cli("check", "/nonexistent/net.yaml", code=2).stderr
    assert "`cnncalc show -` reads a spec from standard input" in cli("check", "-", code=2).stderr


def test_list_groups_by_family_and_filters(cli: Cli) -> None:
    data = json.loads(cli("list", "--family", "resnet50", "--format", "json").stdout)
    assert [d["name"] for d in data][:2] == ["resnet50", "resnet101"]  # the base first, then its variants
    assert {d["family"] for d in data} == {"resnet50"} and data[1]["title"] == "ResNet-101 (torchvision, v1.5)"
    found = json.loads(cli("list", "regnet-y", "--format", "json").stdout)
    assert len(found) == 8 and all(d["name"].startswith("regnet-y-") for d in found)
    assert "no family 'resnt'; did you mean `resnet50`?" in cli("list", "--family", "resnt", code=2).stderr


def test_shell_completion_offers_bundled_names_file_paths_and_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.shell_completion import ShellComplete

    from cnncalc.cli import cli as group

    def complete(*args: str) -> list[tuple[str, str]]:
        items = ShellComplete(group, {}, "cnncalc", "_CNNCALC_COMPLETE").get_completions(list(args[:-1]), args[-1])
        return [(i.type, i.value) for i in items]

    spec = complete("show", "resnet1")
    assert ("plain", "resnet101") in spec and ("file", "resnet1") in spec  # names, and the shell's file paths
    assert ("plain", "nvidia-t4") in complete("show", "vgg16", "--device", "nvidia-t")
    assert complete("check", "arch") == [("file", "arch")]
