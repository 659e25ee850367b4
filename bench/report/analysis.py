"""Figures across rows: dedupe, baseline, speed-ups, efficiency, noisy flags, notes, best per machine.

Rows are grouped by the machine fingerprint id: latencies are only compared within one machine,
and a speed-up is only computed between results with the same batch and thread count, and within one
model lineage (`assign_lineages`: the INT8, pruned and converted models made from one FP32 model),
each lineage against its own baseline. Everything that makes two results not comparable becomes a
note. No text formatting of tables here.

Example::

    loaded = load_results([Path("results/")])
    rep = build_report(loaded.rows, loaded.machines, baseline="resnet20-fp32/ort-cpu")
    rep.rows[1].speedup, rep.notes
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgebench.bench.efficiency import efficiency
from edgebench.bench.report.data import Interleaved, Machine, Row
from edgebench.errors import UserInputError, suggest


@dataclass(frozen=True)
class Report:
    """Everything the renderers need: analysed rows (sorted), their machines, the baseline and the notes."""

    title: str
    machines: dict[str, Machine]
    rows: tuple[Row, ...]
    baseline: str | None
    notes: tuple[str, ...]
    profiles: tuple[dict[str, Any], ...] = ()
    prune_runs: tuple[dict[str, Any], ...] = ()
    recommendations: tuple[Any, ...] = ()  # report.recommend.Recommendation per machine x batch (shown at the top)
    baselines: dict[str, str] = dataclasses.field(default_factory=dict)  # lineage -> its baseline variant/runtime
    interleaved: tuple[Interleaved, ...] = ()  # paired comparisons of `bench --interleave` files

    @property
    def entries(self) -> tuple[Row, ...]:
        """The rows, under the previous layout's name."""
        return self.rows

    def by_machine(self) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = defaultdict(list)
        for r in self.rows:
            out[r.machine_id].append(r)
        return dict(out)


# -------------------------------------------------------------------------------------- baseline


def resolve_baseline(name: str, labels: Iterable[str]) -> str:
    """`variant/runtime`, or a variant or runtime name that picks exactly one of `labels`."""
    labels = sorted(set(labels))
    if name in labels:
        return name
    hits = [lb for lb in labels if name in lb.split("/")]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise UserInputError(f"--baseline '{name}' matches {len(hits)} results ({', '.join(hits)}); "
                             "give one of them as variant/runtime")
    raise UserInputError(
        f"--baseline '{name}' is not among the results; known: {', '.join(labels)}.{suggest(name, labels)}"
    )


def default_baseline(labels: Iterable[str]) -> str | None:
    """The FP32 ONNX Runtime result when there is exactly one such label, else the first label."""
    labels = sorted(set(labels))
    fp32_ort = [lb for lb in labels if lb.endswith("/ort-cpu") and "fp32" in lb]
    if len(fp32_ort) == 1:
        return fp32_ort[0]
    return labels[0] if labels else None


# -------------------------------------------------------------------------------------- lineages


def assign_lineages(rows: Sequence[Row], notes: list[str]) -> list[Row]:
    """Each row's `lineage`: the name of the root FP32 model its result records (`Row.lineage_root`).

    A row without a record joins the lineage whose root is its own file, else the only recorded lineage of
    its name; else it forms a lineage of its name. Two lineages of one name are told apart by their root's
    sha256. A note names the rows grouped by name.
    """
    roots: dict[str, str] = {}  # root sha256 -> its name: the root file's own, else the first child's
    for r in rows:
        if r.lineage_root and r.sha256 == r.lineage_root:
            roots[r.lineage_root] = r.lineage_name
    for r in rows:
        if r.lineage_root:
            roots.setdefault(r.lineage_root, r.lineage_name)
    shas_of: dict[str, set[str]] = defaultdict(set)
    for sha, name in roots.items():
        shas_of[name].add(sha)
    keys: list[tuple[str | None, str]] = []
    by_name: list[str] = []
    for r in rows:
        if r.lineage_root:  # one root file, one lineage, whatever name a child gave itself (a converted
            keys.append((r.lineage_root, roots[r.lineage_root]))  # "resnet20-nncf" is resnet20's)
            continue
        by_name.append(f"{r.label} ({r.lineage_name})")
        if r.sha256 in roots:
            keys.append((r.sha256, roots[r.sha256]))
        elif len(shas_of[r.lineage_name]) == 1:
            keys.append((next(iter(shas_of[r.lineage_name])), r.lineage_name))
        else:
            keys.append((None, r.lineage_name))
    names: dict[str, set[str | None]] = defaultdict(set)
    for sha, name in keys:
        names[name].add(sha)

    def label(sha: str | None, name: str) -> str:
        if len(names[name]) == 1:
            return name
        return f"{name} (root sha256 {sha[:8]})" if sha else f"{name} (root not recorded)"

    if by_name:
        notes.append(f"{len(by_name)} result(s) record no root FP32 model (written by an older edgebench, or a pruned "
                     "model, whose unpruned FP32 file is not recorded), so they are grouped by model name: "
                     + ", ".join(sorted(set(by_name))) + ".")
    return [dataclasses.replace(r, lineage=label(*k)) for r, k in zip(rows, keys, strict=True)]


