"""`edgebench bench`, `edgebench sysinfo`, `edgebench runtimes`."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from edgebench.atomic import check_writable_dir
from edgebench.cli.common import no_verify_option, resolve_model
from edgebench.cli.options import CELSIUS, NON_NEGATIVE, OPEN_FRACTION, POSITIVE
from edgebench.cli.root import app
from edgebench.errors import UserInputError

if TYPE_CHECKING:
    from edgebench.bench.measure import MeasureConfig
    from edgebench.bench.result import BenchResult, InterleaveResult
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
    pin_streams: bool = typer.Option(False, "--pin-streams",
                                     help="With --scenario multi, offline or server: pin each stream's thread (its "
                                          "session's threads inherit it) to CPUs of its own, split from --cpus "
                                          "(else the CPUs this process may use); refused with fewer CPUs than "
                                          "--streams."),
    until_stable: float | None = typer.Option(None, "--until-stable", metavar="WIDTH", callback=OPEN_FRACTION,
                                              help="Go on past the minimums until the p50's 95% CI is at most WIDTH "
                                                   "x p50 wide (e.g. 0.02), up to --max-seconds [default cap: 60]."),
    sessions: int = typer.Option(1, "--sessions",
                                 help="Spread the timed runs over this many sessions of the model, loaded one "
                                      "after another (--scenario single): the p50's CI then covers how sessions "
                                      "differ, as two separate runs would (e.g. 5)."),
) -> None:
    """Measure latency and memory of a model (one result file per threads x batch combination).

    With --interleave: several models in one process, round by round; one result file for all.
    """
    req = _request(dict(locals()))
    if on is not None:  # the same Jobs on each device (edgebench.devices); nothing measured here
        from edgebench.cli.device import bench_on_devices

        bench_on_devices(on, _job_batch(req), output_dir, as_json=as_json, csv_path=csv_path)
        return
    req, artifact = _on_this_machine(req)
    if isinstance(artifact, tuple):
        _interleave(list(artifact), req.runtime, list(req.options), list(req.batches), req.config.shape,
                    req.config.seed, req.config.bench["warmup_iters"], *req.interleave or (0, 0), req.output_dir,
                    req.as_json)
        return
    from edgebench.bench.measure import run_bench

    written = run_bench(artifact, req.runtime, req.options, req.batches, req.config, req.output_dir, req.csv_path,
                        echo=lambda m: typer.echo(m, err=True))
    if req.as_json:
        out = [r.to_dict() for r, _ in written]
        typer.echo(json.dumps(out[0] if len(out) == 1 else out, indent=2))
    else:
        _print_table(written)


@dataclass(frozen=True)
class BenchRequest:
    """`edgebench bench`'s options, parsed and checked before anything runs (`_request`)."""

    models: tuple[Path, ...]
    runtime: str
    precision: str | None
    base_options: Any  # the runtime's Options (the --threads list aside)
    options: tuple[Any, ...]  # one per --threads value
    threads_given: bool  # --threads or --runtime-option intra_op_threads=...
    batches: tuple[int, ...]
    config: MeasureConfig
    output_dir: Path
    csv_path: Path | None
    as_json: bool
    interleave: tuple[int, int] | None  # (--rounds, --round-iters)
    evaluation: tuple[str, int | None, str] | None  # (--eval, --eval-limit, --eval-arithmetic)
    no_verify: bool
    allow_oversubscribe: bool
    cpus: tuple[int, ...] | None  # --cpus, parsed (checked against the machine that measures)


