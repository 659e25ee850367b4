"""#29 items 1 and 3: the scenarios against the `timed` runtime (run times known in advance), the early-stopping
p90 bound against the binomial worked by hand, the quantile CIs, the stability checks and --until-stable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from fractions import Fraction
from math import comb
from pathlib import Path

import numpy as np
import pytest
from edgebench.bench.harness import BenchConfig, measure
from edgebench.bench.stability import check_stability
from edgebench.bench.stats import (
    MIN_SEGMENTS,
    early_stopping_bound,
    median_ci_ranks,
    p50_ci,
    quantile_ci_ranks,
    summarize,
)
from edgebench.cli import app
from edgebench.errors import UserInputError
from edgebench.tools.synthetic import conv_net, timed_runtimes
from typer.testing import CliRunner

FAST = ["--in-process", "--warmup-iters", "1", "--json"]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return conv_net(tmp_path_factory.mktemp("scn") / "m.onnx")


def _bench(model: Path, out: Path, *args: str) -> dict:
    res = CliRunner().invoke(app, ["bench", str(model), "-o", str(out), *FAST, *args])
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


def _binom_cdf(n: int, p: float, t: int) -> Fraction:
    """P(binomial(n, p) <= t), exactly (p a multiple of 1/100)."""
    a = Fraction(p).limit_denominator(100)
    return sum((comb(n, k) * a ** k * (1 - a) ** (n - k) for k in range(t + 1)), Fraction(0))


@pytest.mark.parametrize("n", [44, 100, 1000, 3000])
def test_early_stopping_is_the_largest_overlatency_count_at_99_percent(n: int) -> None:
    es = early_stopping_bound(np.arange(1.0, n + 1.0))
    t = es["overlatency_queries"]
    assert _binom_cdf(n, 0.1, t) <= Fraction(1, 100) < _binom_cdf(n, 0.1, t + 1)  # the largest t, worked exactly
    assert es["bound_ms"] == float(n - t)  # the latency with t samples above it
    assert es["min_queries"] == 44  # 0.9^44 < 1 % < 0.9^43: MLPerf's minimum for p90 at 99 %


def test_early_stopping_needs_44_queries_and_approaches_p90() -> None:
    assert early_stopping_bound(np.arange(1.0, 44.0))["bound_ms"] is None
    big = early_stopping_bound(np.arange(1.0, 100_001.0))
    assert 90_000 < big["bound_ms"] < 90_300  # 100,000 queries: within 0.3 % of the plain p90


def test_quantile_ci_is_the_median_ci_at_one_half_and_covers_p90() -> None:
    for n in (1, 5, 6, 20, 101, 2000):
        assert quantile_ci_ranks(n, 0.5) == median_ci_ranks(n)
    lo, hi = quantile_ci_ranks(1000, 0.9)
    assert 1 - _binom_cdf(1000, 0.9, lo) - (1 - _binom_cdf(1000, 0.9, hi)) >= 0.95  # P(lo < B <= hi)
    s = summarize(list(range(1_000_000, 1_000_000 + 1000 * 1000, 1000)))
    assert s["p90_ci95_ms"][0] <= s["p90_ms"] <= s["p90_ci95_ms"][1]
    assert s["p99_ci95_ms"][0] <= s["p99_ms"] <= s["p99_ci95_ms"][1]
    assert s["p90_early_stopping"]["bound_ms"] >= s["p90_ms"]


def test_single_records_its_scenario_tails_and_bound(model: Path, tmp_path: Path) -> None:
    r = _bench(model, tmp_path, "-r", "timed", "--ro", "base_us=3000", "--min-queries", "60", "--min-seconds", "0")
    lat = r["latency"]
    assert lat["n"] == 60  # --min-queries: MLPerf's name for --min-iters
    assert lat["noisy"] == bool(lat["noisy_reasons"])  # noisy comes from the checks, with the reasons
    names = {c["name"] for c in lat["stability"]["checks"]}
    assert {"p50_ci_width", "cv", "min_below_median", "max_above_median", "sub_resolution", "cpu_share"} <= names
    assert all("threshold" in c["text"] for c in lat["stability"]["checks"])
    assert r["scenario"]["name"] == "single" and "throughput" not in r
    assert 3.0 <= lat["p50_ms"] < 6.0  # a 3 ms sleep
    assert lat["p90_ci95_ms"][0] <= lat["p90_ms"] <= lat["p90_ci95_ms"][1]
    assert lat["p90_early_stopping"]["queries"] == 60 and lat["p90_early_stopping"]["bound_ms"] >= lat["p90_ms"]


def test_multi_streams_add_up_and_split_the_threads(model: Path, tmp_path: Path) -> None:
    # 4 parallel 5 ms sleeps: 800 queries a second at best
    r = _bench(model, tmp_path, "-r", "timed", "--ro", "base_us=5000", "--ro", "serial=false", "-t", "4",
               "--scenario", "multi", "--streams", "2", "--min-iters", "20", "--min-seconds", "0.3")
    assert r["scenario"]["name"] == "multi" and r["scenario"]["streams"] == 2
    assert r["scenario"]["threads_per_stream"] == 2  # 4 threads // 2 streams
    assert len(r["throughput"]["streams"]) == 2
    assert 250 < r["throughput"]["items_per_s"] <= 2 * 1000 / 5 * 1.02  # two streams of 200/s each
    assert all(s["p99_ms"] >= 5.0 for s in r["throughput"]["streams"])


def test_multi_fps_search_finds_the_streams_a_serial_core_can_serve(model: Path, tmp_path: Path) -> None:
    # one "core" (a shared lock), 20 ms a frame, frames due together: N streams -> the last frame waits N x 20 ms;
    # within a p99 of 50 ms: 2 streams (40 ms), not 3 (60 ms)
    r = _bench(model, tmp_path, "-r", "timed", "--ro", "base_us=20000", "--scenario", "multi", "--fps", "5",
               "--p99-ms", "50", "--min-iters", "3", "--min-seconds", "0.3")
    sc = r["scenario"]
    assert sc["max_streams_at_fps"] == 2 and sc["streams"] == 2
    by_n = {s["streams"]: s["meets_budget"] for s in sc["search"]}
    assert by_n[1] and by_n[2] and not by_n[3]
    assert sc["p99_budget_ms"] == 50


def test_offline_picks_the_batch_with_the_most_items_per_second(model: Path, tmp_path: Path) -> None:
    # a run costs 4 ms + 0.5 ms an item on one "core": batch 1 -> 222 items/s, batch 8 -> 1000 items/s
    r = _bench(model, tmp_path, "-r", "timed", "--ro", "base_us=4000", "--ro", "per_item_us=500", "-t", "2",
               "--scenario", "offline", "-b", "1,8", "--min-iters", "5", "--min-seconds", "0.2")
    sc = r["scenario"]
    assert sc["batch"] == 8 and r["options"]["batch"] == 8
    assert {(c["batch"], c["streams"]) for c in sc["configs"]} == {(1, 1), (1, 2), (8, 1), (8, 2)}
    assert 600 < r["throughput"]["items_per_s"] <= 1000 * 1.02


def test_a_runtime_that_cannot_run_a_scenario_says_why(model: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["bench", str(model), "-r", "timed-single-only", "--scenario", "offline",
                                   "-o", str(tmp_path / "out"), *FAST])
    assert res.exit_code == 2 and "cannot run --scenario offline: its sessions cannot run at once" in res.stderr
    assert not (tmp_path / "out").exists()


def test_stability_checks_print_thresholds_and_only_some_set_noisy() -> None:
    rng = np.random.default_rng(0)
    steady = (1_000_000 + rng.normal(0, 5_000, 2000)).astype(np.int64)
    ok = check_stability(steady, cpu_share=0.99, load_before=0.1, logical_cores=2)
    assert not ok["noisy"] and ok["reasons"] == []
    outlier = steady.copy()
    outlier[0] = 50_000_000  # one 50 ms stall: CV and max far off, the median and its CI untouched
    st = check_stability(outlier, cpu_share=0.99, load_before=0.1, logical_cores=2)
    checks = {c["name"]: c for c in st["checks"]}
    assert not checks["cv"]["ok"] and not checks["max_above_median"]["ok"] and not st["noisy"]
    assert "threshold 10%" in checks["cv"]["text"]
    busy = check_stability(steady, cpu_share=0.61, load_before=5.0, logical_cores=2)
    assert busy["noisy"] and any("the run got 61% of a core" in r for r in busy["reasons"])
    assert any("load average was 5.00 on 2 logical cores" in r for r in busy["reasons"])
    tiny = check_stability(np.full(100, 30, np.int64), cpu_share=1.0, load_before=0.0, logical_cores=2)
    assert any("clock ticks" in r for r in tiny["reasons"])  # 30 ns samples: under 100 ticks of a 1 ns clock


class _FakeClock:
    """A clock that only a run moves: 1 ms +- 20 % (seeded) a run, so the CI's width is known, load or not."""

    def __init__(self) -> None:
        self.now = 0
        self.rng = np.random.default_rng(0)

    def __call__(self) -> int:
        return self.now

    def run(self, feeds: object) -> dict:
        self.now += int(1_000_000 * self.rng.uniform(0.8, 1.2))
        return {}


