"""What a device runs for `bench --on` and a sweep's remote bench cells: serialized Jobs, not a command line.

A `JobBatch` holds the measurement Jobs of one run (bench/runner.py; they share one model) and the few
settings the running machine resolves itself (its default threads and CPUs, the model's precision file,
cooldown, accuracy). The workstation pushes the model and the inputs (push.py, by content), maps their
paths to the pushed copies (`on_device`, the one place that does), and sends the batch as JSON::

    {"format": "edgebench.jobs", "version": 1, "jobs": [<Job.to_json() objects>], "precision": null, ...}

The device runs it with `edgebench run-jobs JOBS.json -o DIR` (cli/bench.py), the same code as a local
`bench`. A file of another format or version (a newer or older workstation) is refused in one line.

An `EvalRequest` is the same for `eval --on`: the typed evaluation (bench/eval_run.py `EvalConfig`, the model,
its baseline, --precision and the preprocessing options), sent as ``{"format": "edgebench.eval", "version": 1,
...}`` and run there by `edgebench run-eval REQUEST.json` (cli/evaluate.py), which evaluates it as a local `eval`
does (cli/evaluate.py `evaluate_request`). A `DoctorRequest` is the device side of `doctor --on`: the doctor's
measurements (bench/doctor_measure.py `DoctorMeasure`), sent as ``{"format": "edgebench.doctor", "version": 1,
...}`` and run there by `edgebench run-doctor REQUEST.json -o DIR` (cli/doctor.py). All three are
`DeviceRequest`s: `devices.remote.run_jobs_on` pushes their `local_files`, maps them with `on_device` and runs
their hidden `command` there.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar, Protocol

from edgebench.bench.doctor_measure import DoctorMeasure, TrialModel
from edgebench.bench.eval_run import EvalConfig
from edgebench.bench.runner import Job
from edgebench.errors import UserInputError

JOBS_FORMAT = "edgebench.jobs"
JOBS_VERSION = 1
EVAL_FORMAT = "edgebench.eval"
EVAL_VERSION = 1
DOCTOR_FORMAT = "edgebench.doctor"
DOCTOR_VERSION = 1

LocalFiles = tuple[tuple[Path, ...], tuple[tuple[str, Path], ...]]


class DeviceRequest(Protocol):
    """What `devices.remote.run_jobs_on` sends to a device: a `JobBatch`, an `EvalRequest` or a `DoctorRequest`."""

    kind: ClassVar[str]     # "bench" | "eval" | "doctor": how progress and errors name it
    command: ClassVar[str]  # the hidden edgebench command that runs it there
    collect: ClassVar[str]  # "files": pull the result files it writes into -o DIR; "stdout": its printed JSON

    @property
    def label(self) -> str: ...

    @property
    def runtime(self) -> str: ...

    def local_files(self) -> LocalFiles: ...

    def on_device(self, where: dict[str, str]) -> DeviceRequest: ...

    def to_json(self) -> str: ...


def _moved(where: dict[str, str], p: str | None) -> str | None:
    """A pushed local path's path on the device (`where`: local path, as `str(Path(p))`, -> its path there)."""
    if p is None:
        return None
    if str(Path(p)) not in where:
        raise UserInputError(f"'{p}' was not pushed to the device; push it with the model")
    return where[str(Path(p))]