def _request(a: dict[str, Any]) -> BenchRequest:
    """The command's options (its parameters by name) -> a checked BenchRequest; every refusal before any work."""
    from edgebench.bench.inputs import check_batch
    from edgebench.bench.measure import MeasureConfig
    from edgebench.bench.scenarios import check_inputs, check_supported
    from edgebench.bench.schema import check_csv
    from edgebench.cli.options import parse_int_list, parse_shape
    from edgebench.runtimes import get_runtime
    from edgebench.system import parse_cpus

    cpus = parse_cpus(a["cpus"]) if a["cpus"] is not None else None  # the syntax here; the CPUs where it runs
    bench_cfg, sc = _bench_config(a)
    if a["interleave"] and sc.name != "single":
        raise UserInputError(f"--interleave times one request at a time; drop --scenario {sc.name} or --interleave")
    if bench_cfg.sessions > 1 and (sc.name != "single" or a["interleave"]):
        what = "--interleave" if a["interleave"] else f"--scenario {sc.name}"
        raise UserInputError(f"--sessions {bench_cfg.sessions} spreads one stream's timed runs over sessions; "
                             f"{what} does not: drop --sessions or {what}")
    batches = parse_int_list(a["batch"], "--batch")
    check_batch(batches)
    shape = parse_shape(a["shape"])
    _check_shape(shape, batches)
    if not a["interleave"] and len(a["model"]) > 1:
        raise UserInputError(f"{len(a['model'])} models given; bench takes one, or several with --interleave")
    check_supported(get_runtime(a["runtime"]), sc.name, sc.streams)
    check_inputs(sc.name, a["inputs"], shape)
    if a["csv_path"] is not None:
        check_csv(a["csv_path"])
    check_writable_dir(a["output_dir"])  # created only once a result is due; refused now if it cannot be
    if a["inputs"] is not None:  # read (and refused) here, before any model loads; each run reads it again
        from edgebench.readers import read_npz

        read_npz(a["inputs"], "--inputs file")
    base_opts, options, threads_given = _runtime_options(a)
    from edgebench.bench.cooldown import Cooldown

    config = MeasureConfig(bench=bench_cfg.__dict__.copy(), scenario=sc, shape=shape, seed=a["seed"],
                           isolate=a["isolate"],
                           inputs_npz=str(a["inputs"]) if a["inputs"] else None,
                           progress=sys.stderr.isatty() and not a["as_json"],
                           cooldown=Cooldown(a["cooldown"], a["cooldown_timeout"]) if a["cooldown"] is not None
                           else None)
    return BenchRequest(
        models=tuple(a["model"]), runtime=a["runtime"], precision=a["precision"], base_options=base_opts,
        options=tuple(options), threads_given=threads_given, batches=tuple(batches), config=config,
        output_dir=a["output_dir"], csv_path=a["csv_path"], as_json=a["as_json"],
        interleave=(a["rounds"], a["round_iters"]) if a["interleave"] else None,
        evaluation=(a["eval_data"], a["eval_limit"], a["eval_arithmetic"]) if a["eval_data"] else None,
        no_verify=a["no_verify"], allow_oversubscribe=a["allow_oversubscribe"], cpus=cpus)


def _bench_config(a: dict[str, Any]) -> tuple[Any, Any]:
    """The timing settings (--warmup-iters ... --until-stable) and the scenario, checked."""
    from edgebench.bench.harness import BenchConfig
    from edgebench.bench.scenarios import ScenarioConfig

    max_seconds = a["max_seconds"]
    if a["until_stable"] is not None and max_seconds is None:
        max_seconds = UNTIL_STABLE_CAP_S
    cfg = BenchConfig(warmup_iters=a["warmup_iters"], warmup_seconds=a["warmup_seconds"], min_iters=a["min_iters"],
                      min_seconds=a["min_seconds"], max_iters=a["max_iters"], max_seconds=max_seconds,
                      timeout_s=a["timeout"] or None, until_stable=a["until_stable"], sessions=a["sessions"])
    sc = ScenarioConfig(name=a["scenario"], streams=a["streams"], fps=a["fps"], p99_ms=a["p99_ms"], qps=a["qps"],
                        pin_streams=a["pin_streams"])
    return cfg, sc


def _check_shape(shape: tuple[int, ...] | None, batches: list[int]) -> None:
    """--shape fixes the batch: no --batch list, and no other --batch than the shape's."""
    if shape is not None and len(batches) > 1:
        raise UserInputError("--shape fixes the batch; do not combine it with a --batch list")
    if shape is not None and batches != [1] and batches[0] != shape[0]:  # was silently ignored
        fixed = ",".join(str(d) for d in (batches[0], *shape[1:]))
        raise UserInputError(f"--shape {','.join(map(str, shape))} fixes the batch at {shape[0]}, but --batch "
                             f"{batches[0]} asks for {batches[0]}; put the batch in the shape "
                             f"(--shape {fixed}) and drop --batch")


