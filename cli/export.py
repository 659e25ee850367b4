"""`edgebench export` (PyTorch -> ONNX + manifest) and `edgebench models` (the zoo). torch loads lazily."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer
from edgebench.cli.root import app


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


def _resolve_spec(model: str | None, model_file: str | None, input_like: str | None) -> Any:
    from edgebench.errors import UserInputError
    from edgebench.exporter.zoo import get_spec, spec_from_model_file

    if model and model_file:
        raise UserInputError(f"give either MODEL ('{model}') or --model-file ('{model_file}'), not both")
    if model_file:
        return spec_from_model_file(model_file, input_like)
    if not model:
        raise UserInputError("give a MODEL name (see `edgebench models`) or --model-file path.py:factory")
    if input_like:
        raise UserInputError("--input-like only applies to --model-file")
    return get_spec(model)


def _parity_dataset(spec: Any, parity_data: str, data_dir: Path | None) -> Any:
    """The real images used for parity: 'auto' = the model's dataset when a local copy exists, 'none' = off."""
    from edgebench.calibration.datasets import load_dataset
    from edgebench.errors import CalibrationError

    if parity_data == "none":
        return None
    if parity_data == "auto":
        if spec.input.dataset != "cifar10":
            return None
        try:
            return load_dataset("cifar10:test", data_dir, download=False)
        except CalibrationError:
            _say("note: no local CIFAR-10 test images (--data-dir / EDGEBENCH_DATA); parity on random inputs only")
            return None
    return load_dataset(parity_data, data_dir, download=True)


def load_model_and_weights(spec: Any, weights: Path | None, *, num_classes: int | None, random_init: bool,
                           data_dir: Path | None, download: bool) -> tuple[Any, Any, dict[str, Any] | None]:
    """Build the model of `spec` and load `weights` (or the published weights); returns (model, spec, info)."""
    from edgebench.errors import UserInputError
    from edgebench.exporter.checkpoint import find_weights, load_weights

    spec = spec.for_classes(num_classes)
    model = spec.build(num_classes)
    if weights is not None and random_init:
        raise UserInputError("--weights and --random-init exclude each other")
    if weights is not None:
        from edgebench.exporter.pruned import load_pruned_for, looks_pruned

        if looks_pruned(weights):  # a pruned round folder or its .pt: rebuilt from structure.json
            pruned, info = load_pruned_for(spec.name, weights, num_classes)
            return pruned, spec, info
        sha = load_weights(model, weights, spec.name)
        return model, spec, {"source": "user", "file": Path(weights).name, "sha256": sha}
    if random_init:
        return model, spec, None
    if spec.weights is None:
        _say(f"warning: '{spec.name}' has no published weights and no --weights was given: exporting random "
             "weights (fine for latency, meaningless for accuracy); pass --random-init to silence this")
        return model, spec, None
    path = find_weights(spec.weights, data_dir, download=download)
    sha = load_weights(model, path, spec.name)
    return model, spec, {"source": "published", "file": spec.weights.file_name, "url": spec.weights.url,
                         "sha256": sha, "license": spec.weights.license}


def summary_lines(manifest: dict[str, Any], onnx_path: Path, seconds: float) -> list[str]:
    p = manifest["parity"]
    lines = [
        f"{manifest['name']} -> {onnx_path}",
        f"  params {manifest['params'] / 1e6:.3f} M, MACs {manifest['macs'] / 1e6:.1f} M, "
        f"file {manifest['file_size_mb']:.2f} MB, opset {manifest['opset']}, {manifest['exporter']} exporter, "
        f"batch {manifest['batch']}, onnxslim {'yes' if manifest['simplify']['applied'] else 'no'}",
        f"  parity: random max|diff| {p['random']['max_abs_diff']:.1e} (bound {p['random']['bound']:.1e})",
    ]
    if "real" in p:
        r = p["real"]
        lines[-1] += (f"; {r['n']} real images max|diff| {r['max_abs_diff']:.1e}, "
                      f"top-1 agreement {r['top1_agreement'] * 100:.1f} %")
    acc = manifest.get("fp32_accuracy")
    if acc:
        pub = manifest.get("published_top1_pct")
        lines.append(f"  top-1 (ONNX Runtime) {acc['top1_pct']:.2f} %, top-5 {acc['top5_pct']:.2f} % on {acc['n']} "
                     f"images of {acc['dataset']}" + (f" (published: {pub:.2f} % on the full test set)" if pub else ""))
    w = manifest.get("weights") or {}
    lines.append(f"  weights: {w.get('file', 'random init')} ({w.get('source', 'random-init')}); "
                 f"done in {seconds:.1f} s")
    return lines


