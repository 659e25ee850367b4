"""make bench-scenarios: #29's scenarios against ONNX Runtime's own Python API in the same pattern, interleaved.

1. Throughput (items/s) of edgebench's `single` / `multi` / `offline` on ResNet-20 and tv:resnet18 @224 vs the
   same pattern written directly on `onnxruntime.InferenceSession` (the peer: one session with T threads; T
   sessions of one thread each in their own threads; the best offline batch x streams), ROUNDS rounds, the order
   alternating: the median of the per-round ratios edgebench / peer, with the min..max over rounds.
1b. The same on OpenVINO: edgebench -r openvino `multi` (as many one-thread streams as benchmark_app's throughput
   hint picks) and `offline` (its best batch x streams) vs `benchmark_app -hint throughput` (-infer_precision f32,
   edgebench's default; f32 inputs) at batch 1 and offline's batch on the same model file, both the dynamic-batch
   model as edgebench loads it (-data_shape, -inference_only) and reshaped static (-shape): the ratio to the best
   benchmark_app figure of each round, and the same ratio per CPU-second (each side's items/s over the CPU cores
   its process used in its timed loop: on a loaded machine the scheduler, not the loop, sets the cores).
2. MLPerf's early-stopping p90 bound vs the plain p90 on 1,000 queries (ResNet-20) and 100,000 (a tiny synthetic
   model of a few microseconds a run).
3. An A/A test: the same model measured PAIRS times twice in a row (A then B, alternating); a pair "disagrees"
   when the two p50 CIs do not overlap; the stability checks should flag a run noisy when, and only when, its pair
   disagrees. Prints the 2 x 2 table.

Ratios and counts, not absolute speeds: the machine is shared. It prints the load (1-minute load average) before
and after. About 6 minutes on a 2-core machine at load 2.5; `--reduced` (shorter runs, fewer rounds, ResNet-18 at
batch 1 and 4 only) for a loaded one.

    python scripts/bench_scenarios.py artifacts/resnet20 artifacts/resnet18-224 [--reduced] [-o out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from edgebench.bench.harness import BenchConfig, measure
from edgebench.bench.scenarios import offline, run_streams
from edgebench.bench.stability import check_stability
from edgebench.bench.stats import early_stopping_bound, median_ci, p50_ci
from edgebench.runtimes import get_runtime
from edgebench.runtimes.ort.options import OrtCpuOptions
from edgebench.tools.synthetic import conv_net


def _model_file(p: Path) -> Path:
    return p / "model.fp32.onnx" if p.is_dir() else p


def _feeds(path: Path, batch: int) -> dict[str, np.ndarray]:
    import onnx

    inp = onnx.load(str(path), load_external_data=False).graph.input[0]
    dims = [d.dim_value or batch for d in inp.type.tensor_type.shape.dim]
    dims[0] = batch
    return {inp.name: np.random.default_rng(0).standard_normal(dims, dtype=np.float32)}


def _eb_sessions(path: Path, n: int, threads: int) -> list[Any]:
    rt = get_runtime("ort-cpu")
    return [rt.load(path, OrtCpuOptions(intra_op_threads=threads)) for _ in range(n)]


def _peer_sessions(path: Path, n: int, threads: int) -> list[Any]:
    from edgebench.runtimes.ort.options import cpu_session

    # ORT's own defaults apart from the threads (log level too): a plain peer, not edgebench's OrtCpuOptions
    return [cpu_session(path, intra_op_threads=threads, inter_op_threads=1, log_level=None) for _ in range(n)]


def peer_streams(sessions: list[Any], feeds: dict[str, np.ndarray], seconds: float) -> float:
    """The peer: each InferenceSession in its own thread, `run(None, feeds)` in a loop; items/s over all."""
    counts = [0] * len(sessions)
    barrier = threading.Barrier(len(sessions) + 1)
    batch = next(iter(feeds.values())).shape[0]

    def loop(i: int) -> None:
        s = sessions[i]
        s.run(None, feeds)
        barrier.wait()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            s.run(None, feeds)
            counts[i] += 1

    ts = [threading.Thread(target=loop, args=(i,)) for i in range(len(sessions))]
    for t in ts:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    return sum(counts) * batch / (time.perf_counter() - t0)


def eb_items_per_s(pattern: str, sessions: list[Any], feeds: dict[str, np.ndarray], seconds: float) -> float:
    """edgebench's own loops: `measure` for single (batch x runs / wall), `run_streams` for multi/offline."""
    cfg = BenchConfig(warmup_iters=1, min_iters=1, min_seconds=seconds)
    batch = next(iter(feeds.values())).shape[0]
    if pattern == "single":
        t = measure(sessions[0], feeds, cfg)
        return len(t.samples_ns) * batch / t.wall_s
    return run_streams(sessions, feeds, cfg).items_per_s