def _runtime_options(a: dict[str, Any]) -> tuple[Any, list[Any], bool]:
    """The runtime's Options from the flags and --runtime-option pairs (built, so checked, before anything runs),
    one per --threads value, and whether the threads were given."""
    from edgebench.cli.options import parse_int_list, parse_key_values, runtime_options
    from edgebench.runtimes.precisions import plan_precision
    from edgebench.system import default_threads

    flags = {k: v for k, v in {"inter_op_threads": ("--inter-threads", a["inter_threads"]),
                               "graph_optimization": ("--graph-opt", a["graph_opt"]),
                               "execution_mode": ("--execution-mode", a["execution_mode"]),
                               "memory_arena": ("--arena/--no-arena", a["arena"]),
                               "spin_wait": ("--spin/--no-spin", a["spin"])}.items() if v[1] is not None}
    given = parse_key_values(a["runtime_option"])
    base_opts = runtime_options(a["runtime"], flags, given)
    _, base_opts = plan_precision(a["runtime"], a["precision"], base_opts, given)  # bf16/fp16: their options
    threads = a["threads"]
    if threads and "intra_op_threads" in given:
        raise UserInputError("--threads and --runtime-option intra_op_threads=... both set the threads; give one")
    thread_list = (parse_int_list(threads, "--threads") if threads
                   else [base_opts.intra_op_threads] if "intra_op_threads" in given else [default_threads()])
    threads_given = bool(threads) or "intra_op_threads" in given
    return base_opts, [replace(base_opts, intra_op_threads=t) for t in thread_list], threads_given


def _on_this_machine(req: BenchRequest) -> tuple[BenchRequest, Any]:
    """The checks against this machine (cores, CPUs), the model resolved and verified, the accuracy measured:
    the request to run and the model's artifact (with --interleave: a tuple of them, one per model), hashed once."""
    from edgebench.bench.runner import choose_cpus
    from edgebench.bench.scenarios import check_pinning
    from edgebench.cli.options import check_threads
    from edgebench.runtimes import get_runtime
    from edgebench.runtimes.artifacts import resolve_precision

    over = req.allow_oversubscribe
    check_threads([o.intra_op_threads for o in req.options], allow_oversubscribe=over)
    check_threads([req.base_options.inter_op_threads], "--inter-threads", allow_oversubscribe=over)
    pinned, pin_how = choose_cpus(req.cpus, req.interleave is not None)
    check_pinning(req.config.scenario, pinned, "--cpus" if req.cpus is not None else "the big cores pinned to")
    eval_threads = req.options[0].intra_op_threads  # --eval: the first --threads value (or the default)
    if pinned is not None and not req.threads_given:  # one thread per CPU pinned to
        req = replace(req, options=(replace(req.base_options, intra_op_threads=len(pinned)),))
        check_threads([len(pinned)], allow_oversubscribe=over)
    check_model = getattr(get_runtime(req.runtime), "check_model", None)  # e.g. torch: its verified FP32 parent
    if req.interleave is not None:
        models = [resolve_precision(m, req.runtime, req.precision, req.base_options)[0] for m in req.models]
        artifacts = []
        for m in models:
            artifacts.append(resolve_model(m, no_verify=req.no_verify)[0])
            if check_model is not None:
                check_model(m)
        return replace(req, models=tuple(models)), tuple(artifacts)
    artifact, verification = resolve_model(resolve_precision(req.models[0], req.runtime, req.precision,
                                                             req.base_options)[0], no_verify=req.no_verify)
    if check_model is not None:
        check_model(artifact.path)
    accuracy = _accuracy(artifact, req, eval_threads) if req.evaluation else None
    config = replace(req.config, cpus=pinned, pin_how=pin_how, verification=verification, accuracy=accuracy)
    return replace(req, config=config), artifact


UNTIL_STABLE_CAP_S = 60.0  # --until-stable without --max-seconds: the time cap


def _job_batch(req: BenchRequest) -> JobBatch:
    """`bench --on`: the request as the Jobs a device runs (`run-jobs`), with what that machine resolves itself."""
    from edgebench.bench.measure import cells
    from edgebench.devices.jobs import JobBatch

    if req.interleave is not None:
        raise UserInputError("--interleave runs on this machine only; drop --on, or bench each model --on the device")
    cfg = req.config
    jobs = [c.job(str(req.models[0]), req.runtime, opts) for opts, c in cells(cfg, req.options, req.batches)]
    data, limit, arithmetic = req.evaluation or (None, None, "auto")
    cool = cfg.cooldown
    return JobBatch(jobs=tuple(jobs), precision=req.precision, cpus=req.cpus, threads_given=req.threads_given,
                    no_verify=req.no_verify, isolate=cfg.isolate, allow_oversubscribe=req.allow_oversubscribe,
                    cooldown=cool.bound_c if cool is not None else None,
                    cooldown_timeout=cool.timeout_s if cool is not None else 300.0,
                    eval_data=data, eval_limit=limit, eval_arithmetic=arithmetic)


@app.command("run-jobs", hidden=True)
def run_jobs(jobs_file: Path = typer.Argument(..., help="A JSON job batch (edgebench.jobs) written by `bench --on`."),
             output_dir: Path = typer.Option(Path("results"), "--output-dir", "-o", help="Folder for the results.")
             ) -> None:
    """The device side of `bench --on` and of a sweep's remote cells: measure the Jobs of JOBS_FILE here."""
    from edgebench.devices.jobs import read_batch

    for _, path in run_batch(read_batch(jobs_file), output_dir):
        typer.echo(f"wrote {path}")


