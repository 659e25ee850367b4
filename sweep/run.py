"""`run_sweep`: check -> plan -> execute (embedded or Ray) -> results/ -> summary.json -> recommendation.

Layout of the output folder::

    DIR/cache/<key>/          one stage's artifacts + done.json (or error.json)
    DIR/results/<device>/     the bench result files of the grid (what `compare` and `recommend` read)
    DIR/summary.json          every node's status, seconds (a cached one's: when it ran) and error; this run's
                              wall time, mode and counts, and `runs`: every run's record in this folder
                              (start, wall time, counts); each device's measured drift (`drift`, sweep/drift.py)
    DIR/recommendation.md     per device: Pareto front + recommended deployment at each budget (+ .json)

Ctrl-C or SIGTERM: the running stages are stopped (a remote bench through `run_on`'s stop path) and
recorded as interrupted, results/ and summary.json are written from what finished, and `SweepInterrupted`
(a KeyboardInterrupt) is raised with a one-line message; the next run resumes.

Example::

    out = run_sweep(load_sweep(Path("examples/sweep-resnet20.toml")), Path("sweeps/r20"), SweepRunOptions())
    out.counts  # {"done": 12, "cached": 0, "failed": 0, "skipped": 0}
"""

from __future__ import annotations

import contextlib
import math
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgebench.atomic import ensure_writable_dir, write_json, write_text
from edgebench.errors import UserInputError
from edgebench.sweep.config import ALL_INSTALLED, LOCAL, SweepConfig, is_model_file
from edgebench.sweep.executor import (
    Executor,
    Outcome,
    check_ray,
    interrupt_signals,
    ray_session,
    read_done,
    stopping,
    sweep_dir_lock,
)
from edgebench.sweep.graph import Graph, Host, build_graph

if TYPE_CHECKING:
    from edgebench.devices.registry import Device

Log = Callable[[str], None]
STATUSES = ("done", "cached", "failed", "skipped")


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the sweep; the message is one line (what stopped, where the summary is)."""

    def __init__(self, message: str, outcome: SweepOutcome) -> None:
        super().__init__(message)
        self.message, self.outcome = message, outcome

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class SweepOutcome:
    graph: Graph
    outcomes: dict[str, Outcome]
    wall_s: float
    mode: str
    results_dir: Path
    recommendations: dict[float, list[Any]] = field(default_factory=dict)
    interrupted: str | None = None  # the signal that stopped it (SIGINT, SIGTERM), None when it ran to the end

    @property
    def counts(self) -> dict[str, int]:
        """Stages per status; an interrupted sweep adds `interrupted` and `not_run` (never started)."""
        c = Counter(o.status for o in self.outcomes.values())
        out = {s: c.get(s, 0) for s in STATUSES}
        if self.interrupted:
            out["interrupted"] = c.get("interrupted", 0)
            out["not_run"] = len(self.graph.nodes) - len(self.outcomes)
        return out

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes.values() if o.status == "failed"]


def _check_data(spec: str, data_dir: Path | None, what: str) -> None:
    from edgebench.calibration.datasets import load_dataset

    if spec.startswith("cifar10"):
        load_dataset(spec, data_dir, download=False, size=1)
    elif not Path(spec).exists():
        raise UserInputError(f"{what} '{spec}' does not exist; give cifar10[:train|:test], an .npz or an image folder "
                             "(a detector's [eval] data: a detection folder DIR with images/ and instances.json)")


@dataclass(frozen=True)
class Devices:
    """The sweep's remote devices: registry entries, fingerprint ids, and why a device cannot be used."""

    entries: dict[str, Device] = field(default_factory=dict)
    ids: dict[str, str | None] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def resolve_devices(cfg: SweepConfig, devices_config: Path | None = None) -> dict[str, Device]:
    """Each non-local device of [bench] devices from the device registry (a typo gets the closest name)."""
    remote = [d for d in cfg.bench.devices if d != LOCAL]
    if not remote:
        return {}
    from edgebench.devices.registry import DeviceRegistry
    from edgebench.errors import NotFoundError

    reg = DeviceRegistry(devices_config)
    out = {}
    for name in remote:
        try:
            out[name] = reg.get(name)
        except NotFoundError as e:
            raise NotFoundError(f"[bench] devices: {e} ('{LOCAL}' is this machine)") from None
    return out