def _check_types(values: dict[str, Any], types: dict[str, tuple[type, ...]], what: str) -> None:
    """Each of `values` of one of its `types` (a bool is no int): one line naming the field otherwise."""
    for name, allowed in types.items():
        value = values.get(name)
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            raise UserInputError(f"{what}'s {name} is {value!r:.40}; it must be "
                                 + " or ".join("null" if t is type(None) else t.__name__ for t in allowed))


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

    kind: ClassVar[str] = "bench"
    command: ClassVar[str] = "run-jobs"
    collect: ClassVar[str] = "files"

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
        _check_types({name: getattr(self, name) for name in _FIELD_TYPES}, _FIELD_TYPES, "a job batch")
        for job in self.jobs:
            _check_job(job)

    @property
    def first(self) -> Job:
        return self.jobs[0]

    @property
    def runtime(self) -> str:
        return self.first.runtime

    @property
    def label(self) -> str:
        """`-t 1,2` for the threads the batch measures, `run` when the device picks them."""
        threads = sorted({j.options.intra_op_threads for j in self.jobs})  # type: ignore[union-attr]
        return "-t " + ",".join(map(str, threads)) if self.threads_given else "run"

    def local_files(self) -> LocalFiles:
        """The model (pushed with its manifest) and the --inputs file."""
        inputs = self.first.inputs_npz
        return (Path(self.first.model),), ((("--inputs", Path(inputs)),) if inputs else ())

    def on_device(self, where: dict[str, str]) -> JobBatch:
        """The batch with its workstation paths (model, inputs) replaced by their pushed copies (`where`: local
        path, as `str(Path(p))`, -> its path on the device)."""
        return replace(self, jobs=tuple(replace(j, model=_moved(where, j.model),
                                                inputs_npz=_moved(where, j.inputs_npz)) for j in self.jobs))

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
        d: dict[str, Any] = {"jobs": [json.loads(j.to_json()) for j in self.jobs]}
        d.update({f.name: getattr(self, f.name) for f in fields(self) if f.name != "jobs"})
        d["cpus"] = list(self.cpus) if self.cpus is not None else None
        return wrap(JOBS_FORMAT, JOBS_VERSION, d)

    @classmethod
    def from_json(cls, text: str, source: str = "the jobs file") -> JobBatch:
        """Read a batch; refused in one line when it is not JSON, not ours, or of another version.

        Relative paths (the device's pushed files, relative to its workdir) are made absolute here.
        """
        d = unwrap(text, JOBS_FORMAT, JOBS_VERSION, {f.name for f in fields(cls)}, source, "`bench --on`")
        if not isinstance(d.get("jobs"), list):
            raise UserInputError(f"{source} holds no list of jobs; run the same edgebench on both sides "
                                 "(edgebench device setup NAME)")
        try:
            jobs = tuple(_absolute(Job.from_json(json.dumps(j))) for j in d.pop("jobs"))
            return cls(jobs=jobs, **d)
        except (TypeError, AttributeError) as e:  # a field of another edgebench's Job, or of the wrong type
            raise UserInputError(f"{source} holds a job this edgebench cannot read ({e}); run the same edgebench "
                                 "on both sides (edgebench device setup NAME)") from None


def wrap(fmt: str, version: int, body: dict[str, Any]) -> str:
    """A request as versioned JSON: `{"format": fmt, "version": version, **body}`."""
    return json.dumps({"format": fmt, "version": version, **body})


def unwrap(text: str, fmt: str, version: int, known: set[str], source: str, writer: str) -> dict[str, Any]:
    """The fields of a request `wrap` wrote; refused in one line when `text` is not JSON, of another format or
    version, or holds fields other than `known` (another edgebench wrote it)."""
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserInputError(f"{source} is not JSON ({e}); it is written by {writer}") from None
    if not isinstance(d, dict) or d.get("format") != fmt:
        raise UserInputError(f"{source} is not an {fmt} file (format "
                             f"{(d.get('format') if isinstance(d, dict) else None)!r:.40}); it is written by {writer}")
    if d.get("version") != version:
        raise UserInputError(f"{source} is version {d.get('version')!r:.20} of {fmt}; this edgebench reads version "
                             f"{version}: run the same edgebench on both sides (edgebench device setup NAME)")
    extra = sorted(set(d) - known - {"format", "version"})
    if extra:
        raise UserInputError(f"{source}: unknown fields {', '.join(extra)!s:.80}; run the same edgebench on both "
                             "sides (edgebench device setup NAME)")
    return {k: v for k, v in d.items() if k not in ("format", "version")}


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "precision": (str, type(None)), "threads_given": (bool,), "no_verify": (bool,), "isolate": (bool,),
    "allow_oversubscribe": (bool,), "cooldown": (int, float, type(None)), "cooldown_timeout": (int, float),
    "eval_data": (str, type(None)), "eval_limit": (int, type(None)), "eval_arithmetic": (str,)}


