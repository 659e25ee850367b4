"""What a device runs for `bench --on` and a sweep's remote bench cells: serialized Jobs, not a command line.

A `JobBatch` holds the measurement Jobs of one run (bench/runner.py; they share one model) and the few
settings the running machine resolves itself (its default threads and CPUs, the model's precision file,
cooldown, accuracy). The workstation pushes the model and the inputs (push.py, by content), maps their
paths to the pushed copies (`on_device`, the one place that does), and sends the batch as JSON::

    {"format": "edgebench.jobs", "version": 1, "jobs": [<Job.to_json() objects>], "precision": null, ...}

The device runs it with `edgebench run-jobs JOBS.json -o DIR` (cli/device.py), the same code as a local
`bench`. A file of another format or version (a newer or older workstation) is refused in one line.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from edgebench.bench.runner import Job
from edgebench.errors import UserInputError

JOBS_FORMAT = "edgebench.jobs"
JOBS_VERSION = 1


@dataclass(frozen=True)
class JobBatch:
    """The Jobs of one bench run and how the machine that runs them completes them.

    `threads_given` False: each job's threads are the running machine's default (the CPUs it pins to,
    else its usable cores). `cpus`: --cpus as given; None: the running machine's default (its big cores).
    `precision`: --precision, resolved against the model folder there. The rest are `bench`'s options.
    """

    jobs: tuple[Job, ...]
    precision: str | None = None
    threads_given: bool = True
    cpus: tuple[int, ...] | None = None
    no_verify: bool = False
    isolate: bool = True
    allow_oversubscribe: bool = False
    cooldown: float | None = None
    cooldown_timeout: float = 300.0
    eval_data: str | None = None
    eval_limit: int | None = None
    eval_arithmetic: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "jobs", tuple(self.jobs))
        if not self.jobs or not all(isinstance(j, Job) for j in self.jobs):
            raise UserInputError("a job batch needs at least one measurement Job")
        if len({(j.model, j.runtime, j.inputs_npz) for j in self.jobs}) != 1:
            raise UserInputError("the jobs of one batch measure one model in one runtime on one inputs file")
        if self.cpus is not None:
            object.__setattr__(self, "cpus", tuple(self.cpus))
            if not self.cpus or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in self.cpus):
                raise UserInputError(f"a job batch's cpus must be CPU numbers >= 0, got {list(self.cpus)!r:.60}")
        for name, types in _FIELD_TYPES.items():
            value = getattr(self, name)
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                raise UserInputError(f"a job batch's {name} is {value!r:.40}; it must be "
                                     + " or ".join("null" if t is type(None) else t.__name__ for t in types))
        for job in self.jobs:
            _check_job(job)

    @property
    def first(self) -> Job:
        return self.jobs[0]

    def on_device(self, where: dict[str, str]) -> JobBatch:
        """The batch with its workstation paths (model, inputs) replaced by their pushed copies (`where`: local
        path, as `str(Path(p))`, -> its path on the device)."""
        def moved(p: str | None) -> str | None:
            if p is None:
                return None
            if str(Path(p)) not in where:
                raise UserInputError(f"'{p}' was not pushed to the device; push it with the model")
            return where[str(Path(p))]

        return replace(self, jobs=tuple(replace(j, model=moved(j.model), inputs_npz=moved(j.inputs_npz))
                                        for j in self.jobs))

    def per_threads(self) -> list[JobBatch]:
        """One batch per --threads value (a device's finished measurements are pulled before the next start);
        the batch itself when the machine that runs it picks the threads."""
        if not self.threads_given:
            return [self]
        def threads(j: Job) -> int:
            return int(j.options.intra_op_threads)  # type: ignore[union-attr]

        return [replace(self, jobs=tuple(j for j in self.jobs if threads(j) == t))
                for t in dict.fromkeys(map(threads, self.jobs))]

    def to_json(self) -> str:
        d: dict[str, Any] = {"format": JOBS_FORMAT, "version": JOBS_VERSION,
                             "jobs": [json.loads(j.to_json()) for j in self.jobs]}
        d.update({f.name: getattr(self, f.name) for f in fields(self) if f.name != "jobs"})
        d["cpus"] = list(self.cpus) if self.cpus is not None else None
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str, source: str = "the jobs file") -> JobBatch:
        """Read a batch; refused in one line when it is not JSON, not ours, or of another version.

        Relative paths (the device's pushed files, relative to its workdir) are made absolute here.
        """
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise UserInputError(f"{source} is not JSON ({e}); it is written by `bench --on`") from None
        if not isinstance(d, dict) or d.get("format") != JOBS_FORMAT:
            raise UserInputError(f"{source} is not an {JOBS_FORMAT} file (format "
                                 f"{(d.get('format') if isinstance(d, dict) else None)!r:.40}); it is written by "
                                 "`bench --on`")
        if d.get("version") != JOBS_VERSION:
            raise UserInputError(f"{source} is version {d.get('version')!r:.20} of {JOBS_FORMAT}; this edgebench "
                                 f"reads version {JOBS_VERSION}: run the same edgebench on both sides (edgebench "
                                 "device setup NAME)")
        known = {f.name for f in fields(cls)}
        extra = sorted(set(d) - known - {"format", "version"})
        if extra or not isinstance(d.get("jobs"), list):
            raise UserInputError(f"{source}: unknown fields {', '.join(extra)!s:.80} or no list of jobs; run the "
                                 "same edgebench on both sides (edgebench device setup NAME)")
        del d["format"], d["version"]
        try:
            jobs = tuple(_absolute(Job.from_json(json.dumps(j))) for j in d.pop("jobs"))
            return cls(jobs=jobs, **d)
        except (TypeError, AttributeError) as e:  # a field of another edgebench's Job, or of the wrong type
            raise UserInputError(f"{source} holds a job this edgebench cannot read ({e}); run the same edgebench "
                                 "on both sides (edgebench device setup NAME)") from None


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "precision": (str, type(None)), "threads_given": (bool,), "no_verify": (bool,), "isolate": (bool,),
    "allow_oversubscribe": (bool,), "cooldown": (int, float, type(None)), "cooldown_timeout": (int, float),
    "eval_data": (str, type(None)), "eval_limit": (int, type(None)), "eval_arithmetic": (str,)}


def _check_job(job: Job) -> None:
    """A job of a batch (a device reads it from a file) checked as `bench` checks its options: one line, exit 2,
    instead of a failure inside the measurement process."""
    from edgebench.bench.harness import BenchConfig
    from edgebench.bench.inputs import check_batch
    from edgebench.bench.scenarios import ScenarioConfig

    if job.cpus is not None:
        raise UserInputError(f"a job of a batch names cpus {list(job.cpus)}; the batch's cpus say where its jobs run")
    counts = {"batch": job.batch, **{f"shape[{i}]": d for i, d in enumerate(job.shape or ())}}
    for name, v in {**counts, "seed": job.seed}.items():
        low = 0 if name == "seed" else 1
        if (v is not None or name == "seed") and (not isinstance(v, int) or isinstance(v, bool) or v < low):
            flag = "--" + name.split("[")[0]
            raise UserInputError(f"a job's {name} ({flag}) is {v!r:.40}; it must be an integer >= {low}")
    if job.batch is not None:
        check_batch([job.batch])
    try:
        BenchConfig(**job.bench)
        ScenarioConfig(**job.scenario)
    except TypeError as e:
        raise UserInputError(f"a job's bench or scenario settings are not this edgebench's ({e}); run the same "
                             "edgebench on both sides (edgebench device setup NAME)") from None


def _absolute(job: Job) -> Job:
    """A job's relative paths made absolute against the current folder (the device's workdir)."""
    inputs = os.path.abspath(job.inputs_npz) if job.inputs_npz else None
    return replace(job, model=os.path.abspath(job.model), inputs_npz=inputs)


def read_batch(path: Path) -> JobBatch:
    """`edgebench run-jobs FILE`: the batch in FILE (one line when it cannot be read)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserInputError(f"jobs file '{path}' cannot be read ({e.__class__.__name__}: {e})") from None
    return JobBatch.from_json(text, f"jobs file '{path}'")
