"""Which deployment to pick: per machine, the Pareto front (accuracy vs a metric) and the best within a budget.

Pure functions of report rows (`report.data.Row`): the report (`edgebench compare`), `edgebench recommend`
and `edgebench sweep` share them. Rows are grouped by machine fingerprint id and batch: a latency is
only ranked against others from the same machine at the same batch size; and by task and model lineage
(`report.analysis.assign_lineages`): an accuracy budget counts from the FP32 model the deployments were
made from, never from another model's. Only rows with an accuracy (bench --eval, or a sweep) take part.

Accuracy is the task's headline figure (`edgebench.task.headline_of`, `Row.accuracy_pct`): top-1 for a
classifier, COCO mAP@0.5:0.95 for a detector; a budget is in points of it, and the texts name it.

Budget: a deployment qualifies when its paired accuracy drop is at most `budget` points: the difference to
its lineage's FP32 on the same images (``accuracy.paired``, written by `edgebench sweep`; see `paired_drop`).
A result without a paired block (plain `bench --eval`, sweeps from before it) falls back to its accuracy below
the reference, the most accurate unpruned FP32 result of that machine, with a warning; `reference_top1`
(`--reference`, a top-1 % or a detector's mAP %) always counts from that number, and is refused when the
results hold models of several tasks (one figure cannot be both). When the paired CI's upper bound of the drop
exceeds the budget the recommendation says so, and a sample too small to resolve the budget (one image = 100/N
points above a third of the budget) gets a warning with the number of images it would take (a detector's mAP
delta has no CI: a warning says so). The recommendation is
the qualifying deployment with the lowest metric; the margin to the runner-up is said to be inside the
measurement noise when the two p50 95 % confidence intervals overlap OR, when the results carry the
device's measured run-to-run drift (a sweep's ``sweep.drift``, sweep/drift.py), when the margin is at
most that drift in %. The CIs are sampling noise within one run; cells benched one after another on a
shared machine also differ by what changed between their runs, which only the drift measures. Without
a drift (plain `edgebench bench` results, older sweeps) only the CIs count, and the text says so.
File size has no noise; peak RSS has no noise estimate.

Example::

    recs = recommend(load_results([Path("results/")]).rows, budget=1.0, metric="p50_ms")
    recs[0].best.label, recs[0].margin_pct, recs[0].within_noise
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgebench.bench.report.data import Machine, Row
from edgebench.errors import NotFoundError, UserInputError, check_one_of, suggest
from edgebench.task import Headline, headline_of

METRICS = {"p50_ms": "p50 ms", "peak_rss_mb": "peak RSS MB", "file_size_mb": "file MB"}
TOP1 = headline_of(None)  # a classifier's headline accuracy (results from before `task` are classifiers)


def fig(v: float) -> str:
    """A figure with enough digits for sub-millisecond latencies.

    >>> fig(12.3456), fig(0.011649)
    ('12.346', '0.01165')
    """
    return f"{v:.3f}" if abs(v) >= 1 else f"{v:.4g}"


def metric_value(row: Row, metric: str) -> float:
    return float(getattr(row, metric))


def accuracy(row: Row) -> float:
    """The row's headline accuracy % (`Row.accuracy_pct`: top-1, a detector's mAP@0.5:0.95), 0 when absent."""
    return float(row.accuracy_pct or 0.0)


def check_metric(metric: str) -> str:
    check_one_of("--metric", metric, METRICS)
    return metric


def pareto_rows(rows: Sequence[Row], metric: str) -> list[Row]:
    """Rows no other row beats on both accuracy (higher) and `metric` (lower), sorted by the metric.

    A row is dominated when another is at least as accurate and at least as fast, and better on one.
    """
    front = []
    for r in rows:
        v, a = metric_value(r, metric), accuracy(r)
        dominated = any(
            (accuracy(o) >= a and metric_value(o, metric) <= v)
            and (accuracy(o) > a or metric_value(o, metric) < v) for o in rows if o is not r)
        if not dominated:
            front.append(r)
    return sorted(front, key=lambda r: (metric_value(r, metric), -accuracy(r)))


def row_drift_pct(row: Row) -> float | None:
    """The run-to-run drift (%) measured on the row's device by its sweep (``sweep.drift.drift_pct``), or None."""
    sweep = row.result.sweep
    drift = sweep.get("drift") if sweep is not None else None
    v = drift.get("drift_pct") if isinstance(drift, Mapping) else None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
        return None
    return float(v)


