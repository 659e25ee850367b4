"""`edgebench bench`, `edgebench sysinfo`, `edgebench runtimes`, and the hidden `run-jobs` (a device's side of
`bench --on`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from edgebench.cli.common import no_verify_option, resolve_model
from edgebench.cli.options import CELSIUS, NON_NEGATIVE, OPEN_FRACTION, POSITIVE
from edgebench.cli.root import app

if TYPE_CHECKING:
    from edgebench.devices.jobs import JobBatch


@app.command()
def bench(
    model: list[Path] = typer.Argument(..., help="An .onnx file, or a model folder with its manifest "
                                                 "(several with --interleave).", show_default=False),
    runtime: str = typer.Option("ort-cpu", "--runtime", "-r", help="Runtime name (see `edgebench runtimes`)."),
    precision: str | None = typer.Option(None, "--precision",
                                         help="fp32|bf16|fp16|int8: the model folder's file for this runtime "
                                              "(model.int8.onnx, DIR/<runtime>/<precision>/ from edgebench convert), "
                                              "or the FP32 model in reduced float arithmetic where the runtime has "
                                              "it (openvino, ncnn, torch: docs/runtimes.md)."),
    threads: str = typer.Option("", "--threads", "-t",
                                help="Intra-op threads; a list such as 1,2,4 runs each. Default: usable cores."),
    runtime_option: list[str] | None = typer.Option(
        None, "--runtime-option", "--ro", metavar="KEY=VALUE",
        help="A field of the runtime's options, repeatable, e.g. -r torch-int8 --ro engine=qnnpack "
             "(docs/bench.md lists them)."),
    inter_threads: int | None = typer.Option(None, "--inter-threads", help="Inter-op threads [default: 1]."),
    graph_opt: str | None = typer.Option(None, "--graph-opt",
                                         help="ort-cpu graph optimization: disable|basic|extended|all [default: all]."),
    execution_mode: str | None = typer.Option(None, "--execution-mode",
                                              help="ort-cpu: sequential|parallel [default: sequential]."),
    arena: bool | None = typer.Option(None, "--arena/--no-arena", help="ort-cpu CPU memory arena [default: on].",
                                      show_default=False),
    spin: bool | None = typer.Option(None, "--spin/--no-spin", show_default=False,
                                     help="ort-cpu: let idle threads spin-wait [default: on, ORT's default]."),
    interleave: bool = typer.Option(False, "--interleave",
                                    help="Time 2+ models in one process, rounds alternating; print ratios of "
                                         "medians vs the first with a 95% CI."),
    rounds: int = typer.Option(7, "--rounds", help="With --interleave: rounds (each times every model once)."),
    round_iters: int = typer.Option(30, "--round-iters", help="With --interleave: timed runs per model per round."),
    batch: str = typer.Option("1", "--batch", "-b", help="Batch size(s) for a dynamic batch dim, e.g. 1,8,32."),
    shape: str | None = typer.Option(None, "--shape", help="Full input shape, e.g. 1,3,32,32 (one-input models)."),
    inputs: Path | None = typer.Option(None, "--inputs", help=".npz with real input samples."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random inputs."),
    warmup_iters: int = typer.Option(10, "--warmup-iters", help="Warm-up runs."),
    warmup_seconds: float = typer.Option(0.0, "--warmup-seconds", callback=NON_NEGATIVE, help="Minimum warm-up time."),
    min_iters: int = typer.Option(50, "--min-iters", "--min-queries",
                                  help="Minimum timed runs (MLPerf's minimum query count; per stream in multi)."),
    min_seconds: float = typer.Option(2.0, "--min-seconds", callback=NON_NEGATIVE, help="Minimum timed seconds."),
    max_iters: int | None = typer.Option(None, "--max-iters", help="Stop after this many timed runs."),
    max_seconds: float | None = typer.Option(None, "--max-seconds", callback=POSITIVE,
                                             help="Stop after this many timed seconds."),
    isolate: bool = typer.Option(True, "--isolate/--in-process",
                                 help="Measure each model in a fresh process (default) or in this one."),
    output_dir: Path = typer.Option(Path("results"), "--output-dir", "-o", help="Folder for result JSON files."),
    csv_path: Path | None = typer.Option(None, "--csv", help="Also append a flat row per result to this CSV."),
    as_json: bool = typer.Option(False, "--json", help="Print the result JSON instead of the table."),
    cooldown: float | None = typer.Option(None, "--cooldown", callback=CELSIUS, metavar="CELSIUS",
                                          help="Before each measurement, wait until the board is cooler than this."),
    cooldown_timeout: float = typer.Option(300.0, "--cooldown-timeout", callback=NON_NEGATIVE,
                                           help="Longest wait for --cooldown, seconds."),
    eval_data: str | None = typer.Option(None, "--eval", metavar="DATASET",
                                         help="Also measure top-1/top-5 with the same runtime (e.g. cifar10; a "
                                              "detector: mAP on a COCO/YOLO folder); stored as `accuracy` in "
                                              "every result."),
    eval_limit: int | None = typer.Option(None, "--eval-limit", help="With --eval: the first N images only."),
    timeout: float = typer.Option(1800.0, "--timeout", callback=NON_NEGATIVE, metavar="SECONDS",
                                  help="Longest one measurement (load, warm-up, timed runs) may take; a hung run "
                                       "is ended cleanly (exit 1, earlier results kept). 0: no limit."),
    allow_oversubscribe: bool = typer.Option(False, "--allow-oversubscribe",
                                             help="Allow more than 4 threads per logical core."),
    no_verify: bool = no_verify_option(),
    eval_arithmetic: str = typer.Option("auto", "--eval-arithmetic",
                                        help="With --eval: INT8 arithmetic auto|host|qdq, as `edgebench eval "
                                             "--arithmetic` (docs/int8-arithmetic.md)."),
    on: str | None = typer.Option(None, "--on", metavar="DEVICE[,DEVICE...]",
                                  help="Run there over SSH (`edgebench device add`); results in -o DIR/<device>/."),
    cpus: str | None = typer.Option(None, "--cpus", metavar="LIST",
                                    help="Pin the measurement to these CPUs, e.g. 0-3 or 0,2,4-5 (threads default to "
                                         "their number). Default: the big cores of a big.LITTLE CPU, else none."),
    scenario: str = typer.Option("single", "--scenario",
                                 help="single (one request at a time), multi (concurrent streams), offline (most "
                                      "items/s over --batch sizes and streams), server (Poisson arrivals); "
                                      "docs/bench.md."),
    streams: int | None = typer.Option(None, "--streams", help="With --scenario multi: concurrent streams, each a "
                                                               "session with threads // streams intra-op threads."),
    fps: float | None = typer.Option(None, "--fps", callback=POSITIVE,
                                     help="With --scenario multi: search the most streams that each serve this many "
                                          "frames a second within --p99-ms."),
    p99_ms: float | None = typer.Option(None, "--p99-ms", callback=POSITIVE,
                                        help="With --fps: the p99 budget in ms [default: 1000 / fps, one frame "
                                             "interval]; with --scenario server: search the highest --qps within it."),
    qps: float | None = typer.Option(None, "--qps", callback=POSITIVE,
                                     help="With --scenario server: the mean rate of Poisson arrivals, queries a "
                                          "second."),
    until_stable: float | None = typer.Option(None, "--until-stable", metavar="WIDTH", callback=OPEN_FRACTION,
                                              help="Go on past the minimums until the p50's 95% CI is at most WIDTH "
                                                   "x p50 wide (e.g. 0.02), up to --max-seconds [default cap: 60]."),
) -> None:
    """Measure latency and memory of a model (one result file per threads x batch combination).

    With --interleave: several models in one process, round by round; one result file for all.
    """
    from dataclasses import replace

    from edgebench.atomic import check_writable_dir
    from edgebench.bench.harness import BenchConfig
    from edgebench.bench.inputs import check_batch
    from edgebench.bench.runner import Job
    from edgebench.bench.scenarios import ScenarioConfig, check_inputs, check_supported
    from edgebench.bench.schema import check_csv
    from edgebench.cli.options import check_threads, parse_int_list, parse_key_values, parse_shape, runtime_options
    from edgebench.errors import UserInputError
    from edgebench.runtimes import get_runtime
    from edgebench.runtimes.artifacts import resolve_precision
    from edgebench.runtimes.precisions import plan_precision
    from edgebench.system import default_threads, parse_cpus

    cpus_t = parse_cpus(cpus) if cpus is not None else None  # the syntax here; the CPUs on the machine that runs
    if until_stable is not None and max_seconds is None:
        max_seconds = UNTIL_STABLE_CAP_S
    cfg = BenchConfig(warmup_iters=warmup_iters, warmup_seconds=warmup_seconds, min_iters=min_iters,
                      min_seconds=min_seconds, max_iters=max_iters, max_seconds=max_seconds,
                      timeout_s=timeout or None, until_stable=until_stable)
    sc = ScenarioConfig(name=scenario, streams=streams, fps=fps, p99_ms=p99_ms, qps=qps)
    if interleave and sc.name != "single":
        raise UserInputError(f"--interleave times one request at a time; drop --scenario {sc.name} or --interleave")
    batch_list = parse_int_list(batch, "--batch")
    check_batch(batch_list)
    shape_t = parse_shape(shape)
    if shape_t is not None and len(batch_list) > 1:
        raise UserInputError("--shape fixes the batch; do not combine it with a --batch list")
    if shape_t is not None and batch_list != [1] and batch_list[0] != shape_t[0]:  # was silently ignored
        fixed = ",".join(str(d) for d in (batch_list[0], *shape_t[1:]))
        raise UserInputError(f"--shape {','.join(map(str, shape_t))} fixes the batch at {shape_t[0]}, but --batch "
                             f"{batch_list[0]} asks for {batch_list[0]}; put the batch in the shape "
                             f"(--shape {fixed}) and drop --batch")
    if not interleave and len(model) > 1:
        raise UserInputError(f"{len(model)} models given; bench takes one, or several with --interleave")
    check_supported(get_runtime(runtime), sc.name)
    check_inputs(sc.name, inputs, shape_t)
    if csv_path is not None:
        check_csv(csv_path)
    check_writable_dir(output_dir)  # created only once a result is due; refused now if it cannot be
    if inputs is not None:  # read (and refused) here, before any model loads; each run reads it again
        from edgebench.readers import read_npz

        read_npz(inputs, "--inputs file")
    # built (and so validated) before anything runs: a bad option fails before the first measurement
    flags = {k: v for k, v in {"inter_op_threads": ("--inter-threads", inter_threads),
                               "graph_optimization": ("--graph-opt", graph_opt),
                               "execution_mode": ("--execution-mode", execution_mode),
                               "memory_arena": ("--arena/--no-arena", arena),
                               "spin_wait": ("--spin/--no-spin", spin)}.items() if v[1] is not None}
    given = parse_key_values(runtime_option)
    base_opts = runtime_options(runtime, flags, given)
    _, base_opts = plan_precision(runtime, precision, base_opts, given)  # bf16/fp16: the options that select them
    if threads and "intra_op_threads" in given:
        raise UserInputError("--threads and --runtime-option intra_op_threads=... both set the threads; give one")
    thread_list = (parse_int_list(threads, "--threads") if threads
                   else [base_opts.intra_op_threads] if "intra_op_threads" in given else [default_threads()])
    options = [replace(base_opts, intra_op_threads=t) for t in thread_list]
    if interleave:
        if on is not None:
            raise UserInputError("--interleave runs on this machine only; drop --on, or bench each model --on "
                                 "the device")
        check_threads(thread_list, allow_oversubscribe=allow_oversubscribe)
        check_threads([base_opts.inter_op_threads], "--inter-threads", allow_oversubscribe=allow_oversubscribe)
        from edgebench.bench.runner import choose_cpus

        choose_cpus(cpus_t, interleave)  # refuses --cpus
        check_model = getattr(get_runtime(runtime), "check_model", None)  # e.g. torch: its verified FP32 parent
        model = [resolve_precision(m, runtime, precision, base_opts)[0] for m in model]
        for m in model:
            resolve_model(m, no_verify=no_verify)
            if check_model is not None:
                check_model(m)
        _interleave(model, runtime, options, batch_list, shape_t, seed, warmup_iters, rounds, round_iters,
                    output_dir, as_json)
        return
    from edgebench.devices.jobs import JobBatch

    if sc.name == "offline":  # one job tries every batch size
        sc = replace(sc, batches=tuple(batch_list))
    jobs = [Job(model=str(model[0]), runtime=runtime, batch=None if shape_t else b, shape=shape_t,
                inputs_npz=str(inputs) if inputs else None, seed=seed, options=opts, bench=cfg.__dict__.copy(),
                scenario={} if sc.name == "single" else {**sc.__dict__, "batches": list(sc.batches)})
            for opts in options for b in (batch_list[:1] if sc.name == "offline" else batch_list)]
    request = JobBatch(jobs=tuple(jobs), precision=precision, cpus=cpus_t,
                       threads_given=bool(threads) or "intra_op_threads" in given, no_verify=no_verify,
                       isolate=isolate, allow_oversubscribe=allow_oversubscribe,
                       cooldown=cooldown, cooldown_timeout=cooldown_timeout, eval_data=eval_data,
                       eval_limit=eval_limit, eval_arithmetic=eval_arithmetic)
    if on is not None:  # the same jobs on each device (edgebench.devices); nothing measured here
        from edgebench.cli.device import bench_on_devices

        bench_on_devices(on, request, output_dir, as_json=as_json, csv_path=csv_path)
        return
    results = run_batch(request, output_dir, progress=sys.stderr.isatty() and not as_json, csv_path=csv_path)
    if as_json:
        out = [{k: v for k, v in r.items() if k != "_path"} for r in results]
        typer.echo(json.dumps(out[0] if len(out) == 1 else out, indent=2))
    else:
        _print_table(results)


@app.command("run-jobs", hidden=True)
def run_jobs(jobs_file: Path = typer.Argument(..., help="A JSON job batch (edgebench.jobs) written by `bench --on`."),
             output_dir: Path = typer.Option(Path("results"), "--output-dir", "-o", help="Folder for the results.")
             ) -> None:
    """The device side of `bench --on` and of a sweep's remote cells: measure the Jobs of JOBS_FILE here."""
    from edgebench.devices.jobs import read_batch

    for r in run_batch(read_batch(jobs_file), output_dir):
        typer.echo(f"wrote {r['_path']}")


