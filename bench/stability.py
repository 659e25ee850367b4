"""Whether a run's figures can be trusted: pyperf-like checks, each with its threshold, and the machine's load.

`noisy` is set by the checks marked `sets_noisy` (the p50 CI width, samples under the clock's resolution, the
CPU other programs used while the run timed, the CPU share the run got; where that CPU cannot be read, the load
average before the run); the others (CV, min/max distance from the median, the p90-p10
spread) are printed with their thresholds but only describe the distribution: one slow run in a thousand moves
them without making the median wrong. The reasons go into the result (`latency.noisy_reasons`).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from edgebench.bench.stats import NOISY_CI, NOISY_SPREAD, p50_ci

CV_MAX = 0.10  # pyperf: "the standard deviation is more than 10 % of the mean"
MIN_BELOW_MEDIAN_MAX = 0.5  # pyperf: the minimum 50 % below the mean (here: the median)
MAX_ABOVE_MEDIAN_MAX = 0.5  # pyperf: the maximum 50 % above the mean (here: the median)
RESOLUTION_TICKS = 100  # a sample shorter than 100 ticks of the clock is mostly clock
SUB_RESOLUTION_MAX = 0.01  # ... and more than 1 % of such samples make the run noisy
LOAD_PER_CORE_MAX = 1.0  # 1-minute load average per logical core before the run: the machine was already full
CPU_SHARE_MIN = 0.8  # the run's process got less than 80 % of a core while it timed: something else ran
# other programs (and the hypervisor's steal) used more than a quarter of a core while the run timed. Measured
# from /proc/stat, minus this process: unlike the load average, it does not count this process's own recent work
# (a 2-thread run just before keeps the 1-minute load near 2 for a minute, while the machine is idle).
OTHERS_CORES_MAX = 0.25


@dataclass(frozen=True)
class Check:
    """One check: its measured value, the threshold it is held to, and whether failing it makes the run noisy."""

    name: str
    value: float
    threshold: float
    ok: bool
    sets_noisy: bool
    text: str


@dataclass(frozen=True)
class CpuWindow:
    """Wall and process CPU time at the start of a timed loop, the machine's busy CPU time (/proc/stat) and the
    load average then."""

    wall_s: float
    cpu_s: float
    load1: float | None
    machine_busy_s: float | None = None

    @classmethod
    def start(cls) -> CpuWindow:
        return cls(time.perf_counter(), time.process_time(), _load1(), machine_busy_s())

    def share(self) -> float:
        """Process CPU seconds per wall second since the start: 1.0 is one core, all the time."""
        wall = time.perf_counter() - self.wall_s
        return (time.process_time() - self.cpu_s) / wall if wall > 0 else 0.0

    def others(self) -> float | None:
        """CPU cores other programs (and the hypervisor's steal) used since the start, on average: the machine's
        busy CPU seconds less this process's, per wall second; None where /proc/stat cannot be read."""
        busy = machine_busy_s()
        wall = time.perf_counter() - self.wall_s
        if busy is None or self.machine_busy_s is None or wall <= 0:
            return None
        return max(0.0, (busy - self.machine_busy_s - (time.process_time() - self.cpu_s)) / wall)


def machine_busy_s(stat: str = "/proc/stat") -> float | None:
    """Seconds every CPU of the machine spent busy since boot (user, nice, system, irq, softirq, steal: the first
    line of /proc/stat; guest time is inside user); None where unreadable (not Linux)."""
    try:
        with open(stat, encoding="ascii") as f:
            fields = f.readline().split()
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _load1() -> float | None:
    try:
        return float(os.getloadavg()[0])
    except OSError:  # not on this OS
        return None


def check_stability(samples_ns: Any, *, cpu_share: float | None, load_before: float | None,
                    logical_cores: int | None = None, segment_starts: list[int] | None = None,
                    others_cores: float | None = None) -> dict[str, Any]:
    """The checks of one run's samples (ns, in time order; `segment_starts` as `stats.p50_ci`) and machine
    state; returns `{noisy, reasons, checks, load, cpu}`.

    >>> r = check_stability([1_000_000] * 50, cpu_share=0.61, load_before=0.2, logical_cores=2)
    >>> r["noisy"], r["reasons"]
    (True, ['the run got 61% of a core (threshold 80%): other programs took the CPU'])

    `others_cores` (`CpuWindow.others`): the CPU other programs used while it timed; given, it sets `noisy` and
    the load average before the run is only printed (it also counts this process's own recent work).
    """
    timed = np.asarray(samples_ns, dtype=np.float64)
    lo, hi, segments = p50_ci(timed, segment_starts)
    ns = np.sort(timed)
    med = float(np.median(ns))
    mean = float(ns.mean())
    std = float(ns.std(ddof=1)) if ns.size > 1 else 0.0
    p10, p90 = np.percentile(ns, [10, 90])
    tick_ns = time.get_clock_info("perf_counter").resolution * 1e9
    sub = float(np.count_nonzero(ns < RESOLUTION_TICKS * tick_ns) / ns.size)
    cores = logical_cores or os.cpu_count() or 1
    rel = (lambda v: v / med) if med > 0 else (lambda v: 0.0)
    cv = std / mean if mean > 0 else 0.0
    checks = [
        Check("p50_ci_width", rel(hi - lo), NOISY_CI, rel(hi - lo) <= NOISY_CI, True,
              f"the p50's 95 % CI is {rel(hi - lo):.1%} of the p50 wide (threshold {NOISY_CI:.0%}"
              + (f"; it spans the medians of {segments} contiguous segments of the run)" if segments
                 else ")")),
        Check("sub_resolution", sub, SUB_RESOLUTION_MAX, sub <= SUB_RESOLUTION_MAX, True,
              f"{sub:.1%} of the samples are under {RESOLUTION_TICKS} clock ticks ({RESOLUTION_TICKS * tick_ns:g} ns; "
              f"threshold {SUB_RESOLUTION_MAX:.0%})" + ("" if sub <= SUB_RESOLUTION_MAX else
                                                         ": time batches, not single runs")),
        Check("cv", cv, CV_MAX, cv <= CV_MAX, False,
              f"the standard deviation is {cv:.1%} of the mean (threshold {CV_MAX:.0%})"),
        Check("min_below_median", rel(med - ns[0]), MIN_BELOW_MEDIAN_MAX, rel(med - ns[0]) <= MIN_BELOW_MEDIAN_MAX,
              False, f"the minimum is {rel(med - ns[0]):.1%} below the median (threshold {MIN_BELOW_MEDIAN_MAX:.0%})"),
        Check("max_above_median", rel(ns[-1] - med), MAX_ABOVE_MEDIAN_MAX, rel(ns[-1] - med) <= MAX_ABOVE_MEDIAN_MAX,
              False, f"the maximum is {rel(ns[-1] - med):.1%} above the median (threshold {MAX_ABOVE_MEDIAN_MAX:.0%})"),
        Check("spread_p90_p10", rel(p90 - p10), NOISY_SPREAD, rel(p90 - p10) <= NOISY_SPREAD, False,
              f"p90 - p10 is {rel(p90 - p10):.1%} of the p50 (threshold {NOISY_SPREAD:.0%})"),
    ]
    if others_cores is not None:
        ok = others_cores <= OTHERS_CORES_MAX
        checks.append(Check("others_cpu", others_cores, OTHERS_CORES_MAX, ok, True,
                            f"other programs used {others_cores:.2f} cores while it ran (threshold "
                            f"{OTHERS_CORES_MAX:g}, steal included)" + ("" if ok else ": the machine was busy")))
    if load_before is not None:
        per_core = load_before / cores
        ok = per_core <= LOAD_PER_CORE_MAX
        checks.append(Check("load_before_per_core", per_core, LOAD_PER_CORE_MAX, ok, others_cores is None,
                            f"the 1-minute load average was {load_before:.2f} on {cores} logical cores before the "
                            f"run ({per_core:.2f} a core; threshold {LOAD_PER_CORE_MAX:g}"
                            + (", this process's own recent work included)" if others_cores is not None else ")")
                            + ("" if ok else ": the machine was busy")))
    if cpu_share is not None:
        ok = cpu_share >= CPU_SHARE_MIN
        checks.append(Check("cpu_share", cpu_share, CPU_SHARE_MIN, ok, True,
                            f"the run got {cpu_share:.0%} of a core (threshold {CPU_SHARE_MIN:.0%})"
                            + ("" if ok else ": other programs took the CPU")))
    reasons = [c.text for c in checks if c.sets_noisy and not c.ok]
    rows = [asdict(c) | {"value": float(c.value), "ok": bool(c.ok)} for c in checks]  # no numpy scalars in JSON
    return {"noisy": bool(reasons), "reasons": reasons, "checks": rows, "load1_before": load_before,
            "load1_after": _load1(), "logical_cores": cores, "cpu_share_cores": cpu_share, "others_cores": others_cores}
