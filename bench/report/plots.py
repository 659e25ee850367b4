"""Plots of a report as PNG bytes (matplotlib's Agg canvas, no pyplot global state, no display needed)."""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

from edgebench.bench.report.analysis import Report
from edgebench.bench.report.data import Row

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def _row_label(e: Row, many_configs: bool) -> str:
    return f"{e.label} b{e.batch} t{e.threads}" if many_configs else e.label


def latency_plot(rep: Report) -> bytes:
    """p50 with its 95% CI per result, one panel per machine."""
    from matplotlib.figure import Figure

    groups = rep.by_machine()
    heights = [max(1.6, 0.38 * len(es) + 0.9) for es in groups.values()]
    fig = Figure(figsize=(8.5, sum(heights) + 0.4 * len(groups)), layout="constrained")
    axes = fig.subplots(len(groups), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    for ax, (mid, es) in zip(axes, groups.items(), strict=True):
        many = len({e.config for e in es}) > 1
        y = list(range(len(es)))
        p50 = [e.p50_ms for e in es]
        err = [[e.p50_ms - e.ci_lo_ms for e in es], [e.ci_hi_ms - e.p50_ms for e in es]]
        colors = ["#d62728" if e.label == e.baseline else "#1f77b4" for e in es]
        ax.barh(y, p50, xerr=err, color=colors, capsize=3)
        ax.set_yticks(y, [_row_label(e, many) for e in es], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("p50 latency (ms), bars: 95% CI of the median")
        ax.set_title(rep.machines[mid].label, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not beaten by another that is both faster (lower x) and at least as accurate (higher y).

    >>> pareto_front([(1, 90), (2, 91), (3, 89), (0.5, 80)])
    [(0.5, 80), (1, 90), (2, 91)]
    """
    front: list[tuple[float, float]] = []
    best = float("-inf")
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


def pareto_plot(rep: Report) -> bytes | None:
    """Latency (x, log) vs top-1 (y) for results with accuracy; the Pareto front per machine."""
    from matplotlib.figure import Figure

    pts = [e for e in rep.rows if e.top1_pct is not None]
    if not pts:
        return None
    from matplotlib.ticker import FormatStrFormatter

    fig = Figure(figsize=(8.5, 6.0), layout="constrained")
    ax = fig.subplots()
    runtimes = sorted({e.runtime for e in pts})
    machines = list(dict.fromkeys(e.machine_id for e in pts))
    cmap = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
    for mi, mid in enumerate(machines):
        color = cmap[mi % len(cmap)]
        mine = [e for e in pts if e.machine_id == mid]
        for e in mine:
            ax.scatter(e.p50_ms, e.top1_pct, color=color, marker=MARKERS[runtimes.index(e.runtime) % len(MARKERS)],
                       s=55, zorder=3)
            ax.annotate(f"{e.variant} b{e.batch} t{e.threads}", (e.p50_ms, e.top1_pct), fontsize=7,
                        xytext=(4, 3), textcoords="offset points")
        front = pareto_front([(e.p50_ms, float(e.top1_pct)) for e in mine if e.top1_pct is not None])
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", color=color, alpha=0.6,
                label=f"Pareto front, {rep.machines[mid].label}")
    for ri, rt in enumerate(runtimes):
        ax.scatter([], [], color="gray", marker=MARKERS[ri % len(MARKERS)], label=rt)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(FormatStrFormatter("%g"))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("p50 latency (ms, log scale); lower is better")
    ax.set_ylabel("top-1 accuracy (%); higher is better")
    ax.set_title("Latency vs accuracy")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    return _png(fig)


def speedup_plot(rep: Report) -> bytes | None:
    from matplotlib.figure import Figure

    with_su = [e for e in rep.rows if e.speedup is not None]
    if not with_su:
        return None
    fig = Figure(figsize=(8.5, max(2.0, 0.38 * len(with_su) + 1.0)))
    ax = fig.subplots()
    many_m = len({e.machine_id for e in with_su}) > 1
    many_c = len({e.config for e in with_su}) > 1
    many_b = len({e.baseline for e in with_su}) > 1
    labels = [_row_label(e, many_c) + (f" @{e.machine_id}" if many_m else "") + (f" vs {e.baseline}" if many_b else "")
              for e in with_su]
    y = list(range(len(with_su)))
    err = [[e.speedup - (e.speedup_lo or e.speedup) for e in with_su],  # type: ignore[operator]
           [(e.speedup_hi or e.speedup) - e.speedup for e in with_su]]  # type: ignore[operator]
    ax.barh(y, [e.speedup for e in with_su], xerr=err, capsize=3,
            color=["#2ca02c" if (e.speedup or 0) >= 1 else "#d62728" for e in with_su])
    ax.axvline(1.0, color="black", lw=1)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    base = f"vs {with_su[0].baseline}" if not many_b else "vs each lineage's baseline (in the label)"
    ax.set_xlabel(f"speed-up {base} (p50 ratio; >1 is faster)")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def prune_plot(rep: Report) -> bytes | None:
    """p50 and top-1 against the pruning round, per runtime and machine, when round results are given."""
    from matplotlib.figure import Figure

    rounds = [e for e in rep.rows if e.prune_round is not None]
    if len({e.prune_round for e in rounds}) < 2:
        return None
    series: dict[str, list[Row]] = defaultdict(list)
    for e in rounds:
        series[f"{e.precision or '?'} {e.runtime} b{e.batch} t{e.threads} @{e.machine_id}"].append(e)
    fig = Figure(figsize=(8.5, 4.0), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for name, es in series.items():
        es.sort(key=lambda e: e.prune_round or 0)
        ax1.plot([e.prune_round for e in es], [e.p50_ms for e in es], marker="o", label=name)
        acc = [e for e in es if e.top1_pct is not None]
        if acc:
            ax2.plot([e.prune_round for e in acc], [e.top1_pct for e in acc], marker="o", label=name)
    ax1.set_xlabel("pruning round")
    ax1.set_ylabel("p50 latency (ms)")
    ax2.set_xlabel("pruning round")
    ax2.set_ylabel("top-1 (%)")
    ax1.legend(fontsize=7)
    ticks = sorted({e.prune_round for e in rounds if e.prune_round is not None})
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.set_xticks(ticks)
    return _png(fig)


def _round_series(ax: Any, rounds: list[dict[str, Any]], series: tuple[tuple[str, str], ...], *, marker: str,
                  ylabel: str) -> None:
    """One line per (key, label) of `series` whose value every round has, against the round number."""
    x = [r["round"] for r in rounds]
    for key, label in series:
        ys = [r.get(key) for r in rounds]
        if all(isinstance(y, int | float) for y in ys):
            ax.plot(x, ys, marker=marker, label=label)
    ax.set_xlabel("pruning round")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)


def prune_summary_plot(run: dict[str, Any]) -> bytes | None:
    """Top-1 and MAC/param reduction against the round, from `edgebench prune`'s summary."""
    from matplotlib.figure import Figure

    rounds = run["rounds"]
    if not rounds:
        return None
    x = [r["round"] for r in rounds]
    fig = Figure(figsize=(8.5, 3.8), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    _round_series(ax1, rounds, (("final_top1_pct", "final top-1"), ("top1_before_finetune_pct", "before fine-tuning"),
                                ("best_top1_pct", "best top-1")), marker="o", ylabel="top-1 (%)")
    _round_series(ax2, rounds, (("macs_reduction_pct", "MACs removed"), ("params_reduction_pct", "params removed")),
                  marker="s", ylabel="% of round 0")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.set_xticks(x)
    fig.suptitle(f"pruning {run.get('arch')} ({run.get('importance')}, {run.get('scope')})", fontsize=9)
    return _png(fig)


def profile_plot(profile: dict[str, Any]) -> bytes | None:
    from matplotlib.figure import Figure

    ops = profile.get("op_types") or []
    if not ops:
        return None
    ops = ops[:15]
    fig = Figure(figsize=(8.5, max(2.0, 0.32 * len(ops) + 1.0)))
    ax = fig.subplots()
    y = list(range(len(ops)))
    ax.barh(y, [o["ms_per_run"] for o in ops], color=["#ff7f0e" if o.get("int8_nodes") else "#1f77b4" for o in ops])
    ax.set_yticks(y, [o["op_type"] for o in ops], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ms per run (orange: op types with INT8 nodes)")
    ax.set_title(f"{profile['label']} on {profile['machine_id']}", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def throughput_plot(rep: Report) -> bytes | None:
    """p99 latency against total items/s of the multi/offline results (and the single ones of the same models),
    one marker per variant/runtime; None without a multi/offline result."""
    from edgebench.bench.report.tables import scenario_rows
    from matplotlib.figure import Figure

    multi = scenario_rows(rep.rows)
    if not multi:
        return None
    labels = sorted({r.label for r in multi})
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.subplots()
    for i, label in enumerate(labels):
        pts = sorted((r.throughput, r.p99_ms) for r in rep.rows if r.label == label and r.kind == "bench")
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=MARKERS[i % len(MARKERS)], label=label)
    ax.set_xlabel("items/s (all streams)")
    ax.set_ylabel("p99 latency (ms)")
    ax.set_title("latency vs throughput (bench --scenario single / multi / offline)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


def make_plots(rep: Report) -> dict[str, bytes]:
    """name -> PNG bytes, in display order; plots without data are left out."""
    out: dict[str, bytes] = {"latency": latency_plot(rep)} if rep.rows else {}
    for name, fn in (("pareto", pareto_plot), ("speedup", speedup_plot), ("prune_rounds", prune_plot),
                     ("throughput", throughput_plot)):
        png = fn(rep)
        if png is not None:
            out[name] = png
    for i, run in enumerate(rep.prune_runs):
        png = prune_summary_plot(run)
        if png is not None:
            out[f"prune_run_{i + 1}"] = png
    for i, p in enumerate(rep.profiles):
        png = profile_plot(p)
        if png is not None:
            out[f"profile_{i + 1}"] = png
    return out