def _check_job(job: Job) -> None:
    """A job of a batch (a device reads it from a file) checked as `bench` checks its options: one line, exit 2,
    instead of a failure inside the measurement process."""
    from edgebench.bench.inputs import check_batch
    from edgebench.bench.measure import config_of

    if job.cpus is not None:
        raise UserInputError(f"a job of a batch names cpus {list(job.cpus)}; the batch's cpus say where its jobs run")
    counts = {"batch": job.batch, **{f"shape[{i}]": d for i, d in enumerate(job.shape or ())}}
    for name, v in counts.items():
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            flag = "--" + name.split("[")[0]
            raise UserInputError(f"a job's {name} ({flag}) is {v!r:.40}; it must be an integer >= 1")
    if job.batch is not None:
        check_batch([job.batch])
    try:
        config_of(job)  # the seed, the timing settings and the scenario, by the rules a local bench applies
    except TypeError as e:
        raise UserInputError(f"a job's bench or scenario settings are not this edgebench's ({e}); run the same "
                             "edgebench on both sides (edgebench device setup NAME)") from None


def _absolute(job: Job) -> Job:
    """A job's relative paths made absolute against the current folder (the device's workdir)."""
    inputs = os.path.abspath(job.inputs_npz) if job.inputs_npz else None
    return replace(job, model=os.path.abspath(job.model), inputs_npz=inputs)


def _read_text(path: Path, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserInputError(f"{what} '{path}' cannot be read ({e.__class__.__name__}: {e})") from None


def read_batch(path: Path) -> JobBatch:
    """`edgebench run-jobs FILE`: the batch in FILE (one line when it cannot be read)."""
    return JobBatch.from_json(_read_text(path, "jobs file"), f"jobs file '{path}'")


# ------------------------------------------------------------------------------------------------- eval

_STR, _INT = (str, type(None)), (int, type(None))
_PREPROCESSING_TYPES: dict[str, tuple[type, ...]] = {
    "preset": _STR, "input_like": _STR, "mean": _STR, "std": _STR, "scale": (int, float, type(None)), "size": _STR,
    "resize": _INT, "layout": _STR, "channel_order": _STR, "resize_mode": _STR, "labels": _STR}
@dataclass(frozen=True)
class EvalPreprocessing:
    """`eval`'s preprocessing options as given (for a model without a manifest; cli/common.py
    `preprocessing_choice` reads them where the evaluation runs) and --labels: `given` holds those given, by the
    names of _PREPROCESSING_TYPES ('preset' is --preprocessing), in that order.

    >>> EvalPreprocessing.of(labels="cifar10", preset="unit").given
    (('preset', 'unit'), ('labels', 'cifar10'))
    """

    given: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, **options: Any) -> EvalPreprocessing:
        """From keyword options (None: not given); a name that is not an option is refused."""
        if extra := sorted(set(options) - set(_PREPROCESSING_TYPES)):
            raise UserInputError(f"an eval request's preprocessing has unknown fields {', '.join(extra)!s:.80}; run "
                                 "the same edgebench on both sides (edgebench device setup NAME)")
        return cls(tuple((k, options[k]) for k in _PREPROCESSING_TYPES if options.get(k) is not None))

    def __post_init__(self) -> None:
        given = dict(self.given)
        if list(given) != [k for k in _PREPROCESSING_TYPES if k in given]:
            raise UserInputError("an eval request's preprocessing must be built with EvalPreprocessing.of(...)")
        _check_types(given, {k: _PREPROCESSING_TYPES[k] for k in given}, "an eval request's preprocessing")

    @property
    def labels(self) -> str | None:
        return dict(self.given).get("labels")

    def options(self) -> dict[str, Any]:
        """The preprocessing options given (not --labels), named as `preprocessing_choice` takes them."""
        return {("preprocessing" if k == "preset" else k): v for k, v in self.given if k != "labels"}

    def to_dict(self) -> dict[str, Any]:
        """Every field, None where not given (the request's JSON)."""
        given = dict(self.given)
        return {k: given.get(k) for k in _PREPROCESSING_TYPES}


