"""Small ONNX models built in code, for tests and benchmark scripts (needs the `onnx` package)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np


def conv_net(path: Path, *, size: int = 16, channels: int = 8, n_convs: int = 2, classes: int = 10,
             dynamic_batch: bool = True, seed: int = 0, opset: int = 17) -> Path:
    """Write a Conv-ReLU stack + global pool + Gemm classifier to `path`.

    Input 'input' [N,3,size,size] float32, output 'logits' [N,classes].
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    prev, cin = "input", 3
    for i in range(n_convs):
        w = (rng.standard_normal((channels, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))).astype(np.float32)
        b = (rng.standard_normal(channels) * 0.01).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"conv{i}.w"), numpy_helper.from_array(b, f"conv{i}.b")]
        nodes.append(helper.make_node("Conv", [prev, f"conv{i}.w", f"conv{i}.b"], [f"conv{i}"], pads=[1, 1, 1, 1],
                                      name=f"conv{i}"))
        nodes.append(helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"], name=f"relu{i}"))
        prev, cin = f"relu{i}", channels
    nodes.append(helper.make_node("GlobalAveragePool", [prev], ["pool"], name="pool"))
    nodes.append(helper.make_node("Flatten", ["pool"], ["flat"], axis=1, name="flatten"))
    fw = (rng.standard_normal((classes, channels)) * 0.1).astype(np.float32)
    fb = np.zeros(classes, np.float32)
    inits += [numpy_helper.from_array(fw, "fc.w"), numpy_helper.from_array(fb, "fc.b")]
    nodes.append(helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], transB=1, name="fc"))
    batch: int | str = "batch" if dynamic_batch else 1
    graph = helper.make_graph(
        nodes, "edgebench_synthetic",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, classes])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="edgebench")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def grid_detector(path: Path, grid: np.ndarray, *, size: int = 32, opset: int = 17, manifest: bool = True) -> Path:
    """Write a FastestDet-layout "detector" whose output is `grid` ([C, H, W], float32) for every image.

    Input 'input' [N,3,size,size]; output 'logits' [N,C,H,W] = a zero-weight strided Conv + `grid`: the decoded
    boxes are known in advance, so decoding, NMS and mAP can be checked end to end by hand. `manifest`: also
    write its detection manifest beside it (task detection, FastestDet's preprocessing and decoder).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    grid = np.asarray(grid, np.float32)
    c, h, w = grid.shape
    if size % h or size % w or size // h != size // w:
        raise ValueError(f"size {size} must be a multiple of the grid {h}x{w} with square cells")
    stride = size // h
    inits = [numpy_helper.from_array(np.zeros((c, 3, stride, stride), np.float32), "zero.w"),
             numpy_helper.from_array(grid[None], "grid")]
    nodes = [helper.make_node("Conv", ["input", "zero.w"], ["zeros"], strides=[stride, stride], name="zero"),
             helper.make_node("Add", ["zeros", "grid"], ["logits"], name="add_grid")]
    graph = helper.make_graph(
        nodes, "edgebench_grid_detector",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", c, h, w])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    if manifest:
        from edgebench.atomic import write_json
        from edgebench.manifest import InputInfo, Manifest, Preprocessing, manifest_path

        pp = Preprocessing(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), channel_order="BGR", resize_mode="stretch")
        m = Manifest(name=path.stem, task="detection", input=InputInfo("input", ("batch", 3, size, size), pp),
                     output={"name": "logits", "shape": ["batch", c, h, w], "kind": "detection-grid",
                             "decoder": "fastestdet"}).with_file(path)
        write_json(manifest_path(path), m.to_dict())
    return path


# what the `timed` sessions saw, by thread name: (the CPUs allowed to the thread that created the session, those
# allowed to the thread that ran it, read inside `run`); tests of --pin-streams read it (`TIMED_AFFINITY.clear()`)
TIMED_AFFINITY: dict[str, tuple[frozenset[int], frozenset[int]]] = {}


def _affinity() -> frozenset[int]:
    import os

    return frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()


def register_timed_runtimes() -> None:
    """Register `timed` and `timed-single-only`: test runtimes whose run takes a known time (idempotent).

    A run sleeps `base_us + per_item_us x batch` microseconds (the `--ro` options); with `serial=true` (the
    default) the runs of all sessions share one lock, as if the machine had one core: N streams then get no more
    than 1 / run time queries a second between them: throughput, queueing and the --fps search are known ahead.
    Any model file is accepted: the input is 'input' [N,3,16,16] float32. `timed-single-only` refuses multi and
    offline, as a runtime that cannot run concurrent sessions would. Each run records the CPUs its thread may
    use, and those of the thread that created its session, in `TIMED_AFFINITY`.
    """
    from edgebench.runtimes import RUNTIMES
    from edgebench.runtimes.base import TensorSpec
    from edgebench.runtimes.options import RuntimeOptions

    if "timed" in RUNTIMES:
        return
    lock = threading.Lock()

    @dataclass(frozen=True)
    class TimedOptions(RuntimeOptions):
        runtime: ClassVar[str] = "timed"
        base_us: int = 2000
        per_item_us: int = 0
        serial: bool = True

    class TimedSession:
        def __init__(self, opts: TimedOptions) -> None:
            self.opts = opts
            self.inputs = [TensorSpec("input", ("N", 3, 16, 16), "float32")]
            self.outputs = [TensorSpec("logits", ("N", 10), "float32")]
            self.created_on = _affinity()

        def run(self, feeds: Any) -> dict[str, np.ndarray]:
            TIMED_AFFINITY[threading.current_thread().name] = (self.created_on, _affinity())
            n = int(feeds["input"].shape[0])
            wait = (self.opts.base_us + self.opts.per_item_us * n) / 1e6
            if self.opts.serial:
                with lock:
                    time.sleep(wait)
            else:
                time.sleep(wait)
            return {"logits": np.zeros((n, 10), np.float32)}

    class Timed:
        name: ClassVar[str] = "timed"
        install_hint: ClassVar[str] = "a test runtime: tools.synthetic.register_timed_runtimes()"
        Options: ClassVar[type[RuntimeOptions]] = TimedOptions
        scenario_refusals: ClassVar[dict[str, str]] = {}

        def available(self) -> bool:
            return True

        def version(self) -> str:
            return "0"

        def load(self, model: Path, options: RuntimeOptions | None = None) -> TimedSession:
            return TimedSession(TimedOptions.coerce(options))

    class TimedSingleOnly(Timed):
        name: ClassVar[str] = "timed-single-only"
        scenario_refusals: ClassVar[dict[str, str]] = {
            s: "its sessions cannot run at once (a test runtime)" for s in ("multi", "offline")}

    RUNTIMES.add("timed", Timed)
    RUNTIMES.add("timed-single-only", TimedSingleOnly)


TIMED_RUNTIMES = ("timed", "timed-single-only")


@contextmanager
def timed_runtimes() -> Iterator[None]:
    """`register_timed_runtimes` for the duration of a block, then taken back: tests that iterate over every
    registered runtime (conformance) never see them."""
    from edgebench.runtimes import RUNTIMES

    register_timed_runtimes()
    try:
        yield
    finally:
        for name in TIMED_RUNTIMES:
            RUNTIMES.remove(name)


def constant_detector(path: Path, output: np.ndarray, *, size: int = 32, nms: bool = False, opset: int = 17) -> Path:
    """Write a third-party-style "detector" (no manifest) whose output is `output` (float32, batch 1 first: e.g.
    [1, N, 5+C] YOLOv5-style, [1, 4+C, N] YOLOv8-style, [1, K, 6] boxes) for every image 'input' [1,3,size,size].

    The input's mean times zero is added, so the graph depends on it; `nms`: a NonMaxSuppression node (on fixed
    boxes) feeds the output the same way, as in graphs that export their NMS (`describe --task detection` looks
    for it).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out = np.asarray(output, np.float32)
    inits = [numpy_helper.from_array(out, "const"), numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    nodes = [helper.make_node("ReduceMean", ["input"], ["m"], keepdims=0, name="mean"),
             helper.make_node("Mul", ["m", "zero"], ["z"], name="times_zero")]
    live = "z"
    if nms:
        inits += [numpy_helper.from_array(np.array([[[0, 0, 1, 1], [0, 0, 1, 1]]], np.float32), "nms.boxes"),
                  numpy_helper.from_array(np.array([[[0.9, 0.8]]], np.float32), "nms.scores"),
                  numpy_helper.from_array(np.array([10], np.int64), "nms.max"),
                  numpy_helper.from_array(np.array([0.5], np.float32), "nms.iou")]
        nodes += [helper.make_node("NonMaxSuppression", ["nms.boxes", "nms.scores", "nms.max", "nms.iou"], ["sel"],
                                   name="nms"),
                  helper.make_node("Cast", ["sel"], ["self"], to=TensorProto.FLOAT, name="cast"),
                  helper.make_node("ReduceSum", ["self"], ["s"], keepdims=0, name="sum"),
                  helper.make_node("Mul", ["s", "zero"], ["sz"], name="sum_times_zero"),
                  helper.make_node("Add", ["z", "sz"], ["z2"], name="add_nms")]
        live = "z2"
    nodes.append(helper.make_node("Add", [live, "const"], ["output0"], name="add_const"))
    graph = helper.make_graph(
        nodes, "edgebench_constant_detector",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(out.shape))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="byo-detector")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def coco_folder(path: Path, boxes: list[list[tuple[int, list[float]]]], *, width: int = 40, height: int = 20,
                classes: tuple[str, ...] = ("a", "b", "c"), seed: int = 0) -> Path:
    """Write a COCO-layout detection folder: `path`/images/{i}.png (random pixels, `width` x `height`) and
    `path`/instances.json with, per image, `boxes[i]` = [(class index, [x, y, w, h] pixels), ...]."""
    import json

    from PIL import Image

    (Path(path) / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(len(boxes)):
        Image.fromarray(rng.integers(0, 255, (height, width, 3), np.uint8)).save(Path(path) / "images" / f"{i}.png")
    anns = [(i, c, box) for i, per in enumerate(boxes) for c, box in per]
    doc = {"images": [{"id": i + 1, "file_name": f"{i}.png", "width": width, "height": height}
                      for i in range(len(boxes))],
           "categories": [{"id": k + 1, "name": c} for k, c in enumerate(classes)],
           "annotations": [{"id": k + 1, "image_id": i + 1, "category_id": c + 1, "bbox": list(box)}
                           for k, (i, c, box) in enumerate(anns)]}
    (Path(path) / "instances.json").write_text(json.dumps(doc))
    return Path(path)