def device_name(row: Row) -> str:
    """The device a result was measured on: the sweep's device name, else the board or host name."""
    dev = row.result.sweep.get("device") if row.result.sweep is not None else None
    if isinstance(dev, str) and dev != "local":
        return dev
    return row.machine.board or row.machine.hostname or row.machine.id


@dataclass(frozen=True)
class PairedDrop:
    """A result's paired accuracy vs its lineage's FP32 on the same images (``accuracy.paired``), in points."""

    delta_pts: float  # the headline accuracy of this deployment minus its FP32's
    ci_lo_pts: float | None  # 95 % CI of delta_pts (None: the task gives none, a detector's mAP)
    ci_hi_pts: float | None
    n: int
    discordant: int | None  # images whose correctness changed (flips either way; None: not a classifier)
    baseline: str
    is_baseline: bool

    @property
    def drop_pts(self) -> float:
        return -self.delta_pts

    @property
    def drop_ci_hi_pts(self) -> float | None:
        """The largest drop the 95 % CI allows (None without a CI)."""
        return None if self.ci_lo_pts is None else -self.ci_lo_pts

    @property
    def ci_half_width_pts(self) -> float | None:
        return None if self.ci_lo_pts is None or self.ci_hi_pts is None else (self.ci_hi_pts - self.ci_lo_pts) / 2


def _finite(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def paired_drop(row: Row) -> PairedDrop | None:
    """The row's ``accuracy.paired`` block (`sweep.stages.stage_evaluate`), checked; None when absent or invalid.

    A classifier's holds the top-1 delta with its CI and flips; a detector's the mAP@0.5:0.95 delta alone
    (`map_delta_pts`; its box agreement is not a drop)."""
    acc = row.result.accuracy
    p = acc.rest.get("paired") if acc is not None else None  # not declared by the Accuracy record
    if not isinstance(p, Mapping) or row.accuracy_pct is None:
        return None
    head = headline_of(row.task)
    if head.ci_key is None:
        n, delta = p.get("n"), p.get(head.delta_key)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1 or not _finite(delta) or not -100 <= delta <= 100:
            return None
        return PairedDrop(float(delta), None, None, n, None, str(p.get("baseline") or "FP32"),
                          p.get("is_baseline") is True)
    n, delta, ci = p.get("n"), p.get(head.delta_key), p.get(head.ci_key)
    gained, lost = p.get("flipped_to_correct"), p.get("flipped_to_wrong")
    counts = (n, gained, lost)
    if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts) or not n \
            or gained + lost > n:
        return None
    if not _finite(delta) or not isinstance(ci, list | tuple) or len(ci) != 2 or not all(_finite(c) for c in ci):
        return None
    if not -100.0 <= ci[0] <= delta <= ci[1] <= 100.0:
        return None
    return PairedDrop(float(delta), float(ci[0]), float(ci[1]), n, gained + lost, str(p.get("baseline") or "FP32"),
                      p.get("is_baseline") is True)


def accuracy_drop(r: Row, reference_top1: float, paired: bool) -> float:
    """Points `r` loses: its paired drop vs its FP32 (`paired` and it has one), else its accuracy below the
    reference."""
    p = paired_drop(r) if paired else None
    return p.drop_pts if p is not None else reference_top1 - accuracy(r)


