"""`edgebench eval`: top-1/top-5 of an ONNX model on a labelled dataset, through a runtime (torch-free)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from edgebench.cli.common import (
    LabelsFileOpt,
    LabelsOpt,
    artifact_with_manifest,
    no_verify_option,
    preprocessing_choice,
    resolve_model,
    with_preprocessing_options,
)
from edgebench.cli.options import existing_dir
from edgebench.cli.root import app

if TYPE_CHECKING:
    from edgebench.bench.eval_run import EvalOutcome
    from edgebench.devices.jobs import EvalRequest

MEASURED = {"probabilities": "argmax/top-5 of the final Softmax's probabilities (same as on logits)",
            "log-probabilities": "argmax/top-5 of the log-probabilities (same as on logits)",
            "scores": "argmax/top-5 of the Sigmoid scores"}


@app.command(name="eval")
@with_preprocessing_options
def eval_cmd(
    model: Path = typer.Argument(..., help="An .onnx file with its manifest, or a model folder."),
    data: str = typer.Option("cifar10", "--data", "-d",
                             help="cifar10[:test|:train], an .npz (images, labels) or an image folder: class "
                                  "sub-folders (names or wnids), or flat with a labels file (--labels-file)."),
    annotations: Path | None = typer.Option(None, "--annotations",
                                            help="Detection only: a COCO .json or a folder of YOLO .txt labels for "
                                                 "the image folder given as --data."),
    limit: int | None = typer.Option(None, "--limit", "-n", help="Evaluate the first N images only."),
    runtime: str = typer.Option("ort-cpu", "--runtime", "-r", help="Runtime name (see `edgebench runtimes`)."),
    precision: str | None = typer.Option(None, "--precision",
                                         help="fp32|bf16|fp16|int8: the folder's model for this runtime, or the "
                                              "FP32 model in reduced float arithmetic (as bench --precision); with "
                                              "--baseline, the baseline runs at the runtime's FP32."),
    threads: int | None = typer.Option(None, "--threads", "-t", help="Intra-op threads. Default: usable cores."),
    allow_oversubscribe: bool = typer.Option(False, "--allow-oversubscribe",
                                             help="Allow more than 4 threads per logical core."),
    batch_size: int = typer.Option(100, "--batch-size", help="Images per run (a fixed-batch model uses its own)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", callback=existing_dir,
                                         help="Folder with the dataset (else EDGEBENCH_DATA)."),
    download: bool = typer.Option(True, "--download/--no-download",
                                  help="Download CIFAR-10 (with its checksum) when no local copy exists."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (without the per-image predictions)."),
    baseline: Path | None = typer.Option(None, "--baseline", "-b",
                                         help="Another model (e.g. the FP32 parent) evaluated on the same images: "
                                              "prints both and the paired figures (agreement, flips each way)."),
    no_verify: bool = no_verify_option(),
    arithmetic: str = typer.Option("auto", "--arithmetic",
                                   help="INT8 arithmetic: host (this CPU's ORT integer kernels), qdq (the QDQ graph "
                                        "unfused: what the ONNX graph specifies, i.e. what the device computes) or "
                                        "auto (qdq where this CPU's kernels saturate, e.g. U8S8 on x86 without "
                                        "VNNI). See docs/int8-arithmetic.md."),
    as_target: bool = typer.Option(False, "--as-target",
                                   help="Shortcut for --arithmetic qdq: the accuracy the target device computes."),
    on: str | None = typer.Option(None, "--on", metavar="DEVICE[,DEVICE...]",
                                  help="Evaluate there over SSH (`edgebench device add`); local files are pushed."),
    labels: LabelsOpt = None,
    labels_file: LabelsFileOpt = None,
    **pp: Any,
) -> None:
    """Accuracy of a model on a labelled dataset, preprocessed as its manifest says (a model without one takes
    the preprocessing options, as `edgebench describe`)."""
    from edgebench.bench.eval_run import EvalConfig
    from edgebench.devices.jobs import EvalPreprocessing, EvalRequest

    request = EvalRequest(
        model=str(model), precision=precision, baseline=str(baseline) if baseline is not None else None,
        no_verify=no_verify, allow_oversubscribe=allow_oversubscribe,
        config=EvalConfig(data=data, annotations=annotations, limit=limit, runtime=runtime, threads=threads,
                          batch_size=batch_size, data_dir=data_dir, download=download, arithmetic=arithmetic,
                          as_target=as_target, labels_file=labels_file),
        preprocessing=EvalPreprocessing.of(preset=pp.get("preprocessing"), labels=labels,
                                        **{k: v for k, v in pp.items() if k != "preprocessing"}))
    if on is not None:  # the same request evaluated on each device (edgebench.devices)
        eval_on_devices(on, request, as_json=as_json)
        return
    outcome = evaluate_request(request)
    PRINTERS[outcome.kind](outcome.result, as_json)


def evaluate_request(request: EvalRequest) -> EvalOutcome:
    """Evaluate `request` on this machine: a local `eval` and the device side of `eval --on` (`run-eval`)."""
    from dataclasses import replace

    from edgebench.bench.eval_run import run_eval
    from edgebench.cli.options import check_threads
    from edgebench.runtimes.artifacts import resolve_precision

    cfg, pre = request.config, request.preprocessing
    # bf16/fp16: the options that select them
    model, options = resolve_precision(Path(request.model), cfg.runtime, request.precision)
    cfg = replace(cfg, runtime_options=options)
    if cfg.threads is not None:
        check_threads([cfg.threads], allow_oversubscribe=request.allow_oversubscribe)
    choice = preprocessing_choice(**pre.options())
    baseline = Path(request.baseline) if request.baseline is not None else None
    artifact, baseline, base_manifest = _models(model, baseline, cfg.runtime, choice, pre.labels, request.no_verify)
    return run_eval(cfg, artifact, baseline, base_manifest)


def _models(model: Path, baseline: Path | None, runtime: str, choice: Any, labels: str | None,
            no_verify: bool) -> tuple[Any, Path | None, Any]:
    """The model's artifact (its manifest described in memory from the preprocessing options when it has none),
    the baseline's file for this runtime and its in-memory manifest when it needs one; both verified by hash."""
    if baseline is not None:  # a folder as baseline: the FP32 model this runtime reads (ncnn, litert: their own)
        from edgebench.runtimes.artifacts import resolve_for_runtime

        baseline = resolve_for_runtime(baseline, runtime, None)
    for m in (model, baseline):
        if m is not None:
            resolve_model(m, no_verify=no_verify)
    artifact = artifact_with_manifest(model, choice, labels, "evaluating")
    base = artifact_with_manifest(baseline, choice, labels, "evaluating") if (
        baseline is not None and choice.given and _has_no_manifest(baseline)) else None
    return artifact, baseline, base.manifest if base else None