def probe_devices(entries: dict[str, Device], log: Log | None = None) -> Devices:
    """`device check` of every device, in parallel, once per run: its fingerprint id, or why it cannot bench.

    A device that does not answer, has a too old Python, or runs another edgebench build (`device setup`)
    is not an error here: its cells fail with the reason and the other devices go on.
    """
    if not entries:
        return Devices()
    from concurrent.futures import ThreadPoolExecutor

    from edgebench.devices.agent import build_id
    from edgebench.devices.remote import check_python, probe
    from edgebench.devices.transport import Ssh, connect_timeout
    from edgebench.errors import EdgebenchError

    ours = build_id()

    def one(d: Device) -> tuple[str | None, str | None]:
        try:
            info = probe(Ssh(d, connect_timeout()))
            check_python(d, info)
        except EdgebenchError as e:
            return None, str(e)
        fp = info.get("fingerprint") or {}
        if not fp.get("id"):
            return None, f"device '{d.name}': no fingerprint ({info.get('fingerprint_error')})"
        inst = info.get("installed")
        if not inst or inst[1] != ours:
            have = f"build {inst[1]}" if inst else "no edgebench"
            return fp["id"], (f"device '{d.name}' has {have}, this edgebench is build {ours}: run "
                              f"edgebench device setup {d.name}")
        return fp["id"], None

    with ThreadPoolExecutor(max_workers=len(entries)) as pool:
        answers = dict(zip(entries, pool.map(one, entries.values()), strict=True))
    ids = {n: a[0] for n, a in answers.items()}
    errors = {n: a[1] for n, a in answers.items() if a[1]}
    for n, err in errors.items():
        (log or (lambda _m: None))(f"device {n}: its cells will fail: {err}")
    return Devices(dict(entries), ids, errors)


def preflight(cfg: SweepConfig, devices: Devices | None = None) -> Host:
    """Everything checked before any work: runtimes installed, data present, model files readable.

    `devices`: the probed remote devices (`probe_devices`); their fingerprint ids key the bench cells.
    """
    from edgebench.bench.fingerprint import fingerprint
    from edgebench.cpu import cpu_info
    from edgebench.runtimes import RUNTIMES, runtime_names

    installed = []
    for name in runtime_names():
        if RUNTIMES.get(name)().available():
            installed.append(name)
    for rt in cfg.bench.runtimes:
        if rt != ALL_INSTALLED and rt not in installed:
            raise UserInputError(f"runtime '{rt}' in [bench] runtimes is not installed here; "
                                 f"{RUNTIMES.get(rt).install_hint}")
    data_dir = Path(cfg.data_dir) if cfg.data_dir else None
    _check_data(cfg.eval.data, data_dir, "[eval] data")
    from edgebench.sweep.graph import expand_runtimes

    # INT8 calibrates on [quantize] calibration: ORT's presets, the converters' INT8 and torch-int8
    if any(p.kind == "int8" for p in cfg.quantize.parsed) or "torch-int8" in expand_runtimes(cfg, tuple(installed)):
        _check_data(cfg.quantize.calibration, data_dir, "[quantize] calibration")
    if cfg.prune.ratios and cfg.prune.finetune_epochs > 0:
        _check_data(cfg.prune.train_data, data_dir, "[prune] train_data")
    files: dict[str, str] = {}
    weights: dict[str, str | None] = {}
    for m in cfg.models:
        if is_model_file(m):
            from edgebench.artifact import ModelArtifact
            from edgebench.manifest import sha256_file

            art = ModelArtifact.resolve(Path(m))
            art.require_manifest("a sweep (input spec and preprocessing)")
            files[m] = sha256_file(art.path)
        else:
            import importlib.util

            if importlib.util.find_spec("torch") is None:
                raise UserInputError(f"model '{m}' is exported with torch: pip install 'edgebench[export]', or give "
                                     "an exported model folder")
            from edgebench.exporter.zoo import get_spec

            spec = get_spec(m)
            weights[m] = spec.weights.sha256 if spec.weights else None
            if spec.weights is None and not cfg.export.random_init:
                raise UserInputError(f"model '{m}' has no published weights; set random_init = true in [export] or "
                                     "export it yourself and give its folder")
    converters = []
    for name in installed:
        if getattr(RUNTIMES.get(name), "converts", ()):
            from edgebench.errors import RuntimeUnavailable
            from edgebench.runtimes.converters import get_converter

            try:
                get_converter(name)
            except RuntimeUnavailable:
                continue
            converters.append(name)
    return Host(cpu=cpu_info(), machine_id=fingerprint()["id"], runtimes=tuple(installed), file_sha256=files,
                weights_sha256=weights, device_ids=dict(devices.ids) if devices else {}, converters=tuple(converters))


