"""Devices run serialized Jobs (devices/jobs.py): the batch's JSON trip, its version check, `run-jobs`, and the one
path (`devices.remote.run_jobs_on`) that `bench --on` and a sweep's remote cells both take. No SSH needed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from edgebench.bench.runner import Job
from edgebench.bench.schema import load_result
from edgebench.cli import app
from edgebench.devices.jobs import JOBS_FORMAT, JOBS_VERSION, JobBatch
from edgebench.errors import DeviceError, UserInputError
from edgebench.runtimes import get_runtime
from typer.testing import CliRunner

runner = CliRunner()
QUICK = {"warmup_iters": 1, "min_iters": 3, "min_seconds": 0.0}


def _batch(model: str, threads: tuple[int, ...] = (1,), **kw: Any) -> JobBatch:
    opts = get_runtime("ort-cpu").Options
    return JobBatch(tuple(Job(model=model, batch=b, options=opts(intra_op_threads=t), bench=dict(QUICK))
                          for t in threads for b in (1, 2)), **kw)


def test_a_batch_survives_the_json_trip(tmp_path: Path) -> None:
    b = _batch(str(tmp_path / "m.onnx"), (1, 2), precision="int8", cpus=(0,), no_verify=True, cooldown=60.0,
               eval_data="cifar10", eval_limit=5, threads_given=True)
    again = JobBatch.from_json(b.to_json())
    assert again == b
    assert json.loads(b.to_json())["format"] == JOBS_FORMAT and json.loads(b.to_json())["version"] == JOBS_VERSION
    assert [len(x.jobs) for x in b.per_threads()] == [2, 2]  # one remote run per --threads value, 1 then 2
    assert [x.jobs[0].options.intra_op_threads for x in b.per_threads()] == [1, 2]
    assert replace(b, threads_given=False).per_threads() == [replace(b, threads_given=False)]


def test_paths_are_mapped_to_the_pushed_copies_in_one_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    local = tmp_path / "m" / "model.onnx"
    b = replace(_batch(str(local)), jobs=tuple(replace(j, inputs_npz=str(tmp_path / "x.npz")) for j in
                                               _batch(str(local)).jobs))
    moved = b.on_device({str(local): "models/abc/model.onnx", str(tmp_path / "x.npz"): "data/def/x.npz"})
    assert {(j.model, j.inputs_npz) for j in moved.jobs} == {("models/abc/model.onnx", "data/def/x.npz")}
    monkeypatch.chdir(tmp_path)  # the device reads them relative to its workdir, its current folder
    there = JobBatch.from_json(moved.to_json())
    assert {j.model for j in there.jobs} == {str(tmp_path / "models/abc/model.onnx")}
    with pytest.raises(UserInputError, match="was not pushed"):
        b.on_device({str(local): "models/abc/model.onnx"})


@pytest.mark.parametrize("change, why", [({"version": JOBS_VERSION + 1}, "this edgebench reads version 1"),
                                         ({"format": "something"}, "is not an edgebench.jobs file"),
                                         ({"surprise": 1}, "unknown fields surprise")])
def test_a_batch_of_another_version_is_refused_in_one_line(tmp_path: Path, tiny_onnx: Path,
                                                           change: dict[str, Any], why: str) -> None:
    f = tmp_path / "jobs.json"
    f.write_text(json.dumps({**json.loads(_batch(str(tiny_onnx)).to_json()), **change}))
    out = tmp_path / "out"
    r = runner.invoke(app, ["run-jobs", str(f), "-o", str(out)])
    assert r.exit_code == 2, r.output
    assert r.output.startswith("edgebench: error: ") and why in r.output and r.output.count("\n") == 1, r.output
    assert not out.exists()


def test_a_job_of_another_edgebench_is_refused_in_one_line(tmp_path: Path, tiny_onnx: Path) -> None:
    d = json.loads(_batch(str(tiny_onnx)).to_json())
    d["jobs"][0]["warp_factor"] = 9
    f = tmp_path / "jobs.json"
    f.write_text(json.dumps(d))
    r = runner.invoke(app, ["run-jobs", str(f), "-o", str(tmp_path / "out")])
    assert r.exit_code == 2 and "cannot read" in r.output and r.output.count("\n") == 1, r.output


def test_run_jobs_measures_what_the_workstation_asked(tmp_path: Path, tiny_onnx: Path) -> None:
    from edgebench.manifest import sha256_file

    f = tmp_path / "jobs.json"
    f.write_text(_batch(str(tiny_onnx), (2,)).to_json())
    r = runner.invoke(app, ["run-jobs", str(f), "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    results = sorted((load_result(p).to_dict() for p in (tmp_path / "out").glob("*.json")),
                     key=lambda x: x["options"]["batch"])
    assert [(x["options"]["threads"], x["options"]["batch"]) for x in results] == [(2, 1), (2, 2)]
    assert {x["model"]["sha256"] for x in results} == {sha256_file(tiny_onnx)}
    assert {x["scenario"]["name"] for x in results} == {"single"} and results[0]["options"]["min_iters"] == 3


def _recorder(calls: list[tuple[str, list[JobBatch]]]) -> Any:
    def run_jobs_on(names: str, batches: list[JobBatch], output_dir: Path, **_kw: Any) -> Any:
        calls.append((names, list(batches)))
        return []  # no device ran anything

    return run_jobs_on


def test_bench_on_and_the_sweep_take_the_one_path(tmp_path: Path, tiny_onnx: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Both send Jobs through `devices.remote.run_jobs_on`: neither builds a command line of its own."""
    import edgebench.devices.remote as remote
    from edgebench.devices.registry import Device
    from edgebench.sweep.stages import _bench_remote

    calls: list[tuple[str, list[JobBatch]]] = []
    monkeypatch.setattr(remote, "run_jobs_on", _recorder(calls))
    monkeypatch.setattr(remote, "run_on", lambda *a, **k: pytest.fail("run_on called directly"))
    r = runner.invoke(app, ["bench", str(tiny_onnx), "--on", "pi", "-t", "1,3", "-b", "2", "--min-iters", "7",
                            "-o", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output
    name, batches = calls[-1]
    assert name == "pi" and [b.first.options.intra_op_threads for b in batches] == [1, 3]
    assert all(b.threads_given and b.first.model == str(tiny_onnx) and b.first.batch == 2 for b in batches)
    assert batches[0].first.bench["min_iters"] == 7
    s = {"runtime": "ort-cpu", "threads": 2, "batch": 4, "runtime_options": {}, "precision": "fp32",
         "warmup_iters": 1, "min_iters": 5, "min_seconds": 0.5, "max_seconds": None}
    inp = type("Input", (), {"model": tiny_onnx, "dir": tiny_onnx.parent})()
    with pytest.raises(DeviceError, match="returned 0 result files"):
        _bench_remote(s, inp, Device("pi", "ssh://pi"), tmp_path)  # type: ignore[arg-type]
    name, (batch,) = calls[-1]
    job = batch.first
    assert (name, job.model, job.batch, job.options.intra_op_threads) == ("pi", str(tiny_onnx), 4, 2)
    assert job.bench["min_iters"] == 5 and len(batch.jobs) == 1


@pytest.mark.parametrize("job, batch, why", [
    ({"batch": -1}, {}, "batch (--batch) is -1; it must be an integer >= 1"),
    ({"batch": "two"}, {}, "batch (--batch) is 'two'"),
    ({"shape": "abc"}, {}, "shape[0] (--shape) is 'a'"),
    ({"seed": "x"}, {}, "seed (--seed) is 'x'"),
    ({"bench": {"zzz": 1}}, {}, "bench or scenario settings are not this edgebench's"),
    ({"cpus": [9999]}, {}, "the batch's cpus say where"),  # was ignored: the batch's cpus win
    ({}, {"cooldown": "hot"}, "cooldown is 'hot'"),
    ({}, {"cpus": "0-3"}, "cpus must be CPU numbers"),
])
def test_a_hand_edited_batch_is_refused_before_anything_runs(tmp_path: Path, tiny_onnx: Path, job: dict[str, Any],
                                                             batch: dict[str, Any], why: str) -> None:
    """Values that reached the measurement process (exit 1, or silently ignored) are refused in one line, exit 2."""
    d = json.loads(_batch(str(tiny_onnx)).to_json())
    d["jobs"] = [{**d["jobs"][0], **job}]
    f = tmp_path / "jobs.json"
    f.write_text(json.dumps({**d, **batch}))
    r = runner.invoke(app, ["run-jobs", str(f), "-o", str(tmp_path / "out")])
    assert r.exit_code == 2 and why in r.output and r.output.count("\n") == 1, r.output
    assert not (tmp_path / "out").exists()
