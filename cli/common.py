"""Options shared by the workstation commands (export, train, sensitivity, prune, qat, quantize, ...), declared
once as `Annotated` aliases, and the small helpers those commands share.

    @app.command()
    def export(model: ModelArg = None, weights: WeightsOpt = None, data_dir: DataDirOpt = None, ...) -> None:
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from edgebench.cli.options import POSITIVE, existing_dir, parse_floats

if TYPE_CHECKING:
    from edgebench.exporter.zoo import ModelSpec

ModelArg = Annotated[str | None, typer.Argument(help="Zoo name (see `edgebench models`) or tv:<torchvision name>.")]
ZooModelArg = Annotated[str, typer.Argument(help="Zoo name (see `edgebench models`).")]
ModelPathArg = Annotated[Path, typer.Argument(help="A model folder or its .onnx file (with its manifest).")]
ModelFileOpt = Annotated[str | None, typer.Option(
    "--model-file", help="Your own model: path.py:factory. This RUNS that Python file: use only files you trust.")]
InputLikeOpt = Annotated[str | None, typer.Option("--input-like",
                                                  help="With --model-file: copy the input spec of this zoo model.")]
WeightsOpt = Annotated[Path | None, typer.Option(
    "--weights", "-w", help="Checkpoint (.pt/.pth/.th state dict) or a pruned round (DIR/roundN or its .pt). "
                            "Default: the published weights.")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", callback=existing_dir,
                                                 help="Folder with datasets and weights/.")]
DownloadOpt = Annotated[bool, typer.Option("--download/--no-download",
                                           help="Download published weights / CIFAR-10 (checksummed) if absent.")]
ForceOpt = Annotated[bool, typer.Option("--force", "-f", help="Overwrite existing outputs.")]
OutputDirOpt = Annotated[Path, typer.Option("--output-dir", "-o", help="Output folder.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of the summary.")]
PresetOpt = Annotated[str, typer.Option(
    "--preset", "-p", help="The INT8 recipe: auto (from this CPU's ISA flags, or --target), x86-vnni, x86-avx2, "
                           "arm64-dotprod, arm64-neon, qdq-s8s8-tensor, u8s8-reduce-range.")]
TargetOpt = Annotated[str | None, typer.Option(
    "--target", help="With --preset auto: choose for this device instead of the host (pi5, pi4, zen3, zen4, "
                     "cortex-a76, ...).")]


def no_verify_option() -> Any:
    """`--no-verify`, as a parameter default (`no_verify: bool = no_verify_option()`)."""
    return typer.Option(False, "--no-verify", help="Use a model file whose sha256 differs from the one its "
                                                   "manifest records (refused by default; recorded in the result).")


def say(msg: str) -> None:
    """Progress for the user: stderr, so stdout stays the result."""
    print(msg, file=sys.stderr, flush=True)


def resolve_model(arg: Path, *, no_verify: bool = False) -> tuple[Any, dict[str, Any]]:
    """A model folder/file from the command line -> (ModelArtifact, verification record).

    The file's sha256 is checked against the manifest's `onnx_sha256`: a mismatch (the file changed after
    export) is a ModelFileError unless `no_verify`, which only warns. The record goes into the result::

        {"manifest_sha256": "ab12...", "matches": True, "no_verify": False}   # matches None: nothing recorded
    """
    from edgebench.artifact import ModelArtifact

    artifact = ModelArtifact.resolve(arg).hashed()  # once: the result records this sha256 too
    recorded = artifact.manifest.onnx_sha256 if artifact.manifest is not None else None
    matches = None if recorded is None else artifact.sha256 == recorded
    if matches is False:
        if not no_verify:
            artifact.verify()  # raises, naming both digests and the fix
        say(f"warning: '{artifact.path}' differs from the sha256 its manifest records; used anyway (--no-verify)")
    return artifact, {"manifest_sha256": recorded, "matches": matches, "no_verify": no_verify}


def resolve_spec(model: str | None, model_file: str | None = None, input_like: str | None = None) -> ModelSpec:
    """MODEL or --model-file (+ --input-like) -> the zoo spec."""
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


def load(spec: Any, weights: Path | None, *, data_dir: Path | None, download: bool = True,
         random_init: bool = False, require_trained: bool = False, num_classes: int | None = None) -> Any:
    """`exporter.loading.load_model` with the request built from the shared options; prints its note."""
    from edgebench.exporter.loading import WeightsRequest, load_model

    loaded = load_model(spec, WeightsRequest(weights=weights, random_init=random_init, require_trained=require_trained,
                                             num_classes=num_classes, data_dir=data_dir, download=download))
    if loaded.note:
        say(loaded.note)
    return loaded


# --- preprocessing of a model without a manifest (describe, quantize, eval) ------------------------------

PpPresetOpt = Annotated[str | None, typer.Option(
    "--preprocessing", help="Input convention preset: imagenet, cifar10, unit (0..1), symmetric (-1..1), caffe-bgr, "
                            "tf-lite ((x-127)/128), imagenet-bicubic.")]
PpInputLikeOpt = Annotated[str | None, typer.Option(
    "--input-like", help="Copy the preprocessing (and class names) of this zoo model, e.g. resnet20.")]
PpMeanOpt = Annotated[str | None, typer.Option("--mean", help="Channel means after --scale, e.g. 0.485,0.456,0.406.")]
PpStdOpt = Annotated[str | None, typer.Option("--std", help="Channel stds after --scale, e.g. 0.229,0.224,0.225.")]
PpScaleOpt = Annotated[float | None, typer.Option(
    "--scale", callback=POSITIVE,
    help="Pixel (0..255) multiplier before mean/std. Default 1/255 (the preset's with --preprocessing).")]
PpSizeOpt = Annotated[str | None, typer.Option("--size", help="Input HxW when the graph's is dynamic, e.g. 224x224.")]
PpResizeOpt = Annotated[int | None, typer.Option("--resize", help="Resize the short side to R, then centre-crop.")]
PpLayoutOpt = Annotated[str | None, typer.Option("--layout", help="NCHW or NHWC (default: read from the graph).")]
PpChannelOrderOpt = Annotated[str | None, typer.Option("--channel-order", help="RGB (default) or BGR.")]
PpResizeModeOpt = Annotated[str | None, typer.Option(
    "--resize-mode", help="A detector's (--task detection): stretch (default; aspect not kept) or letterbox (aspect "
                          "kept, padded with gray 114, as YOLOv5/YOLOv8 are trained).")]
@dataclass(frozen=True)
class OptionGroup:
    """Options several commands declare alike (name -> (Annotated type, default)), placed before the parameter
    `at` (None: first). A command takes its groups' values in its last `**kw` (`with_options`) and reads a group's
    with `take`."""

    options: Mapping[str, tuple[Any, Any]]
    at: str | None = None

    def take(self, kw: Mapping[str, Any]) -> dict[str, Any]:
        """This group's values out of a command's `**kw`."""
        return {name: kw[name] for name in self.options}


Command = TypeVar("Command", bound=Callable[..., Any])


def with_options(*groups: OptionGroup) -> Callable[[Command], Command]:
    """Declare the options of `groups` on a command that takes them as its last `**kw`. Typer reads the declared
    signature; Python hands the values to the `**kw`::

        @app.command()
        @with_options(MODEL_SOURCE)
        def export(opset: int = ..., **src: Any) -> None:
            spec, weights = model_source(**src)
    """
    def declare(command: Command) -> Command:
        sig = inspect.signature(command, eval_str=True)
        names = list(sig.parameters)
        missing = [g.at for g in groups if g.at is not None and g.at not in names]
        if not names or sig.parameters[names[-1]].kind is not inspect.Parameter.VAR_KEYWORD or missing:
            needs = "".join(f"a `{g.at}` parameter and " for g in groups if g.at is not None)
            raise TypeError(f"{command.__name__} needs {needs}a last `**kw` (e.g. **pp, **src) to take the options")
        keyword = inspect.Parameter.KEYWORD_ONLY  # any order: the declared order is the one --help shows
        params = [p.replace(kind=keyword) for p in list(sig.parameters.values())[:-1]]
        for g in groups:
            i = [p.name for p in params].index(g.at) if g.at is not None else 0
            params[i:i] = [inspect.Parameter(n, keyword, default=d, annotation=t) for n, (t, d) in g.options.items()]
        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {**command.__annotations__,
                                   **{n: t for g in groups for n, (t, _) in g.options.items()}}
        return command

    return declare


# The preprocessing options, in the order --help lists them, just before --labels (describe, quantize, eval)
PREPROCESSING = OptionGroup({
    "preprocessing": (PpPresetOpt, None), "input_like": (PpInputLikeOpt, None), "mean": (PpMeanOpt, None),
    "std": (PpStdOpt, None), "scale": (PpScaleOpt, None), "size": (PpSizeOpt, None), "resize": (PpResizeOpt, None),
    "layout": (PpLayoutOpt, None), "channel_order": (PpChannelOrderOpt, None),
    "resize_mode": (PpResizeModeOpt, None)}, at="labels")
PREPROCESSING_OPTIONS: tuple[str, ...] = tuple(PREPROCESSING.options)


def with_preprocessing_options(command: Command) -> Command:
    """Declare the preprocessing options (PREPROCESSING, each default None) on a command that takes them as `**pp`,
    just before its `labels` parameter: describe, quantize and eval list them alike and pass them on as
    `preprocessing_choice(**pp)`::

        @app.command()
        @with_preprocessing_options
        def describe(model: Path = ..., labels: LabelsOpt = None, ..., **pp: Any) -> None:
    """
    return with_options(PREPROCESSING)(command)


# The model a torch command works on: MODEL or --model-file (+ --input-like), and --weights (export, train,
# sensitivity, prune, qat, sparsify)
MODEL_SOURCE = OptionGroup({"model": (ModelArg, None), "model_file": (ModelFileOpt, None),
                            "input_like": (InputLikeOpt, None), "weights": (WeightsOpt, None)})


def model_source(model: str | None = None, model_file: str | None = None, input_like: str | None = None,
                 weights: Path | None = None) -> tuple[ModelSpec, Path | None]:
    """The MODEL_SOURCE options -> (the zoo spec, --weights)."""
    return resolve_spec(model, model_file, input_like), weights


LabelsFileOpt = Annotated[Path | None, typer.Option(
    "--labels-file", help="Labels of a flat image folder: 'FILE INDEX' (ImageNet val ground truth), 'FILE,INDEX' or "
                          "'FILE,WNID' lines, or a CSV with a header. Default: the one such file in the folder or its "
                          "parent.")]
LabelsOpt = Annotated[str | None, typer.Option(
    "--labels", help="The model's class order: cifar10, imagenet (the 1,000 ImageNet-1k names, torchvision order) or "
                     "a file with one name per line.")]


def preprocessing_choice(preprocessing: str | None = None, input_like: str | None = None, mean: str | None = None,
                         std: str | None = None, scale: float | None = None, size: str | None = None,
                         resize: int | None = None, layout: str | None = None,
                         channel_order: str | None = None, resize_mode: str | None = None) -> Any:
    """The shared preprocessing options (named as PREPROCESSING_OPTIONS; `preprocessing` is the preset) -> a
    `PreprocessingChoice` (--input-like resolved through the zoo)."""
    from edgebench.calibration.describe import PreprocessingChoice
    from edgebench.calibration.graph import parse_size

    like = None
    if input_like is not None:
        from edgebench.exporter.zoo import get_spec

        like = get_spec(input_like).input
    return PreprocessingChoice(
        preset=preprocessing, mean=tuple(parse_floats(mean, "--mean")) if mean else None,
        std=tuple(parse_floats(std, "--std", 0, low_open=True)) if std else None, scale=scale,
        size=parse_size(size) if size else None, resize=resize,
        layout=layout.upper() if layout else None, channel_order=channel_order.upper() if channel_order else None,
        like=like, like_name=input_like, resize_mode=resize_mode)


def artifact_with_manifest(model: Path, choice: Any, labels: str | None, why: str) -> Any:
    """The ModelArtifact of `model`; a model without a manifest gets one built in memory from the preprocessing
    options (as `edgebench describe` would write it). Options given for a model that has a manifest are refused."""
    from dataclasses import replace

    from edgebench.artifact import ModelArtifact
    from edgebench.errors import UserInputError

    artifact = ModelArtifact.resolve(model)
    if not choice.given and labels is None:
        return artifact
    if artifact.manifest is not None:
        raise UserInputError(
            f"'{artifact.path}' already has a manifest ({artifact.manifest_path.name}); the preprocessing options "
            "apply to a model without one: drop them, or rewrite the manifest with `edgebench describe ... --force`"
        )
    from edgebench.calibration.describe import describe_manifest

    if not choice.given:
        raise UserInputError(f"--labels needs the preprocessing too for {why}: add --preprocessing PRESET (or "
                             "--input-like / --mean --std)")
    manifest = describe_manifest(artifact.path, choice, labels)
    say(f"{artifact.path.name}: no manifest; described in memory ({manifest.provenance['preprocessing']}), "  # type: ignore[index]
        "not written (`edgebench describe` writes it)")
    return replace(artifact, manifest=manifest)