def _has_no_manifest(model: Path) -> bool:
    from edgebench.artifact import ModelArtifact

    return ModelArtifact.resolve(model).manifest is None


def _classification_lines(r: dict[str, Any]) -> list[str]:
    head = (f"{Path(r['model']).name}: top-1 {r['top1_pct']:.2f} %  top-5 {r['top5_pct']:.2f} %  "
            f"on {r['n']} images of {r['dataset']} ({r['runtime']}{_ran(r)}, {r['threads']} threads, "
            f"{r['arithmetic']}, "
            f"{r['seconds']:.1f} s)")
    return [head, f"measured {MEASURED[r['output_kind']]}"] if r.get("output_kind") in MEASURED else [head]


def _detection_lines(r: dict[str, Any]) -> list[str]:
    """`eval` of a detector: COCO mAP."""
    return [f"{Path(r['model']).name}: mAP@0.5:0.95 {r['map_pct']:.2f}  mAP@0.5 {r['map50_pct']:.2f}  on "
            f"{r['n']} images of {r['dataset']} ({r['gt_boxes']} boxes; {r['runtime']}, {r['threads']} "
            f"threads, {r['arithmetic']}, {r['seconds']:.1f} s)"]


def _ran(r: dict[str, Any]) -> str:
    """' ran bf16' where the runtime reported its execution precision."""
    return f" ran {r['execution_precision']}" if r.get("execution_precision") else ""


def _warn(r: dict[str, Any]) -> None:
    for w in r.get("warnings", []):
        typer.echo(f"warning: {Path(r['model']).name}: {w}", err=True)


def _public(r: dict[str, Any]) -> dict[str, Any]:
    """An evaluation without its per-image predictions (what --json prints)."""
    return {k: v for k, v in r.items() if k != "predictions"}


def _pair_lines(r: dict[str, Any], model_line: Callable[[dict[str, Any]], str],
                paired_line: Callable[[dict[str, Any]], str]) -> list[str]:
    """`eval --baseline`: the 'on N images' line, each model's `model_line` and the `paired_line` of the
    comparison."""
    m, b, p = r["model"], r["baseline"], r["paired"]
    return [f"on {p['n']} images of {m['dataset']} ({m['runtime']}, {m['threads']} threads)",
            *(f"{tag:9s} {model_line(x)}" for tag, x in (("model", m), ("baseline", b))), paired_line(p)]


def _classification_model(x: dict[str, Any]) -> str:
    return (f"{Path(x['model']).name}{_ran(x)}: top-1 {x['top1_pct']:.2f} %  top-5 {x['top5_pct']:.2f} %  "
            f"({x['arithmetic']})")


def _classification_paired(p: dict[str, Any]) -> str:
    lo, hi = p["top1_delta_ci95_pts"]
    return (f"paired    top-1 {p['top1_delta_pts']:+.2f} points (95 % CI {lo:+.2f} to {hi:+.2f}); "
            f"agreement {p['agreement_pct']:.2f} % "
            f"({p['agree']}/{p['n']}); flipped to correct {p['flipped_to_correct']}, "
            f"to wrong {p['flipped_to_wrong']}, changed but both wrong {p['changed_both_wrong']}")


