"""#25 item 1: `bench A B --interleave` writes a typed `InterleaveResult`, hashes each model once, and the report
reads that record (and BenchResult rows) instead of dicts; hand-edited interleave files are refused in one line."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from edgebench.bench.result import BenchResult, InterleaveResult
from edgebench.cli import app
from edgebench.errors import ResultSchemaError
from typer.testing import CliRunner

from tests.bench.result_factory import X86, result, write

GOLDEN_INTERLEAVE = Path(__file__).resolve().parent.parent / "data" / "golden" / "expected" / "interleave.json"


def _golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GOLDEN_INTERLEAVE.read_text(encoding="utf-8"))
    return data


def test_bench_interleave_hashes_each_model_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sha256 bench verifies each model with is the one its file records: one hash per model, not two."""
    import edgebench.artifact as artifact
    import edgebench.manifest as manifest
    from edgebench.tools.synthetic import conv_net

    hashed: list[str] = []
    real = manifest.sha256_file

    def counting(path: Path) -> str:
        hashed.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(manifest, "sha256_file", counting)
    monkeypatch.setattr(artifact, "sha256_file", counting)
    a, b = conv_net(tmp_path / "a.onnx", size=16), conv_net(tmp_path / "b.onnx", size=16, channels=16)
    r = CliRunner().invoke(app, ["bench", str(a), str(b), "--interleave", "-t", "1", "--rounds", "2",
                                 "--round-iters", "2", "--warmup-iters", "1", "-o", str(tmp_path / "out"), "--json"])
    assert r.exit_code == 0, r.output
    assert sorted(hashed) == ["a.onnx", "b.onnx"]
    printed = json.loads(r.stdout)
    (written,) = (tmp_path / "out").glob("interleave.*.json")
    assert json.loads(written.read_text(encoding="utf-8")) == printed
    assert [m["sha256"] for m in printed["models"]] == [real(a), real(b)]


def test_old_interleave_file_loads_and_writes_back_byte_for_byte(tmp_path: Path) -> None:
    from edgebench.atomic import write_json

    rec = InterleaveResult.from_dict(_golden(), str(GOLDEN_INTERLEAVE))
    assert rec.baseline == rec.models[0].name == "tinynet-fp32" and rec.options.batch == 1
    assert rec.models[1].ratio_vs_first.median == pytest.approx(0.5) and rec.models[1].cpu_ratio_vs_first is not None
    assert rec.machine.cpu.arch == "x86_64" and rec.rest["ratio"].startswith("median over rounds")
    out = write_json(tmp_path / "back.json", rec.to_dict(), force=False)
    assert out.read_bytes() == GOLDEN_INTERLEAVE.read_bytes()


def _set(*keys: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(d: dict[str, Any]) -> None:
        cur = d
        for k in keys[:-1]:
            cur = cur[k]
        cur[keys[-1]] = value
    return edit


BAD_INTERLEAVE = {  # a hand-edited or damaged interleave file -> the fragment of its one-line error
    "one-model": (lambda d: d["models"].pop(), "holds 1 model(s)"),
    "baseline-not-first": (_set("baseline", value="tinynet-int8"), "the ratios are to the first model"),
    "ci-three-numbers": (_set("models", 1, "ratio_vs_first", "ci95", value=[0.4, 0.5, 0.6]), "two numbers"),
    "ci-not-finite": (_set("models", 1, "cpu_ratio_vs_first", "ci95", value=[0.4, "x"]), "two numbers"),
    "median-zero": (_set("models", 1, "ratio_vs_first", "median", value=0), "'models[].ratio.median' is 0"),
    "p50-string": (_set("models", 1, "p50_ms", value="fast"), "'models[].p50_ms' is str"),
    "machine-without-cpu": (lambda d: d["machine"].pop("cpu"), "missing field 'machine.cpu'"),
    "models-not-a-list": (_set("models", value={"a": 1}), "'models' is dict"),
    "model-not-an-object": (_set("models", 1, value="b"), "is str; expected dict"),
    "threads-zero": (_set("options", "threads", value=0), "'options.threads' is 0"),
    "no-runtime": (lambda d: d.pop("runtime"), "missing field 'runtime'"),
}


@pytest.mark.parametrize("case", list(BAD_INTERLEAVE))
def test_compare_refuses_a_damaged_interleave_file_in_one_line(tmp_path: Path, case: str) -> None:
    edit, fragment = BAD_INTERLEAVE[case]
    data = copy.deepcopy(_golden())
    edit(data)
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "interleave.x.json").write_text(json.dumps(data), encoding="utf-8")
    r = CliRunner().invoke(app, ["compare", str(tmp_path / "res"), "-o", str(tmp_path / "rep"), "--no-plots"])
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1, (r.exit_code, r.output)
    assert lines[0].startswith("edgebench: error:") and "Traceback" not in r.output
    assert "interleave.x.json" in lines[0] and fragment in lines[0], lines[0]
    assert not (tmp_path / "rep").exists()


def test_latency_samples_not_a_list_is_a_schema_error() -> None:
    """A hand-edited `samples_ms` (a number) named in one line, not a TypeError from iterating it."""
    d = result(X86)
    d["latency"]["samples_ms"] = -1
    with pytest.raises(ResultSchemaError, match=r"'latency\.samples_ms' is int; expected list"):
        BenchResult.from_dict(d, "r.json")


def test_report_rows_hold_the_typed_result(tmp_path: Path) -> None:
    from edgebench.bench.report.data import load_results

    write(tmp_path / "res", [result(X86, p50=2.0), result(X86, precision="int8", p50=1.0)])
    rows = load_results([tmp_path / "res"]).rows
    for row in rows:
        on_disk = json.loads(Path(row.source).read_text(encoding="utf-8"))
        assert isinstance(row.result, BenchResult) and row.result.to_dict() == on_disk
        assert row.p50_ms == row.result.latency.p50_ms and row.sha256 == row.result.model.sha256
    assert not hasattr(rows[0], "raw")