def lineage_baselines(rows: Sequence[Row], chosen: str | None) -> dict[str, str]:
    """Lineage -> the baseline of its ratios: `chosen` in its own lineage, else the lineage's FP32 ort-cpu
    result (`default_baseline`); a lineage with one variant/runtime gets none (nothing to compare)."""
    labels: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        labels[r.lineage].add(r.label)
    out: dict[str, str] = {}
    for lin, lbs in sorted(labels.items()):
        base = chosen if chosen in lbs else (default_baseline(lbs) if len(lbs) > 1 else None)
        if base is not None:
            out[lin] = base
    return out


# ------------------------------------------------------------------------------- which rows count


def dedupe(rows: Sequence[Row], notes: list[str]) -> list[Row]:
    """One row per machine x label x batch x threads: a bench result beats a profile's, then the newest wins."""
    kept: dict[tuple[str, str, int, int], Row] = {}
    for e in rows:
        key = (e.machine_id, e.label, e.batch, e.threads)
        old = kept.get(key)
        if old is None:
            kept[key] = e
            continue
        if (e.kind == "bench") != (old.kind == "bench"):  # the profile's figures stay in its profile table
            kept[key] = e if e.kind == "bench" else old
            continue
        new, dropped = (e, old) if e.created_utc >= old.created_utc else (old, e)
        kept[key] = new
        notes.append(f"{e.label} (batch {e.batch}, {e.threads} threads) was measured twice on machine "
                     f"{e.machine_id}; the newer file {Path(new.source).name} is used, "
                     f"{Path(dropped.source).name} is ignored")
    return list(kept.values())


def check_overlap(rows: Sequence[Row]) -> None:
    """Raise when no two results can be set side by side (no shared machine, no shared variant)."""
    per_machine: dict[str, int] = defaultdict(int)
    machines_per_label: dict[str, set[str]] = defaultdict(set)
    for e in rows:
        per_machine[e.machine_id] += 1
        machines_per_label[e.label].add(e.machine_id)
    if any(n >= 2 for n in per_machine.values()) or any(len(m) >= 2 for m in machines_per_label.values()):
        return
    what = "; ".join(f"{e.label} on machine {e.machine_id}" for e in rows)
    raise UserInputError(
        f"the {len(rows)} result(s) have no overlap to compare ({what}): each machine has one result and "
        "no model/runtime was measured on two machines; bench two variants or runtimes on one machine, "
        "or one variant on two machines"
    )


def differing(rows: Iterable[Any], key: str, value: str) -> dict[str, set[str]]:
    """Keys (e.g. a runtime) whose rows disagree on `value` (e.g. its version), with the values seen."""
    seen: dict[str, set[str]] = defaultdict(set)
    for e in rows:
        seen[getattr(e, key)].add(getattr(e, value))
    return {k: v for k, v in seen.items() if len(v) > 1}


# -------------------------------------------------------------------------------- per-row figures


def with_efficiency(row: Row) -> Row:
    """Achieved GMAC/s and fraction of peak (bench/efficiency.py) from the row's MACs, p50 and machine."""
    eff = efficiency(row.macs, row.batch, row.p50_ms, row.result.machine.cpu.to_dict(), row.precision, row.threads)
    return dataclasses.replace(row, achieved_gmacs=eff["achieved_gmacs"], peak_gmacs=eff["peak_gmacs"],
                               fraction_of_peak=eff["fraction_of_peak"], peak_rule=(eff["peak"] or {}).get("rule"))


def with_flags(row: Row) -> Row:
    return dataclasses.replace(row, flags=("noisy",)) if row.noisy else row