def plan(cfg: SweepConfig, devices_config: Path | None = None, log: Log | None = None) -> Graph:
    """Check and expand the grid (no output written; remote devices are probed)."""
    entries = resolve_devices(cfg, devices_config)
    return build_graph(cfg, preflight(cfg, probe_devices(entries, log)))


# the grid size above which a sweep needs --yes (`yes=True`): a typo in a list multiplies the grid
MAX_CELLS_WITHOUT_YES = 500
# rough seconds per stage for the estimate (ResNet-20-sized models on a workstation; cached stages take none)
STAGE_SECONDS = {"export": 20.0, "import": 1.0, "prune": 30.0, "quantize": 10.0, "convert": 10.0, "evaluate": 5.0}
BENCH_OVERHEAD_S = 3.0  # a bench cell beyond its [bench] min_seconds: the fresh process, model load, warm-up
EPOCH_SECONDS = 60.0  # one [prune] fine-tuning epoch


def estimate_seconds(graph: Graph, cfg: SweepConfig) -> float:
    """A rough wall time of the whole grid run from scratch (embedded): stage counts x typical times.

    >>> from edgebench.sweep.config import SweepConfig
    >>> estimate_seconds(Graph({}, ()), SweepConfig(models=("resnet20",)))
    0.0
    """
    b = cfg.bench
    cell = BENCH_OVERHEAD_S + (min(b.min_seconds, b.max_seconds) if b.max_seconds is not None else b.min_seconds)
    per_stage = {**STAGE_SECONDS, "prune": STAGE_SECONDS["prune"] + EPOCH_SECONDS * cfg.prune.finetune_epochs,
                 "bench": cell}
    total = sum(per_stage[n.stage] for n in graph.nodes.values())
    return total + cell * min(b.repeat_cells, len(graph.cells)) * len(b.devices)


def duration_text(seconds: float) -> str:
    """42 s, 12 min, 3.5 h.

    >>> duration_text(42), duration_text(720), duration_text(12600)
    ('42 s', '12 min', '3.5 h')
    """
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def grid_text(graph: Graph, cfg: SweepConfig) -> str:
    """'4 cells, 8 stages (...); estimated ~1 min from scratch (cached stages take no time)'."""
    counts = Counter(n.stage for n in graph.nodes.values())
    return (f"{len(graph.cells)} cells, {len(graph.nodes)} stages (" + ", ".join(f"{k} {v}" for k, v in counts.items())
            + f"); estimated ~{duration_text(estimate_seconds(graph, cfg))} from scratch (cached stages take no "
            "time)")


