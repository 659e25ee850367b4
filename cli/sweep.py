"""`edgebench sweep` (a grid of compression x runtime x device, cached) and `edgebench recommend`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from edgebench.cli.common import say
from edgebench.cli.options import ACCURACY_PCT, ACCURACY_POINTS, POSITIVE, existing_file
from edgebench.cli.root import app

if TYPE_CHECKING:
    from edgebench.sweep.config import SweepConfig
    from edgebench.sweep.graph import Graph
    from edgebench.sweep.run import SweepOutcome


@app.command()
def sweep(
    sweep_file: Path = typer.Argument(..., help="The sweep file (TOML), e.g. examples/sweep-resnet20.toml.",
                                      show_default=False),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="Folder of the sweep: cache/, results/, "
                                    "summary.json, recommendation.md. Re-running resumes it."),
    ray: str | None = typer.Option(None, "--ray", metavar="local|ADDRESS",
                                   help="Run the compute stages as Ray tasks: 'local' starts Ray on this machine, "
                                        "HOST:PORT or ray://HOST:PORT joins a cluster (pip install "
                                        "'edgebench[ray]'). Default: embedded, no server."),
    ray_cpus: int | None = typer.Option(None, "--ray-cpus", help="With --ray local: CPUs Ray may use "
                                                                 "[default: all]."),
    ray_timeout: float = typer.Option(15.0, "--ray-timeout", callback=POSITIVE,
                                      help="Seconds to wait for a Ray ADDRESS to answer."),
    devices_config: Path | None = typer.Option(None, "--devices-config", callback=existing_file,
                                               help="The device registry for [bench] devices [default: "
                                                    "$EDGEBENCH_DEVICES, else ~/.config/edgebench/devices.toml]."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the file and list the stages; run nothing."),
    allow_oversubscribe: bool = typer.Option(False, "--allow-oversubscribe",
                                             help="Run [bench] threads above 4x this machine's logical cores."),
    yes: bool = typer.Option(False, "--yes", help="Run a grid of more than 500 cells."),
    as_json: bool = typer.Option(False, "--json", help="Print summary.json instead of the text summary."),
) -> None:
    """Run a sweep: export -> prune -> quantize | convert -> evaluate -> bench (on each device), every stage
    cached by content hash."""

    from edgebench.cli.options import check_threads
    from edgebench.sweep.config import LOCAL, load_sweep
    from edgebench.sweep.run import SweepInterrupted, SweepRunOptions, plan, run_sweep

    options = SweepRunOptions(ray=ray, ray_cpus=ray_cpus, ray_timeout=ray_timeout, devices_config=devices_config,
                              yes=yes)
    cfg = load_sweep(sweep_file)
    if LOCAL in cfg.bench.devices:  # bench's rule, against this machine's cores (a remote device checks its own)
        check_threads(list(cfg.bench.threads), "[bench] threads", allow_oversubscribe=allow_oversubscribe)
    if dry_run:
        _print_plan(plan(cfg, options.devices_config, log=say), cfg, options.yes)
        return
    try:
        out = run_sweep(cfg, output_dir, options, log=say)
    except SweepInterrupted as e:  # the running stages were stopped and recorded; one line, exit 130
        typer.echo(f"edgebench: interrupted: {e}", err=True)
        raise typer.Exit(130) from None
    if as_json:
        typer.echo((output_dir / "summary.json").read_text(encoding="utf-8"))
    else:
        _print_outcome(out, output_dir)
    if out.failed:
        raise typer.Exit(1)


def _print_plan(graph: Graph, cfg: SweepConfig, yes: bool) -> None:
    """`sweep --dry-run`: the stages, the notes and the grid."""
    from edgebench.sweep.run import MAX_CELLS_WITHOUT_YES, grid_text

    for n in graph.nodes.values():
        typer.echo(f"{n.key[:12]}  {n.label}")
    for note in graph.notes:
        typer.echo(f"note: {note}")
    typer.echo(grid_text(graph, cfg))
    if len(graph.cells) > MAX_CELLS_WITHOUT_YES and not yes:
        typer.echo(f"note: more than {MAX_CELLS_WITHOUT_YES} cells: running it needs --yes")


def _print_outcome(out: SweepOutcome, output_dir: Path) -> None:
    """The text summary of a sweep that ran: counts, failures, the recommendation per budget."""
    c = out.counts
    typer.echo(f"{len(out.graph.cells)} cells in {out.wall_s:.1f} s ({out.mode}): {c['done']} stages run, "
               f"{c['cached']} cached, {c['failed']} failed, {c['skipped']} skipped")
    for o in out.failed:
        typer.echo(f"failed: {o.label}: {o.error} (see {output_dir}/cache/{o.key}/error.json)")
    for budget, recs in out.recommendations.items():
        for rec in recs:
            lines = rec.lines()
            typer.echo(f"budget {budget:g}: {lines[1]}")
            for w in rec.warnings:
                typer.echo(f"warning: budget {budget:g}: {w}", err=True)
    typer.echo(f"wrote {output_dir}/results/, summary.json" + (", recommendation.md" if out.recommendations
                                                                else ""))


@app.command()
def recommend(
    results: list[Path] = typer.Argument(..., help="Result files or folders (a sweep folder, its results/ or "
                                                   "results/<device>).",
                                         show_default=False),
    budget: float = typer.Option(1.0, "--budget", callback=ACCURACY_POINTS,
                                 help="Accuracy points a deployment may lose vs its FP32 (or the reference): "
                                      "top-1 for a classifier, mAP@0.5:0.95 for a detector."),
    device: str | None = typer.Option(None, "--device", help="Only this device: sweep device name, host or board "
                                                             "name, or fingerprint id."),
    metric: str = typer.Option("p50_ms", "--metric", help="p50_ms, peak_rss_mb or file_size_mb."),
    reference: float | None = typer.Option(None, "--reference", callback=ACCURACY_PCT, metavar="PCT",
                                           help="Count the budget from this accuracy % (top-1, or a detector's "
                                                "mAP@0.5:0.95; e.g. the published figure) instead of the machine's "
                                                "unpruned FP32 result; results of one task only."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Per device and model: the Pareto front (accuracy vs the metric) and the fastest deployment within the budget
    (accuracy: top-1 for a classifier, mAP@0.5:0.95 for a detector)."""
    from edgebench.bench.report.recommend import RecommendConfig, recommend_files

    notes, recs = recommend_files(results, RecommendConfig(budget=budget, metric=metric, device=device,
                                                           reference_top1=reference))
    for n in notes:
        typer.echo(f"note: {n}", err=as_json)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in recs], indent=2))
        return
    machines = {r.machine.id for r in recs}
    if len(machines) > 1:
        typer.echo(f"results from {len(machines)} machines: ranked per machine, never across them")
    for rec in recs:
        lines = rec.lines()
        typer.echo(f"\n{lines[0]}")
        for ln in lines[1:]:
            typer.echo(f"  {ln}")
        header, rows = rec.front_header(), rec.front_rows()
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        typer.echo("  Pareto front:")
        typer.echo("    " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        for r in rows:
            typer.echo("    " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
