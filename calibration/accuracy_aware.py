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
   Low-bit recipes (6- or 4-bit weights; `fallback` "int8", their default) rescue in two stages: first the
   nodes whose weights the low bit width damages most get the preset's INT8 weights (`QuantRecipe.int8_nodes`),
   one per step; only if that is not enough is the model re-ranked (its 8-bit nodes included) and units kept
   float as above. `fallback` "float" goes straight to float.
3. Optionally the same with other calibration methods (`methods`), the recipe's first.

Nothing is written unless the budget holds, or `best_effort` (then the best setting reached is written).
The manifest's `accuracy_aware` records the budget, the drop before and after, every step, what stayed
float or went to 8 bits, and per node (`fell_back`) what it fell back to and why.

Torch-free, and below `bench`: predictions come from a `predict(path) -> one prediction per image` callable;
`calibration.entry` builds it for a `BudgetConfig` with `calibration.eval_set.eval_set`
(`calibration.evaluate.evaluate`, or `evaluate_detection` for a detector), so no caller above calibration
supplies one. The metric is the task's
(`edgebench.task.Task`, given by the caller from the registry): its headline (`metric_names[0]`: top-1, or
mAP@0.5:0.95 for a detector) gives the drop, its paired comparison the agreement (`agreement_key`: top-1
agreement, or box agreement); without a task, top-1 against the labels.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from edgebench.artifact import ModelArtifact
from edgebench.calibration.dataset import Dataset
from edgebench.calibration.recipes import METHODS, PresetChoice, QuantRecipe
from edgebench.errors import EdgebenchError, UserInputError, check_one_of
from edgebench.manifest import InputInfo, Manifest
from edgebench.task import Task

if TYPE_CHECKING:
    from edgebench.calibration.detection_data import DetectionDataset

Predict = Callable[[Path], Sequence[Any]]
MAX_BUDGET_PTS = 10.0
QDQ = ("QuantizeLinear", "DequantizeLinear")
FALLBACKS = ("int8", "float")


class BudgetNotMet(EdgebenchError):
    """The accuracy budget could not be met with the allowed float nodes and methods (nothing written)."""

    exit_code = 1


@dataclass(frozen=True)
class AccuracyBudget:
    """How far accuracy-aware PTQ may go.

    budget_pts: the largest paired drop accepted (points of top-1, or of the task's headline metric, e.g. 0.3);
    max_steps: units (tensors or weights) kept float at most; methods: calibration methods to try (the recipe's
    own when empty);
    probe_images: eval images used to rank tensors.
    """

    budget_pts: float
    max_steps: int = 8
    methods: tuple[str, ...] = ()
    probe_images: int = 64
    best_effort: bool = False
    fallback: str | None = None  # "int8" | "float"; None: int8 for 6/4-bit weights, float otherwise

    def __post_init__(self) -> None:
        b = self.budget_pts
        if isinstance(b, bool) or not isinstance(b, int | float) or math.isnan(b):
            raise UserInputError(f"--accuracy-budget {b!r} is not a number; give points of top-1 (of mAP@0.5:0.95 "
                                 "for a detector), e.g. 0.3")
        if b < 0:
            raise UserInputError(f"--accuracy-budget {b} is negative; give the largest drop you accept in points "
                                 "of top-1 (of mAP@0.5:0.95 for a detector), >= 0, e.g. 0.3")
        if b > MAX_BUDGET_PTS:
            raise UserInputError(f"--accuracy-budget {b} points is not a budget (a drop that large means a broken "
                                 f"model); give 0..{MAX_BUDGET_PTS:g} points, e.g. 0.3")
        if self.max_steps < 0:
            raise UserInputError(f"--max-float {self.max_steps} must be >= 0")
        if self.probe_images < 1:
            raise UserInputError(f"probe_images {self.probe_images} must be >= 1")
        if self.fallback is not None:
            check_one_of("--fallback", self.fallback, FALLBACKS)
        for m in self.methods:
            check_one_of("calibration method", m, METHODS)


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


@dataclass(frozen=True)
class Rescue:
    """One step of the search: a unit raised to 8-bit weights (`to` "int8") or kept float, and why."""

    unit: Unit
    to: str  # "int8" | "float"
    note: str = ""

    def why(self) -> str:
        return "; ".join(x for x in (self.unit.to_dict()["why"], self.note) if x)


