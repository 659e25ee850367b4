"""`edgebench bench`, `edgebench sysinfo`, `edgebench runtimes`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
from edgebench.cli.root import app


def _default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@app.command()
def bench(
    model: Path = typer.Argument(..., help="An .onnx file, or a model folder with its manifest."),
    runtime: str = typer.Option("ort-cpu", "--runtime", "-r", help="Runtime name (see `edgebench runtimes`)."),
    threads: str = typer.Option("", "--threads", "-t",
                                help="Intra-op threads; a list such as 1,2,4 runs each. Default: usable cores."),
    inter_threads: int = typer.Option(1, "--inter-threads", help="Inter-op threads."),
    graph_opt: str = typer.Option("all", "--graph-opt", help="Graph optimization: disable|basic|extended|all."),
    execution_mode: str = typer.Option("sequential", "--execution-mode", help="sequential|parallel."),
    arena: bool = typer.Option(True, "--arena/--no-arena", help="CPU memory arena on/off."),
    spin: bool = typer.Option(True, "--spin/--no-spin", help="Let idle runtime threads spin-wait (ORT default)."),
    batch: str = typer.Option("1", "--batch", "-b", help="Batch size(s) for a dynamic batch dim, e.g. 1,8,32."),
    shape: str | None = typer.Option(None, "--shape", help="Full input shape, e.g. 1,3,32,32 (one-input models)."),
    inputs: Path | None = typer.Option(None, "--inputs", help=".npz with real input samples."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random inputs."),
    warmup_iters: int = typer.Option(10, "--warmup-iters", help="Warm-up runs."),
    warmup_seconds: float = typer.Option(0.0, "--warmup-seconds", help="Minimum warm-up time."),
    min_iters: int = typer.Option(50, "--min-iters", help="Minimum timed runs."),
    min_seconds: float = typer.Option(2.0, "--min-seconds", help="Minimum timed seconds."),
    max_iters: int | None = typer.Option(None, "--max-iters", help="Stop after this many timed runs."),
    max_seconds: float | None = typer.Option(None, "--max-seconds", help="Stop after this many timed seconds."),
    isolate: bool = typer.Option(True, "--isolate/--in-process",
                                 help="Measure each model in a fresh process (default) or in this one."),
    output_dir: Path = typer.Option(Path("results"), "--output-dir", "-o", help="Folder for result JSON files."),
    csv_path: Path | None = typer.Option(None, "--csv", help="Also append a flat row per result to this CSV."),
    as_json: bool = typer.Option(False, "--json", help="Print the result JSON instead of the table."),
    cooldown: float | None = typer.Option(None, "--cooldown", metavar="CELSIUS",
                                          help="Before each measurement, wait until the board is cooler than this."),
    cooldown_timeout: float = typer.Option(300.0, "--cooldown-timeout", help="Longest wait for --cooldown, seconds."),
    eval_data: str | None = typer.Option(None, "--eval", metavar="DATASET",
                                         help="Also measure top-1/top-5 with the same runtime (e.g. cifar10); "
                                              "stored as `accuracy` in every result."),
    eval_limit: int | None = typer.Option(None, "--eval-limit", help="With --eval: the first N images only."),
    eval_arithmetic: str = typer.Option("auto", "--eval-arithmetic",
                                        help="With --eval: INT8 arithmetic auto|host|qdq, as `edgebench eval "
                                             "--arithmetic` (docs/int8-arithmetic.md)."),
) -> None:
    """Measure latency and memory of a model (one result file per threads x batch combination)."""
    from edgebench.atomic import ensure_writable_dir
    from edgebench.bench.harness import BenchConfig
    from edgebench.bench.runner import Job, make_result, run_job, run_job_isolated
    from edgebench.bench.schema import append_csv, write_result
    from edgebench.cli.options import parse_int_list, parse_shape
    from edgebench.manifest import resolve_model_arg
    from edgebench.runtimes import RuntimeOptions, get_runtime
    from edgebench.runtimes.ort_cpu import check_model_path

    cfg = BenchConfig(warmup_iters=warmup_iters, warmup_seconds=warmup_seconds, min_iters=min_iters,
                      min_seconds=min_seconds, max_iters=max_iters, max_seconds=max_seconds)
    thread_list = parse_int_list(threads, "--threads") if threads else [_default_threads()]
    batch_list = parse_int_list(batch, "--batch")
    shape_t = parse_shape(shape)
    if shape_t is not None and len(batch_list) > 1:
        from edgebench.errors import UserInputError

        raise UserInputError("--shape fixes the batch; do not combine it with a --batch list")
    model_path = check_model_path(resolve_model_arg(model))
    get_runtime(runtime)
    # built (and so validated) before anything runs: a bad option fails before the first measurement
    options = [RuntimeOptions(intra_op_threads=t, inter_op_threads=inter_threads, graph_optimization=graph_opt,  # type: ignore[arg-type]
                              execution_mode=execution_mode, memory_arena=arena, spin_wait=spin)  # type: ignore[arg-type]
               for t in thread_list]
    from edgebench.bench.cooldown import Cooldown, cooldown_warnings, wait_until_cool

    cool = Cooldown(cooldown, cooldown_timeout) if cooldown is not None else None
    accuracy = (_accuracy(model_path, runtime, eval_data, eval_limit, thread_list[0], eval_arithmetic)
                if eval_data else None)
    ensure_writable_dir(output_dir)

    results: list[dict[str, Any]] = []
    show_progress = sys.stderr.isatty() and not as_json
    from edgebench.bench.fingerprint import dynamic_state, fingerprint

    for opts in options:
        for b in batch_list:
            job = Job(model=str(model_path), runtime=runtime, batch=None if shape_t else b, shape=shape_t,
                      inputs_npz=str(inputs) if inputs else None, seed=seed,
                      runtime_options={k: v for k, v in opts.to_dict().items() if k != "extra"},
                      bench=cfg.__dict__.copy(), progress=show_progress)
            cooled = wait_until_cool(cool) if cool is not None else None
            if cooled is not None and cooled["waited_s"] >= 1:
                typer.echo(f"waited {cooled['waited_s']:.0f} s for the board to cool from {cooled['start_temp_c']:.1f} "
                           f"to {cooled['end_temp_c']:.1f} C", err=True)
            machine = fingerprint()
            measured = run_job_isolated(job) if isolate else run_job(job)
            result = make_result(job, measured, model_path, machine, dynamic_state())
            if cooled is not None:
                result["cooldown"] = cooled
                result["warnings"] += cooldown_warnings(cooled)
            if accuracy is not None:
                result["accuracy"] = {k: v for k, v in accuracy.items() if k != "warnings"}
                result["warnings"] += accuracy["warnings"]
            path = write_result(result, output_dir)
            if csv_path is not None:
                append_csv(csv_path, result)
            result["_path"] = str(path)
            results.append(result)
    if as_json:
        out = [{k: v for k, v in r.items() if k != "_path"} for r in results]
        typer.echo(json.dumps(out[0] if len(out) == 1 else out, indent=2))
    else:
        _print_table(results)


def _accuracy(model_path: Path, runtime: str, data: str, limit: int | None, threads: int,
              arithmetic: str = "auto") -> dict[str, Any]:
    """Top-1/top-5 of the model in `runtime` on `data` (bench/evaluate.py), without per-image predictions;
    `arithmetic`/`arithmetic_reason` say which INT8 arithmetic was measured, `warnings` go to the result's."""
    from edgebench.bench.evaluate import evaluate

    acc = evaluate(model_path, data, runtime=runtime, limit=limit, threads=threads,
                   arithmetic=arithmetic)  # type: ignore[arg-type]
    return {k: acc[k] for k in ("dataset", "dataset_sha256", "n", "top1_pct", "top5_pct", "runtime", "threads",
                                "arithmetic", "arithmetic_reason", "warnings")}


def _print_table(results: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="edgebench results")
    for col in ("model", "runtime", "b", "t", "p50 ms (95% CI)", "p99 ms", "items/s", "RSS MB", "noisy"):
        left = col in ("model", "runtime")
        table.add_column(col, justify="left" if left else "right", overflow="fold", no_wrap=col != "model")
    for r in results:
        lat, mem, o = r["latency"], r["memory"], r["options"]
        lo, hi = lat["p50_ci95_ms"]
        table.add_row(r["model"]["name"], r["runtime"]["name"], str(o["batch"]), str(o["threads"]),
                      f"{lat['p50_ms']:.3f} ({lo:.3f}-{hi:.3f})", f"{lat['p99_ms']:.3f}",
                      f"{lat['throughput_items_per_s']:.1f}", f"{mem['peak_rss_mb']:.0f}",
                      "yes" if lat["noisy"] else "no")
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    for r in results:
        for w in r.get("warnings", []):
            console.print(f"[yellow]warning:[/yellow] {w}")
        console.print(f"wrote {r['_path']}")


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
