"""Issue #24 items 1, 2, 15: ratios within one model lineage, interleaved files, sweep folders and edgebench's
own non-result files in `compare` and `recommend`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from edgebench.artifact import ModelArtifact
from edgebench.bench.interleave import interleave_result, ratio_of_medians
from edgebench.bench.report.analysis import build_report
from edgebench.bench.report.data import load_results
from edgebench.bench.report.recommend import recommend
from edgebench.cli import app
from edgebench.manifest import Manifest, PrunedInfo
from edgebench.runtimes import options_class
from typer.testing import CliRunner

from tests.bench.result_factory import X86, result, write

pytest.importorskip("jinja2")

R20_ROOT = "r20fp32".ljust(64, "0")
MNV2_ROOT = "mnv2fp32".ljust(64, "0")


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, [*args])


def _csv(path: Path) -> dict[str, dict[str, str]]:
    return {f"{r['variant']}/{r['runtime']}": r for r in csv.DictReader(io.StringIO(path.read_text("utf-8")))}


def _with_lineage(r: dict[str, Any], root: str, name: str) -> dict[str, Any]:
    r["model"]["lineage"] = {"root_sha256": root, "root_name": name, "how": "test"}
    return r


def two_models(lineage: bool = True) -> list[dict[str, Any]]:
    """resnet20 FP32/INT8 and mobilenetv2 FP32/INT8 on one machine, as the docs' results/ layout holds them."""
    rs = [result(X86, name="resnet20", precision="fp32", p50=2.0, sha=R20_ROOT),
          result(X86, name="resnet20", precision="int8", p50=1.0),
          result(X86, name="mnv2", precision="fp32", p50=40.0, sha=MNV2_ROOT),
          result(X86, name="mnv2", precision="int8", p50=16.0)]
    if lineage:
        for r, root, name in zip(rs, (R20_ROOT, R20_ROOT, MNV2_ROOT, MNV2_ROOT), ("resnet20",) * 2 + ("mnv2",) * 2,
                                 strict=True):
            _with_lineage(r, root, name)
    return rs


# ---------------------------------------------------------------------------------------------- item 1


@pytest.mark.parametrize("lineage", [True, False], ids=["recorded", "old-files-by-name"])
def test_two_lineages_in_one_folder_no_cross_ratio_baseline_named(tmp_path: Path, lineage: bool) -> None:
    write(tmp_path / "results", two_models(lineage))
    out = tmp_path / "report"
    r = _run("compare", str(tmp_path / "results"), "-o", str(out), "--no-plots")
    assert r.exit_code == 0, r.output
    rows = _csv(out / "report.csv")
    # each lineage against its own FP32: never resnet20 vs mobilenetv2 (the old default picked mnv2-fp32)
    assert rows["resnet20-int8/ort-cpu"]["baseline"] == "resnet20-fp32/ort-cpu"
    assert float(rows["resnet20-int8/ort-cpu"]["speedup"]) == pytest.approx(2.0)
    assert rows["mnv2-int8/ort-cpu"]["baseline"] == "mnv2-fp32/ort-cpu"
    assert float(rows["mnv2-int8/ort-cpu"]["speedup"]) == pytest.approx(2.5)
    assert {rows[k]["lineage"] for k in rows} == {"resnet20", "mnv2"}
    md = (out / "report.md").read_text("utf-8")
    assert "2.00x (1.96-2.04) vs resnet20-fp32/ort-cpu" in md and "2.50x (2.45-2.55) vs mnv2-fp32/ort-cpu" in md
    assert "20.00x" not in md and "0.05x" not in md and "40.00x" not in md  # no ratio across the models
    assert "resnet20: `resnet20-fp32/ort-cpu`" in md and "mnv2: `mnv2-fp32/ort-cpu`" in md
    assert "2 model lineages" in md
    assert ("grouped by model name" in md) is (not lineage)  # old files: grouped by name, and it says so
    assert "vs resnet20-fp32/ort-cpu" in (out / "report.html").read_text("utf-8")


def test_baseline_option_applies_to_its_own_lineage_only(tmp_path: Path) -> None:
    write(tmp_path / "results", two_models())
    out = tmp_path / "report"
    r = _run("compare", str(tmp_path / "results"), "-o", str(out), "--no-plots", "--baseline", "resnet20-int8/ort-cpu")
    assert r.exit_code == 0, r.output
    rows = _csv(out / "report.csv")
    assert float(rows["resnet20-fp32/ort-cpu"]["speedup"]) == pytest.approx(0.5)
    assert rows["mnv2-int8/ort-cpu"]["baseline"] == "mnv2-fp32/ort-cpu"