def with_speedup(row: Row, base: Row) -> Row:
    """Ratio of p50s (baseline / row), its range from the two 95% CIs."""
    return dataclasses.replace(
        row, speedup=base.p50_ms / row.p50_ms,
        speedup_lo=base.ci_lo_ms / row.ci_hi_ms if row.ci_hi_ms > 0 else None,
        speedup_hi=base.ci_hi_ms / row.ci_lo_ms if row.ci_lo_ms > 0 else None,
    )


def speedups(by_machine: dict[str, list[Row]], baselines: dict[str, str], notes: list[str]) -> dict[str, list[Row]]:
    """Speed-ups within each machine and lineage, against the lineage's baseline (`lineage_baselines`)."""
    out: dict[str, list[Row]] = {}
    for mid, es in by_machine.items():
        base = {(e.lineage, e.config): e for e in es if baselines.get(e.lineage) == e.label}
        out[mid] = []
        unmatched: dict[str, set[str]] = defaultdict(set)
        for lin in sorted({e.lineage for e in es if e.lineage in baselines}):
            if not any(k[0] == lin for k in base):
                notes.append(f"Machine {mid} has no {baselines[lin]} result, so its {lin} rows have no speed-up.")
        for e in es:
            b = base.get((e.lineage, e.config))
            if b is None and any(k[0] == e.lineage for k in base):
                unmatched[baselines[e.lineage]].add(f"{e.label} (batch {e.batch}, {e.threads} threads)")
            out[mid].append(e if b is None else with_speedup(e, b))
        for baseline, what in sorted(unmatched.items()):
            notes.append(f"On machine {mid}, {', '.join(sorted(what))}: the baseline {baseline} was not "
                         "measured with the same batch and threads, so no speed-up is given (not comparable).")
    return out


# ------------------------------------------------------------------------------------------ notes


def difference_notes(by_machine: dict[str, list[Row]], machines: dict[str, Machine]) -> list[str]:
    """What is not comparable: several machines, emulation, thread counts, versions, files, noise, gaps."""
    notes: list[str] = []
    if len(by_machine) > 1:
        notes.append(
            f"The results come from {len(by_machine)} machines (" + ", ".join(
                f"{mid}: {machines[mid].label}" for mid in by_machine) + "). Runtimes and variants are compared "
            "within one machine's table; the cross-machine table shows device differences, not runtime ones."
        )
    for mid, es in by_machine.items():
        if machines[mid].emulated:
            notes.append(f"Machine {mid} ran under emulation: its latencies are not device speed.")
        threads = sorted({e.threads for e in es})
        if len(threads) > 1:
            notes.append(f"On machine {mid} results use different thread counts ({', '.join(map(str, threads))}); "
                         "latencies with different thread counts are not comparable and get no speed-up.")
        for rt, vs in differing(es, "runtime", "runtime_version").items():
            notes.append(f"On machine {mid} runtime {rt} appears in versions {', '.join(sorted(vs))}.")
        for v, s in differing(es, "label", "sha256").items():
            notes.append(f"On machine {mid} '{v}' names {len(s)} different model files (sha256 differ).")
    every = [e for es in by_machine.values() for e in es]
    noisy = [e for e in every if e.noisy]
    if noisy:
        notes.append(f"{len(noisy)} result(s) are marked noisy (wide spread or wide CI of the median): "
                     + ", ".join(f"{e.label} b{e.batch} t{e.threads} on {e.machine_id}" for e in noisy))
    missing_acc = sorted({e.label for e in every if e.accuracy_pct is None})
    if missing_acc:
        notes.append("No accuracy in: " + ", ".join(missing_acc) + " (edgebench bench MODEL --eval DATASET adds it).")
    above = [e for e in every if (e.fraction_of_peak or 0) > 1.0]
    if above:
        notes.append("Above the computed peak: " + ", ".join(
            f"{e.label} t{e.threads} on {e.machine_id} ({100 * (e.fraction_of_peak or 0):.0f} %)" for e in above)
            + ". The clock in the peak formula is below the real one (a VM's nominal MHz, turbo); "
            "read '% of peak' as a relative figure on that machine.")
    missing_macs = sorted({e.label for e in every if e.macs is None})
    if missing_macs:
        notes.append("No MAC count (no manifest), so no efficiency for: " + ", ".join(missing_macs) + ".")
    return notes


# ---------------------------------------------------------------------------------------- report


