"""`edgebench export` as one call: typed `ExportOptions` and `ExportJob` (checked on construction, before the
model is loaded) and `run_export`, which loads the weights, finds the real parity images and exports; and
`zoo_rows`, what `edgebench models` lists.

    job = ExportJob(spec=get_spec("resnet20"), options=ExportOptions(batch="1"), weights=WeightsRequest())
    manifest = run_export(job, notes=print)      # artifacts/resnet20/model.fp32.onnx + model.fp32.json
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgebench.exporter.export import ONNX_FILE, check_export_options, default_opset, parse_batch
from edgebench.exporter.loading import WeightsRequest

if TYPE_CHECKING:
    from edgebench.exporter.zoo import ModelSpec
    from edgebench.manifest import Manifest

Log = Callable[[str], None]


@dataclass(frozen=True)
class ExportOptions:
    """How to export: exporter and opset (None: the exporter's default), batch ('dynamic' or N), onnxslim,
    the real parity images ('auto', 'none' or a dataset spec) and how many images parity and top-1 use."""

    opset: int | None = None
    batch: str = "dynamic"
    exporter: str = "torchscript"
    simplify: bool = True
    parity_data: str = "auto"
    parity_images: int = 256
    accuracy_images: int = 1000
    num_classes: int | None = None

    def __post_init__(self) -> None:
        from edgebench.manifest import check_value

        check_export_options(self.exporter, self.opset_used, parity_images=self.parity_images,
                             accuracy_images=self.accuracy_images)
        parse_batch(self.batch)
        if self.num_classes is not None:
            check_value("num_classes", self.num_classes, "--num-classes")  # the manifest's rule for num_classes

    @property
    def opset_used(self) -> int:
        return default_opset(self.exporter) if self.opset is None else self.opset


@dataclass(frozen=True)
class ExportJob:
    """The model, its weights, the options and the output folder (default artifacts/<model>); an existing
    model there (without `force`) and a folder that cannot be made are refused on construction."""

    spec: ModelSpec
    options: ExportOptions
    weights: WeightsRequest
    output_dir: Path | None = None
    force: bool = False

    def __post_init__(self) -> None:
        from edgebench.atomic import check_writable_dir
        from edgebench.errors import OutputExistsError
        from edgebench.manifest import manifest_path

        if not self.force:  # fail before the slow part
            for p in (self.out / ONNX_FILE, manifest_path(self.out / ONNX_FILE)):
                if p.exists():
                    raise OutputExistsError(f"'{p}' already exists; pass --force to overwrite it")
        check_writable_dir(self.out)

    @property
    def out(self) -> Path:
        return self.output_dir or Path("artifacts") / self.spec.name.replace(":", "_")


def run_export(job: ExportJob, *, notes: Log, progress: Log | None = None) -> Manifest:
    """Load the model, find the parity images, export to `job.out`; returns the manifest. `notes`: what the
    user must see (random weights, no local parity images); `progress`: the export's steps (None: quiet)."""
    from dataclasses import replace

    from edgebench.atomic import ensure_writable_dir
    from edgebench.exporter.export import export_model
    from edgebench.exporter.loading import load_model

    o = job.options
    loaded = load_model(job.spec, replace(job.weights, num_classes=o.num_classes))
    if loaded.note:
        notes(loaded.note)
    dataset = parity_dataset(loaded.spec, o.parity_data, job.weights.data_dir, o.parity_images, notes=notes)
    ensure_writable_dir(job.out)
    return export_model(loaded.model, loaded.spec, job.out, opset=o.opset_used, batch=o.batch, exporter=o.exporter,
                        simplify=o.simplify, parity_dataset=dataset, parity_images=o.parity_images,
                        accuracy_images=o.accuracy_images, force=job.force, weights=loaded.weights, log=progress)


def parity_dataset(spec: Any, parity_data: str, data_dir: Path | None, parity_images: int = 256, *,
                   notes: Log) -> Any:
    """The real images used for parity: 'auto' = the model's dataset when a local copy exists (CIFAR-10's test
    images; for an ImageNet model the first `parity_images` of ``imagenet/val1300`` in a data folder), 'none' = off.
    Image folders are labelled in the model's class order and decoded with its resize/crop."""
    from edgebench.calibration.datasets import default_data_dirs, load_dataset
    from edgebench.calibration.labels import classes_for
    from edgebench.errors import DataError

    if parity_data == "none":
        return None
    if spec.task == "detection":  # real images for parity: the COCO sample (auto) or a detection data folder
        from edgebench.calibration.detection_data import parity_images_for

        found = parity_images_for(spec.input, None if parity_data == "auto" else Path(parity_data), data_dir)
        if found is None:
            notes("note: no local COCO sample (coco/val2017_first128 under --data-dir / EDGEBENCH_DATA); parity "
                  "on random inputs only")
        return found
    info = spec.input
    classes = classes_for(info.dataset, info.class_names, spec.num_classes)
    if parity_data == "auto":
        if info.dataset == "imagenet":
            found = [d / "imagenet" / "val1300" for d in default_data_dirs(data_dir)
                     if (d / "imagenet" / "val1300").is_dir()]
            if not found:
                notes("note: no local ImageNet validation images (imagenet/val1300 under --data-dir / "
                      "EDGEBENCH_DATA); parity on random inputs only: give --parity-data DIR for real images")
                return None
            return load_dataset(str(found[0]), size=parity_images or None, preprocessing=info.preprocessing,
                                classes=classes)
        if info.dataset != "cifar10":
            return None
        try:
            return load_dataset("cifar10:test", data_dir, download=False)
        except DataError:
            notes("note: no local CIFAR-10 test images (--data-dir / EDGEBENCH_DATA); parity on random inputs only")
            return None
    return load_dataset(parity_data, data_dir, download=True, preprocessing=info.preprocessing, classes=classes)


def zoo_rows(torchvision: bool = False) -> list[dict[str, Any]]:
    """`edgebench models`: one row per zoo model (params and MACs counted on the built network), or with
    `torchvision` per torchvision classifier (from its weights' metadata)."""
    if torchvision:
        return _torchvision_rows()
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
    return rows


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
