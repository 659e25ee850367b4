"""The grid expanded into stage nodes, each keyed by the content hash of its stage, settings and inputs.

    export/import/prune  ->  quantize | convert  ->  evaluate (workstation)  ->  bench (on each device)

A node's key is ``sha256(stage, STAGE_VERSION, settings, keys of its inputs)``: the keys chain like a
Merkle tree, so changing a setting re-runs that node and everything below it and nothing else. Source
nodes hash what they read (a model file's sha256, the published weights' sha256), and a bench node
hashes its device's fingerprint id (probed once per run for a remote device), so a cached result never
answers for another machine or board.

Example::

    g = build_graph(cfg, Host(cpu=cpu_info(), machine_id=fingerprint()["id"], runtimes=("ort-cpu",)))
    [n.label for n in g.nodes.values()]
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgebench.runtimes.precisions import REDUCED, precision_way
from edgebench.sweep.config import (
    ALL_INSTALLED,
    LOCAL,
    RUNTIME_PRECISIONS,
    Precision,
    SweepConfig,
    convert_precisions,
    is_model_file,
    runs,
)

STAGE_VERSION = 1  # bump when a stage's output for the same settings changes
BASELINE_RUNTIME = "ort-cpu"  # each lineage's FP32 evaluation, which every cell of that model is paired with
COMPUTE_STAGES = ("export", "import", "prune", "quantize", "convert", "evaluate")
STAGES = (*COMPUTE_STAGES, "bench")


def content_key(stage: str, settings: Mapping[str, Any], inputs: tuple[str, ...]) -> str:
    """sha256 of the stage name, its settings and its inputs' keys (JSON with sorted keys).

    >>> a = content_key("quantize", {"preset": "x86-vnni"}, ("ab",))
    >>> a == content_key("quantize", {"preset": "x86-vnni"}, ("ab",)), a == content_key("quantize", {}, ("ab",))
    (True, False)
    """
    text = json.dumps({"stage": stage, "version": STAGE_VERSION, "settings": settings, "inputs": list(inputs)},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Node:
    """One stage of one cell. `settings` is JSON (stored as text so the node is hashable and travels to Ray)."""

    key: str
    stage: str
    label: str
    settings_json: str
    deps: tuple[str, ...] = ()

    @property
    def settings(self) -> dict[str, Any]:
        return json.loads(self.settings_json)

    @property
    def compute(self) -> bool:
        return self.stage != "bench"

    @property
    def device(self) -> str | None:
        return self.settings.get("device") if self.stage == "bench" else None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "stage": self.stage, "label": self.label, "settings": self.settings,
                "deps": list(self.deps)}


def make_node(stage: str, label: str, settings: Mapping[str, Any], deps: tuple[str, ...] = ()) -> Node:
    return Node(content_key(stage, settings, deps), stage, label,
                json.dumps(dict(settings), sort_keys=True), deps)


@dataclass(frozen=True)
class Host:
    """What the plan needs to know about this workstation and the devices (read by the caller)."""

    cpu: Mapping[str, Any]  # edgebench.cpu.cpu_info(): resolves the INT8 preset 'auto'
    machine_id: str  # bench.fingerprint.fingerprint()["id"] of the local device
    runtimes: tuple[str, ...]  # installed runtimes (for 'installed')
    # remote device -> its fingerprint id (probed once per run), or None when the probe failed (its cells fail)
    device_ids: Mapping[str, str | None] = field(default_factory=dict)
    # runtimes whose converter (edgebench convert) is installed; None: not checked (all)
    converters: tuple[str, ...] | None = None
    file_sha256: Mapping[str, str] = field(default_factory=dict)  # model file entry -> sha256 of its .onnx
    weights_sha256: Mapping[str, str | None] = field(default_factory=dict)  # zoo model -> published weights sha


@dataclass(frozen=True)
class Graph:
    """Nodes in topological order (dict order), the bench cells, and notes about what was left out."""

    nodes: dict[str, Node]
    cells: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def dependants(self, key: str) -> list[str]:
        return [k for k, n in self.nodes.items() if key in n.deps]

    def count(self, stage: str) -> int:
        return sum(1 for n in self.nodes.values() if n.stage == stage)


def variant_label(model: str, ratio: float | None, precision: Precision | None, preset: str | None) -> str:
    """resnet20, resnet20-p30, resnet20-p30-int8-x86-vnni, resnet20-fp16.

    >>> variant_label("resnet20", 0.3, Precision("int8", "auto"), "x86-vnni")
    'resnet20-p30-int8-x86-vnni'
    """
    base = Path(model).parent.name if model.endswith(".onnx") else Path(model).name if is_model_file(model) else model
    base = base.replace(":", "_").replace("/", "_")
    if ratio is not None:
        base += f"-p{round(ratio * 100):d}"
    if precision is None:
        return base
    return f"{base}-{precision.kind}" + (f"-{preset}" if preset else "")


def resolved_preset(precision: Precision, cpu: Mapping[str, Any]) -> str | None:
    """The preset name behind 'auto' for this workstation (it calibrates; the key records the resolved name)."""
    if precision.preset is None:
        return None
    if precision.preset != "auto":
        return precision.preset
    from edgebench.calibration.recipes import resolve_preset

    return resolve_preset("auto", None, cpu).preset


def expand_runtimes(cfg: SweepConfig, installed: tuple[str, ...]) -> tuple[str, ...]:
    """`installed` in [bench] runtimes -> every installed runtime the sweep drives, in registry order."""
    out: list[str] = []
    for rt in cfg.bench.runtimes:
        names = [r for r in installed if r in RUNTIME_PRECISIONS or convert_precisions(r)] \
            if rt == ALL_INSTALLED else [rt]
        out += [r for r in names if r not in out]
    return tuple(out)


def _reads_onnx(runtime: str) -> bool:
    from edgebench.runtimes import RUNTIMES

    return bool(getattr(RUNTIMES.get(runtime), "reads_onnx", False))


def _model_sources(cfg: SweepConfig, host: Host, model: str, add: Callable[[Node], Node],
                   notes: list[str]) -> list[tuple[Node, float | None]]:
    """The nodes that make `model`'s FP32 files, with their prune ratio (None: unpruned, first): its import (a
    model file) or export (a zoo model) and, for a zoo model, its pruned variants."""
    data = {"data_dir": cfg.data_dir}
    sources: list[tuple[Node, float | None]] = []
    if is_model_file(model):
        sha = host.file_sha256.get(model)
        sources.append((add(make_node("import", f"import {model}", {
            "path": str(Path(model).resolve()), "sha256": sha, "variant": variant_label(model, None, None, None)})),
            None))
        if cfg.prune.ratios:
            notes.append(f"'{model}' is a model file: pruning applies to zoo models, so it has no pruned variants")
    else:
        weights = {"source": "random-init"} if cfg.export.random_init else {
            "source": "published", "sha256": host.weights_sha256.get(model)}
        ex = cfg.export
        sources.append((add(make_node("export", f"export {model}", {
            "model": model, "weights": weights, "parity_data": ex.parity_data, "batch": ex.batch,
            "opset": ex.opset, "variant": variant_label(model, None, None, None), **data})), None))
        p = cfg.prune
        # only when on: the keys of sweeps without distillation stay what they were
        distill = {"distill": {"alpha": p.distill_alpha, "temperature": p.distill_temperature}} \
            if p.distill else {}
        for ratio in p.ratios:  # pruned variants: their lineage's FP32 is the unpruned model's
            sources.append((add(make_node("prune", f"prune {model} {ratio:g}", {
                "model": model, "weights": weights, "ratio": ratio, "importance": p.importance, "scope": p.scope,
                "round_to": p.round_to, "finetune_epochs": p.finetune_epochs, "lr": p.lr,
                "batch_size": p.batch_size, "train_data": p.train_data, "limit_train": p.limit_train,
                "seed": p.seed, "test_data": cfg.eval.data, "limit_test": cfg.eval.limit, **distill,
                "variant": variant_label(model, ratio, None, None), **data})), ratio))
    return sources


def _not_run_notes(cfg: SweepConfig, runtimes: tuple[str, ...], no_converter: set[str]) -> list[str]:
    """The notes on the grid's cells that are not run: precisions a runtime does not take, missing converters."""
    out: list[str] = []
    skipped = [f"{r} x {p}" for r in runtimes if r in RUNTIME_PRECISIONS for p in cfg.quantize.parsed
               if not runs(r, p)]
    skipped += [f"{r} x {k}" for r in runtimes if r not in RUNTIME_PRECISIONS
                for k in sorted({p.kind for p in cfg.quantize.parsed}) if not runs(r, Precision(k))]
    if skipped:
        out.append("not run (the runtime does not take that model file): " + ", ".join(skipped))
    if no_converter:
        from edgebench.runtimes.converters import CONVERT_HINT

        out.append("not run (the runtime is installed, its converter is not): " + ", ".join(sorted(no_converter))
                   + f"; {CONVERT_HINT}")
    return out