def throughput(model: Path, threads: int, rounds: int, seconds: float, batches: list[int]) -> dict[str, Any]:
    path = _model_file(model)
    out: dict[str, Any] = {"model": str(path), "threads": threads}
    # offline: edgebench's search picks the configuration; the peer then runs that same configuration
    eb_open = lambda k: _eb_sessions(path, 1, k)[0]  # noqa: E731  # called in each stream's thread
    _, block, best_batch = offline(eb_open, lambda b: _feeds(path, b), batches,
                                   BenchConfig(warmup_iters=1, min_iters=1, min_seconds=seconds), threads)
    out["offline_search"] = block["configs"]
    patterns = {"single": (1, threads, 1), "multi": (threads, 1, 1),
                "offline": (block["streams"], block["threads_per_stream"], best_batch)}
    for name, (n, k, b) in patterns.items():
        feeds = _feeds(path, b)
        eb, peer = _eb_sessions(path, n, k), _peer_sessions(path, n, k)
        ratios, eb_v, peer_v = [], [], []
        for r in range(rounds):
            order = ("eb", "peer") if r % 2 == 0 else ("peer", "eb")
            got = {}
            for who in order:
                got[who] = (eb_items_per_s(name, eb, feeds, seconds) if who == "eb"
                            else peer_streams(peer, feeds, seconds))
            eb_v.append(got["eb"])
            peer_v.append(got["peer"])
            ratios.append(got["eb"] / got["peer"])
        out[name] = {"streams": n, "threads_per_stream": k, "batch": b,
                     "edgebench_items_per_s": statistics.median(eb_v),
                     "peer_items_per_s": statistics.median(peer_v), "ratio_median": statistics.median(ratios),
                     "ratio_min": min(ratios), "ratio_max": max(ratios)}
        print(f"  {name:8s} {n} stream(s) x {k} thread(s), batch {b}: edgebench {statistics.median(eb_v):9.1f} "
              f"items/s, ORT API {statistics.median(peer_v):9.1f}; ratio {statistics.median(ratios):.3f} "
              f"({min(ratios):.3f}-{max(ratios):.3f}, {rounds} rounds)", flush=True)
    return out


OV_PRECISION = "f32"  # edgebench's default inference precision for OpenVINO, passed to benchmark_app too


def _ov_session(path: Path, threads: int) -> Any:
    """An edgebench OpenVINO session as a stream of the multi/offline scenarios opens it (bench/runner.py)."""
    rt = get_runtime("openvino")
    return rt.load(path, rt.Options(intra_op_threads=threads, inference_precision=OV_PRECISION,
                                    **rt.stream_options))