@app.command()
def export(
    model: str | None = typer.Argument(None, help="Zoo name (see `edgebench models`) or tv:<torchvision name>."),
    weights: Path | None = typer.Option(None, "--weights", "-w",
                                        help="Checkpoint (.pt/.pth/.th state dict) or a pruned round "
                                             "(DIR/roundN or DIR/roundN/roundN.pt). Default: published weights."),
    model_file: str | None = typer.Option(None, "--model-file", help="Your own model: path.py:factory."),
    input_like: str | None = typer.Option(None, "--input-like",
                                          help="With --model-file: copy the input spec of this zoo model."),
    num_classes: int | None = typer.Option(None, "--num-classes", help="Classifier size, if not the zoo's."),
    random_init: bool = typer.Option(False, "--random-init", help="Export random weights on purpose."),
    opset: int | None = typer.Option(None, "--opset",
                                     help="ONNX opset: torchscript 9..20 (default 17), dynamo 18..23 (default 18)."),
    batch: str = typer.Option("dynamic", "--batch", "-b", help="'dynamic' or a fixed batch size."),
    exporter: str = typer.Option("torchscript", "--exporter", help="torchscript (default) or dynamo."),
    simplify: bool = typer.Option(True, "--simplify/--no-simplify", help="onnxslim, kept only if parity holds."),
    parity_data: str = typer.Option("auto", "--parity-data",
                                    help="Real images for parity: auto (the model's dataset if local), none, "
                                         "cifar10, a .npz or an image folder."),
    parity_images: int = typer.Option(256, "--parity-images", help="How many real images parity compares."),
    accuracy_images: int = typer.Option(1000, "--accuracy-images",
                                        help="ONNX top-1 on this many of the parity data's images (0: skip)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Folder with datasets and weights/."),
    download: bool = typer.Option(True, "--download/--no-download", help="Download published weights if absent."),
    output_dir: Path | None = typer.Option(None, "--output-dir", "-o", help="Default: artifacts/<model>."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing model.fp32.onnx."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest instead of the summary."),
) -> None:
    """Export a PyTorch model to DIR/model.fp32.onnx with its manifest, after checker and parity checks."""
    from edgebench.atomic import ensure_writable_dir
    from edgebench.errors import OutputExistsError, UserInputError
    from edgebench.exporter.export import ONNX_FILE, check_export_options, default_opset, export_model, parse_batch
    from edgebench.manifest import manifest_path

    t0 = time.perf_counter()
    opset = default_opset(exporter) if opset is None else opset
    check_export_options(exporter, opset)
    parse_batch(batch)
    if parity_images < 0:
        raise UserInputError(f"--parity-images {parity_images} must be >= 0")
    spec = _resolve_spec(model, model_file, input_like)
    out = output_dir or Path("artifacts") / spec.name.replace(":", "_")
    if not force:  # fail before the slow part
        for p in (out / ONNX_FILE, manifest_path(out / ONNX_FILE)):
            if p.exists():
                raise OutputExistsError(f"'{p}' already exists; pass --force to overwrite it")
    ensure_writable_dir(out)
    net, spec, winfo = load_model_and_weights(spec, weights, num_classes=num_classes, random_init=random_init,
                                              data_dir=data_dir, download=download)
    dataset = _parity_dataset(spec, parity_data, data_dir)
    manifest = export_model(net, spec, out, opset=opset, batch=batch, exporter=exporter, simplify=simplify,
                            parity_dataset=dataset, parity_images=parity_images, accuracy_images=accuracy_images,
                            force=force, weights=winfo,
                            log=None if as_json else _say)
    if as_json:
        typer.echo(json.dumps(manifest, indent=2))
        return
    for line in summary_lines(manifest, out / ONNX_FILE, time.perf_counter() - t0):
        typer.echo(line)


@app.command()
def models(
    torchvision: bool = typer.Option(False, "--torchvision", help="List torchvision's classification models."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the model zoo with parameters, MACs and input size."""
    if torchvision:
        rows = _torchvision_rows()
    else:
        from edgebench.exporter.export import count_macs, count_params
        from edgebench.exporter.zoo import MODELS

        rows = []
        for name in MODELS.names():
            spec = MODELS.get(name)
            net = spec.build()
            rows.append({
                "name": name,
                "family": spec.family,
                "params": count_params(net),
                "macs": count_macs(net, (1, *(int(d) for d in spec.input.shape[1:]))),
                "input": list(spec.input.shape),
                "dataset": spec.input.dataset,
                "weights": spec.weights.file_name if spec.weights else None,
                "published_top1_pct": spec.weights.top1_pct if spec.weights else None,
                "description": spec.description,
            })
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"{'name':<22} {'params':>9} {'MACs':>10} {'input':<12} weights")
    for r in rows:
        shape = "x".join(str(d) for d in r["input"][1:])
        macs = f"{r['macs'] / 1e6:.1f} M" if r.get("macs") is not None else "-"
        w = r.get("weights") or "none (--weights)"
        if r.get("published_top1_pct"):
            w += f" ({r['published_top1_pct']:.2f} %)"
        typer.echo(f"{r['name']:<22} {r['params'] / 1e6:>7.2f} M {macs:>10} {shape:<12} {w}")
    if not torchvision:
        typer.echo("\nAlso: tv:<name> for any torchvision classifier (`edgebench models --torchvision`), "
                   "--model-file path.py:factory for your own.")


def _torchvision_rows() -> list[dict[str, Any]]:
    import torchvision.models as tvm

    rows = []
    for name in sorted(tvm.list_models(module=tvm)):
        default = tvm.get_model_weights(name).DEFAULT  # type: ignore[attr-defined]
        crop = int(default.transforms().crop_size[0])
        rows.append({
            "name": f"tv:{name}",
            "params": int(default.meta["num_params"]),
            # torchvision's "_ops" (GFLOPS in its docs) counts one multiply-add as one operation
            "macs": int(default.meta["_ops"] * 1e9) if default.meta.get("_ops") else None,
            "input": ["batch", 3, crop, crop],
            "dataset": "imagenet",
            "weights": None,
        })
    return rows