def run_batch(request: JobBatch, output_dir: Path, *, progress: bool = False, csv_path: Path | None = None
              ) -> list[dict[str, Any]]:
    """Measure the Jobs of `request` here and write a result file for each.

    Local `bench` and a device's `run-jobs` (`bench --on`, a sweep's remote cells) both run this: the threads
    and CPUs left to the machine are resolved against this one, the model's precision file in its folder.
    """
    from dataclasses import replace

    from edgebench.atomic import ensure_writable_dir
    from edgebench.bench.cooldown import Cooldown
    from edgebench.bench.runner import choose_cpus
    from edgebench.bench.schema import append_csv, write_result
    from edgebench.cli.options import check_threads
    from edgebench.runtimes import get_runtime
    from edgebench.runtimes.artifacts import resolve_precision
    from edgebench.runtimes.precisions import precision_way
    from edgebench.system import default_threads

    first, oversubscribe = request.first, request.allow_oversubscribe
    runtime, opts0 = first.runtime, first.options
    pinned, pin_how = choose_cpus(request.cpus)
    jobs = list(request.jobs)
    if not request.threads_given:  # this machine's default: one thread per CPU pinned to, else its usable cores
        n = len(pinned) if pinned is not None else default_threads()
        jobs = [replace(j, options=replace(j.options, intra_op_threads=n)) for j in jobs]
    check_threads(sorted({j.options.intra_op_threads for j in jobs}), allow_oversubscribe=oversubscribe)
    check_threads([opts0.inter_op_threads], "--inter-threads", allow_oversubscribe=oversubscribe)
    check_model = getattr(get_runtime(runtime), "check_model", None)  # e.g. torch: its verified FP32 parent
    artifact, verification = resolve_model(resolve_precision(Path(first.model), runtime, request.precision,
                                                             opts0)[0], no_verify=request.no_verify)
    if check_model is not None:
        check_model(artifact.path)
    cool = Cooldown(request.cooldown, request.cooldown_timeout) if request.cooldown is not None else None
    reduced = request.precision is not None and precision_way(runtime, request.precision) is not None
    eval_threads = opts0.intra_op_threads if request.threads_given else default_threads()
    accuracy = (_accuracy(artifact.path, runtime, request.eval_data, request.eval_limit, eval_threads,
                          request.eval_arithmetic, opts0 if reduced else None) if request.eval_data else None)
    ensure_writable_dir(output_dir)
    results = []
    for job in jobs:
        job = replace(job, model=str(artifact.path), progress=progress, cpus=pinned)
        result = _measure(job, artifact, verification, pin_how, cool, accuracy, request.isolate)
        path = write_result(result, output_dir)
        if csv_path is not None:
            append_csv(csv_path, result)
        result["_path"] = str(path)
        results.append(result)
    return results


