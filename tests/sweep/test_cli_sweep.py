"""`edgebench sweep` end to end on a tiny real grid (synthetic ONNX model, ONNX Runtime, INT8): cache, resume,
failures recorded without stopping the others, and bad input refused before any work."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from edgebench.cli import app
from edgebench.devices.registry import Device, DeviceRegistry
from edgebench.sweep.executor import DONE, ERROR
from typer.testing import CliRunner

from tests.sweep.tiny_sweep import model_folder, sweep_text


def invoke(*args: object) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_sweep_runs_caches_and_resumes(tiny: Path) -> None:
    out = tiny / "out"
    code, stdout, err = invoke("sweep", tiny / "sweep.toml", "-o", out)
    assert code == 0, err
    s = summary(out)
    assert s["cells"] == 4 and s["counts"] == {"done": 8, "cached": 0, "failed": 0, "skipped": 0}
    results = sorted((out / "results" / "local").glob("*.json"))
    assert len(results) == 4
    r = json.loads(results[0].read_text())
    assert r["sweep"]["variant"].startswith("tiny-") and r["accuracy"]["n"] == 48
    assert "budget 0.3: recommended:" in stdout and (out / "recommendation.md").is_file()
    rec = json.loads((out / "recommendation.json").read_text())
    assert set(rec) == {"0.3", "1"} and rec["1"][0]["pareto_front"]

    # a second run: cache hits only, same results
    t0 = time.perf_counter()
    code, stdout, err = invoke("sweep", tiny / "sweep.toml", "-o", out)
    assert code == 0 and summary(out)["counts"] == {"done": 0, "cached": 8, "failed": 0, "skipped": 0}
    assert time.perf_counter() - t0 < 20
    assert sorted(p.name for p in (out / "results" / "local").glob("*.json")) == [p.name for p in results]

    # an interrupted stage (no done marker) runs again; the rest stays cached
    quant = next(n for n in summary(out)["nodes"] if n["stage"] == "quantize")
    (out / "cache" / quant["key"] / DONE).unlink()
    code, _, err = invoke("sweep", tiny / "sweep.toml", "-o", out)
    assert code == 0, err
    assert summary(out)["counts"] == {"done": 1, "cached": 7, "failed": 0, "skipped": 0}

    # a changed setting re-runs only the stages below it (threads: the benches)
    (tiny / "sweep.toml").write_text((tiny / "sweep.toml").read_text().replace("threads = [1, 2]", "threads = [1]"))
    code, _, _ = invoke("sweep", tiny / "sweep.toml", "-o", out)
    assert code == 0 and summary(out)["counts"] == {"done": 0, "cached": 6, "failed": 0, "skipped": 0}
    assert len(list((out / "results" / "local").glob("*.json"))) == 2


def test_failed_cell_is_recorded_and_the_others_go_on(tiny: Path) -> None:
    # 'bad' says 16x16 in its manifest but its graph takes 12x12: its evaluation fails
    model_folder(tiny / "bad", size=12, manifest_size=16, name="bad")
    text = sweep_text(tiny, models=[str(tiny / "tiny"), str(tiny / "bad")], precisions='["fp32"]', threads="[1]")
    (tiny / "s.toml").write_text(text)
    code, stdout, _ = invoke("sweep", tiny / "s.toml", "-o", tiny / "out")
    assert code == 1
    s = summary(tiny / "out")
    assert s["counts"] == {"done": 4, "cached": 0, "failed": 1, "skipped": 1}
    failed = next(n for n in s["nodes"] if n["status"] == "failed")
    assert failed["stage"] == "evaluate" and "bad" in failed["label"]
    assert json.loads((tiny / "out" / "cache" / failed["key"] / ERROR).read_text())["traceback"]
    assert f"failed: {failed['label']}" in stdout
    assert [p.name.split(".")[0] for p in (tiny / "out" / "results" / "local").glob("*.json")] == ["tiny-fp32"]


def test_bad_input_fails_before_any_work(tiny: Path) -> None:
    out = tiny / "out"
    base = (tiny / "sweep.toml").read_text()
    cases = {  # (line of the good file, its replacement, the message)
        "unknown key": ("min_iters = 10", "min_iter = 10", "unknown key 'min_iter' in [bench]"),
        "unknown runtime": ('runtimes = ["ort-cpu"]', 'runtimes = ["onnxruntime"]', "unknown runtime 'onnxruntime'"),
        "unknown preset": ('"int8:x86-avx2"', '"int8:x86-avx"', "unknown INT8 preset 'x86-avx'"),
        "empty grid": ("threads = [1, 2]", "threads = []", "empty grid"),
        "no data": ("limit = 48", 'limit = 48\ndata = "nope.npz"', "Cannot overwrite"),
    }
    cases["no data"] = (f'data = "{tiny / "data.npz"}"', 'data = "nope.npz"', "[eval] data 'nope.npz' does not exist")
    for what, (line, patch, msg) in cases.items():
        assert line in base, what
        (tiny / "bad.toml").write_text(base.replace(line, patch, 1))
        code, _, err = invoke("sweep", tiny / "bad.toml", "-o", out)
        assert code == 2 and msg in err and err.count("\n") == 1, (what, err)
        assert not out.exists(), what


def test_dry_run_lists_stages(tiny: Path) -> None:
    code, stdout, err = invoke("sweep", tiny / "sweep.toml", "-o", tiny / "out", "--dry-run")
    assert code == 0, err
    assert "4 cells, 8 stages" in stdout and "quantize tiny-int8-x86-avx2" in stdout
    assert not (tiny / "out").exists()


def test_ray_address_that_does_not_answer(tiny: Path) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    code, _, err = invoke("sweep", tiny / "sweep.toml", "-o", tiny / "out", "--ray", f"127.0.0.1:{port}",
                          "--ray-timeout", "3")
    assert code == 2 and f"no Ray cluster answers at '127.0.0.1:{port}'" in err and "waited at most 3 s" in err
    assert time.perf_counter() - t0 < 10 and err.count("\n") == 1 and not (tiny / "out").exists()
    code, _, err = invoke("sweep", tiny / "sweep.toml", "-o", tiny / "out", "--ray", "nohost")
    assert code == 2 and "is not 'local', 'auto', HOST:PORT" in err


def test_an_unknown_device_is_refused_before_any_work(tiny: Path) -> None:
    devices = tiny / "devices.toml"
    DeviceRegistry(devices).add(Device("pi4", "ssh://pi@raspberrypi.local"))
    text = sweep_text(tiny, models=[str(tiny / "tiny")], threads="[1]")
    (tiny / "s.toml").write_text(text.replace("threads = [1]", 'threads = [1]\ndevices = ["local", "pi5"]'))
    r = CliRunner().invoke(app, ["sweep", str(tiny / "s.toml"), "-o", str(tiny / "out"), "--devices-config",
                                 str(devices)])
    assert r.exit_code == 2 and "unknown device 'pi5'" in r.stderr and "Did you mean 'pi4'" in r.stderr
    assert not (tiny / "out").exists()


def test_run_options_are_checked_before_the_sweep_file_is_read(tiny: Path) -> None:
    from edgebench.errors import UserInputError
    from edgebench.sweep.run import SweepRunOptions

    with pytest.raises(UserInputError, match="--ray-cpus 0 must be >= 1"):
        SweepRunOptions(ray="local", ray_cpus=0)
    code, _, err = invoke("sweep", tiny / "missing.toml", "-o", tiny / "out", "--ray", "local", "--ray-cpus", "0")
    assert code == 2 and "--ray-cpus 0 must be >= 1" in err and not (tiny / "out").exists()
