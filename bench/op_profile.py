"""Per-operator profile from ONNX Runtime's profiler: time per op type and per node, INT8 vs FP32 nodes.

ORT writes a Chrome-trace JSON: one `cat: "Node"` event per kernel call (name `<node>_kernel_time`,
`args.op_name`, `args.input_type_shape`) and one `cat: "Session"`, `name: "model_run"` event per run.
Only node events inside the timed runs (after the warm-up runs) are counted.

A node's precision is read from the type of its first (data) input as the kernel saw it after ORT's
graph fusions: `int8` when it is int8/uint8 (QLinearConv, QGemm, MaxPool on uint8, ...), `convert` for
QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear, otherwise the float type (`fp32`, `fp16`).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from edgebench.errors import EdgebenchError, UserInputError
from edgebench.runtimes.options import RuntimeOptions
from edgebench.runtimes.ort.options import OrtCpuOptions

if TYPE_CHECKING:
    from edgebench.bench.result import BenchResult

CONVERT_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})
INT8_TYPES = frozenset({"int8", "uint8"})
FLOAT_TYPES = {"float": "fp32", "float16": "fp16", "double": "fp64", "bfloat16": "bf16"}


def node_precision(op_type: str, input_types: list[str]) -> str:
    """'int8', 'convert', 'fp32', 'fp16', ... from the op and its input types.

    >>> node_precision("QLinearConv", ["uint8", "float", "uint8"]), node_precision("Conv", ["float"])
    ('int8', 'fp32')
    """
    if op_type in CONVERT_OPS:
        return "convert"
    if not input_types:
        return "other"
    first = input_types[0]
    if first in INT8_TYPES or op_type.startswith("QLinear") or op_type.endswith("Integer"):
        return "int8"
    return FLOAT_TYPES.get(first, first)


def _types(shapes: Any) -> list[str]:
    out: list[str] = []
    for d in shapes or []:
        if isinstance(d, dict) and d:
            out.append(next(iter(d)))
    return out


def summarize_trace(events: list[dict[str, Any]], warmup_runs: int = 0, top_nodes: int = 20) -> dict[str, Any]:
    """Aggregate ORT profiler events into per-op-type, per-node and per-precision figures (ms per run)."""
    runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                  key=lambda e: e["ts"])
    timed = runs[warmup_runs:]
    if not timed:
        raise EdgebenchError(f"the ONNX Runtime profile holds {len(runs)} runs, none after {warmup_runs} warm-up runs")
    windows = [(e["ts"], e["ts"] + e["dur"]) for e in timed]

    def in_timed(ts: float) -> bool:
        return any(a <= ts <= b for a, b in windows)

    nodes: dict[str, dict[str, Any]] = {}
    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time") or not in_timed(e["ts"]):
            continue
        args = e.get("args") or {}
        name = str(e["name"])[: -len("_kernel_time")]
        op = str(args.get("op_name") or "?")
        n = nodes.get(name)
        if n is None:
            ins = _types(args.get("input_type_shape"))
            n = nodes[name] = {"node": name, "op_type": op, "provider": args.get("provider"),
                               "precision": node_precision(op, ins), "input_types": ins,
                               "output_types": _types(args.get("output_type_shape")), "total_us": 0.0, "calls": 0}
        n["total_us"] += float(e.get("dur", 0))
        n["calls"] += 1
    k = len(timed)
    total_node_us = sum(n["total_us"] for n in nodes.values()) or 1.0
    run_ms = [e["dur"] / 1000.0 for e in timed]
    node_list = []
    for n in sorted(nodes.values(), key=lambda n: -n["total_us"]):
        node_list.append({**{x: n[x] for x in ("node", "op_type", "precision", "provider", "input_types")},
                          "ms_per_run": n["total_us"] / 1000.0 / k, "pct": 100.0 * n["total_us"] / total_node_us})
    by_op: dict[str, dict[str, Any]] = defaultdict(lambda: {"us": 0.0, "nodes": 0, "int8_nodes": 0})
    by_prec: dict[str, dict[str, Any]] = defaultdict(lambda: {"us": 0.0, "nodes": 0})
    for n in nodes.values():
        o = by_op[n["op_type"]]
        o["us"] += n["total_us"]
        o["nodes"] += 1
        o["int8_nodes"] += n["precision"] == "int8"
        p = by_prec[n["precision"]]
        p["us"] += n["total_us"]
        p["nodes"] += 1
    op_types = [{"op_type": op, "ms_per_run": v["us"] / 1000.0 / k, "pct": 100.0 * v["us"] / total_node_us,
                 "nodes": v["nodes"], "int8_nodes": v["int8_nodes"]}
                for op, v in sorted(by_op.items(), key=lambda kv: -kv[1]["us"])]
    precision = {p: {"nodes": v["nodes"], "ms_per_run": v["us"] / 1000.0 / k, "pct": 100.0 * v["us"] / total_node_us}
                 for p, v in sorted(by_prec.items(), key=lambda kv: -kv[1]["us"])}
    return {
        "runs": k,
        "warmup_runs": warmup_runs,
        "run_ms_p50": float(np.median(run_ms)),
        "node_ms_per_run": total_node_us / 1000.0 / k,
        "n_nodes": len(nodes),
        "int8_nodes": [n["node"] for n in node_list if n["precision"] == "int8"],
        "fp32_nodes": [n["node"] for n in node_list if n["precision"] == "fp32"],
        "precision": precision,
        "op_types": op_types,
        "nodes": node_list[:top_nodes] if top_nodes > 0 else node_list,
        "nodes_total": len(node_list),
    }


def float_nodes_why(model: Path, fp32_nodes: list[str]) -> dict[str, str]:
    """{node: why it ran in float} for the profiled fp32 nodes, from the one classification quantize uses
    (`calibration.graph.classify_nodes`, recorded in the INT8 manifest's `nodes.float_nodes`)."""
    from edgebench.calibration.graph import float_node_reasons

    reasons = float_node_reasons(model)
    unknown = "not a node of the file's graph (ORT's optimizer made it)" if reasons else "unknown (no classification)"
    return {n: reasons.get(n, unknown) for n in fp32_nodes}


def profile_model(model: Path, options: RuntimeOptions, *, batch: int | None = None,
                  shape: tuple[int, ...] | None = None, inputs_npz: Path | None = None, seed: int = 0,
                  runs: int = 100, warmup: int = 10, top_nodes: int = 20,
                  keep_trace: Path | None = None, explain: bool = True) -> dict[str, Any]:
    """Run `model` `warmup + runs` times in ort-cpu with the profiler on and summarize the timed runs.

    `explain`: say why each float node ran in float (`float_nodes`, read from the graph); False leaves the
    graph unread (the doctor's device side, which says why on the workstation)."""
    from edgebench.bench.inputs import npz_feeds, random_feeds
    from edgebench.runtimes.ort.session import OrtCpuRuntime

    if runs < 1 or warmup < 0:
        raise UserInputError(f"--runs {runs} must be >= 1 and --warmup {warmup} >= 0")
    opts = replace(OrtCpuOptions.coerce(options), enable_profiling=True)
    with tempfile.TemporaryDirectory(prefix="edgebench-profile-") as tmp:
        sess = OrtCpuRuntime().load(model, opts, profile_prefix=str(Path(tmp) / "ort"))
        if inputs_npz is not None:
            feeds = npz_feeds(inputs_npz, sess.inputs, batch)
        else:
            feeds = random_feeds(sess.inputs, [s.resolve(batch, shape) for s in sess.inputs], seed)
        t0 = time.perf_counter()
        for _ in range(warmup + runs):
            sess.run(feeds)
        wall = time.perf_counter() - t0
        trace = Path(sess.ort_session.end_profiling())
        text = trace.read_text(encoding="utf-8")
    if keep_trace is not None:
        from edgebench.atomic import write_text

        write_text(keep_trace, text)
    summary = summarize_trace(json.loads(text), warmup_runs=warmup, top_nodes=top_nodes)
    if explain:
        summary["float_nodes"] = float_nodes_why(model, summary["fp32_nodes"])
    summary["wall_s"] = wall
    summary["note"] = "profiling adds overhead; the result's latency block was measured without the profiler"
    return summary


@dataclass(frozen=True)
class ProfileConfig:
    """`edgebench profile`'s options, checked on construction (before the model is read or measured)."""

    threads: int
    batch: int = 1
    shape: tuple[int, ...] | None = None
    inputs: Path | None = None
    seed: int = 0
    graph_opt: str = "all"
    runs: int = 100
    warmup: int = 10
    top: int = 20
    min_seconds: float = 1.0
    trace: Path | None = None
    output_dir: Path = Path("results")

    def __post_init__(self) -> None:
        from edgebench.atomic import check_writable_dir

        if self.batch < 1:
            raise UserInputError(f"--batch {self.batch} must be >= 1")
        if self.runs < 1 or self.warmup < 0:
            raise UserInputError(f"--runs {self.runs} must be >= 1 and --warmup {self.warmup} >= 0")
        _ = self.options  # OrtCpuOptions checks the threads and the graph optimization level
        if self.top < 0:
            raise UserInputError(f"--top {self.top} must be >= 0 (0: every node)")
        check_writable_dir(self.output_dir)
        if self.trace is not None:
            check_writable_dir(self.trace.parent, "--trace")

    @property
    def options(self) -> OrtCpuOptions:
        """The ort-cpu options both the plain and the profiled runs use."""
        return OrtCpuOptions(intra_op_threads=self.threads, graph_optimization=self.graph_opt)  # type: ignore[arg-type]


def run_profile(cfg: ProfileConfig, artifact: Any, verification: dict[str, Any]) -> tuple[BenchResult, Path]:
    """`edgebench profile`: an unprofiled measurement of `artifact` (a hashed `ModelArtifact`) in its own process,
    then the profiled runs; the result (kind `profile`, with the `profile` section) is validated and written to
    `cfg.output_dir` as `*.profile.json`. Returns (result, its path)."""
    from edgebench.atomic import ensure_writable_dir, write_json
    from edgebench.bench.fingerprint import fingerprint
    from edgebench.bench.harness import BenchConfig
    from edgebench.bench.runner import Job, run_job_isolated
    from edgebench.bench.schema import result_filename

    ensure_writable_dir(cfg.output_dir)
    batch = None if cfg.shape else cfg.batch
    job = Job(model=str(artifact.path), runtime="ort-cpu", batch=batch, shape=cfg.shape,
              inputs_npz=str(cfg.inputs) if cfg.inputs else None, seed=cfg.seed, options=cfg.options,
              bench=BenchConfig(min_seconds=cfg.min_seconds).__dict__.copy(), sha256=artifact.sha256,
              machine=fingerprint(), verification=verification)
    measured = run_job_isolated(job)
    prof = profile_model(artifact.path, cfg.options, batch=batch, shape=cfg.shape, inputs_npz=cfg.inputs,
                         seed=cfg.seed, runs=cfg.runs, warmup=cfg.warmup, top_nodes=cfg.top, keep_trace=cfg.trace)
    result = measured.merged(kind="profile", profile=prof)
    return result, write_json(cfg.output_dir / result_filename(result).replace(".json", ".profile.json"),
                              result.to_dict())