def build_report(entries: Sequence[Row], machines: dict[str, Machine], *, baseline: str | None = None,
                 title: str = "edgebench report", profiles: Sequence[dict[str, Any]] | None = None,
                 prune_runs: Sequence[dict[str, Any]] | None = None,
                 interleaved: Sequence[Interleaved] | None = None, notes: Sequence[str] = ()) -> Report:
    """Dedupe, check overlap, group lineages, pick their baselines, compute efficiency, speed-ups, flags, notes.

    `notes`: what reading the files said (skipped files, sweep folders); they come first.
    """
    if not entries and not prune_runs and not interleaved:
        skipped = [n for n in notes if n.startswith("skipped ")]
        raise UserInputError("no results to compare; give result files or folders of them"
                             + (f" ({len(skipped)} file(s) were edgebench files that are not results: {skipped[0]})"
                                if skipped else ""))
    notes = list(notes)
    rows = assign_lineages(dedupe(entries, notes), notes)
    if rows and not interleaved:
        check_overlap(rows)
    labels = [e.label for e in rows]
    chosen = resolve_baseline(baseline, labels) if baseline else None
    baselines = lineage_baselines(rows, chosen)
    is_base = set(baselines.values())
    rows.sort(key=lambda e: (e.machine_id, e.batch, e.threads, e.lineage, e.label not in is_base, e.variant,
                             e.runtime))
    by_machine: dict[str, list[Row]] = defaultdict(list)
    for e in rows:
        by_machine[e.machine_id].append(dataclasses.replace(with_flags(with_efficiency(e)),
                                                            baseline=baselines.get(e.lineage)))
    notes += difference_notes(by_machine, machines)
    lineages = sorted({e.lineage for e in rows})
    if len(lineages) > 1:
        notes.append(f"The results hold {len(lineages)} model lineages ({', '.join(lineages)}): speed-ups are only "
                     "computed within a lineage, each against its own baseline; across lineages the tables show "
                     "absolute figures only.")
    by_machine = speedups(by_machine, baselines, notes)
    notes += doctor_notes(by_machine, machines)
    single = chosen or (next(iter(baselines.values())) if len(set(baselines.values())) == 1 else None)
    used = [*by_machine, *sorted({p.machine.id for p in interleaved or ()} - set(by_machine))]
    return Report(title=title, machines={m: machines[m] for m in used},
                  rows=tuple(e for es in by_machine.values() for e in es), baseline=single, notes=tuple(notes),
                  profiles=tuple(profiles or ()), prune_runs=tuple(prune_runs or ()), baselines=baselines,
                  interleaved=tuple(interleaved or ()))


def doctor_notes(by_machine: dict[str, list[Row]], machines: dict[str, Any]) -> list[str]:
    """`edgebench doctor`'s verdict line for every INT8 row slower than 1.2x its FP32 baseline or losing more than
    0.5 top-1 points against it (unpaired: the two rows' top-1 on the same data set and image count)."""
    from edgebench.bench.doctor import report_verdict

    out = []
    for mid, rows in by_machine.items():
        base = {(e.lineage, e.config): e for e in rows if e.label == e.baseline}
        m = machines.get(mid)
        for e in rows:
            if e.precision != "int8":
                continue
            b = base.get((e.lineage, e.config))
            if b is None or b.precision != "fp32":
                continue
            drop = None
            if (e.top1_pct is not None and b.top1_pct is not None
                    and (e.accuracy_dataset, e.accuracy_n) == (b.accuracy_dataset, b.accuracy_n)):
                drop = b.top1_pct - e.top1_pct
            v = report_verdict(e.speedup, drop, getattr(m, "arch", None), getattr(m, "isa_on", ()))
            if v is not None:
                out.append(f"doctor, {e.label} on {mid} (batch {e.batch}, {e.threads} threads): {v}")
    return out


def best_per_machine(rep: Report) -> list[tuple[str, int, dict[str, Row]]]:
    """(label, batch, machine id -> its fastest row) for every label x batch measured on two machines or more.

    A machine with several thread counts contributes its fastest row.
    """
    cells: dict[tuple[str, int], dict[str, Row]] = defaultdict(dict)
    for e in rep.rows:
        cur = cells[(e.label, e.batch)].get(e.machine_id)
        if cur is None or e.p50_ms < cur.p50_ms:
            cells[(e.label, e.batch)][e.machine_id] = e
    return [(label, b, per) for (label, b), per in sorted(cells.items()) if len(per) >= 2]
