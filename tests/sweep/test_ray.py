"""The same tiny sweep embedded and on a real local Ray (ray.init, 2 CPUs; and `ray start --head` joined by
address): same stages, same keys, same statuses, same accuracies. Slow: Ray starts in ~10 s."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
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
    """Same nodes; in any order: `nodes` lists them as they finished, and Ray runs two at a time."""
    assert sorted((n["key"], n["stage"], n["status"]) for n in a["nodes"]) == \
        sorted((n["key"], n["stage"], n["status"]) for n in b["nodes"])
    assert len(a["nodes"]) == len({n["key"] for n in a["nodes"]})  # no node twice


def test_local_ray_agrees_with_embedded(embedded: tuple[Path, dict]) -> None:
    root, emb = embedded
    ray_summary = run(root / "sweep.toml", "-o", root / "ray-local", "--ray", "local", "--ray-cpus", "2")
    assert ray_summary["mode"] == "ray local" and ray_summary["counts"]["failed"] == 0
    same_sweep(emb, ray_summary)
    assert accuracies(root / "embedded") == accuracies(root / "ray-local")
    done = [json.loads((root / "ray-local" / "cache" / n["key"] / "done.json").read_text())
            for n in ray_summary["nodes"] if n["stage"] == "evaluate"]
    assert {d["pid"] for d in done} and os.getpid() not in {d["pid"] for d in done}  # ran in Ray workers
    # the second run with Ray (cache hits only) is in the by-address test: joining is ~10 s faster than a new local Ray


@contextlib.contextmanager
def own_ray_head() -> Iterator[tuple[str, int]]:
    """`ray start --head --block` in a session of its own, with its own temp dir; yields (address, session id).

    The end stops that session's processes only, never `ray stop` (which stops every Ray process of this
    user on the machine, other people's sweeps and tests included).
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # token auth as this process's driver will have it: `ray start` turns it on when ~/.ray/auth_token exists,
    # a driver joining by address only when RAY_AUTH_MODE=token (which a local ray.init sets in this process)
    # no drain on SIGTERM: the killpg below stops the GCS too, so the head's drain request (30 s by default)
    # could only time out; nothing runs on this test head by then anyway
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled"),
           "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}
    tmp = Path(tempfile.mkdtemp(prefix="ebray-", dir="/tmp"))  # short: Ray's AF_UNIX socket paths live in it
    log = tmp / "head.log"
    with open(log, "wb") as out:
        head = subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
                                 f"--port={port}", "--num-cpus=2", "--node-ip-address=127.0.0.1",
                                 "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={tmp / 'ray'}"],
                                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "block forever" not in log.read_text(errors="replace"):
            assert head.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.2)
        yield f"127.0.0.1:{port}", head.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)  # --block: the head stops the processes it started, then exits
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(timeout=60)
        for pid in session_members(head.pid):  # whatever outlived it, in its session only
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if head.poll() is None:
            head.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


def session_members(sid: int) -> list[int]:
    """Live processes whose session id is `sid` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def test_ray_cluster_by_address_agrees_with_embedded_and_the_head_stops_only_its_own(embedded: tuple[Path, dict],
                                                                                     tmp_path: Path) -> None:
    """One head for both checks (a head takes ~10 s to start). Joined by address: the embedded sweep's stages and
    accuracies, and a second run is cache hits only, no task. Stopped: the head's processes are gone, and another
    'raylet' of this user (what `ray stop` would kill too) survives."""
    root, emb = embedded
    fake = tmp_path / "raylet"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", fake)
    other = subprocess.Popen([str(fake), "300"], start_new_session=True)
    try:
        with own_ray_head() as (address, sid):
            mine = session_members(sid)
            names = {Path(f"/proc/{p}/comm").read_text().strip() for p in mine if Path(f"/proc/{p}/comm").exists()}
            assert {"gcs_server", "raylet"} <= names, names
            out = root / "ray-address"
            summary = run(root / "sweep.toml", "-o", out, "--ray", address)
            assert summary["mode"] == f"ray {address}"
            same_sweep(emb, summary)
            assert accuracies(root / "embedded") == accuracies(out)
            again = run(root / "sweep.toml", "-o", out, "--ray", address)
            assert again["counts"] == {"done": 0, "cached": len(emb["nodes"]), "failed": 0, "skipped": 0}
        assert not session_members(sid)
        assert other.poll() is None  # the other 'raylet' still runs
    finally:
        other.kill()
        other.wait()