def check_grid_size(graph: Graph, cfg: SweepConfig, yes: bool) -> None:
    """Refuse a grid of more than MAX_CELLS_WITHOUT_YES cells unless `yes` (before any work)."""
    n = len(graph.cells)
    if n > MAX_CELLS_WITHOUT_YES and not yes:
        raise UserInputError(
            f"the grid has {n} cells (estimated ~{duration_text(estimate_seconds(graph, cfg))}), more than "
            f"{MAX_CELLS_WITHOUT_YES}; check the lists of [bench] threads/batch/runtimes/devices, [quantize] "
            "precisions and [prune] ratios, or pass --yes to run it anyway")


def publish_results(graph: Graph, cache: Path, results_dir: Path,
                    drift: dict[str, dict[str, Any]] | None = None) -> int:
    """Rebuild ``results/<device>/`` from the finished bench cells of this grid; returns how many.

    `drift`: device -> its `sweep.drift.drift_record`; each published result of that device gets
    ``sweep.drift`` (the cached result.json stays as measured).
    """
    import json

    from edgebench.sweep.drift import result_drift

    tmp = results_dir.with_name(results_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    n = 0
    for key in graph.cells:
        done = read_done(cache, key)
        if done is None:
            continue
        node = graph.nodes[key]
        result = json.loads((cache / key / done["outputs"]["result"]).read_text(encoding="utf-8"))
        s = node.settings
        if drift and drift.get(s["device"]) and isinstance(result.get("sweep"), dict):
            result["sweep"]["drift"] = result_drift(drift[s["device"]])
        name = f"{s['variant']}.{s['runtime']}.b{s['batch']}.t{s['threads']}.{key[:10]}.json"
        write_json(ensure_writable_dir(tmp / s["device"]) / name, result)
        n += 1
    tmp.mkdir(parents=True, exist_ok=True)
    old = results_dir.with_name(results_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if results_dir.exists():
        results_dir.rename(old)
    tmp.rename(results_dir)
    shutil.rmtree(old, ignore_errors=True)
    return n


def device_drift(executor: Executor, cache: Path, log: Log) -> dict[str, dict[str, Any] | None]:
    """Per device of the lanes that got to their repeats: its drift record (None: no repeat finished)."""
    from edgebench.sweep.drift import drift_record

    out: dict[str, dict[str, Any] | None] = {}
    for device, pairs in sorted(executor.repeats.items()):
        rec = out[device] = drift_record(device, pairs, cache)
        if rec:
            log(f"drift @{device}: {rec['drift_pct']:.2f} % (largest |p50 change| of {rec['repeats']} cell(s) "
                "benched again after the others)")
    return out


def _repeat_status(executor: Executor, key: str) -> str:
    o = executor.repeat_outcomes.get(key)
    return o.status if o else "cached"


RUN_KEYS = ("started_utc", "wall_s", "mode", "counts", "interrupted")


def _run_record(r: Any) -> dict[str, Any] | None:
    """One entry of summary.json's `runs`, checked (it is read back from disk); None when it is not one."""
    if not isinstance(r, dict):
        return None
    wall, counts, started = r.get("wall_s"), r.get("counts"), r.get("started_utc")
    if isinstance(wall, bool) or not isinstance(wall, int | float) or not math.isfinite(wall) or wall < 0:
        return None
    if not isinstance(counts, dict) or not all(isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                                               and v >= 0 for k, v in counts.items()):
        return None
    if started is not None and not isinstance(started, str):
        return None
    return {k: r.get(k) for k in RUN_KEYS}


def previous_runs(summary: Path, log: Log) -> list[dict[str, Any]]:
    """The run records of an earlier summary.json in the folder (a summary from before `runs`: its one run).

    A summary that cannot be read, or records that are not run records, are dropped with a note."""
    import json

    if not summary.is_file():
        return []
    try:
        data = json.loads(summary.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        log(f"note: {summary} cannot be read ({type(e).__name__}): the earlier runs' records are dropped")
        return []
    if not isinstance(data, dict) or data.get("kind") != "edgebench.sweep":
        log(f"note: {summary} is not a sweep summary: the earlier runs' records are dropped")
        return []
    raw = data.get("runs") if "runs" in data else [data]
    runs = [_run_record(r) for r in raw] if isinstance(raw, list) else [None]
    if not all(runs):
        log(f"note: {summary}: {sum(1 for r in runs if r is None)} earlier run record(s) are not valid and are dropped")
    return [r for r in runs if r]


def node_records(graph: Graph, outcomes: dict[str, Outcome], cache: Path) -> list[dict[str, Any]]:
    """summary.json's `nodes`: a cached stage shows the seconds it took when it ran (its done marker), `cached`."""
    out = []
    for k, o in outcomes.items():
        rec = {**graph.nodes[k].to_dict(), "status": o.status, "seconds": o.seconds, "error": o.error,
               "cached": o.status == "cached"}
        if o.status == "cached":
            done = read_done(cache, k) or {}
            sec = done.get("seconds")
            ok = isinstance(sec, int | float) and not isinstance(sec, bool) and math.isfinite(sec) and sec >= 0
            rec["seconds"] = float(sec) if ok else None
        out.append(rec)
    return out


def recommend_results(results_dir: Path, budgets: tuple[float, ...], metric: str) -> dict[float, list[Any]]:
    """`bench.report.recommend.recommend` on the sweep's results, at each budget (empty when nothing was measured)."""
    from edgebench.bench.report.data import load_results
    from edgebench.bench.report.recommend import recommend

    paths = [d for d in sorted(results_dir.iterdir()) if d.is_dir() and any(d.glob("*.json"))]
    if not paths:
        return {}
    rows = load_results(paths).rows
    if not any(r.accuracy_pct is not None for r in rows):
        return {}
    return {b: recommend(rows, budget=b, metric=metric) for b in budgets}


def recommendation_text(recs: dict[float, list[Any]]) -> str:
    from edgebench.bench.report.recommend import recommendation_markdown

    out = ["# Recommendation", ""]
    for b, rs in recs.items():
        out += [f"## Budget {b:g} points", "", *recommendation_markdown(rs)]
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class SweepRunOptions:
    """How a sweep runs (not what it computes: that is the sweep file's `SweepConfig`).

    `ray`: None (embedded), 'local' or a cluster ADDRESS, with `ray_cpus` (local) and `ray_timeout` (seconds to
    wait for an ADDRESS); `devices_config`: the device registry file (default: `edgebench device`'s,
    $EDGEBENCH_DEVICES); `yes`: run a grid of more than MAX_CELLS_WITHOUT_YES cells (refused otherwise).
    """

    ray: str | None = None
    ray_cpus: int | None = None
    ray_timeout: float = 15.0
    devices_config: Path | None = None
    yes: bool = False

    def __post_init__(self) -> None:
        if self.ray_cpus is not None and self.ray_cpus < 1:
            raise UserInputError(f"--ray-cpus {self.ray_cpus} must be >= 1")


def _checked_plan(cfg: SweepConfig, opts: SweepRunOptions, say: Log) -> tuple[Devices, Graph]:
    """The devices (registry read, each probed), the graph and its size, and the Ray address: what `run_sweep`
    checks before anything is written."""
    devices = probe_devices(resolve_devices(cfg, opts.devices_config), say)
    graph = build_graph(cfg, preflight(cfg, devices))
    check_grid_size(graph, cfg, opts.yes)
    if opts.ray:
        check_ray(opts.ray, opts.ray_timeout)
    return devices, graph


def run_sweep(cfg: SweepConfig, out_dir: Path, options: SweepRunOptions | None = None, *,
              log: Log | None = None) -> SweepOutcome:
    """Run the whole grid into `out_dir` (resuming whatever is cached there), as `options` say.

    Raises `SweepInterrupted` on Ctrl-C/SIGTERM once the running stages are stopped and summary.json written.
    """
    say = log or (lambda _m: None)
    ray, ray_cpus, ray_timeout = (opts := options or SweepRunOptions()).ray, opts.ray_cpus, opts.ray_timeout
    devices, graph = _checked_plan(cfg, opts, say)  # all checks before the output folder exists
    from edgebench.bench.fingerprint import fingerprint

    machine_id = fingerprint()["id"]
    out_dir = ensure_writable_dir(Path(out_dir))
    cache = ensure_writable_dir(out_dir / "cache")
    with sweep_dir_lock(out_dir), interrupt_signals() as signals:
        say(f"sweep '{cfg.name}': {grid_text(graph, cfg)}; {'Ray ' + ray if ray else 'embedded'}")
        for note in graph.notes:
            say(f"note: {note}")
        started = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        t0 = time.perf_counter()
        executor = Executor(graph, cache, machine_id, log=say, devices=devices.entries, device_errors=devices.errors,
                            repeat_cells=cfg.bench.repeat_cells)
        interrupted: str | None = None
        try:
            if ray:
                with ray_session(ray, ray_cpus, ray_timeout) as ray_mod:
                    executor.ray = ray_mod
                    executor.run()
            else:
                executor.run()
        except KeyboardInterrupt:
            interrupted = signals[0] if signals else "SIGINT"
        outcomes = dict(executor.outcomes)
        wall = time.perf_counter() - t0
        results_dir = out_dir / "results"
        drift = device_drift(executor, cache, say)
        with stopping(say) if interrupted else contextlib.nullcontext():  # a 2nd Ctrl-C: results/ stays whole
            publish_results(graph, cache, results_dir, drift)
        recs = {} if interrupted else recommend_results(results_dir, cfg.recommend.budgets, cfg.recommend.metric)
        out = SweepOutcome(graph, outcomes, wall, f"ray {ray}" if ray else "embedded", results_dir, recs, interrupted)
        nodes = node_records(graph, outcomes, cache)
        if interrupted:  # the stages never started, so that the summary lists the whole grid
            nodes += [{**n.to_dict(), "status": "not run", "seconds": 0.0, "error": None, "cached": False}
                      for k, n in graph.nodes.items() if k not in outcomes]
        runs = [*previous_runs(out_dir / "summary.json", say),
                {"started_utc": started, "wall_s": wall, "mode": out.mode, "counts": out.counts,
                 "interrupted": interrupted}]
        write_json(out_dir / "summary.json", {
            "kind": "edgebench.sweep", "name": cfg.name, "mode": out.mode, "wall_s": wall, "counts": out.counts,
            "runs": runs, "cells": len(graph.cells), "notes": list(graph.notes), "interrupted": interrupted,
            "nodes": nodes,
            "drift": {d: ({**r, "cells": [{**c, "status": _repeat_status(executor, c["repeat_key"])}
                                          for c in r["cells"]]} if r else None) for d, r in drift.items()},
        })
        if recs:
            write_text(out_dir / "recommendation.md", recommendation_text(recs))
            write_json(out_dir / "recommendation.json",
                       {f"{b:g}": [r.to_dict() for r in rs] for b, rs in recs.items()})
    if interrupted:
        stopped = [o for o in outcomes.values() if o.status == "interrupted"]
        what = "; ".join(f"{o.label}: {o.error}" for o in stopped[:2]) + (f" (+{len(stopped) - 2} more)"
                                                                           if len(stopped) > 2 else "")
        c = out.counts
        raise SweepInterrupted(
            f"sweep stopped by {interrupted}" + (f": {what}" if what else "")
            + f"; {c['done'] + c['cached']} stage(s) done, {c['not_run'] + c['interrupted']} to go; "
            f"{out_dir / 'summary.json'}; run the same command again to resume", out)
    return out