def run_batch(batch: JobBatch, output_dir: Path) -> list[tuple[BenchResult, Path]]:
    """Measure the Jobs of `batch` here, as a local `bench` measures its request, and write a result file each.

    The threads and CPUs left to the machine are resolved against this one, the precision file in the model's
    folder here."""
    from edgebench.bench.cooldown import Cooldown
    from edgebench.bench.measure import config_of, run_bench
    from edgebench.system import default_threads

    first = batch.first
    options: list[Any] = []
    for job in batch.jobs:  # one per --threads value, in order
        if job.options not in options:
            options.append(job.options)
    if not batch.threads_given:  # this machine's default (one thread per pinned CPU: `_on_this_machine`)
        options = [replace(first.options, intra_op_threads=default_threads())]
    scenario_batches = tuple((first.scenario or {}).get("batches", ()))
    batches = scenario_batches or tuple(dict.fromkeys(j.batch or 1 for j in batch.jobs))
    cool = Cooldown(batch.cooldown, batch.cooldown_timeout) if batch.cooldown is not None else None
    req = BenchRequest(
        models=(Path(first.model),), runtime=first.runtime, precision=batch.precision, base_options=options[0],
        options=tuple(options), threads_given=batch.threads_given, batches=batches,
        config=config_of(first, isolate=batch.isolate, cooldown=cool), output_dir=output_dir, csv_path=None,
        as_json=False, interleave=None, no_verify=batch.no_verify, allow_oversubscribe=batch.allow_oversubscribe,
        evaluation=(batch.eval_data, batch.eval_limit, batch.eval_arithmetic) if batch.eval_data else None,
        cpus=batch.cpus)
    req, artifact = _on_this_machine(req)
    return run_bench(artifact, req.runtime, req.options, req.batches, req.config, output_dir,
                     echo=lambda m: typer.echo(m, err=True))


def _interleave(artifacts: list[Any], runtime: str, options: list[Any], batch_list: list[int],
                shape: tuple[int, ...] | None, seed: int, warmup: int, rounds: int, iters: int, output_dir: Path,
                as_json: bool) -> None:
    """`bench A B ... --interleave`: all models (their hashed ModelArtifacts) in this process, rotating order per
    round, one JSON result."""
    from edgebench.errors import UserInputError

    if len(artifacts) < 2:
        raise UserInputError("--interleave compares models: give two or more (the first is the baseline)")
    for flag, value in (("--rounds", rounds), ("--round-iters", iters)):
        if value < 1:
            raise UserInputError(f"{flag} {value} must be >= 1 (e.g. {flag} 7)")
    if len(options) > 1 or len(batch_list) > 1:
        raise UserInputError("--interleave takes one --threads value and one --batch value")
    from edgebench.bench.runner import model_name

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
    result = interleave_result(dict(zip(labels, artifacts, strict=True)), timings, runtime=runtime,
                               runtime_version=get_runtime(runtime).version(), options=opts, batch=batch, shape=shape,
                               rounds=rounds, iters=iters, warmup=warmup, seed=seed, machine=fingerprint())
    path = write_interleave_result(result, output_dir)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    _print_interleave(result, path)