def _measure(job: Any, artifact: Any, verification: dict[str, Any], pin_how: str, cool: Any,
             accuracy: dict[str, Any] | None, isolate: bool) -> dict[str, Any]:
    """One Job measured (after the board cooled, if asked), as a result with its placement, cooldown, accuracy."""
    from edgebench.bench.cooldown import cooldown_warnings, wait_until_cool
    from edgebench.bench.fingerprint import dynamic_state, fingerprint
    from edgebench.bench.runner import make_result, run_job, run_job_isolated

    cooled = wait_until_cool(cool) if cool is not None else None
    if cooled is not None and cooled["waited_s"] >= 1:
        typer.echo(f"waited {cooled['waited_s']:.0f} s for the board to cool from {cooled['start_temp_c']:.1f} "
                   f"to {cooled['end_temp_c']:.1f} C", err=True)
    machine = fingerprint()
    measured = run_job_isolated(job) if isolate else run_job(job)
    result = make_result(job, measured, artifact.path, machine, dynamic_state(), verification=verification,
                         artifact=artifact)
    if result["placement"] is not None:
        result["placement"]["how"] = pin_how
    if cooled is not None:
        result["cooldown"] = cooled
        result["warnings"] += cooldown_warnings(cooled)
    if accuracy is not None:
        result["accuracy"] = {k: v for k, v in accuracy.items() if k != "warnings"}
        result["warnings"] += accuracy["warnings"]
    return result


