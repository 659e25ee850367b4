"""A result file, typed: `BenchResult` and its records, read, checked and written as JSON here only.

Each record declares its fields with `need(types, ...)` (the schema: types, whether it may be left out, the
lowest allowed value) and is checked in `__post_init__`; keys a record does not declare are kept in `rest`, and
`keys` keeps the order they were read in, so `BenchResult.from_dict(d).to_dict() == d` key for key (old result
files load and are written back byte for byte). Example::

    r = BenchResult.from_dict(json.loads(path.read_text()), str(path))
    r.latency.p50_ms, r.latency.samples_ms, r.memory.peak_rss_mb, r.model.sha256, r.machine.cpu.isa
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, ClassVar

from edgebench.errors import ResultSchemaError
from edgebench.manifest import Json, freeze, thaw

SCHEMA_VERSION = 1
INTERLEAVE_SCHEMA_VERSION = 1  # `bench A B --interleave` files (kind "interleave")

_NUM = (int, float)
_EMPTY: Json = MappingProxyType({})
# a record built in code may hold frozen JSON values
_AS_READ: dict[type, tuple[type, ...]] = {dict: (Mapping,), list: (list, tuple)}


def need(*types: type, optional: bool = False, low: float | None = None, strict: bool = False,
         record: type[Record] | None = None, each: bool = False) -> Any:
    """A declared field: its JSON types; `optional`: may be left out or null; `low` (`strict`: itself refused):
    the lowest allowed value (of every item with `each`); `record`: the Record class of a JSON object (with
    `list` in `types`: of every item of a JSON list, held as a tuple of records)."""
    meta = {"types": types, "optional": optional, "low": low, "strict": strict, "record": record, "each": each}
    return field(default=None, metadata=meta) if optional else field(metadata=meta)


def _check(path: str, value: Any, meta: Mapping[str, Any]) -> None:
    """One declared field's value against its declaration; ResultSchemaError naming `path` and what is allowed."""
    types: tuple[type, ...] = meta["types"]
    if (value is None and meta["optional"]) or isinstance(value, Record):
        return
    if meta["record"] is not None and isinstance(value, tuple) and not all(isinstance(v, Record) for v in value):
        raise ResultSchemaError(f"field '{path}' holds something other than {meta['record'].__name__} records")
    accepted = tuple(t for typ in types for t in _AS_READ.get(typ, (typ,)))
    expected = "a number" if set(_NUM) <= set(types) else types[0].__name__  # (int, float): not "int"
    if isinstance(value, bool) and bool not in types and not meta["optional"]:
        raise ResultSchemaError(f"field '{path}' is a bool; expected {expected}")
    if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in types):
        raise ResultSchemaError(f"field '{path}' is {type(value).__name__}; expected {expected}"
                                + (" or null" if meta["optional"] else ""))
    low = meta["low"]
    for v in (value if meta["each"] else [value]) if low is not None else []:
        if not isinstance(v, _NUM) or isinstance(v, bool):  # an item of a list of numbers
            raise ResultSchemaError(f"{path} must hold numbers only")
        if not math.isfinite(v) or v < low or (meta["strict"] and v == low):
            raise ResultSchemaError(f"field '{path}' is {v!r}; it must be a finite number "
                                    f"{'>' if meta['strict'] else '>='} {low} (a damaged or hand-edited file: "
                                    "re-run the benchmark)")


