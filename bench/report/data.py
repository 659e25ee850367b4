"""The report's data model: one frozen `Row` per result file, read from the result schema in one place.

Nothing here computes across rows (that is `analysis`) or formats text (the renderers).

Example::

    loaded = load_results([Path("results/"), Path("pi-results/")])
    loaded.rows[0].p50_ms, loaded.rows[0].raw["latency"]["p95_ms"], loaded.machines
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgebench.bench.interleave import INTERLEAVE_SCHEMA_VERSION
from edgebench.bench.result import SCHEMA_VERSION, BenchResult
from edgebench.errors import ResultSchemaError, UserInputError
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

    `raw` is the whole result dict (read it, never change it): a report column may read any field of
    the file from it without a new attribute here. The fields after `kind` are figures across rows,
    filled by `analysis.build_report` (a new Row via dataclasses.replace).
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
    raw: Mapping[str, Any] = field(repr=False, compare=False)
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
    def config(self) -> tuple[int, int]:
        return (self.batch, self.threads)


@dataclass(frozen=True)
class LoadedResults:
    """What `load_results` read: rows, their machines (by fingerprint id), profiles and pruning summaries."""

    rows: tuple[Row, ...]
    machines: dict[str, Machine]
    profiles: tuple[dict[str, Any], ...]
    prune_runs: tuple[dict[str, Any], ...]
    interleaved: tuple[dict[str, Any], ...] = ()  # `bench --interleave` files: paired ratios with their CIs
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
        if not isinstance(cur, dict) or k not in cur:
            return None
        cur = cur[k]
    if isinstance(cur, bool):
        return None
    return cur if isinstance(cur, int | float) else None


def machine_from_fingerprint(m: dict[str, Any]) -> Machine:
    cpu = m.get("cpu") or {}
    isa = cpu.get("isa") or {}
    fid = m.get("id") or "unknown"
    return Machine(
        id=str(fid), hostname=m.get("hostname"), cpu_model=cpu.get("model"), arch=cpu.get("arch"),
        cores=cpu.get("logical_cores"), freq_mhz=cpu.get("max_freq_mhz") or cpu.get("cur_freq_mhz"),
        isa_on=tuple(k for k, v in isa.items() if v), emulated=bool(m.get("emulated")),
        board=(m.get("board") or {}).get("model"),
    )


def effective_precision(result: Mapping[str, Any]) -> str | None:
    """What ran: the runtime's own precision (torch-int8 quantizes an FP32 model) beats the manifest's."""
    rt_prec = (result.get("runtime") or {}).get("precision")
    if isinstance(rt_prec, str):
        return rt_prec
    prec = (result.get("model") or {}).get("precision")
    return prec if isinstance(prec, str) else None


def variant_name(result: Mapping[str, Any], precision: str | None) -> str:
    """model.name, with the precision that actually ran and the pruning round (resnet20-r2-int8).

    A sweep's result names its variant itself (``sweep.variant``, e.g. resnet20-p30-int8-x86-vnni).
    """
    sweep = result.get("sweep")
    if isinstance(sweep, Mapping) and isinstance(sweep.get("variant"), str):
        return str(sweep["variant"])
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


def name_stem(model: Mapping[str, Any]) -> str:
    """model.name without its precision and pruning-round suffixes (resnet20-r2-int8 -> resnet20).

    >>> name_stem({"name": "resnet20-r2-int8", "precision": "int8", "prune_round": 2}), name_stem({"name": "m"})
    ('resnet20', 'm')
    """
    name = str(model.get("name") or "")
    prec = model.get("precision")
    if isinstance(prec, str) and name.endswith(f"-{prec}"):
        name = name[: -len(prec) - 1]
    rnd = _num(model, "prune_round")
    if rnd is not None and name.endswith(f"-r{rnd}"):
        name = name[: -len(f"-r{rnd}")]
    return name


def lineage_of(result: Mapping[str, Any]) -> tuple[str | None, str]:
    """(sha256 of the root FP32 model, root name) from the result's `model.lineage` (bench/runner.py).

    A result without it (an older edgebench, or a pruned round whose FP32 parent is not recorded) gives
    (None, the model name's stem); the report then groups it by name and says so.
    """
    model = result["model"]
    lin = model.get("lineage")
    stem = name_stem(model)
    if isinstance(lin, Mapping):
        name = lin.get("root_name") if isinstance(lin.get("root_name"), str) and lin.get("root_name") else stem
        root = lin.get("root_sha256")
        return (root if isinstance(root, str) and root else None), str(name)
    return None, stem


def row_from_result(result: dict[str, Any], source: str) -> Row:
    """Flatten one validated result: the only place that knows where the report's figures live in the file."""
    lat, mem, opts, model = result["latency"], result["memory"], result["options"], result["model"]
    precision = effective_precision(result)
    acc = result.get("accuracy") if isinstance(result.get("accuracy"), dict) else {}
    rt_info = (result.get("runtime") or {}).get("info") or {}
    size = _num(rt_info, "file_size_mb") or model["file_size_mb"]
    lo, hi = [*lat["p50_ci95_ms"], lat["p50_ms"], lat["p50_ms"]][:2]
    return Row(
        source=source, created_utc=result["created_utc"], machine=machine_from_fingerprint(result["machine"]),
        variant=variant_name(result, precision), arch=model.get("arch"), precision=precision,
        sha256=model["sha256"], runtime=result["runtime"]["name"], runtime_version=result["runtime"]["version"],
        batch=opts["batch"], threads=opts["threads"], graph_optimization=opts.get("graph_optimization"),
        p50_ms=lat["p50_ms"], ci_lo_ms=float(lo), ci_hi_ms=float(hi), p90_ms=lat["p90_ms"], p99_ms=lat["p99_ms"],
        min_ms=lat["min_ms"], throughput=_num(result.get("throughput"), "items_per_s") or lat["throughput_items_per_s"],
        peak_rss_mb=mem["peak_rss_mb"],
        file_size_mb=float(size), params=_num(model, "params"), macs=_num(model, "macs"),
        top1_pct=_num(acc, "top1_pct"), top5_pct=_num(acc, "top5_pct"), accuracy_n=_num(acc, "n"),
        accuracy_dataset=acc.get("dataset") if isinstance(acc.get("dataset"), str) else None,
        noisy=bool(lat["noisy"]), prune_round=_num(model, "prune_round"), kind=str(result.get("kind", "bench")),
        raw=result, lineage_root=lineage_of(result)[0], lineage_name=lineage_of(result)[1],
        task=str(model.get("task") or "classification"), map_pct=_num(acc, "map_pct"),
        map50_pct=_num(acc, "map50_pct"),
        e2e_p50_ms=_num(result.get("end_to_end") if isinstance(result.get("end_to_end"), dict) else {},
                        "e2e_p50_ms"),
    )


def prune_run_from_summary(data: dict[str, Any], path: Path) -> dict[str, Any]:
    rounds = data.get("rounds")
    if not isinstance(rounds, list) or not all(isinstance(r, dict) and isinstance(r.get("round"), int)
                                               for r in rounds):
        raise ResultSchemaError(f"pruning summary '{path}' has no list of rounds; re-run edgebench prune")
    return {"source": str(path), "arch": data.get("arch"), "importance": data.get("importance"),
            "scope": data.get("scope"), "rounds": sorted(rounds, key=lambda r: r["round"])}


def _ratio(r: Any) -> dict[str, Any] | None:
    """An interleave ratio ({"median": m, "ci95": [lo, hi], "rounds": n}) checked, else None (m finite, > 0)."""
    m = _num(r, "median")
    if not isinstance(r, dict) or m is None or not math.isfinite(m) or m <= 0:
        return None
    ci = r.get("ci95")
    ok = isinstance(ci, list) and len(ci) == 2 and all(isinstance(x, int | float) and not isinstance(x, bool)
                                                        and math.isfinite(x) for x in ci)
    return {"median": float(r["median"]), "ci95": [float(ci[0]), float(ci[1])] if ok else None,
            "rounds": _num(r, "rounds")}


def interleave_from_file(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """A `bench --interleave` file as one paired comparison: every model's ratio to the first, with its CI."""
    models, machine = data.get("models"), data.get("machine")
    if not isinstance(models, list) or len(models) < 2 or not all(
            isinstance(m, dict) and isinstance(m.get("name"), str) and _ratio(m.get("ratio_vs_first"))
            for m in models):
        raise ResultSchemaError(f"interleave file '{path}' has no list of >= 2 models with a ratio_vs_first; "
                                "re-run edgebench bench A B --interleave")
    if not isinstance(machine, dict):
        raise ResultSchemaError(f"interleave file '{path}' has no machine fingerprint; re-run edgebench bench "
                                "A B --interleave")
    opts = data.get("options") if isinstance(data.get("options"), dict) else {}
    rt = data.get("runtime") if isinstance(data.get("runtime"), dict) else {}
    return {"source": str(path), "created_utc": str(data.get("created_utc") or ""),
            "machine": machine_from_fingerprint(machine), "runtime": str(rt.get("name") or "?"),
            "batch": opts.get("batch"), "threads": opts.get("threads"), "baseline": models[0]["name"],
            "models": [{"name": m["name"], "sha256": m.get("sha256"), "p50_ms": _num(m, "p50_ms"),
                        "ratio": _ratio(m["ratio_vs_first"]), "cpu_ratio": _ratio(m.get("cpu_ratio_vs_first"))}
                       for m in models]}


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
    interleaved: list[dict[str, Any]] = []
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
            machines.setdefault(pair["machine"].id, pair["machine"])
            interleaved.append(pair)
            continue
        BenchResult.from_dict(data, str(path))  # the one check of a result file
        row = row_from_result(data, str(path))
        machines.setdefault(row.machine_id, row.machine)
        rows.append(row)
        if data.get("kind") == "profile" and isinstance(data.get("profile"), dict):
            profiles.append({"label": row.label, "machine_id": row.machine_id, **data["profile"]})
    return LoadedResults(tuple(rows), machines, tuple(profiles), tuple(prune_runs), tuple(interleaved), tuple(notes))


def load_entries(args: Sequence[Path], prune_runs: list[dict[str, Any]] | None = None,
                 ) -> tuple[list[Row], dict[str, Machine], list[dict[str, Any]]]:
    """`load_results` as the previous layout returned it; pruning summaries are appended to `prune_runs`."""
    loaded = load_results(args)
    if prune_runs is not None:
        prune_runs.extend(loaded.prune_runs)
    return list(loaded.rows), loaded.machines, list(loaded.profiles)