def budget_warnings(cands: Sequence[Row], budget: float, paired: bool, reference: str | None,
                    best: Row | None, reference_top1: float) -> list[str]:
    """What the figures cannot tell at this budget: unpaired fallbacks, and a sample too small to resolve it.

    `reference`: how the unpaired reference (`reference_top1` %) was chosen (None: `--reference` was given,
    unpaired on purpose). `cands` are of one task: a share of images (top-1) gets the binomial noise and the
    image count a budget needs; a detector's mAP, which has no CI here, a warning that says so.
    """
    out = []
    head = headline_of(cands[0].task)
    missing = [r for r in cands if paired_drop(r) is None]
    ns = [p.n if (p := paired_drop(r)) else r.accuracy_n for r in cands]
    n = min((x for x in ns if isinstance(x, int) and x > 0), default=None)
    if reference is not None and paired and missing:
        out.append(f"{len(missing)} result(s) have no paired accuracy (`bench --eval` results, or sweeps from before "
                   f"paired evaluation): their drop is unpaired, {head.name} below the {reference}; run the sweep "
                   "again for paired figures")
    elif reference is not None and not paired:
        q = min(max(reference_top1 / 100.0, 0.0), 1.0)
        noise = "" if n is None or not head.proportion else (
            f", each {head.name} with about +/-{196 * math.sqrt(q * (1 - q) / n):.1f} points of sampling error on "
            f"{n} images")
        out.append(f"no result has a paired accuracy (`bench --eval` results, or sweeps from before paired "
                   f"evaluation): the budget is held against unpaired {head.name} differences{noise}; run "
                   "`edgebench sweep` for paired figures")
    if not head.proportion:
        if paired:
            out.append(f"the paired {head.name} deltas have no confidence interval: on {n} images mAP moves by "
                       "sampling noise alone, so a drop near the budget may be noise; evaluate more images "
                       "([eval] limit, eval --limit) before relying on it")
        return out
    if n is None or not 0 < budget < math.inf:  # a zero (or non-finite) budget has no image count to reach
        return out
    bp = paired_drop(best) if (paired and best is not None) else None
    half = bp.ci_half_width_pts if bp is not None else None
    wide = bp is not None and not bp.is_baseline and half is not None and half > budget
    if 100.0 / n <= budget / 3 and not wide:
        return out
    text = (f"{n} images cannot resolve a {budget:g}-point budget: one image is {100.0 / n:.3g} points; "
            f"for one flip to be worth less than a third of the budget it takes at least "
            f"{images_for_one_flip(budget)} images")
    if bp is not None and not bp.is_baseline and bp.discordant and best is not None:
        q = 100.0 * bp.discordant / bp.n
        text += (f"; at the discordance observed for {best.label} ({q:.1f} % of the images changed), a 95 % CI of "
                 f"+/-{budget:g} points takes about {images_for_ci(q, bp.delta_pts, budget)} images")
    return [*out, text]


def images_for_one_flip(budget: float) -> int:
    """The fewest images on which one image (100/N points) is worth less than a third of `budget` points.

    >>> images_for_one_flip(0.3), images_for_one_flip(1.0)
    (1001, 301)
    """
    return math.floor(300.0 / budget) + 1


def images_for_ci(discordant_pct: float, delta_pts: float, budget: float, z: float = 1.96) -> int:
    """About how many images make the paired 95 % CI +/-`budget` points wide at this discordance.

    The paired difference's variance is (q - d^2) / N for a discordant share q and a difference d.

    >>> images_for_ci(2.0, 0.0, 0.3)  # 2 % of the images change: +/-0.3 points takes ~8,500 images
    8537
    """
    q, d = discordant_pct / 100.0, delta_pts / 100.0
    return math.ceil(z * z * max(q - d * d, 0.0) / (budget / 100.0) ** 2)


