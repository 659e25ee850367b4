from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from edgebench.bench.result import SCHEMA_VERSION, BenchResult
from edgebench.bench.runner import Job, run_job
from edgebench.bench.schema import FLAT_FIELDS, append_csv, load_result, validate_result, write_result
from edgebench.errors import ResultSchemaError


@pytest.fixture(scope="module")
def result(tiny_onnx: Path) -> BenchResult:
    job = Job(model=str(tiny_onnx), batch=2, bench={"warmup_iters": 1, "min_iters": 5, "min_seconds": 0.0},
              runtime_options={"intra_op_threads": 1})
    return run_job(job)


def test_result_validates_and_has_units(result: BenchResult) -> None:
    validate_result(result.to_dict())
    assert result.schema_version == SCHEMA_VERSION
    assert result.options.batch == 2 and result.options.threads == 1
    assert len(result.latency.samples_ms) == result.latency.rest["n"] == 5
    assert result.model.inputs[0]["resolved_shape"] == (2, 3, 16, 16)
    assert result.memory.rss_after_load_mb >= result.memory.rss_before_load_mb > 0
    assert result.memory.peak_rss_mb > 0 and result.memory.rest["model_file_size_mb"] > 0


def test_write_and_load_roundtrip(result: BenchResult, tmp_path: Path) -> None:
    p = write_result(result, tmp_path)
    assert p.name.endswith(".json") and load_result(p) == result
    p2 = write_result(result, tmp_path)  # same second: a second file, never an overwrite
    assert p2 != p and len(list(tmp_path.glob("*.json"))) == 2


@pytest.mark.parametrize("mutate,match", [
    (lambda r: r.update(schema_version=99), "schema_version 99"),
    (lambda r: r["latency"].pop("p50_ms"), "missing field 'latency.p50_ms'"),
    (lambda r: r["latency"].update(p99_ms="12 ms"), "'latency.p99_ms' is str"),
    (lambda r: r["options"].update(batch=True), "'options.batch' is a bool"),
])
def test_invalid_results(result: BenchResult, mutate, match: str) -> None:
    bad = copy.deepcopy(result.to_dict())
    mutate(bad)
    with pytest.raises(ResultSchemaError, match=match):
        validate_result(bad)


def test_load_result_not_json(tmp_path: Path) -> None:
    p = tmp_path / "r.json"
    p.write_text("{not json")
    with pytest.raises(ResultSchemaError, match="not valid JSON"):
        load_result(p)


def test_csv_append(result: BenchResult, tmp_path: Path) -> None:
    csv_path = tmp_path / "all.csv"
    append_csv(csv_path, result)
    append_csv(csv_path, result)
    lines = csv_path.read_text().splitlines()
    assert lines[0].split(",") == list(FLAT_FIELDS) and len(lines) == 3
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ResultSchemaError, match="other columns"):
        append_csv(other, result)
    assert other.read_text() == "a,b\n1,2\n"


def test_result_is_plain_json(result: BenchResult) -> None:
    json.dumps(result.to_dict(), allow_nan=False)
