from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from edgebench.bench.schema import load_result
from edgebench.cli import app
from typer.testing import CliRunner

QUICK = ["--warmup-iters", "1", "--min-iters", "3", "--min-seconds", "0"]


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_line_error(r, code: int, *fragments: str) -> None:
    assert r.exit_code == code, (r.exit_code, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("edgebench: error:")
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    for f in fragments:
        assert f in lines[0], lines[0]


def test_bench_in_process_writes_valid_result(tiny_onnx: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    r = invoke("bench", tiny_onnx, "-o", out, "--in-process", "--threads", "1", "--batch", "1,3",
               "--csv", tmp_path / "all.csv", *QUICK)
    assert r.exit_code == 0, r.stderr
    files = sorted(out.glob("*.json"))
    assert len(files) == 2
    batches = sorted(load_result(f).options.batch for f in files)
    assert batches == [1, 3]
    assert len((tmp_path / "all.csv").read_text().splitlines()) == 3
    assert "p50 ms" in r.stdout


def test_bench_isolated_subprocess_json(tiny_onnx: Path, tmp_path: Path) -> None:
    r = invoke("bench", tiny_onnx, "-o", tmp_path, "--threads", "2", "--json", *QUICK)
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["memory"]["isolated_process"] is True
    assert data["options"]["threads"] == 2 and data["runtime"]["effective_options"]["intra_op_threads"] == 2
    assert data["machine"]["cpu"]["arch"]


def test_bench_sessions_spread_the_timed_runs_over_sessions(tiny_onnx: Path, tmp_path: Path) -> None:
    r = invoke("bench", tiny_onnx, "-o", tmp_path, "--threads", "1", "--json", "--in-process", "--sessions", "3",
               "--min-seconds", "0.3", "--warmup-iters", "2")
    assert r.exit_code == 0, r.stderr
    lat = json.loads(r.stdout)["latency"]
    assert lat["sessions"] == 3 and len(lat["session_starts"]) == 3 and lat["session_starts"][0] == 0
    assert lat["p50_ci95_segments"] >= 6  # the CI spans segments of all three sessions
    assert json.loads(r.stdout)["memory"]["sessions_loaded_at_once"] == 2
    one = json.loads(invoke("bench", tiny_onnx, "-o", tmp_path / "one", "--threads", "1", "--json", "--in-process",
                            *QUICK).stdout)
    assert one["latency"]["sessions"] == 1 and one["memory"]["sessions_loaded_at_once"] == 1


def test_bench_with_npz_inputs(tiny_onnx: Path, tmp_path: Path) -> None:
    import numpy as np

    npz = tmp_path / "x.npz"
    np.savez(npz, input=np.zeros((2, 3, 16, 16), np.float32))
    r = invoke("bench", tiny_onnx, "-o", tmp_path / "r", "--in-process", "--inputs", npz, "--batch", "4", "--json",
               *QUICK)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["model"]["inputs"][0]["resolved_shape"] == [4, 3, 16, 16]


def test_missing_file(tmp_path: Path) -> None:
    r = invoke("bench", tmp_path / "missing.onnx", "-o", tmp_path / "r")
    assert_one_line_error(r, 2, "does not exist")
    assert not (tmp_path / "r").exists()


def test_not_onnx(tmp_path: Path) -> None:
    p = tmp_path / "notes.onnx"
    p.write_text("hello, I am a text file\n")
    r = invoke("bench", p, "-o", tmp_path / "r", *QUICK)
    assert_one_line_error(r, 2, "not a loadable ONNX model")
    assert not list((tmp_path / "r").glob("*.json"))


def test_truncated_onnx(tiny_onnx: Path, tmp_path: Path) -> None:
    p = tmp_path / "trunc.onnx"
    data = tiny_onnx.read_bytes()
    p.write_bytes(data[: int(len(data) * 0.6)])
    r = invoke("bench", p, "-o", tmp_path / "r", *QUICK)
    assert_one_line_error(r, 2, "trunc.onnx")
    assert not list((tmp_path / "r").glob("*.json"))


def test_shape_of_wrong_rank(tiny_onnx: Path, tmp_path: Path) -> None:
    r = invoke("bench", tiny_onnx, "--shape", "1,3,16", "-o", tmp_path / "r", *QUICK)
    assert_one_line_error(r, 2, "rank 3", "rank 4")
    assert not list((tmp_path / "r").glob("*.json"))


@pytest.mark.parametrize("value", ["0", "-5"])
def test_bad_min_iters(tiny_onnx: Path, tmp_path: Path, value: str) -> None:
    r = invoke("bench", tiny_onnx, "--min-iters", value, "-o", tmp_path / "r")
    assert_one_line_error(r, 2, "--min-iters", value)


def test_unknown_runtime_suggests(tiny_onnx: Path, tmp_path: Path) -> None:
    r = invoke("bench", tiny_onnx, "--runtime", "ort-cpx", "-o", tmp_path / "r")
    assert_one_line_error(r, 2, "unknown runtime 'ort-cpx'", "Did you mean 'ort-cpu'?")


def test_unwritable_output_folder(tiny_onnx: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    r = invoke("bench", tiny_onnx, "-o", blocker / "results", *QUICK)
    assert_one_line_error(r, 2, "cannot create output folder")


def test_bad_thread_list(tiny_onnx: Path, tmp_path: Path) -> None:
    r = invoke("bench", tiny_onnx, "--threads", "1,x", "-o", tmp_path / "r")
    assert_one_line_error(r, 2, "'x' is not an integer")


def test_sysinfo_json() -> None:
    r = invoke("sysinfo")
    assert r.exit_code == 0
    fp = json.loads(r.stdout)
    assert {"cpu", "os", "memory", "packages", "id"} <= set(fp)


def test_runtimes_lists_ort_cpu() -> None:
    r = invoke("runtimes")
    assert r.exit_code == 0 and "ort-cpu" in r.stdout and "available" in r.stdout


def test_cli_import_pulls_no_heavy_modules() -> None:
    code = ("import sys, edgebench.cli.main; "
            "heavy = [m for m in ('torch', 'onnxruntime', 'onnx', 'numpy', 'torchvision') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_runs_without_torch() -> None:
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom edgebench.cli import app\n"
            "r = CliRunner().invoke(app, ['--help'])\nassert r.exit_code == 0, r.output\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_runtime_option_reaches_the_measurement_process(tiny_onnx: Path, tmp_path: Path) -> None:
    r = invoke("bench", tiny_onnx, "-o", tmp_path, "-t", "1", "--json", "--no-spin", "--graph-opt", "basic",
               "--ro", "config_entries=session.use_env_allocators:1", "--ro", "memory-arena=false", *QUICK)
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    ro = data["runtime"]["options"]
    assert ro["config_entries"] == {"session.use_env_allocators": "1"} and ro["memory_arena"] is False
    assert ro["spin_wait"] is False and data["options"]["graph_optimization"] == "basic"
    assert data["memory"]["isolated_process"] is True and data["memory"]["arena"] is False


@pytest.mark.parametrize("args,fragments", [
    (["--ro", "spinwait=0"], ["unknown ort-cpu option 'spinwait'", "Did you mean 'spin_wait'"]),
    (["--ro", "engine"], ["is not KEY=VALUE"]),
    (["--ro", "graph_optimization=max"], ["graph_optimization 'max' is not one of"]),
    (["--graph-opt", "basic", "--ro", "graph_optimization=all"], ["both set graph_optimization"]),
    (["-t", "2", "--ro", "intra_op_threads=1"], ["--threads and --runtime-option intra_op_threads"]),
    (["-r", "torch", "--no-arena"], ["--arena/--no-arena does not apply to runtime 'torch'", "--runtime-option"]),
    (["-r", "torch-int8", "--graph-opt", "basic"], ["--graph-opt does not apply to runtime 'torch-int8'"]),
])
def test_bad_runtime_options(tiny_onnx: Path, tmp_path: Path, args: list[str], fragments: list[str]) -> None:
    r = invoke("bench", tiny_onnx, "-o", tmp_path / "r", *args, *QUICK)
    assert_one_line_error(r, 2, *fragments)
    assert not (tmp_path / "r").exists()


def test_interleave_writes_one_result(tmp_path: Path) -> None:
    from edgebench.tools.synthetic import conv_net

    a = conv_net(tmp_path / "a.onnx", size=16)
    b = conv_net(tmp_path / "b.onnx", size=16, channels=16)
    out = tmp_path / "out"
    r = invoke("bench", a, b, "--interleave", "-t", "1", "--rounds", "4", "--round-iters", "3",
               "--warmup-iters", "1", "-o", out)
    assert r.exit_code == 0, r.stderr
    assert "ratio vs a (95% CI)" in r.stdout
    (f,) = out.glob("interleave.*.json")
    res = json.loads(f.read_text())
    assert res["schema_version"] == 1 and res["kind"] == "interleave" and res["baseline"] == "a"
    assert res["machine"]["cpu"]["arch"] and res["runtime"]["options"]["intra_op_threads"] == 1
    assert [m["name"] for m in res["models"]] == ["a", "b"] and res["options"]["rounds"] == 4
    for m in res["models"]:
        assert len(m["round_p50_ms"]) == 4 and len(m["round_cpu_ms"]) == 4
        lo, hi = m["ratio_vs_first"]["ci95"]
        assert lo <= m["ratio_vs_first"]["median"] <= hi
    assert res["models"][0]["ratio_vs_first"]["median"] == 1.0
    assert not list(out.glob(".*.tmp"))


@pytest.mark.parametrize("case,fragments", [
    ("one", ["give two or more"]),
    ("shapes", ["needs models with the same inputs", "[1, 3, 32, 32]"]),
    ("rounds", ["--rounds 0 must be >= 1"]),
])
def test_interleave_bad_input(tmp_path: Path, case: str, fragments: list[str]) -> None:
    from edgebench.tools.synthetic import conv_net

    a = conv_net(tmp_path / "a.onnx", size=16)
    models = {"one": [a], "shapes": [a, conv_net(tmp_path / "c.onnx", size=32)], "rounds": [a, a]}[case]
    extra = ["--rounds", "0"] if case == "rounds" else []
    r = invoke("bench", *models, "--interleave", *extra, "-o", tmp_path / "out")
    assert_one_line_error(r, 2, *fragments)
    assert not (tmp_path / "out").exists()


def test_several_models_need_interleave(tiny_onnx: Path, tmp_path: Path) -> None:
    r = invoke("bench", tiny_onnx, tiny_onnx, "-o", tmp_path / "r")
    assert_one_line_error(r, 2, "several with --interleave")


@pytest.mark.parametrize("argv", [["runtimes"], ["bench", "{model}", "--in-process", "-t", "1", "-o", "{out}",
                                                  "--warmup-iters", "1", "--min-iters", "3", "--min-seconds", "0"]])
def test_ort_paths_never_import_torch(tiny_onnx: Path, tmp_path: Path, argv: list[str]) -> None:
    argv = [a.format(model=tiny_onnx, out=tmp_path) for a in argv]
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom edgebench.cli import app\n"
            f"r = CliRunner().invoke(app, {argv!r})\nassert r.exit_code == 0, r.output\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