@dataclass(frozen=True)
class Recommendation:
    """The answer for one machine and batch size."""

    machine: Machine
    batch: int
    metric: str
    budget: float
    reference_top1: float  # the accuracy % the unpaired budget counts from (top-1, or a detector's mAP)
    reference: str  # how the reference was chosen
    candidates: tuple[Row, ...]
    front: tuple[Row, ...]
    best: Row | None
    runner_up: Row | None
    most_accurate: Row
    fastest: Row
    without_accuracy: int = 0
    lineage: str = ""  # the model lineage, named in the head line when the rows hold several
    paired: bool = False  # the budget was held against paired drops (accuracy.paired)
    warnings: tuple[str, ...] = ()
    headline: Headline = TOP1  # the accuracy the budget is in: top-1, a detector's mAP@0.5:0.95

    def drop(self, r: Row) -> float:
        """The accuracy points `r` loses: paired vs its FP32 when `paired` and it has one, else vs the reference."""
        return accuracy_drop(r, self.reference_top1, self.paired)

    def ci_note(self, r: Row) -> str:
        """'within budget on these images, but the CI reaches X points' when the paired CI exceeds the budget."""
        p = paired_drop(r) if self.paired else None
        hi = p.drop_ci_hi_pts if p is not None else None
        if hi is None or hi <= self.budget + 1e-9:
            return ""
        return f"; within budget on these images, but the CI reaches {hi:.2f} points"

    @property
    def margin(self) -> float | None:
        if self.best is None or self.runner_up is None:
            return None
        return metric_value(self.runner_up, self.metric) - metric_value(self.best, self.metric)

    @property
    def margin_pct(self) -> float | None:
        m = self.margin
        if m is None or self.best is None:
            return None
        base = metric_value(self.best, self.metric)
        return 100.0 * m / base if base else None

    @property
    def drift_pct(self) -> float | None:
        """The run-to-run drift measured on this device (the larger of the two compared results'), or None."""
        found = [d for r in (self.best, self.runner_up) if r is not None and (d := row_drift_pct(r)) is not None]
        return max(found) if found else None

    @property
    def cis_overlap(self) -> bool | None:
        if self.best is None or self.runner_up is None:
            return None
        return self.best.ci_hi_ms >= self.runner_up.ci_lo_ms

    @property
    def within_drift(self) -> bool | None:
        """|margin| <= the measured drift (both in % of the recommended p50); None without a drift."""
        drift, pct = self.drift_pct, self.margin_pct
        if drift is None or pct is None:
            return None
        return abs(pct) <= drift

    @property
    def within_noise(self) -> bool | None:
        """p50: the two 95 % CIs overlap, or the margin is within the measured drift. file size: exact (never
        noise). peak RSS: unknown (None)."""
        if self.best is None or self.runner_up is None:
            return None
        if self.metric == "p50_ms":
            return bool(self.cis_overlap or self.within_drift)
        if self.metric == "file_size_mb":
            return False
        return None

    @property
    def noise_rule(self) -> str | None:
        """The rule `within_noise` applied (p50 only)."""
        if self.metric != "p50_ms":
            return None
        if self.drift_pct is None:
            return "CIs only; drift not measured"
        return "p50 95 % CIs overlap or |margin| <= the measured run-to-run drift"

    def noise_text(self) -> str:
        """Why the margin is (not) inside the noise, naming the rule used."""
        if self.metric == "file_size_mb":
            return "exact (file sizes do not vary)"
        if self.metric != "p50_ms":
            return f"no noise estimate for {self.metric}"
        drift = self.drift_pct
        if drift is None:
            return ("inside the measurement noise (the p50 95 % CIs overlap; CIs only, drift not measured)"
                    if self.within_noise else "outside the measurement noise (CIs only; drift not measured)")
        if self.cis_overlap:
            return f"inside the measurement noise (the p50 95 % CIs overlap; run-to-run drift measured on this " \
                   f"device: {drift:.1f} %)"
        if self.within_drift:
            return f"inside the measurement noise: inside the run-to-run drift measured on this device ({drift:.1f} %)"
        return (f"outside the measurement noise (the p50 95 % CIs are apart and the margin exceeds the run-to-run "
                f"drift measured on this device, {drift:.1f} %)")

    def describe(self, r: Row) -> str:
        """resnet20-int8-x86-vnni/ort-cpu int8 t1 b1: top-1 91.30 %, p50 0.412 ms (0.410-0.415)."""
        v = metric_value(r, self.metric)
        text = f"{METRICS[self.metric]} {fig(v)}"
        if self.metric == "p50_ms":
            text += f" ({fig(r.ci_lo_ms)}-{fig(r.ci_hi_ms)})"
        p = paired_drop(r) if self.paired else None
        acc = "" if p is None or p.is_baseline else f" (paired {p.delta_pts:+.2f} points vs FP32" + (
            ")" if p.ci_lo_pts is None or p.ci_hi_pts is None else
            f", 95 % CI {p.ci_lo_pts:+.2f} to {p.ci_hi_pts:+.2f})")
        return (f"{r.variant}/{r.runtime} {r.precision or '?'} t{r.threads} b{r.batch}: {self.headline.name} "
                f"{accuracy(r):.2f} %{acc}, {text}")

    @property
    def points(self) -> str:
        """'mAP@0.5:0.95 points' for a detector; 'points' for a classifier (whose texts predate other tasks)."""
        return "points" if self.headline == TOP1 else f"{self.headline.name} points"

    def lines(self) -> list[str]:
        """The recommendation as text (first line = the answer); the CLI and the report print these."""
        model = f", model {self.lineage}" if self.lineage else ""
        if self.paired:
            head = (f"{self.machine.label} `{self.machine.id}`, batch {self.batch}{model}: budget {self.budget:g} "
                    f"points of paired {self.headline.name} drop vs each deployment's FP32 on the same images, "
                    f"ranked by {self.metric}")
            nothing = f"no deployment's paired drop is within {self.budget:g} points"
        else:
            head = (f"{self.machine.label} `{self.machine.id}`, batch {self.batch}{model}: budget {self.budget:g} "
                    f"{self.points} below {self.reference_top1:.2f} % ({self.reference}), ranked by "
                    f"{self.metric}")
            nothing = f"no deployment is within {self.budget:g} {self.points} of {self.reference_top1:.2f} %"
        out = [head]
        if self.best is None:
            out.append(f"{nothing}; the most accurate is {self.describe(self.most_accurate)}; the fastest is "
                       f"{self.describe(self.fastest)}")
        else:
            out.append(f"recommended: {self.describe(self.best)}{self.ci_note(self.best)}")
            if self.runner_up is None:
                out.append("runner-up: none (one deployment qualifies)")
            else:
                out.append(f"runner-up: {self.describe(self.runner_up)}; margin {fig(self.margin or 0.0)} "
                           f"({self.margin_pct:.1f} %), {self.noise_text()}")
        if self.without_accuracy:
            out.append(f"({self.without_accuracy} result(s) without an accuracy left out)")
        return out + [f"warning: {w}" for w in self.warnings]

    def front_rows(self) -> list[list[str]]:
        """The Pareto front as table cells: deployment, precision, threads, batch, top-1, metric, recommended."""
        rows = []
        for r in self.front:
            v = fig(metric_value(r, self.metric))
            if self.metric == "p50_ms":
                v += f" ({fig(r.ci_lo_ms)}-{fig(r.ci_hi_ms)})"
            rows.append([f"{r.variant}/{r.runtime}", r.precision or "?", str(r.threads), str(r.batch),
                         f"{accuracy(r):.2f}", v, "yes" if r is self.best else ""])
        return rows

    def front_header(self) -> list[str]:
        return ["deployment", "precision", "threads", "batch", f"{self.headline.name} %", METRICS[self.metric]
                + (" (95% CI)" if self.metric == "p50_ms" else ""), "recommended"]

    def to_dict(self) -> dict[str, object]:
        def d(r: Row | None) -> dict[str, object] | None:
            if r is None:
                return None
            p = paired_drop(r) if self.paired else None
            return {"variant": r.variant, "runtime": r.runtime, "precision": r.precision, "threads": r.threads,
                    "batch": r.batch, self.headline.key: r.accuracy_pct, "drop_pts": self.drop(r),
                    "paired_delta_pts": p.delta_pts if p else None,
                    "paired_delta_ci95_pts": [p.ci_lo_pts, p.ci_hi_pts] if p and p.ci_lo_pts is not None else None,
                    self.metric: metric_value(r, self.metric), "p50_ci95_ms": [r.ci_lo_ms, r.ci_hi_ms],
                    "source": r.source}

        return {"machine_id": self.machine.id, "machine": self.machine.label, "batch": self.batch,
                "lineage": self.lineage or None,
                "metric": self.metric, "budget_points": self.budget,
                f"reference_{self.headline.key}": self.reference_top1,
                "reference": self.reference, "recommended": d(self.best), "runner_up": d(self.runner_up),
                "margin": self.margin, "margin_pct": self.margin_pct, "within_noise": self.within_noise,
                "drift_pct": self.drift_pct, "noise_rule": self.noise_rule,
                "most_accurate": d(self.most_accurate), "fastest": d(self.fastest),
                "pareto_front": [d(r) for r in self.front], "candidates": len(self.candidates),
                "without_accuracy": self.without_accuracy, "paired": self.paired, "warnings": list(self.warnings)}


