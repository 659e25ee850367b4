"""One measurement job: load a model in a runtime, build inputs, time it, read memory.

`run_job` runs in the current process; `run_job_isolated` runs it in a fresh Python process
(the default) so that one model's memory does not leak into another's figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import InitVar, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgebench.bench.harness import BenchConfig, measure
from edgebench.bench.result import BenchResult
from edgebench.errors import EdgebenchError, UserInputError
from edgebench.system import format_cpus
from edgebench.units import to_mb

if TYPE_CHECKING:
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
    cpus: tuple[int, ...] | None = None  # CPU affinity of the measurement (`--cpus`); None: not pinned
    scenario: dict[str, Any] = field(default_factory=dict)  # ScenarioConfig fields; empty: single
    sha256: str | None = None  # the model file's, hashed once by the caller; None: hashed for the result
    machine: dict[str, Any] | None = None  # the fingerprint taken before the measurement; None: taken after it
    verification: dict[str, Any] | None = None  # how the file was checked against its manifest (resolve_model)
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
        if self.cpus is not None:
            if not self.cpus or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in self.cpus):
                raise UserInputError(f"a job's cpus must be CPU numbers >= 0, got {self.cpus!r:.80}")
            object.__setattr__(self, "cpus", tuple(self.cpus))

    def to_json(self) -> str:
        d: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        d["shape"] = list(self.shape) if self.shape is not None else None
        d["cpus"] = list(self.cpus) if self.cpus is not None else None
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


def choose_cpus(cpus: tuple[int, ...] | None, interleave: bool = False) -> tuple[tuple[int, ...] | None, str]:
    """The CPUs a bench pins to and why: `--cpus` (checked against this machine), else the big cores of a
    big.LITTLE CPU (the fingerprint's `big_cpus` this process may use), else none."""
    from edgebench.cpu import cpu_info
    from edgebench.system import allowed_cpus, check_cpus

    if cpus is not None:
        if interleave:
            raise UserInputError("--cpus does not apply to --interleave yet; run it under taskset instead "
                                 "(taskset -c 0-3 edgebench bench A B --interleave)")
        check_cpus(cpus)
        return cpus, "--cpus"
    big = cpu_info().get("big_cpus")
    usable = sorted(set(big or ()) & (allowed_cpus() or set()))
    if not usable or interleave:
        return None, "not pinned (no --cpus, no big.LITTLE clusters found)" if not big else "not pinned (--interleave)"
    return tuple(usable), f"default: the big cores {format_cpus(usable)} of this big.LITTLE CPU"


def pin_cpus(cpus: tuple[int, ...] | None) -> set[int] | None:
    """Restrict this process and its threads to `cpus` (threads created later inherit it); returns the previous
    set (`placement_record` restores it), None if not pinned. Refused in one line when a CPU does not exist or is
    not allowed here."""
    if cpus is None:
        return None
    from edgebench.system import check_cpus

    check_cpus(cpus)
    previous = set(os.sched_getaffinity(0))
    _set_affinity_all_threads(set(cpus))
    return previous


def _set_affinity_all_threads(cpus: set[int]) -> None:
    """Every thread of this process (numpy's BLAS pool started at import too), this one last."""
    from edgebench.system import thread_ids

    for tid in thread_ids():
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:  # the thread ended meanwhile
            continue
    os.sched_setaffinity(0, cpus)


def placement_record(cpus: tuple[int, ...] | None, previous: set[int] | None) -> dict[str, Any]:
    """Where the measurement ran, read inside its process after the timed runs: the process's allowed CPUs and
    every thread's (the runtime's pools included); then the affinity before `pin_cpus` is restored."""
    from edgebench.system import allowed_cpus, thread_allowed_cpus, thread_ids

    allowed = allowed_cpus()
    threads = [c for c in map(thread_allowed_cpus, thread_ids()) if c is not None]  # an ended thread: None
    if previous is not None:
        _set_affinity_all_threads(previous)
    want = set(cpus) if cpus is not None else allowed
    return {"cpus": list(cpus) if cpus is not None else None,
            "worker_allowed_cpus": sorted(allowed) if allowed is not None else None,
            "threads": len(threads),
            "threads_outside_cpus": sum(1 for t in threads if want is not None and not set(t) <= want)}


def run_job(job: Job, spawned_ns: int | None = None) -> BenchResult:
    """Run `job` here; returns its result (`make_result`), with the job's machine fingerprint (else one taken
    after the measurement) and the machine's state after it.

    `spawned_ns`: see `_measured`.
    """
    from edgebench.bench.fingerprint import dynamic_state, fingerprint

    measured = _measured(job, spawned_ns)
    machine = job.machine if job.machine is not None else fingerprint()
    return make_result(job, measured, Path(job.model), machine, dynamic_state(), job.verification, sha256=job.sha256)


def _measured(job: Job, spawned_ns: int | None = None) -> dict[str, Any]:
    """Run `job` here; returns the measurement part of a result (no machine fingerprint).

    `spawned_ns`: the `time.monotonic_ns()` at which the parent started this process (`run_job_isolated`);
    with it the result has a `cold_start` (process start -> session created -> first result).
    """
    import time

    from edgebench.bench.harness import timed_out
    from edgebench.bench.memory import peak_rss_hwm_mb, rss_mb
    from edgebench.bench.scenarios import ScenarioConfig, check_pinning, check_supported
    from edgebench.runtimes import get_runtime

    cfg = BenchConfig(**job.bench)
    sc = ScenarioConfig(**job.scenario)
    deadline = time.perf_counter_ns() + int(cfg.timeout_s * 1e9) if cfg.timeout_s is not None else None
    opts: RuntimeOptions = job.options  # type: ignore[assignment]  # Job.__post_init__ always sets them
    rt = get_runtime(job.runtime)
    check_supported(rt, sc.name, sc.streams)
    check_pinning(sc, job.cpus)
    previous_cpus = pin_cpus(job.cpus)  # before the session exists: the runtime's threads inherit it
    rss0 = rss_mb()
    sess = rt.load(Path(job.model), opts)
    session_ns = time.monotonic_ns()
    rss1 = rss_mb()
    load_peak = peak_rss_hwm_mb()  # in a fresh process: the peak of start-up and loading the model
    if deadline is not None and time.perf_counter_ns() >= deadline:
        raise timed_out(cfg.timeout_s, "while loading the model")
    feeds, batch = _feeds(job, sess)

    if sc.name != "single":
        try:
            out = _run_scenario(job, rt, sess, feeds, cfg, sc, deadline, rss0, rss1)
        finally:
            placement = placement_record(job.cpus, previous_cpus)  # restores the affinity (in-process runs)
        streams = out.pop("stream_placement", None)
        return out | {"placement": placement | ({"streams": streams} if streams is not None else {})}
    reload = (lambda: rt.load(Path(job.model), opts)) if cfg.sessions > 1 else None
    timing, sampler = _timed(sess, feeds, cfg, deadline, show_progress=job.progress, reload=reload)
    placement = placement_record(job.cpus, previous_cpus)
    nonfinite = _nonfinite_outputs(sess, feeds)  # one more run, after the timed ones: timings untouched
    cold = None if spawned_ns is None else _cold_start((session_ns - spawned_ns) / 1e6, timing, load_peak)
    end_to_end = _end_to_end(Path(job.model), sess, cfg, deadline)
    lat = _latency(timing, batch)
    return {
        "scenario": sc.to_dict(),
        "inputs": [s.to_dict() | {"resolved_shape": list(feeds[s.name].shape)} for s in sess.inputs],
        "outputs": [s.to_dict() for s in sess.outputs],
        "batch": batch,
        "runtime_version": rt.version(),
        "runtime_options": opts.to_dict(),
        "runtime_effective_options": sess.effective_options() if hasattr(sess, "effective_options") else None,
        "runtime_info": getattr(sess, "info", None),  # e.g. torch-int8: precision, engine, calibration
        "latency": lat,
        "nonfinite_outputs": nonfinite,
        "placement": placement,
        "cold_start": cold,
        "end_to_end": end_to_end,
        "memory": _memory(rss0, rss1, sampler, timing, opts),
    }


def _feeds(job: Job, sess: Any) -> tuple[dict[str, Any], int]:
    """The inputs every timed run gets (the job's .npz, or seeded random data at the resolved shapes) and the
    batch they hold."""
    from edgebench.bench.inputs import npz_feeds, random_feeds

    if len(sess.inputs) > 1 and job.shape is not None:
        raise UserInputError("--shape applies to one-input models; this model has "
                             f"{len(sess.inputs)} inputs ({', '.join(s.name for s in sess.inputs)})")
    if job.inputs_npz:
        feeds = npz_feeds(Path(job.inputs_npz), sess.inputs, job.batch)
    else:
        shapes = [s.resolve(job.batch, job.shape) for s in sess.inputs]
        feeds = random_feeds(sess.inputs, shapes, job.seed)
    return feeds, int(next(iter(feeds.values())).shape[0]) if feeds else 1


def _timed(sess: Any, feeds: dict[str, Any], cfg: BenchConfig, deadline: int | None, *,
           show_progress: bool, reload: Any = None) -> tuple[Any, Any]:
    """The timed runs (`measure`), with the RSS sampled meanwhile and, when asked, a progress bar on stderr:
    (timing, sampler)."""
    from edgebench.bench.memory import RssSampler

    progress = None
    prog = None
    if show_progress:
        prog, task = _progress_printer(cfg)
        prog.start()

        def progress(n: int, _elapsed: float) -> None:
            prog.update(task, completed=n)
            prog.refresh()

    try:
        with RssSampler() as sampler:
            timing = measure(sess, feeds, cfg, progress=progress, deadline_ns=deadline, reload=reload)
    finally:
        if prog is not None:
            prog.stop()
    return timing, sampler


def _cold_start(to_session_ms: float, timing: Any, load_peak: float | None) -> dict[str, Any]:
    """Process start -> session created -> first result, of a job run in its own process."""
    return {"process_to_session_ms": to_session_ms, "session_to_first_result_ms": timing.first_run_ns / 1e6,
            "total_ms": to_session_ms + timing.first_run_ns / 1e6, "load_peak_rss_mb": load_peak}


def _latency(timing: Any, batch: int) -> dict[str, Any]:
    """The statistics of the timed runs, their stability verdict, and the raw samples."""
    import numpy as np
    from edgebench.bench.stats import summarize

    lat = summarize(timing.samples_ns, items_per_run=batch, segment_starts=timing.segment_starts)
    _stability(lat, timing.samples_ns, timing.cpu_share, timing.load1_before, timing.stable, timing.segment_starts,
               timing.others_cores)
    lat.update({
        "sessions": len(timing.session_starts),  # --sessions: the sessions the timed runs were spread over
        "session_starts": list(timing.session_starts),
        "first_run_ms": timing.first_run_ns / 1e6,
        "warmup_iters": timing.warmup_iters,
        "wall_s": timing.wall_s,
        "samples_ms": (np.frombuffer(timing.samples_ns, np.int64) / 1e6).tolist(),
    })
    return lat


def _memory(rss0: float, rss1: float, sampler: Any, timing: Any, opts: RuntimeOptions) -> dict[str, Any]:
    """The memory record: RSS around loading, the sampled peak and the loop's start/end, the high-water mark."""
    from edgebench.bench.memory import peak_rss_hwm_mb

    return {
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
        # --sessions > 1: the first session stays loaded while each next one runs, so the peak holds two
        "sessions_loaded_at_once": 2 if len(timing.session_starts) > 1 else 1,
    }


# the worker's start time (time.monotonic_ns() in the parent just before it starts the worker): cold start
SPAWNED_ENV = "EDGEBENCH_WORKER_SPAWNED_NS"


def _stability(lat: dict[str, Any], samples_ns: Any, cpu_share: float | None, load1: float | None,
               stable: bool | None, segment_starts: list[int] | None = None,
               others_cores: float | None = None) -> None:
    """Set `lat["noisy"]` from the stability checks (bench/stability.py), with the reasons and the checks."""
    from edgebench.bench.stability import check_stability

    st = check_stability(samples_ns, cpu_share=cpu_share, load_before=load1, segment_starts=segment_starts,
                         others_cores=others_cores)
    st["until_stable_reached"] = stable
    lat["noisy"] = st["noisy"]
    lat["noisy_reasons"] = st["reasons"]
    lat["stability"] = st


def _run_scenario(job: Job, rt: Any, sess: Any, feeds: Any, cfg: BenchConfig, sc: Any, deadline: int | None,
                  rss0: float, rss1: float) -> dict[str, Any]:
    """`--scenario multi|offline|server` (bench/scenarios.py): the measurement part of a result, as `_measured`'s,
    with `stream_placement` (where each stream ran: `StreamPool.placement`)."""
    import time

    from edgebench.bench.inputs import random_feeds
    from edgebench.bench.memory import RssSampler, peak_rss_hwm_mb, rss_mb
    from edgebench.bench.scenarios import (
        MAX_STREAMS,
        check_inputs,
        multi,
        offline,
        pin_base,
        replace_threads,
        server,
        throughput_block,
    )
    from edgebench.bench.stability import CpuWindow
    from edgebench.bench.stats import summarize

    opts = job.options
    threads = opts.intra_op_threads  # type: ignore[union-attr]
    pin = pin_base(job.cpus)[0] if sc.pin_streams else None
    stream_options = dict(getattr(rt, "stream_options", {}))  # e.g. openvino: its own CPU pinning off
    serial = getattr(rt, "serial_sessions", "")  # sessions that run one at a time: offline tries one stream

    def open_session(per_stream: int) -> Any:
        return rt.load(Path(job.model), replace_threads(opts, per_stream, **stream_options))

    def feeds_for(b: int) -> Any:
        return random_feeds(sess.inputs, [s.resolve(b, None) for s in sess.inputs], job.seed)

    t0 = time.perf_counter_ns()
    sess.run(feeds)
    first_ms = (time.perf_counter_ns() - t0) / 1e6
    window = CpuWindow.start()
    with RssSampler() as sampler:
        if sc.name in ("multi", "server"):
            run = multi if sc.name == "multi" else server
            timing, block = run(open_session, feeds, cfg, sc, threads, deadline_ns=deadline, pin=pin)
            batch = int(next(iter(feeds.values())).shape[0]) if feeds else 1
        else:
            check_inputs(sc.name, job.inputs_npz, job.shape)
            timing, block, batch = offline(open_session, feeds_for, sc.batches or [job.batch or 1], cfg,
                                           threads, deadline_ns=deadline, pin=pin,
                                           max_streams=1 if serial else MAX_STREAMS)
            if serial:
                block["one_stream"] = serial
    share, others = window.share(), window.others()
    pooled, starts = timing.pooled(), timing.segment_starts()
    lat = summarize(pooled, items_per_run=batch, segment_starts=starts)
    _stability(lat, pooled, share, window.load1, None, starts, others)
    lat.update({"first_run_ms": first_ms, "warmup_iters": cfg.warmup_iters, "wall_s": timing.wall_s,
                "samples_ms": (pooled / 1e6).tolist()})
    if sc.name == "offline":
        feeds = feeds_for(batch)
    if stream_options:
        block["stream_options"] = stream_options
    return {
        "stream_placement": timing.placement,
        "scenario": block,
        "throughput": throughput_block(timing),
        "inputs": [s.to_dict() | {"resolved_shape": list(feeds[s.name].shape)} for s in sess.inputs],
        "outputs": [s.to_dict() for s in sess.outputs],
        "batch": batch,
        "runtime_version": rt.version(),
        "runtime_options": opts.to_dict(),  # type: ignore[union-attr]
        "runtime_effective_options": sess.effective_options() if hasattr(sess, "effective_options") else None,
        "runtime_info": getattr(sess, "info", None),
        "latency": lat,
        "nonfinite_outputs": _nonfinite_outputs(sess, feeds),
        "memory": {"rss_before_load_mb": rss0, "rss_after_load_mb": rss1, "load_delta_mb": rss1 - rss0,
                   "peak_rss_mb": sampler.peak_mb, "rss_loop_start_mb": None, "rss_end_mb": rss_mb(),
                   "peak_rss_hwm_mb": peak_rss_hwm_mb(), "rss_samples": sampler.n_samples,
                   "arena": getattr(opts, "memory_arena", None), "isolated_process": False},
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
    once = replace(cfg, sessions=1)  # the pipeline around the model's one session
    return end_to_end_block(measure(e2e, e2e.feeds(), once, deadline_ns=deadline).samples_ns)


# seconds the parent waits past --timeout (interpreter start, imports) before it kills the worker
TIMEOUT_GRACE_S = 30.0


def _nonfinite_outputs(sess: Any, feeds: Any) -> int:
    """NaN/Inf values in one run's float outputs (a model with NaN weights runs, fast and wrong)."""
    import numpy as np

    outs = sess.run(feeds) or {}
    return sum(int((~np.isfinite(v)).sum()) for v in map(np.asarray, outs.values()) if v.dtype.kind in "fc")


def run_job_isolated(job: Job) -> BenchResult:
    """Run `job` in a fresh interpreter (`python -m bench.worker`); errors come back as errors.

    The worker enforces the job's `timeout_s` between runs; a worker stuck inside one run is killed
    `TIMEOUT_GRACE_S` later, and a worker that dies (killed, out of memory, crashed) is reported in one line.
    """
    import signal
    import time

    from edgebench.bench.harness import timed_out
    from edgebench.runtimes.torch.session import provided_env

    env = {**os.environ, **provided_env()}  # what the torch runtimes were given here, they get there
    timeout = job.bench.get("timeout_s")
    env[SPAWNED_ENV] = str(time.monotonic_ns())  # CLOCK_MONOTONIC is one clock for all processes (Linux)
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
        from edgebench.bench.harness import MeasurementTimeout

        # the worker's class where the caller tells it apart (a timeout while loading is still a timeout)
        cls = (UserInputError if err.get("exit_code") == 2 else
               MeasurementTimeout if err.get("type") == "MeasurementTimeout" else EdgebenchError)
        raise cls(err["message"])
    result = BenchResult.from_dict(reply, "the measurement process's result")
    return result.merged(memory={**result.memory.to_dict(), "isolated_process": True})


# a thermal zone without a passive/hot trip point in sysfs: the temperature that counts as "throttling"
TEMP_LIMIT_C = 80.0


def throttle_warnings(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Warnings when the CPU throttled during a run: a Raspberry Pi's firmware flags, a cpufreq policy's cap
    (scaling_max_freq) that fell, a thermal zone that crossed its trip point (else `TEMP_LIMIT_C`)."""
    out: list[str] = []
    b, a = before.get("throttled"), after.get("throttled")
    if a:
        for key in ("throttled", "freq_capped", "soft_temp_limit", "under_voltage"):
            if a.get(key) or (b or {}).get(key) or (a.get(f"{key}_occurred") and not (b or {}).get(f"{key}_occurred")):
                out.append(f"the board reported '{key}' during the measurement; its latency is not reliable")
    caps_before = {tuple(p["cpus"]): p.get("cap_freq_mhz") for p in before.get("cpufreq") or []}
    for p in after.get("cpufreq") or []:
        was, now = caps_before.get(tuple(p["cpus"])), p.get("cap_freq_mhz")
        if was and now and now < was:
            out.append(f"CPUs {format_cpus(p['cpus'])} throttled during the measurement: their frequency cap fell "
                       f"from {was:g} to {now:g} MHz; its latency is not reliable (cool the board, --cooldown)")
    temps_before = {z.get("zone"): z.get("temp_c") for z in before.get("thermal") or []}
    for z in after.get("thermal") or []:
        limit = z.get("threshold_c") or TEMP_LIMIT_C
        was, now = temps_before.get(z.get("zone")), z.get("temp_c")
        if now is not None and now >= limit and (was is None or was < limit):
            out.append(f"{z.get('zone')} ({z.get('type')}) crossed {limit:g} C during the measurement ({was} -> "
                       f"{now:g} C): the CPU may have throttled; its latency is not reliable (--cooldown)")
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


def _result_warnings(measured: dict[str, Any], machine: dict[str, Any], machine_after: dict[str, Any],
                     verification: dict[str, Any] | None) -> list[str]:
    """A result's warnings: throttling, noise, emulation, NaN/Inf outputs, a file used despite its sha256."""
    warnings = throttle_warnings(machine, machine_after)
    if measured["latency"]["noisy"]:
        why = "; ".join(measured["latency"].get("noisy_reasons") or ["latency spread is high"])
        warnings.append(f"noisy: {why}; close other programs, raise --min-seconds or use --until-stable")
    if machine.get("emulated"):
        warnings.append("this machine runs under emulation; latency is not device speed")
    if measured.get("nonfinite_outputs"):
        warnings.append(f"the model's outputs hold {measured['nonfinite_outputs']} NaN/Inf values on these inputs "
                        "(NaN weights?); its latency is not that of a working model")
    sets = [len(s["cpus"]) for s in (measured.get("placement") or {}).get("streams") or () if s.get("cpus")]
    per_stream = (measured.get("scenario") or {}).get("threads_per_stream") or 1
    if sets and per_stream > min(sets):
        warnings.append(f"--pin-streams: a stream runs {per_stream} intra-op threads on {min(sets)} CPU(s), so they "
                        f"take turns; give --threads {len(sets) * min(sets)} or fewer (one thread per CPU)")
    if verification is not None and verification.get("matches") is False:
        warnings.append("the model file differs from the sha256 its manifest records (used with --no-verify); "
                        "its manifest's figures (MACs, accuracy) may not describe it")
    return warnings


def _options_block(job: Job, batch: int, ro: dict[str, Any]) -> dict[str, Any]:
    """A result's `options`: batch, threads, the runtime's session options, the inputs and the job's bench."""
    return {
        "batch": batch,
        "threads": ro["intra_op_threads"],
        "inter_op_threads": ro["inter_op_threads"],
        # ONNX Runtime's session options; None for a runtime without them (torch)
        "graph_optimization": ro.get("graph_optimization"),
        "execution_mode": ro.get("execution_mode"),
        "memory_arena": ro.get("memory_arena"),
        "shape": list(job.shape) if job.shape else None,
        "inputs": job.inputs_npz or "random",
        "seed": job.seed,
        "cpus": list(job.cpus) if job.cpus is not None else None,
        **job.bench,
    }


def make_result(job: Job, measured: dict[str, Any], model_path: Path, machine: dict[str, Any],
                machine_after: dict[str, Any], verification: dict[str, Any] | None = None, *,
                sha256: str | None = None) -> BenchResult:
    """Assemble the result of a job from its measurement and the fingerprints.

    `sha256`: the model file's, as the caller hashed it (`ModelArtifact.hashed`); None: the file is hashed here.

    `verification`: how the model file was checked against its manifest's sha256 (`cli.common.resolve_model`),
    stored as `model.verification`; a file used despite a mismatch (--no-verify) also gets a warning.
    """
    from edgebench.bench.result import SCHEMA_VERSION
    from edgebench.bench.schema import utc_now
    from edgebench.manifest import find_typed_manifest, sha256_file

    manifest = find_typed_manifest(model_path)
    name = model_name(model_path, manifest)
    ro = measured["runtime_options"]
    warnings = _result_warnings(measured, machine, machine_after, verification)
    size_mb = to_mb(model_path.stat().st_size)
    sha256 = sha256 if sha256 is not None else sha256_file(model_path)
    memory = dict(measured["memory"])
    memory["model_file_size_mb"] = size_mb
    return BenchResult.from_dict({
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
                    # what the runtime reports it really ran (OpenVINO's runtime model, ncnn's options read back)
                    "execution_precision": (measured.get("runtime_info") or {}).get("execution_precision"),
                    "info": measured.get("runtime_info")},
        "efficiency": _efficiency(manifest, measured, machine),
        "options": _options_block(job, measured["batch"], ro),
        "placement": measured.get("placement"),
        "cold_start": measured.get("cold_start"),
        "scenario": measured.get("scenario") or {"name": "single"},
        **({"throughput": measured["throughput"]} if "throughput" in measured else {}),
        "latency": measured["latency"],
        **({"end_to_end": measured["end_to_end"]} if measured.get("end_to_end") else {}),
        "memory": memory,
        "machine": machine,
        "machine_after": machine_after,
        "warnings": warnings,
    })
