"""docs/errors.md as tests: one test per row of the bad-input table.

Each row: the command, the exit code, a fragment of its one-line message, and that nothing was written
(no output folder, no result, no partial file). The table in docs/errors.md lists the same rows by id;
`test_table_matches_the_doc` keeps the two in step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edgebench.cli import app
from edgebench.tools.synthetic import timed_runtimes
from typer.testing import CliRunner

from tests import reader_inputs as bad

REPO = Path(__file__).resolve().parent.parent
QUICK = ["--in-process", "--warmup-iters", "0", "--min-iters", "2", "--min-seconds", "0"]


@dataclass(frozen=True)
class Row:
    id: str
    args: tuple[str, ...]  # {model} {tampered} {nan} {out} {tmp} {archive_dir} {images} are filled in
    code: int
    message: str  # a fragment of the one line on stderr


ROWS = [
    Row("missing-model", ("bench", "{tmp}/missing.onnx", "-o", "{out}"), 2, "does not exist"),
    Row("not-onnx", ("bench", "{tmp}/notes.onnx", "-o", "{out}"), 2, "not a loadable ONNX model"),
    Row("unknown-runtime", ("bench", "{model}", "-r", "ort-cpx", "-o", "{out}"), 2, "Did you mean 'ort-cpu'?"),
    Row("threads-not-int", ("bench", "{model}", "-t", "two", "-o", "{out}"), 2, "'two' is not an integer"),
    Row("threads-repeated", ("bench", "{model}", "-t", "1,1", "-o", "{out}"), 2, "repeats a value"),
    Row("threads-oversubscribed", ("bench", "{model}", "-t", "10000", "-o", "{out}"), 2, "--allow-oversubscribe"),
    Row("shape-zero", ("bench", "{model}", "--shape", "1,3,0,16", "-o", "{out}"), 2, "every value must be >= 1"),
    Row("shape-rank", ("bench", "{model}", "--shape", "1,3,16", "-o", "{out}", *QUICK), 2, "has rank 3"),
    Row("timeout-too-short", ("bench", "{model}", "--timeout", "1", "--min-seconds", "5", "-o", "{out}"), 2,
        "raise --timeout"),
    Row("timeout-not-finite", ("bench", "{model}", "--timeout", "inf", "-o", "{out}"), 2, "finite number"),
    Row("csv-is-a-folder", ("bench", "{model}", "--csv", "{tmp}", "-o", "{out}", *QUICK), 2, "is a folder"),
    Row("tampered-model", ("bench", "{tampered}", "-o", "{out}", *QUICK), 2, "changed after export"),
    Row("tampered-model-eval", ("eval", "{tampered}", "--data", "{images}"), 2, "changed after export"),
    Row("crafted-cifar10-archive", ("eval", "{model}", "--data", "cifar10", "--data-dir", "{archive_dir}"), 2,
        "not the published CIFAR-10"),
    Row("quantize-nan-weights", ("quantize", "{nan}", "--mode", "dynamic"), 2, "NaN/Inf weights"),
    Row("quantize-model-ort-cannot-run", ("quantize", "{unrunnable}", "--data", "{images}", "-o", "{tmp}/q8.onnx"), 2,
        "ONNX Runtime cannot run"),
    Row("quantize-unknown-exclude-node", ("quantize", "{tampered_ok}", "--mode", "dynamic", "--exclude-nodes",
                                          "conv9"), 2, "no node named 'conv9'"),
    Row("sensitivity-target-macs", ("sensitivity", "resnet20", "-o", "{out}", "--target-macs", "1.5"), 2,
        "must be a fraction in (0, 1)"),
    Row("model-typo", ("export", "resnet21", "-o", "{out}"), 2, "Did you mean 'resnet20'?"),
    # checked before slow work: a missing --weights / a model typo would be the message if the option came later
    Row("prune-latency-rounds", ("prune", "resnet20", "--weights", "{tmp}/missing.pt", "--latency-table",
                                 "{tmp}/missing.json", "--target-speedup", "2", "--rounds", "2", "-o", "{out}"), 2,
        "runs in one round"),
    Row("prune-latency-no-onnx", ("prune", "resnet20", "--weights", "{tmp}/missing.pt", "--latency-table",
                                  "{tmp}/missing.json", "--target-speedup", "2", "--no-onnx", "-o", "{out}"), 2,
        "drop --no-onnx"),
    Row("csv-folder-cannot-be-made", ("bench", "{model}", "--csv", "/proc/nope/rows.csv", "-o", "{out}", *QUICK), 2,
        "in '/proc'; choose another"),
    Row("output-folder-cannot-be-made", ("bench", "{model}", "-o", "/proc/nope", "--eval", "{images}", *QUICK), 2,
        "in '/proc'; choose another"),
    Row("profile-trace-cannot-be-made", ("profile", "{model}", "--trace", "/proc/nope/trace.json", "-o", "{out}",
                                         "--runs", "1", "--warmup", "0", "--min-seconds", "0"), 2,
        "in '/proc'; choose another"),
    Row("export-output-cannot-be-made", ("export", "resnet20", "--weights", "{tmp}/missing.pt", "-o",
                                         "/proc/nope/r20"), 2, "in '/proc'; choose another"),
    Row("qat-empty-data", ("qat", "resnet20", "--weights", "{r20}", "--data", "{empty_npz}", "--eval-data", "none",
                           "--preset", "x86-vnni", "-o", "{out}"), 2, "expected at least one image"),
    Row("qat-unlabelled-data", ("qat", "resnet20", "--weights", "{r20}", "--data", "{flat}", "--eval-data", "none",
                                "--preset", "x86-vnni", "-o", "{out}"), 2, "needs a class per image"),
    Row("latency-table-threads-zero", ("latency-table", "resnet21", "--threads", "0", "-o", "{out}/t.json"), 2,
        "--threads 0 must be >= 1"),
    Row("latency-table-unknown-runtime", ("latency-table", "resnet21", "-r", "bogus", "-o", "{out}/t.json"), 2,
        "not 'bogus'"),
    Row("sparsify-batch-size-zero", ("sparsify", "resnet21", "--sparsity", "0.5", "--batch-size", "0", "-o",
                                     "{out}"), 2, "--batch-size 0 must be an integer >= 2"),
    Row("quantize-output-cannot-be-made", ("quantize", "{tampered_ok}", "--data", "{tmp}/missing.npz", "-o",
                                           "/proc/nope/q.onnx"), 2, "in '/proc'; choose another"),
    Row("train-output-cannot-be-made", ("train", "resnet20", "--weights", "{tmp}/missing.pt", "-o", "/proc/nope/t"),
        2, "in '/proc'; choose another"),
    Row("sensitivity-output-cannot-be-made", ("sensitivity", "resnet20", "--weights", "{tmp}/missing.pt", "-o",
                                              "/proc/nope/s"), 2, "in '/proc'; choose another"),
    Row("prune-output-cannot-be-made", ("prune", "resnet20", "--weights", "{tmp}/missing.pt", "--ratios", "0.5", "-o",
                                        "/proc/nope/p"), 2, "in '/proc'; choose another"),
    Row("export-accuracy-images-negative", ("export", "resnet20", "--weights", "{tmp}/missing.pt", "--accuracy-images",
                                            "-1", "-o", "{out}"), 2, "--accuracy-images -1 must be >= 0"),
    Row("eval-unlabelled-folder", ("eval", "{model}", "--data", "{flat}"), 2, "needs a class per image"),
    Row("eval-negative-labels", ("eval", "{model}", "--data", "{negative_labels}"), 2, "labels hold -3"),
    Row("quantize-budget-unlabelled", ("quantize", "{tampered_ok}", "--data", "{images}", "--accuracy-budget", "0.3",
                                       "--eval-data", "{flat}"), 2, "needs a class per image"),
    Row("sweep-bits-unlabelled", ("sweep-bits", "{tampered_ok}", "--data", "{images}", "--eval-data", "{flat}",
                                  "-o", "{out}"), 2, "needs a class per image"),
    Row("recommend-budget-nan", ("recommend", "{tmp}", "--budget", "nan"), 2, "--budget nan is not a finite number"),
    Row("compare-budget-inf", ("compare", "{tmp}", "--budget", "inf", "-o", "{out}"), 2,
        "--budget inf is not a finite number"),
    Row("recommend-reference-150", ("recommend", "{tmp}", "--reference", "150"), 2,
        "--reference 150 is out of range"),
    Row("recommend-negative-p50", ("recommend", "{bad_results}"), 2, "p50_ms' is -5.0"),
    Row("recommend-reference-mixed-tasks", ("recommend", "{mixed_results}", "--reference", "30"), 2,
        "--reference 30 is one accuracy figure, but the results hold classification (top-1) and detection"),
    Row("bench-min-seconds-nan", ("bench", "{model}", "--min-seconds", "nan", "-o", "{out}"), 2,
        "--min-seconds nan is not a finite number"),
    Row("quantize-fp16-weight-bits", ("quantize", "{tampered_ok}", "--mode", "fp16", "--weight-bits", "4"), 2,
        "not used by --mode fp16"),
    Row("quantize-unknown-exclude-op", ("quantize", "{tampered_ok}", "--mode", "dynamic", "--exclude-ops", "Foo"), 2,
        "the model has no 'Foo' node; its op types are"),
    Row("bench-shape-with-batch", ("bench", "{model}", "--shape", "1,3,16,16", "--batch", "4", "-o", "{out}"), 2,
        "fixes the batch at 1, but --batch 4"),
    Row("data-dir-missing", ("eval", "{model}", "--data", "cifar10", "--data-dir", "{tmp}/nonexistent"), 2,
        "--data-dir '{tmp}/nonexistent' does not exist"),
    Row("devices-config-missing", ("sweep", "{tmp}/sweep.toml", "--devices-config", "{tmp}/none.toml"), 2,
        "--devices-config '{tmp}/none.toml' does not exist"),
    Row("latency-table-rounds-zero", ("latency-table", "-o", "{out}/t.json", "--probes", "{tmp}", "--rounds", "0"), 2,
        "--rounds 0 must be >= 1"),
    Row("device-add-bad-host", ("device", "add", "pi", "ssh://pi@host;rm -rf x", "--config", "{out}/d.toml"), 2,
        "is not a host name or IP address"),
    Row("npz-not-a-zip", ("eval", "{model}", "--data", "{pk_npz}"), 2, "is not an .npz"),
    Row("npz-empty", ("eval", "{model}", "--data", "{empty_npz}"), 2, "expected at least one image"),
    Row("image-bomb", ("eval", "{model}", "--data", "{bomb_folder}"), 2, "decompression bomb"),
    Row("weights-not-a-checkpoint", ("export", "resnet20", "-w", "{text_weights}", "-o", "{out}"), 2,
        "is not a readable PyTorch checkpoint"),
    Row("devices-url-not-a-string", ("device", "list", "--config", "{devices_url_int}"), 2, "is not a string"),
    Row("devices-file-is-a-folder", ("device", "add", "pi4", "ssh://pi@host", "--config", "{tmp}"), 2, "is a folder"),
    Row("output-file-is-a-folder", ("profile", "{model}", "--trace", "{json_folder}", "-o", "{out}", "--runs", "1",
                                    "--warmup", "0", "--min-seconds", "0"), 2, "is a folder, not a file"),
    Row("result-deeply-nested", ("compare", "{deep_result}", "-o", "{out}"), 2, "nests deeper than 64 levels"),
    Row("result-p50-zero", ("recommend", "{p50_zero}"), 2, "must be a finite number > 0"),
    Row("probes-not-onnx", ("latency-table", "--probes", "{probes_pack}", "--precision", "fp32", "-o", "{out}/t.json"),
        2, "must be the name of an .onnx file"),
    Row("model-string-input", ("bench", "{string_model}", "-o", "{out}", *QUICK), 2, "is tensor(string)"),
    Row("batch-too-large", ("bench", "{model}", "-b", "100000000", "-o", "{out}"), 2, "above the largest batch"),
    Row("sweep-not-utf8", ("sweep", "{sweeps}/latin1.toml", "-o", "{out}"), 2, "is not UTF-8 text"),
    Row("sweep-ray-timeout-nan", ("sweep", "{sweeps}/ok.toml", "-o", "{out}", "--ray-timeout", "nan"), 2,
        "--ray-timeout nan is not a finite number"),
    Row("sweep-threads-oversubscribed", ("sweep", "{sweeps}/threads.toml", "-o", "{out}"), 2,
        "--allow-oversubscribe"),
    Row("sweep-batch-too-large", ("sweep", "{sweeps}/batch.toml", "-o", "{out}"), 2,
        "[bench] batch 100000000 is above the largest batch"),
    Row("sweep-grid-needs-yes", ("sweep", "{sweeps}/grid.toml", "-o", "{out}"), 2, "the grid has 501 cells"),
    Row("manifest-parent-mismatch", ("bench", "{parent_mismatch}/model.int8.onnx", "-r", "torch-int8", "-o", "{out}",
                                     *QUICK), 2, "was made from another model"),
    Row("manifest-parent-outside", ("bench", "{parent_outside}/model.int8.onnx", "-r", "torch-int8", "-o", "{out}",
                                    *QUICK), 2, "points outside the model folder"),
    Row("probes-outside-pack", ("latency-table", "--probes", "{probes_outside}", "--precision", "int8", "-o",
                                "{out}/t.json"), 2, "beside probes.json"),
    Row("manifest-resize-huge", ("eval", "{bad_resize}", "--data", "{images}"), 2,
        "field 'input.preprocessing.resize' is 100000; allowed: an integer from 1 to 4096"),
    Row("manifest-std-nan", ("bench", "{bad_std}", "-o", "{out}", *QUICK), 2,
        "field 'input.preprocessing.std' is [NaN, 1, 1]"),
    Row("manifest-interpolation", ("eval", "{bad_interpolation}", "--data", "{images}"), 2,
        "field 'input.preprocessing.interpolation' is \"magic\"; allowed: one of bilinear"),
    Row("manifest-num-classes", ("eval", "{bad_classes}", "--data", "{images}"), 2, "field 'num_classes' is -3"),
    Row("manifest-shape", ("bench", "{bad_shape}", "-o", "{out}", *QUICK), 2, "field 'input.shape' is \"1x3x16x16\""),
    Row("convert-litert-described", ("convert", "{described}", "-r", "litert", "-o", "{out}"), 2,
        "has none (a described third-party ONNX"),
    Row("eval-detector-without-data", ("eval", "{det_model}"), 2, "is a detector: give --data DIR"),
    Row("eval-detection-box-outside", ("eval", "{det_model}", "--data", "{det_data}"), 2,
        "has box [30, 0, 10, 10] outside its 32x32 image"),
    Row("eval-detection-missing-image", ("eval", "{det_model}", "--data", "{det_data}/images", "--annotations",
                                         "{det_data}/missing.json"), 2, "image 'gone.png' is missing"),
    Row("eval-detection-malformed-json", ("eval", "{det_model}", "--data", "{det_data}/images", "--annotations",
                                          "{tmp}/notes.onnx"), 2, "not valid JSON"),
    Row("eval-annotations-for-classifier", ("eval", "{model}", "--data", "{images}", "--annotations",
                                            "{det_data}/instances.json"), 2, "--annotations is for detection models"),
    Row("quantize-detector-budget-bad-annotations", ("quantize", "{det_model}", "--data", "{det_data}/images",
                                                     "--accuracy-budget", "1", "--eval-data", "{det_data}"), 2,
        "has box [30, 0, 10, 10] outside its 32x32 image"),
    Row("eval-label-out-of-range", ("eval", "{model}", "--data", "{labels_12}"), 2,
        "has label 12, out of range for the model's 10 outputs"),
    Row("eval-labels-file-not-a-folder", ("eval", "{model}", "--data", "{images}", "--labels-file", "{tmp}/gt.txt"),
        2, "--labels-file applies to an image folder"),
    Row("cpus-not-here", ("bench", "{model}", "--cpus", "99", "-o", "{out}"), 2, "CPU 99 does not exist"),
    Row("cpus-backwards", ("bench", "{model}", "--cpus", "1-0", "-o", "{out}"), 2, "the range 1-0 runs backwards"),
    Row("cpus-not-a-number", ("bench", "{model}", "--cpus", "x", "-o", "{out}"), 2, "'x' is not a CPU number"),
    Row("precision-runtime-cannot-run", ("bench", "{model}", "-r", "ort-cpu", "--precision", "bf16", "-o", "{out}"), 2,
        "cannot run --precision bf16: ONNX Runtime's CPU provider has no bfloat16"),
    Row("precision-unknown", ("eval", "{model}", "--precision", "fp8", "--data", "{images}"), 2,
        "--precision 'fp8' is not one of fp32, bf16, fp16, int8; runtime 'ort-cpu' runs fp32, fp16, int8"),
    Row("scenario-unknown", ("bench", "{model}", "--scenario", "bogus", "-o", "{out}"), 2,
        "'bogus' is not one edgebench runs"),
    Row("scenario-streams-zero", ("bench", "{model}", "--scenario", "multi", "--streams", "0", "-o", "{out}"), 2,
        "--streams 0 must be an integer from 1"),
    Row("scenario-fps-negative", ("bench", "{model}", "--scenario", "multi", "--fps", "-1", "-o", "{out}"), 2,
        "--fps -1 is out of range: it must be a number > 0"),
    Row("scenario-streams-without-multi", ("bench", "{model}", "--streams", "2", "-o", "{out}"), 2,
        "an option of --scenario multi"),
    Row("scenario-refused-by-runtime", ("bench", "{model}", "-r", "timed-single-only", "--scenario", "multi", "-o",
                                        "{out}"), 2, "cannot run --scenario multi"),
    Row("until-stable-width", ("bench", "{model}", "--until-stable", "5", "-o", "{out}"), 2, "in (0, 1)"),
    Row("bench-sessions-zero", ("bench", "{model}", "--sessions", "0", "-o", "{out}"), 2,
        "--sessions is 0; give 1 to 10"),
    Row("bench-sessions-with-multi", ("bench", "{model}", "--sessions", "2", "--scenario", "multi", "--streams", "2",
                                      "-o", "{out}"), 2, "--scenario multi does not: drop --sessions"),
    Row("scenario-server-without-rate", ("bench", "{model}", "--scenario", "server", "-o", "{out}"), 2,
        "needs --qps"),
    Row("doctor-apply-without-output", ("doctor", "{model}", "--apply"), 2,
        "--apply writes the best model to a folder"),
    Row("doctor-try-without-data", ("doctor", "{model}", "--try"), 2, "give --data"),
    Row("doctor-other-runtime", ("doctor", "{model}", "-r", "openvino"), 2, "use -r ort-cpu"),
    Row("doctor-not-int8", ("doctor", "{model}"), 2, "has no quantized op (QuantizeLinear, QLinearConv"),
    Row("run-jobs-other-version", ("run-jobs", "{jobs_v99}", "-o", "{out}"), 2, "this edgebench reads version 1"),
    Row("bench-seed-negative", ("bench", "{model}", "--seed", "-1", "-o", "{out}"), 2, "seed (--seed) is -1"),
    Row("run-eval-other-version", ("run-eval", "{eval_v99}"), 2, "of edgebench.eval; this edgebench reads version 1"),
    Row("option-not-a-number", ("describe", "{model}", "--scale", "abc"), 2,
        "Invalid value for '--scale': Input should be a valid number"),
    Row("unknown-option", ("bench", "{model}", "-x", "1"), 2, "No such option: -x"),
    Row("missing-argument", ("bench",), 2, "Missing argument 'model'. (see 'edgebench bench -h')"),
    Row("unknown-command", ("benchmark", "{model}"), 2, "No such command 'benchmark'."),
    Row("eval-threads-zero", ("eval", "{model}", "-t", "0", "-n", "2"), 2, "--threads 0 must be >= 1"),
    Row("run-doctor-other-version", ("run-doctor", "{doctor_v99}", "-o", "{out}"), 2,
        "of edgebench.doctor; this edgebench reads version 1"),
    Row("describe-resize-mode-unknown", ("describe", "{model}", "--task", "detection", "--preprocessing", "unit",
                                         "--resize-mode", "letterbx"), 2,
        "--resize-mode 'letterbx' is not one of stretch, letterbox. Did you mean 'letterbox'?"),
    Row("describe-resize-mode-classifier", ("describe", "{model}", "--preprocessing", "unit", "--resize-mode",
                                            "letterbox"), 2, "--resize-mode letterbox is for detectors"),
]
NEEDS_EXPORT_EXTRA = {"quantize-nan-weights", "quantize-model-ort-cannot-run", "quantize-unknown-exclude-node",
                      "sensitivity-target-macs",
                      "model-typo", "prune-latency-rounds", "prune-latency-no-onnx", "export-output-cannot-be-made",
                      "qat-empty-data", "qat-unlabelled-data", "sparsify-batch-size-zero",
                      "quantize-output-cannot-be-made", "train-output-cannot-be-made",
                      "sensitivity-output-cannot-be-made", "prune-output-cannot-be-made",
                      "export-accuracy-images-negative", "quantize-budget-unlabelled", "sweep-bits-unlabelled",
                      "quantize-unknown-exclude-op", "weights-not-a-checkpoint", "manifest-parent-mismatch",
                      "manifest-parent-outside", "quantize-detector-accuracy-budget"}


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, str]:
    import pickle

    from edgebench.manifest import InputInfo, Manifest
    from edgebench.tools.synthetic import conv_net

    tmp = tmp_path / "in"
    tmp.mkdir()
    (tmp / "notes.onnx").write_text("hello, I am a text file\n")
    model = conv_net(tmp / "tiny" / "model.fp32.onnx")
    for name, change in (("tampered", True), ("tampered_ok", False)):
        d = tmp / name
        path = conv_net(d / "model.fp32.onnx")
        m = Manifest(name=name, input=InputInfo("input", ("batch", 3, 16, 16))).with_file(path)
        (d / "model.fp32.json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
        if change:
            conv_net(path, seed=1)
    m = Manifest(name="tiny", input=InputInfo("input", ("batch", 3, 16, 16))).with_file(model)
    (model.parent / "model.fp32.json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
    images = tmp / "imgs.npz"
    np.savez(images, images=np.zeros((4, 16, 16, 3), np.uint8), labels=np.arange(4))
    archive_dir = tmp / "data"
    archive_dir.mkdir()
    _crafted_archive(archive_dir / "cifar-10-python.tar.gz", pickle.dumps({b"data": _Pwn(tmp / "pwned")}))
    out = {"tmp": str(tmp), "model": str(model), "tampered": str(tmp / "tampered"),
           "tampered_ok": str(tmp / "tampered_ok"), "out": str(tmp_path / "out" / "deeper"), "images": str(images),
           "archive_dir": str(archive_dir), "nan": str(_nan_model(tmp / "nan")),
           "unrunnable": str(_unrunnable_model(tmp / "unrunnable")),
           "flat": str(_flat_folder(tmp / "flat")),
           "r20": str(_resnet20_weights(tmp / "r20.pt")),
           "pk_npz": str(bad.not_a_zip_npz(tmp)),
           "empty_npz": str(bad.empty_npz(tmp)),
           "bomb_folder": str(bad.bomb_folder(tmp)),
           "text_weights": str(bad.text_weights(tmp)),
           "devices_url_int": str(bad.devices_url_int(tmp)),
           "deep_result": str(bad.deep_json(tmp / "deep")),
           "p50_zero": str(bad.result_with_p50_zero(tmp)),
           "probes_pack": str(bad.probes_pack(tmp)),
           "string_model": str(bad.string_input_model(tmp)),
           }
    out["negative_labels"] = str(tmp / "neg.npz")
    np.savez(tmp / "neg.npz", images=np.zeros((4, 16, 16, 3), np.uint8), labels=np.array([-3, 0, 1, 2]))
    out["bad_results"] = str(_negative_p50_results(tmp / "results"))
    out["mixed_results"] = str(_mixed_task_results(tmp / "mixed"))
    out["json_folder"] = str(tmp / "folder.json")  # a folder named like a file
    (tmp / "folder.json").mkdir()
    out["sweeps"] = str(_sweep_files(tmp / "sweeps", model.parent, images))
    out |= _read_back_cases(tmp)
    out["described"] = str(_described(tmp / "thirdparty" / "net.onnx"))
    out["det_model"] = str(_grid_detector(tmp / "det"))
    out["det_data"] = str(_bad_detection_data(tmp / "detdata"))
    out["labels_12"] = str(tmp / "labels12.npz")
    np.savez(tmp / "labels12.npz", images=np.zeros((4, 16, 16, 3), np.uint8), labels=np.array([0, 1, 2, 12]))
    out["jobs_v99"] = str(tmp / "jobs99.json")
    (tmp / "jobs99.json").write_text('{"format": "edgebench.jobs", "version": 99, "jobs": []}')
    out["eval_v99"] = str(tmp / "eval99.json")
    (tmp / "eval99.json").write_text('{"format": "edgebench.eval", "version": 99, "model": "m.onnx"}')
    out["doctor_v99"] = str(tmp / "doctor99.json")
    (tmp / "doctor99.json").write_text('{"format": "edgebench.doctor", "version": 99, "fp32": "m.onnx"}')
    return out


def _mixed_task_results(d: Path) -> Path:
    """A classifier's and a detector's bench results with their accuracies (top-1, mAP)."""
    from tests.bench.result_factory import X86, detector_result, result, write

    write(d, [result(X86, top1=91.5), detector_result(X86, map_pct=30.0)])
    return d


def _grid_detector(d: Path) -> Path:
    """A FastestDet-layout detector with its manifest (task: detection)."""
    from edgebench.tools.synthetic import grid_detector

    return grid_detector(d / "model.fp32.onnx", np.zeros((7, 2, 2), np.float32), size=32)


def _bad_detection_data(d: Path) -> Path:
    """DIR/images + DIR/instances.json whose box overhangs its 32x32 image; DIR/missing.json names an absent image."""
    from PIL import Image

    (d / "images").mkdir(parents=True)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(d / "images" / "a.png")
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": 32, "height": 32}],
           "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [30, 0, 10, 10]}]}
    (d / "instances.json").write_text(json.dumps(doc))
    doc["images"][0]["file_name"] = "gone.png"
    doc["annotations"] = []
    (d / "missing.json").write_text(json.dumps(doc))
    return d


def _flat_folder(d: Path) -> Path:
    """Images without class sub-folders (they load with label -1: fine for calibration, not for accuracy)."""
    from PIL import Image

    d.mkdir()
    for i in range(2):
        Image.fromarray(np.full((32, 32, 3), 40 * i, np.uint8)).save(d / f"{i}.png")
    return d


def _resnet20_weights(path: Path) -> Path:
    """A ResNet-20 state dict (random weights, given as trained); needs torch (else only the name)."""
    try:
        import torch
    except ImportError:
        return path
    from edgebench.exporter.zoo import get_spec

    torch.save(get_spec("resnet20").build().state_dict(), path)
    return path


def _negative_p50_results(d: Path) -> Path:
    """Two result files of one machine, the INT8 one with p50 -5 ms (edited or damaged)."""
    from tests.bench.result_factory import X86, result, write

    write(d, [result(X86, p50=2.0, top1=91.5), result(X86, precision="int8", p50=-5.0, top1=91.4)])
    return d


class _Pwn:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        import os

        return (os.system, (f"touch {self.marker}",))


def _crafted_archive(path: Path, payload: bytes) -> Path:
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return path


def _edited_model(d: Path, edit: Callable[[Any], None]) -> Path:
    """A model folder (onnx + manifest) of the tiny conv net with `edit(proto)` applied to its graph; needs `onnx`
    (else a placeholder)."""
    from edgebench.manifest import InputInfo, Manifest
    from edgebench.tools.synthetic import conv_net

    path = conv_net(d / "model.fp32.onnx")
    try:
        import onnx
    except ImportError:
        return d
    proto = onnx.load(path)
    edit(proto)
    onnx.save(proto, path)
    m = Manifest(name=d.name, input=InputInfo("input", ("batch", 3, 16, 16))).with_file(path)
    (d / "model.fp32.json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
    return d


def _unrunnable_model(d: Path) -> Path:
    """Its output reshaped to [5, 7]: ORT loads it (the batch is dynamic) but no batch of [N, 10] logits has 35
    values, so running it fails."""

    def edit(proto: Any) -> None:
        from onnx import TensorProto, helper, numpy_helper

        out = proto.graph.output[0]
        proto.graph.initializer.append(numpy_helper.from_array(np.array([5, 7], np.int64), "bad_shape"))
        proto.graph.node.append(helper.make_node("Reshape", [out.name, "bad_shape"], ["reshaped"]))
        proto.graph.output.pop()
        proto.graph.output.append(helper.make_tensor_value_info("reshaped", TensorProto.FLOAT, [5, 7]))

    return _edited_model(d, edit)


def _nan_model(d: Path) -> Path:
    """Its first conv weight is NaN."""

    def edit(proto: Any) -> None:
        from onnx import numpy_helper

        w = proto.graph.initializer[0]
        arr = numpy_helper.to_array(w).copy()
        arr[0, 0, 0, 0] = np.nan
        w.CopyFrom(numpy_helper.from_array(arr, w.name))

    return _edited_model(d, edit)


def _sweep_files(d: Path, model: Path, images: Path) -> Path:
    """Sweep files for the sweep rows: ok.toml (valid, 1 cell) and one bad variant of it per row."""
    d.mkdir()

    def toml(threads: str = "[1]", batch: str = "[1]") -> str:
        return (f"models = [{json.dumps(str(model))}]\n[eval]\ndata = {json.dumps(str(images))}\n"
                f"[bench]\nthreads = {threads}\nbatch = {batch}\n")

    (d / "ok.toml").write_text(toml(), encoding="utf-8")
    (d / "latin1.toml").write_bytes(('name = "caf\u00e9"\n' + toml()).encode("latin-1"))
    (d / "threads.toml").write_text(toml(threads="[10000]"), encoding="utf-8")
    (d / "batch.toml").write_text(toml(batch="[100000000]"), encoding="utf-8")
    (d / "grid.toml").write_text(toml(batch=str(list(range(1, 502)))), encoding="utf-8")
    return d


def _described(path: Path) -> Path:
    """A third-party ONNX with the manifest `edgebench describe` writes (provenance 'described', no 'arch')."""
    from edgebench.manifest import InputInfo, Manifest
    from edgebench.tools.synthetic import conv_net

    conv_net(path)
    m = Manifest(name="net", input=InputInfo("input", ("batch", 3, 16, 16)),
                 provenance={"source": "described"}).with_file(path)
    path.with_suffix(".json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
    return path


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("row", [pytest.param(r, id=r.id, marks=[pytest.mark.torch] if r.id in NEEDS_EXPORT_EXTRA
                                              else []) for r in ROWS])
def test_bad_input(row: Row, paths: dict[str, str], tmp_path: Path) -> None:
    before = _snapshot(tmp_path)
    r = CliRunner().invoke(app, [a.format(**paths) for a in row.args])
    assert r.exit_code == row.code, (r.exit_code, r.stderr, r.stdout)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith(("note:", "warning:"))]
    assert len(lines) == 1 and lines[0].startswith("edgebench: error:"), r.stderr
    assert row.message.format(**paths) in lines[0], lines[0]
    assert "Traceback" not in r.stderr + r.stdout
    assert _snapshot(tmp_path) == before, "a refused command wrote or left something"
    assert not Path(paths["tmp"], "pwned").exists()


def test_table_matches_the_doc() -> None:
    doc = (REPO / "docs" / "errors.md").read_text(encoding="utf-8")
    ids = re.findall(r"^\| `([a-z0-9-]+)` \|", doc, flags=re.M)
    assert ids == [r.id for r in ROWS]


def _read_back_cases(tmp: Path) -> dict[str, str]:
    """Folders whose manifests (or probe pack) edgebench must not trust (issue #23): a parent of another model
    or outside the folder, a probe pack naming a model outside it, and manifest values out of bounds."""
    from edgebench.latency_table import structure_hash
    from edgebench.manifest import InputInfo, Manifest
    from edgebench.tools.synthetic import conv_net

    def folder(name: str, parent_file: str = "model.fp32.onnx", parent_sha: str | None = None) -> Path:
        d = tmp / name
        fp32 = conv_net(d / "model.fp32.onnx")
        m = Manifest(name=name, arch="conv_net", input=InputInfo("input", ("batch", 3, 16, 16))).with_file(fp32)
        (d / "model.fp32.json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
        int8 = conv_net(d / "model.int8.onnx", seed=1)
        child = m.derive(precision="int8", onnx_file=int8.name, parent_file=parent_file,
                         parent_sha256=parent_sha or m.onnx_sha256).with_file(int8)
        (d / "model.int8.json").write_text(json.dumps(child.to_dict()), encoding="utf-8")
        return d

    other = folder("other56")
    out = {"parent_mismatch": folder("mismatch", parent_sha="0" * 64),  # the FP32 re-exported since
           "parent_outside": folder("outside", "../other56/model.fp32.onnx",
                                    json.loads((other / "model.fp32.json").read_text())["onnx_sha256"])}
    pack = tmp / "pack"
    pack.mkdir()
    (pack / "probes.json").write_text(json.dumps({
        "schema_version": 1, "kind": "edgebench.latency-probes",
        "model": {"arch": "conv_net", "hash": structure_hash([], None)},
        "units": [], "precision": "int8", "model_file": "../other56/model.fp32.onnx"}), encoding="utf-8")
    out["probes_outside"] = pack
    bad = {"bad_resize": ("preprocessing", "resize", 100000), "bad_std": ("preprocessing", "std", [float("nan"), 1, 1]),
           "bad_interpolation": ("preprocessing", "interpolation", "magic"), "bad_classes": (None, "num_classes", -3),
           "bad_shape": ("input", "shape", "1x3x16x16")}
    for key, (block, field, value) in bad.items():
        d = folder(key)
        m = json.loads((d / "model.fp32.json").read_text())
        target = m["input"]["preprocessing"] if block == "preprocessing" else m["input"] if block == "input" else m
        target[field] = value
        (d / "model.fp32.json").write_text(json.dumps(m), encoding="utf-8")
        out[key] = d
    return {k: str(v) for k, v in out.items()}




@pytest.fixture(autouse=True, scope="module")
def _timed_runtimes() -> Iterator[None]:
    """The sleep-based test runtimes (tools/synthetic.py) of the scenario-refused-by-runtime row, this module only."""
    with timed_runtimes():
        yield