# EvalConfig's fields in JSON (its Paths as strings; runtime_options come from --precision where it runs)
_CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "data": (str,), "annotations": _STR, "limit": _INT, "runtime": (str,), "threads": _INT, "batch_size": (int,),
    "data_dir": _STR, "download": (bool,), "arithmetic": (str,), "as_target": (bool,), "labels_file": _STR}
_CONFIG_PATHS = ("annotations", "data_dir", "labels_file")
# the data options whose local file or folder travels with an eval request -> its EvalConfig field
_DATA_FLAGS = {"--data": "data", "--annotations": "annotations", "--data-dir": "data_dir",
               "--labels-file": "labels_file"}
_EVAL_TYPES: dict[str, tuple[type, ...]] = {"model": (str,), "precision": _STR, "baseline": _STR,
                                            "no_verify": (bool,), "allow_oversubscribe": (bool,)}


@dataclass(frozen=True)
class EvalRequest:
    """One `edgebench eval`, on this machine or sent to a device: the model (a folder or an .onnx file), the
    typed `EvalConfig`, and what the running machine resolves itself (--precision against the model folder
    there, the --threads check against its cores, the preprocessing of a model without a manifest).
    `data_sha256`: (flag, content digest) of each data file or folder pushed with it (`on_device` sets them), which
    the device checks its copies against before it reads them (`verify_data`)."""

    model: str
    config: EvalConfig = field(default_factory=EvalConfig)
    precision: str | None = None
    baseline: str | None = None
    no_verify: bool = False
    allow_oversubscribe: bool = False
    preprocessing: EvalPreprocessing = field(default_factory=EvalPreprocessing)
    data_sha256: tuple[tuple[str, str], ...] = ()

    kind: ClassVar[str] = "eval"
    command: ClassVar[str] = "run-eval"
    collect: ClassVar[str] = "stdout"

    def __post_init__(self) -> None:
        _check_types({name: getattr(self, name) for name in _EVAL_TYPES}, _EVAL_TYPES, "an eval request")
        if not isinstance(self.config, EvalConfig) or not isinstance(self.preprocessing, EvalPreprocessing):
            raise UserInputError("an eval request needs an EvalConfig and an EvalPreprocessing")
        if self.config.runtime_options is not None:
            raise UserInputError("an eval request's runtime options come from its --precision where it runs; "
                                 "give --precision, not runtime options")
        from edgebench.runtimes import options_class
        from edgebench.runtimes.precisions import check_runtime_precision

        object.__setattr__(self, "data_sha256", tuple(tuple(p) for p in self.data_sha256))
        for flag, digest in self.data_sha256:
            field_name = _DATA_FLAGS.get(flag)
            if field_name is None or not isinstance(digest, str) or getattr(self.config, field_name) is None:
                raise UserInputError(f"an eval request's data_sha256 names {flag!r:.40} ({digest!r:.20}), not a data "
                                     "option it gives; it is written by `eval --on`")
        options_class(self.config.runtime)  # a typo refused here, not by a device after the push
        if self.precision is not None:
            check_runtime_precision(self.config.runtime, self.precision)

    @property
    def runtime(self) -> str:
        return self.config.runtime

    @property
    def label(self) -> str:
        return f"-t {self.config.threads}" if self.config.threads is not None else "run"

    def local_files(self) -> LocalFiles:
        """The model and --baseline (pushed with their manifests), and the local data files it reads: --data
        when it is a file or folder here, --annotations, --data-dir, --labels-file."""
        c = self.config
        models = tuple(Path(m) for m in (self.model, self.baseline) if m is not None)
        data = (("--data", Path(c.data)),) if Path(c.data).exists() else ()
        given = (("--annotations", c.annotations), ("--data-dir", c.data_dir), ("--labels-file", c.labels_file))
        return models, data + tuple((flag, Path(p)) for flag, p in given if p is not None)

    def on_device(self, where: dict[str, str]) -> EvalRequest:
        """The request with its workstation paths replaced by their pushed copies (`where` as in
        `JobBatch.on_device`); --data stays as given when it names a dataset (cifar10), not a local path."""
        c = self.config

        def path(p: Path | None) -> Path | None:
            return None if p is None else Path(str(_moved(where, str(p))))

        from edgebench.devices.push import pushed_digest

        config = replace(c, data=where.get(str(Path(c.data)), c.data), annotations=path(c.annotations),
                         data_dir=path(c.data_dir), labels_file=path(c.labels_file))
        digests = tuple((flag, pushed_digest(where[str(p)])) for flag, p in self.local_files()[1])
        return replace(self, model=str(_moved(where, self.model)), baseline=_moved(where, self.baseline),
                       config=config, data_sha256=digests)

    def verify_data(self) -> None:
        """Where the request runs: each pushed data file or folder holds what the workstation sent (its content
        digest is the one `data_sha256` names), else one DataError naming it."""
        from edgebench.devices.push import verify_pushed

        for flag, digest in self.data_sha256:
            verify_pushed(Path(str(getattr(self.config, _DATA_FLAGS[flag]))), digest, flag)

    def to_json(self) -> str:
        config = {name: getattr(self.config, name) for name in _CONFIG_TYPES}
        config.update({name: str(config[name]) for name in _CONFIG_PATHS if config[name] is not None})
        body = {name: getattr(self, name) for name in _EVAL_TYPES}
        pre = self.preprocessing.to_dict()
        return wrap(EVAL_FORMAT, EVAL_VERSION, {**body, "config": config, "preprocessing": pre,
                                                "data_sha256": dict(self.data_sha256)})

    @classmethod
    def from_json(cls, text: str, source: str = "the eval request") -> EvalRequest:
        """Read a request; refused in one line when it is not JSON, not ours, of another version, or holds
        fields this edgebench does not have."""
        d = unwrap(text, EVAL_FORMAT, EVAL_VERSION, {*_EVAL_TYPES, "config", "preprocessing", "data_sha256"}, source,
                   "`eval --on`")
        config = _check_part(d.pop("config", {}), _CONFIG_TYPES, source, "config")
        pre = _check_part(d.pop("preprocessing", {}), _PREPROCESSING_TYPES, source, "preprocessing")
        digests = _check_part(d.pop("data_sha256", {}), dict.fromkeys(_DATA_FLAGS, (str,)), source, "data_sha256")
        if "model" not in d:
            raise UserInputError(f"{source} names no model; it is written by `eval --on`")
        config.update({name: Path(config[name]) for name in _CONFIG_PATHS if config.get(name) is not None})
        _check_types(d, {k: _EVAL_TYPES[k] for k in d}, f"{source}: the request")
        return cls(config=EvalConfig(**config), preprocessing=EvalPreprocessing.of(**pre),
                   data_sha256=tuple(digests.items()), **d)


