"""One model + weights resolution for every command (export, train, sensitivity and prune call it).

`load_model(spec, WeightsRequest(...))` turns "MODEL [--weights W] [--random-init]" into a model with
its weights loaded and the `WeightsRecord` its manifest/summary records. Example::

    loaded = load_model(get_spec("resnet20"), WeightsRequest(data_dir=Path("data")))
    loaded.model, loaded.weights.to_dict()   # {"source": "published", "file": ..., "url": ..., "license": ...}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgebench.errors import UserInputError
from edgebench.exporter.checkpoint import find_weights, load_weights
from edgebench.exporter.prune.saved import load_pruned_for, looks_pruned
from edgebench.manifest import WeightsRecord

if TYPE_CHECKING:
    from edgebench.calibration.dataset import Dataset
    from edgebench.exporter.zoo import ModelSpec, WeightsSource
    from torch import nn


@dataclass(frozen=True)
class WeightsRequest:
    """Which weights a command wants: `weights` (a state dict or a pruned round), the published ones
    (default), or none (`random_init`). `require_trained` refuses random weights (pruning, sensitivity)."""

    weights: Path | None = None
    random_init: bool = False
    require_trained: bool = False
    num_classes: int | None = None
    data_dir: Path | None = None
    download: bool = True

    def __post_init__(self) -> None:
        if self.weights is not None and self.random_init:
            raise UserInputError("--weights and --random-init exclude each other; give one")
        if self.random_init and self.require_trained:
            raise UserInputError("this command needs trained weights; drop --random-init and give --weights")


@dataclass(frozen=True)
class LoadedModel:
    """A built model with its weights loaded, the spec it was built from, and what to record about it."""

    model: nn.Module
    spec: ModelSpec
    weights: WeightsRecord  # source "random-init" when no checkpoint was loaded
    structure: Mapping[str, Any] | None = None  # the structure.json of a pruned checkpoint
    note: str | None = None  # a warning for the user (e.g. random weights by default)

    @property
    def num_classes(self) -> int | None:
        return (self.structure or {}).get("num_classes", self.spec.num_classes)


def published_record(src: WeightsSource, sha256: str) -> WeightsRecord:
    """What a manifest records about the zoo's published weights: file, sha256, url and licence."""
    return WeightsRecord(source="published", file=src.file_name, sha256=sha256, url=src.url, license=src.license)


def _build(spec: ModelSpec, num_classes: int | None) -> nn.Module:
    """`spec.build`, also for a user factory that takes no `num_classes` (built as the file defines it)."""
    return spec.build(num_classes if spec.takes_num_classes else None)


def load_model(spec: ModelSpec, request: WeightsRequest) -> LoadedModel:
    """Build `spec` (for `request.num_classes`) and load the requested weights; see `WeightsRequest`."""
    spec = spec.for_classes(request.num_classes)
    if request.weights is not None:
        if looks_pruned(request.weights):  # a pruned round folder or its .pt: rebuilt from structure.json
            model, record, structure = load_pruned_for(spec.name, request.weights, request.num_classes,
                                                       factory=lambda _arch, n: _build(spec, n))
            return LoadedModel(model, spec, record, structure)
        model = spec.build(request.num_classes)
        sha = load_weights(model, request.weights, spec.name)
        return LoadedModel(model, spec, WeightsRecord(source="user", file=Path(request.weights).name, sha256=sha))
    random = WeightsRecord(source=WeightsRecord.RANDOM_INIT)
    if request.random_init:
        return LoadedModel(spec.build(request.num_classes), spec, random)
    if spec.weights is None:
        if request.require_trained:
            raise UserInputError(
                f"'{spec.name}' has no published weights; train it first (edgebench train {spec.name} -o DIR) "
                "and pass --weights DIR/best.pt"
            )
        note = (f"warning: '{spec.name}' has no published weights and no --weights was given: using random "
                "weights (fine for latency, meaningless for accuracy); give --weights FILE (a state dict or a "
                "checkpoint holding one, e.g. torchvision's .pth) or pass --random-init to silence this")
        return LoadedModel(spec.build(request.num_classes), spec, random, note=note)
    model = spec.build(request.num_classes)
    path = find_weights(spec.weights, request.data_dir, download=request.download)
    sha = load_weights(model, path, spec.name)
    return LoadedModel(model, spec, published_record(spec.weights, sha))


@dataclass(frozen=True)
class DataRequest:
    """The images a train/prune/sensitivity run reads: `train` (None: no training set) and `test` dataset specs
    (`edgebench.calibration.datasets.load_dataset`), each optionally cut to its first N images."""

    test: str = "cifar10"
    train: str | None = None
    data_dir: Path | None = None
    limit_train: int | None = None
    limit_test: int | None = None

    def __post_init__(self) -> None:
        for which, n in (("training", self.limit_train), ("test", self.limit_test)):
            if n is not None and (isinstance(n, bool) or n < 1):
                raise UserInputError(f"the {which} image limit {n} must be >= 1 (leave the limit out for every image)")

    def load(self, *, with_train: bool = True) -> tuple[Dataset | None, Dataset]:
        """(training set or None, test set); the training set only when `with_train` and `train` is set."""
        from edgebench.calibration.datasets import load_dataset

        train = (load_dataset(self.train, self.data_dir, labelled_for="training").subset(self.limit_train)
                 if with_train and self.train else None)
        return train, load_dataset(self.test, self.data_dir, labelled_for="evaluation").subset(self.limit_test)


@dataclass(frozen=True)
class FinetuneRequest:
    """The model, images and output folder of a command that fine-tunes a trained model into a model folder
    (`qat`, `sparsify`): `data` the fine-tuning (and calibration) images, read with the model's preprocessing;
    `eval_data` the test images (None or 'none': no top-1). The output folder is checked on construction."""

    spec: ModelSpec
    out_dir: Path
    weights: WeightsRequest
    data: str = "cifar10:train"
    eval_data: str | None = "cifar10"
    force: bool = False

    def __post_init__(self) -> None:
        from edgebench.atomic import check_writable_dir

        check_writable_dir(self.out_dir)

    def load(self, log: Callable[[str], None]) -> tuple[LoadedModel, Dataset, Dataset | None]:
        """(the model with its weights, the fine-tuning set, the test set or None); the weights' note is logged."""
        from edgebench.calibration.datasets import load_dataset

        w = self.weights
        loaded = load_model(self.spec, w)
        if loaded.note:
            log(loaded.note)
        train = load_dataset(self.data, w.data_dir, w.download, preprocessing=loaded.spec.input.preprocessing,
                             labelled_for="training")
        ev = None if self.eval_data in (None, "none") else load_dataset(self.eval_data, w.data_dir, w.download,
                                                                       labelled_for="evaluation")
        return loaded, train, ev
