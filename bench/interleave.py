"""Latency of several models measured in one process, interleaved round by round.

Comparing variants (FP32 vs INT8 presets) by ratios measured this way cancels most of the drift of
a shared machine: every round times each model once, in a rotating order, and the ratio is taken
per round before its median. Used by `edgebench bench A B --interleave`, `make export` and
`make bench-int8`.

With one thread, ONNX Runtime runs on the calling thread, so its CPU time (`time.thread_time_ns`)
is recorded too. On a busy machine wall time inflates runs longer than a scheduler slice far more
than short ones (measured here at load 10 on 2 cores: ResNet-56 FP32 6.9 ms wall for 2.9 ms of CPU,
its INT8 1.19 ms wall for 1.16 ms), which biases the wall-clock ratio upwards; the CPU-time ratio
is what an idle core would show.

The ratio of medians (a model's median over rounds / the first model's) gets a 95 % interval from a
paired bootstrap over rounds (rounds are resampled, so a round's drift hits both models alike); it
stores nothing but the per-round medians, so memory stays bounded by the number of rounds.

Example::

    r = interleaved_latency({"fp32": fp32_path, "int8": int8_path}, threads=1, rounds=7, iters=30)
    r["int8"]["cpu_speedup_vs_first"]   # median over rounds of fp32 CPU ms / int8 CPU ms
    r["int8"]["ratio_vs_first"]         # {"median": p50(int8) / p50(fp32), "ci95": [lo, hi], ...}

`interleave_result` turns such timings into the file `bench A B --interleave` writes, a typed
`bench.result.InterleaveResult` (`res.models[1].ratio_vs_first.ci95`).
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgebench.bench.harness import bound_run
from edgebench.bench.result import INTERLEAVE_SCHEMA_VERSION, InterleaveResult
from edgebench.errors import UserInputError

if TYPE_CHECKING:
    from edgebench.artifact import ModelArtifact
    from edgebench.runtimes.options import RuntimeOptions

Wrap = Callable[[str, Any, dict[str, Any]], tuple[Any, dict[str, Any]]]
BOOTSTRAP_RESAMPLES = 2000


def _time_runs(run: Callable[[], object], iters: int) -> tuple[float, float]:
    """Median wall ms and median calling-thread CPU ms of `iters` calls of `run` (a bound run: `bound_run`)."""
    wall, cpu = [], []
    for _ in range(iters):
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        run()
        t1, c1 = time.perf_counter_ns(), time.thread_time_ns()
        wall.append(t1 - t0)
        cpu.append(c1 - c0)
    return statistics.median(wall) / 1e6, statistics.median(cpu) / 1e6


def _ratios(first: list[float], other: list[float]) -> list[float]:
    return [a / b for a, b in zip(first, other, strict=True)]


def ratio_of_medians(first: Sequence[float], other: Sequence[float], *, resamples: int = BOOTSTRAP_RESAMPLES,
                     seed: int = 0) -> dict[str, Any]:
    """median(other) / median(first) with a 95 % paired-bootstrap interval over rounds.

    >>> r = ratio_of_medians([2.0, 2.1, 1.9], [1.0, 1.05, 0.95])
    >>> r["median"], r["ci95"][0] <= r["median"] <= r["ci95"][1]
    (0.5, True)
    """
    if len(first) != len(other) or not first:
        raise UserInputError("a ratio of medians needs the same number (>= 1) of rounds for both models")
    point = statistics.median(other) / statistics.median(first)
    n = len(first)
    rng = random.Random(seed)
    stats = []
    for _ in range(resamples if n > 1 else 0):
        idx = [rng.randrange(n) for _ in range(n)]
        stats.append(statistics.median([other[i] for i in idx]) / statistics.median([first[i] for i in idx]))
    stats.sort()
    lo, hi = (stats[int(0.025 * (len(stats) - 1))], stats[int(0.975 * (len(stats) - 1))]) if stats else (point, point)
    return {"median": point, "ci95": [lo, hi], "rounds": n,
            "method": f"paired bootstrap over rounds ({resamples} resamples, seed {seed})"}


def load_sessions(models: Mapping[str, Path], runtime: str, options: RuntimeOptions | Mapping[str, Any] | None,
                  batch: int | None, seed: int, shape: tuple[int, ...] | None = None,
                  same_inputs: bool = True) -> tuple[dict[str, Any], dict]:
    """Load every model in one process and build their inputs.

    `options`: one Options for all, or {label: Options} (e.g. one model at another thread count).

    `same_inputs`: one set of inputs they all take (same shapes, same data); models whose inputs differ
    in number, shape or type are refused (UserInputError). Otherwise each model gets its own.
    """
    from edgebench.bench.inputs import random_feeds
    from edgebench.runtimes import get_runtime

    rt = get_runtime(runtime)
    per = options if isinstance(options, Mapping) else dict.fromkeys(models, options)
    sessions = {k: rt.load(Path(p), per[k]) for k, p in models.items()}
    first = next(iter(sessions))
    specs0 = sessions[first].inputs
    shapes0 = [s.resolve(batch, shape) for s in specs0]
    if not same_inputs:
        return sessions, {k: random_feeds(sess.inputs, [s.resolve(batch, shape) for s in sess.inputs], seed)
                          for k, sess in sessions.items()}
    for k, sess in sessions.items():
        try:
            shapes = [s.resolve(batch, shape) for s in sess.inputs]
        except UserInputError as e:
            raise UserInputError(f"'{k}': {e}") from None
        if shapes != shapes0 or [s.dtype for s in sess.inputs] != [s.dtype for s in specs0]:
            def show(ss: Sequence[Any], sh: Sequence[tuple[int, ...]]) -> str:
                return ", ".join(f"{s.name} {list(x)} {s.dtype}" for s, x in zip(ss, sh, strict=False))
            raise UserInputError(
                f"--interleave needs models with the same inputs: '{first}' takes {show(specs0, shapes0)} but "
                f"'{k}' takes {show(sess.inputs, shapes)}; interleave variants of one model"
            )
    data = list(random_feeds(specs0, shapes0, seed).values())
    feeds = {k: {s.name: x for s, x in zip(sess.inputs, data, strict=True)} for k, sess in sessions.items()}
    return sessions, feeds


def interleaved_latency(models: Mapping[str, Path], *, threads: int = 1, batch: int = 1, rounds: int = 7,
                        iters: int = 30, warmup: int = 10, seed: int = 0, runtime: str = "ort-cpu",
                        options: RuntimeOptions | None = None, shape: tuple[int, ...] | None = None,
                        same_inputs: bool = False, model_options: Mapping[str, RuntimeOptions] | None = None,
                        wrap: Wrap | None = None) -> dict[str, dict[str, Any]]:
    """Per model: median latency (wall, and CPU when threads == 1) and speed-ups against the first model.

    `options` (the runtime's Options) win over `threads`; by default `threads` intra-op, 1 inter-op.
    `model_options`: {label: Options} for models that run with other options than the rest (e.g. the same INT8
    model at another thread count); the CPU-time figures then need every model on one thread.
    `same_inputs`: feed every model the same tensors and refuse models whose inputs differ.
    `wrap(label, session, feeds)` -> (what to time, its feeds): e.g. a detector's end-to-end path
    (`bench.end_to_end.EndToEnd`) timed in the same rounds as the bare models; it returns its arguments for a
    label it leaves alone.
    """
    from edgebench.runtimes import options_class

    if not models:
        raise UserInputError("no models to time")
    if rounds < 1 or iters < 1 or threads < 1 or warmup < 0:
        raise UserInputError(f"rounds ({rounds}), iters ({iters}) and threads ({threads}) must be >= 1, "
                             f"warm-up ({warmup}) >= 0")
    opts = options if options is not None else options_class(runtime)(intra_op_threads=threads, inter_op_threads=1)
    per = {k: (model_options or {}).get(k, opts) for k in models}
    threads = max(o.intra_op_threads for o in per.values())
    sessions, feeds = load_sessions(models, runtime, per, batch, seed, shape, same_inputs)
    if wrap is not None:
        for k in list(sessions):
            sessions[k], feeds[k] = wrap(k, sessions[k], feeds[k])
    # each session's inputs bound once, as `measure` times a model (a session without `bind` runs `run(feeds)`)
    runs = {k: bound_run(sess, feeds[k]) for k, sess in sessions.items()}
    for run in runs.values():
        for _ in range(warmup):
            run()
    names = list(sessions)
    wall: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    for r in range(rounds):
        for k in names[r % len(names):] + names[:r % len(names)]:
            runs[k]()  # one untimed run after switching models
            w, c = _time_runs(runs[k], iters)
            wall[k].append(w)
            cpu[k].append(c)
    first = names[0]
    out: dict[str, dict[str, Any]] = {}
    for k in names:
        entry: dict[str, Any] = {
            **_versus_first(wall[first], wall[k], "", "round_p50_ms"),
            "threads": threads,
            "batch": batch,
            "rounds": rounds,
            "iters_per_round": iters,
            "loadavg_1min": load_before,
        }
        if threads == 1:
            entry.update(_versus_first(cpu[first], cpu[k], "cpu_", "round_cpu_ms"))
        out[k] = entry
    return out


def _versus_first(first: list[float], mine: list[float], prefix: str, rounds_key: str) -> dict[str, Any]:
    """One model's per-round times (wall, or CPU with prefix "cpu_") against the first model's: the median, the
    rounds (under `rounds_key`), the ratio of medians and the paired per-round speedups."""
    r = _ratios(first, mine)
    return {
        f"{prefix}p50_ms": float(statistics.median(mine)),
        rounds_key: mine,
        f"{prefix}ratio_vs_first": ratio_of_medians(first, mine),
        f"{prefix}speedup_vs_first": float(statistics.median(r)),
        f"{prefix}speedup_min": float(min(r)),
        f"{prefix}speedup_max": float(max(r)),
    }


def interleave_result(models: Mapping[str, ModelArtifact], timings: Mapping[str, Mapping[str, Any]], *,
                      runtime: str, runtime_version: str, options: RuntimeOptions, batch: int | None,
                      shape: tuple[int, ...] | None, rounds: int, iters: int, warmup: int, seed: int,
                      machine: dict[str, Any]) -> InterleaveResult:
    """The result of `edgebench bench A B ... --interleave` (kind "interleave", its own schema_version): `models`
    by label, each hashed once (`ModelArtifact.hashed`; the command line's were while being verified)."""
    from edgebench.bench.schema import utc_now

    entries = []
    for label, artifact in models.items():
        t = timings[label]
        entries.append({
            "name": label, "path": str(artifact.path), "sha256": artifact.hashed().sha256,
            "p50_ms": t["p50_ms"], "round_p50_ms": t["round_p50_ms"], "ratio_vs_first": t["ratio_vs_first"],
            **({"cpu_p50_ms": t["cpu_p50_ms"], "round_cpu_ms": t["round_cpu_ms"],
                "cpu_ratio_vs_first": t["cpu_ratio_vs_first"]} if "cpu_p50_ms" in t else {}),
        })
    first = next(iter(timings.values()))
    return InterleaveResult.from_dict({
        "schema_version": INTERLEAVE_SCHEMA_VERSION,
        "kind": "interleave",
        "created_utc": utc_now(),
        "baseline": entries[0]["name"],
        "ratio": "median over rounds of a model's latency / the same of the first model (< 1: faster)",
        "runtime": {"name": runtime, "version": runtime_version, "options": options.to_dict()},
        "options": {"batch": batch, "shape": list(shape) if shape else None, "threads": options.intra_op_threads,
                    "rounds": rounds, "iters_per_round": iters, "warmup_iters": warmup, "seed": seed,
                    "order": "rotating: round r starts with model r mod n", "inputs": "random, the same for all"},
        "loadavg_1min": first.get("loadavg_1min"),
        "models": entries,
        "machine": machine,
    })


def write_interleave_result(result: InterleaveResult, out_dir: Path) -> Path:
    """Write atomically as `interleave.<first>.<n>models.b<batch>.t<threads>.<time>.json`; never overwrites."""
    import re

    from edgebench.atomic import ensure_writable_dir, write_json

    out_dir = ensure_writable_dir(Path(out_dir))
    o = result.options
    first = re.sub(r"[^A-Za-z0-9_.-]+", "_", result.baseline)
    stem = (f"interleave.{first}.{len(result.models)}models.b{o.batch or 'shape'}.t{o.threads}."
            f"{re.sub(r'[^0-9T]', '', result.created_utc)}")
    path, i = out_dir / f"{stem}.json", 1
    while path.exists():
        path, i = out_dir / f"{stem}.{i}.json", i + 1
    return write_json(path, result.to_dict(), force=False)
