"""`make bench-sweep`: examples/sweep-resnet20.toml on this machine, embedded vs --ray local, then a second
run (cache hits only), and the recommendation at budgets 0.3 and 1.0 points. Prints a JSON summary.

    python scripts/bench_sweep.py [--sweep examples/sweep-resnet20.toml] [-o artifacts/bench-sweep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path


def edgebench(*args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", "from edgebench.cli import main; main()", *args], text=True,
                       capture_output=True, check=False)
    wall = time.perf_counter() - t0
    if p.returncode not in (0, 1):  # 1: some cell failed (reported in summary.json)
        sys.exit(f"edgebench {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
    return wall, p.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweep", default="examples/sweep-resnet20.toml")
    ap.add_argument("-o", "--output", default="artifacts/bench-sweep")
    ap.add_argument("--ray-cpus", default=None)
    a = ap.parse_args()
    out = Path(a.output)
    shutil.rmtree(out, ignore_errors=True)
    figures: dict[str, object] = {"sweep": a.sweep}
    wall, _ = edgebench("sweep", a.sweep, "-o", str(out / "embedded"))
    s = json.loads((out / "embedded" / "summary.json").read_text())
    figures["embedded"] = {"command_wall_s": wall, "sweep_wall_s": s["wall_s"], "counts": s["counts"],
                           "cells": s["cells"], "stages": len(s["nodes"])}
    ray_args = ["--ray", "local"] + (["--ray-cpus", a.ray_cpus] if a.ray_cpus else [])
    wall, _ = edgebench("sweep", a.sweep, "-o", str(out / "ray"), *ray_args)
    s = json.loads((out / "ray" / "summary.json").read_text())
    figures["ray_local"] = {"command_wall_s": wall, "sweep_wall_s": s["wall_s"], "counts": s["counts"]}
    wall, _ = edgebench("sweep", a.sweep, "-o", str(out / "embedded"))
    s = json.loads((out / "embedded" / "summary.json").read_text())
    figures["second_run"] = {"command_wall_s": wall, "sweep_wall_s": s["wall_s"], "counts": s["counts"]}
    for budget in ("0.3", "1.0"):
        _, text = edgebench("recommend", str(out / "embedded" / "results"), "--budget", budget)
        figures[f"recommend_{budget}"] = text.strip().splitlines()
    (out / "bench_sweep.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
