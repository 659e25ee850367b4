"""`edgebench compare`: result files from one or more machines -> report.md, report.csv, report.html."""

from __future__ import annotations

from pathlib import Path

import typer
from edgebench.cli.options import ACCURACY_POINTS
from edgebench.cli.root import app


@app.command()
def compare(
    results: list[Path] = typer.Argument(..., help="Result JSON files, or folders of them (from several machines; a "
                                              "sweep folder); `bench --interleave` files add paired comparisons, "
                                              "`edgebench prune` summary.json files the pruning-round plots."),
    output_dir: Path = typer.Option(Path("report"), "--output-dir", "-o", help="Folder for the report files."),
    baseline: str | None = typer.Option(
        None, "--baseline",
        help="Speed-ups of its model lineage are relative to this variant/runtime (e.g. resnet20-fp32/ort-cpu, or "
             "a name that picks one). Default: each lineage's FP32 ort-cpu result."),
    title: str = typer.Option("edgebench report", "--title", help="Title of the report."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw the plots (needs the report extra)."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing report in the folder."),
    budget: float = typer.Option(1.0, "--budget", callback=ACCURACY_POINTS,
                                 help="With accuracies in the results: the report opens with the "
                                 "fastest deployment within this many accuracy points (top-1; mAP@0.5:0.95 for a "
                                 "detector) of its FP32 (edgebench recommend)."),
    metric: str = typer.Option("p50_ms", "--metric", help="What the recommendation ranks: p50_ms, peak_rss_mb, "
                                                          "file_size_mb."),
) -> None:
    """Merge result files (grouped by machine) into report.md, report.csv and a self-contained report.html."""
    from edgebench.bench.report.compare import CompareConfig, compare

    config = CompareConfig(tuple(results), output_dir, baseline=baseline, title=title, plots=plots, force=force,
                           budget=budget, metric=metric)
    lines, written = compare(config)
    for line in lines:
        typer.echo(line)
    for p in written:
        if p.suffix != ".png":
            typer.echo(f"wrote {p}")
