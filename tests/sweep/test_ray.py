"""The same tiny sweep embedded and on a real local Ray (ray.init, 2 CPUs; and `ray start --head` joined by
address): same stages, same keys, same statuses, same accuracies. Slow: Ray starts in ~10 s."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from edgebench.cli import app
from typer.testing import CliRunner

from tests.sweep.tiny_sweep import make_tiny

pytest.importorskip("ray")
pytestmark = pytest.mark.slow


def run(*args: object) -> dict:
    r = CliRunner().invoke(app, ["sweep", *[str(a) for a in args]])
    assert r.exit_code == 0, r.stderr
    return json.loads((Path(str(args[args.index("-o") + 1])) / "summary.json").read_text())


def accuracies(out: Path) -> dict[str, float]:
    return {json.loads(p.read_text())["sweep"]["variant"] + "/" + p.name.split(".")[1]:
            json.loads(p.read_text())["accuracy"]["top1_pct"] for p in (out / "results" / "local").glob("*.json")}


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = make_tiny(tmp_path_factory.mktemp("ray"))
    return root, run(root / "sweep.toml", "-o", root / "embedded")


def same_sweep(a: dict, b: dict) -> None:
    assert [(n["key"], n["stage"], n["status"]) for n in a["nodes"]] == \
        [(n["key"], n["stage"], n["status"]) for n in b["nodes"]]


def test_local_ray_agrees_with_embedded(embedded: tuple[Path, dict]) -> None:
    root, emb = embedded
    ray_summary = run(root / "sweep.toml", "-o", root / "ray-local", "--ray", "local", "--ray-cpus", "2")
    assert ray_summary["mode"] == "ray local" and ray_summary["counts"]["failed"] == 0
    same_sweep(emb, ray_summary)
    assert accuracies(root / "embedded") == accuracies(root / "ray-local")
    done = [json.loads((root / "ray-local" / "cache" / n["key"] / "done.json").read_text())
            for n in ray_summary["nodes"] if n["stage"] == "evaluate"]
    assert {d["pid"] for d in done} and os.getpid() not in {d["pid"] for d in done}  # ran in Ray workers
    # a second run with Ray: cache hits only, no task
    again = run(root / "sweep.toml", "-o", root / "ray-local", "--ray", "local", "--ray-cpus", "2")
    assert again["counts"] == {"done": 0, "cached": len(emb["nodes"]), "failed": 0, "skipped": 0}


@pytest.fixture()
def ray_head() -> Iterator[str]:
    ray_bin = Path(sys.executable).parent / "ray"
    if not ray_bin.exists():
        ray_bin = Path(shutil.which("ray") or "ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run([str(ray_bin), "start", "--head", f"--port={port}", "--num-cpus=2", "--node-ip-address=127.0.0.1",
                    "--include-dashboard=false", "--disable-usage-stats"], check=True, capture_output=True, env=env,
                   timeout=120)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(ray_bin), "stop"], capture_output=True, env=env, timeout=120, check=False)


def test_ray_cluster_by_address_agrees_with_embedded(embedded: tuple[Path, dict], ray_head: str) -> None:
    root, emb = embedded
    out = root / "ray-address"
    summary = run(root / "sweep.toml", "-o", out, "--ray", ray_head)
    assert summary["mode"] == f"ray {ray_head}"
    same_sweep(emb, summary)
    assert accuracies(root / "embedded") == accuracies(out)
