"""`device setup` and `bench/eval --on` against a real sshd on loopback: our real wheel in a fresh venv."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from edgebench.bench.schema import load_result
from edgebench.cli import app
from edgebench.devices.agent import build_id
from edgebench.devices.registry import Device, DeviceRegistry
from edgebench.tools.sshd import Sshd, free_port
from typer.testing import CliRunner

from tests.conftest import Installed

runner = CliRunner()
QUICK = ["--min-iters", "5", "--min-seconds", "0", "--warmup-iters", "1", "-t", "1"]
pytestmark = pytest.mark.slow


@pytest.fixture
def dev(installed: Installed, monkeypatch: pytest.MonkeyPatch) -> Installed:
    monkeypatch.setenv("EDGEBENCH_DEVICES", str(installed.devices))
    return installed


def test_setup_installs_our_wheel_in_a_fresh_venv(dev: Installed) -> None:
    venv = dev.workdir / "venv"
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    out = subprocess.run([str(venv / "bin" / "python"), "-c", "import edgebench; print(edgebench.__file__)"],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith(str(venv))  # the wheel's files, not this checkout
    r = runner.invoke(app, ["device", "check", "dev"])
    assert r.exit_code == 0 and f"build {build_id()} on the device" in r.output and "up to date" in r.output, r.output
    r = runner.invoke(app, ["device", "setup", "dev", "--wheelhouse", str(dev.workdir.parent / "wheelhouse")])
    assert r.exit_code == 0 and "sent 0.0 MB" in r.output, r.output  # an update sends nothing new


def test_bench_on_pulls_a_valid_result_and_pushes_once(dev: Installed, tmp_path: Path, tiny_onnx: Path,
                                                       tiny_onnx_fixed: Path) -> None:
    out = tmp_path / "results"
    r = runner.invoke(app, ["bench", str(tiny_onnx), "--on", "dev", "-o", str(out), *QUICK])
    assert r.exit_code == 0, r.output
    (f,) = (out / "dev").glob("*.json")
    res = load_result(f)
    assert res.options.threads == 1 and res.latency.rest["n"] >= 5
    assert res.model.sha256
    assert "[dev] " in r.output and "p50" in r.output
    r2 = runner.invoke(app, ["bench", str(tiny_onnx), "--on", "dev", "-o", str(out), *QUICK])
    assert r2.exit_code == 0 and "sent 0 (0.00 MB)" in r2.output, r2.output
    assert len(list((out / "dev").glob("*.json"))) == 2
    assert not list((dev.workdir / "runs").iterdir())  # remote run folders cleaned up
    r3 = runner.invoke(app, ["bench", str(tiny_onnx_fixed), "--on", "dev", "-o", str(out), *QUICK])
    assert r3.exit_code == 0, r3.output
    cmp = runner.invoke(app, ["compare", str(out / "dev"), "-o", str(tmp_path / "report")])
    assert cmp.exit_code == 0, cmp.output


def test_a_job_survives_the_trip_to_the_device(dev: Installed, tmp_path: Path, tiny_onnx: Path) -> None:
    """The device's result names the model sha256, threads, batch, scenario and inputs file the workstation asked
    for: the Job travelled as JSON, its model and --inputs paths mapped to their pushed copies."""
    from edgebench.manifest import sha256_file

    npz = tmp_path / "x.npz"
    np.savez(npz, input=np.random.default_rng(0).standard_normal((5, 3, 16, 16)).astype(np.float32))
    r = runner.invoke(app, ["bench", str(tiny_onnx), "--on", "dev", "-o", str(tmp_path / "r"), *QUICK[:-2], "-t", "2",
                            "-b", "3", "--inputs", str(npz), "--seed", "7"])
    assert r.exit_code == 0, r.output
    (f,) = (tmp_path / "r" / "dev").glob("*.json")
    res = load_result(f).to_dict()
    assert res["model"]["sha256"] == sha256_file(tiny_onnx)
    assert (res["options"]["threads"], res["options"]["batch"], res["options"]["seed"]) == (2, 3, 7)
    assert res["scenario"]["name"] == "single" and res["options"]["min_iters"] == 5
    assert res["options"]["inputs"].startswith(str(dev.workdir / "data")) and res["options"]["inputs"].endswith("x.npz")
    assert res["model"]["path"].startswith(str(dev.workdir / "models"))


def test_thread_list_is_one_measurement_at_a_time(dev: Installed, tmp_path: Path, tiny_onnx: Path) -> None:
    args = QUICK[:-2]  # without "-t 1"
    r = runner.invoke(app, ["bench", str(tiny_onnx), "--on", "dev", "-o", str(tmp_path), *args, "-t", "1,2",
                            "--no-arena", "--csv", str(tmp_path / "rows.csv")])
    assert r.exit_code == 0, r.output
    results = [load_result(f).to_dict() for f in (tmp_path / "dev").glob("*.json")]
    assert sorted(x["options"]["threads"] for x in results) == [1, 2]
    assert all(x["options"]["memory_arena"] is False for x in results)  # --no-arena forwarded
    assert all(x["options"]["min_iters"] == 5 for x in results)
    assert len((tmp_path / "rows.csv").read_text().strip().splitlines()) == 3


def test_a_failing_device_keeps_the_others_results(dev: Installed, tmp_path: Path, tiny_onnx: Path,
                                                   sshd: Sshd, monkeypatch: pytest.MonkeyPatch) -> None:
    devices = tmp_path / "devices.toml"  # a copy: the session's registry is shared with tests/sweep (no 'gone' there)
    devices.write_text(dev.devices.read_text())
    monkeypatch.setenv("EDGEBENCH_DEVICES", str(devices))
    reg = DeviceRegistry(devices)
    reg.add(Device("gone", f"ssh://127.0.0.1:{free_port()}", ssh_config=str(sshd.ssh_config)), force=True)
    r = runner.invoke(app, ["bench", str(tiny_onnx), "--on", "dev,gone", "-o", str(tmp_path), *QUICK])
    assert r.exit_code == 2, r.output
    assert "1 of 2 device(s) failed" in r.output and "unreachable" in r.output
    assert len(list((tmp_path / "dev").glob("*.json"))) == 1 and not (tmp_path / "gone").exists()


def test_runtime_missing_on_the_device(dev: Installed, tmp_path: Path, tiny_onnx: Path) -> None:
    r = runner.invoke(app, ["bench", str(tiny_onnx), "--on", "dev", "-r", "torch", "-o", str(tmp_path), *QUICK])
    assert r.exit_code == 2 and "runtime 'torch' is not installed on device 'dev'" in r.output, r.output
    assert "export" in r.output  # the runtime's install hint names the extra


def test_eval_on_pushes_the_model_folder_and_data_and_agrees(dev: Installed, tmp_path: Path) -> None:
    """`eval --on` sends its EvalRequest (run-eval there): the device's result names the same model (sha256),
    dataset, images, runtime and threads, and the same top-1, as a local eval of the same model and data."""
    from tests.devices.test_eval_request import tiny_eval

    folder, data = tiny_eval(tmp_path)
    args = ["eval", str(folder), "-d", str(data), "-t", "1", "-n", "30", "--json"]
    local = runner.invoke(app, args)
    assert local.exit_code == 0, local.output
    r = runner.invoke(app, [*args, "--on", "dev"])
    assert r.exit_code == 0, r.output
    there = json.loads(r.output[r.output.index("\n{") + 1:])["dev"]
    here = json.loads(local.output)
    keys = ("model_sha256", "dataset_sha256", "n", "runtime", "threads", "top1_pct", "top5_pct")
    assert {k: there[k] for k in keys} == {k: here[k] for k in keys}
    assert here["n"] == 30 and here["model_sha256"] is not None and there["model"] != here["model"]
    assert "run-eval" not in r.output and "[dev] eval -t 1" in r.output
    text = runner.invoke(app, [*args[:-1], "--on", "dev"])  # the table: one line per device
    assert text.exit_code == 0 and f"[dev] model.fp32.onnx: top-1 {here['top1_pct']:.2f} %" in text.output, text.output


def test_eval_on_a_detector_sends_its_images_and_boxes_and_agrees(dev: Installed, tmp_path: Path) -> None:
    """`eval --on` of a detector (with --baseline): the COCO folder is pushed by content, checked there against its
    hash (`run-eval` refuses changed files: tests/devices/test_eval_request.py), and the device (its numpy mAP: no
    pycocotools in the device install) gives the local figures, paired block included. What it prints:
    test_eval_request.py `test_eval_on_prints_each_device_as_a_local_eval_and_checks_its_dataset`."""
    from edgebench.tools.synthetic import coco_folder, grid_detector

    venv_python = dev.workdir / "venv" / "bin" / "python"
    probe = "import importlib.util as u; print([m for m in ('pycocotools', 'torch', 'cv2') if u.find_spec(m)])"
    assert subprocess.run([str(venv_python), "-c", probe], capture_output=True, text=True).stdout.strip() == "[]"
    grid = np.zeros((7, 2, 2), np.float32)
    grid[[0, 5], 0, 0] = 1.0  # one box of class 0 in the top-left cell; the baseline also sees one of class 1
    model = grid_detector(tmp_path / "det" / "model.fp32.onnx", grid)
    grid[[0, 6], 1, 1] = 1.0
    base = grid_detector(tmp_path / "base" / "model.fp32.onnx", grid)
    data = coco_folder(tmp_path / "coco", [[(0, [0.0, 0.0, 20.0, 10.0])], [(1, [20.0, 10.0, 20.0, 10.0])], []],
                       seed=27)
    args = ["eval", str(model), "--data", str(data), "-t", "1", "--baseline", str(base), "--json"]
    local = runner.invoke(app, args)
    assert local.exit_code == 0, local.output
    r = runner.invoke(app, [*args, "--on", "dev"])
    assert r.exit_code == 0, r.output
    there, here = json.loads(r.stdout)["dev"], json.loads(local.stdout)
    keys = ("model_sha256", "dataset", "dataset_sha256", "n", "gt_boxes", "detections", "map_pct", "map50_pct",
            "runtime", "threads")
    for part in ("model", "baseline"):
        assert {k: there[part][k] for k in keys} == {k: here[part][k] for k in keys}
        assert there[part]["model"] != here[part]["model"]  # the pushed copy was evaluated
    assert there["paired"] == here["paired"] and here["paired"]["box_agreement_pct"] == 50.0
    assert here["model"]["n"] == 3 and here["model"]["dataset"] == "coco"  # the folder keeps its name there
    assert "[dev] eval -t 1" in r.stderr and f"[dev] --data {data}: 4 file(s), sent 4" in r.stderr


def test_doctor_on_measures_on_the_device_and_concludes_here(dev: Installed, tmp_path: Path, sshd: Sshd) -> None:
    """`doctor --on dev --apply`: the device (no onnx there) times, profiles and scores the INT8 model, then the fix
    built here for its CPU; the verdict names the device's CPU, and its paired figures and causes are those of a local
    doctor of the same models on the same images (the device is this machine over loopback)."""
    from edgebench.bench.fingerprint import fingerprint
    from edgebench.tools.doctor_cases import cases, dataset

    assert not (sshd.devsite / "onnx").exists() and not list((dev.workdir / "venv").rglob("onnx/__init__.py"))
    fp32, int8 = next(c for c in cases() if c.cause == "dynamic-conv").build(tmp_path / "case")
    ds = dataset(fp32, 60)
    images = tmp_path / "images.npz"
    np.savez(images, images=ds.images, labels=ds.labels)
    args = ["doctor", str(int8), "--data", str(images), "--json"]
    local = runner.invoke(app, args)
    assert local.exit_code == 0, local.output
    r = runner.invoke(app, [*args, "--on", "dev", "--apply", "-o", str(tmp_path / "fixed")])
    assert r.exit_code == 0, r.output
    there, here = json.loads(r.output[r.output.index("\n{") + 1:])["dev"], json.loads(local.output)
    assert re.match(rf"INT8 is \d+\.\d\dx FP32 on dev \({re.escape(fingerprint()['cpu']['model'])}\)",
                    there["verdict"]), there["verdict"]
    assert [c["kind"] for c in there["causes"]] == [c["kind"] for c in here["causes"]] and there["causes"]
    assert there["facts"]["paired"] == here["facts"]["paired"] and there["facts"]["paired"]["n"] == 60
    assert there["facts"]["float_nodes"] == here["facts"]["float_nodes"]  # why: read from the graph here
    assert there["facts"]["precision_pct"] and there["device"]["name"] == "dev"
    assert [t["fix"] for t in there["trials"]][-1] == "keep FP32" and len(there["trials"]) >= 2
    assert all(t["speedup"] > 0 and t["drop_pts"] is not None for t in there["trials"])
    assert "paired top-1" in there["measured"]["dev"] and there["applied"].startswith(str(tmp_path / "fixed" / "dev"))
    assert "[dev] doctor diagnosis -t 1" in r.output and "fix(es) -t 1" in r.output and "run-doctor" not in r.output
    assert not list((dev.workdir / "runs").iterdir())  # remote run folders cleaned up
    text = runner.invoke(app, ["doctor", str(int8), "--on", "dev"])
    assert text.exit_code == 0 and "FP32 on dev (" in text.output and "\nmeasured on dev: " in text.output, text.output


def test_ctrl_c_stops_the_remote_run_and_exits_130(dev: Installed, tmp_path: Path, tiny_onnx: Path) -> None:
    env = {**os.environ, "EDGEBENCH_DEVICES": str(dev.devices)}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "edgebench"), "bench", str(tiny_onnx), "--on", "dev",
                             "-o", str(tmp_path), "--min-seconds", "120", "-t", "1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pid_file = None
    deadline = time.monotonic() + 60
    while pid_file is None and time.monotonic() < deadline:
        found = list((dev.workdir / "runs").glob("*/pid"))
        pid_file = found[0] if found and found[0].read_text() else None
        time.sleep(0.1)
    assert pid_file is not None, proc.communicate(timeout=5)
    remote_pid = int(pid_file.read_text())
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert "stopping the remote runs" in err.decode() and "kept 0 result file(s)" in err.decode()
    deadline = time.monotonic() + 10
    while _group_alive(remote_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(remote_pid), subprocess.run(["ps", "-o", "pid,pgid,stat,cmd", "-g", str(remote_pid)],
                                                        capture_output=True, text=True).stdout
    assert re.search(r"not run: -t 1", err.decode())


def _group_alive(pgid: int) -> bool:
    """A live (not zombie) process in the group."""
    ps = subprocess.run(["ps", "-o", "stat=", "-g", str(pgid)], capture_output=True, text=True).stdout.split()
    return any(not st.startswith("Z") for st in ps)


def _pid_in(runs: Path) -> int | None:
    found = [p.read_text() for p in runs.glob("*/pid")]
    return int(found[0]) if found and found[0] else None


def test_a_dropped_connection_keeps_the_finished_results(installed: Installed, tmp_path: Path, tiny_onnx: Path
                                                         ) -> None:
    """A dedicated sshd killed (with its per-connection processes) while `-t 2` runs, after `-t 1` was pulled."""
    from edgebench.bench.schema import validate_result
    from edgebench.tools.sshd import loopback_sshd

    work = tmp_path / "work"
    work.mkdir()
    (work / "venv").symlink_to(installed.workdir / "venv")  # the same machine: reuse the session's install
    devices = tmp_path / "devices.toml"
    out = tmp_path / "results"
    with loopback_sshd(tmp_path / "sshd") as own:
        DeviceRegistry(devices).add(Device("flaky", own.url(), python=own.python, workdir=str(work),
                                           ssh_config=str(own.ssh_config)))
        env = {**os.environ, "EDGEBENCH_DEVICES": str(devices)}
        proc = subprocess.Popen([str(Path(sys.executable).parent / "edgebench"), "bench", str(tiny_onnx), "--on",
                                 "flaky", "-o", str(out), "-t", "1,2", "--min-seconds", "3", "--warmup-iters", "1"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not list((out / "flaky").glob("*.json")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        first = _pid_in(work / "runs")  # `-t 1`'s agent: `-t 2` has not started yet
        second = first
        while second in (first, None) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            second = _pid_in(work / "runs")
        assert proc.poll() is None and first is not None and second not in (first, None), proc.communicate(timeout=60)
        time.sleep(1.5)  # `-t 2` is measuring
        assert _group_alive(second)
        t0 = time.monotonic()
        own.kill()
        _, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    err = stderr.decode()
    assert proc.returncode == 2, err
    assert "Traceback" not in err and took < 30, (took, err)
    last = err.strip().splitlines()[-1]
    assert "device 'flaky'" in last and "connection dropped during bench -t 2" in last, err
    assert "missing: -t 2" in last and "kept 1 result file(s)" in last, err
    (kept,) = (out / "flaky").glob("*.json")
    res = validate_result(json.loads(kept.read_text()), str(kept))
    assert res["options"]["threads"] == 1
    assert not list((out / "flaky").glob(".*")) and not list((out / "flaky").glob("*.tmp*"))  # nothing half-written
    deadline = t0 + 10  # the device's agent stops the run when sshd closes its session (5 s TERM grace)
    while (_group_alive(second) or _group_alive(first)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(second), subprocess.run(["ps", "-o", "pid,pgid,stat,cmd", "-g", str(second)],
                                                    capture_output=True, text=True).stdout
    assert not _group_alive(first)
    assert not list((work / "runs").glob("*/out/*.t2.*.json"))  # `-t 2` never finished there either
