"""Raw outputs of models on fixed inputs, through edgebench's own runtimes (torch-free).

`make arm-check` runs it on the host and in the emulated aarch64 root with the same inputs, then compares.
Usage: python -m edgebench.tools.arm_outputs LIST OUT_DIR [--threads N] [--graph-opt LEVEL | --reference]
                                             [--runtime NAME --precision P]
LIST has one line per model, `MODEL INPUTS.npz KEY [RUNTIME PRECISION]` (INPUTS.npz: one array per model input,
batch first); the outputs go to OUT_DIR/KEY.npz. RUNTIME/PRECISION (default: --runtime, --precision) pick the
runtime and the artifact: `models/resnet20 ... litert int8` runs models/resnet20/litert/int8/model.tflite
(edgebench.runtimes.artifacts.resolve_for_runtime, as `edgebench bench -r litert --precision int8` does).
One process for all models: under emulation every start-up costs seconds.
A detector (manifest `task: detection`) also gets OUT_DIR/KEY.boxes.npz: each image's boxes with score >= 0.3
(`edgebench.calibration.tasks.AGREEMENT_SCORE`), decoded and NMS-ed by the package's own code (`decode_one`),
packed by `edgebench.calibration.detection.detections_arrays`; in the frame of each image's (width, height) when
INPUTS.npz holds them as `image_wh` [N, 2] (not fed to the model), else of the model input.
`--reference` (= `--graph-opt disable`, ort-cpu only): no graph optimization, so no QDQ fusion: an INT8 QDQ model
runs as DequantizeLinear -> float op -> QuantizeLinear, the arithmetic its ONNX graph specifies, whatever integer
kernels this CPU has (docs/int8-arithmetic.md).

Example (an artifact's line): `models/resnet20 inputs/resnet20.npz resnet20.litert.int8 litert int8`
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from edgebench.runtimes import RuntimeOptions, get_runtime

GRAPH_OPT_LEVELS = ("disable", "basic", "extended", "all")
IMAGE_WH = "image_wh"  # INPUTS.npz: each image's (width, height) for a detector's boxes; not a model input
BOXES_SUFFIX = ".boxes.npz"  # KEY.boxes.npz beside KEY.npz: a detector's decoded boxes


def run(model: Path, inputs: Path, out: Path, threads: int = 1, graph_opt: str = "all",
        runtime: str = "ort-cpu", precision: str | None = None) -> None:
    from edgebench.runtimes.artifacts import resolve_for_runtime

    feeds = dict(np.load(inputs, allow_pickle=False))
    image_wh = feeds.pop(IMAGE_WH, None)
    rt = get_runtime(runtime)
    if runtime == "ort-cpu":
        opts: RuntimeOptions = rt.Options(intra_op_threads=threads, graph_optimization=graph_opt)  # type: ignore[call-arg]
    else:
        opts = rt.Options(intra_op_threads=threads)
    path = resolve_for_runtime(model, runtime, precision) if precision or model.is_dir() else model
    sess = rt.load(path, opts)
    n = len(next(iter(feeds.values())))
    fixed = [s.shape[0] for s in sess.inputs if isinstance(s.shape[0], int) and s.shape[0] > 0]
    step = min(fixed) if fixed else n  # a fixed batch dimension (LiteRT, ncnn: 1): feed it that many at a time
    chunks = [sess.run({k: v[i:i + step] for k, v in feeds.items()}) for i in range(0, n, step)]
    outputs = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    np.savez(out, **outputs)
    boxes = decoded_boxes(path, outputs[sess.outputs[0].name], image_wh)
    if boxes is not None:
        np.savez(boxes_file(out), **boxes)


def boxes_file(outputs: Path) -> Path:
    """OUT_DIR/KEY.npz -> OUT_DIR/KEY.boxes.npz"""
    return outputs.with_name(outputs.name.removesuffix(".npz") + BOXES_SUFFIX)


def decoded_boxes(model: Path, raw: np.ndarray, image_wh: np.ndarray | None) -> dict[str, np.ndarray] | None:
    """A detector's boxes (score >= AGREEMENT_SCORE) per image of `raw` [N, ...], packed; None for another task."""
    from edgebench.calibration.detection import detections_arrays
    from edgebench.calibration.tasks import AGREEMENT_SCORE, decode_one, task_of
    from edgebench.manifest import find_typed_manifest
    from edgebench.task import DETECTION

    manifest = find_typed_manifest(model)
    if manifest is None or task_of(manifest).name != DETECTION:
        return None
    hw = manifest.input.image_hw() if manifest.input is not None else None
    if image_wh is None:
        image_wh = np.tile(np.array([[hw[1], hw[0]]] if hw else [[1, 1]], np.int64), (len(raw), 1))
    if len(image_wh) != len(raw):
        raise SystemExit(f"{IMAGE_WH} has {len(image_wh)} sizes for {len(raw)} images")
    return detections_arrays([decode_one(r, manifest, int(w), int(h), AGREEMENT_SCORE)
                            for r, (w, h) in zip(raw, image_wh, strict=True)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("list", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--graph-opt", choices=GRAPH_OPT_LEVELS, default="all",
                    help="ORT graph optimization level (default all: this CPU's fused integer kernels)")
    ap.add_argument("--reference", dest="graph_opt", action="store_const", const="disable",
                    help="the QDQ reference: --graph-opt disable")
    ap.add_argument("--runtime", default="ort-cpu", help="runtime of lines without their own (default ort-cpu)")
    ap.add_argument("--precision", default=None, help="artifact precision of lines without their own")
    args = ap.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    base = args.list.parent
    for line in args.list.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) not in (3, 5):
            raise SystemExit(f"{args.list}: '{line}' is not `MODEL INPUTS KEY [RUNTIME PRECISION]`")
        model, inputs, key = fields[:3]
        runtime, precision = (fields[3], fields[4]) if len(fields) == 5 else (args.runtime, args.precision)
        if runtime != "ort-cpu" and args.graph_opt != "all":
            raise SystemExit(f"--graph-opt/--reference apply to ort-cpu only, not to {runtime}")
        run(base / model, base / inputs, args.out_dir / f"{key}.npz", args.threads, args.graph_opt,
            runtime, precision)


if __name__ == "__main__":
    main()
