"""Which precisions (fp32, bf16, fp16, int8) each runtime runs, and how `--precision P` selects one.

`--precision` on bench/eval/sweep names a deployment precision. For fp32 and int8 it picks the model
file (model.int8.onnx, DIR/<runtime>/int8/...). bf16 and fp16 are either a model file of their own
(ONNX Runtime: model.fp16.onnx from `quantize --mode fp16`) or reduced float arithmetic of the FP32
model, selected by the runtime's options (OpenVINO `INFERENCE_PRECISION_HINT`, ncnn `use_fp16_*`/
`use_bf16_storage`, torch bf16 autocast). Each runtime class declares both:

- ``reduced_precisions``: {precision: PrecisionWay} (the file it loads and the option fields it sets);
- ``cannot_run``: {precision: why}, the reason for each precision it refuses.

`plan_precision` reads them, so a runtime that cannot run a precision is refused in one line naming
what it runs. The session then records what really ran (`info["execution_precision"]`, read back
from the runtime). Standard library only.

>>> PRECISIONS
('fp32', 'bf16', 'fp16', 'int8')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Any

from edgebench.errors import UserInputError, suggest
from edgebench.runtimes.options import PRECISIONS, PrecisionWay

REDUCED = ("bf16", "fp16")
__all__ = ["PRECISIONS", "REDUCED", "PrecisionWay", "check_runtime_precision", "plan_precision", "precision_way",
           "runs"]


def _runtime_class(runtime: str) -> Any:
    from edgebench.runtimes import RUNTIMES, runtime_names

    runtime_names()  # registers the built-in runtimes
    return RUNTIMES.get(runtime)


def runs(runtime: str) -> tuple[str, ...]:
    """The precisions `runtime` runs (whatever this CPU does with them: the session records that).

    >>> runs("ort-cpu")
    ('fp32', 'fp16', 'int8')
    """
    refused = getattr(_runtime_class(runtime), "cannot_run", {})
    return tuple(p for p in PRECISIONS if p not in refused)


def check_runtime_precision(runtime: str, precision: str) -> str:
    """`precision` if `runtime` runs it; else one line naming what it runs (and why not this one)."""
    can = runs(runtime)
    if precision not in PRECISIONS:
        raise UserInputError(f"--precision '{precision}' is not one of {', '.join(PRECISIONS)}; runtime "
                             f"'{runtime}' runs {', '.join(can)}.{suggest(precision, can)}")
    why = getattr(_runtime_class(runtime), "cannot_run", {}).get(precision)
    if why is not None:
        raise UserInputError(f"runtime '{runtime}' cannot run --precision {precision}: {why}; it runs "
                             f"{', '.join(can)}")
    return precision


def precision_way(runtime: str, precision: str) -> PrecisionWay | None:
    """How `runtime` selects the reduced `precision` by options; None when it is a model file of its own."""
    return getattr(_runtime_class(runtime), "reduced_precisions", {}).get(precision)


def plan_precision(runtime: str, precision: str | None, options: Any = None,
                   given: Collection[str] = ()) -> tuple[str | None, Any]:
    """(the model file's precision, the runtime's Options) for `-r runtime --precision precision`.

    The options that select a reduced precision are set over `options`; an option the user set otherwise
    (e.g. ``--ro inference_precision=f32`` with ``--precision bf16``: a field named in `given`, or one
    away from its default) is refused, naming both.
    """
    if precision is None:
        return None, options
    check_runtime_precision(runtime, precision)
    way = precision_way(runtime, precision)
    if way is None:
        return precision, options
    cls = _runtime_class(runtime).Options
    opts = cls.coerce(options)
    default = cls()
    for name, value in way.options:
        mine = getattr(opts, name)
        if mine != value and (name in given or mine != getattr(default, name)):
            raise UserInputError(f"--precision {precision} sets {runtime} option {name}={value}, but {name}={mine} "
                                 "was given too; drop one of them")
    return way.file, dataclasses.replace(opts, **dict(way.options))


def precision_of_options(runtime: str, options: Any, file_precision: str) -> str:
    """The deployment precision that `options` select on a model file of `file_precision` (the inverse of
    `plan_precision`): bf16 for OpenVINO's FP32 model with ``inference_precision="bf16"``."""
    for prec, way in getattr(_runtime_class(runtime), "reduced_precisions", {}).items():
        if way.file == file_precision and all(getattr(options, k, None) == v for k, v in way.options):
            return str(prec)
    return file_precision
