"""`make bench-devices`: what `bench --on` costs, over real SSH to this machine (a loopback sshd).

1. `device setup` into a fresh workdir (wheel build + venv + install), timed.
2. Rounds, interleaved: `edgebench bench MODEL -t 1` here, then the same with `--on loop`; the p50s
   must agree within their noise (each result's 95% CI of the median is printed).
3. The fixed cost of `--on`: connect (device state check), push, pull; cold (first push into an
   empty store) and warm (everything already there).

Model: artifacts/resnet20 (FP32) when `make export` made it, else the synthetic conv net.
Writes artifacts/bench-devices.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EB = str(Path(sys.executable).parent / "edgebench")


def local_bench(model: Path, out: Path, args: list[str]) -> tuple[dict, float]:
    t0 = time.perf_counter()
    subprocess.run([EB, "bench", str(model), "-o", str(out), "--json", *args], check=True, capture_output=True)
    wall = time.perf_counter() - t0
    newest = max(out.glob("*.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(newest.read_text()), wall


def remote_bench(model: Path, out: Path, min_seconds: float) -> tuple[dict, float, dict]:
    """The Job `bench MODEL -t 1 --min-seconds S --warmup-iters 20 --on loop` sends."""
    from edgebench.bench.harness import BenchConfig
    from edgebench.bench.runner import Job
    from edgebench.devices.jobs import JobBatch
    from edgebench.devices.remote import run_jobs_on
    from edgebench.runtimes import get_runtime

    job = Job(model=str(model), options=get_runtime("ort-cpu").Options(intra_op_threads=1),
              bench=BenchConfig(warmup_iters=20, min_seconds=min_seconds, timeout_s=1800.0).__dict__.copy())
    t0 = time.perf_counter()
    (run,) = run_jobs_on("loop", [JobBatch((job,))], out, echo=lambda _: None)
    wall = time.perf_counter() - t0
    (path,) = run.pulled
    costs = dict(run.seconds, sent_bytes=sum(p.sent_bytes for p in run.pushed),
                 total_bytes=sum(p.total_bytes for p in run.pushed))
    return json.loads(path.read_text()), wall, costs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=REPO / "artifacts" / "resnet20")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--min-seconds", type=float, default=3.0)
    ap.add_argument("-o", type=Path, default=REPO / "artifacts" / "bench-devices.json")
    a = ap.parse_args()
    from edgebench.devices.registry import Device, DeviceRegistry
    from edgebench.devices.remote import setup
    from edgebench.tools.sshd import loopback_sshd

    with tempfile.TemporaryDirectory(prefix="bench-devices.") as tmp_s:
        tmp = Path(tmp_s)
        model = a.model if a.model.exists() else None
        if model is None:
            from edgebench.tools.synthetic import conv_net

            model = conv_net(tmp / "tiny" / "model.fp32.onnx", size=32, channels=32, n_convs=4).parent
        os.environ["EDGEBENCH_DEVICES"] = str(tmp / "devices.toml")
        os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")
        with loopback_sshd(tmp / "sshd") as sshd:
            reg = DeviceRegistry()
            reg.add(Device("loop", sshd.url(), python=sshd.python, workdir=str(tmp / "work"),
                           ssh_config=str(sshd.ssh_config)))
            (tmp / "wh").mkdir()
            t0 = time.perf_counter()
            setup(reg.get("loop"), wheelhouse=tmp / "wh", echo=lambda _: None)
            setup_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            setup(reg.get("loop"), wheelhouse=tmp / "wh", echo=lambda _: None)
            setup_again_s = time.perf_counter() - t0
            args = ["-t", "1", "--min-seconds", str(a.min_seconds), "--warmup-iters", "20"]
            rounds = []
            for i in range(a.rounds):
                loc, loc_wall = local_bench(model, tmp / "local", args)
                rem, rem_wall, costs = remote_bench(model, tmp / "remote", a.min_seconds)
                row = {"round": i, "local_p50_ms": loc["latency"]["p50_ms"],
                       "local_ci95_ms": loc["latency"]["p50_ci95_ms"], "on_p50_ms": rem["latency"]["p50_ms"],
                       "on_ci95_ms": rem["latency"]["p50_ci95_ms"], "local_wall_s": loc_wall,
                       "on_wall_s": rem_wall, **{f"on_{k}": v for k, v in costs.items()}}
                rounds.append(row)
                print(f"round {i}: local p50 {row['local_p50_ms']:.4f} ms (CI {row['local_ci95_ms'][0]:.4f}-"
                      f"{row['local_ci95_ms'][1]:.4f}) wall {loc_wall:.2f} s | --on p50 {row['on_p50_ms']:.4f} ms "
                      f"(CI {row['on_ci95_ms'][0]:.4f}-{row['on_ci95_ms'][1]:.4f}) wall {rem_wall:.2f} s; "
                      f"connect {costs.get('connect', 0):.3f} s push {costs.get('push', 0):.3f} s "
                      f"({costs['sent_bytes'] / 1e6:.2f} of {costs['total_bytes'] / 1e6:.2f} MB sent) "
                      f"pull {costs.get('pull', 0):.3f} s")
    med_local = statistics.median(r["local_p50_ms"] for r in rounds)
    med_on = statistics.median(r["on_p50_ms"] for r in rounds)
    cold, warm = rounds[0], rounds[1:]

    def fixed(r: dict) -> float:
        return r.get("on_connect", 0) + r.get("on_push", 0) + r.get("on_pull", 0)

    summary = {
        "model": str(a.model if a.model.exists() else "synthetic conv net (32x32, 4 convs)"),
        "setup_s": setup_s, "setup_again_s": setup_again_s,
        "median_local_p50_ms": med_local, "median_on_p50_ms": med_on, "ratio_on_vs_local": med_on / med_local,
        "fixed_cost_cold_s": fixed(cold), "fixed_cost_warm_s": statistics.median(fixed(r) for r in warm) if warm
        else None, "cold_sent_bytes": cold["on_sent_bytes"],
        "warm_sent_bytes": [r["on_sent_bytes"] for r in warm], "rounds": rounds,
    }
    a.o.parent.mkdir(parents=True, exist_ok=True)
    a.o.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"setup {setup_s:.1f} s (again: {setup_again_s:.1f} s); p50 local {med_local:.4f} ms vs --on {med_on:.4f} ms "
          f"(ratio {med_on / med_local:.3f}); fixed cost cold {summary['fixed_cost_cold_s']:.2f} s "
          f"({cold['on_sent_bytes'] / 1e6:.2f} MB sent), warm {summary['fixed_cost_warm_s'] or 0:.2f} s "
          f"(sent {summary['warm_sent_bytes']} bytes) -> {a.o}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
