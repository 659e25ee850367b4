"""make bench-doctor: the doctor's known-bad suite (tools/doctor_cases.py), one table from one run.

For each case: the planted INT8 model is diagnosed (interleaved FP32/INT8 timing with ORT on 1 thread, the
case's own thread count for the oversubscription case; paired top-1 against FP32 on 400 synthetic images that
the FP32 model labels), every candidate fix is applied and measured the same way, and the best is picked
(`bench.doctor.best_trial`: >= 1.0x FP32 speed and <= 0.5 points lost, else keep FP32). Speed-up = median over
rounds of FP32 / INT8 CPU time (wall clock with more than one thread). Cases that depend on the CPU are
diagnosed for their fake fingerprint (the Zen3 case: AVX2 without VNNI); every figure is measured on this host.
About 1 minute on an idle 2-core machine; `--rounds`/`--iters` trade time for tighter figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from edgebench.bench import doctor as doc
from edgebench.bench.fingerprint import host_isa_summary
from edgebench.tools.doctor_cases import cases, dataset


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds per timing")
    ap.add_argument("--iters", type=int, default=30, help="runs per model per round")
    ap.add_argument("--images", type=int, default=400, help="images of the paired top-1")
    args = ap.parse_args()
    print(f"CPU: {host_isa_summary()}; load average (1 min) before: {os.getloadavg()[0]:.2f}", flush=True)
    t0 = time.time()
    rows, named = [], 0
    with tempfile.TemporaryDirectory(prefix="edgebench-bench-doctor-") as tmp:
        for i, case in enumerate(cases()):
            folder = Path(tmp) / f"case{i}"
            fp32, int8 = case.build(folder)
            data = dataset(fp32, args.images)
            d = doc.diagnose(int8, fp32, cpu=case.cpu, threads=case.threads, data=data, rounds=args.rounds,
                             iters=args.iters)
            trials = doc.try_fixes(d, int8, fp32, data, folder / "try", rounds=args.rounds, iters=args.iters)
            best = doc.best_trial(trials, d)
            named += case.cause in d.kinds
            fixed = [t for t in trials if t.candidate.cause == case.cause and t.fixes_cause
                     and not t.candidate.keep_fp32]
            rows.append((case.name, case.cause, ", ".join(d.kinds) or "none", d.speedup, d.drop_pts,
                         best.speedup if best else d.speedup, best.drop_pts if best else d.drop_pts,
                         doc.decision_line(d, best),
                         "; ".join(f"{t.candidate.label} ({t.speedup:.2f}x, {t.drop_pts:.2f})" for t in fixed)
                         or "none of the tried fixes"))
            print(f"  {case.name}: {d.verdict()}", file=sys.stderr, flush=True)
    print()
    print("| case | planted | causes found | speed before | drop before | speed after | drop after | decision "
          "(measured) | fixes its cause (speed, drop) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, planted, found, s0, d0, s1, d1, fix, by in rows:
        print(f"| {name} | {planted} | {found} | {s0:.2f}x | {d0:.2f} | {s1:.2f}x | {d1:.2f} | {fix} | {by} |")
    print()
    print(f"planted cause named in {named} of {len(rows)} cases; {time.time() - t0:.0f} s; load average (1 min) "
          f"after: {os.getloadavg()[0]:.2f}")
    return 0 if named == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
