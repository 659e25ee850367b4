"""One measurement job: load a model in a runtime, build inputs, time it, read memory.

`run_job` runs in the current process; `run_job_isolated` runs it in a fresh Python process
(the default) so that one model's memory does not leak into another's figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import InitVar, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgebench.bench.harness import BenchConfig, measure
from edgebench.errors import EdgebenchError, UserInputError
from edgebench.units import to_mb

if TYPE_CHECKING:
    from edgebench.artifact import ModelArtifact
    from edgebench.manifest import Manifest
    from edgebench.runtimes.options import RuntimeOptions


@dataclass(frozen=True)
class Job:
    """Everything a measurement needs; crosses to the measurement process as JSON and back, exactly.

    `options` is the runtime's own typed Options (None: its defaults). On the wire it is
    ``{"runtime": name, "options": Options.to_dict()}``; `from_json(job.to_json()) == job`.
    `runtime_options` (a dict of that runtime's option fields) is the older way to give them.

    Example::

        rt = get_runtime("ort-cpu")
        job = Job(model="m.onnx", options=rt.Options(intra_op_threads=2), bench={"min_iters": 5})
    """

    model: str
    runtime: str = "ort-cpu"
    batch: int | None = None
    shape: tuple[int, ...] | None = None
    inputs_npz: str | None = None
    seed: int = 0
    options: RuntimeOptions | None = None
    bench: dict[str, Any] = field(default_factory=dict)
    progress: bool = False
    runtime_options: InitVar[dict[str, Any] | None] = None

    def __post_init__(self, runtime_options: dict[str, Any] | None) -> None:
        from edgebench.runtimes import options_class
        from edgebench.runtimes.options import RuntimeOptions

        cls = options_class(self.runtime)
        opts = self.options
        if runtime_options is not None:
            if opts is not None:
                raise UserInputError("give a Job either options or runtime_options, not both")
            opts = cls.from_dict(runtime_options)
        if opts is None:
            opts = cls()
        elif not isinstance(opts, cls):
            if type(opts) is not RuntimeOptions:
                raise UserInputError(f"runtime '{self.runtime}' takes {cls.__name__}, not {type(opts).__name__}; "
                                     f"build them with get_runtime('{self.runtime}').Options(...)")
            opts = cls.coerce(opts)
        object.__setattr__(self, "options", opts)
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(self.shape))

    def to_json(self) -> str:
        d: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        d["shape"] = list(self.shape) if self.shape is not None else None
        d["options"] = {"runtime": self.runtime, "options": self.options.to_dict()}  # type: ignore[union-attr]
        return json.dumps(d)

    @classmethod
    def from_json(cls, s: str) -> Job:
        from edgebench.runtimes import options_from_dict

        d = json.loads(s)
        if not isinstance(d, dict):
            raise UserInputError("a measurement job must be a JSON object")
        wire = d.pop("options", None)
        if wire is not None and wire.get("runtime") != d.get("runtime", "ort-cpu"):
            raise UserInputError(f"job options are for runtime '{wire.get('runtime')}' but the job runs "
                                 f"'{d.get('runtime')}'")
        opts = options_from_dict(wire) if wire is not None else None
        return cls(**d, options=opts)


def _progress_printer(cfg: BenchConfig) -> Any:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    prog = Progress(TextColumn("timing"), BarColumn(), TextColumn("{task.completed} runs"),
                    TimeElapsedColumn(), transient=True, auto_refresh=False)
    task = prog.add_task("timing", total=max(cfg.min_iters, 1))
    return prog, task


def run_job(job: Job) -> dict[str, Any]:
    """Run `job` here; returns the measurement part of a result (no machine fingerprint)."""
    import time

    import numpy as np
    from edgebench.bench.harness import timed_out
    from edgebench.bench.inputs import npz_feeds, random_feeds
    from edgebench.bench.memory import RssSampler, peak_rss_hwm_mb, rss_mb
    from edgebench.bench.stats import summarize
    from edgebench.runtimes import get_runtime

    cfg = BenchConfig(**job.bench)
    deadline = time.perf_counter_ns() + int(cfg.timeout_s * 1e9) if cfg.timeout_s is not None else None
    opts: RuntimeOptions = job.options  # type: ignore[assignment]  # Job.__post_init__ always sets them
    rt = get_runtime(job.runtime)
    rss0 = rss_mb()
    sess = rt.load(Path(job.model), opts)
    rss1 = rss_mb()
    if deadline is not None and time.perf_counter_ns() >= deadline:
        raise timed_out(cfg.timeout_s, "while loading the model")
    if len(sess.inputs) > 1 and job.shape is not None:
        raise UserInputError("--shape applies to one-input models; this model has "
                             f"{len(sess.inputs)} inputs ({', '.join(s.name for s in sess.inputs)})")
    if job.inputs_npz:
        feeds = npz_feeds(Path(job.inputs_npz), sess.inputs, job.batch)
    else:
        shapes = [s.resolve(job.batch, job.shape) for s in sess.inputs]
        feeds = random_feeds(sess.inputs, shapes, job.seed)
    batch = int(next(iter(feeds.values())).shape[0]) if feeds else 1

    progress = None
    prog = None
    if job.progress:
        prog, task = _progress_printer(cfg)
        prog.start()

        def progress(n: int, _elapsed: float) -> None:
            prog.update(task, completed=n)
            prog.refresh()

    try:
        with RssSampler() as sampler:
            timing = measure(sess, feeds, cfg, progress=progress, deadline_ns=deadline)
    finally:
        if prog is not None:
            prog.stop()
    nonfinite = _nonfinite_outputs(sess, feeds)  # one more run, after the timed ones: timings untouched
    end_to_end = _end_to_end(Path(job.model), sess, cfg, deadline)
    lat = summarize(timing.samples_ns, items_per_run=batch)
    lat.update({
        "first_run_ms": timing.first_run_ns / 1e6,
        "warmup_iters": timing.warmup_iters,
        "wall_s": timing.wall_s,
        "samples_ms": (np.frombuffer(timing.samples_ns, np.int64) / 1e6).tolist(),
    })
    return {
        "inputs": [s.to_dict() | {"resolved_shape": list(feeds[s.name].shape)} for s in sess.inputs],
        "outputs": [s.to_dict() for s in sess.outputs],
        "batch": batch,
        "runtime_version": rt.version(),
        "runtime_options": opts.to_dict(),
        "runtime_effective_options": sess.effective_options() if hasattr(sess, "effective_options") else None,
        "runtime_info": getattr(sess, "info", None),  # e.g. torch-int8: precision, engine, calibration
        "latency": lat,
        "nonfinite_outputs": nonfinite,
        "end_to_end": end_to_end,
        "memory": {
            "rss_before_load_mb": rss0,
            "rss_after_load_mb": rss1,
            "load_delta_mb": rss1 - rss0,
            "peak_rss_mb": sampler.peak_mb,
            "rss_loop_start_mb": timing.rss_loop_start_mb,  # before the first timed run
            "rss_end_mb": timing.rss_loop_end_mb,  # after the last timed run, before the statistics
            "peak_rss_hwm_mb": peak_rss_hwm_mb(),
            "rss_samples": sampler.n_samples,
            "arena": getattr(opts, "memory_arena", None),
            "isolated_process": False,
        },
    }


def _end_to_end(model: Path, sess: Any, cfg: BenchConfig, deadline: int | None) -> dict[str, Any] | None:
    """A detector's (manifest task: detection) end-to-end latency, pre-process + model + decode + NMS on one
    640x480 frame, timed like the model (`bench.end_to_end`); None for any other model."""
    from edgebench.manifest import find_typed_manifest
    from edgebench.task import DETECTION

    manifest = find_typed_manifest(model)
    if manifest is None or manifest.task != DETECTION:
        return None
    from edgebench.bench.end_to_end import EndToEnd, end_to_end_block

    e2e = EndToEnd(sess, manifest)
    return end_to_end_block(measure(e2e, e2e.feeds(), cfg, deadline_ns=deadline).samples_ns)


# seconds the parent waits past --timeout (interpreter start, imports) before it kills the worker
TIMEOUT_GRACE_S = 30.0


def _nonfinite_outputs(sess: Any, feeds: Any) -> int:
    """NaN/Inf values in one run's float outputs (a model with NaN weights runs, fast and wrong)."""
    import numpy as np

    outs = sess.run(feeds) or {}
    return sum(int((~np.isfinite(v)).sum()) for v in map(np.asarray, outs.values()) if v.dtype.kind in "fc")


def run_job_isolated(job: Job) -> dict[str, Any]:
    """Run `job` in a fresh interpreter (`python -m bench.worker`); errors come back as errors.

    The worker enforces the job's `timeout_s` between runs; a worker stuck inside one run is killed
    `TIMEOUT_GRACE_S` later, and a worker that dies (killed, out of memory, crashed) is reported in one line.
    """
    import signal

    from edgebench.bench.harness import timed_out

    env = dict(os.environ)
    timeout = job.bench.get("timeout_s")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "edgebench.bench.worker"],
            input=job.to_json(), stdout=subprocess.PIPE, stderr=None if job.progress else subprocess.PIPE,
            text=True, env=env, check=False, timeout=None if timeout is None else timeout + TIMEOUT_GRACE_S,
        )
    except subprocess.TimeoutExpired:  # subprocess.run has killed the worker and reaped it
        raise timed_out(timeout, "the measurement process did not return; it was killed") from None
    try:
        reply = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        reply = None
    if reply is None:
        if proc.returncode < 0:
            try:
                sig = signal.Signals(-proc.returncode).name
            except ValueError:
                sig = f"signal {-proc.returncode}"
            why = " (SIGKILL: the kernel's out-of-memory killer sends it too)" if sig == "SIGKILL" else ""
            raise EdgebenchError(f"the measurement process was killed by {sig}{why} before it reported; "
                                 "nothing was written for this run")
        tail = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise EdgebenchError(f"measurement process failed (exit {proc.returncode}): {tail[0][:300]}")
    if "error" in reply:
        err = reply["error"]
        cls = UserInputError if err.get("exit_code") == 2 else EdgebenchError
        raise cls(err["message"])
    reply["memory"]["isolated_process"] = True
    return reply


