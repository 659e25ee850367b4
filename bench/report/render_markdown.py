"""report.md: the report as Markdown tables, notes and links to plots/*.png."""

from __future__ import annotations

from edgebench.bench.report.analysis import Report
from edgebench.bench.report.markdown import md_table, md_text
from edgebench.bench.report.tables import (
    EFFICIENCY_FOOTER,
    INTERLEAVE_COLUMNS,
    INTERLEAVE_NOTE,
    INTERLEAVE_TITLE,
    PROFILE_COLUMNS,
    PRUNE_COLUMNS,
    THROUGHPUT_COLUMNS,
    THROUGHPUT_TITLE,
    baseline_text,
    cross_machine_table,
    fastest_line,
    interleave_rows,
    machine_line,
    profile_rows,
    prune_rows,
    prune_title,
    row_table,
    throughput_rows,
)


def render_markdown(rep: Report, plot_files: dict[str, str]) -> str:
    """The whole report.md; `plot_files` maps a plot name to its path relative to the report."""
    out = [f"# {md_text(rep.title)}", ""]
    out.append(baseline_text(rep))
    if rep.recommendations:
        from edgebench.bench.report.recommend import recommendation_markdown

        out += ["", "## Recommendation", "", *recommendation_markdown(rep.recommendations)]
    out += ["", "## Machines", ""] + [f"- {md_text(machine_line(m))}" for m in rep.machines.values()]
    for mid, rows in rep.by_machine().items():
        cols, cells = row_table(rows, "markdown")
        out += ["", f"## {md_text(rep.machines[mid].label)} `{md_text(mid)}`", ""]
        out += [md_text(fastest_line(rows)), ""] if fastest_line(rows) else []
        out += [md_table([c.header or c.key for c in cols], cells)]
    header, cross = cross_machine_table(rep)
    if cross:
        out += ["", "## Across machines", "", md_table(header, cross)]
    scenario_lines = throughput_rows(rep.rows)
    if scenario_lines:
        out += ["", f"## {THROUGHPUT_TITLE}", "", md_table(THROUGHPUT_COLUMNS, scenario_lines)]
    if rep.interleaved:
        out += ["", f"## {INTERLEAVE_TITLE}", "", INTERLEAVE_NOTE, "",
                md_table(INTERLEAVE_COLUMNS, interleave_rows(rep))]
    if rep.profiles:
        out += ["", "## Per-operator profiles", ""]
        for p in rep.profiles:
            out += [f"### {md_text(p['label'])} on `{md_text(p['machine_id'])}`", "",
                    md_table(PROFILE_COLUMNS, profile_rows(p)), ""]
    for run in rep.prune_runs:
        out += ["", f"## Pruning rounds: {md_text(prune_title(run))}", "", md_table(PRUNE_COLUMNS, prune_rows(run))]
    if plot_files:
        out += ["", "## Plots", ""] + [f"![{md_text(name)}]({path})" for name, path in plot_files.items()]
    out += ["", "## Notes", ""] + ([f"- {md_text(n)}" for n in rep.notes] or ["- none"])
    out += ["", EFFICIENCY_FOOTER, ""]
    return "\n".join(out)