def fell_back(rescues: Sequence[Rescue], float_nodes: Sequence[str], int8_nodes: Sequence[str]) -> list[dict[str, Any]]:
    """Per node of the final model, what it fell back to (int8 / float) and why (the step that put it there)."""
    last: dict[str, Rescue] = {}
    for r in rescues:
        for n in r.unit.nodes:
            last[n] = r
    out = []
    for n in [*float_nodes, *[m for m in int8_nodes if m not in float_nodes]]:
        to = "float" if n in float_nodes else "int8"
        r = last.get(n)
        out.append({"node": n, "to": to, "why": r.why() if r is not None and r.to == to else "given by the user"})
    return out


def resolve_fallback(budget: AccuracyBudget, recipe: QuantRecipe) -> str:
    """`budget.fallback`, or its default for `recipe`: int8 under 6/4-bit weights, float otherwise.

    8-bit fallback is about weights: 16-bit activations are finer than the INT8 recipe's, so a node under
    16-bit activations is not rescued by 8 bits and falls back to float.
    """
    if budget.fallback is None:
        return "int8" if recipe.weight_bits < 8 else "float"
    if budget.fallback == "int8" and recipe.weight_bits == 8:
        acts = " (16-bit activations are finer than INT8's, so they fall back to float)" \
            if recipe.activation_bits == 16 else ""
        raise UserInputError(f"--fallback int8: the recipe's weights are already 8-bit{acts}; 8-bit fallback "
                             "rescues --weight-bits 6 or 4: use --fallback float")
    return budget.fallback


# ---- ranking ------------------------------------------------------------------------------------------


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return float(np.linalg.norm(a64 - b64) / (np.linalg.norm(b64) + 1e-12))


def _run_all(model: Any, x: np.ndarray, input_name: str, names: set[str]) -> dict[str, np.ndarray]:
    """Values of the tensors `names` (those the graph has) for input `x`, graph optimizations off."""
    import onnx
    from edgebench.runtimes.ort.options import cpu_session

    produced = {o for n in model.graph.node for o in n.output} | {i.name for i in model.graph.input}
    have = {o.name for o in model.graph.output}
    for name in sorted((names & produced) - have):
        model.graph.output.append(onnx.ValueInfoProto(name=name))
    # graph optimization off: the Q/DQ values themselves
    sess = cpu_session(model.SerializeToString(), intra_op_threads=1, graph_optimization="disable")
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


def _comparison(task: Task | None, eval_data: Dataset | DetectionDataset
                ) -> Callable[[Sequence[Any], Sequence[Any]], tuple[float, float]]:
    """(drop in points, agreement %) of predictions against the parent's: the task's headline metric and paired
    comparison when `task` is given, else top-1 against `eval_data.labels`."""
    if task is None:
        from edgebench.calibration.metrics import paired_metrics

        def top1(preds: Sequence[Any], base: Sequence[Any]) -> tuple[float, float]:
            m = paired_metrics(preds, base, eval_data.labels)  # type: ignore[union-attr]
            return -m["top1_delta_pts"], m["agreement_pct"]

        return top1
    head = task.metric_names[0]

    def compare(preds: Sequence[Any], base: Sequence[Any]) -> tuple[float, float]:
        s, sb = task.score(preds, eval_data), task.score(base, eval_data)
        paired = task.paired(preds, base, eval_data, s, sb)
        return float(sb[head]) - float(s[head]), float(paired[task.agreement_key])

    return compare


def probe_inputs(eval_data: Dataset | DetectionDataset, info: InputInfo, n: int) -> np.ndarray:
    """The first `n` eval images as the model's input (float32), to rank tensors on; a detection dataset's
    images are resized to the model's input first, as `eval` does."""
    from edgebench.calibration.detection_data import DetectionDataset, fitted_images
    from edgebench.calibration.preprocess import preprocess

    if isinstance(eval_data, DetectionDataset):
        return preprocess(fitted_images(eval_data.subset(n), info), info.preprocessing, info.image_hw())
    return preprocess(eval_data.images[:n], info.preprocessing)


