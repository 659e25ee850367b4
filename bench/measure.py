"""One typed measurement call: `measure(artifact, runtime, options, config) -> BenchResult`.

What `edgebench bench` and the sweep's bench stage both do: wait for the board to cool, take the machine's
fingerprint, run the job (in a fresh process by default), assemble the result and attach the accuracy measured
beside it. `measure_all` loops it over threads x batch sizes. Example::

    artifact = ModelArtifact.resolve("artifacts/resnet20").hashed()
    result = measure(artifact, "ort-cpu", get_runtime("ort-cpu").Options(intra_op_threads=2), MeasureConfig())
    result.latency.p50_ms
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgebench.bench.harness import BenchConfig
from edgebench.bench.result import BenchResult
from edgebench.bench.scenarios import ScenarioConfig
from edgebench.errors import UserInputError

if TYPE_CHECKING:
    from edgebench.artifact import ModelArtifact
    from edgebench.bench.cooldown import Cooldown
    from edgebench.bench.runner import Job
    from edgebench.runtimes.options import RuntimeOptions


@dataclass(frozen=True)
class MeasureConfig:
    """How a model is measured, beside its runtime and the runtime's options.

    `bench`: the timing settings (`BenchConfig`'s fields; those left out take its defaults) as the result's
    `options` records them; `batch`: a dynamic batch dimension's size (None with `shape`); `cpus`/`pin_how`: the
    CPUs pinned to and why (`runner.choose_cpus`); `machine_id`: refuse to measure on a machine with another
    fingerprint id (a sweep's plan); `accuracy`: an evaluation of the same model to attach (its `warnings` join
    the result's)."""

    bench: Mapping[str, Any] = field(default_factory=dict)  # BenchConfig's fields, those given
    scenario: ScenarioConfig = field(default_factory=ScenarioConfig)
    batch: int | None = 1
    shape: tuple[int, ...] | None = None
    inputs_npz: str | None = None
    seed: int = 0
    cpus: tuple[int, ...] | None = None
    pin_how: str | None = None
    isolate: bool = True
    progress: bool = False
    cooldown: Cooldown | None = None
    machine_id: str | None = None
    verification: Mapping[str, Any] | None = None
    accuracy: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        BenchConfig(**self.bench)  # refused here, before anything runs
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise UserInputError(f"the seed (--seed) is {self.seed!r:.40}; it must be an integer >= 0")

    def job(self, model: str, runtime: str, options: RuntimeOptions, machine: dict[str, Any] | None = None,
            sha256: str | None = None) -> Job:
        """The measurement job of `model` (its `sha256` when hashed) in `runtime` with `options` on the machine
        fingerprinted `machine` (crosses to the worker, or to a device, as JSON)."""
        from edgebench.bench.runner import Job

        sc = self.scenario
        return Job(model=model, runtime=runtime, batch=None if self.shape else self.batch,
                   shape=self.shape, inputs_npz=self.inputs_npz, seed=self.seed, options=options,
                   bench=dict(self.bench), progress=self.progress, cpus=self.cpus,
                   scenario={} if sc.name == "single" else {**sc.__dict__, "batches": list(sc.batches)},
                   sha256=sha256, machine=machine,
                   verification=dict(self.verification) if self.verification is not None else None)


def measure(artifact: ModelArtifact, runtime: str, options: RuntimeOptions, config: MeasureConfig,
            echo: Callable[[str], None] | None = None) -> BenchResult:
    """Measure `artifact` (hashed once: `ModelArtifact.hashed`) in `runtime` with `options`; `echo` says when
    the board was waited for (--cooldown)."""
    from edgebench.bench.cooldown import cooldown_warnings, wait_until_cool
    from edgebench.bench.fingerprint import fingerprint
    from edgebench.bench.runner import run_job, run_job_isolated

    cooled = wait_until_cool(config.cooldown) if config.cooldown is not None else None
    if cooled is not None and cooled["waited_s"] >= 1 and echo is not None:
        echo(f"waited {cooled['waited_s']:.0f} s for the board to cool from {cooled['start_temp_c']:.1f} "
             f"to {cooled['end_temp_c']:.1f} C")
    machine = fingerprint()
    if config.machine_id is not None and machine["id"] != config.machine_id:
        raise UserInputError(f"this machine's fingerprint id is {machine['id']}, the sweep planned "
                             f"{config.machine_id}")
    job = config.job(str(artifact.path), runtime, options, machine, artifact.sha256)
    result = run_job_isolated(job) if config.isolate else run_job(job)
    if result.placement is not None and config.pin_how is not None:
        result = result.merged(placement={**result.placement, "how": config.pin_how})
    if cooled is not None:
        result = result.merged(cooldown=cooled, warnings=[*(result.warnings or ()), *cooldown_warnings(cooled)])
    return result.with_accuracy(config.accuracy) if config.accuracy is not None else result


def measure_all(artifact: ModelArtifact, runtime: str, options: Sequence[RuntimeOptions], batches: Sequence[int],
                config: MeasureConfig, echo: Callable[[str], None] | None = None) -> Iterator[BenchResult]:
    """`measure` for each cell (`cells`: options x batch size)."""
    for opts, cfg in cells(config, options, batches):
        yield measure(artifact, runtime, opts, cfg, echo)


def cells(config: MeasureConfig, options: Sequence[RuntimeOptions], batches: Sequence[int]
          ) -> Iterator[tuple[RuntimeOptions, MeasureConfig]]:
    """Each options (thread count) x batch size, in that order; an offline scenario tries all batch sizes in one
    measurement per options."""
    if config.scenario.name == "offline":
        config = replace(config, scenario=replace(config.scenario, batches=tuple(batches)))
        batches = batches[:1]
    for opts in options:
        for b in batches:
            yield opts, replace(config, batch=b)


def config_of(job: Job, **given: Any) -> MeasureConfig:
    """The MeasureConfig a Job was made from (`MeasureConfig.job`'s inverse; a device runs a sent Job with it)."""
    sc = dict(job.scenario or {})
    scenario = ScenarioConfig(**{**sc, "batches": tuple(sc.get("batches", ()))}) if sc else ScenarioConfig()
    return MeasureConfig(bench=dict(job.bench), scenario=scenario, batch=job.batch, shape=job.shape,
                         inputs_npz=job.inputs_npz, seed=job.seed, **given)


def run_bench(artifact: ModelArtifact, runtime: str, options: Sequence[RuntimeOptions], batches: Sequence[int],
              config: MeasureConfig, output_dir: Path, csv_path: Path | None = None,
              echo: Callable[[str], None] | None = None) -> list[tuple[BenchResult, Path]]:
    """`edgebench bench`: `measure_all`, each result written to `output_dir` (and a row appended to `csv_path`)
    as soon as it is measured; returns the results and their files."""
    from edgebench.atomic import ensure_writable_dir
    from edgebench.bench.schema import append_csv, write_result

    ensure_writable_dir(output_dir)
    written = []
    for result in measure_all(artifact, runtime, options, batches, config, echo):
        path = write_result(result, output_dir)
        if csv_path is not None:
            append_csv(csv_path, result)
        written.append((result, path))
    return written