def build_graph(cfg: SweepConfig, host: Host) -> Graph:
    """Expand the grid. Pure: every fact about the machine comes in `host`."""
    nodes: dict[str, Node] = {}
    notes: list[str] = []
    cells: list[str] = []
    no_converter: set[str] = set()

    def add(n: Node) -> Node:
        nodes.setdefault(n.key, n)
        return nodes[n.key]

    runtimes = expand_runtimes(cfg, host.runtimes)
    data = {"data_dir": cfg.data_dir}

    def eval_node(artifact: Node, variant: str, rt: str, rt_options: dict[str, Any], baseline: Node | None) -> Node:
        """The evaluation of `artifact` on `rt`, paired with `baseline` (its lineage's FP32 on ort-cpu) on the
        same images; `baseline` None: this is that FP32 evaluation."""
        return add(make_node("evaluate", f"evaluate {variant}/{rt}", {
            "runtime": rt, "data": cfg.eval.data, "limit": cfg.eval.limit,
            "arithmetic": cfg.eval.arithmetic, "threads": 1, "runtime_options": rt_options,
            "variant": variant, "paired_with": baseline.label if baseline else None, **data},
            (artifact.key, baseline.key) if baseline else (artifact.key,)))

    def cell_nodes(artifact: Node, variant: str, rt: str, preset: str | None, precision: str,
                   ratio: float | None, rt_options: dict[str, Any], baseline: Node) -> list[str]:
        """The evaluation of `artifact` on `rt` and its bench cells (threads x batch x devices)."""
        own = baseline.deps == (artifact.key,) and rt == BASELINE_RUNTIME and not rt_options
        ev = baseline if own else eval_node(artifact, variant, rt, rt_options, baseline)
        b = cfg.bench
        out: list[str] = []
        for device in b.devices:
            machine = host.machine_id if device == LOCAL else host.device_ids.get(device)
            for threads in b.threads:
                for batch in b.batch:
                    cell = add(make_node("bench", f"bench {variant}/{rt} t{threads} b{batch} @{device}", {
                        "runtime": rt, "threads": threads, "batch": batch, "device": device,
                        "machine_id": machine, "runtime_options": rt_options,
                        "min_seconds": b.min_seconds, "min_iters": b.min_iters,
                        "warmup_iters": b.warmup_iters, "max_seconds": b.max_seconds,
                        "variant": variant, "preset": preset, "precision": precision,
                        "prune_ratio": ratio, "model": model, "sweep": cfg.name},
                        (artifact.key, ev.key)))
                    if cell.key not in cells and cell.key not in out:
                        out.append(cell.key)
        return out
    for model in cfg.models:
        sources = _model_sources(cfg, host, model, add, notes)
        # every cell of this model is evaluated against its unpruned FP32 on ort-cpu, on the same images
        root = sources[0][0]
        baseline = eval_node(root, variant_label(model, None, Precision("fp32"), None), BASELINE_RUNTIME, {}, None)
        for src, ratio in sources:
            kinds = {p.kind for p in cfg.quantize.parsed}
            for rt in runtimes:
                for cprec in convert_precisions(rt):  # openvino, litert, ncnn: their own model files
                    # bf16/fp16 by options on this file (openvino, ncnn: precision_way), beside the file's own
                    reduced = [(k, dict(w.options)) for k in REDUCED if k in kinds and rt not in RUNTIME_PRECISIONS
                               and runs(rt, Precision(k)) and (w := precision_way(rt, k)) is not None
                               and w.file == cprec]
                    if cprec not in kinds and not reduced:
                        continue
                    variant = variant_label(model, ratio, Precision(cprec), None)
                    if cprec == "fp32" and _reads_onnx(rt):
                        artifact = src
                    elif host.converters is not None and rt not in host.converters:
                        no_converter.add(f"{rt} x {cprec}")
                        continue
                    else:
                        q, c = cfg.quantize, cfg.convert
                        int8 = cprec == "int8"
                        artifact = add(make_node("convert", f"convert {variant}/{rt}", {
                            "runtime": rt, "precision": cprec, "calibration": q.calibration if int8 else None,
                            "calib_size": q.calib_size if int8 else None, "seed": q.seed,
                            "parity_data": c.parity_data or cfg.eval.data, "parity_images": c.parity_images,
                            "tolerance": asdict(c.tolerance()), "variant": variant, **data}, (src.key,)))
                    if cprec in kinds:
                        cells += cell_nodes(artifact, variant, rt, None, cprec, ratio, {}, baseline)
                    for k, k_options in reduced:
                        cells += cell_nodes(artifact, variant_label(model, ratio, Precision(k), None), rt, None, k,
                                            ratio, k_options, baseline)
            for prec in cfg.quantize.parsed:
                preset = resolved_preset(prec, host.cpu)
                variant = variant_label(model, ratio, prec, preset)
                if prec.kind in ("fp32", "bf16"):  # bf16 has no file of its own: the FP32 model with options
                    artifact = src
                else:
                    q = cfg.quantize
                    artifact = add(make_node("quantize", f"quantize {variant}", {
                        "mode": {"int8": "static", "int8-dynamic": "dynamic", "fp16": "fp16"}[prec.kind],
                        "preset": preset, "calibration": q.calibration if prec.kind == "int8" else None,
                        "calib_size": q.calib_size if prec.kind == "int8" else None,
                        "seed": q.seed if prec.kind == "int8" else None, "variant": variant, **data}, (src.key,)))
                for rt in runtimes:
                    if rt not in RUNTIME_PRECISIONS or not runs(rt, prec):
                        continue
                    q = cfg.quantize  # torch-int8 calibrates on the sweep's [quantize] images, as ORT INT8 does
                    rt_options: dict[str, Any] = {"calibration_data": q.calibration, "calibration_size": q.calib_size,
                                                  "calibration_seed": q.seed} if rt == "torch-int8" else {}
                    way = precision_way(rt, prec.kind) if prec.kind in REDUCED else None
                    if way is not None:  # torch bf16: autocast on the FP32 model
                        rt_options = dict(way.options)
                    cells += cell_nodes(src if way is not None else artifact, variant, rt, preset,
                                        str(Precision(prec.kind, preset)), ratio, rt_options, baseline)
    notes += _not_run_notes(cfg, runtimes, no_converter)
    if not cells:
        from edgebench.errors import UserInputError

        raise UserInputError("empty grid: no installed runtime of the sweep runs any of its precisions")
    return Graph(nodes, tuple(cells), tuple(notes))


