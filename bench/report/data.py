"""The report's data model: one frozen `Row` per result file, read from the result schema in one place.

Nothing here computes across rows (that is `analysis`) or formats text (the renderers).

Example::

    loaded = load_results([Path("results/"), Path("pi-results/")])
    loaded.rows[0].p50_ms, loaded.rows[0].result.latency.p95_ms, loaded.machines
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgebench.bench.result import INTERLEAVE_SCHEMA_VERSION, SCHEMA_VERSION, BenchResult, InterleaveResult
from edgebench.bench.result import Machine as Fingerprint
from edgebench.errors import ResultSchemaError, UserInputError
from edgebench.manifest import thaw
from edgebench.readers import read_json_file

RESULT_KINDS = ("bench", "profile")
PRUNE_RUN_KIND = "edgebench.prune-run"  # summary.json of `edgebench prune`
INTERLEAVE_KIND = "interleave"  # `edgebench bench A B --interleave` (bench/interleave.py, its own schema_version)
SWEEP_KIND = "edgebench.sweep"  # a sweep folder's summary.json


@dataclass(frozen=True)
class Machine:
    """One device, as its fingerprint describes it."""

    id: str
    hostname: str | None
    cpu_model: str | None
    arch: str | None
    cores: int | None
    freq_mhz: float | None
    isa_on: tuple[str, ...]
    emulated: bool
    board: str | None

    @property
    def label(self) -> str:
        name = self.board or self.hostname or self.id
        return f"{name} ({self.cpu_model or 'unknown CPU'}, {self.arch or '?'}, {self.cores or '?'} cores)"


@dataclass(frozen=True)
class Row:
    """One result file, flattened to what the report shows. Optional fields are None when absent.

    `result` is the whole result, typed (`BenchResult`, frozen): a report column may read any field of the
    file from it (`r.result.latency.p95_ms`; what its records do not declare, from their `rest`) without a new
    attribute here. The fields after `kind` are figures across rows, filled by `analysis.build_report` (a new
    Row via dataclasses.replace).
    """

    source: str
    created_utc: str
    machine: Machine
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
    prune_round: int | None
    kind: str
    result: BenchResult = field(repr=False, compare=False)
    task: str = "classification"  # the model's task (its manifest's; results from before: classification)
    map_pct: float | None = None  # a detector's COCO mAP@0.5:0.95 (bench --eval DIR), percent
    map50_pct: float | None = None
    e2e_p50_ms: float | None = None  # a detector's end-to-end p50 (pre-process + model + decode + NMS)
    lineage_root: str | None = None  # sha256 of the root FP32 model (the result's model.lineage), None if unrecorded
    lineage_name: str = ""  # the root model's name, else the model name's stem (resnet20)
    # ---- filled by the analysis
    lineage: str = ""  # the lineage key the report groups ratios by (analysis.assign_lineages)
    achieved_gmacs: float | None = None
    peak_gmacs: float | None = None
    fraction_of_peak: float | None = None
    peak_rule: str | None = None
    baseline: str | None = None
    speedup: float | None = None
    speedup_lo: float | None = None
    speedup_hi: float | None = None
    flags: tuple[str, ...] = ()

    @property
    def machine_id(self) -> str:
        return self.machine.id

    @property
    def label(self) -> str:
        return f"{self.variant}/{self.runtime}"

    @property
    def accuracy_pct(self) -> float | None:
        """The headline accuracy of the row's task (`edgebench.task.headline_of`): top-1 %, a detector's
        mAP@0.5:0.95 %; None when not measured or the task is not one edgebench knows."""
        from edgebench.task import HEADLINES

        return getattr(self, HEADLINES.get(self.task).key) if self.task in HEADLINES else None

    @property
    def config(self) -> tuple[int, int]:
        return (self.batch, self.threads)


@dataclass(frozen=True)
class Interleaved:
    """One `bench A B --interleave` file: where it was read, its machine and its record."""

    source: str
    machine: Machine
    result: InterleaveResult


@dataclass(frozen=True)
class LoadedResults:
    """What `load_results` read: rows, their machines (by fingerprint id), profiles and pruning summaries."""

    rows: tuple[Row, ...]
    machines: dict[str, Machine]
    profiles: tuple[dict[str, Any], ...]
    prune_runs: tuple[dict[str, Any], ...]
    interleaved: tuple[Interleaved, ...] = ()  # `bench --interleave` files: paired ratios with their CIs
    notes: tuple[str, ...] = ()  # what was skipped while reading (edgebench's own non-result files, sweep folders)


# ----------------------------------------------------------------------------------------- files


def sweep_result_dirs(folder: Path) -> list[Path] | None:
    """A sweep folder (its summary.json has kind edgebench.sweep, and results/): its `results/<device>/` folders,
    else None."""
    summary, results = folder / "summary.json", folder / "results"
    if not summary.is_file() or not results.is_dir():
        return None
    try:
        data = read_json_file(summary, "sweep summary", ResultSchemaError)
    except ResultSchemaError:
        return None
    if not isinstance(data, dict) or data.get("kind") != SWEEP_KIND:
        return None
    return sorted(d for d in results.iterdir() if d.is_dir())


def collect_paths(args: Sequence[Path], notes: list[str] | None = None) -> list[Path]:
    """Files as given; folders contribute their `*.json` files (sorted).

    A sweep folder (`edgebench sweep -o DIR`) contributes the files of its `results/<device>/` folders; a
    folder without .json files but with sub-folders (a sweep's `results/`), those of its sub-folders.
    """
    out: list[Path] = []
    for a in args:
        a = Path(a)
        if a.is_dir():
            found = sorted(a.glob("*.json"))
            sub = sweep_result_dirs(a)
            if sub is not None:
                found = sorted(p for d in sub for p in d.glob("*.json"))
                if notes is not None:
                    notes.append(f"'{a}' is a sweep folder: reading the result files of {a / 'results'} "
                                 f"({len(sub)} device folder(s)); its summary and recommendation are not results")
            elif not found:
                found = sorted(p for d in sorted(a.iterdir()) if d.is_dir() for p in d.glob("*.json"))
            if not found and sub is not None:
                raise UserInputError(f"sweep folder '{a}' holds no result files in {a / 'results'}/<device>/; run "
                                     "the sweep (again) or give result files")
            if not found:
                raise UserInputError(f"folder '{a}' holds no .json result files; give result files or their folder")
            out.extend(found)
        elif a.is_file():
            out.append(a)
        else:
            raise UserInputError(f"result path '{a}' does not exist; give result files or a folder of them")
    return out


def check_version(version: Any, path: Path, current: int = SCHEMA_VERSION, what: str = "result") -> None:
    """One line naming the file, its schema_version and the fix, unless this edgebench reads that version."""
    if version == current:
        return
    if isinstance(version, int) and not isinstance(version, bool) and version > current:
        raise ResultSchemaError(
            f"'{path}' has {what} schema_version {version!r}, written by a newer edgebench; this edgebench reads "
            f"version {current}. Upgrade edgebench (pip install --upgrade edgebench) to compare it"
        )
    raise ResultSchemaError(
        f"'{path}' has {what} schema_version {version!r}; this edgebench reads version {current}. "
        "Re-run the benchmark with this edgebench, or compare it with the edgebench that wrote it"
    )


def own_non_result(data: Any) -> str | None:
    """What an edgebench file that is not a result is (by its own markers), else None.

    Files with an `edgebench.*` kind (a sweep's summary.json, manifests, pruning structures, latency tables, ...)
    and a sweep's recommendation.json (budget -> list of `Recommendation.to_dict()`, which has no kind).

    >>> own_non_result({"kind": "edgebench.sweep"}), own_non_result({"kind": "bench"})
    ("an edgebench file of kind 'edgebench.sweep'", None)
    """
    if not isinstance(data, dict):
        return None
    kind = data.get("kind")
    if isinstance(kind, str):
        if kind.startswith("edgebench.") and kind != PRUNE_RUN_KIND:
            return f"an edgebench file of kind '{kind}'"
        return None
    if data and all(isinstance(v, list) and v and all(isinstance(r, dict) and {"budget_points", "pareto_front",
                                                                               "machine_id"} <= set(r) for r in v)
                    for v in data.values()):
        return "a recommendation (edgebench recommend/sweep)"
    return None


def read_json(path: Path, notes: list[str] | None = None) -> dict[str, Any] | None:
    """A result, interleave or pruning-summary file as a dict; anything else raises one line naming the file.

    With `notes`, edgebench's own non-result files (`own_non_result`) are skipped: None, and a note names them.
    """
    data = read_json_file(path, "result file", ResultSchemaError)
    if not isinstance(data, dict):
        raise ResultSchemaError(f"'{path}' is not a JSON object; expected an edgebench result file")
    what = own_non_result(data)
    if what is not None and notes is not None:
        notes.append(f"skipped '{path}': {what}, not a result")
        return None
    if data.get("kind") not in (*RESULT_KINDS, PRUNE_RUN_KIND, INTERLEAVE_KIND):
        raise ResultSchemaError(
            f"'{path}' has kind {data.get('kind')!r}, not an edgebench result ({', '.join(RESULT_KINDS)}, "
            f"{INTERLEAVE_KIND}) or pruning summary; give the files `edgebench bench`, `profile` or `prune` wrote"
        )
    if data.get("kind") == INTERLEAVE_KIND:
        check_version(data.get("schema_version"), path, INTERLEAVE_SCHEMA_VERSION, "interleave")
    else:
        check_version(data.get("schema_version"), path)
    return data


# ------------------------------------------------------------------------------- result -> Row


def _num(d: Any, *keys: str) -> Any:
    cur = d
    for k in keys:
        if not isinstance(cur, Mapping) or k not in cur:
            return None
        cur = cur[k]
    if isinstance(cur, bool):
        return None
    return cur if isinstance(cur, int | float) else None


def machine_from_fingerprint(m: Fingerprint) -> Machine:
    """The report's view of a result's (or interleave file's) `machine` record."""
    cpu = m.cpu
    return Machine(
        id=str(m.id or "unknown"), hostname=m.hostname, cpu_model=cpu.model, arch=cpu.arch,
        cores=cpu.logical_cores, freq_mhz=cpu.max_freq_mhz or cpu.cur_freq_mhz,
        isa_on=tuple(k for k, v in cpu.isa.items() if v), emulated=bool(m.rest.get("emulated")),
        board=m.board.model if m.board is not None else None,
    )


def effective_precision(result: BenchResult) -> str | None:
    """What ran: the runtime's own precision (torch-int8 quantizes an FP32 model) beats the manifest's."""
    ran = result.runtime.precision
    return ran if ran is not None else result.model.precision


def variant_name(result: BenchResult, precision: str | None) -> str:
    """model.name, with the precision that actually ran and the pruning round (resnet20-r2-int8).

    A sweep's result names its variant itself (``sweep.variant``, e.g. resnet20-p30-int8-x86-vnni).
    """
    sweep = result.sweep
    if sweep is not None and isinstance(sweep.get("variant"), str):
        return str(sweep["variant"])
    model = result.model
    name = model.name
    file_prec = model.precision
    stem, suffix = name, ""
    if file_prec and name.endswith(f"-{file_prec}"):
        stem, suffix = name[: -len(file_prec) - 1], f"-{precision or file_prec}"
    rnd = _num(model.rest, "prune_round")
    if rnd is not None and not stem.endswith(f"-r{rnd}"):
        stem = f"{stem}-r{rnd}"
    return stem + suffix


def name_stem(name: str, precision: str | None, prune_round: int | None) -> str:
    """A model name without its precision and pruning-round suffixes (resnet20-r2-int8 -> resnet20).

    >>> name_stem("resnet20-r2-int8", "int8", 2), name_stem("m", None, None)
    ('resnet20', 'm')
    """
    if isinstance(precision, str) and name.endswith(f"-{precision}"):
        name = name[: -len(precision) - 1]
    if prune_round is not None and name.endswith(f"-r{prune_round}"):
        name = name[: -len(f"-r{prune_round}")]
    return name


def lineage_of(result: BenchResult) -> tuple[str | None, str]:
    """(sha256 of the root FP32 model, root name) from the result's `model.lineage` (bench/runner.py).

    A result without it (an older edgebench, or a pruned round whose FP32 parent is not recorded) gives
    (None, the model name's stem); the report then groups it by name and says so.
    """
    model = result.model
    lin = model.lineage
    stem = name_stem(model.name, model.precision, _num(model.rest, "prune_round"))
    if isinstance(lin, Mapping):
        name = lin.get("root_name") if isinstance(lin.get("root_name"), str) and lin.get("root_name") else stem
        root = lin.get("root_sha256")
        return (root if isinstance(root, str) and root else None), str(name)
    return None, stem


def row_from_result(result: BenchResult, source: str) -> Row:
    """Flatten one result: the only place that knows where the report's figures live in the file."""
    lat, mem, opts, model = result.latency, result.memory, result.options, result.model
    precision = effective_precision(result)
    acc = result.accuracy
    extra: Mapping[str, Any] = acc.rest if acc is not None else {}  # what the Accuracy record does not declare
    size = _num(result.runtime.info, "file_size_mb") or model.file_size_mb
    lo, hi = [*lat.p50_ci95_ms, lat.p50_ms, lat.p50_ms][:2]
    lineage_root, lineage_name = lineage_of(result)
    return Row(
        source=source, created_utc=result.created_utc, machine=machine_from_fingerprint(result.machine),
        variant=variant_name(result, precision), arch=model.arch, precision=precision,
        sha256=model.sha256, runtime=result.runtime.name, runtime_version=result.runtime.version,
        batch=opts.batch, threads=opts.threads, graph_optimization=opts.graph_optimization,
        p50_ms=lat.p50_ms, ci_lo_ms=float(lo), ci_hi_ms=float(hi), p90_ms=lat.p90_ms, p99_ms=lat.p99_ms,
        min_ms=lat.min_ms,
        throughput=(result.throughput.items_per_s if result.throughput else None) or lat.throughput_items_per_s,
        peak_rss_mb=mem.peak_rss_mb,
        file_size_mb=float(size), params=_num(model.rest, "params"), macs=_num(model.rest, "macs"),
        top1_pct=acc.top1_pct if acc else None, top5_pct=acc.top5_pct if acc else None,
        accuracy_n=acc.n if acc else None,
        accuracy_dataset=extra.get("dataset") if isinstance(extra.get("dataset"), str) else None,
        noisy=bool(lat.noisy), prune_round=_num(model.rest, "prune_round"), kind=result.kind,
        result=result, lineage_root=lineage_root, lineage_name=lineage_name,
        task=str(model.task or "classification"), map_pct=_num(extra, "map_pct"),
        map50_pct=_num(extra, "map50_pct"), e2e_p50_ms=_num(result.rest.get("end_to_end"), "e2e_p50_ms"),
    )


def prune_run_from_summary(data: dict[str, Any], path: Path) -> dict[str, Any]:
    rounds = data.get("rounds")
    if not isinstance(rounds, list) or not all(isinstance(r, dict) and isinstance(r.get("round"), int)
                                               for r in rounds):
        raise ResultSchemaError(f"pruning summary '{path}' has no list of rounds; re-run edgebench prune")
    return {"source": str(path), "arch": data.get("arch"), "importance": data.get("importance"),
            "scope": data.get("scope"), "rounds": sorted(rounds, key=lambda r: r["round"])}


def interleave_from_file(data: dict[str, Any], path: Path) -> Interleaved:
    """A `bench --interleave` file as one paired comparison: its record (every model's ratio to the first, with
    its CI) and its machine."""
    result = InterleaveResult.from_dict(data, f"interleave file '{path}'")
    return Interleaved(str(path), machine_from_fingerprint(result.machine), result)


def load_results(args: Sequence[Path]) -> LoadedResults:
    """Read every result file, interleave file and pruning summary; a bad file stops everything with one line.

    edgebench's own non-result files (a sweep's summary.json and recommendation.json, manifests, ...) in a
    folder are skipped with a note (named on their own, they are refused), and a sweep folder is read through
    its `results/` (`collect_paths`).
    """
    rows: list[Row] = []
    machines: dict[str, Machine] = {}
    profiles: list[dict[str, Any]] = []
    prune_runs: list[dict[str, Any]] = []
    interleaved: list[Interleaved] = []
    notes: list[str] = []
    named = {Path(a) for a in args if Path(a).is_file()}  # a file named on its own must be a result
    for path in collect_paths(args, notes):
        data = read_json(path, None if path in named else notes)
        if data is None:
            continue
        if data.get("kind") == PRUNE_RUN_KIND:
            prune_runs.append(prune_run_from_summary(data, path))
            continue
        if data.get("kind") == INTERLEAVE_KIND:
            pair = interleave_from_file(data, path)
            machines.setdefault(pair.machine.id, pair.machine)
            interleaved.append(pair)
            continue
        result = BenchResult.from_dict(data, str(path))  # the one check of a result file
        row = row_from_result(result, str(path))
        machines.setdefault(row.machine_id, row.machine)
        rows.append(row)
        profile = result.rest.get("profile")
        if result.kind == "profile" and isinstance(profile, Mapping):
            profiles.append({"label": row.label, "machine_id": row.machine_id, **thaw(profile)})
    return LoadedResults(tuple(rows), machines, tuple(profiles), tuple(prune_runs), tuple(interleaved), tuple(notes))


def load_entries(args: Sequence[Path], prune_runs: list[dict[str, Any]] | None = None,
                 ) -> tuple[list[Row], dict[str, Machine], list[dict[str, Any]]]:
    """`load_results` as the previous layout returned it; pruning summaries are appended to `prune_runs`."""
    loaded = load_results(args)
    if prune_runs is not None:
        prune_runs.extend(loaded.prune_runs)
    return list(loaded.rows), loaded.machines, list(loaded.profiles)