def test_until_stable_goes_on_past_the_minimums_until_the_ci_is_narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    import edgebench.bench.harness as harness

    def timed(cfg: BenchConfig) -> object:
        clock = _FakeClock()
        monkeypatch.setattr(harness.time, "perf_counter_ns", clock)
        return measure(clock, {}, cfg)  # type: ignore[arg-type]

    base = {"warmup_iters": 0, "min_iters": 3, "min_seconds": 0.0, "max_seconds": 5.0}
    plain = timed(BenchConfig(**base))
    assert len(plain.samples_ns) == 3 and plain.stable is None
    stable = timed(BenchConfig(**base, until_stable=0.05))
    assert stable.stable is True and 3 < len(stable.samples_ns) < 5000  # went on, stopped before the cap
    xs = np.frombuffer(stable.samples_ns, np.int64).astype(float)
    lo, hi, segments = p50_ci(xs, stable.segment_starts)
    assert (hi - lo) / np.median(xs) <= 0.05 and segments == len(stable.segment_starts) >= MIN_SEGMENTS
    capped = timed(BenchConfig(**base, until_stable=0.0001))
    assert capped.stable is False and len(capped.samples_ns) >= 4900  # 5 s of 1 ms runs: the cap
    with pytest.raises(UserInputError, match="needs a time cap"):
        BenchConfig(until_stable=0.02)
    with pytest.raises(UserInputError, match="in \\(0, 1\\)"):
        BenchConfig(until_stable=2.0, max_seconds=5.0)