def _latest(rows: Sequence[Row]) -> list[Row]:
    """One row per deployment (variant, runtime, threads, batch, model sha256): the newest result."""
    best: dict[tuple[object, ...], Row] = {}
    for r in rows:
        k = (r.variant, r.runtime, r.threads, r.batch, r.sha256, r.kind)
        if k not in best or r.created_utc >= best[k].created_utc:
            best[k] = r
    return list(best.values())


def select_device(rows: Sequence[Row], device: str) -> list[Row]:
    """The rows of one machine named by sweep device name, board, host name or fingerprint id (prefix).

    Refuses a name that matches results from several machines: their latencies are not comparable.
    """
    hits = [r for r in rows if device in (device_name(r), r.machine.hostname, r.machine.board)
            or r.machine.id.startswith(device)]
    ids = sorted({r.machine.id for r in hits})
    if not hits:
        names = sorted({n for r in rows for n in (device_name(r), r.machine.hostname, r.machine.board, r.machine.id)
                        if n})
        raise NotFoundError(f"--device '{device}' matches no result; known: {', '.join(names)}."
                            f"{suggest(device, names)}")
    if len(ids) > 1:
        raise UserInputError(f"--device '{device}' matches results from {len(ids)} machines ({', '.join(ids)}); "
                             "latencies of different machines are not ranked together: give a fingerprint id")
    return hits