def test_unrecorded_pruned_round_joins_its_named_lineage(tmp_path: Path) -> None:
    rs = [*two_models()[:2], result(X86, name="resnet20", precision="fp32", p50=1.5, prune_round=2)]
    rs[2]["model"]["lineage"] = {"root_sha256": None, "root_name": "resnet20", "how": "a pruned round"}
    loaded = load_results(write(tmp_path / "res", rs))
    rep = build_report(loaded.rows, loaded.machines)
    pruned = next(r for r in rep.rows if r.prune_round == 2)
    assert pruned.lineage == "resnet20" and pruned.baseline == "resnet20-fp32/ort-cpu"
    assert pruned.speedup == pytest.approx(2.0 / 1.5)
    assert any("grouped by model name" in n and "resnet20-r2-fp32" in n for n in rep.notes)
    # a sweep's pruned INT8 too: its budget counts from the unpruned FP32, the one recommendation of the model
    rs.append(result(X86, name="resnet20", precision="int8", p50=0.8, prune_round=2, top1=91.0))
    rs[3]["model"]["lineage"] = {"root_sha256": None, "root_name": "resnet20", "how": "a pruned model"}
    (rec,) = recommend(load_results(write(tmp_path / "res2", rs)).rows, budget=1.0)
    assert rec.reference_top1 == 91.5 and "unpruned FP32 resnet20-fp32" in rec.reference
    assert rec.best is not None and rec.best.variant == "resnet20-r2-int8"


def test_a_result_records_the_root_of_its_manifest_chain(tmp_path: Path) -> None:
    from edgebench.bench.runner import lineage_record  # here: so that the other tests run on older code too

    path = tmp_path / "model.int8.onnx"
    fp32 = Manifest(name="resnet20", onnx_file="model.fp32.onnx", onnx_sha256="a" * 64)
    assert lineage_record(fp32, "a" * 64, path)["root_sha256"] == "a" * 64  # the root itself
    int8 = fp32.derive(precision="int8", onnx_file="model.int8.onnx")
    fp16 = int8.replace(onnx_sha256="b" * 64).derive(precision="fp16", onnx_file="model.fp16.onnx")
    rec = lineage_record(fp16, "c" * 64, path)
    assert rec["root_sha256"] == "a" * 64 and rec["root_name"] == "resnet20"  # two steps down: still the FP32
    old = int8.replace(lineage_root_sha256=None)  # a manifest an older edgebench wrote
    assert lineage_record(old, "b" * 64, path)["root_sha256"] == "a" * 64
    converted = old.replace(onnx_sha256="b" * 64).derive(precision="int8", onnx_file="model.tflite")
    assert lineage_record(converted, "f" * 64, path)["root_sha256"] == "a" * 64  # from an older child: its parent
    pruned = Manifest(name="resnet20", onnx_sha256="d" * 64, pruned=PrunedInfo(round=1, weights_file="w.pth"))
    assert lineage_record(pruned, "d" * 64, path)["root_sha256"] is None
    pruned_int8 = pruned.derive(precision="int8", onnx_file="model.int8.onnx")
    assert lineage_record(pruned_int8, "g" * 64, path)["root_sha256"] is None  # with the unpruned model, by name
    assert lineage_record(None, "e" * 64, path)["root_sha256"] == "e" * 64


# ---------------------------------------------------------------------------------------------- item 2


def interleave_file(folder: Path, machine: dict[str, Any] | None = None) -> Path:
    """What `bench A.onnx B.onnx --interleave -o folder` writes (kind interleave), from made-up round timings."""
    folder.mkdir(parents=True, exist_ok=True)
    models = {}
    for name in ("resnet20-fp32", "resnet20-int8"):
        models[name] = folder.parent / f"{name}.onnx"
        models[name].write_bytes(name.encode())
    fp32, int8 = [2.0, 2.1, 1.9, 2.05, 2.0], [1.0, 1.0, 0.95, 1.02, 1.0]
    timings = {"resnet20-fp32": {"p50_ms": 2.0, "round_p50_ms": fp32, "ratio_vs_first": ratio_of_medians(fp32, fp32)},
               "resnet20-int8": {"p50_ms": 1.0, "round_p50_ms": int8, "ratio_vs_first": ratio_of_medians(fp32, int8)}}
    artifacts = {k: ModelArtifact(p, None) for k, p in models.items()}
    res = interleave_result(artifacts, timings, runtime="ort-cpu", runtime_version="1.31.1",
                            options=options_class("ort-cpu")(intra_op_threads=1), batch=1, shape=None, rounds=5,
                            iters=30, warmup=10, seed=0, machine=machine or X86)
    path = folder / "interleave.resnet20-fp32.2models.b1.t1.json"
    path.write_text(json.dumps(res.to_dict()), encoding="utf-8")
    return path


