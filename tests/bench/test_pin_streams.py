"""#29 Measurement II: `--pin-streams`, each stream of multi/offline/server on CPUs of its own.

The `timed` test runtime records, inside each run, the CPUs its thread may use and those of the thread that
created its session (`tools.synthetic.TIMED_AFFINITY`), independently of what the result records: a stream that is
not pinned, or whose session was made in another thread, fails here.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from edgebench.bench.scenarios import ScenarioConfig, check_supported, offline, open_streams
from edgebench.bench.streams import StreamPool, split_cpus
from edgebench.cli import app
from edgebench.errors import UserInputError
from edgebench.tools.synthetic import TIMED_AFFINITY, conv_net, timed_runtimes
from typer.testing import CliRunner

FAST = ["--in-process", "--warmup-iters", "1", "--json", "--min-iters", "5", "--min-seconds", "0"]
ALLOWED = sorted(os.sched_getaffinity(0))
TWO_CPUS = pytest.mark.skipif(len(ALLOWED) < 2, reason="needs 2 CPUs this process may use")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return conv_net(tmp_path_factory.mktemp("pin") / "m.onnx")


@pytest.fixture(autouse=True, scope="module")
def _timed_runtimes() -> Iterator[None]:
    with timed_runtimes():
        yield


def _bench(model: Path, out: Path, *args: str) -> dict:
    TIMED_AFFINITY.clear()
    res = CliRunner().invoke(app, ["bench", str(model), "-r", "timed", "--ro", "serial=false", "-o", str(out),
                                   *FAST, *args])
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


def _refused(model: Path, tmp_path: Path, *args: str) -> str:
    res = CliRunner().invoke(app, ["bench", str(model), "-r", "timed", "-o", str(tmp_path / "out"), *FAST, *args])
    assert res.exit_code == 2, res.output
    assert not (tmp_path / "out").exists()  # refused before anything ran
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    return lines[0]


@TWO_CPUS
def test_each_stream_is_created_and_runs_on_its_own_cpu(model: Path, tmp_path: Path) -> None:
    a, b = ALLOWED[:2]
    r = _bench(model, tmp_path, "--scenario", "multi", "--streams", "2", "--pin-streams", "--cpus", f"{a},{b}")
    # read back inside each stream's runs: the thread that created the session and the one running it
    assert TIMED_AFFINITY["edgebench-stream-0"] == ({a}, {a})
    assert TIMED_AFFINITY["edgebench-stream-1"] == ({b}, {b})
    streams = r["placement"]["streams"]
    assert [s["cpus"] for s in streams] == [[a], [b]]
    assert [s["thread_allowed_cpus"] for s in streams] == [[a], [b]]
    assert all(s["session_threads_outside_cpus"] == 0 for s in streams)
    assert r["scenario"]["pin_streams"] is True and r["scenario"]["threads_per_stream"] == 1
    assert os.sched_getaffinity(0) == set(ALLOWED)  # the in-process run gave the CLI its CPUs back


@TWO_CPUS
def test_without_pin_streams_the_streams_share_the_cpus(model: Path, tmp_path: Path) -> None:
    r = _bench(model, tmp_path, "--scenario", "multi", "--streams", "2")
    assert TIMED_AFFINITY["edgebench-stream-0"] == (set(ALLOWED), set(ALLOWED))
    assert [s["cpus"] for s in r["placement"]["streams"]] == [None, None]
    assert "pin_streams" not in r["scenario"]


@TWO_CPUS
def test_server_streams_are_pinned_for_every_rate_tried(model: Path, tmp_path: Path) -> None:
    a, b = ALLOWED[:2]
    _bench(model, tmp_path, "--ro", "base_us=500", "--scenario", "server", "--streams", "2", "--p99-ms", "20",
           "--pin-streams", "--cpus", f"{a},{b}", "--max-seconds", "0.2")
    # one pool serves the back-to-back run and every rate of the search
    assert TIMED_AFFINITY["edgebench-stream-0"] == ({a}, {a})
    assert TIMED_AFFINITY["edgebench-stream-1"] == ({b}, {b})


def test_pin_streams_with_more_streams_than_cpus_is_refused(model: Path, tmp_path: Path) -> None:
    line = _refused(model, tmp_path, "--scenario", "multi", "--streams", str(len(ALLOWED) + 1), "--pin-streams")
    assert f"gives each of the {len(ALLOWED) + 1} streams CPUs of its own" in line
    assert "the CPUs this process may use holds" in line
    line = _refused(model, tmp_path, "--scenario", "server", "--qps", "10", "--streams", "2", "--pin-streams",
                    "--cpus", str(ALLOWED[0]))
    assert f"but --cpus holds 1 CPU ({ALLOWED[0]}); give --streams 1 or fewer" in line


@TWO_CPUS
def test_three_streams_on_two_cpus_are_refused(model: Path, tmp_path: Path) -> None:
    a, b = ALLOWED[:2]
    line = _refused(model, tmp_path, "--scenario", "multi", "--streams", "3", "--pin-streams", "--cpus", f"{a},{b}")
    assert line.endswith("give --streams 2 or fewer, or more CPUs with --cpus")


def test_pin_streams_belongs_to_the_scenarios_with_streams(model: Path, tmp_path: Path) -> None:
    line = _refused(model, tmp_path, "--pin-streams")
    assert "--pin-streams is an option of --scenario multi or offline or server, not --scenario single" in line


def test_split_keeps_smt_siblings_together(tmp_path: Path) -> None:
    for cpu in range(8):  # 4 cores x 2 threads, numbered as x86 Linux does: cpu i and i + 4 share core i
        topo = tmp_path / f"sys/devices/system/cpu/cpu{cpu}/topology"
        topo.mkdir(parents=True)
        (topo / "thread_siblings_list").write_text(f"{cpu % 4},{cpu % 4 + 4}\n")
    assert split_cpus(range(8), 4, tmp_path) == [(0, 4), (1, 5), (2, 6), (3, 7)]
    assert split_cpus(range(8), 2, tmp_path) == [(0, 1, 4, 5), (2, 3, 6, 7)]
    assert split_cpus((0, 1, 2), 2, tmp_path / "none") == [(0, 1), (2,)]  # sizes differ by one at most
    with pytest.raises(UserInputError, match="3 streams CPUs of its own, but the CPU list holds 2"):
        split_cpus((0, 1), 3)


def test_sessions_are_created_one_at_a_time_and_a_failed_load_is_raised() -> None:
    inside = threading.Semaphore(1)  # acquired without blocking: two loads at once would fail it

    def load(i: int) -> object:
        assert inside.acquire(blocking=False), "two sessions were being created at once"
        time.sleep(0.01)
        inside.release()
        if i == 2:
            raise RuntimeError("stream 2 cannot load")
        return object()

    with StreamPool(load, 2) as pool:
        seen: list[str] = []
        pool.run(lambda i, _s: seen.append(threading.current_thread().name))
        assert sorted(seen) == ["edgebench-stream-0", "edgebench-stream-1"]
    with pytest.raises(RuntimeError, match="stream 2 cannot load"):
        StreamPool(load, 3)


@TWO_CPUS
def test_offline_with_pinning_tries_at_most_one_stream_per_cpu() -> None:
    from edgebench.bench.harness import BenchConfig

    class Sess:
        def run(self, feeds: object) -> dict:
            time.sleep(0.001)
            return {}

    feeds = {"x": __import__("numpy").zeros((1, 1))}
    _, block, _ = offline(lambda _t: Sess(), lambda _b: feeds, [1], BenchConfig(warmup_iters=0, min_iters=2,
                          min_seconds=0.0), threads=8, pin=ALLOWED[:2])
    assert [c["streams"] for c in block["configs"]] == [1, 2]  # 4 and 8 need more CPUs than the 2 given
    with open_streams(lambda _t: Sess(), 2, 2, ALLOWED[:2]) as pool:
        assert [p["cpus"] for p in pool.placement()] == [[ALLOWED[0]], [ALLOWED[1]]]


def test_a_runtime_whose_sessions_take_turns_refuses_concurrent_streams() -> None:
    class Serial:
        name = "serial-test"
        serial_sessions = "its sessions take turns (a test runtime)"

    with pytest.raises(UserInputError, match="cannot run --scenario multi: its sessions take turns"):
        check_supported(Serial(), "multi")
    with pytest.raises(UserInputError, match="cannot serve --scenario server with --streams 2: its sessions"):
        check_supported(Serial(), "server", 2)
    check_supported(Serial(), "server")  # one session: nothing runs at once
    check_supported(Serial(), "offline")  # offline then tries one stream only (bench/runner.py)
    with pytest.raises(UserInputError, match="--pin-streams is an option of --scenario multi"):
        ScenarioConfig(pin_streams=True)


def test_a_server_stream_left_without_queries_is_reported_not_a_crash() -> None:
    import numpy as np
    from edgebench.bench.scenarios import StreamsTiming, throughput_block

    t = StreamsTiming([np.array([2_000_000, 3_000_000], np.int64), np.array([], np.int64)], 1, 0.01)
    streams = throughput_block(t)["streams"]  # was an IndexError (np.percentile of no samples)
    assert streams[1] == {"queries": 0, "p50_ms": None, "p99_ms": None} and streams[0]["queries"] == 2


@TWO_CPUS
def test_the_table_says_where_the_streams_ran(model: Path, tmp_path: Path) -> None:
    a, b = ALLOWED[:2]
    res = CliRunner().invoke(app, ["bench", str(model), "-r", "timed", "--ro", "serial=false", "-o", str(tmp_path),
                                   *[f for f in FAST if f != "--json"], "--scenario", "offline", "--pin-streams",
                                   "--cpus", f"{a},{b}"])
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("--pin-streams:"))
    assert line.endswith(f"read inside them: {a} | {b}") or line.endswith(f"read inside them: {a}-{b}"), line