def throttle_warnings(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Warnings when a Raspberry Pi throttled or hit its soft temperature limit during a run."""
    out: list[str] = []
    b, a = before.get("throttled"), after.get("throttled")
    if a:
        for key in ("throttled", "freq_capped", "soft_temp_limit", "under_voltage"):
            if a.get(key) or (b or {}).get(key) or (a.get(f"{key}_occurred") and not (b or {}).get(f"{key}_occurred")):
                out.append(f"the board reported '{key}' during the measurement; its latency is not reliable")
    return out


def _efficiency(manifest: Manifest | None, measured: dict[str, Any], machine: dict[str, Any]) -> dict[str, Any]:
    """Achieved GMAC/s and fraction of the documented peak (bench/efficiency.py) of what actually ran."""
    from edgebench.bench.efficiency import efficiency

    precision = (measured.get("runtime_info") or {}).get("precision") or (manifest.precision if manifest else None)
    return efficiency(manifest.macs if manifest else None, measured["batch"], measured["latency"]["p50_ms"],
                      machine.get("cpu") or {}, precision, measured["runtime_options"]["intra_op_threads"])


def model_name(model_path: Path, manifest: Manifest | None) -> str:
    """A result's model name: `<manifest name>-<precision>`, else `<folder>-<stem>` (model.*.onnx), else the stem."""
    stem = model_path.stem
    if manifest is not None:
        base = manifest.name or manifest.arch or model_path.parent.name
        return f"{base}-{manifest.precision}"
    return f"{model_path.parent.name}-{stem}" if stem.startswith("model.") else stem


def lineage_record(manifest: Manifest | None, sha256: str, model_path: Path) -> dict[str, Any]:
    """A result's `model.lineage`: the FP32 model at the root of the manifest's parent chain (sha256 and name).

    The report computes ratios only within one lineage. `root_sha256` is None for a pruned round and the
    models made from it (the unpruned FP32 file is not recorded): the report then groups them with the
    unpruned model of their name and says so.
    """
    if manifest is None:
        return {"root_sha256": sha256, "root_name": model_name(model_path, None),
                "how": "no manifest: the file is its own root"}
    name = manifest.name or manifest.arch or model_path.parent.name
    if manifest.pruned is not None:  # kept by its INT8/converted children: they belong to the unpruned model too
        root, how = None, "a pruned model: its unpruned FP32 file is not recorded (compare groups it by name)"
    elif manifest.lineage_root_sha256:
        root, how = manifest.lineage_root_sha256, "the manifest's parent chain (lineage_root_sha256)"
    elif manifest.parent_sha256:
        root, how = manifest.parent_sha256, "the manifest's parent (an older manifest without lineage_root_sha256)"
    else:
        root, how = sha256, "the file is the root (no parent in its manifest)"
    return {"root_sha256": root, "root_name": name, "how": how}


def make_result(job: Job, measured: dict[str, Any], model_path: Path, machine: dict[str, Any],
                machine_after: dict[str, Any], verification: dict[str, Any] | None = None, *,
                artifact: ModelArtifact | None = None) -> dict[str, Any]:
    """Assemble a schema-conforming result from a job, its measurement and the fingerprints.

    `artifact`: the model as the CLI resolved it (its manifest is used as is); without it the manifest beside
    `model_path` is read.

    `verification`: how the model file was checked against its manifest's sha256 (`cli.common.resolve_model`),
    stored as `model.verification`; a file used despite a mismatch (--no-verify) also gets a warning.
    """
    from edgebench.bench.schema import SCHEMA_VERSION, utc_now
    from edgebench.manifest import find_typed_manifest, sha256_file

    manifest = artifact.manifest if artifact is not None else find_typed_manifest(model_path)
    name = model_name(model_path, manifest)
    ro = measured["runtime_options"]
    warnings = throttle_warnings(machine, machine_after)
    if measured["latency"]["noisy"]:
        warnings.append("latency spread is high (noisy); close other programs or raise --min-seconds")
    if machine.get("emulated"):
        warnings.append("this machine runs under emulation; latency is not device speed")
    if measured.get("nonfinite_outputs"):
        warnings.append(f"the model's outputs hold {measured['nonfinite_outputs']} NaN/Inf values on these inputs "
                        "(NaN weights?); its latency is not that of a working model")
    if verification is not None and verification.get("matches") is False:
        warnings.append("the model file differs from the sha256 its manifest records (used with --no-verify); "
                        "its manifest's figures (MACs, accuracy) may not describe it")
    size_mb = to_mb(model_path.stat().st_size)
    sha256 = sha256_file(model_path)
    memory = dict(measured["memory"])
    memory["model_file_size_mb"] = size_mb
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "bench",
        "created_utc": utc_now(),
        "model": {
            "path": str(model_path),
            "name": name,
            "sha256": sha256,
            "lineage": lineage_record(manifest, sha256, model_path),
            "file_size_mb": size_mb,
            "precision": manifest.precision if manifest else None,
            "arch": manifest.arch if manifest else None,
            "task": (manifest.task if manifest else None) or "classification",
            "params": manifest.params if manifest else None,
            "macs": manifest.macs if manifest else None,
            "prune_round": manifest.pruned.round if manifest and manifest.pruned else None,
            "manifest": manifest is not None,
            "verification": verification,
            "inputs": measured["inputs"],
            "outputs": measured["outputs"],
        },
        "runtime": {"name": job.runtime, "version": measured["runtime_version"], "options": ro,
                    "effective_options": measured.get("runtime_effective_options"),
                    "precision": (measured.get("runtime_info") or {}).get("precision"),
                    "info": measured.get("runtime_info")},
        "efficiency": _efficiency(manifest, measured, machine),
        "options": {
            "batch": measured["batch"],
            "threads": ro["intra_op_threads"],
            "inter_op_threads": ro["inter_op_threads"],
            # ONNX Runtime's session options; None for a runtime without them (torch)
            "graph_optimization": ro.get("graph_optimization"),
            "execution_mode": ro.get("execution_mode"),
            "memory_arena": ro.get("memory_arena"),
            "shape": list(job.shape) if job.shape else None,
            "inputs": job.inputs_npz or "random",
            "seed": job.seed,
            **job.bench,
        },
        "latency": measured["latency"],
        **({"end_to_end": measured["end_to_end"]} if measured.get("end_to_end") else {}),
        "memory": memory,
        "machine": machine,
        "machine_after": machine_after,
        "warnings": warnings,
    }
