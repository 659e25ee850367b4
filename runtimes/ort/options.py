"""ONNX Runtime's options: the `OrtCpuOptions` dataclass and the one `SessionOptions` builder.

Every ORT session of the package (the ort-cpu runtime, parity and calibration checks, probes, scripts)
gets its `onnxruntime.SessionOptions` from `session_options(...)` and its session from `cpu_session(...)`:
threads, graph optimization level, arena and log level are parameters; a parameter left at None keeps
ONNX Runtime's own default. onnxruntime is imported inside the functions (the CLI validates options first).

Example::

    sess = cpu_session(path, intra_op_threads=1, graph_optimization="disable")
    so = session_options(intra_op_threads=2, log_level=3)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from edgebench.errors import UserInputError
from edgebench.runtimes.options import RuntimeOptions, _check_bool, _check_choice, _pairs

GraphOptLevel = Literal["disable", "basic", "extended", "all"]
ExecutionMode = Literal["sequential", "parallel"]

_OPT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
               "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


@dataclass(frozen=True)
class OrtCpuOptions(RuntimeOptions):
    """ONNX Runtime session options (CPUExecutionProvider); every one is set explicitly and recorded.

    `config_entries` are extra `SessionOptions.add_session_config_entry(key, value)` pairs.
    """

    runtime: ClassVar[str] = "ort-cpu"

    graph_optimization: GraphOptLevel = "all"
    execution_mode: ExecutionMode = "sequential"
    memory_arena: bool = True
    enable_profiling: bool = False
    # ORT's worker threads spin-wait between ops by default (lowest latency on an idle machine);
    # off for evaluation and calibration, where throughput on a shared machine matters more.
    spin_wait: bool = True
    config_entries: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice(self.runtime, "graph_optimization", self.graph_optimization,
                      ("disable", "basic", "extended", "all"))
        _check_choice(self.runtime, "execution_mode", self.execution_mode, ("sequential", "parallel"))
        for name in ("memory_arena", "enable_profiling", "spin_wait"):
            _check_bool(self.runtime, name, getattr(self, name))
        # a dict (or list of pairs) given in code is stored as a tuple of pairs: frozen and hashable
        entries = _pairs(self.runtime, "config_entries", self.config_entries)
        keys = [k for k, _ in entries]
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise UserInputError(f"{self.runtime} option config_entries sets '{dup}' twice; give each key once")
        object.__setattr__(self, "config_entries", entries)



    def session_options(self, profile_prefix: str | None = None) -> Any:
        """These options as an `onnxruntime.SessionOptions` (every field set explicitly)."""
        spin = () if self.spin_wait else (("session.intra_op.allow_spinning", "0"),
                                          ("session.inter_op.allow_spinning", "0"))
        return session_options(
            intra_op_threads=self.intra_op_threads, inter_op_threads=self.inter_op_threads,
            graph_optimization=self.graph_optimization, execution_mode=self.execution_mode,
            memory_arena=self.memory_arena, config_entries=(*spin, *self.config_entries),
            profile_prefix=profile_prefix if self.enable_profiling else None, enable_profiling=self.enable_profiling)


def session_options(*, intra_op_threads: int | None = None, inter_op_threads: int | None = None,
                    graph_optimization: GraphOptLevel | None = None, execution_mode: ExecutionMode | None = None,
                    memory_arena: bool | None = None, log_level: int | None = 3,
                    config_entries: tuple[tuple[str, str], ...] = (), enable_profiling: bool = False,
                    profile_prefix: str | None = None, optimized_model_file: str | Path | None = None) -> Any:
    """An `onnxruntime.SessionOptions`; each parameter left at None keeps ORT's default (log level 3: errors)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    if intra_op_threads is not None:
        so.intra_op_num_threads = intra_op_threads
    if inter_op_threads is not None:
        so.inter_op_num_threads = inter_op_threads
    if graph_optimization is not None:
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _OPT_LEVELS[graph_optimization])
    if execution_mode is not None:
        so.execution_mode = (ort.ExecutionMode.ORT_PARALLEL if execution_mode == "parallel"
                             else ort.ExecutionMode.ORT_SEQUENTIAL)
    if memory_arena is not None:
        so.enable_cpu_mem_arena = memory_arena
    if log_level is not None:
        so.log_severity_level = log_level
    if enable_profiling:
        so.enable_profiling = True
        if profile_prefix:
            so.profile_file_prefix = profile_prefix
    if optimized_model_file is not None:
        so.optimized_model_filepath = str(optimized_model_file)
    for key, value in config_entries:
        so.add_session_config_entry(key, value)
    return so


def cpu_session(model: str | bytes | Path, so: Any = None, **options: Any) -> Any:
    """An `onnxruntime.InferenceSession` on the CPU provider, with `so` or `session_options(**options)`."""
    import onnxruntime as ort

    so = so if so is not None else session_options(**options)
    src = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(src, sess_options=so, providers=["CPUExecutionProvider"])


def ort_errors() -> tuple[type[BaseException], ...]:
    """The exception classes ONNX Runtime raises (pybind11 classes with no common base: Fail, InvalidArgument,
    RuntimeException, ...), for an `except` that catches ORT's failures and nothing else."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return tuple(v for v in vars(state).values() if isinstance(v, type) and issubclass(v, Exception))