@dataclass(frozen=True, kw_only=True)
class Record:
    """A JSON object of a result: its declared fields (`need`), the rest as read, the key order as read."""

    AT: ClassVar[str] = ""  # where the record sits in a result ("latency."), for messages
    rest: Json = field(default_factory=lambda: _EMPTY, repr=False)
    keys: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        for f in self.declared():
            value = getattr(self, f.name)
            _check(self.AT + f.name, value, f.metadata)
            if isinstance(value, Mapping | list):
                object.__setattr__(self, f.name, freeze(value))
        object.__setattr__(self, "rest", freeze(self.rest))

    @classmethod
    def declared(cls) -> list[Any]:
        return [f for f in fields(cls) if "types" in f.metadata]

    @classmethod
    def from_dict(cls, d: Any) -> Any:
        """The record of the JSON object `d`; ResultSchemaError naming the first missing or bad field."""
        if not isinstance(d, Mapping):
            raise ResultSchemaError(f"field '{cls.AT.rstrip('.')}' is {type(d).__name__}; expected dict")
        kw: dict[str, Any] = {}
        for f in cls.declared():
            if f.name in d:
                rec, v = f.metadata["record"], d[f.name]
                if rec is not None and list in f.metadata["types"]:  # a list of records (not a list: _check says)
                    v = tuple(rec.from_dict(x) for x in v) if isinstance(v, list) else v
                elif rec is not None and v is not None:
                    v = rec.from_dict(v)
                kw[f.name] = v
            elif not f.metadata["optional"]:
                raise ResultSchemaError(f"missing field '{cls.AT}{f.name}'")
        names = {f.name for f in cls.declared()}
        return cls(**kw, rest={k: v for k, v in d.items() if k not in names}, keys=tuple(d))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: the keys as read (a record made in code: its set fields, then `rest`)."""
        declared = [f.name for f in self.declared()]
        order = self.keys or tuple(n for n in declared if getattr(self, n) is not None) + tuple(self.rest)
        out: dict[str, Any] = {}
        for k in order:
            v = getattr(self, k) if k in declared else self.rest[k]
            out[k] = _json(v)
        return out


def _json(v: Any) -> Any:
    """The JSON form of a field's value: a record's `to_dict`, a tuple of records as a list of them."""
    if isinstance(v, Record):
        return v.to_dict()
    if isinstance(v, tuple) and v and all(isinstance(x, Record) for x in v):
        return [x.to_dict() for x in v]
    return thaw(v)


@dataclass(frozen=True, kw_only=True)
class ModelInfo(Record):
    """`model`: the file measured (sha256, size) and what its manifest says about it."""

    AT: ClassVar[str] = "model."
    path: str = need(str)
    name: str = need(str)
    sha256: str = need(str)
    file_size_mb: float = need(*_NUM, low=0)
    inputs: tuple[Json, ...] = need(list)
    precision: str | None = need(str, optional=True)
    arch: str | None = need(str, optional=True)
    task: str | None = need(str, optional=True)
    lineage: Json | None = need(dict, optional=True)


@dataclass(frozen=True, kw_only=True)
class RuntimeInfo(Record):
    """`runtime`: its name, version, options and what it reports it ran."""

    AT: ClassVar[str] = "runtime."
    name: str = need(str)
    version: str = need(str)
    options: Json | None = need(dict, optional=True)
    precision: str | None = need(str, optional=True)
    execution_precision: str | None = need(str, optional=True)
    info: Json | None = need(dict, optional=True)


@dataclass(frozen=True, kw_only=True)
class RunOptions(Record):
    """`options`: batch, threads and the bench settings of the measurement."""

    AT: ClassVar[str] = "options."
    batch: int = need(int, low=1)
    threads: int = need(int, low=1)
    graph_optimization: str | None = need(str, optional=True)
    cpus: tuple[int, ...] | None = need(list, optional=True)


@dataclass(frozen=True, kw_only=True)
class Latency(Record):
    """`latency`: the statistics of the timed runs and their raw samples (`samples_ms`)."""

    AT: ClassVar[str] = "latency."
    p50_ms: float = need(*_NUM, low=0, strict=True)  # first: a damaged file is named by its p50
    first_run_ms: float = need(*_NUM, low=0)
    p90_ms: float = need(*_NUM, low=0)
    p95_ms: float = need(*_NUM, low=0)
    p99_ms: float = need(*_NUM, low=0)
    mean_ms: float = need(*_NUM, low=0)
    std_ms: float = need(*_NUM, low=0)
    min_ms: float = need(*_NUM, low=0)
    max_ms: float = need(*_NUM, low=0)
    p50_ci95_ms: tuple[float, float] = need(list, low=0, each=True)
    samples_ms: tuple[float, ...] = need(list, low=0, each=True)
    noisy: bool = need(bool)
    throughput_items_per_s: float = need(*_NUM, low=0)

    def __post_init__(self) -> None:
        ci = self.p50_ci95_ms  # its own message first; samples_ms's items are checked by the field rules (`each`)
        if isinstance(ci, list | tuple) and (len(ci) != 2 or not all(isinstance(x, _NUM) and not isinstance(x, bool)
                                                                     for x in ci)):
            raise ResultSchemaError(f"latency.p50_ci95_ms must be two numbers [low, high]; got {list(ci)!r:.80}")
        super().__post_init__()


@dataclass(frozen=True, kw_only=True)
class Memory(Record):
    """`memory`: resident memory before and after loading, and the peak while timing."""

    AT: ClassVar[str] = "memory."
    rss_before_load_mb: float = need(*_NUM, low=0)
    rss_after_load_mb: float = need(*_NUM, low=0)
    peak_rss_mb: float = need(*_NUM, low=0)


@dataclass(frozen=True, kw_only=True)
class Cpu(Record):
    """`machine.cpu`: architecture, ISA flags, cores and frequencies."""

    AT: ClassVar[str] = "machine.cpu."
    arch: str = need(str)
    isa: Json = need(dict)
    model: str | None = need(str, optional=True)
    logical_cores: int | None = need(int, optional=True)
    max_freq_mhz: float | None = need(*_NUM, optional=True)
    cur_freq_mhz: float | None = need(*_NUM, optional=True)


@dataclass(frozen=True, kw_only=True)
class Board(Record):
    """`machine.board`: the board's model string (a Raspberry Pi's), when known."""

    AT: ClassVar[str] = "machine.board."
    model: str | None = need(str, optional=True)


@dataclass(frozen=True, kw_only=True)
class Machine(Record):
    """`machine`: the fingerprint of the machine that measured (bench/fingerprint.py)."""

    AT: ClassVar[str] = "machine."
    cpu: Cpu = need(dict, record=Cpu)
    id: str | None = need(str, optional=True)
    hostname: str | None = need(str, optional=True)
    board: Board | None = need(dict, optional=True, record=Board)


@dataclass(frozen=True, kw_only=True)
class ColdStart(Record):
    """`cold_start`: process start -> session created -> first result, of an isolated measurement."""

    AT: ClassVar[str] = "cold_start."
    process_to_session_ms: float | None = need(*_NUM, optional=True)
    session_to_first_result_ms: float | None = need(*_NUM, optional=True)
    total_ms: float | None = need(*_NUM, optional=True)
    load_peak_rss_mb: float | None = need(*_NUM, optional=True)


@dataclass(frozen=True, kw_only=True)
class Scenario(Record):
    """`scenario`: single, multi, offline or server, with its streams (bench/scenarios.py)."""

    AT: ClassVar[str] = "scenario."
    name: str | None = need(str, optional=True)
    streams: int | None = need(int, optional=True)
    threads_per_stream: int | None = need(int, optional=True)


@dataclass(frozen=True, kw_only=True)
class Throughput(Record):
    """`throughput` of a multi/offline/server scenario: items and queries a second over all streams."""

    AT: ClassVar[str] = "throughput."
    items_per_s: float | None = need(*_NUM, optional=True, low=0)
    queries_per_s: float | None = need(*_NUM, optional=True, low=0)


@dataclass(frozen=True, kw_only=True)
class Accuracy(Record):
    """`accuracy` (bench --eval, sweeps): percentages in [0, 100], a count >= 1; the rest as evaluated."""

    AT: ClassVar[str] = "accuracy."
    RANGES: ClassVar[tuple[tuple[str, float, float], ...]] = (("top1_pct", 0, 100), ("top5_pct", 0, 100),
                                                              ("n", 1, math.inf))
    top1_pct: float | None = need(*_NUM, optional=True)
    top5_pct: float | None = need(*_NUM, optional=True)
    n: int | None = need(int, optional=True)

    def __post_init__(self) -> None:  # the ranges' own message, for any value (a string too)
        for key, low, high in self.RANGES:
            v = getattr(self, key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, _NUM) or not math.isfinite(v)
                                  or not low <= v <= high):
                raise ResultSchemaError(f"field 'accuracy.{key}' is {v!r:.40}; it must be a number in [{low}, {high}] "
                                        "(a damaged or hand-edited file: evaluate again)")
        object.__setattr__(self, "rest", freeze(self.rest))

    @classmethod
    def from_dict(cls, d: Any) -> Any:
        if not isinstance(d, Mapping):
            raise ResultSchemaError(f"field 'accuracy' is {type(d).__name__}; expected an object")
        return super().from_dict(d)


def _check_version(d: Any, source: str, current: int, what: str = "") -> None:
    """`d` is a JSON object of the schema_version `current`, else ResultSchemaError naming `source`; `what`:
    the kind of file for the message ("interleave "; a result's is left out)."""
    if not isinstance(d, Mapping):
        raise ResultSchemaError(f"{source}: not a JSON object; expected an edgebench {what or 'result '}file")
    version = d.get("schema_version")
    if version != current or isinstance(version, bool):
        raise ResultSchemaError(
            f"{source}: {what}schema_version {version!r} is not {current}, which this edgebench reads; "
            "re-run the benchmark with this version or use the matching edgebench")


@dataclass(frozen=True, kw_only=True)
class BenchResult(Record):
    """One measurement's result file (`kind` "bench"), `schema_version` 1."""

    schema_version: int = need(int)
    kind: str = need(str)
    created_utc: str = need(str)
    model: ModelInfo = need(dict, record=ModelInfo)
    runtime: RuntimeInfo = need(dict, record=RuntimeInfo)
    options: RunOptions = need(dict, record=RunOptions)
    latency: Latency = need(dict, record=Latency)
    memory: Memory = need(dict, record=Memory)
    machine: Machine = need(dict, record=Machine)
    warnings: tuple[str, ...] | None = need(list, optional=True)
    placement: Json | None = need(dict, optional=True)
    cold_start: ColdStart | None = need(dict, optional=True, record=ColdStart)
    scenario: Scenario | None = need(dict, optional=True, record=Scenario)
    throughput: Throughput | None = need(dict, optional=True, record=Throughput)
    accuracy: Accuracy | None = need(dict, optional=True, record=Accuracy)
    sweep: Json | None = need(dict, optional=True)

    @classmethod
    def from_dict(cls, d: Any, source: str = "result") -> BenchResult:
        """The result in the JSON object `d`; ResultSchemaError naming `source` and the bad field."""
        _check_version(d, source, SCHEMA_VERSION)
        try:
            result: BenchResult = super().from_dict(d)
        except ResultSchemaError as e:
            raise ResultSchemaError(f"{source}: {e}") from None
        return result

    def merged(self, **blocks: Any) -> BenchResult:
        """A copy with these top-level JSON blocks set (a new key goes last, as a dict's would)."""
        return BenchResult.from_dict(self.to_dict() | {k: thaw(v) for k, v in blocks.items()})

    def with_accuracy(self, accuracy: Mapping[str, Any], **blocks: Any) -> BenchResult:
        """A copy with `accuracy` (an evaluation of the same model, bench --eval or a sweep's) as its `accuracy`
        block and the evaluation's `warnings` added to the result's; `blocks` are set after it (`merged`)."""
        warnings = [*(self.warnings or ()), *accuracy.get("warnings", [])]
        return self.merged(accuracy={k: v for k, v in accuracy.items() if k != "warnings"}, warnings=warnings,
                           **blocks)




@dataclass(frozen=True, kw_only=True)
class Ratio(Record):
    """A model's ratio to the first model over interleaved rounds: the median, its paired-bootstrap 95 % CI."""

    AT: ClassVar[str] = "models[].ratio."
    median: float = need(*_NUM, low=0, strict=True)
    ci95: tuple[float, float] = need(list, low=0, each=True)
    rounds: int | None = need(int, optional=True, low=1)
    method: str | None = need(str, optional=True)

    def __post_init__(self) -> None:
        if isinstance(self.ci95, list | tuple) and (len(self.ci95) != 2 or not all(
                isinstance(x, _NUM) and not isinstance(x, bool) for x in self.ci95)):
            raise ResultSchemaError(f"{self.AT}ci95 must be two numbers [low, high]; got {list(self.ci95)!r:.80}")
        super().__post_init__()


@dataclass(frozen=True, kw_only=True)
class InterleavedModel(Record):
    """One model of an interleave file: its file, its median latency and its ratios to the first model."""

    AT: ClassVar[str] = "models[]."
    name: str = need(str)
    path: str = need(str)
    sha256: str = need(str)
    p50_ms: float = need(*_NUM, low=0, strict=True)
    round_p50_ms: tuple[float, ...] = need(list, low=0, each=True)
    ratio_vs_first: Ratio = need(dict, record=Ratio)
    cpu_p50_ms: float | None = need(*_NUM, optional=True, low=0)  # with one thread: calling-thread CPU time
    round_cpu_ms: tuple[float, ...] | None = need(list, optional=True, low=0, each=True)
    cpu_ratio_vs_first: Ratio | None = need(dict, optional=True, record=Ratio)


@dataclass(frozen=True, kw_only=True)
class InterleaveOptions(Record):
    """`options` of an interleave file: batch (None with a --shape), threads, rounds and runs per round."""

    AT: ClassVar[str] = "options."
    threads: int = need(int, low=1)
    rounds: int = need(int, low=1)
    iters_per_round: int = need(int, low=1)
    batch: int | None = need(int, optional=True, low=1)
    shape: tuple[int, ...] | None = need(list, optional=True, low=1, each=True)
    warmup_iters: int | None = need(int, optional=True, low=0)
    seed: int | None = need(int, optional=True)


@dataclass(frozen=True, kw_only=True)
class InterleaveResult(Record):
    """The file of `edgebench bench A B --interleave` (`kind` "interleave", its own `schema_version` 1): every
    model timed in one process round by round, each model's ratio to the first (`baseline`) with its CI."""

    schema_version: int = need(int)
    kind: str = need(str)
    created_utc: str = need(str)
    baseline: str = need(str)
    runtime: RuntimeInfo = need(dict, record=RuntimeInfo)
    options: InterleaveOptions = need(dict, record=InterleaveOptions)
    models: tuple[InterleavedModel, ...] = need(list, record=InterleavedModel)
    machine: Machine = need(dict, record=Machine)
    loadavg_1min: float | None = need(*_NUM, optional=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kind != "interleave":
            raise ResultSchemaError(f"field 'kind' is {self.kind!r:.40}; an interleave file's is 'interleave'")
        if len(self.models) < 2:
            raise ResultSchemaError(f"field 'models' holds {len(self.models)} model(s); an interleave file compares "
                                    "two or more (re-run edgebench bench A B --interleave)")
        if self.baseline != self.models[0].name:
            raise ResultSchemaError(f"field 'baseline' is {self.baseline!r:.60} but the first model is "
                                    f"{self.models[0].name!r:.60}; the ratios are to the first model")

    @classmethod
    def from_dict(cls, d: Any, source: str = "interleave file") -> InterleaveResult:
        """The interleave file in the JSON object `d`; ResultSchemaError naming `source` and the bad field."""
        _check_version(d, source, INTERLEAVE_SCHEMA_VERSION, "interleave ")
        try:
            result: InterleaveResult = super().from_dict(d)
        except ResultSchemaError as e:
            fix = "" if "re-run" in str(e) else "; re-run edgebench bench A B --interleave"
            raise ResultSchemaError(f"{source}: {e}{fix}") from None
        return result
