"""Runtime options: every registered runtime's Options and a Job round-trip through JSON exactly."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import pytest
from edgebench.bench.runner import Job
from edgebench.errors import UserInputError
from edgebench.runtimes import RUNTIMES, options_class, runtime_names
from edgebench.runtimes.options import RuntimeOptions
from edgebench.runtimes.ort.options import OrtCpuOptions
from edgebench.runtimes.torch.options import TorchInt8Options
from edgebench.system import default_threads

# a non-default value for every field of every built-in runtime's Options
NON_DEFAULT: dict[str, Any] = {
    "intra_op_threads": 3, "inter_op_threads": 2, "graph_optimization": "basic", "execution_mode": "parallel",
    "memory_arena": False, "enable_profiling": True, "spin_wait": False,
    "config_entries": (("session.intra_op.allow_spinning", "0"), ("session.use_env_allocators", "1")),
    "engine": "qnnpack", "calibration_data": "cifar10:train", "calibration_size": 64, "calibration_seed": 7,
    "num_streams": 2, "performance_hint": "throughput", "inference_precision": "f16", "cpu_pinning": False,  # openvino
    "xnnpack": False,  # litert
    "fp16": True, "bf16": True, "winograd": False, "sgemm": False,  # ncnn
    "autocast": "bf16",  # torch
}


def _non_default(cls: type[RuntimeOptions]) -> RuntimeOptions:
    missing = [f for f in cls.field_names() if f not in NON_DEFAULT]
    assert not missing, f"add non-default values for {missing} to NON_DEFAULT"
    return cls(**{f: NON_DEFAULT[f] for f in cls.field_names()})


@pytest.mark.parametrize("name", runtime_names())
def test_options_json_round_trip(name: str) -> None:
    cls = RUNTIMES.get(name).Options
    assert issubclass(cls, RuntimeOptions) and dataclasses.is_dataclass(cls)
    assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    for o in (cls(), _non_default(cls)):
        back = cls.from_dict(json.loads(json.dumps(o.to_dict())))
        assert back == o and type(back) is cls
    assert _non_default(cls) != cls()


@pytest.mark.parametrize("name", runtime_names())
def test_job_round_trip(name: str) -> None:
    cls = options_class(name)
    for o in (cls(), _non_default(cls)):
        job = Job(model="m.onnx", runtime=name, batch=4, shape=(4, 3, 8, 8), seed=3, options=o,
                  bench={"min_iters": 5, "min_seconds": 0.0})
        wire = json.loads(job.to_json())
        assert wire["options"] == {"runtime": name, "options": o.to_dict()}
        back = Job.from_json(job.to_json())
        assert back == job and type(back.options) is cls


@pytest.mark.parametrize("name", runtime_names())
def test_unknown_option_names_the_known_ones(name: str) -> None:
    cls = options_class(name)
    with pytest.raises(UserInputError, match=r"unknown .* option 'intra_op_thread'; known: intra_op_threads.*"
                                             r"Did you mean 'intra_op_threads'"):
        cls.from_dict({"intra_op_thread": 2})


def test_ort_options_from_strings_and_config_entries() -> None:
    o = OrtCpuOptions.from_strings({"spin_wait": "off", "config_entries": "a.b:1, c.d:x", "inter_op_threads": "2"})
    assert o.spin_wait is False and o.inter_op_threads == 2 and o.config_entries == (("a.b", "1"), ("c.d", "x"))
    assert o.to_dict()["config_entries"] == {"a.b": "1", "c.d": "x"}
    assert OrtCpuOptions(config_entries={"k": "v"}).config_entries == (("k", "v"),)  # a dict given in code
    for bad, match in [({"spin_wait": "maybe"}, "not a boolean"), ({"intra_op_threads": "two"}, "not an integer"),
                       ({"graph_optimization": "al"}, "Did you mean 'all'"),
                       ({"config_entries": "novalue"}, "not KEY:VALUE")]:
        with pytest.raises(UserInputError, match=match):
            OrtCpuOptions.from_strings(bad)
    with pytest.raises(UserInputError, match="sets 'k' twice"):
        OrtCpuOptions(config_entries=(("k", "1"), ("k", "2")))
    with pytest.raises(UserInputError, match="must be an integer >= 1"):
        OrtCpuOptions.from_dict({"intra_op_threads": True})


def test_torch_int8_options_typed() -> None:
    o = TorchInt8Options.from_strings({"engine": "qnnpack", "calibration_size": "500", "calibration_seed": "none"})
    assert (o.engine, o.calibration_size, o.calibration_seed) == ("qnnpack", 500, None)
    with pytest.raises(UserInputError, match="not one of x86, qnnpack, fbgemm"):
        TorchInt8Options(engine="arm")  # type: ignore[arg-type]
    with pytest.raises(UserInputError, match="calibration_size is 0"):
        TorchInt8Options(calibration_size=0)


def test_a_runtime_option_on_the_shared_base_is_refused_naming_its_class() -> None:
    # RuntimeOptions(graph_optimization=...) once built an OrtCpuOptions behind the caller's back; now it says so
    with pytest.raises(UserInputError, match=r"not graph_optimization, spin_wait; build OrtCpuOptions\(\.\.\.\) or "
                                             r"get_runtime\('ort-cpu'\)\.Options"):
        RuntimeOptions(intra_op_threads=2, spin_wait=False, graph_optimization="basic")
    with pytest.raises(UserInputError, match="not colour; build the runtime's own options"):
        RuntimeOptions(colour="red")  # type: ignore[call-arg]
    o = OrtCpuOptions(intra_op_threads=2, spin_wait=False, graph_optimization="basic")
    assert o.spin_wait is False and o.graph_optimization == "basic"


def test_coercion() -> None:
    o = OrtCpuOptions(intra_op_threads=2, spin_wait=False, graph_optimization="basic")
    base = RuntimeOptions(intra_op_threads=3)
    assert type(base) is RuntimeOptions
    assert TorchInt8Options.coerce(base) == TorchInt8Options(intra_op_threads=3)
    assert TorchInt8Options.coerce(o) == TorchInt8Options(intra_op_threads=2)  # the shared fields only
    assert OrtCpuOptions.coerce(None) == OrtCpuOptions()


def test_job_legacy_runtime_options_and_mismatch() -> None:
    job = Job(model="m.onnx", runtime_options={"intra_op_threads": 2, "spin_wait": False})
    assert job.options == OrtCpuOptions(intra_op_threads=2, spin_wait=False)
    with pytest.raises(UserInputError, match="takes TorchOptions, not OrtCpuOptions"):
        Job(model="m.onnx", runtime="torch", options=OrtCpuOptions())
    wire = json.loads(job.to_json())
    wire["options"]["runtime"] = "torch"
    with pytest.raises(UserInputError, match="options are for runtime 'torch'"):
        Job.from_json(json.dumps(wire))


def test_default_threads_is_the_usable_cores() -> None:
    want = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert default_threads() == want >= 1
