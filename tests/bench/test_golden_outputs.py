"""Byte-identical outputs on fixed inputs: the result file a measurement writes, and `edgebench compare`'s report.

The inputs are stored under tests/data/golden/ (see its README.md): a tiny model with its manifest, a job, what
the measurement process returned (`measured.*.json`, raw samples included) and the machine fingerprints; and a
folder of result files for the report. Everything volatile is fixed by the inputs: the clock is frozen, paths are
relative to the test's working folder. `EDGEBENCH_REGOLD=1` rewrites the expected files (review the diff).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from edgebench.cli.main import app
from typer.testing import CliRunner

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "golden"
INPUTS = GOLDEN / "inputs"
EXPECTED = GOLDEN / "expected"
REGOLD = os.environ.get("EDGEBENCH_REGOLD") == "1"
CREATED = "2026-01-02T03:04:05Z"


def _same_bytes(got: Path, want: Path) -> None:
    """`got` has exactly the bytes of the stored `want` (rewritten instead with EDGEBENCH_REGOLD=1)."""
    if REGOLD:
        want.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(got, want)
    assert got.read_bytes() == want.read_bytes(), f"{got.name} differs from {want}; if intended: EDGEBENCH_REGOLD=1"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stored model folder copied to `tmp_path/m`, the working folder `tmp_path`, the clock at CREATED."""
    import edgebench.bench.schema as schema

    shutil.copytree(INPUTS / "m", tmp_path / "m")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(schema, "utc_now", lambda: CREATED)
    return tmp_path


def _write_result(kind: str, out: Path) -> Path:
    """make_result + the schema check + the atomic JSON write, on the stored inputs of `kind`."""
    from edgebench.bench.runner import Job, make_result
    from edgebench.bench.schema import write_result
    from edgebench.manifest import sha256_file

    job = Job.from_json((INPUTS / f"job.{kind}.json").read_text(encoding="utf-8"))
    measured = json.loads((INPUTS / f"measured.{kind}.json").read_text(encoding="utf-8"))
    machine = json.loads((INPUTS / "machine.json").read_text(encoding="utf-8"))
    after = json.loads((INPUTS / "machine_after.json").read_text(encoding="utf-8"))
    model = Path(job.model)
    verification = {"manifest_sha256": sha256_file(model), "matches": True, "no_verify": False}
    return write_result(make_result(job, measured, model, machine, after, verification=verification), out)


@pytest.mark.parametrize("kind", ["single", "multi"])
def test_result_file_is_byte_identical(workdir: Path, kind: str) -> None:
    path = _write_result(kind, Path("out"))
    assert path.name == f"tinynet-fp32.ort-cpu.b1.t1.{CREATED.replace('-', '').replace(':', '').rstrip('Z')}.json"
    _same_bytes(path, EXPECTED / f"result.{kind}.json")


def _compare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *flags: str, extra: tuple[Path, ...] = ()) -> Path:
    shutil.copytree(GOLDEN / "results", tmp_path / "results")
    for f in extra:
        shutil.copyfile(f, tmp_path / "results" / f.name)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(app, ["compare", "results", "-o", "rep", *flags])
    assert r.exit_code == 0, r.output
    return tmp_path / "rep"


def test_report_is_byte_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rep = _compare(tmp_path, monkeypatch, "--no-plots")
    assert sorted(p.name for p in rep.iterdir()) == ["report.csv", "report.html", "report.md"]
    for name in ("report.md", "report.csv", "report.html"):
        _same_bytes(rep / name, EXPECTED / "report" / name)


def test_report_with_plots_names_the_same_plots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With plots: report.md and report.csv byte for byte, the plots by file name (PNG bytes are matplotlib's)."""
    pytest.importorskip("matplotlib")
    rep = _compare(tmp_path, monkeypatch)
    assert sorted(p.name for p in (rep / "plots").iterdir()) == [
        "latency.png", "pareto.png", "speedup.png", "throughput.png"]
    for name in ("report.md", "report.csv"):
        _same_bytes(rep / name, EXPECTED / "report-plots" / name)


def _write_interleave(out: Path) -> Path:
    """interleave_result + its atomic write, on the stored round timings (inputs/interleave.timings.json)."""
    from edgebench.artifact import ModelArtifact
    from edgebench.bench.interleave import interleave_result, write_interleave_result
    from edgebench.runtimes import options_class

    timings = json.loads((INPUTS / "interleave.timings.json").read_text(encoding="utf-8"))
    machine = json.loads((INPUTS / "machine.json").read_text(encoding="utf-8"))
    models = dict.fromkeys(timings, ModelArtifact(Path("m/model.fp32.onnx"), None))
    result = interleave_result(models, timings, runtime="ort-cpu", runtime_version="1.31.1",
                               options=options_class("ort-cpu")(intra_op_threads=1, inter_op_threads=1), batch=1,
                               shape=None, rounds=5, iters=30, warmup=10, seed=0, machine=machine)
    return write_interleave_result(result, out)


def test_interleave_file_is_byte_identical(workdir: Path) -> None:
    """What `bench A B --interleave` writes (kind interleave, its own schema_version), on fixed round timings."""
    path = _write_interleave(Path("out"))
    assert path.name == "interleave.tinynet-fp32.2models.b1.t1.20260102T030405.json"
    _same_bytes(path, EXPECTED / "interleave.json")


def test_report_with_an_interleave_file_is_byte_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """compare on the stored results plus the stored interleave file: its paired section, byte for byte."""
    rep = _compare(tmp_path, monkeypatch, "--no-plots", extra=(EXPECTED / "interleave.json",))
    for name in ("report.md", "report.csv", "report.html"):
        _same_bytes(rep / name, EXPECTED / "report-interleave" / name)