def recommend(rows: Sequence[Row], *, budget: float, metric: str = "p50_ms", device: str | None = None,
              reference_top1: float | None = None) -> list[Recommendation]:
    """One `Recommendation` per machine x batch x task x model lineage (never ranked across machines, tasks or
    models); each in points of its task's headline accuracy (top-1, a detector's mAP@0.5:0.95).

    `reference_top1`: the accuracy % every budget counts from instead (refused when the rows hold several tasks).
    """
    check_metric(metric)
    if not math.isfinite(budget) or budget < 0:
        raise UserInputError(f"--budget {budget:g} must be >= 0 accuracy points, a finite number (e.g. 1.0)")
    if reference_top1 is not None and not (math.isfinite(reference_top1) and 0 < reference_top1 <= 100):
        raise UserInputError(f"--reference {reference_top1:g} must be an accuracy % in (0, 100] (top-1, or a "
                             "detector's mAP@0.5:0.95; e.g. 91.3)")
    bench_rows = [r for r in rows if r.kind == "bench"]
    if device is not None:
        bench_rows = select_device(bench_rows, device)
    with_acc = [r for r in bench_rows if r.accuracy_pct is not None]
    if not with_acc:
        raise UserInputError("no result carries an accuracy (top-1, or a detector's mAP); bench with --eval DATASET "
                             "or run `edgebench sweep`, which evaluates every deployment")
    tasks = sorted({r.task for r in with_acc})
    if reference_top1 is not None and len(tasks) > 1:
        names = " and ".join(f"{t} ({headline_of(t).name})" for t in tasks)
        raise UserInputError(f"--reference {reference_top1:g} is one accuracy figure, but the results hold {names} "
                             "models; give the results of one task, or leave --reference out (each model's budget "
                             "then counts from its own FP32)")
    from edgebench.bench.report.analysis import assign_lineages

    latest = assign_lineages(_latest(bench_rows), [])
    several = len({r.lineage for r in latest}) > 1
    groups: dict[tuple[str, int, str, str], list[Row]] = defaultdict(list)
    missing: dict[tuple[str, int, str, str], int] = defaultdict(int)
    for r in latest:
        key = (r.machine.id, r.batch, r.task, r.lineage)
        if r.accuracy_pct is None:
            missing[key] += 1
        else:
            groups[key].append(r)
    out = []
    for key, cands in sorted(groups.items()):
        _mid, batch, task, lineage = key
        fp32 = [r for r in cands if r.precision == "fp32" and not r.prune_round]
        if reference_top1 is not None:
            ref, how = reference_top1, "given reference"
        elif fp32:
            top = max(fp32, key=accuracy)
            ref, how = accuracy(top), f"unpruned FP32 {top.variant}/{top.runtime}"
        else:
            top = max(cands, key=accuracy)
            ref, how = accuracy(top), f"most accurate result {top.label}; no unpruned FP32 result"

        # paired drops vs each lineage's FP32 where the results carry them (a sweep's), unless --reference
        paired = reference_top1 is None and any(paired_drop(r) is not None for r in cands)

        def order(r: Row) -> tuple[float, float, int, str]:
            return (metric_value(r, metric), accuracy_drop(r, ref, paired), r.threads, r.label)  # noqa: B023

        ok = sorted([r for r in cands if accuracy_drop(r, ref, paired) <= budget + 1e-9], key=order)
        best = ok[0] if ok else None
        out.append(Recommendation(
            machine=cands[0].machine, batch=batch, metric=metric, budget=float(budget), reference_top1=ref,
            reference=how, candidates=tuple(sorted(cands, key=order)), front=tuple(pareto_rows(cands, metric)),
            best=best, runner_up=ok[1] if len(ok) > 1 else None,
            most_accurate=min(cands, key=lambda r: (accuracy_drop(r, ref, paired),
                                                    metric_value(r, metric))),
            fastest=min(cands, key=order), without_accuracy=missing.get(key, 0), paired=paired,
            warnings=tuple(budget_warnings(cands, budget, paired, None if reference_top1 is not None else how,
                                           best, ref)),
            lineage=lineage if several else "", headline=headline_of(task)))
    return out


