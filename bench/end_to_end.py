"""End-to-end latency of a detector: pre-process + model + decode + NMS, timed as one "session".

`EndToEnd` wraps a runtime session so the harness (`bench.harness.measure`, `bench.interleave`) times the whole
path a camera application runs per frame: the uint8 frame resized and normalised as the manifest says
(`calibration.preprocess.preprocess`), the model, then the task's numpy decode and class-wise NMS
(`calibration.tasks.Detection`). The frame is fixed (`frame()`: 640x480, the usual camera/COCO size, seeded pixels),
so every runtime and precision gets the same work. Example::

    sess = get_runtime("ort-cpu").load(path, opts)
    e2e = EndToEnd(sess, manifest)
    e2e.run(e2e.feeds())          # -> [Detections] of the one frame
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from edgebench.manifest import Manifest

FRAME_HW = (480, 640)  # height, width of the timed frame
E2E_SCORE = 0.3  # boxes kept by the timed decode (the ones an application draws; mAP decodes down to 0.001)
FRAME_INPUT = "frame"


def frame(seed: int = 0, hw: tuple[int, int] = FRAME_HW) -> np.ndarray:
    """The timed frame: uint8 [H, W, 3], smooth seeded noise (a few gradients: realistic work for resize)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:hw[0], 0:hw[1]]
    base = (yy[..., None] * rng.uniform(0, 0.3, 3) + xx[..., None] * rng.uniform(0, 0.3, 3)) % 256
    return (base + rng.integers(0, 32, (*hw, 3))).clip(0, 255).astype(np.uint8)


class EndToEnd:
    """A detector session plus its pre- and post-processing; `run({"frame": uint8 [H, W, 3]})` -> [Detections]."""

    def __init__(self, session: Any, manifest: Manifest, score_threshold: float = E2E_SCORE) -> None:
        from edgebench.calibration.tasks import decoder_of

        if manifest.input is None:
            raise ValueError("an end-to-end timing needs the manifest's input (its preprocessing)")
        decoder_of(manifest)  # a layout edgebench decodes, or one line naming the fix
        self.session, self.manifest, self.score_threshold = session, manifest, score_threshold
        self.input_name = session.inputs[0].name
        self.output_name = session.outputs[0].name
        self.hw = manifest.input.image_hw()

    def feeds(self, seed: int = 0) -> dict[str, np.ndarray]:
        """The feeds `run` takes: the fixed frame."""
        return {FRAME_INPUT: frame(seed)}

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[Any]:
        from edgebench.calibration.preprocess import preprocess
        from edgebench.calibration.tasks import decode_one

        img = feeds[FRAME_INPUT]
        x = preprocess(img[None], self.manifest.input.preprocessing, self.hw)  # type: ignore[union-attr]
        raw = np.asarray(self.session.run({self.input_name: x})[self.output_name])
        return [decode_one(raw[0], self.manifest, img.shape[1], img.shape[0], self.score_threshold)]


def end_to_end_block(samples_ns: Any, score_threshold: float = E2E_SCORE) -> dict[str, Any]:
    """The result's `end_to_end` block from the timed runs (ns): e2e_p50_ms etc. and what was timed."""
    from edgebench.bench.stats import summarize

    s = summarize(samples_ns)
    return {"e2e_p50_ms": s["p50_ms"], "e2e_p90_ms": s["p90_ms"], "e2e_p99_ms": s["p99_ms"],
            "e2e_mean_ms": s["mean_ms"], "e2e_p50_ci95_ms": s["p50_ci95_ms"], "n": s["n"],
            "frame": f"{FRAME_HW[1]}x{FRAME_HW[0]} uint8", "score_threshold": score_threshold,
            "includes": "pre-process (resize + normalise) + model + decode + class-wise NMS, batch 1"}