def _check_part(part: Any, known: dict[str, tuple[type, ...]], source: str, name: str) -> dict[str, Any]:
    """A request's nested object (its `name`): an object of `known` fields only, each of its type, else one line;
    the fields it leaves out take their defaults."""
    if not isinstance(part, dict):
        raise UserInputError(f"{source}: its {name} is {part!r:.40}, not an object; run the same edgebench on both "
                             "sides (edgebench device setup NAME)")
    if extra := sorted(set(part) - set(known)):
        raise UserInputError(f"{source}: its {name} is not this edgebench's (unknown fields {', '.join(extra)!s:.80}); "
                             "run the same edgebench on both sides (edgebench device setup NAME)")
    _check_types(part, {k: known[k] for k in part}, f"{source}: the {name}")
    return part


def read_eval_request(path: Path) -> EvalRequest:
    """`edgebench run-eval FILE`: the request in FILE (one line when it cannot be read)."""
    return EvalRequest.from_json(_read_text(path, "eval request"), f"eval request '{path}'")


# ------------------------------------------------------------------------------------------------- doctor

_DOCTOR_TYPES: dict[str, tuple[type, ...]] = {
    "fp32": (str,), "model": _STR, "threads": (int,), "rounds": (int,), "iters": (int,), "profile_runs": (int,),
    "data": _STR}
