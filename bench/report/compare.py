"""`edgebench compare`: merge result files from several machines into report.md / .csv / .html.

The report is built in layers, each importing only the ones before it:

    data             result files -> frozen `Row`s and `Machine`s (the result schema is read here only)
    analysis         rows -> `Report`: dedupe, baseline, speed-ups, efficiency, noisy flags, notes
    columns          THE column table: one `Column` per figure, for the CSV and the per-machine tables
    tables           the text of the tables Markdown and HTML share
    render_markdown, render_csv, render_html, plots   the renderers
    compare (this)   `make_report` (what `edgebench compare` calls) and `write_report`

Example::

    rep, written = make_report([Path("results/")], Path("report"), baseline="resnet20-fp32/ort-cpu", force=True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgebench.atomic import atomic_path, ensure_writable_dir, write_text
from edgebench.bench.report.analysis import Report, build_report, default_baseline, resolve_baseline
from edgebench.bench.report.columns import COLUMNS, Column
from edgebench.bench.report.data import Machine, Row, load_entries, load_results
from edgebench.bench.report.render_csv import render_csv
from edgebench.bench.report.render_markdown import render_markdown
from edgebench.errors import OutputExistsError, RuntimeUnavailable

__all__ = ["COLUMNS", "REPORT_FILES", "Column", "CompareConfig", "Machine", "Report", "Row", "build_report",
           "compare", "default_baseline", "load_entries", "load_results", "make_report", "render_csv",
           "render_markdown", "resolve_baseline", "write_report"]

REPORT_FILES = ("report.md", "report.csv", "report.html")


def write_report(rep: Report, out_dir: Path, *, force: bool = False, plots: bool = True) -> list[Path]:
    """Render everything in memory first, then write each file atomically."""
    out_dir = Path(out_dir)
    if not force:
        for name in REPORT_FILES:
            if (out_dir / name).exists():
                raise OutputExistsError(f"'{out_dir / name}' already exists; pass --force to overwrite the report")
    ensure_writable_dir(out_dir)
    from edgebench.bench.report.render_html import render_html

    images: dict[str, bytes] = {}
    if plots:
        from edgebench.bench.report.plots import make_plots

        images = make_plots(rep)
    plot_files = {name: f"plots/{name}.png" for name in images}
    md = render_markdown(rep, plot_files)
    csv_text = render_csv(rep)
    html = render_html(rep, images)
    written: list[Path] = []
    if images:
        ensure_writable_dir(out_dir / "plots")
        for name, png in images.items():
            with atomic_path(out_dir / "plots" / f"{name}.png") as tmp:
                tmp.write_bytes(png)
            written.append(out_dir / "plots" / f"{name}.png")
    written.append(write_text(out_dir / "report.csv", csv_text))
    written.append(write_text(out_dir / "report.html", html))
    written.append(write_text(out_dir / "report.md", md))
    return written


def make_report(paths: Sequence[Path], out_dir: Path, *, baseline: str | None = None,
                title: str = "edgebench report", plots: bool = True, force: bool = False,
                budget: float | None = 1.0, metric: str = "p50_ms") -> tuple[Report, list[Path]]:
    """Load the result files, analyse them and write report.md/.csv/.html (+ plots/) into `out_dir`.

    When results carry an accuracy, the report opens with the recommendation (`report.recommend`) at
    `budget` points ranked by `metric` (budget None: no recommendation).
    """
    import dataclasses

    from edgebench.bench.report.recommend import check_metric, recommend

    check_metric(metric)
    loaded = load_results(paths)
    rep = build_report(loaded.rows, loaded.machines, baseline=baseline, title=title, profiles=loaded.profiles,
                       prune_runs=loaded.prune_runs, interleaved=loaded.interleaved, notes=loaded.notes)
    if budget is not None and any(r.accuracy_pct is not None and r.kind == "bench" for r in loaded.rows):
        rep = dataclasses.replace(rep, recommendations=tuple(recommend(loaded.rows, budget=budget, metric=metric)))
    return rep, write_report(rep, out_dir, force=force, plots=plots)


@dataclass(frozen=True)
class CompareConfig:
    """`edgebench compare`'s options, checked on construction: the report extra (jinja2, and matplotlib for the
    plots) and the ranking metric before any result file is read."""

    results: tuple[Path, ...]
    output_dir: Path = Path("report")
    baseline: str | None = None
    title: str = "edgebench report"
    plots: bool = True
    force: bool = False
    budget: float | None = 1.0
    metric: str = "p50_ms"

    def __post_init__(self) -> None:
        import importlib.util

        from edgebench.bench.report.recommend import check_metric

        object.__setattr__(self, "results", tuple(self.results))
        needed = ("jinja2", "matplotlib") if self.plots else ("jinja2",)
        missing = [m for m in needed if importlib.util.find_spec(m) is None]
        if missing:
            hint = " (or pass --no-plots)" if self.plots else ""
            raise RuntimeUnavailable(f"edgebench compare needs {', '.join(missing)}; install the report extra: "
                                     f"pip install 'edgebench[report]'{hint}")
        check_metric(self.metric)


def compare(config: CompareConfig) -> tuple[list[str], list[Path]]:
    """`edgebench compare`: the report of `config.results` written to `config.output_dir`; returns what to say
    (a summary line, the recommendations, the notes) and the files written."""
    rep, written = make_report(config.results, config.output_dir, baseline=config.baseline, title=config.title,
                               plots=config.plots, force=config.force, budget=config.budget, metric=config.metric)
    bases = ", ".join(f"{b} ({lin})" for lin, b in rep.baselines.items()) if len(rep.baselines) > 1 else None
    lines = [f"{len(rep.rows)} results from {len(rep.machines)} machine(s), {len(rep.prune_runs)} pruning run(s), "
             f"{len(rep.interleaved)} interleaved comparison(s); baseline: {bases or rep.baseline or 'none'}"]
    lines += [f"{rec.lines()[0]}: {rec.lines()[1]}" for rec in rep.recommendations]
    lines += [f"note: {n}" for n in rep.notes]
    return lines, written
