"""`doctor --on` sends typed, versioned `DoctorRequest`s (devices/jobs.py) through the one path to a device, and
the device side (`run-doctor`, bench/doctor_measure.py) measures with numpy and ONNX Runtime alone: its JSON trip,
its refusals, the device side run without onnx, and the two trips (diagnosis, then the fixes built here) with a
device stood in by this machine. No SSH needed (tests/devices/test_remote.py runs it over the loopback sshd)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edgebench.bench.doctor_measure import DoctorMeasure, TrialModel
from edgebench.cli import app
from edgebench.devices.jobs import DOCTOR_FORMAT, DOCTOR_VERSION, DoctorRequest
from edgebench.errors import UserInputError
from typer.testing import CliRunner

from tests.devices.conftest import refused_request

pytest.importorskip("onnx")  # the cases are built with it (the device side is run without it below)
runner = CliRunner()


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The known-bad dynamic-INT8 conv net (tools/doctor_cases.py): FP32, INT8 and 60 labelled images (.npz)."""
    from edgebench.tools.doctor_cases import cases, dataset

    root = tmp_path_factory.mktemp("doctor_case")
    fp32, int8 = next(c for c in cases() if c.cause == "dynamic-conv").build(root / "case")
    ds = dataset(fp32, 60)
    np.savez(root / "images.npz", images=ds.images, labels=ds.labels)
    return fp32, int8, root / "images.npz"


def _request(tmp_path: Path) -> DoctorRequest:
    trials = (TrialModel("static INT8", str(tmp_path / "c0" / "model.int8.onnx")),
              TrialModel("--threads 2", str(tmp_path / "model.int8.onnx"), threads=2))
    spec = DoctorMeasure(fp32=str(tmp_path / "model.fp32.onnx"), model=str(tmp_path / "model.int8.onnx"),
                         trials=trials, threads=3, rounds=2, iters=4, profile_runs=5)
    return DoctorRequest(spec, data=str(tmp_path / "images.npz"))


def test_a_doctor_request_survives_the_json_trip(tmp_path: Path) -> None:
    req = _request(tmp_path)
    text = req.to_json()
    assert (json.loads(text)["format"], json.loads(text)["version"]) == (DOCTOR_FORMAT, DOCTOR_VERSION)
    assert DoctorRequest.from_json(text) == req
    minimal = DoctorRequest.from_json('{"format": "edgebench.doctor", "version": 1, "fp32": "a.onnx", "model": "b"}')
    assert minimal == DoctorRequest(DoctorMeasure(fp32="a.onnx", model="b"))  # what it leaves out: the defaults
    assert (req.kind, req.command, req.collect, req.runtime) == ("doctor", "run-doctor", "files", "ort-cpu")
    assert req.label == "diagnosis -t 3"
    fixes = DoctorRequest(DoctorMeasure(fp32="a.onnx", trials=req.measure.trials))
    assert fixes.label == "2 fix(es) -t 1"


def test_its_paths_are_mapped_to_the_pushed_copies(tmp_path: Path) -> None:
    req = _request(tmp_path)
    models, paths = req.local_files()
    assert models == (tmp_path / "model.fp32.onnx", tmp_path / "model.int8.onnx",  # the INT8 model once
                      tmp_path / "c0" / "model.int8.onnx")
    assert paths == (("--data", tmp_path / "images.npz"),)
    where = {str(p): f"pushed/{i}" for i, p in enumerate([*models, *(p for _, p in paths)])}
    there = DoctorRequest.from_json(req.on_device(where).to_json())
    m = there.measure
    assert (m.fp32, m.model, [t.model for t in m.trials], there.data) == (
        "pushed/0", "pushed/1", ["pushed/2", "pushed/1"], "pushed/3")
    assert (m.threads, m.rounds, m.iters, m.profile_runs, m.trials[1].threads) == (3, 2, 4, 5, 2)
    with pytest.raises(UserInputError, match="was not pushed"):
        req.on_device({str(tmp_path / "model.fp32.onnx"): "pushed/0"})


@pytest.mark.parametrize("change, why", [
    ({"version": DOCTOR_VERSION + 1}, "this edgebench reads version 1"),
    ({"format": "edgebench.eval"}, "is not an edgebench.doctor file"),
    ({"surprise": 1}, "unknown fields surprise"),
    ({"fp32": None}, "fp32 is None; it must be str"),
    ({"threads": True}, "threads is True; it must be int"),
    ({"threads": 0}, "threads (0) must be >= 1"),
    ({"trials": {"a": 1}}, "its trials are {'a': 1}, not a list"),
    ({"trials": [3]}, "its trial is 3, not an object"),
    ({"trials": [{"label": "x", "model": "m", "speed": 2}]}, "trial is not this edgebench's (unknown fields speed)"),
    ({"trials": [{"label": "x", "model": 3}]}, "the trial's model is 3; it must be str"),
    ({"trials": [{"label": "x"}]}, "the trial's model is None; it must be str"),
    ({"model": None, "trials": []}, "needs the INT8 model or candidate fixes to time")])