UNTIL_STABLE_CAP_S = 60.0  # --until-stable without --max-seconds: the time cap


def _interleave(models: list[Path], runtime: str, options: list[Any], batch_list: list[int],
                shape: tuple[int, ...] | None, seed: int, warmup: int, rounds: int, iters: int, output_dir: Path,
                as_json: bool) -> None:
    """`bench A B ... --interleave`: all models in this process, rotating order per round, one JSON result."""
    from edgebench.artifact import ModelArtifact
    from edgebench.errors import UserInputError

    if len(models) < 2:
        raise UserInputError("--interleave compares models: give two or more (the first is the baseline)")
    for flag, value in (("--rounds", rounds), ("--round-iters", iters)):
        if value < 1:
            raise UserInputError(f"{flag} {value} must be >= 1 (e.g. {flag} 7)")
    if len(options) > 1 or len(batch_list) > 1:
        raise UserInputError("--interleave takes one --threads value and one --batch value")
    from edgebench.bench.runner import model_name

    artifacts = [ModelArtifact.resolve(m) for m in models]
    paths = [a.path for a in artifacts]
    labels = [model_name(a.path, a.manifest) for a in artifacts]
    if len(set(labels)) < len(labels):
        labels = [str(p) for p in paths]
    if len(set(labels)) < len(labels):
        raise UserInputError("--interleave got the same model file twice; give each once")
    from edgebench.bench.fingerprint import fingerprint
    from edgebench.bench.interleave import interleave_result, interleaved_latency, write_interleave_result
    from edgebench.runtimes import get_runtime

    batch = None if shape else batch_list[0]
    opts = options[0]
    timings = interleaved_latency(dict(zip(labels, paths, strict=True)), runtime=runtime, options=opts,
                                  batch=batch, shape=shape, rounds=rounds, iters=iters, warmup=warmup, seed=seed,
                                  same_inputs=True)
    result = interleave_result(dict(zip(labels, paths, strict=True)), timings, runtime=runtime,
                               runtime_version=get_runtime(runtime).version(), options=opts, batch=batch, shape=shape,
                               rounds=rounds, iters=iters, warmup=warmup, seed=seed, machine=fingerprint())
    path = write_interleave_result(result, output_dir)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    _print_interleave(result, path)