def accuracy_aware_quantize(model: Path | ModelArtifact, calib: Dataset, choice: PresetChoice,
                            eval_data: Dataset | DetectionDataset, predict: Predict, budget: AccuracyBudget, *,
                            task: Task | None = None, output: Path | None = None,
                            batch_size: int = 32, dataset_spec: str | None = None, eval_spec: str | None = None,
                            seed: int | None = None, preprocess_model: bool = True, force: bool = False,
                            log: Callable[[str], None] | None = None, requested_size: int | None = None) -> Manifest:
    """Static INT8 whose paired drop on `eval_data` (top-1, or `task`'s headline metric: mAP@0.5:0.95 for a
    detector) is at most `budget.budget_pts`; returns its manifest.

    Raises `BudgetNotMet` (nothing written) when no tried setting meets the budget, unless `best_effort`.
    """
    from edgebench.calibration.quantize import _pre_process, _prepare, as_artifact, quantize_static_model

    log = log or (lambda _m: None)
    fallback = resolve_fallback(budget, choice.recipe)
    artifact = as_artifact(model)
    if isinstance(eval_data, Dataset):
        eval_data.require_labels("--accuracy-budget")
    source = _prepare(artifact, output, "static", force, choice.recipe.nodes_to_exclude,  # checks before any work
                      choice.recipe.op_types_to_exclude)
    known = {n.name for n in source.proto.graph.node if n.name}
    compare = _comparison(task, eval_data)
    base = list(predict(artifact.path))
    if len(base) != len(eval_data):
        raise UserInputError(f"predict gave {len(base)} predictions for {len(eval_data)} eval images")
    probe = probe_inputs(eval_data, source.info, budget.probe_images)
    methods = _methods_in_order(budget.methods, choice.recipe.method)
    user_excluded = choice.recipe.nodes_to_exclude
    user_int8 = choice.recipe.int8_nodes
    low = f"{choice.recipe.weight_bits}-bit"
    steps: list[dict[str, Any]] = []
    best: tuple[float, PresetChoice, list[Rescue], int] | None = None
    met = False

    with tempfile.TemporaryDirectory(prefix="edgebench-aaq-") as td:
        tdir = Path(td)
        float_ref = _pre_process(artifact.path, tdir) if preprocess_model else artifact.path

        def trial(ch: PresetChoice, tag: str) -> tuple[float, Path]:
            out = tdir / f"{tag}.onnx"
            quantize_static_model(artifact, calib, ch, output=out, batch_size=batch_size, dataset_spec=dataset_spec,
                                  seed=seed, preprocess_model=preprocess_model, force=True)
            preds = list(predict(out))
            d, agreement = compare(preds, base)
            nodes = len(ch.recipe.nodes_to_exclude) - len(user_excluded)
            n8 = len(ch.recipe.int8_nodes) - len(user_int8)
            steps.append({"method": ch.recipe.method, "float_nodes": nodes, "int8_nodes": n8, "drop_pts": round(d, 4),
                          "agreement_pct": round(agreement, 4)})
            at8 = f", {n8} at 8 bits" if fallback == "int8" else ""
            log(f"  {ch.recipe.method}, {nodes} node(s) float{at8}: drop {d:+.2f} points "
                f"(agreement {steps[-1]['agreement_pct']:.1f} %)")
            return d, out

        def escalate(kind: str, units: list[Any], why: str, tag: str, ch: PresetChoice, mi: int,
                     kept: list[Rescue], int8: list[str], excluded: list[str], d: float,
                     path: Path) -> tuple[bool, float, Path]:
            """Rescue the most damaging unit not yet rescued (its weights at 8 bits, or the unit in float), one
            per trial, until the budget holds; returns (met, last drop, last model)."""
            nonlocal best
            for k in range(budget.max_steps):
                if kind == "int8":
                    new = next((u for u in units if u.nodes[0] not in int8), None)
                else:
                    new = next((u for u in units if not set(u.nodes) <= set(excluded)), None)
                if new is None:
                    break
                if kind == "int8":
                    int8.append(new.nodes[0])
                else:
                    excluded += [n for n in new.nodes if n not in excluded]
                kept.append(Rescue(new, kind, why))
                ch_k = _with_nodes(ch, int8, excluded)
                d, path = trial(ch_k, f"m{mi}-{tag}{k + 1}")
                if best is None or d < best[0]:
                    best = (d, ch_k, list(kept), mi)
                if d <= budget.budget_pts:
                    return True, d, path
            return False, d, path

        for mi, method in enumerate(methods):
            ch = replace(choice, recipe=choice.recipe.with_overrides(method=method))
            d, path = trial(ch, f"m{mi}-0")
            if best is None or d < best[0]:
                best = (d, ch, [], mi)
            if d <= budget.budget_pts:
                met = True
                break
            excluded: list[str] = list(user_excluded)
            int8: list[str] = list(user_int8)
            kept: list[Rescue] = []
            note = ""
            if fallback == "int8":
                # first the weights that the low bit width damages most, at the preset's 8 bits (one per step)
                units = [u for u in rank_units(path, float_ref, probe, source.input_name)
                         if u.kind == "weights" and set(u.nodes) <= known]
                met, d, path = escalate("int8", units, f"8-bit weights (the {choice.preset} INT8 recipe) instead "
                                        f"of {low}", "i", ch, mi, kept, int8, excluded, d, path)
                if met:
                    break
                note = (f"8-bit was not enough: drop {d:+.2f} points with {len(int8) - len(user_int8)} node(s) "
                        "at 8 bits")
            # what (still) damages most, kept float: ranked on the last model tried (its 8-bit nodes included)
            # only units ORT can exclude by the names of the model given (pre-processing may fuse/rename a few)
            units = [u for u in rank_units(path, float_ref, probe, source.input_name) if set(u.nodes) <= known]
            met, d, path = escalate("float", units, note, "f", ch, mi, kept, int8, excluded, d, path)
            if met:
                break
    if best is None:  # pragma: no cover - the first trial always runs
        raise EdgebenchError("accuracy-aware PTQ ran no trial")
    ch_best = best[1]
    record = _record(budget, task, met, eval_data, eval_spec, steps, best, fallback, choice.recipe, len(probe))
    if not met and not budget.best_effort:
        raise _unmet(budget, record, fallback, best[0])
    return quantize_static_model(artifact, calib, ch_best, output=output, batch_size=batch_size,
                                 dataset_spec=dataset_spec, seed=seed, preprocess_model=preprocess_model, force=force,
                                 extra_fields={"accuracy_aware": record}, requested_size=requested_size, log=log)