def test_a_doctor_request_of_another_edgebench_is_refused_in_one_line(tmp_path: Path, change: dict[str, Any],
                                                                      why: str) -> None:
    request = DoctorRequest(DoctorMeasure("a.onnx", "b.onnx")).to_json()
    refused_request(tmp_path, ["run-doctor", "-o", str(tmp_path / "out")], request, change, why)


def test_the_device_side_runs_without_onnx(tmp_path: Path, case: tuple[Path, Path, Path]) -> None:
    """`run-doctor` in a process where `import onnx` fails (the device install has none): it measures everything
    it is asked, and the only module that even tries onnx is the runtime's optional normalizer (it falls back)."""
    fp32, int8, images = case
    spec = DoctorMeasure(fp32=str(fp32), model=str(int8), trials=(TrialModel("t2", str(int8), threads=2),),
                         rounds=2, iters=3, profile_runs=3)
    f = tmp_path / "request.json"
    f.write_text(DoctorRequest(spec, str(images)).to_json())
    script = f"""
import sys, traceback
tried = []
class NoOnnx:
    def find_spec(self, name, path=None, target=None):
        if name == "onnx" or name.startswith("onnx."):
            tried.append([f.filename for f in traceback.extract_stack()[:-1] if "importlib" not in f.filename][-1])
            raise ImportError("no onnx on the device")
sys.meta_path.insert(0, NoOnnx())
from edgebench.cli.main import app
try:
    app(["run-doctor", {str(f)!r}, "-o", {str(tmp_path / "out")!r}])
except SystemExit as e:
    assert not e.code, e.code
import json
print("TRIED", json.dumps(sorted(set(tried))))
assert "onnx" not in sys.modules
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    tried = json.loads(proc.stdout.split("TRIED ")[1])
    assert all(p.endswith("runtimes/onnx_layout.py") for p in tried), tried
    out = json.loads((tmp_path / "out" / "doctor.json").read_text())
    m = out["model"]
    assert m["speedup"] > 0 and m["fp32_ms"] > 0 and sum(m["precision_pct"].values()) > 99
    assert m["fp32_nodes"] and m["paired"]["n"] == 60 and 0 < sum(m["float_time_by_op"].values()) <= 100.1
    (t,) = out["trials"]
    assert t["label"] == "t2" and t["speedup"] > 0 and t["drop_pts"] == 0.0 and t["agreement_pct"] == 100.0
    assert out["machine"]["cpu"]["arch"] and out["machine"]["usable_cores"] >= 1 and len(out["data_sha256"]) == 64


def _register(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """A devices file (EDGEBENCH_DEVICES) naming `names`, none of them reachable."""
    from edgebench.devices.registry import Device, DeviceRegistry

    devices = tmp_path / "devices.toml"
    for name in names:
        DeviceRegistry(devices).add(Device(name, "ssh://pi@127.0.0.1:1"))
    monkeypatch.setenv("EDGEBENCH_DEVICES", str(devices))


def _fake_device(calls: list[Any], cpu: dict[str, Any]) -> Any:
    """`run_jobs_on` with this machine standing in for the device: the request's JSON trip, `run-doctor`, the pull;
    the fingerprint's CPU replaced by `cpu` (a board this machine is not)."""
    from edgebench.devices.registry import Device
    from edgebench.devices.remote import DeviceRun

    def run_jobs_on(names: str, requests: list[Any], output_dir: Path, **_kw: Any) -> list[DeviceRun]:
        (req,) = requests
        calls.append(req)
        runs = []
        for name in names.split(","):
            f = output_dir / f"{name}.request.json"
            output_dir.mkdir(parents=True, exist_ok=True)
            f.write_text(req.to_json())
            r = runner.invoke(app, ["run-doctor", str(f), "-o", str(output_dir / name)])
            assert r.exit_code == 0, r.output
            got = output_dir / name / "doctor.json"
            record = json.loads(got.read_text())
            record["machine"]["cpu"] = {**cpu, "model": f"{cpu['model']} of {name}"}
            got.write_text(json.dumps(record))
            runs.append(DeviceRun(Device(name, "ssh://x"), pulled=[got]))
        return runs

    return run_jobs_on