_TRIAL_TYPES: dict[str, tuple[type, ...]] = {"label": (str,), "model": (str,), "threads": _INT}


@dataclass(frozen=True)
class DoctorRequest:
    """The device side of one `edgebench doctor --on`: what to measure there (bench/doctor_measure.py
    `DoctorMeasure`: the INT8 model against FP32, or the candidate fixes built on the workstation) and `data`, an
    .npz of the doctor's images written by the workstation (None without --data). The device runs it with
    `edgebench run-doctor REQUEST.json -o DIR` and writes its measurements (`measure_here`) to DIR/doctor.json,
    which the workstation pulls and concludes from (devices/doctor.py)."""

    measure: DoctorMeasure
    data: str | None = None

    kind: ClassVar[str] = "doctor"
    command: ClassVar[str] = "run-doctor"
    collect: ClassVar[str] = "files"

    def __post_init__(self) -> None:
        if not isinstance(self.measure, DoctorMeasure):
            raise UserInputError("a doctor request needs a DoctorMeasure")
        _check_types({"data": self.data}, {"data": _STR}, "a doctor request")

    @property
    def runtime(self) -> str:
        return "ort-cpu"

    @property
    def label(self) -> str:
        """`diagnosis -t 1`, or `3 fix(es) -t 1` for the candidate fixes."""
        m = self.measure
        what = "diagnosis" if m.model is not None else f"{len(m.trials)} fix(es)"
        return f"{what} -t {m.threads}"

    def local_files(self) -> LocalFiles:
        """The models (FP32, the INT8 model, the fixes' models; each with its manifest) and the images' .npz."""
        return tuple(Path(m) for m in self.measure.models()), ((("--data", Path(self.data)),) if self.data else ())

    def on_device(self, where: dict[str, str]) -> DoctorRequest:
        """The request with its workstation paths replaced by their pushed copies (`where` as in
        `JobBatch.on_device`)."""
        m = self.measure
        trials = tuple(replace(t, model=str(_moved(where, t.model))) for t in m.trials)
        return DoctorRequest(replace(m, fp32=str(_moved(where, m.fp32)), model=_moved(where, m.model), trials=trials),
                             _moved(where, self.data))

    def to_json(self) -> str:
        m = self.measure
        body = {name: getattr(m, name) for name in _DOCTOR_TYPES if name != "data"}
        trials = [{name: getattr(t, name) for name in _TRIAL_TYPES} for t in m.trials]
        return wrap(DOCTOR_FORMAT, DOCTOR_VERSION, {**body, "data": self.data, "trials": trials})

    @classmethod
    def from_json(cls, text: str, source: str = "the doctor request") -> DoctorRequest:
        """Read a request; refused in one line when it is not JSON, not ours, of another version, or holds
        fields this edgebench does not have."""
        d = unwrap(text, DOCTOR_FORMAT, DOCTOR_VERSION, {*_DOCTOR_TYPES, "trials"}, source, "`doctor --on`")
        trials = d.pop("trials", [])
        if "fp32" not in d:
            raise UserInputError(f"{source} names no FP32 model; it is written by `doctor --on`")
        _check_types(d, {k: _DOCTOR_TYPES[k] for k in d}, f"{source}: the request")
        if not isinstance(trials, list):
            raise UserInputError(f"{source}: its trials are {trials!r:.40}, not a list; it is written by `doctor --on`")
        for t in trials:
            _check_part(t, _TRIAL_TYPES, source, "trial")
            _check_types(t, {k: _TRIAL_TYPES[k] for k in ("label", "model")}, f"{source}: the trial")
        data = d.pop("data", None)
        return cls(DoctorMeasure(**d, trials=tuple(TrialModel(**t) for t in trials)), data)


def read_doctor_request(path: Path) -> DoctorRequest:
    """`edgebench run-doctor FILE`: the request in FILE (one line when it cannot be read)."""
    return DoctorRequest.from_json(_read_text(path, "doctor request"), f"doctor request '{path}'")
