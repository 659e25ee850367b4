"""Issue #29 items 2, 4, 5: CPU placement (--cpus, big.LITTLE clusters, throttling), inputs bound once, cold start."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edgebench import cpu as cpumod
from edgebench.bench.fingerprint import dynamic_state
from edgebench.bench.harness import BenchConfig, measure
from edgebench.bench.runner import Job, choose_cpus, run_job, run_job_isolated, throttle_warnings
from edgebench.cpu import big_cpus, cpu_info
from edgebench.errors import UserInputError
from edgebench.system import format_cpus, parse_cpus

QUICK = {"warmup_iters": 1, "min_iters": 3, "min_seconds": 0.0}
ALLOWED = sorted(os.sched_getaffinity(0))


def rk3588_root(tmp: Path, *, capacity: bool = True, cpus: int = 8) -> Path:
    """A fake RK3588 /proc + /sys: cpu0-3 Cortex-A55 (1.8 GHz), cpu4-5 and cpu6-7 Cortex-A76 (2.256 / 2.304 GHz),
    cpufreq policies 0, 4, 6 and a thermal zone with an 85 C passive trip point. `cpus` < 8 keeps the first ones
    in the same A55-then-A76 pattern scaled down (cpu0 little, the rest big when cpus == 2)."""
    layout = ([("0xd05", 530, 1800000, 0)] * 4 + [("0xd0b", 1024, 2256000, 4)] * 2
              + [("0xd0b", 1024, 2304000, 6)] * 2)
    if cpus == 2:
        layout = [("0xd05", 530, 1800000, 0), ("0xd0b", 1024, 2304000, 1)]
    blocks = [f"processor\t: {i}\nFeatures\t: fp asimd asimddp\nCPU implementer\t: 0x41\nCPU part\t: {part}\n"
              for i, (part, *_rest) in enumerate(layout)]
    (tmp / "proc").mkdir(parents=True)
    (tmp / "proc/cpuinfo").write_text("\n".join(blocks))
    base = tmp / "sys/devices/system/cpu"
    for i, (_part, cap, mx, policy) in enumerate(layout):
        d = base / f"cpu{i}"
        (d / "cpufreq").mkdir(parents=True)
        if capacity:
            (d / "cpu_capacity").write_text(f"{cap}\n")
        (d / "cpufreq/cpuinfo_max_freq").write_text(f"{mx}\n")
        (d / "cpufreq/cpuinfo_min_freq").write_text("408000\n")
        (d / "cpufreq/scaling_governor").write_text("schedutil\n")
        pol = base / f"cpufreq/policy{policy}"
        pol.mkdir(parents=True, exist_ok=True)
        related = [str(j) for j, row in enumerate(layout) if row[3] == policy]
        (pol / "related_cpus").write_text(" ".join(related) + "\n")
        (pol / "scaling_cur_freq").write_text(f"{mx}\n")
        (pol / "scaling_max_freq").write_text(f"{mx}\n")
    z = tmp / "sys/class/thermal/thermal_zone0"
    z.mkdir(parents=True)
    (z / "type").write_text("soc-thermal\n")
    (z / "temp").write_text("45000\n")
    (z / "trip_point_0_type").write_text("passive\n")
    (z / "trip_point_0_temp").write_text("85000\n")
    (z / "trip_point_1_type").write_text("critical\n")
    (z / "trip_point_1_temp").write_text("115000\n")
    return tmp


# --- --cpus syntax ---------------------------------------------------------------------------------------------------

def test_parse_cpus_lists_and_ranges() -> None:
    assert parse_cpus("0-3") == (0, 1, 2, 3)
    assert parse_cpus("6, 0,2-3") == (0, 2, 3, 6)
    assert parse_cpus("0 - 1") == (0, 1)
    assert format_cpus(parse_cpus("0-3,6")) == "0-3,6"


@pytest.mark.parametrize(("value", "fragment"), [("x", "'x' is not a CPU number"), ("1-0", "runs backwards"),
                                                 ("", "is not a CPU number"), ("0,0-1", "names a CPU twice"),
                                                 ("-1", "'-1' is not a CPU number"), ("\u00b2", "is not a CPU"),
                                                 ("0-99999999999", "is above 8191")])
def test_parse_cpus_refuses(value: str, fragment: str) -> None:
    with pytest.raises(UserInputError, match=fragment):
        parse_cpus(value)


def test_cpus_outside_the_allowed_set_are_refused() -> None:
    with pytest.raises(UserInputError, match="CPU 99 does not exist"):
        choose_cpus((99,))
    with pytest.raises(UserInputError, match="does not apply to --interleave"):
        choose_cpus((ALLOWED[0],), interleave=True)


# --- affinity inside the worker --------------------------------------------------------------------------------------

def test_isolated_worker_runs_on_the_cpus_given(tiny_onnx: Path) -> None:
    cpu = ALLOWED[-1]
    measured = run_job_isolated(Job(model=str(tiny_onnx), bench=QUICK, cpus=(cpu,)))
    p = measured.to_dict()["placement"]
    assert p["cpus"] == [cpu]
    assert p["worker_allowed_cpus"] == [cpu]  # os.sched_getaffinity read inside the worker after the timed runs
    assert p["threads"] >= 1 and p["threads_outside_cpus"] == 0  # numpy's and ORT's threads too


def test_in_process_run_restores_the_affinity(tiny_onnx: Path) -> None:
    before = os.sched_getaffinity(0)
    measured = run_job(Job(model=str(tiny_onnx), bench=QUICK, cpus=(ALLOWED[0],)))
    assert measured.placement["worker_allowed_cpus"] == (ALLOWED[0],)
    assert os.sched_getaffinity(0) == before
    unpinned = run_job(Job(model=str(tiny_onnx), bench=QUICK)).to_dict()["placement"]
    assert unpinned["cpus"] is None and unpinned["worker_allowed_cpus"] == ALLOWED


def test_job_cpus_cross_to_the_worker_exactly() -> None:
    job = Job(model="m.onnx", cpus=[2, 3])  # type: ignore[arg-type]  # a list from JSON becomes a tuple
    assert job.cpus == (2, 3)
    assert Job.from_json(job.to_json()) == job
    with pytest.raises(UserInputError, match="CPU numbers"):
        Job(model="m.onnx", cpus=(-1,))


def test_bench_cli_records_cpus_and_defaults_threads_to_their_number(tiny_onnx: Path, tmp_path: Path) -> None:
    import json

    from edgebench.cli import app
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, ["bench", str(tiny_onnx), "--cpus", str(ALLOWED[0]), "--in-process", "--json",
                                 "--warmup-iters", "0", "--min-iters", "2", "--min-seconds", "0", "-o",
                                 str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["options"]["cpus"] == [ALLOWED[0]] and result["options"]["threads"] == 1
    assert result["placement"]["how"] == "--cpus"
    assert result["placement"]["worker_allowed_cpus"] == [ALLOWED[0]]


# --- big.LITTLE fingerprint ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("capacity", [True, False], ids=["cpu_capacity", "max-freq-only"])
def test_rk3588_clusters_and_big_cores(tmp_path: Path, capacity: bool) -> None:
    cpu = cpu_info(rk3588_root(tmp_path, capacity=capacity), machine="aarch64")
    clusters = cpu["clusters"]
    assert [c["cpus"] for c in clusters] == [[0, 1, 2, 3], [4, 5], [6, 7]]
    assert [c["core"] for c in clusters] == ["Cortex-A55", "Cortex-A76", "Cortex-A76"]
    assert [c["max_freq_mhz"] for c in clusters] == [1800.0, 2256.0, 2304.0]
    assert all(c["min_freq_mhz"] == 408.0 and c["governor"] == "schedutil" for c in clusters)
    assert [c["capacity"] for c in clusters] == ([530, 1024, 1024] if capacity else [None] * 3)
    assert cpu["big_cpus"] == [4, 5, 6, 7]  # both A76 clusters: within 10 % of the fastest
    assert cpu["min_freq_mhz"] == 408.0 and cpu["governor"] == "schedutil"


def test_homogeneous_cpu_has_no_big_cores(tmp_path: Path) -> None:
    assert big_cpus([{"cpus": [0, 1], "capacity": 1024, "max_freq_mhz": 1800.0}]) is None
    assert big_cpus([{"cpus": [0], "capacity": None, "max_freq_mhz": None},
                     {"cpus": [1], "capacity": None, "max_freq_mhz": 2000.0}]) is None


def test_default_pins_to_the_big_cores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if ALLOWED[:2] != [0, 1]:
        pytest.skip("needs CPUs 0 and 1 in this process's affinity")
    root = rk3588_root(tmp_path, cpus=2)  # cpu0 a LITTLE A55, cpu1 a big A76
    monkeypatch.setattr(cpumod, "cpu_info", lambda *a, **k: cpu_info(root, machine="aarch64"))
    cpus, how = choose_cpus(None)
    assert cpus == (1,) and "big cores 1" in how
    assert choose_cpus(None, interleave=True)[0] is None
    assert choose_cpus((0,)) == ((0,), "--cpus")  # an explicit --cpus wins


# --- governor, frequency, temperature before/after; throttling -------------------------------------------------------

def test_dynamic_state_records_caps_and_trip_points(tmp_path: Path) -> None:
    state = dynamic_state(rk3588_root(tmp_path))
    assert [p["cpus"] for p in state["cpufreq"]] == [[0, 1, 2, 3], [4, 5], [6, 7]]
    assert state["cpufreq"][2]["cap_freq_mhz"] == 2304.0
    assert state["thermal"][0]["threshold_c"] == 85.0 and state["thermal"][0]["temp_c"] == 45.0


def test_a_run_that_throttled_says_so(tmp_path: Path) -> None:
    root = rk3588_root(tmp_path)
    before = dynamic_state(root)
    assert throttle_warnings(before, dynamic_state(root)) == []
    (root / "sys/devices/system/cpu/cpufreq/policy6/scaling_max_freq").write_text("1608000\n")
    (root / "sys/class/thermal/thermal_zone0/temp").write_text("86500\n")
    warnings = throttle_warnings(before, dynamic_state(root))
    assert len(warnings) == 2
    assert "CPUs 6-7 throttled" in warnings[0] and "from 2304 to 1608 MHz" in warnings[0]
    assert "crossed 85 C" in warnings[1] and "45.0 -> 86.5 C" in warnings[1]


# --- inputs bound once -----------------------------------------------------------------------------------------------

class BindingSession:
    """Counts binds and bound runs; `run` must not be called by the timing loop."""

    def __init__(self) -> None:
        self.inputs: list = []
        self.outputs: list = []
        self.binds = self.bound_runs = self.runs = 0

    def bind(self, feeds: Mapping[str, np.ndarray]) -> Callable[[], object]:
        self.binds += 1

        def run() -> None:
            self.bound_runs += 1

        return run

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.runs += 1
        return {}


def test_timing_loop_binds_once_and_never_calls_run() -> None:
    s = BindingSession()
    t = measure(s, {}, BenchConfig(warmup_iters=4, min_iters=20, min_seconds=0.0))
    assert (s.binds, s.runs) == (1, 0)
    assert s.bound_runs == 1 + 4 + len(t.samples_ns)


def test_interleaved_rounds_bind_once_per_model_and_never_call_run(tiny_onnx: Path) -> None:
    """`bench A B --interleave` times the bound call, as `measure` does, not `session.run`."""
    from edgebench.bench.interleave import interleaved_latency

    seen: dict[str, BindingSession] = {}

    def wrap(key: str, sess: Any, feeds: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        seen[key] = BindingSession()
        return seen[key], feeds

    r = interleaved_latency({"a": tiny_onnx, "b": tiny_onnx}, rounds=3, iters=4, warmup=2, wrap=wrap)
    assert set(r) == {"a", "b"}
    for s in seen.values():  # warm-up 2, then per round one untimed run and 4 timed
        assert (s.binds, s.runs, s.bound_runs) == (1, 0, 2 + 3 * (1 + 4))


def test_streams_and_server_bind_once_per_stream_and_never_call_run() -> None:
    from edgebench.bench.scenarios import run_server, run_streams

    cfg = BenchConfig(warmup_iters=3, min_iters=10, min_seconds=0.0)
    streams = [BindingSession(), BindingSession()]
    t = run_streams(streams, {}, cfg)
    for s, samples in zip(streams, t.samples_ns, strict=True):
        assert (s.binds, s.runs, s.bound_runs) == (1, 0, 3 + samples.size)
    served = [BindingSession(), BindingSession()]
    t = run_server(served, {}, cfg, qps=2000.0)
    for s, samples in zip(served, t.samples_ns, strict=True):
        assert (s.binds, s.runs, s.bound_runs) == (1, 0, 3 + samples.size)


class CountingOrt:
    """An onnxruntime InferenceSession seen through a proxy that counts run / run_with_iobinding."""

    def __init__(self, sess: Any) -> None:
        self._sess, self.runs, self.bound = sess, 0, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sess, name)

    def run(self, *a: Any) -> Any:
        self.runs += 1
        return self._sess.run(*a)

    def run_with_iobinding(self, io: Any) -> None:
        self.bound += 1
        self._sess.run_with_iobinding(io)


def test_ort_binds_inputs_once(tiny_onnx_fixed: Path) -> None:
    from edgebench.runtimes import get_runtime
    from edgebench.runtimes.ort.session import OrtSession

    real = get_runtime("ort-cpu").load(tiny_onnx_fixed)
    proxy = CountingOrt(real.ort_session)
    sess = OrtSession(proxy)
    x = np.random.default_rng(0).standard_normal((1, 3, 16, 16), dtype=np.float32)
    t = measure(sess, {"input": x}, BenchConfig(warmup_iters=2, min_iters=5, min_seconds=0.0))
    assert proxy.runs == 0 and proxy.bound == 1 + 2 + len(t.samples_ns)


def test_openvino_bound_run_computes_what_run_does(tiny_onnx_fixed: Path) -> None:
    pytest.importorskip("openvino")
    from edgebench.runtimes import get_runtime

    rt = get_runtime("openvino")
    sess = rt.load(tiny_onnx_fixed, rt.Options(intra_op_threads=1))
    x = np.random.default_rng(1).standard_normal((1, 3, 16, 16), dtype=np.float32)
    want = next(iter(sess.run({"input": x}).values()))
    sess.request.get_output_tensor(0).data[:] = 0
    run = sess.bind({"input": x})
    run()
    np.testing.assert_allclose(sess.request.get_output_tensor(0).data, want, rtol=1e-6)


# --- cold start ------------------------------------------------------------------------------------------------------

COLD_KEYS = ["process_to_session_ms", "session_to_first_result_ms", "total_ms", "load_peak_rss_mb"]


def test_cold_start_fields_of_an_isolated_run(tiny_onnx: Path) -> None:
    cold = run_job_isolated(Job(model=str(tiny_onnx), bench=QUICK)).to_dict()["cold_start"]
    assert list(cold) == COLD_KEYS
    assert cold["process_to_session_ms"] > 0 and cold["session_to_first_result_ms"] > 0
    assert cold["total_ms"] == pytest.approx(cold["process_to_session_ms"] + cold["session_to_first_result_ms"])
    assert cold["load_peak_rss_mb"] > 0


def test_no_cold_start_in_process(tiny_onnx: Path) -> None:
    assert run_job(Job(model=str(tiny_onnx), bench=QUICK)).cold_start is None  # not a fresh process


def test_worker_peak_rss_is_its_own_not_its_parents(tiny_onnx: Path) -> None:
    """ru_maxrss carries the parent's high-water mark across fork + exec: a 200 MB parent made every isolated
    worker report >= 200 MB (peak_rss_hwm_mb, cold_start.load_peak_rss_mb); VmHWM is the worker's own."""
    ballast = np.ones(25_000_000)  # 200 MB resident in this (the parent) process
    measured = run_job_isolated(Job(model=str(tiny_onnx), bench=QUICK)).to_dict()
    assert ballast[-1] == 1.0
    assert measured["memory"]["peak_rss_hwm_mb"] < 150
    assert 0 < measured["cold_start"]["load_peak_rss_mb"] < 150