def _print_interleave(result: InterleaveResult, path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    o = result.options
    batch = o.batch or (list(o.shape) if o.shape is not None else None)
    table = Table(title=f"interleaved: {result.runtime.name}, {o.threads} thread(s), batch {batch}, {o.rounds} "
                        f"rounds x {o.iters_per_round} runs")
    cpu = result.models[0].cpu_ratio_vs_first is not None
    cols = ["model", "p50 ms", f"ratio vs {result.baseline} (95% CI)"] + (["CPU ratio (95% CI)"] if cpu else [])
    for c in cols:
        table.add_column(c, justify="left" if c == "model" else "right", overflow="fold")
    for m in result.models:
        r = m.ratio_vs_first
        row = [m.name, f"{m.p50_ms:.3f}", f"{r.median:.3f} ({r.ci95[0]:.3f}-{r.ci95[1]:.3f})"]
        if cpu and m.cpu_ratio_vs_first is not None:
            c = m.cpu_ratio_vs_first
            row.append(f"{c.median:.3f} ({c.ci95[0]:.3f}-{c.ci95[1]:.3f})")
        table.add_row(*row)
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    console.print(f"wrote {path}")


def _accuracy(artifact: Any, req: BenchRequest, threads: int) -> dict[str, Any]:
    """Top-1/top-5 of the model in the request's runtime on its --eval data (calibration/evaluate.py), without
    per-image predictions; `arithmetic`/`arithmetic_reason` say which INT8 arithmetic was measured, `warnings` go
    to the result's. A reduced precision selected by options (bf16/fp16) is evaluated with those options."""
    from edgebench.runtimes.precisions import precision_way
    from edgebench.task import DETECTION

    data, limit, arithmetic = req.evaluation  # type: ignore[misc]
    model_path, runtime, manifest = artifact.path, req.runtime, artifact.manifest
    reduced = req.precision is not None and precision_way(runtime, req.precision) is not None
    options = req.base_options if reduced else None
    if manifest is not None and manifest.task == DETECTION:
        from edgebench.calibration.evaluate_detection import evaluate_detection

        det = evaluate_detection(model_path, data, runtime=runtime, limit=limit, threads=threads,
                                 arithmetic=arithmetic)
        return {k: det[k] for k in ("dataset", "dataset_sha256", "n", "map_pct", "map50_pct", "runtime", "threads",
                                    "arithmetic", "arithmetic_reason", "warnings")}
    from edgebench.calibration.evaluate import evaluate

    acc = evaluate(model_path, data, runtime=runtime, limit=limit, threads=threads,
                   arithmetic=arithmetic, runtime_options=options)  # type: ignore[arg-type]
    return {k: acc[k] for k in ("dataset", "dataset_sha256", "n", "top1_pct", "top5_pct", "runtime", "threads",
                                "arithmetic", "arithmetic_reason", "execution_precision", "warnings")}


def _print_table(written: list[tuple[BenchResult, Path]]) -> None:
    from edgebench.bench.stats import THROUGHPUT_HEADER
    from rich.console import Console
    from rich.table import Table

    table = Table(title="edgebench results")
    for col in ("model", "runtime", "b", "t", "p50 ms (95% CI)", "p99 ms", THROUGHPUT_HEADER, "RSS MB", "noisy"):
        left = col in ("model", "runtime")
        table.add_column(col, justify="left" if left else "right", overflow="fold", no_wrap=col != "model")
    for r, _ in written:
        lat, o = r.latency, r.options
        lo, hi = lat.p50_ci95_ms
        ran = r.runtime.execution_precision
        every = r.throughput.items_per_s if r.throughput is not None else None  # all streams
        total = every if every is not None else lat.throughput_items_per_s
        table.add_row(r.model.name, r.runtime.name + (f" ({ran})" if ran else ""), str(o.batch), str(o.threads),
                      f"{lat.p50_ms:.3f} ({lo:.3f}-{hi:.3f})", f"{lat.p99_ms:.3f}",
                      f"{total:.1f}", f"{r.memory.peak_rss_mb:.0f}",
                      "yes" if lat.noisy else "no")
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    for r, path in written:
        d = r.to_dict()
        for line in _scenario_lines(d):
            console.print(line, markup=False, highlight=False)
        if "end_to_end" in d:  # a detector: the model alone above, the whole frame here
            e = d["end_to_end"]
            console.print(f"end-to-end p50 {e['e2e_p50_ms']:.3f} ms, p99 {e['e2e_p99_ms']:.3f} ms ({e['includes']}, "
                          f"{e['frame']} frame); model only p50 {r.latency.p50_ms:.3f} ms")
        for w in r.warnings or ():
            console.print(f"[yellow]warning:[/yellow] {w}")
        console.print(f"wrote {path}")


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
    pinned = [s for s in (r.get("placement") or {}).get("streams") or () if s.get("cpus")]
    if pinned:
        from edgebench.system import format_cpus

        sets = " | ".join(format_cpus(s["cpus"]) for s in pinned)
        seen = " | ".join(format_cpus(s["thread_allowed_cpus"] or ()) or "?" for s in pinned)
        out.append(f"--pin-streams: the streams' CPUs {sets}; their threads' allowed CPUs, read inside them: {seen}")
    st = lat.get("stability")
    if st:
        cpu = st.get("cpu_share_cores")
        load = " / ".join("n/a" if v is None else f"{v:.2f}" for v in (st["load1_before"], st["load1_after"]))
        others = st.get("others_cores")
        others_text = "" if others is None else f", other programs {others:.2f} cores"
        out.append(f"stability: the run got {cpu:.0%} of a core{others_text}; 1-minute load average {load} before / "
                   f"after ({st['logical_cores']} logical cores)" if cpu is not None else "stability:")
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