def _detection_model(x: dict[str, Any]) -> str:
    return (f"{Path(x['model']).name}: mAP@0.5:0.95 {x['map_pct']:.2f}  mAP@0.5 {x['map50_pct']:.2f}  "
            f"({x['arithmetic']})")


def _detection_paired(p: dict[str, Any]) -> str:
    """The paired block of two detectors: mAP deltas and box agreement."""
    return (f"paired    mAP {p['map_delta_pts']:+.2f} points, mAP@0.5 {p['map50_delta_pts']:+.2f}; box agreement "
            f"{p['box_agreement_pct']:.1f} % ({p['matched_boxes']}/{p['baseline_boxes']} baseline boxes with score "
            f">= {p['score_threshold']}, same class at IoU >= {p['iou_threshold']})")


# what eval prints of each kind of evaluation (`EvalOutcome.kind`), here and for each device of `eval --on`
LINES: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "classification": _classification_lines,
    "classification-paired": partial(_pair_lines, model_line=_classification_model,
                                     paired_line=_classification_paired),
    "detection": _detection_lines,
    "detection-paired": partial(_pair_lines, model_line=_detection_model, paired_line=_detection_paired)}


def result_kind(r: dict[str, Any]) -> str:
    """The kind (a key of LINES) of an evaluation as `eval --json` prints it (a device's `run-eval` output)."""
    paired = isinstance(r.get("model"), dict)  # paired: {"model": {...}, "baseline": {...}, "paired": {...}}
    task = (r["model"] if paired else r).get("task") or "classification"
    return f"{task}-paired" if paired else str(task)


def _print(r: dict[str, Any], as_json: bool, kind: str) -> None:
    """One evaluation: each model's warnings, then the JSON (--json; without the per-image predictions) or its
    LINES."""
    paired = kind.endswith("-paired")
    for x in (r["model"], r["baseline"]) if paired else (r,):
        _warn(x)
    if as_json:
        shown = {"model": _public(r["model"]), "baseline": _public(r["baseline"]), "paired": r["paired"]} \
            if paired else _public(r)
        typer.echo(json.dumps(shown, indent=2))
        return
    for line in LINES[kind](r):
        typer.echo(line)


PRINTERS: dict[str, Callable[[dict[str, Any], bool], None]] = {kind: partial(_print, kind=kind) for kind in LINES}


def eval_on_devices(on: str, request: EvalRequest, *, as_json: bool = False) -> None:
    """The `--on` branch of eval: send `request` to the devices (`devices.remote.run_jobs_on`, as bench's job
    batches), show each's figures as a local eval prints them (`LINES`), each line after the
    device's name. A detector's data is read here first (its annotations checked before anything is pushed), and
    each device must have scored the same images and boxes (`dataset_sha256`)."""
    from edgebench.devices.remote import run_jobs_on
    from edgebench.errors import DeviceError

    here = _detection_data_here(request)
    out = {r.device.name: r.outputs[0] for r in run_jobs_on(on, [request], None) if r.outputs}
    for dev, r in out.items():
        there = (r["model"] if isinstance(r.get("model"), dict) else r).get("dataset_sha256")
        if here is not None and there != here:
            raise DeviceError(f"device '{dev}' scored another dataset ({str(there)[:12]}...) than --data here "
                              f"({here[:12]}...): run the same edgebench on both sides (edgebench device setup {dev})")
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    for dev, r in out.items():
        for line in LINES[result_kind(r)](r):
            typer.echo(f"[{dev}] {line}")


def _detection_data_here(request: EvalRequest) -> str | None:
    """For a detector, its dataset read here as the device will (one line, exit 2, when it cannot be): the
    fingerprint of its images and boxes; None for a classifier."""
    from edgebench.artifact import ModelArtifact
    from edgebench.calibration.evaluate_detection import load_detection
    from edgebench.task import DETECTION

    manifest = ModelArtifact.resolve(Path(request.model)).manifest
    if manifest is None or manifest.task != DETECTION:
        return None
    c = request.config
    return str(load_detection(c.data, c.annotations, c.limit).fingerprint())


@app.command("run-eval", hidden=True)
def run_eval_cmd(request_file: Path = typer.Argument(..., help="A JSON eval request (edgebench.eval) written by "
                                                                  "`eval --on`.")) -> None:
    """The device side of `eval --on`: check the pushed data against the request's hashes, evaluate the request
    in REQUEST_FILE here, as a local `eval`, and print what `eval --json` prints."""
    from edgebench.devices.jobs import read_eval_request

    request = read_eval_request(request_file)
    request.verify_data()  # the pushed data files hash to what the workstation sent, before they are read
    outcome = evaluate_request(request)
    PRINTERS[outcome.kind](outcome.result, True)