def _bench_app_args(path: Path, shape: tuple[int, ...], static: bool, seconds: int) -> list[str]:
    """benchmark_app -hint throughput on `path` at edgebench's precision, f32 inputs as edgebench feeds; `static`:
    the model reshaped to `shape` (-shape), else the same dynamic-batch model fed `shape` (-data_shape, inputs set
    once: -inference_only, as edgebench binds them)."""
    dims = "[" + ",".join(str(d) for d in shape) + "]"
    how = ["-shape", dims] if static else ["-data_shape", dims, "-inference_only"]
    return ["-m", str(path), "-d", "CPU", "-hint", "throughput", "-infer_precision", OV_PRECISION, "-ip", "f32",
            "-t", str(seconds), *how]


class AsyncWait:
    """An edgebench OpenVINO session whose bound call is `start_async(); wait()` (benchmark_app's async request, one
    in flight a stream) instead of `infer()`: the inference then runs in the plugin's stream thread while the
    stream's thread sleeps. A diagnostic (`multi_async_wait`) of the CPU share a loaded machine's scheduler grants
    that pattern, not what edgebench runs."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def bind(self, feeds: dict[str, np.ndarray]) -> Any:
        self.session.bind(feeds)
        request = self.session.request

        def run() -> None:
            request.start_async()
            request.wait()

        return run


def _peer_label(batch: int, static: bool) -> str:
    return f"batch {batch}, {'-shape (reshaped static)' if static else '-data_shape (same model)'}"


def openvino_throughput(model: Path, app: list[str], threads: int, rounds: int, seconds: int,
                        batches: list[int]) -> dict[str, Any]:
    """edgebench -r openvino `multi` (benchmark_app's stream count, one session each) and `offline` (its best
    batch x streams) vs `benchmark_app -hint throughput` at batch 1 and offline's batch, on the same model file,
    interleaved, the order alternating: per round the ratio edgebench / the best benchmark_app figure of the round,
    and the same ratio per CPU-second (the CPU cores each side's process used in its timed loop); and, as a
    diagnostic, `multi` with each stream's call made `start_async(); wait()` (`AsyncWait`)."""
    from edgebench.bench.scenarios import threads_per_stream
    from edgebench.bench.stability import CpuWindow
    from edgebench.tools.peers import run_bench_app

    path = _model_file(model)
    shape1 = next(iter(_feeds(path, 1).values())).shape
    probe = run_bench_app([*app, *_bench_app_args(path, shape1, False, 1)]).report  # untimed: its choices
    streams = probe.streams or threads
    out: dict[str, Any] = {"model": str(path), "threads": threads, "inference_precision": OV_PRECISION,
                           "bench_app_choice": probe.to_dict()}
    cfg = BenchConfig(warmup_iters=1, min_iters=1, min_seconds=seconds)
    _, block, best_batch = offline(lambda k: _ov_session(path, k), lambda b: _feeds(path, b), batches, cfg, threads)
    out["offline_search"] = block["configs"]
    patterns = {"multi": (streams, threads_per_stream(threads, streams), 1),
                "offline": (block["streams"], block["threads_per_stream"], best_batch),
                "multi_async_wait": (streams, threads_per_stream(threads, streams), 1)}
    sessions = {name: [(AsyncWait if name == "multi_async_wait" else lambda x: x)(_ov_session(path, k))
                       for _ in range(n)] for name, (n, k, _b) in patterns.items()}
    feeds = {name: _feeds(path, b) for name, (_n, _k, b) in patterns.items()}
    peers = [(b, static) for b in sorted({1, best_batch}) for static in (False, True)]
    tasks = [("edgebench", name) for name in patterns] + [("benchmark_app", p) for p in peers]
    got: list[dict[Any, tuple[float, float | None]]] = []  # per round: task -> (items/s, CPU cores)
    for r in range(rounds):
        row: dict[Any, tuple[float, float | None]] = {}
        for who, what in (tasks if r % 2 == 0 else tasks[::-1]):
            if who == "edgebench":
                window = CpuWindow.start()
                ips = run_streams(sessions[what], feeds[what], cfg).items_per_s
                row[what] = (ips, window.share())
            else:
                b, static = what
                shape = (b, *shape1[1:])
                run = run_bench_app([*app, *_bench_app_args(path, shape, static, seconds)])
                row[what] = (run.report.throughput_fps, run.cpu_cores)
        got.append(row)
    for name, (n, k, b) in patterns.items():
        mine = [p for p in peers if name == "offline" or p[0] == 1]  # multi runs batch 1: its peers are batch 1's
        ratios, cpu_ratios = [], []
        for row in got:
            best = max(mine, key=lambda p, row=row: row[p][0])
            ratios.append(row[name][0] / row[best][0])
            (eb_ips, eb_cpu), (ba_ips, ba_cpu) = row[name], row[best]
            if eb_cpu and ba_cpu:
                cpu_ratios.append((eb_ips / eb_cpu) / (ba_ips / ba_cpu))
        rec: dict[str, Any] = {
            "streams": n, "threads_per_stream": k, "batch": b,
            "edgebench_items_per_s": statistics.median(row[name][0] for row in got),
            "edgebench_cpu_cores": [row[name][1] for row in got],
            "bench_app_items_per_s": {_peer_label(*p): statistics.median(row[p][0] for row in got) for p in mine},
            "bench_app_cpu_cores": {_peer_label(*p): [row[p][1] for row in got] for p in mine},
            "ratio_vs_best_bench_app_median": statistics.median(ratios), "ratio_min": min(ratios),
            "ratio_max": max(ratios), "ratios": ratios,
            "ratio_per_cpu_second_median": statistics.median(cpu_ratios) if cpu_ratios else None,
            "ratios_per_cpu_second": cpu_ratios}
        out[name] = rec
        peers_txt = ", ".join(f"{lab} {v:.1f}" for lab, v in rec["bench_app_items_per_s"].items())
        cpu_txt = (f"; per CPU-second {rec['ratio_per_cpu_second_median']:.3f} "
                   f"({min(cpu_ratios):.3f}-{max(cpu_ratios):.3f})" if cpu_ratios else "")
        what = " (diagnostic: start_async + wait, not what edgebench runs)" if name == "multi_async_wait" else ""
        print(f"  {name:8s}{what} {n} stream(s) x {k} thread(s), batch {b}: edgebench "
              f"{rec['edgebench_items_per_s']:.1f} items/s; benchmark_app {peers_txt}; ratio vs best "
              f"{rec['ratio_vs_best_bench_app_median']:.3f} ({min(ratios):.3f}-{max(ratios):.3f}, {rounds} rounds)"
              f"{cpu_txt}", flush=True)
    return out


def early_stopping(model: Path, queries: int, threads: int) -> dict[str, Any]:
    path = _model_file(model)
    sess = _eb_sessions(path, 1, threads)[0]
    t = measure(sess, _feeds(path, 1), BenchConfig(warmup_iters=20, min_iters=queries, min_seconds=0.0,
                                                   max_iters=queries))
    ms = np.sort(np.frombuffer(t.samples_ns, np.int64) / 1e6)
    es = early_stopping_bound(ms)
    p90 = float(np.percentile(ms, 90))
    print(f"  {queries:>7,} queries of {path.name}: p90 {p90:.4f} ms, early-stopping bound {es['bound_ms']:.4f} ms "
          f"(+{(es['bound_ms'] / p90 - 1) * 100:.2f} %; {es['overlatency_queries']} queries above it)", flush=True)
    return {"model": str(path), "queries": queries, "p90_ms": p90, **es}


def aa_test(model: Path, pairs: int, seconds: float, threads: int, sessions: int = 1,
            per_run: int = 1) -> dict[str, Any]:
    """The same model twice per pair (A then B), each pair on fresh sessions: `sessions` 1 (one session timed
    twice: what a run's CI speaks to) or 2 (a session each: two `edgebench bench` runs); `per_run` > 1: each run
    spread over that many sessions (`bench --sessions`). Noisy (either run) vs p50 CIs (`stats.p50_ci`, over the
    run's contiguous segments) that disagree."""
    path = _model_file(model)
    feeds = _feeds(path, 1)
    cfg = BenchConfig(warmup_iters=10, min_iters=50, min_seconds=seconds, sessions=per_run)
    reload = (lambda: _eb_sessions(path, 1, threads)[0]) if per_run > 1 else None
    table = {"noisy_and_disagree": 0, "noisy_and_agree": 0, "quiet_and_disagree": 0, "quiet_and_agree": 0}
    runs = []
    old_disagree = 0
    for _ in range(pairs):
        opened = _eb_sessions(path, sessions, threads)
        got = []
        for ab in range(2):
            t = measure(opened[ab % sessions], feeds, cfg, reload=reload)
            st = check_stability(t.samples_ns, cpu_share=t.cpu_share, load_before=t.load1_before,
                                 segment_starts=t.segment_starts, others_cores=t.others_cores)
            ms = np.frombuffer(t.samples_ns, np.int64) / 1e6
            lo, hi, _ = p50_ci(ms, t.segment_starts)
            got.append(((lo, hi), float(np.median(ms)), st, median_ci(ms)))
        (a_ci, a_p50, a_st, a_old), (b_ci, b_p50, b_st, b_old) = got
        disagree = a_ci[1] < b_ci[0] or b_ci[1] < a_ci[0]
        old_disagree += a_old[1] < b_old[0] or b_old[1] < a_old[0]  # the samples' CI alone (before segments)
        noisy = a_st["noisy"] or b_st["noisy"]
        table[f"{'noisy' if noisy else 'quiet'}_and_{'disagree' if disagree else 'agree'}"] += 1
        runs.append({"a_ci_ms": a_ci, "b_ci_ms": b_ci, "a_p50_ms": a_p50, "b_p50_ms": b_p50, "disagree": disagree,
                     "noisy": noisy, "reasons": sorted(set(a_st["reasons"] + b_st["reasons"]))})
    diffs = [abs(r["a_p50_ms"] - r["b_p50_ms"]) / r["a_p50_ms"] for r in runs]
    widths = [(r[k][1] - r[k][0]) / r[p] for r in runs for k, p in (("a_ci_ms", "a_p50_ms"), ("b_ci_ms", "b_p50_ms"))]
    how = (f"each run over {per_run} sessions" if per_run > 1 else
           "one session a pair" if sessions == 1 else "two sessions a pair")
    print(f"  {pairs} A/A pairs of {path.name}, {how}: "
          f"{table}; |A - B| p50 median {statistics.median(diffs):.2%} max {max(diffs):.2%}; "
          f"CI width median {statistics.median(widths):.2%}; with the samples' CI alone {old_disagree} would disagree",
          flush=True)
    return {"pairs": pairs, "sessions_per_pair": sessions, "sessions_per_run": per_run, "table": table, "runs": runs,
            "disagree_with_the_samples_ci_alone": old_disagree,
            "p50_diff_rel_median": statistics.median(diffs), "p50_diff_rel_max": max(diffs),
            "ci_width_rel_median": statistics.median(widths)}


def openvino_section(models: list[Path], threads: int, rounds: int, seconds: int, reduced: bool) -> dict[str, Any]:
    """1b: every model on OpenVINO vs benchmark_app, and the verdict line."""
    import openvino as ov
    from edgebench.tools.peers import bench_app_command

    app = bench_app_command()
    print(f"1b. throughput, edgebench -r openvino vs benchmark_app -hint throughput (OpenVINO {ov.get_version()}, "
          f"-infer_precision {OV_PRECISION}, {seconds} s a run; ratio > 1: edgebench faster)")
    if app is None:
        print("  benchmark_app: not installed here (skipped)")
        return {"skipped": "benchmark_app is not installed"}
    got = []
    for i, m in enumerate(models):
        print(f" {m}:", flush=True)
        got.append(openvino_throughput(m, app, threads, rounds, seconds,
                                       [1, 8] if i == 0 else ([1, 4] if reduced else [1, 8])))
    verdicts = [f"{Path(g['model']).parent.name} {name} {g[name]['ratio_vs_best_bench_app_median']:.2f}"
                for g in got for name in ("multi", "offline")]
    ok = all(g[name]["ratio_vs_best_bench_app_median"] >= 0.9 for g in got for name in ("multi", "offline"))
    print(f"  verdict: edgebench {'is' if ok else 'is NOT'} within 10 % of the best benchmark_app figure or better "
          f"everywhere ({'; '.join(verdicts)})", flush=True)
    per_cpu = [g[name]["ratio_per_cpu_second_median"] for g in got for name in ("multi", "offline")]
    cpu_ok = None if None in per_cpu else all(r >= 0.9 for r in per_cpu)
    if cpu_ok is not None:
        print(f"  per CPU-second: {'within' if cpu_ok else 'NOT within'} 10 % of it or better everywhere "
              f"({'; '.join(f'{r:.2f}' for r in per_cpu)})", flush=True)
    return {"version": ov.get_version(), "inference_precision": OV_PRECISION, "seconds": seconds,
            "within_10_pct_of_best": ok, "within_10_pct_of_best_per_cpu_second": cpu_ok, "models": got}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path, help="model folders or .onnx files (ResNet-20 first)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--reduced", action="store_true", help="shorter runs and fewer rounds (a loaded machine)")
    ap.add_argument("-o", "--output", type=Path, help="also write the figures as JSON")
    a = ap.parse_args()
    missing = [str(_model_file(m)) for m in a.models if not _model_file(m).is_file()]
    if missing:
        ap.error(f"no model at {', '.join(missing)}: run `make export` / `make resnet18-224`, or give .onnx files")
    rounds, seconds, pairs = (3, 0.7, 6) if a.reduced else (5, 2.0, 10)
    load0 = os.getloadavg()
    print(f"load average before: {load0[0]:.2f} (1 min) on {os.cpu_count()} logical cores; threads {a.threads}; "
          f"{'reduced' if a.reduced else 'full'} run", flush=True)
    out: dict[str, Any] = {"threads": a.threads, "reduced": a.reduced, "load1_before": load0[0], "throughput": []}
    print("1. throughput, edgebench vs ORT's Python API in the same pattern (ratio > 1: edgebench faster)")
    for i, m in enumerate(a.models):
        batches = [1, 8] if i == 0 else ([1, 4] if a.reduced else [1, 8])
        print(f" {m}:", flush=True)
        out["throughput"].append(throughput(m, a.threads, rounds, seconds, batches))
    out["openvino"] = openvino_section(a.models, a.threads, rounds, max(1, round(seconds)), a.reduced)
    print("2. MLPerf early-stopping p90 bound vs plain p90 (1 thread)")
    out["early_stopping"] = [early_stopping(a.models[0], 1000, 1)]
    with tempfile.TemporaryDirectory() as d:
        tiny = conv_net(Path(d) / "tiny.onnx", size=8, channels=4, n_convs=1)
        out["early_stopping"].append(early_stopping(tiny, 100_000, 1))
    print("3. A/A stability test (1 thread)")
    out["aa"] = aa_test(a.models[0], pairs, seconds / 2, 1)
    out["aa_two_sessions"] = aa_test(a.models[0], pairs, seconds / 2, 1, sessions=2)
    out["aa_sessions_5"] = aa_test(a.models[0], pairs, seconds / 2, 1, sessions=2, per_run=5)
    out["load1_after"] = os.getloadavg()[0]
    print(f"load average after: {out['load1_after']:.2f} (1 min)")
    if a.output:
        a.output.parent.mkdir(parents=True, exist_ok=True)
        a.output.write_text(json.dumps(out, indent=2), encoding="utf-8")
        print(f"wrote {a.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
