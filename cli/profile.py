"""`edgebench profile`: ONNX Runtime's per-operator profile, beside an unprofiled latency measurement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from edgebench.cli.common import no_verify_option, resolve_model
from edgebench.cli.options import NON_NEGATIVE
from edgebench.cli.root import app


@app.command()
def profile(
    model: Path = typer.Argument(..., help="An .onnx file, or a model folder with its manifest."),
    threads: int | None = typer.Option(None, "--threads", "-t", help="Intra-op threads. Default: usable cores."),
    batch: int = typer.Option(1, "--batch", "-b", help="Batch size for a dynamic batch dimension."),
    shape: str | None = typer.Option(None, "--shape", help="Full input shape, e.g. 1,3,32,32 (one-input models)."),
    inputs: Path | None = typer.Option(None, "--inputs", help=".npz with real input samples."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random inputs."),
    graph_opt: str = typer.Option("all", "--graph-opt", help="Graph optimization: disable|basic|extended|all."),
    runs: int = typer.Option(100, "--runs", help="Profiled runs."),
    warmup: int = typer.Option(10, "--warmup", help="Runs before the profiled ones (left out of the profile)."),
    top: int = typer.Option(20, "--top", help="Nodes kept in the result, slowest first (0: all)."),
    min_seconds: float = typer.Option(1.0, "--min-seconds", callback=NON_NEGATIVE,
                                      help="Minimum time of the unprofiled measurement."),
    trace: Path | None = typer.Option(None, "--trace", help="Also keep ORT's raw trace JSON here."),
    output_dir: Path = typer.Option(Path("results"), "--output-dir", "-o", help="Folder for the result JSON."),
    as_json: bool = typer.Option(False, "--json", help="Print the profile JSON instead of the tables."),
    no_verify: bool = no_verify_option(),
) -> None:
    """Time per op type and per node (ORT profiler) and which nodes ran INT8 vs FP32; writes a result file."""
    from edgebench.bench.op_profile import ProfileConfig, run_profile
    from edgebench.cli.options import check_threads, parse_shape
    from edgebench.system import default_threads

    cfg = ProfileConfig(threads=threads if threads is not None else default_threads(), batch=batch,
                        shape=parse_shape(shape), inputs=inputs, seed=seed, graph_opt=graph_opt, runs=runs,
                        warmup=warmup, top=top, min_seconds=min_seconds, trace=trace, output_dir=output_dir)
    check_threads([cfg.threads])
    artifact, verification = resolve_model(model, no_verify=no_verify)
    result, path = run_profile(cfg, artifact, verification)
    data = result.to_dict()
    if as_json:
        typer.echo(json.dumps(data["profile"], indent=2))
        return
    _print(data, data["profile"])
    typer.echo(f"wrote {path}")


def _print(result: dict[str, Any], prof: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"{result['model']['name']}: p50 {result['latency']['p50_ms']:.3f} ms unprofiled; "
                  f"{prof['runs']} profiled runs, {prof['n_nodes']} nodes, {prof['node_ms_per_run']:.3f} ms in kernels")
    t = Table(title="time per precision")
    for c in ("precision", "nodes", "ms/run", "%"):
        t.add_column(c, justify="left" if c == "precision" else "right")
    for p, v in prof["precision"].items():
        t.add_row(p, str(v["nodes"]), f"{v['ms_per_run']:.4f}", f"{v['pct']:.1f}")
    console.print(t)
    t = Table(title="time per op type")
    for c in ("op type", "nodes", "int8", "ms/run", "%"):
        t.add_column(c, justify="left" if c == "op type" else "right")
    for o in prof["op_types"]:
        t.add_row(o["op_type"], str(o["nodes"]), str(o["int8_nodes"]), f"{o['ms_per_run']:.4f}", f"{o['pct']:.1f}")
    console.print(t)
    t = Table(title=f"slowest nodes ({len(prof['nodes'])} of {prof['nodes_total']})")
    for c in ("node", "op type", "precision", "ms/run", "%"):
        t.add_column(c, justify="left" if c in ("node", "op type", "precision") else "right")
    for n in prof["nodes"]:
        t.add_row(n["node"], n["op_type"], n["precision"], f"{n['ms_per_run']:.4f}", f"{n['pct']:.1f}")
    console.print(t)
    if prof.get("float_nodes") and prof["precision"].get("int8"):  # an INT8 model: say why these stayed float
        t = Table(title=f"nodes in float and why ({len(prof['float_nodes'])})")
        for c in ("node", "why"):
            t.add_column(c, justify="left", overflow="fold")
        for node, why in prof["float_nodes"].items():
            t.add_row(node, why)
        console.print(t)