DONE, ERROR, INTERRUPTED = "done.json", "error.json", "interrupted.json"  # a stage's markers in cache/<key>/
PATH_OUTPUTS = ("model", "accuracy", "result")  # the outputs that name a file in the stage's folder


def marker_digest(marker: Mapping[str, Any]) -> str:
    """sha256 of a done marker's JSON (sorted keys) without its own ``sha256`` field."""
    body = {k: v for k, v in marker.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def done_marker(folder: Path, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The done marker of a finished stage: `fields`, the sha256 of every file in `folder`, and its own digest.

    Written last, atomically (`write_json`), by the executor; `verify_done` checks all of it on reuse.
    """
    from edgebench.devices.push import folder_bundle

    marker = {**fields, "files": folder_bundle(Path(folder)).hashes()}
    return {**marker, "sha256": marker_digest(marker)}


def _inside(folder: Path, rel: Any) -> str | None:
    """Why `rel` is not a relative path to a file inside `folder` (None when it is)."""
    from pathlib import PurePosixPath

    if not isinstance(rel, str) or not rel:
        return f"{rel!r} is not a relative path"
    pp = PurePosixPath(rel)
    if pp.is_absolute() or Path(rel).is_absolute() or ".." in pp.parts:
        return f"'{rel}' is outside the stage folder"
    try:
        if not (folder / rel).resolve().is_relative_to(folder.resolve()):
            return f"'{rel}' is outside the stage folder (a link)"
    except (OSError, RuntimeError):
        return f"'{rel}' cannot be resolved"
    return None


def verify_done(cache: Path, key: str) -> tuple[dict[str, Any] | None, str | None]:
    """The done marker of `key` when it and every file it records are as written; else (None, why).

    (None, None): the stage has not finished (no marker). A marker that is not JSON, not an object, written
    for another key, edited (its digest), without content hashes (an older edgebench), or that names a path
    outside its folder, or whose files are missing or changed, is not trusted: (None, the reason); the
    stage runs again. Nothing outside ``cache/<key>/`` is ever read.
    """
    from edgebench.manifest import sha256_file

    folder = Path(cache) / key
    p = folder / DONE
    if not p.is_file():
        return None, None
    try:
        marker = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, f"{DONE} is not JSON"
    except OSError as e:
        return None, f"{DONE} cannot be read ({e.strerror or e})"
    if not isinstance(marker, dict):
        return None, f"{DONE} holds a {type(marker).__name__}, not an object"
    if "sha256" not in marker or not isinstance(marker.get("files"), dict):
        return None, f"{DONE} has no content hashes (written by an older edgebench)"
    if marker["sha256"] != marker_digest(marker):
        return None, f"{DONE} was edited (its sha256 does not match its content)"
    if marker.get("key") != key:
        return None, f"{DONE} belongs to stage {str(marker.get('key'))[:12]}, not to this folder"
    outputs = marker.get("outputs")
    if not isinstance(outputs, dict):
        return None, f"{DONE} has no outputs"
    files: dict[str, Any] = marker["files"]
    for name in PATH_OUTPUTS:
        if name in outputs:
            why = _inside(folder, outputs[name])
            if why:
                return None, f"outputs.{name} {why}"
            if outputs[name] not in files:
                return None, f"outputs.{name} '{outputs[name]}' has no recorded sha256"
    for rel, sha in files.items():
        why = _inside(folder, rel)
        if why:
            return None, f"recorded file {why}"
        f = folder / rel
        if not f.is_file():
            return None, f"'{rel}' is missing (or not a file)"
        try:
            got = sha256_file(f)
        except OSError as e:
            return None, f"'{rel}' cannot be read ({e.strerror or e})"
        if got != sha:
            return None, f"'{rel}' changed since the stage finished (sha256 {got[:12]}, recorded {str(sha)[:12]})"
    return marker, None


def read_done(cache: Path, key: str) -> dict[str, Any] | None:
    """The verified done marker of `key`, or None when the stage has not finished or its cache is not
    trusted (`verify_done` says why)."""
    return verify_done(cache, key)[0]