def _print_interleave(result: dict[str, Any], path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    o = result["options"]
    table = Table(title=f"interleaved: {result['runtime']['name']}, {o['threads']} thread(s), batch "
                        f"{o['batch'] or o['shape']}, {o['rounds']} rounds x {o['iters_per_round']} runs")
    cpu = "cpu_ratio_vs_first" in result["models"][0]
    cols = ["model", "p50 ms", f"ratio vs {result['baseline']} (95% CI)"] + (["CPU ratio (95% CI)"] if cpu else [])
    for c in cols:
        table.add_column(c, justify="left" if c == "model" else "right", overflow="fold")
    for m in result["models"]:
        r = m["ratio_vs_first"]
        row = [m["name"], f"{m['p50_ms']:.3f}", f"{r['median']:.3f} ({r['ci95'][0]:.3f}-{r['ci95'][1]:.3f})"]
        if cpu:
            c = m["cpu_ratio_vs_first"]
            row.append(f"{c['median']:.3f} ({c['ci95'][0]:.3f}-{c['ci95'][1]:.3f})")
        table.add_row(*row)
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    console.print(f"wrote {path}")


def _accuracy(model_path: Path, runtime: str, data: str, limit: int | None, threads: int,
              arithmetic: str = "auto", options: Any = None) -> dict[str, Any]:
    """Top-1/top-5 of the model in `runtime` on `data` (bench/evaluate.py), without per-image predictions;
    `arithmetic`/`arithmetic_reason` say which INT8 arithmetic was measured, `warnings` go to the result's."""
    from edgebench.artifact import ModelArtifact
    from edgebench.task import DETECTION

    manifest = ModelArtifact.resolve(model_path).manifest
    if manifest is not None and manifest.task == DETECTION:
        from edgebench.bench.evaluate_detection import evaluate_detection

        det = evaluate_detection(model_path, data, runtime=runtime, limit=limit, threads=threads,
                                 arithmetic=arithmetic)
        return {k: det[k] for k in ("dataset", "dataset_sha256", "n", "map_pct", "map50_pct", "runtime", "threads",
                                    "arithmetic", "arithmetic_reason", "warnings")}
    from edgebench.bench.evaluate import evaluate

    acc = evaluate(model_path, data, runtime=runtime, limit=limit, threads=threads,
                   arithmetic=arithmetic, runtime_options=options)  # type: ignore[arg-type]
    return {k: acc[k] for k in ("dataset", "dataset_sha256", "n", "top1_pct", "top5_pct", "runtime", "threads",
                                "arithmetic", "arithmetic_reason", "execution_precision", "warnings")}


def _print_table(results: list[dict[str, Any]]) -> None:
    from edgebench.bench.stats import THROUGHPUT_HEADER
    from rich.console import Console
    from rich.table import Table

    table = Table(title="edgebench results")
    for col in ("model", "runtime", "b", "t", "p50 ms (95% CI)", "p99 ms", THROUGHPUT_HEADER, "RSS MB", "noisy"):
        left = col in ("model", "runtime")
        table.add_column(col, justify="left" if left else "right", overflow="fold", no_wrap=col != "model")
    for r in results:
        lat, mem, o = r["latency"], r["memory"], r["options"]
        lo, hi = lat["p50_ci95_ms"]
        ran = r["runtime"].get("execution_precision")
        total = (r.get("throughput") or {}).get("items_per_s", lat["throughput_items_per_s"])  # all streams
        table.add_row(r["model"]["name"], r["runtime"]["name"] + (f" ({ran})" if ran else ""), str(o["batch"]),
                      str(o["threads"]),
                      f"{lat['p50_ms']:.3f} ({lo:.3f}-{hi:.3f})", f"{lat['p99_ms']:.3f}",
                      f"{total:.1f}", f"{mem['peak_rss_mb']:.0f}",
                      "yes" if lat["noisy"] else "no")
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    for r in results:
        for line in _scenario_lines(r):
            console.print(line, markup=False, highlight=False)
        if "end_to_end" in r:  # a detector: the model alone above, the whole frame here
            e = r["end_to_end"]
            console.print(f"end-to-end p50 {e['e2e_p50_ms']:.3f} ms, p99 {e['e2e_p99_ms']:.3f} ms ({e['includes']}, "
                          f"{e['frame']} frame); model only p50 {r['latency']['p50_ms']:.3f} ms")
        for w in r.get("warnings", []):
            console.print(f"[yellow]warning:[/yellow] {w}")
        console.print(f"wrote {r['_path']}")


def _scenario_lines(r: dict[str, Any]) -> list[str]:
    """The scenario's answer, the p90 early-stopping bound and the stability checks with their thresholds."""
    sc, lat = r.get("scenario") or {"name": "single"}, r["latency"]
    out = []
    if sc["name"] == "single" and (lat.get("p90_early_stopping") or {}).get("bound_ms") is not None:
        es = lat["p90_early_stopping"]
        out.append(f"p90 {lat['p90_ms']:.3f} ms; early-stopping bound {es['bound_ms']:.3f} ms (99 % sure the true "
                   f"p90 is below it after {es['queries']} queries)")
    elif sc["name"] == "multi":
        per = ", ".join(f"{s['p99_ms']:.3f}" for s in r["throughput"]["streams"])
        found = (f"; at {sc['fps']:g} fps within p99 {sc['p99_budget_ms']:g} ms: {sc['max_streams_at_fps']} stream(s)"
                 if sc.get("fps") else "")
        out.append(f"multi: {sc['streams']} stream(s) x {sc['threads_per_stream']} thread(s), "
                   f"{r['throughput']['items_per_s']:.1f} items/s total, p99 per stream {per} ms{found}")
    elif sc["name"] == "server":
        found = (f"; highest rate within p99 {sc['p99_budget_ms']:g} ms: {sc['max_qps_within_p99'] or 0:.1f} queries/s"
                 if sc.get("search") else "")
        out.append(f"server: {sc['streams']} session(s) x {sc['threads_per_stream']} thread(s), "
                   f"{r['throughput']['queries_per_s']:.1f} queries/s served, p99 {lat['p99_ms']:.3f} ms{found}")
    elif sc["name"] == "offline":
        out.append(f"offline: best batch {sc['batch']} x {sc['streams']} stream(s) x {sc['threads_per_stream']} "
                   f"thread(s): {r['throughput']['items_per_s']:.1f} items/s (of {len(sc['configs'])} tried)")
    st = lat.get("stability")
    if st:
        cpu = st.get("cpu_share_cores")
        load = " / ".join("n/a" if v is None else f"{v:.2f}" for v in (st["load1_before"], st["load1_after"]))
        out.append(f"stability: the run got {cpu:.0%} of a core; 1-minute load average {load} before / after "
                   f"({st['logical_cores']} logical cores)" if cpu is not None else "stability:")
        out += [f"  {'ok ' if c['ok'] else 'NOISY' if c['sets_noisy'] else 'note'} {c['text']}" for c in st["checks"]]
    return out


@app.command()
def sysinfo(as_json: bool = typer.Option(True, "--json/--text", help="JSON (default) or a short text.")) -> None:
    """Print the machine fingerprint embedded in every result."""
    from edgebench.bench.fingerprint import fingerprint, host_isa_summary

    fp = fingerprint()
    if as_json:
        typer.echo(json.dumps(fp, indent=2))
    else:
        typer.echo(host_isa_summary(fp))


@app.command("runtimes")
def list_runtimes() -> None:
    """List the registered runtimes and whether each is installed here."""
    from edgebench.runtimes import RUNTIMES, runtime_names

    for name in runtime_names():
        rt = RUNTIMES.get(name)()
        state = f"available ({rt.version()})" if rt.available() else f"not installed: {rt.install_hint}"
        typer.echo(f"{name:12s} {state}")