def _methods_in_order(methods: tuple[str, ...] | None, preset_method: str) -> tuple[str, ...]:
    """The calibration methods to try: the preset's first when it is among them (all of them: just the preset's)."""
    methods = methods or (preset_method,)
    if preset_method in methods:
        methods = (preset_method, *[m for m in methods if m != preset_method])
    return methods


def _with_nodes(ch: PresetChoice, int8: list[str], excluded: list[str]) -> PresetChoice:
    """`ch` with these nodes float (`excluded`) and these weights at 8 bits (`int8`); its name marked '+'."""
    name = ch.recipe.name if ch.recipe.name.endswith("+") else ch.recipe.name + "+"
    return replace(ch, recipe=replace(ch.recipe, nodes_to_exclude=tuple(excluded), name=name,
                                      int8_nodes=tuple(n for n in int8 if n not in excluded)))


def _record(budget: AccuracyBudget, task: Task | None, met: bool, eval_data: Dataset | DetectionDataset,
            eval_spec: str | None, steps: list[dict[str, Any]], best: tuple[float, PresetChoice, list[Rescue], int],
            fallback: str, recipe: Any, probe_images: int) -> dict[str, Any]:
    """The manifest's `accuracy_aware` record of the search: the budget, the best setting found, every step."""
    drop_best, ch_best, kept_best, _ = best
    float_nodes = [n for n in ch_best.recipe.nodes_to_exclude if n not in recipe.nodes_to_exclude]
    int8_nodes = [n for n in ch_best.recipe.int8_nodes if n not in recipe.int8_nodes]
    return {
        "budget_pts": budget.budget_pts,
        "metric": task.metric_names[0] if task is not None else "top1_pct",
        "agreement": task.agreement_key if task is not None else "agreement_pct",
        "met": met,
        "eval_data": eval_spec or eval_data.name,
        "eval_images": len(eval_data),
        "eval_sha256": eval_data.fingerprint(),
        "drop_before_pts": steps[0]["drop_pts"],
        "drop_after_pts": round(drop_best, 4),
        "method": ch_best.recipe.method,
        "fallback": fallback,
        "kept_float": [r.unit.to_dict() for r in kept_best if r.to == "float"],
        "kept_int8": [r.unit.to_dict() for r in kept_best if r.to == "int8"],
        "float_nodes": float_nodes,
        "int8_nodes": int8_nodes,
        "fell_back": fell_back(kept_best, float_nodes, int8_nodes),
        "steps": steps,
        "ranking": "activations by their own QDQ error, nodes by the error they add vs the FP32 graph "
                   f"(relative L2 on {probe_images} eval images)"
                   + ("; 8-bit fallback first: weights units only, then float re-ranked on the model with its "
                      "8-bit nodes" if fallback == "int8" else ""),
    }


def _unmet(budget: AccuracyBudget, record: dict[str, Any], fallback: str, drop_best: float) -> BudgetNotMet:
    """The error of a search that met no budget (nothing is written), with what to try next."""
    n_int8 = len(record["int8_nodes"])
    return BudgetNotMet(
        f"accuracy budget {budget.budget_pts} points not met: best drop {drop_best:+.2f} points with "
        f"{len(record['float_nodes'])} node(s) float{f' and {n_int8} at 8 bits' if fallback == 'int8' else ''} "
        f"(method {record['method']}; before: {record['drop_before_pts']:+.2f}); "
        "nothing written: raise --max-float, try --try-methods percentile,entropy, or pass --best-effort"
    )
