"""The doctor's measurements: what only the CPU that runs the models can tell, with numpy and ONNX Runtime alone.

`edgebench doctor` splits in two. This module measures: FP32 against INT8 interleaved (`bench.interleave`), ORT's
profiler on both models (INT8: kernel time by precision, float time by op type, the float nodes slowest first;
both: time per op type), the
paired top-1 against FP32 on the images given, and each candidate fix timed (and scored) against FP32. It never
imports `onnx` (the device install has none: `edgebench run-doctor` runs it there for `doctor --on`); the graph
analysis that turns these figures into causes and fixes is bench/doctor.py's, on the workstation. Example::

    spec = DoctorMeasure(fp32="m/model.fp32.onnx", model="m/model.int8.onnx", threads=1)
    m = measure(spec, dataset)        # {"model": {"speedup": 1.8, "fp32_ms": ..., "precision_pct": ...}, "trials": []}
    m = measure_here(spec, "x.npz")   # the same, with this machine's CPU fingerprint and usable cores
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgebench.errors import UserInputError

PAIRED_KEYS = ("n", "agreement_pct", "flipped_to_correct", "flipped_to_wrong", "top1_delta_pts", "top1_delta_ci95_pts")


@dataclass(frozen=True)
class TrialModel:
    """A candidate fix to time against FP32: its label, its model (an INT8 file) and, for a thread-count fix, the
    threads that model runs with (None: the measurement's threads)."""

    label: str
    model: str
    threads: int | None = None

    def __post_init__(self) -> None:
        if not self.label or not self.model:
            raise UserInputError("a doctor trial needs a label and a model")
        if self.threads is not None and self.threads < 1:
            raise UserInputError(f"trial '{self.label}': threads {self.threads} must be >= 1")


@dataclass(frozen=True)
class DoctorMeasure:
    """What to measure on one CPU: the INT8 `model` against its parent `fp32` (timing, profile, paired top-1)
    and/or the `trials` (each timed against `fp32`); `threads` of the timings, `rounds` x `iters` interleaved runs,
    `profile_runs` profiled runs."""

    fp32: str
    model: str | None = None
    trials: tuple[TrialModel, ...] = ()
    threads: int = 1
    rounds: int = 7
    iters: int = 30
    profile_runs: int = 30

    def __post_init__(self) -> None:
        object.__setattr__(self, "trials", tuple(self.trials))
        if self.model is None and not self.trials:
            raise UserInputError("a doctor measurement needs the INT8 model or candidate fixes to time")
        if not all(isinstance(t, TrialModel) for t in self.trials):
            raise UserInputError("a doctor measurement's trials must be TrialModels")
        for name in ("threads", "rounds", "iters", "profile_runs"):
            if getattr(self, name) < 1:
                raise UserInputError(f"a doctor measurement's {name} ({getattr(self, name)}) must be >= 1")

    def models(self) -> tuple[str, ...]:
        """Every model file it reads, once each: FP32, the INT8 model, the trials' models."""
        return tuple(dict.fromkeys([self.fp32, *([self.model] if self.model else []), *(t.model for t in self.trials)]))


def measure_speed(fp32: Path, model: Path, *, threads: int, rounds: int, iters: int,
                  model_threads: int | None = None) -> tuple[float, float]:
    """(FP32 latency / `model` latency, FP32 ms), interleaved in one process (CPU time with one thread).

    `model_threads`: `model` runs with that many threads, FP32 with `threads` (a thread-count fix)."""
    from edgebench.bench.interleave import interleaved_latency
    from edgebench.runtimes.ort.options import OrtCpuOptions

    per = None if model_threads in (None, threads) else {"model": OrtCpuOptions(intra_op_threads=model_threads)}
    t = interleaved_latency({"fp32": fp32, "model": model}, threads=threads, rounds=rounds, iters=iters,
                            warmup=3, same_inputs=True, model_options=per)
    r = t["model"]
    ratio = (r.get("cpu_ratio_vs_first") or r["ratio_vs_first"])["median"]
    return 1.0 / ratio, float(t["fp32"].get("cpu_p50_ms") or t["fp32"]["p50_ms"])


def measure_accuracy(fp32: Path, model: Path, data: Any, threads: int) -> dict[str, Any]:
    """Paired top-1 of `model` against `fp32` on the Dataset `data` (`calibration.evaluate.evaluate_pair`)."""
    from edgebench.calibration.evaluate import evaluate_pair

    return evaluate_pair(model, fp32, data, threads=threads)["paired"]


def _profile(model: Path, threads: int, runs: int) -> dict[str, Any]:
    from edgebench.bench.op_profile import profile_model
    from edgebench.runtimes.ort.options import OrtCpuOptions

    return profile_model(model, OrtCpuOptions(intra_op_threads=threads), batch=1, runs=runs, warmup=5, top_nodes=0,
                         explain=False)


def op_times(prof: Mapping[str, Any]) -> dict[str, Any]:
    """A profile's kernel time per op type (`op_ms`, ms a run) and each op type's slowest node (`slowest_by_op`:
    [node, ms])."""
    slowest: dict[str, list[Any]] = {}
    for n in prof["nodes"]:  # slowest first
        slowest.setdefault(n["op_type"], [n["node"], round(n["ms_per_run"], 4)])
    return {"op_ms": {o["op_type"]: round(o["ms_per_run"], 4) for o in prof["op_types"]}, "slowest_by_op": slowest}


def profile_shares(model: Path, threads: int, runs: int = 30) -> dict[str, Any]:
    """Share of kernel time in float nodes (by op type), in Q/DQ conversions and in INT8 kernels (ORT profiler),
    the nodes that ran in float, slowest first (bench/doctor.py says why each did, from the graph), and the time
    per op type (`op_times`)."""
    prof = _profile(model, threads, runs)
    by_op: dict[str, float] = {}
    for n in prof["nodes"]:
        if n["precision"] == "fp32":
            by_op[n["op_type"]] = by_op.get(n["op_type"], 0.0) + n["pct"]
    pct = {p: round(v["pct"], 1) for p, v in prof["precision"].items()}
    return {"precision_pct": pct, "float_time_by_op": {k: round(v, 1) for k, v in by_op.items()},
            "fp32_nodes": prof["fp32_nodes"], **op_times(prof)}


def measure_model(spec: DoctorMeasure, data: Any = None) -> dict[str, Any]:
    """The INT8 model of `spec` against FP32: speed-up and FP32 ms, the profile's shares, and with `data` (a
    labelled Dataset) the paired top-1."""
    assert spec.model is not None
    model, fp32 = Path(spec.model), Path(spec.fp32)
    speedup, fp32_ms = measure_speed(fp32, model, threads=spec.threads, rounds=spec.rounds, iters=spec.iters)
    out: dict[str, Any] = {"speedup": speedup, "fp32_ms": fp32_ms,
                           **profile_shares(model, spec.threads, spec.profile_runs), "paired": None,
                           "fp32_op_ms": op_times(_profile(fp32, spec.threads, spec.profile_runs))["op_ms"]}
    if data is not None:
        paired = measure_accuracy(fp32, model, data, spec.threads)
        out["paired"] = {k: paired[k] for k in PAIRED_KEYS}
    return out


def measure_trial(spec: DoctorMeasure, trial: TrialModel, data: Any = None) -> dict[str, Any]:
    """One candidate fix against FP32: its speed-up (interleaved) and with `data` its paired top-1 drop."""
    threads = trial.threads or spec.threads
    speedup, _ = measure_speed(Path(spec.fp32), Path(trial.model), threads=spec.threads, rounds=spec.rounds,
                               iters=spec.iters, model_threads=threads)
    out: dict[str, Any] = {"label": trial.label, "speedup": speedup, "drop_pts": None, "agreement_pct": None}
    if data is not None:
        p = measure_accuracy(Path(spec.fp32), Path(trial.model), data, threads)
        out.update(drop_pts=0.0 - p["top1_delta_pts"], agreement_pct=p["agreement_pct"])
    return out


def measure(spec: DoctorMeasure, data: Any = None) -> dict[str, Any]:
    """Everything `spec` asks for on this machine: {"model": measure_model or None, "trials": [measure_trial]}."""
    return {"model": measure_model(spec, data) if spec.model is not None else None,
            "trials": [measure_trial(spec, t, data) for t in spec.trials]}


def this_machine() -> dict[str, Any]:
    """The CPU facts the diagnosis needs from the machine that measured: its fingerprint's `cpu` (arch, model,
    ISA flags) and its usable cores."""
    from edgebench.bench.fingerprint import fingerprint
    from edgebench.system import default_threads

    return {"cpu": fingerprint()["cpu"], "usable_cores": default_threads()}


def measure_here(spec: DoctorMeasure, data: Path | None = None) -> dict[str, Any]:
    """`edgebench run-doctor`: `measure` on this machine with the images of the .npz `data` (written by the
    workstation from the doctor's --data), with `this_machine()` and the images' sha256."""
    from edgebench.calibration.datasets import load_npz

    ds = load_npz(data).require_labels("the doctor") if data is not None else None
    return {"machine": this_machine(), "data_sha256": ds.fingerprint() if ds is not None else None,
            **measure(spec, ds)}
