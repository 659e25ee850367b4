"""The text of every table the Markdown and HTML reports share (cells as strings, no markup).

The per-machine table comes from the column table (`columns.COLUMNS`); the others are small
fixed tables: machines, best p50 across machines, per-operator profiles, pruning rounds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from edgebench.bench.report.analysis import Report, best_per_machine
from edgebench.bench.report.columns import COLUMNS, Column, fmt
from edgebench.bench.report.data import Machine, Row
from edgebench.bench.result import Ratio, Scenario


def machine_line(m: Machine, markdown: bool = True) -> str:
    isa = " ".join(m.isa_on) or "unknown"
    freq = f"{m.freq_mhz:.0f} MHz" if m.freq_mhz else "frequency unknown"
    emu = ", EMULATED" if m.emulated else ""
    mid = f"`{m.id}`" if markdown else m.id
    return f"{mid}: {m.label}, {freq}, ISA: {isa}{emu}"


def row_table(rows: Sequence[Row], output: str) -> tuple[list[Column], list[list[str]]]:
    """The columns of `output` ('markdown' or 'html') and one list of cells per row."""
    tasks = {r.task for r in rows}
    cols = [c for c in COLUMNS.for_output(output) if c.task is None or c.task in tasks]
    return cols, [[c.cell(r) for c in cols] for r in rows]


def cross_machine_table(rep: Report) -> tuple[list[str], list[list[str]]]:
    """p50 per (variant/runtime, batch) on each machine, for those measured on two machines or more.

    A machine with several thread counts shows its fastest; the cell names the thread count.
    """
    mids = list(rep.machines)
    rows = [[label, str(b)] + [f"{per[m].p50_ms:.3f} ({per[m].threads} t)" if m in per else "n/a" for m in mids]
            for label, b, per in best_per_machine(rep)]
    return ["variant/runtime", "batch"] + [f"p50 ms on {m}" for m in mids], rows


def fastest_line(rows: Sequence[Row]) -> str:
    """Per machine: the fastest runtime/precision overall and per precision (batch 1 where measured), with top-1.

    >>> fastest_line([])
    ''
    """
    rows = [r for r in rows if r.kind == "bench"]
    if not rows:
        return ""
    b1 = [r for r in rows if r.batch == 1] or rows

    def say(r: Row) -> str:
        if r.task == "detection":
            acc = f", mAP@0.5:0.95 {r.map_pct:.2f} %" if r.map_pct is not None else ", mAP not measured"
        else:
            acc = f", top-1 {r.top1_pct:.2f} %" if r.top1_pct is not None else ", top-1 not measured"
        return f"`{r.label}` ({r.precision or '?'}, {r.threads} t) {r.p50_ms:.3f} ms{acc}"

    parts = [f"Fastest at batch {b1[0].batch}: {say(min(b1, key=lambda r: r.p50_ms))}"]
    for prec in sorted({r.precision for r in b1 if r.precision}):
        best = min((r for r in b1 if r.precision == prec), key=lambda r: r.p50_ms)
        parts.append(f"fastest {prec}: {say(best)}")
    return "; ".join(parts) + "."


PROFILE_COLUMNS = ("op type", "ms per run", "% of op time", "nodes", "int8 nodes")


def profile_rows(profile: dict[str, Any]) -> list[list[str]]:
    return [[o["op_type"], f"{o['ms_per_run']:.4f}", f"{o['pct']:.1f}", str(o["nodes"]),
             str(o.get("int8_nodes") or 0)] for o in profile.get("op_types", [])]


PRUNE_COLUMNS = ("round", "MMACs", "params M", "MACs -%", "params -%", "top-1 before ft %", "final top-1 %",
                 "best top-1 %", "ONNX MB")


def prune_title(run: dict[str, Any]) -> str:
    return f"{run['arch']} ({run['importance']}, {run['scope']})"


def prune_rows(run: dict[str, Any]) -> list[list[str]]:
    def g(r: dict[str, Any], k: str, scale: float = 1.0, digits: int = 2) -> str:
        v = r.get(k)
        return fmt(v / scale, digits) if isinstance(v, int | float) and not isinstance(v, bool) else "n/a"

    return [[str(r["round"]), g(r, "macs", 1e6), g(r, "params", 1e6, 3), g(r, "macs_reduction_pct", 1, 1),
             g(r, "params_reduction_pct", 1, 1), g(r, "top1_before_finetune_pct"), g(r, "final_top1_pct"),
             g(r, "best_top1_pct"), g(r, "onnx_size_mb", 1, 3)] for r in run["rounds"]]


EFFICIENCY_FOOTER = ("Efficiency = model MACs x batch / p50, as a fraction of the peak GMAC/s of the cores used "
                     "(formula in `bench/efficiency.py`; an upper bound from ISA flags, cores and frequency).")
BASELINE_LINE = ("Baseline for speed-ups: `{baseline}` (same machine, batch and threads; ratio of p50, "
                 "range from the 95% CIs).")
NO_BASELINE_LINE = "No baseline: no speed-ups."
LINEAGES_LINE = ("Speed-ups are computed within one model lineage (the models made from one FP32 model), each "
                 "against its own baseline (same machine, batch and threads; ratio of p50, range from the 95% CIs): "
                 "{baselines}. Across lineages: absolute figures only.")


def baseline_text(rep: Report, markdown: bool = True) -> str:
    """The report's baseline line: one baseline, or each lineage's."""
    from edgebench.bench.report.markdown import md_text

    q, esc = ("`", md_text) if markdown else ("", str)
    if len(rep.baselines) > 1:
        return LINEAGES_LINE.format(baselines="; ".join(f"{esc(lin)}: {q}{esc(b)}{q}"
                                                        for lin, b in rep.baselines.items()))
    base = rep.baseline or next(iter(rep.baselines.values()), None)
    return BASELINE_LINE.format(baseline=esc(base)).replace("`", q) if base else NO_BASELINE_LINE


INTERLEAVE_TITLE = "Interleaved (paired) comparisons"
INTERLEAVE_COLUMNS = ("machine", "runtime", "batch", "threads", "model", "vs (first model)", "p50 ms",
                      "latency ratio [95% CI]", "speed-up [95% CI]", "CPU-time ratio [95% CI]", "rounds")
INTERLEAVE_NOTE = ("Each file of `bench A B --interleave` timed its models in one process, round by round: ratio = "
                   "median latency / the first model's (< 1: faster), 95% CI from a paired bootstrap over rounds; "
                   "speed-up = 1 / ratio. These are the tightest ratios edgebench measures.")


def interleave_rows(rep: Report) -> list[list[str]]:
    """One row per model after the first of every interleave file: its ratio to the first model with the CI."""
    def ci(r: Ratio | None, invert: bool = False) -> str:
        if r is None:
            return "n/a"
        m, c = r.median, r.ci95
        if invert:
            m, c = 1.0 / m, ((1.0 / c[1], 1.0 / c[0]) if c[0] > 0 else None)
        return f"{m:.3f}" + (f" [{c[0]:.3f}-{c[1]:.3f}]" if c else "")

    rows = []
    for pair in rep.interleaved:
        res = pair.result
        for m in res.models[1:]:
            rows.append([pair.machine.id, res.runtime.name, fmt(res.options.batch, None),
                         fmt(res.options.threads, None), m.name, res.baseline, fmt(m.p50_ms, 3), ci(m.ratio_vs_first),
                         ci(m.ratio_vs_first, True), ci(m.cpu_ratio_vs_first), fmt(m.ratio_vs_first.rounds, None)])
    return rows


THROUGHPUT_TITLE = "Throughput (bench --scenario multi / offline / server)"
THROUGHPUT_COLUMNS = ["variant/runtime", "machine", "scenario", "batch", "streams x threads", "items/s (all streams)",
                      "p99 ms", "worst stream p99 ms"]


def scenario_rows(rows: Sequence[Row]) -> list[Row]:
    """The results of `bench --scenario multi|offline|server` (those with a `throughput` block)."""
    return [r for r in rows if r.kind == "bench" and r.result.throughput is not None]


def throughput_rows(rows: Sequence[Row]) -> list[list[str]]:
    """One line per multi/offline result: its configuration, total items/s and tail latency.

    >>> throughput_rows([])
    []
    """
    out = []
    for r in scenario_rows(rows):
        sc, tp = r.result.scenario or Scenario(), r.result.throughput
        extra = sc.rest  # what the Scenario record does not declare: the --fps search
        what = str(sc.name if sc.name is not None else "?")
        if extra.get("fps") is not None:  # plain str(): a hand-edited file cannot break the table
            what += (f" @ {extra['fps']} fps, p99 <= {extra.get('p99_budget_ms')} ms: "
                     f"{extra.get('max_streams_at_fps')} max")
        p99s = [s["p99_ms"] for s in (tp.rest.get("streams") if tp else None) or [] if isinstance(s, Mapping)
                and isinstance(s.get("p99_ms"), int | float)]
        out.append([r.label, r.machine_id, what, str(r.batch),
                    f"{'?' if sc.streams is None else sc.streams} x "
                    f"{'?' if sc.threads_per_stream is None else sc.threads_per_stream}",
                    f"{r.throughput:.1f}", f"{r.p99_ms:.3f}", f"{max(p99s):.3f}" if p99s else "n/a"])
    return out
