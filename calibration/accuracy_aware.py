"""Accuracy-aware PTQ: quantize, measure the paired top-1 drop, keep the most damaging tensors in float until
the drop fits the budget.

1. Quantize with the recipe (static QDQ) and predict the eval images with it and with the FP32 parent; the
   drop is the paired top-1 difference on the same images (points).
2. While the drop exceeds the budget: rank what quantization breaks, from one run of the QDQ model on a few
   eval images. Each activation tensor is scored by its own quantization error (relative L2 between the
   tensor entering QuantizeLinear and what DequantizeLinear gives back: ORT's `qdq_err`, not accumulated
   from upstream), each weight by the same error against the FP32 weights. Keeping an activation in float
   in ORT means excluding its producer *and* its consumers (ORT quantizes a tensor when any node touching
   it is quantized); a weight needs only its node. Units are added in rank order, one per step, and the
   model is re-quantized and re-measured each time, so the fewest units that meet the budget stay float.
3. Optionally the same with other calibration methods (`methods`), the recipe's first.

Nothing is written unless the budget holds, or `best_effort` (then the best setting reached is written).
The manifest's `accuracy_aware` records the budget, the drop before and after, every step, and what stayed
float and why.

Torch-free, and below `bench` in the layers: predictions come from a `predict(path) -> top-1 per image`
callable that the caller builds (the CLI uses `bench.evaluate.evaluate`).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from edgebench.artifact import ModelArtifact
from edgebench.calibration.dataset import Dataset
from edgebench.calibration.recipes import METHODS, PresetChoice
from edgebench.errors import EdgebenchError, UserInputError
from edgebench.manifest import Manifest

Predict = Callable[[Path], Sequence[int]]
MAX_BUDGET_PTS = 10.0
QDQ = ("QuantizeLinear", "DequantizeLinear")


class BudgetNotMet(EdgebenchError):
    """The accuracy budget could not be met with the allowed float nodes and methods (nothing written)."""

    exit_code = 1


@dataclass(frozen=True)
class AccuracyBudget:
    """How far accuracy-aware PTQ may go.

    budget_pts: the largest paired top-1 drop accepted (points, e.g. 0.3); max_steps: units (tensors or
    weights) kept float at most; methods: calibration methods to try (the recipe's own when empty);
    probe_images: eval images used to rank tensors.
    """

    budget_pts: float
    max_steps: int = 8
    methods: tuple[str, ...] = ()
    probe_images: int = 64
    best_effort: bool = False

    def __post_init__(self) -> None:
        b = self.budget_pts
        if isinstance(b, bool) or not isinstance(b, int | float) or math.isnan(b):
            raise UserInputError(f"--accuracy-budget {b!r} is not a number; give points of top-1, e.g. 0.3")
        if b < 0:
            raise UserInputError(f"--accuracy-budget {b} is negative; give the largest top-1 drop you accept in "
                                 "points (>= 0, e.g. 0.3)")
        if b > MAX_BUDGET_PTS:
            raise UserInputError(f"--accuracy-budget {b} points is not a budget (a drop that large means a broken "
                                 f"model); give 0..{MAX_BUDGET_PTS:g} points, e.g. 0.3")
        if self.max_steps < 0:
            raise UserInputError(f"--max-float {self.max_steps} must be >= 0")
        if self.probe_images < 1:
            raise UserInputError(f"probe_images {self.probe_images} must be >= 1")
        for m in self.methods:
            if m not in METHODS:
                raise UserInputError(f"calibration method '{m}' is not one of {', '.join(METHODS)}")


@dataclass(frozen=True)
class Unit:
    """What one step keeps in float: an activation tensor (its producer + consumers) or one node's weight."""

    kind: str  # "activation" (tensor: producer + consumers float) | "weights" (the node writing `tensor`)
    tensor: str
    nodes: tuple[str, ...]
    error: float  # relative L2 quantization error of the tensor

    def to_dict(self) -> dict[str, Any]:
        what = f"activation '{self.tensor}'" if self.kind == "activation" else f"node {self.nodes[0]} (its weights)"
        why = f"{what} adds {100 * self.error:.1f} % relative L2 error under quantization"
        return {"kind": self.kind, "tensor": self.tensor, "nodes": list(self.nodes),
                "relative_error": round(self.error, 6), "why": why}


# ---- ranking ------------------------------------------------------------------------------------------


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return float(np.linalg.norm(a64 - b64) / (np.linalg.norm(b64) + 1e-12))


def _run_all(model: Any, x: np.ndarray, input_name: str, names: set[str]) -> dict[str, np.ndarray]:
    """Values of the tensors `names` (those the graph has) for input `x`, graph optimizations off."""
    import onnx
    import onnxruntime as ort

    produced = {o for n in model.graph.node for o in n.output} | {i.name for i in model.graph.input}
    have = {o.name for o in model.graph.output}
    for name in sorted((names & produced) - have):
        model.graph.output.append(onnx.ValueInfoProto(name=name))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # the Q/DQ values themselves
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    outs = [o.name for o in sess.get_outputs()]
    values = dict(zip(outs, sess.run(outs, {input_name: x}), strict=True))
    values[input_name] = x
    return values


def rank_units(qdq_path: Path, float_path: Path, x: np.ndarray, input_name: str) -> list[Unit]:
    """What quantization damages most in the QDQ model at `qdq_path`, first: activation tensors and nodes.

    `float_path`: the float graph the QDQ one was made from (after ORT's pre-processing; same tensor names).
    An activation's score is its own QDQ error (values below the quantized range, e.g. a removed ReLU's
    negatives, are not counted); its unit excludes its producer and consumers. A node's score is the error
    it adds: the error of its output against the float model, less that of its worst input and less the
    output's own QDQ error (mostly its weights' rounding); its unit excludes that node alone.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(qdq_path))
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list[Any]] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    quantized: dict[str, tuple[str, Any]] = {}  # float tensor -> (its DQ output, the Q node)
    seen_as: dict[str, str] = {}  # DQ output -> the float tensor it stands for
    for q in (n for n in g.node if n.op_type == "QuantizeLinear" and n.input[0] not in inits):
        for dq in (c for c in consumers.get(q.output[0], []) if c.op_type == "DequantizeLinear"):
            quantized.setdefault(q.input[0], (dq.output[0], q))
            seen_as[dq.output[0]] = q.input[0]
    compute = [n for n in g.node if n.op_type not in QDQ and n.name]
    wanted = set(quantized) | {dq for dq, _ in quantized.values()} | {o for n in compute for o in n.output}
    qv = _run_all(model, x, input_name, wanted)
    fv = _run_all(onnx.load(str(float_path)), x, input_name, wanted)

    def qdq_err(t: str) -> float:
        dq, q = quantized[t]
        scale = numpy_helper.to_array(inits[q.input[1]]).astype(np.float32)
        zp = numpy_helper.to_array(inits[q.input[2]]).astype(np.float32) if len(q.input) > 2 else np.zeros(())
        if scale.ndim:  # per-channel activations: not from this quantizer; no clipping estimate
            return _rel(qv[dq], qv[t])
        qmin = float(np.iinfo(numpy_helper.to_array(inits[q.input[2]]).dtype).min) if len(q.input) > 2 else 0.0
        lo = float(scale) * (qmin - float(zp))
        return _rel(qv[dq], np.maximum(qv[t], lo))

    def cum_err(t: str) -> float | None:  # t as its consumers see it vs the float model
        seen = quantized[t][0] if t in quantized else t
        if t not in fv or seen not in qv or fv[t].shape != qv[seen].shape:
            return None
        return _rel(qv[seen], fv[t])

    units: list[Unit] = []
    for t in quantized:
        nodes = {producer[t].name} if t in producer and producer[t].op_type not in QDQ else set()
        for dq in (d for d, src in seen_as.items() if src == t):
            nodes.update(c.name for c in consumers.get(dq, []) if c.op_type not in QDQ)
        nodes.discard("")
        if nodes and t in qv:
            units.append(Unit("activation", t, tuple(sorted(nodes)), qdq_err(t)))
    for node in compute:
        if len(node.input) < 2 or node.input[1] not in producer or producer[node.input[1]].input[0] not in inits:
            continue  # only nodes with quantized weights
        out = node.output[0]
        e_out = cum_err(out)
        ins = [cum_err(seen_as.get(i, i)) for i in node.input[:1]]
        if e_out is None or any(e is None for e in ins):
            continue
        local = e_out - max(e for e in ins if e is not None) - (qdq_err(out) if out in quantized else 0.0)
        units.append(Unit("weights", out, (node.name,), max(local, 0.0)))
    units.sort(key=lambda u: (-u.error, u.tensor))
    return units


# ---- the search ---------------------------------------------------------------------------------------


def _drop(preds: Sequence[int], base: Sequence[int], labels: np.ndarray) -> float:
    p, b = np.asarray(preds), np.asarray(base)
    return 100.0 * (int((b == labels).sum()) - int((p == labels).sum())) / len(labels)


def _agreement(preds: Sequence[int], base: Sequence[int]) -> float:
    return 100.0 * float((np.asarray(preds) == np.asarray(base)).mean())


def accuracy_aware_quantize(model: Path | ModelArtifact, calib: Dataset, choice: PresetChoice, eval_data: Dataset,
                            predict: Predict, budget: AccuracyBudget, *, output: Path | None = None,
                            batch_size: int = 32, dataset_spec: str | None = None, eval_spec: str | None = None,
                            seed: int | None = None, preprocess_model: bool = True, force: bool = False,
                            log: Callable[[str], None] | None = None) -> Manifest:
    """Static INT8 whose paired top-1 drop on `eval_data` is at most `budget.budget_pts`; returns its manifest.

    Raises `BudgetNotMet` (nothing written) when no tried setting meets the budget, unless `best_effort`.
    """
    from edgebench.calibration.preprocess import preprocess
    from edgebench.calibration.quantize import _pre_process, _prepare, as_artifact, quantize_static_model

    log = log or (lambda _m: None)
    artifact = as_artifact(model)
    source = _prepare(artifact, output, "static", force, choice.recipe.nodes_to_exclude)  # checks before any work
    known = {n.name for n in source.proto.graph.node if n.name}
    labels = np.asarray(eval_data.labels)
    base = list(predict(artifact.path))
    if len(base) != len(labels):
        raise UserInputError(f"predict gave {len(base)} predictions for {len(labels)} eval images")
    pp = source.info.preprocessing
    probe = preprocess(eval_data.images[:budget.probe_images], pp)
    methods = budget.methods or (choice.recipe.method,)
    if choice.recipe.method in methods:
        methods = (choice.recipe.method, *[m for m in methods if m != choice.recipe.method])
    user_excluded = choice.recipe.nodes_to_exclude
    steps: list[dict[str, Any]] = []
    best: tuple[float, PresetChoice, list[Unit], int] | None = None
    met = False

    with tempfile.TemporaryDirectory(prefix="edgebench-aaq-") as td:
        tdir = Path(td)
        float_ref = _pre_process(artifact.path, tdir) if preprocess_model else artifact.path

        def trial(ch: PresetChoice, tag: str) -> tuple[float, Path]:
            out = tdir / f"{tag}.onnx"
            quantize_static_model(artifact, calib, ch, output=out, batch_size=batch_size, dataset_spec=dataset_spec,
                                  seed=seed, preprocess_model=preprocess_model, force=True)
            preds = list(predict(out))
            d = _drop(preds, base, labels)
            nodes = len(ch.recipe.nodes_to_exclude) - len(user_excluded)
            steps.append({"method": ch.recipe.method, "float_nodes": nodes, "drop_pts": round(d, 4),
                          "agreement_pct": round(_agreement(preds, base), 4)})
            log(f"  {ch.recipe.method}, {nodes} node(s) float: drop {d:+.2f} points "
                f"(agreement {steps[-1]['agreement_pct']:.1f} %)")
            return d, out

        for mi, method in enumerate(methods):
            ch = replace(choice, recipe=choice.recipe.with_overrides(method=method))
            d, path = trial(ch, f"m{mi}-0")
            if best is None or d < best[0]:
                best = (d, ch, [], 0)
            if d <= budget.budget_pts:
                met = True
                break
            # only units ORT can exclude by the names of the model given (pre-processing may fuse/rename a few)
            units = [u for u in rank_units(path, float_ref, probe, source.input_name) if set(u.nodes) <= known]
            excluded: list[str] = list(user_excluded)
            kept: list[Unit] = []
            for k in range(budget.max_steps):
                new = next((u for u in units if not set(u.nodes) <= set(excluded)), None)
                if new is None:
                    break
                kept.append(new)
                excluded += [n for n in new.nodes if n not in excluded]
                ch_k = replace(ch, recipe=replace(ch.recipe, nodes_to_exclude=tuple(excluded),
                                                  name=ch.recipe.name if ch.recipe.name.endswith("+")
                                                  else ch.recipe.name + "+"))
                d, _ = trial(ch_k, f"m{mi}-{k + 1}")
                if d < best[0]:
                    best = (d, ch_k, list(kept), mi)
                if d <= budget.budget_pts:
                    met = True
                    break
            if met:
                break
    if best is None:  # pragma: no cover - the first trial always runs
        raise EdgebenchError("accuracy-aware PTQ ran no trial")
    drop_best, ch_best, kept_best, _ = best
    before = steps[0]["drop_pts"]
    record = {
        "budget_pts": budget.budget_pts,
        "met": met,
        "eval_data": eval_spec or eval_data.name,
        "eval_images": len(labels),
        "eval_sha256": eval_data.fingerprint(),
        "drop_before_pts": before,
        "drop_after_pts": round(drop_best, 4),
        "method": ch_best.recipe.method,
        "kept_float": [u.to_dict() for u in kept_best],
        "float_nodes": [n for n in ch_best.recipe.nodes_to_exclude if n not in user_excluded],
        "steps": steps,
        "ranking": "activations by their own QDQ error, nodes by the error they add vs the FP32 graph "
                   f"(relative L2 on {len(probe)} eval images)",
    }
    if not met and not budget.best_effort:
        raise BudgetNotMet(
            f"accuracy budget {budget.budget_pts} points not met: best drop {drop_best:+.2f} points with "
            f"{len(record['float_nodes'])} node(s) float (method {ch_best.recipe.method}; before: {before:+.2f}); "
            "nothing written: raise --max-float, try --try-methods percentile,entropy, or pass --best-effort"
        )
    return quantize_static_model(artifact, calib, ch_best, output=output, batch_size=batch_size,
                                 dataset_spec=dataset_spec, seed=seed, preprocess_model=preprocess_model, force=force,
                                 extra_fields={"accuracy_aware": record})