@dataclass(frozen=True)
class RecommendConfig:
    """`edgebench recommend`'s question: the budget in points of each model's headline accuracy (top-1, a detector's
    mAP@0.5:0.95), the metric ranked, one device (None: each), the accuracy % the budget counts from (None: the
    machine's unpruned FP32 result). Checked on construction."""

    budget: float = 1.0
    metric: str = "p50_ms"
    device: str | None = None
    reference_top1: float | None = None

    def __post_init__(self) -> None:
        check_metric(self.metric)


def recommend_files(paths: Sequence[Path], cfg: RecommendConfig) -> tuple[list[str], list[Recommendation]]:
    """`edgebench recommend`: read the result files and folders (a sweep folder, its results/ or result folders)
    and rank them; returns (the notes on skipped files, the recommendations)."""
    from edgebench.bench.report.data import collect_paths, load_results

    collect_paths(paths)  # a sweep folder, its results/ (one folder per device) or result folders and files
    loaded = load_results(paths)
    return list(loaded.notes), recommend(loaded.rows, budget=cfg.budget, metric=cfg.metric, device=cfg.device,
                                         reference_top1=cfg.reference_top1)


def recommendation_markdown(recs: Sequence[Recommendation]) -> list[str]:
    """The report's top section (Markdown lines); names from result files are escaped (`report.markdown`)."""
    from edgebench.bench.report.markdown import md_table, md_text

    out: list[str] = []
    for rec in recs:
        lines = rec.lines()
        out += [f"### {md_text(lines[0])}", ""] + [f"- {md_text(ln)}" for ln in lines[1:]] + [""]
        out += [f"Pareto front ({rec.headline.name} vs {rec.metric}):", "",
                md_table(rec.front_header(), rec.front_rows()), ""]
    return out
