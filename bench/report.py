"""`edgebench compare`: merge result files from several machines into report.md / .csv / .html.

Rows are grouped by the machine fingerprint id: latencies are only compared within one machine,
and a speed-up is only computed between results with the same batch and thread count. Everything
that makes two results not comparable becomes a note in the report.

Example::

    entries, machines, profiles = load_entries([Path("results/")])
    rep = build_report(entries, machines, baseline="resnet20-fp32/ort-cpu", profiles=profiles)
    write_report(rep, Path("report"), force=True)
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgebench.atomic import ensure_writable_dir, write_text
from edgebench.bench.efficiency import efficiency
from edgebench.bench.schema import SCHEMA_VERSION, validate_result
from edgebench.errors import OutputExistsError, ResultSchemaError, UserInputError, suggest

REPORT_FILES = ("report.md", "report.csv", "report.html")
RESULT_KINDS = ("bench", "profile")
PRUNE_RUN_KIND = "edgebench.prune-run"  # summary.json of `edgebench prune`


@dataclass
class Machine:
    """One device, as its fingerprint describes it."""

    id: str
    hostname: str | None
    cpu_model: str | None
    arch: str | None
    cores: int | None
    freq_mhz: float | None
    isa_on: list[str]
    emulated: bool
    board: str | None

    @property
    def label(self) -> str:
        name = self.board or self.hostname or self.id
        return f"{name} ({self.cpu_model or 'unknown CPU'}, {self.arch or '?'}, {self.cores or '?'} cores)"


@dataclass
class Entry:
    """One result file, flattened to what the report shows. Optional fields are None when absent."""

    source: str
    created_utc: str
    machine_id: str
    variant: str
    arch: str | None
    precision: str | None
    sha256: str
    runtime: str
    runtime_version: str
    batch: int
    threads: int
    graph_optimization: str | None
    p50_ms: float
    ci_lo_ms: float
    ci_hi_ms: float
    p90_ms: float
    p99_ms: float
    min_ms: float
    throughput: float
    peak_rss_mb: float
    file_size_mb: float
    params: int | None
    macs: int | None
    top1_pct: float | None
    top5_pct: float | None
    accuracy_n: int | None
    accuracy_dataset: str | None
    noisy: bool
    achieved_gmacs: float | None
    peak_gmacs: float | None
    fraction_of_peak: float | None
    peak_rule: str | None
    prune_round: int | None = None
    kind: str = "bench"
    speedup: float | None = None
    speedup_lo: float | None = None
    speedup_hi: float | None = None
    flags: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.variant}/{self.runtime}"

    @property
    def config(self) -> tuple[int, int]:
        return (self.batch, self.threads)


@dataclass
class Report:
    """Everything the renderers need."""

    title: str
    machines: dict[str, Machine]
    entries: list[Entry]
    baseline: str | None
    notes: list[str]
    profiles: list[dict[str, Any]] = field(default_factory=list)
    prune_runs: list[dict[str, Any]] = field(default_factory=list)

    def by_machine(self) -> dict[str, list[Entry]]:
        out: dict[str, list[Entry]] = defaultdict(list)
        for e in self.entries:
            out[e.machine_id].append(e)
        return dict(out)


# ----------------------------------------------------------------------------------------- loading


def collect_paths(args: Sequence[Path]) -> list[Path]:
    """Files as given; folders contribute their `*.json` files (sorted)."""
    out: list[Path] = []
    for a in args:
        a = Path(a)
        if a.is_dir():
            found = sorted(a.glob("*.json"))
            if not found:
                raise UserInputError(f"folder '{a}' holds no .json result files; give result files or their folder")
            out.extend(found)
        elif a.is_file():
            out.append(a)
        else:
            raise UserInputError(f"result path '{a}' does not exist; give result files or a folder of them")
    return out


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ResultSchemaError(f"result file '{path}' is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ResultSchemaError(f"'{path}' is not a JSON object; expected an edgebench result file")
    version = data.get("schema_version")
    if data.get("kind") not in (*RESULT_KINDS, PRUNE_RUN_KIND):
        raise ResultSchemaError(
            f"'{path}' has kind {data.get('kind')!r}, not an edgebench result ({', '.join(RESULT_KINDS)}) or "
            "pruning summary; give the files `edgebench bench`, `profile` or `prune` wrote"
        )
    if version != SCHEMA_VERSION:
        raise ResultSchemaError(
            f"'{path}' has result schema_version {version!r}; this edgebench reads version {SCHEMA_VERSION}. "
            "Re-run the benchmark with this edgebench, or compare it with the edgebench that wrote it"
        )
    return data


def _num(d: Any, *keys: str) -> Any:
    cur = d
    for k in keys:
        if not isinstance(cur, dict) or k not in cur:
            return None
        cur = cur[k]
    if isinstance(cur, bool):
        return None
    return cur if isinstance(cur, int | float) else None


def _machine(m: dict[str, Any]) -> Machine:
    cpu = m.get("cpu") or {}
    isa = cpu.get("isa") or {}
    fid = m.get("id") or "unknown"
    return Machine(
        id=str(fid), hostname=m.get("hostname"), cpu_model=cpu.get("model"), arch=cpu.get("arch"),
        cores=cpu.get("logical_cores"), freq_mhz=cpu.get("max_freq_mhz") or cpu.get("cur_freq_mhz"),
        isa_on=[k for k, v in isa.items() if v], emulated=bool(m.get("emulated")),
        board=(m.get("board") or {}).get("model"),
    )


def effective_precision(result: dict[str, Any]) -> str | None:
    """What ran: the runtime's own precision (torch-int8 quantizes an FP32 model) beats the manifest's."""
    rt_prec = (result.get("runtime") or {}).get("precision")
    if isinstance(rt_prec, str):
        return rt_prec
    prec = (result.get("model") or {}).get("precision")
    return prec if isinstance(prec, str) else None


def _variant(result: dict[str, Any], precision: str | None) -> str:
    """model.name, with the precision that actually ran and the pruning round (resnet20-r2-int8)."""
    model = result["model"]
    name = str(model["name"])
    file_prec = model.get("precision")
    stem, suffix = name, ""
    if file_prec and name.endswith(f"-{file_prec}"):
        stem, suffix = name[: -len(file_prec) - 1], f"-{precision or file_prec}"
    rnd = _num(model, "prune_round")
    if rnd is not None and not stem.endswith(f"-r{rnd}"):
        stem = f"{stem}-r{rnd}"
    return stem + suffix


def entry_from_result(result: dict[str, Any], source: str) -> tuple[Entry, Machine]:
    """Flatten one validated result."""
    machine = _machine(result["machine"])
    lat, mem, opts, model = result["latency"], result["memory"], result["options"], result["model"]
    precision = effective_precision(result)
    acc = result.get("accuracy") if isinstance(result.get("accuracy"), dict) else {}
    rt_info = (result.get("runtime") or {}).get("info") or {}
    size = _num(rt_info, "file_size_mb") or model["file_size_mb"]
    macs = _num(model, "macs")
    eff = efficiency(macs, opts["batch"], lat["p50_ms"], result["machine"].get("cpu") or {}, precision,
                     opts["threads"])
    lo, hi = (lat["p50_ci95_ms"] + [lat["p50_ms"], lat["p50_ms"]])[:2]
    entry = Entry(
        source=source, created_utc=result["created_utc"], machine_id=machine.id,
        variant=_variant(result, precision), arch=model.get("arch"), precision=precision, sha256=model["sha256"],
        runtime=result["runtime"]["name"], runtime_version=result["runtime"]["version"], batch=opts["batch"],
        threads=opts["threads"], graph_optimization=opts.get("graph_optimization"),
        p50_ms=lat["p50_ms"], ci_lo_ms=float(lo), ci_hi_ms=float(hi), p90_ms=lat["p90_ms"], p99_ms=lat["p99_ms"],
        min_ms=lat["min_ms"],
        throughput=lat["throughput_items_per_s"], peak_rss_mb=mem["peak_rss_mb"], file_size_mb=float(size),
        params=_num(model, "params"), macs=macs,
        top1_pct=_num(acc, "top1_pct"), top5_pct=_num(acc, "top5_pct"), accuracy_n=_num(acc, "n"),
        accuracy_dataset=acc.get("dataset") if isinstance(acc.get("dataset"), str) else None,
        noisy=bool(lat["noisy"]), achieved_gmacs=eff["achieved_gmacs"], peak_gmacs=eff["peak_gmacs"],
        fraction_of_peak=eff["fraction_of_peak"], peak_rule=(eff["peak"] or {}).get("rule"),
        prune_round=_num(model, "prune_round"), kind=str(result.get("kind", "bench")),
    )
    return entry, machine


def _prune_run(data: dict[str, Any], path: Path) -> dict[str, Any]:
    rounds = data.get("rounds")
    if not isinstance(rounds, list) or not all(isinstance(r, dict) and isinstance(r.get("round"), int)
                                               for r in rounds):
        raise ResultSchemaError(f"pruning summary '{path}' has no list of rounds; re-run edgebench prune")
    return {"source": str(path), "arch": data.get("arch"), "importance": data.get("importance"),
            "scope": data.get("scope"), "rounds": sorted(rounds, key=lambda r: r["round"])}


def load_entries(args: Sequence[Path], prune_runs: list[dict[str, Any]] | None = None,
                 ) -> tuple[list[Entry], dict[str, Machine], list[dict[str, Any]]]:
    """Read every result file; a bad file stops everything with one line naming it.

    Pruning summaries (`edgebench prune`'s summary.json) are appended to `prune_runs` when given.
    """
    entries: list[Entry] = []
    machines: dict[str, Machine] = {}
    profiles: list[dict[str, Any]] = []
    for path in collect_paths(args):
        data = _read_json(path)
        if data.get("kind") == PRUNE_RUN_KIND:
            if prune_runs is not None:
                prune_runs.append(_prune_run(data, path))
            continue
        validate_result(data, str(path))
        entry, machine = entry_from_result(data, str(path))
        machines.setdefault(machine.id, machine)
        entries.append(entry)
        if data.get("kind") == "profile" and isinstance(data.get("profile"), dict):
            profiles.append({"label": entry.label, "machine_id": entry.machine_id, **data["profile"]})
    return entries, machines, profiles


# -------------------------------------------------------------------------------------- analysis


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


def _dedupe(entries: list[Entry], notes: list[str]) -> list[Entry]:
    """One entry per machine x label x batch x threads: a bench result beats a profile's, then the newest wins."""
    kept: dict[tuple[str, str, int, int], Entry] = {}
    for e in entries:
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


def check_overlap(entries: list[Entry]) -> None:
    """Raise when no two results can be set side by side (no shared machine, no shared variant)."""
    per_machine: dict[str, int] = defaultdict(int)
    machines_per_label: dict[str, set[str]] = defaultdict(set)
    for e in entries:
        per_machine[e.machine_id] += 1
        machines_per_label[e.label].add(e.machine_id)
    if any(n >= 2 for n in per_machine.values()) or any(len(m) >= 2 for m in machines_per_label.values()):
        return
    what = "; ".join(f"{e.label} on machine {e.machine_id}" for e in entries)
    raise UserInputError(
        f"the {len(entries)} result(s) have no overlap to compare ({what}): each machine has one result and "
        "no model/runtime was measured on two machines; bench two variants or runtimes on one machine, "
        "or one variant on two machines"
    )


def _differing(entries: list[Any], key: str, value: str) -> dict[str, set[str]]:
    """Keys (e.g. a runtime) whose entries disagree on `value` (e.g. its version), with the values seen."""
    seen: dict[str, set[str]] = defaultdict(set)
    for e in entries:
        seen[getattr(e, key)].add(getattr(e, value))
    return {k: v for k, v in seen.items() if len(v) > 1}


def _note_differences(by_machine: dict[str, list[Entry]], machines: dict[str, Machine], notes: list[str]) -> None:
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
        for rt, vs in _differing(es, "runtime", "runtime_version").items():
            notes.append(f"On machine {mid} runtime {rt} appears in versions {', '.join(sorted(vs))}.")
        for v, s in _differing(es, "label", "sha256").items():
            notes.append(f"On machine {mid} '{v}' names {len(s)} different model files (sha256 differ).")
    noisy = [e for es in by_machine.values() for e in es if e.noisy]
    for e in noisy:
        e.flags.append("noisy")
    if noisy:
        notes.append(f"{len(noisy)} result(s) are marked noisy (wide spread or wide CI of the median): "
                     + ", ".join(f"{e.label} b{e.batch} t{e.threads} on {e.machine_id}" for e in noisy))
    missing_acc = sorted({e.label for es in by_machine.values() for e in es if e.top1_pct is None})
    if missing_acc:
        notes.append("No accuracy in: " + ", ".join(missing_acc) + " (bench with --eval-dataset to add it).")
    above = [e for es in by_machine.values() for e in es if (e.fraction_of_peak or 0) > 1.0]
    if above:
        notes.append("Above the computed peak: " + ", ".join(
            f"{e.label} t{e.threads} on {e.machine_id} ({100 * (e.fraction_of_peak or 0):.0f} %)" for e in above)
            + ". The clock in the peak formula is below the real one (a VM's nominal MHz, turbo); "
            "read '% of peak' as a relative figure on that machine.")
    missing_macs = sorted({e.label for es in by_machine.values() for e in es if e.macs is None})
    if missing_macs:
        notes.append("No MAC count (no manifest), so no efficiency for: " + ", ".join(missing_macs) + ".")


def _speedups(by_machine: dict[str, list[Entry]], baseline: str, notes: list[str]) -> None:
    for mid, es in by_machine.items():
        base = {e.config: e for e in es if e.label == baseline}
        if not base:
            notes.append(f"Machine {mid} has no {baseline} result, so its rows have no speed-up.")
            continue
        unmatched: set[str] = set()
        for e in es:
            b = base.get(e.config)
            if b is None:
                unmatched.add(f"{e.label} (batch {e.batch}, {e.threads} threads)")
                continue
            e.speedup = b.p50_ms / e.p50_ms
            e.speedup_lo = b.ci_lo_ms / e.ci_hi_ms if e.ci_hi_ms > 0 else None
            e.speedup_hi = b.ci_hi_ms / e.ci_lo_ms if e.ci_lo_ms > 0 else None
        if unmatched:
            notes.append(f"On machine {mid}, {', '.join(sorted(unmatched))}: the baseline {baseline} was not "
                         "measured with the same batch and threads, so no speed-up is given (not comparable).")


def build_report(entries: list[Entry], machines: dict[str, Machine], *, baseline: str | None = None,
                 title: str = "edgebench report", profiles: list[dict[str, Any]] | None = None,
                 prune_runs: list[dict[str, Any]] | None = None) -> Report:
    """Dedupe, check overlap, compute speed-ups and notes."""
    if not entries and not prune_runs:
        raise UserInputError("no results to compare; give result files or folders of them")
    notes: list[str] = []
    entries = _dedupe(entries, notes)
    if entries:
        check_overlap(entries)
    labels = [e.label for e in entries]
    chosen = resolve_baseline(baseline, labels) if baseline else default_baseline(labels)
    entries.sort(key=lambda e: (e.machine_id, e.batch, e.threads, e.label != chosen, e.variant, e.runtime))
    by_machine: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        by_machine[e.machine_id].append(e)
    _note_differences(by_machine, machines, notes)
    if chosen:
        _speedups(by_machine, chosen, notes)
    used = {m: machines[m] for m in by_machine}
    return Report(title=title, machines=used, entries=entries, baseline=chosen, notes=notes,
                  profiles=list(profiles or []), prune_runs=list(prune_runs or []))


# ------------------------------------------------------------------------------------- rendering


def fmt(v: Any, digits: int = 3) -> str:
    """A table cell: 'n/a' for missing values."""
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def speedup_cell(e: Entry) -> str:
    if e.speedup is None:
        return "n/a"
    if e.speedup_lo is not None and e.speedup_hi is not None:
        return f"{e.speedup:.2f}x ({e.speedup_lo:.2f}-{e.speedup_hi:.2f})"
    return f"{e.speedup:.2f}x"


COLUMNS = ("variant", "runtime", "batch", "threads", "p50 ms [95% CI]", "min ms", "p90 ms", "p99 ms", "items/s",
           "peak RSS MB", "size MB", "params M", "MMACs", "top-1 %", "top-5 %", "speed-up", "GMAC/s",
           "% of peak")


def table_row(e: Entry) -> list[str]:
    flags = f" ({', '.join(e.flags)})" if e.flags else ""
    return [
        e.variant, e.runtime + flags, str(e.batch), str(e.threads),
        f"{e.p50_ms:.3f} [{e.ci_lo_ms:.3f}-{e.ci_hi_ms:.3f}]", f"{e.min_ms:.3f}", f"{e.p90_ms:.3f}", f"{e.p99_ms:.3f}",
        f"{e.throughput:.1f}", f"{e.peak_rss_mb:.1f}", f"{e.file_size_mb:.3f}",
        fmt(e.params / 1e6 if e.params is not None else None), fmt(e.macs / 1e6 if e.macs is not None else None, 2),
        fmt(e.top1_pct, 2), fmt(e.top5_pct, 2), speedup_cell(e), fmt(e.achieved_gmacs, 2),
        fmt(e.fraction_of_peak * 100 if e.fraction_of_peak is not None else None, 2),
    ]


def cross_machine_rows(rep: Report) -> tuple[list[str], list[list[str]]]:
    """p50 per (variant/runtime, batch) on each machine, for those measured on two machines or more.

    A machine with several thread counts shows its fastest; the cell names the thread count.
    """
    mids = list(rep.machines)
    cells: dict[tuple[str, int], dict[str, Entry]] = defaultdict(dict)
    for e in rep.entries:
        cur = cells[(e.label, e.batch)].get(e.machine_id)
        if cur is None or e.p50_ms < cur.p50_ms:
            cells[(e.label, e.batch)][e.machine_id] = e
    rows = []
    for (label, b), per in sorted(cells.items()):
        if len(per) < 2:
            continue
        rows.append([label, str(b)] + [f"{per[m].p50_ms:.3f} ({per[m].threads} t)" if m in per else "n/a"
                                       for m in mids])
    return ["variant/runtime", "batch"] + [f"p50 ms on {m}" for m in mids], rows


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def machine_line(m: Machine, markdown: bool = True) -> str:
    isa = " ".join(m.isa_on) or "unknown"
    freq = f"{m.freq_mhz:.0f} MHz" if m.freq_mhz else "frequency unknown"
    emu = ", EMULATED" if m.emulated else ""
    mid = f"`{m.id}`" if markdown else m.id
    return f"{mid}: {m.label}, {freq}, ISA: {isa}{emu}"


def render_markdown(rep: Report, plot_files: dict[str, str]) -> str:
    out = [f"# {rep.title}", ""]
    out.append(f"Baseline for speed-ups: `{rep.baseline}` (same machine, batch and threads; ratio of p50, "
               "range from the 95% CIs)." if rep.baseline else "No baseline: no speed-ups.")
    out += ["", "## Machines", ""] + [f"- {machine_line(m)}" for m in rep.machines.values()]
    for mid, es in rep.by_machine().items():
        out += ["", f"## {rep.machines[mid].label} `{mid}`", "", md_table(COLUMNS, [table_row(e) for e in es])]
    header, rows = cross_machine_rows(rep)
    if rows:
        out += ["", "## Across machines", "", md_table(header, rows)]
    if rep.profiles:
        out += ["", "## Per-operator profiles", ""]
        for p in rep.profiles:
            out += [f"### {p['label']} on `{p['machine_id']}`", "",
                    md_table(["op type", "ms per run", "% of op time", "nodes", "int8 nodes"],
                             [[o["op_type"], f"{o['ms_per_run']:.4f}", f"{o['pct']:.1f}", str(o["nodes"]),
                               str(o.get("int8_nodes", 0))] for o in p.get("op_types", [])]), ""]
    for run in rep.prune_runs:
        out += ["", f"## Pruning rounds: {run['arch']} ({run['importance']}, {run['scope']})", "",
                md_table(PRUNE_COLUMNS, prune_rows(run))]
    if plot_files:
        out += ["", "## Plots", ""] + [f"![{name}]({path})" for name, path in plot_files.items()]
    out += ["", "## Notes", ""] + ([f"- {n}" for n in rep.notes] or ["- none"])
    out += ["", "Efficiency = model MACs x batch / p50, as a fraction of the peak GMAC/s of the cores used "
            "(formula in `bench/efficiency.py`; an upper bound from ISA flags, cores and frequency).", ""]
    return "\n".join(out)


PRUNE_COLUMNS = ("round", "MMACs", "params M", "MACs -%", "params -%", "top-1 before ft %", "final top-1 %",
                 "best top-1 %", "ONNX MB")


def prune_rows(run: dict[str, Any]) -> list[list[str]]:
    def g(r: dict[str, Any], k: str, scale: float = 1.0, digits: int = 2) -> str:
        v = r.get(k)
        return fmt(v / scale, digits) if isinstance(v, int | float) and not isinstance(v, bool) else "n/a"

    return [[str(r["round"]), g(r, "macs", 1e6), g(r, "params", 1e6, 3), g(r, "macs_reduction_pct", 1, 1),
             g(r, "params_reduction_pct", 1, 1), g(r, "top1_before_finetune_pct"), g(r, "final_top1_pct"),
             g(r, "best_top1_pct"), g(r, "onnx_size_mb", 1, 3)] for r in run["rounds"]]


CSV_FIELDS = ("machine_id", "machine", "variant", "runtime", "runtime_version", "precision", "arch", "batch",
              "threads", "graph_optimization", "p50_ms", "p50_ci95_lo_ms", "p50_ci95_hi_ms", "min_ms", "p90_ms",
              "p99_ms",
              "throughput_items_per_s", "peak_rss_mb", "file_size_mb", "params", "macs", "top1_pct", "top5_pct",
              "accuracy_n", "accuracy_dataset", "speedup", "speedup_lo", "speedup_hi", "baseline", "achieved_gmacs",
              "peak_gmacs", "fraction_of_peak", "peak_rule", "noisy", "sha256", "source")


def render_csv(rep: Report) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for e in rep.entries:
        w.writerow({
            "machine_id": e.machine_id, "machine": rep.machines[e.machine_id].label, "variant": e.variant,
            "runtime": e.runtime, "runtime_version": e.runtime_version, "precision": e.precision, "arch": e.arch,
            "batch": e.batch, "threads": e.threads, "graph_optimization": e.graph_optimization,
            "p50_ms": e.p50_ms, "p50_ci95_lo_ms": e.ci_lo_ms, "p50_ci95_hi_ms": e.ci_hi_ms, "min_ms": e.min_ms,
            "p90_ms": e.p90_ms,
            "p99_ms": e.p99_ms, "throughput_items_per_s": e.throughput, "peak_rss_mb": e.peak_rss_mb,
            "file_size_mb": e.file_size_mb, "params": e.params, "macs": e.macs, "top1_pct": e.top1_pct,
            "top5_pct": e.top5_pct, "accuracy_n": e.accuracy_n, "accuracy_dataset": e.accuracy_dataset,
            "speedup": e.speedup, "speedup_lo": e.speedup_lo, "speedup_hi": e.speedup_hi,
            "baseline": rep.baseline, "achieved_gmacs": e.achieved_gmacs, "peak_gmacs": e.peak_gmacs,
            "fraction_of_peak": e.fraction_of_peak, "peak_rule": e.peak_rule, "noisy": e.noisy,
            "sha256": e.sha256, "source": e.source,
        })
    return buf.getvalue()


def write_report(rep: Report, out_dir: Path, *, force: bool = False, plots: bool = True) -> list[Path]:
    """Render everything in memory first, then write each file atomically."""
    out_dir = Path(out_dir)
    if not force:
        for name in REPORT_FILES:
            if (out_dir / name).exists():
                raise OutputExistsError(f"'{out_dir / name}' already exists; pass --force to overwrite the report")
    ensure_writable_dir(out_dir)
    from edgebench.bench.report_html import render_html

    images: dict[str, bytes] = {}
    if plots:
        from edgebench.bench.report_plots import make_plots

        images = make_plots(rep)
    plot_files = {name: f"plots/{name}.png" for name in images}
    md = render_markdown(rep, plot_files)
    csv_text = render_csv(rep)
    html = render_html(rep, images)
    written: list[Path] = []
    if images:
        from edgebench.atomic import atomic_path

        ensure_writable_dir(out_dir / "plots")
        for name, png in images.items():
            with atomic_path(out_dir / "plots" / f"{name}.png") as tmp:
                tmp.write_bytes(png)
            written.append(out_dir / "plots" / f"{name}.png")
    written.append(write_text(out_dir / "report.csv", csv_text))
    written.append(write_text(out_dir / "report.html", html))
    written.append(write_text(out_dir / "report.md", md))
    return written
