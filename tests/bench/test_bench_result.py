"""`BenchResult` (bench/result.py): every result file in tests/ round-trips key for key, a bad field is refused
naming it, and `measure` hashes the model once and attaches the accuracy."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from edgebench.bench.result import BenchResult
from edgebench.errors import ResultSchemaError

from tests.bench import result_factory as rf

TESTS = Path(__file__).resolve().parent.parent


def _result_files() -> list[Path]:
    """Every stored JSON file in tests/ that is a bench result (kind bench/profile with latency)."""
    out = []
    for p in sorted(TESTS.rglob("*.json")):
        data = json.loads(p.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "latency" in data and "options" in data:
            out.append(p)
    return out


def _factory_results() -> list[dict[str, Any]]:
    drops = (("accuracy",), ("model.precision", "model.arch"), ("warnings",))
    return [*rf.two_devices(), *(rf.result(rf.PI4, drop=d, top1=91.0) for d in drops),
            rf.result(rf.X86, runtime_precision="int8", prune_round=1, noisy=True)]


def test_the_stored_result_files_are_found() -> None:
    assert len(_result_files()) >= 7  # tests/data/golden: the expected results and the report's inputs


@pytest.mark.parametrize("path", _result_files(), ids=lambda p: p.name)
def test_every_result_file_in_tests_round_trips(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    r = BenchResult.from_dict(json.loads(text), str(path))
    assert json.dumps(r.to_dict(), indent=2) == json.dumps(json.loads(text), indent=2)  # key order too
    assert BenchResult.from_dict(r.to_dict()) == r


@pytest.mark.parametrize("data", _factory_results(), ids=lambda d: f"{d['model']['name']}-{d['runtime']['name']}")
def test_every_factory_result_round_trips(data: dict[str, Any]) -> None:
    r = BenchResult.from_dict(copy.deepcopy(data))
    assert json.dumps(r.to_dict()) == json.dumps(data)
    assert r.latency.p50_ms == data["latency"]["p50_ms"] and r.machine.cpu.arch == data["machine"]["cpu"]["arch"]


def test_a_result_is_frozen_and_keeps_its_samples() -> None:
    r = BenchResult.from_dict(rf.result(rf.X86))
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.latency.p50_ms = 1.0  # type: ignore[misc]
    assert isinstance(r.latency.samples_ms, tuple) and len(r.latency.samples_ms) == 6
    with pytest.raises(TypeError):
        r.machine.cpu.isa["avx2"] = False  # type: ignore[index]


def _set(path: str, value: Any) -> Any:
    def mutate(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for p in parents:
            d = d[p]
        if value is _DROP:
            del d[last]
        else:
            d[last] = value
    return mutate


_DROP = object()


@pytest.mark.parametrize("mutate,match", [
    (_set("model.sha256", _DROP), r"r\.json: missing field 'model\.sha256'"),
    (_set("latency.p50_ms", 0), r"field 'latency\.p50_ms' is 0; it must be a finite number > 0"),
    (_set("latency.samples_ms", [1.0, "x"]), "latency.samples_ms must hold numbers only"),
    (_set("latency.p50_ci95_ms", [1.0]), r"latency\.p50_ci95_ms must be two numbers"),
    (_set("options.threads", True), r"field 'options\.threads' is a bool; expected int"),
    (_set("machine.cpu.arch", 64), r"field 'machine\.cpu\.arch' is int; expected str"),
    (_set("machine.board", {"model": 4}), r"field 'machine\.board\.model' is int; expected str or null"),
    (_set("throughput", {"items_per_s": -1.0}), r"field 'throughput\.items_per_s' is -1\.0; it must be a finite"),
    (_set("accuracy.top1_pct", 101), r"field 'accuracy\.top1_pct' is 101; it must be a number in \[0, 100\]"),
    (_set("accuracy", [1]), r"field 'accuracy' is list; expected an object"),
    (_set("cold_start", {"total_ms": "1 ms"}), r"field 'cold_start\.total_ms' is str; expected a number or null"),
    (_set("latency", 3), r"field 'latency' is int; expected dict"),
    (_set("schema_version", 2), r"schema_version 2 is not 1"),
])
def test_a_bad_field_is_refused_naming_it(mutate: Any, match: str) -> None:
    data = rf.result(rf.X86)
    mutate(data)
    with pytest.raises(ResultSchemaError, match=match):
        BenchResult.from_dict(data, "r.json")


def test_merged_and_with_accuracy_keep_the_key_order() -> None:
    r = BenchResult.from_dict(rf.result(rf.X86, top1=None) | {"warnings": ["w0"]})
    got = r.with_accuracy({"dataset": "d", "n": 10, "top1_pct": 50.0, "warnings": ["w1"]}, sweep={"sweep": "s"})
    d = got.to_dict()
    assert list(d)[-2:] == ["accuracy", "sweep"] and d["warnings"] == ["w0", "w1"]
    assert d["accuracy"] == {"dataset": "d", "n": 10, "top1_pct": 50.0}
    assert list(d)[:len(r.to_dict())] == list(r.to_dict())  # the keys it had stay where they were


def test_make_result_uses_the_artifacts_sha256(tiny_onnx: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The model is hashed once per measurement: make_result takes the caller's sha256 as it is."""
    import edgebench.manifest
    from edgebench.artifact import ModelArtifact
    from edgebench.bench.runner import Job, make_result

    artifact = ModelArtifact.resolve(tiny_onnx).hashed()
    measured = json.loads((TESTS / "data" / "golden" / "inputs" / "measured.single.json").read_text())
    machine = json.loads((TESTS / "data" / "golden" / "inputs" / "machine.json").read_text())

    def no_second_hash(path: Path) -> str:
        raise AssertionError(f"{path} hashed again")

    monkeypatch.setattr(edgebench.manifest, "sha256_file", no_second_hash)
    r = make_result(Job(model=str(tiny_onnx)), measured, tiny_onnx, machine, {}, sha256=artifact.sha256)
    assert r.model.sha256 == artifact.sha256 and r.model.lineage["root_sha256"] == artifact.sha256


def test_measure_attaches_accuracy_and_placement(tiny_onnx: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One in-process measurement: the artifact's sha256 is the only hash taken, the accuracy is attached."""
    import edgebench.manifest
    from edgebench.artifact import ModelArtifact
    from edgebench.bench.measure import MeasureConfig, measure
    from edgebench.runtimes import get_runtime

    config = MeasureConfig(bench={"warmup_iters": 1, "min_iters": 3, "min_seconds": 0.0}, batch=2, isolate=False,
                           pin_how="test", accuracy={"dataset": "d", "n": 4, "top1_pct": 25.0, "warnings": ["acc w"]})
    artifact = ModelArtifact.resolve(tiny_onnx).hashed()
    monkeypatch.setattr(edgebench.manifest, "sha256_file", lambda p: pytest.fail(f"{p} hashed a second time"))
    r = measure(artifact, "ort-cpu", get_runtime("ort-cpu").Options(intra_op_threads=1), config)
    assert r.model.sha256 == artifact.sha256
    assert r.options.batch == 2 and r.options.threads == 1 and len(r.latency.samples_ms) == 3
    assert r.accuracy is not None and r.accuracy.top1_pct == 25.0 and "warnings" not in r.accuracy.rest
    assert "acc w" in (r.warnings or ()) and r.placement is not None and r.placement["how"] == "test"
    assert BenchResult.from_dict(json.loads(json.dumps(r.to_dict()))) == r