def test_doctor_on_measures_there_and_concludes_here(tmp_path: Path, case: tuple[Path, Path, Path],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Two trips through `run_jobs_on` (no command line): the diagnosis, then the fixes built here for that
    device's CPU; the verdict names each device's CPU, the causes are those of its CPU, and the record says which
    figures came from where."""
    import edgebench.devices.remote as remote
    from edgebench.tools.doctor_cases import ZEN3

    _, int8, images = case
    calls: list[Any] = []
    monkeypatch.setattr(remote, "run_jobs_on", _fake_device(calls, ZEN3))
    monkeypatch.setattr(remote, "run_on", lambda *a, **k: pytest.fail("run_on called directly"))
    _register(tmp_path, monkeypatch, "pi", "pj")
    r = runner.invoke(app, ["doctor", str(int8), "--data", str(images), "--limit", "40", "--try", "--on", "pi,pj",
                            "--json"])
    assert r.exit_code == 0, r.output
    records = json.loads(r.output)
    assert list(records) == ["pi", "pj"]
    diagnosis, *fixes = calls
    assert diagnosis.measure.model == str(int8) and not diagnosis.measure.trials and diagnosis.data.endswith(".npz")
    assert [c.label for c in fixes] == ["1 fix(es) -t 1"] * 2  # one trip a device: its own fixes
    assert fixes[0].measure.model is None and fixes[0].measure.trials[0].label == "static INT8, preset x86-avx2"
    for name, rec in records.items():
        assert re.match(rf"INT8 is \d+\.\d\dx FP32 on {name} \(fake Zen3", rec["verdict"]), rec["verdict"]
        assert rec["causes"][0]["kind"] == "dynamic-conv" and rec["causes"][0]["fix"] == "static INT8, preset x86-avx2"
        assert rec["facts"]["cpu"]["model"].endswith(f"of {name}") and rec["facts"]["paired"]["n"] == 40
        assert rec["facts"]["float_nodes"]  # why each ran in float: read from the graph here
        assert [t["fix"] for t in rec["trials"]] == ["static INT8, preset x86-avx2", "keep FP32"]
        assert rec["trials"][0]["drop_pts"] is not None and rec["device"]["name"] == name
        assert "paired top-1" in rec["measured"][name]
        assert "the fixes' models (quantized here)" in rec["measured"]["this machine"]
    text = runner.invoke(app, ["doctor", str(int8), "--on", "pi"])
    assert text.exit_code == 0, text.output
    assert text.output.startswith("INT8 is ") and " FP32 on pi (fake Zen3" in text.output, text.output
    assert "\nmeasured on pi: FP32/INT8 interleaved timing" in text.output
    assert "\nmeasured on this machine: graph analysis" in text.output and "paired top-1" not in text.output


@pytest.mark.parametrize("args, why", [
    (["--threads", "0"], "--threads 0 must be >= 1"),
    (["--try"], "give --data"),
    (["-r", "openvino"], "-r openvino: the doctor reads ONNX Runtime's profiler"),
    (["--apply"], "--apply writes the best model to a folder: give -o DIR"),
    (["--on", "pi,pi"], "a device is named twice")])
def test_doctor_on_checks_its_options_before_anything_is_sent(case: tuple[Path, Path, Path], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch, args: list[str],
                                                              why: str) -> None:
    import edgebench.devices.remote as remote

    _register(tmp_path, monkeypatch, "pi")
    monkeypatch.setattr(remote, "run_jobs_on", lambda *a, **k: pytest.fail("sent to the device"))
    on = [] if "--on" in args else ["--on", "pi"]
    r = runner.invoke(app, ["doctor", str(case[1]), *args, *on])
    assert r.exit_code == 2 and r.output.startswith("edgebench: error: ") and why in r.output, r.output
    assert r.output.count("\n") == 1, r.output


def test_doctor_on_an_unknown_device_says_what_bench_on_says(case: tuple[Path, Path, Path], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import edgebench.devices.remote as remote

    _register(tmp_path, monkeypatch, "pi4")
    bench = runner.invoke(app, ["bench", str(case[1]), "--on", "pi5", "-o", str(tmp_path / "r")])  # no SSH either
    monkeypatch.setattr(remote, "run_jobs_on", lambda *a, **k: pytest.fail("sent to the device"))
    monkeypatch.setattr("edgebench.cli.doctor._models", lambda *a, **k: pytest.fail("read before the check"))
    doctor = runner.invoke(app, ["doctor", str(case[1]), "--on", "pi5"])
    assert doctor.exit_code == bench.exit_code == 2, doctor.output
    assert doctor.output == bench.output and "pi5" in doctor.output and doctor.output.count("\n") == 1