def test_compare_shows_a_throughput_table_and_plot(model: Path, tmp_path: Path) -> None:
    res_dir = tmp_path / "results"
    _bench(model, res_dir, "-r", "timed", "--ro", "base_us=2000", "--min-iters", "20", "--min-seconds", "0")
    _bench(model, res_dir, "-r", "timed", "--ro", "base_us=2000", "--ro", "serial=false", "--scenario", "multi",
           "--streams", "3", "-t", "3", "--min-iters", "20", "--min-seconds", "0")
    res = CliRunner().invoke(app, ["compare", str(res_dir), "-o", str(tmp_path / "report")])
    assert res.exit_code == 0, res.stderr
    md = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    section = md.split("## Throughput (bench --scenario multi / offline / server)")[1].split("\n## ")[0]
    line = next(x for x in section.splitlines() if "| multi |" in x)
    assert "| 3 x 1 |" in line  # 3 streams, 3 threads split one each
    items = float(line.split("|")[6])
    assert 600 < items <= 3 * 500 * 1.02  # three parallel 2 ms sleeps: at most 1500 items/s
    pytest.importorskip("matplotlib")
    assert (tmp_path / "report" / "plots" / "throughput.png").is_file()


def test_offline_refuses_fixed_inputs_before_loading(model: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["bench", str(model), "-r", "timed", "--scenario", "offline", "--shape",
                                   "1,3,16,16", "-o", str(tmp_path / "out"), *FAST])
    assert res.exit_code == 2 and "makes its own random inputs for each batch size" in res.stderr
    assert not (tmp_path / "out").exists()


def test_server_serves_poisson_arrivals_and_counts_the_queue(model: Path, tmp_path: Path) -> None:
    # one "core", 2 ms a query, 100 queries/s arriving: about 100 served a second, none faster than 2 ms
    r = _bench(model, tmp_path, "-r", "timed", "--ro", "base_us=2000", "--scenario", "server", "--qps", "100",
               "--min-iters", "60", "--min-seconds", "0")
    assert r["scenario"]["name"] == "server" and r["scenario"]["qps"] == 100
    assert 50 < r["throughput"]["queries_per_s"] < 200
    assert r["latency"]["min_ms"] >= 2.0 and r["latency"]["n"] >= 60


def test_server_search_finds_a_rate_below_what_the_core_serves(model: Path, tmp_path: Path) -> None:
    r = _bench(model, tmp_path, "-r", "timed", "--ro", "base_us=2000", "--scenario", "server", "--p99-ms", "10",
               "--min-iters", "20", "--min-seconds", "0.1")
    sc = r["scenario"]
    assert 0 < sc["max_qps_within_p99"] <= 500 * 1.02  # 2 ms a query on one "core": at most 500 queries/s
    for s in sc["search"]:
        assert s["meets_budget"] == (s["p99_ms"] <= 10)
    assert max(s["qps"] for s in sc["search"] if s["meets_budget"]) == sc["max_qps_within_p99"]
    assert any(not s["meets_budget"] for s in sc["search"])  # it went past the budget, then bisected back


@pytest.fixture(autouse=True, scope="module")
def _timed_runtimes() -> Iterator[None]:
    """The sleep-based test runtimes (tools/synthetic.py) of these tests, registered for this module only."""
    with timed_runtimes():
        yield


def test_pooled_streams_ci_spans_the_streams_levels() -> None:
    """Two streams 3 % apart (1.0 and 1.03 ms x 1-5 % noise): the pooled p50's CI spans both streams' medians
    (it spans each stream's segments' medians), where the samples' CI alone sits between them."""
    from edgebench.bench.scenarios import StreamsTiming
    from edgebench.bench.stats import median_ci

    rng = np.random.default_rng(0)
    t = StreamsTiming([(lv * 1e6 * (1 + rng.gamma(2.0, 0.01, 200))).astype(np.int64) for lv in (1.0, 1.03)], 1, 1.0)
    starts = t.segment_starts()
    assert starts == list(range(0, 400, 40))
    s = summarize(t.pooled(), segment_starts=starts)
    lo, hi = s["p50_ci95_ms"]
    stream_p50 = [float(np.median(x)) / 1e6 for x in t.samples_ns]
    assert s["p50_ci95_segments"] == 10 and lo <= min(stream_p50) and hi >= max(stream_p50)
    ilo, ihi = median_ci(t.pooled() / 1e6)
    assert ilo > min(stream_p50) and ihi < max(stream_p50)  # the samples' CI alone (before): between the two