def test_interleave_file_is_read_and_shown_with_its_ci(tmp_path: Path) -> None:
    write(tmp_path / "results", two_models()[:2])
    interleave_file(tmp_path / "results")
    out = tmp_path / "report"
    r = _run("compare", str(tmp_path / "results"), "-o", str(out), "--no-plots")
    assert r.exit_code == 0, r.output
    assert "1 interleaved comparison(s)" in r.output
    md = (out / "report.md").read_text("utf-8")
    section = md.split("## Interleaved (paired) comparisons")[1].split("\n## ")[0]
    row = next(ln for ln in section.splitlines() if ln.startswith(f"| {X86['id']}"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4:6] == ["resnet20-int8", "resnet20-fp32"]
    assert cells[7].startswith("0.500 [") and cells[8].startswith("2.000 [")  # ratio and speed-up, each with a CI
    lo, hi = (float(x) for x in cells[7].split("[")[1].rstrip("]").split("-"))
    assert lo <= 0.5 <= hi and lo < hi
    assert "Interleaved (paired) comparisons" in (out / "report.html").read_text("utf-8")
    # an interleave file on its own is a report too
    alone = tmp_path / "alone"
    interleave_file(alone)
    r = _run("compare", str(alone), "-o", str(tmp_path / "r2"), "--no-plots")
    assert r.exit_code == 0, r.output


def test_interleave_file_of_a_newer_edgebench_is_refused(tmp_path: Path) -> None:
    path = interleave_file(tmp_path / "results")
    data = json.loads(path.read_text("utf-8"))
    data["schema_version"] = 9
    path.write_text(json.dumps(data), encoding="utf-8")
    out = tmp_path / "report"
    r = _run("compare", str(tmp_path / "results"), "-o", str(out), "--no-plots")
    assert r.exit_code == 2 and "interleave schema_version 9" in r.stderr and "Traceback" not in r.output
    assert not out.exists()


# --------------------------------------------------------------------------------------------- item 15


def sweep_folder(tmp_path: Path) -> Path:
    """The layout `edgebench sweep -o DIR` leaves: summary.json, recommendation.json/.md, results/<device>/."""
    out = tmp_path / "sweep"
    rs = [result(X86, name="tiny", precision="fp32", p50=2.0, top1=91.5),
          result(X86, name="tiny", precision="int8", p50=1.0, top1=91.2)]
    paths = write(out / "results" / "local", rs)
    (out / "cache").mkdir()
    (out / "summary.json").write_text(json.dumps({"kind": "edgebench.sweep", "name": "tiny", "nodes": []}), "utf-8")
    recs = recommend(load_results(paths).rows, budget=1.0)
    (out / "recommendation.json").write_text(json.dumps({"1": [r.to_dict() for r in recs]}), "utf-8")
    (out / "recommendation.md").write_text("# Recommendation\n", "utf-8")
    return out


def test_recommend_and_compare_accept_a_sweep_folder(tmp_path: Path) -> None:
    out = sweep_folder(tmp_path)
    r = _run("recommend", str(out))
    assert r.exit_code == 0, r.output
    assert "note:" in r.output and "sweep folder" in r.output and "recommended: tiny-int8/ort-cpu" in r.output
    r = _run("recommend", str(out), "--json")  # the note goes to stderr: stdout stays JSON
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["recommended"]["variant"] == "tiny-int8"
    r = _run("compare", str(out), "-o", str(tmp_path / "report"), "--no-plots")
    assert r.exit_code == 0, r.output
    assert "note:" in r.output and "sweep folder" in r.output and "2 results" in r.output


def test_own_non_result_files_in_a_results_folder_are_skipped_with_a_note(tmp_path: Path) -> None:
    out = sweep_folder(tmp_path)
    res = out / "results" / "local"
    for name in ("recommendation.json", "summary.json"):  # copied in beside the results
        (res / name).write_bytes((out / name).read_bytes())
    (res / "model.fp32.json").write_text(json.dumps(Manifest(name="tiny").to_dict()), "utf-8")
    r = _run("recommend", str(res))
    assert r.exit_code == 0, r.output
    assert r.output.count("note: skipped") == 3 and "a recommendation" in r.output
    assert "kind 'edgebench.sweep'" in r.output and "kind 'edgebench.model'" in r.output
    r = _run("compare", str(res), "-o", str(tmp_path / "report"), "--no-plots")
    assert r.exit_code == 0 and r.output.count("note: skipped") == 3
    # a JSON file that is no edgebench file at all is still refused, naming it
    (res / "other.json").write_text('{"hello": 1}', "utf-8")
    r = _run("recommend", str(res))
    assert r.exit_code == 2 and "other.json" in r.stderr and "not an edgebench result" in r.stderr


# ------------------------------------------------------------------------------------ end to end (real files)

QUICK = ["--warmup-iters", "1", "--min-iters", "3", "--min-seconds", "0", "--in-process", "-t", "1"]


def test_bench_records_the_lineage_and_compare_keeps_two_models_apart(tmp_path: Path) -> None:
    """Two models, each an FP32 and a child derived from it, benched into one results/ folder."""
    from edgebench.manifest import write_manifest
    from edgebench.tools.synthetic import conv_net

    res = tmp_path / "results"
    for name, size in (("alpha", 16), ("beta", 24)):
        d = tmp_path / name
        d.mkdir()
        fp32 = conv_net(d / "model.fp32.onnx", size=size)
        root = Manifest(name=name, arch=name).with_file(fp32)
        write_manifest(fp32, root)
        child = conv_net(d / "model.int8.onnx", size=size, channels=4)
        write_manifest(child, root.derive(precision="int8", onnx_file=child.name).with_file(child))
        for m in (fp32, child):
            r = _run("bench", str(m), "-o", str(res), *QUICK)
            assert r.exit_code == 0, r.output
    lineages = {json.loads(p.read_text("utf-8"))["model"]["name"]: json.loads(p.read_text("utf-8"))["model"]["lineage"]
                for p in res.glob("*.json")}
    assert lineages["alpha-int8"]["root_sha256"] == lineages["alpha-fp32"]["root_sha256"]
    assert lineages["alpha-int8"]["root_sha256"] != lineages["beta-int8"]["root_sha256"]
    out = tmp_path / "report"
    r = _run("compare", str(res), "-o", str(out), "--no-plots")
    assert r.exit_code == 0, r.output
    rows = _csv(out / "report.csv")
    assert rows["alpha-int8/ort-cpu"]["baseline"] == "alpha-fp32/ort-cpu"
    assert rows["beta-int8/ort-cpu"]["baseline"] == "beta-fp32/ort-cpu"
    assert "grouped by model name" not in (out / "report.md").read_text("utf-8")


def test_compare_reads_what_bench_interleave_writes(tmp_path: Path) -> None:
    """The docs' example: `bench A B --interleave -o results/`, then `compare results`."""
    from edgebench.tools.synthetic import conv_net

    a, b = conv_net(tmp_path / "a.onnx", size=16), conv_net(tmp_path / "b.onnx", size=16, channels=16)
    res = tmp_path / "results"
    r = _run("bench", str(a), str(b), "--interleave", "-t", "1", "--rounds", "4", "--round-iters", "3",
             "--warmup-iters", "1", "-o", str(res))
    assert r.exit_code == 0, r.output
    r = _run("bench", str(a), "-o", str(res), *QUICK)
    assert r.exit_code == 0, r.output
    out = tmp_path / "report"
    r = _run("compare", str(res), "-o", str(out), "--no-plots")
    assert r.exit_code == 0, r.output
    section = (out / "report.md").read_text("utf-8").split("## Interleaved (paired) comparisons")[1]
    assert "| b | a |" in section


def test_recommend_counts_each_budget_from_its_own_model(tmp_path: Path) -> None:
    """resnet20's INT8 is judged against resnet20's FP32 top-1, never against the other model's."""
    rs = two_models()
    for r, top1 in zip(rs, (91.5, 91.2, 72.0, 65.0), strict=True):
        r["accuracy"]["top1_pct"] = top1
    recs = recommend(load_results(write(tmp_path / "res", rs)).rows, budget=1.0)
    by = {r.lineage: r for r in recs}
    assert set(by) == {"resnet20", "mnv2"}
    assert by["resnet20"].reference_top1 == 91.5 and by["resnet20"].best is not None
    assert by["resnet20"].best.variant == "resnet20-int8"
    assert by["mnv2"].reference_top1 == 72.0 and by["mnv2"].best is not None
    assert by["mnv2"].best.variant == "mnv2-fp32"  # its INT8 lost 7 points
    assert "model resnet20" in by["resnet20"].lines()[0]


def test_a_child_named_otherwise_stays_in_its_roots_lineage(tmp_path: Path) -> None:
    """A converted INT8 whose manifest is named 'resnet20-nncf' records resnet20's root sha256: one lineage,
    its speed-up against resnet20's FP32 (make report showed it as a lineage of its own, without a baseline)."""
    rs = two_models()
    nncf = _with_lineage(result(X86, name="resnet20-nncf", precision="int8", p50=0.8), R20_ROOT, "resnet20-nncf")
    write(tmp_path / "results", [*rs, nncf])
    out = tmp_path / "report"
    r = _run("compare", str(tmp_path / "results"), "-o", str(out), "--no-plots")
    assert r.exit_code == 0, r.output
    rows = _csv(out / "report.csv")
    assert rows["resnet20-nncf-int8/ort-cpu"]["lineage"] == "resnet20"
    assert rows["resnet20-nncf-int8/ort-cpu"]["baseline"] == "resnet20-fp32/ort-cpu"
    assert float(rows["resnet20-nncf-int8/ort-cpu"]["speedup"]) == pytest.approx(2.5)
