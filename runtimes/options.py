"""Typed runtime options: a frozen dataclass per runtime, with an exact JSON round trip.

`RuntimeOptions` is the common base (the thread counts every runtime honours). Each runtime
declares its own subclass as `Options` in its sub-package (ort-cpu: `runtimes/ort/options.py`
`OrtCpuOptions`; torch-int8: `runtimes/torch/options.py` `TorchInt8Options`)
and `load()` takes an instance of it. Options cross to the measurement process as
``options.to_dict()`` and come back with ``Options.from_dict(...)``, equal to what was sent.

Example::

    o = OrtCpuOptions(intra_op_threads=2, config_entries=(("session.use_env_allocators", "1"),))
    assert OrtCpuOptions.from_dict(json.loads(json.dumps(o.to_dict()))) == o
    OrtCpuOptions.from_strings({"graph_optimization": "basic"})   # the CLI's --runtime-option KEY=VALUE

This module imports nothing heavier than the standard library, so the CLI can validate options
before it imports numpy or a runtime.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from edgebench.errors import UserInputError, check_one_of, suggest

OptionsT = TypeVar("OptionsT", bound="RuntimeOptions")
# the deployment precisions (edgebench.runtimes.precisions says which runtime runs which)
PRECISIONS = ("fp32", "bf16", "fp16", "int8")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _check_int(owner: str, name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserInputError(f"{owner} option {name} is {value!r}; it must be an integer >= {minimum}")


def _check_choice(owner: str, name: str, value: object, allowed: tuple[str, ...]) -> None:
    check_one_of(f"{owner} option {name}", value, allowed)


def _check_bool(owner: str, name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise UserInputError(f"{owner} option {name} is {value!r}; it must be true or false")


@dataclass(frozen=True)
class RuntimeOptions:
    """What every runtime honours: explicit, recorded thread counts.

    Given only these fields it is the common base; `load()` of any runtime turns it into that
    runtime's own Options (the other fields at their defaults).

    A runtime's own fields belong to its class: ``OrtCpuOptions(spin_wait=False, graph_optimization="basic")``
    or ``get_runtime(name).Options(...)``; ``RuntimeOptions(graph_optimization=...)`` is refused, naming it.
    """

    runtime: ClassVar[str] = "any runtime"

    intra_op_threads: int = 1
    inter_op_threads: int = 1

    def __new__(cls, *args: Any, **kwargs: Any) -> RuntimeOptions:
        unknown = sorted(kwargs.keys() - set(cls.field_names())) if cls is RuntimeOptions else []
        if unknown:  # a runtime's own option given to the shared base: name the class that has it
            owners = [c for c in _registered_options() if set(unknown) <= set(c.field_names())]
            fix = (f"build {owners[0].__name__}(...) or get_runtime('{owners[0].runtime}').Options(...)" if owners
                   else "build the runtime's own options: get_runtime(name).Options(...)")
            raise UserInputError(
                f"RuntimeOptions takes only the options every runtime shares ({', '.join(cls.field_names())}), not "
                f"{', '.join(unknown)}; {fix}"
            )
        return object.__new__(cls)

    def __post_init__(self) -> None:
        for name in ("intra_op_threads", "inter_op_threads"):
            _check_int(self.runtime, name, getattr(self, name), 1)

    # --- fields and (de)serialisation -------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples of pairs become objects, everything else is already a JSON scalar."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = dict(v) if _is_pairs_type(self._hints()[f.name]) else v
        return out

    @classmethod
    def from_dict(cls: type[OptionsT], data: Mapping[str, Any]) -> OptionsT:
        """The inverse of `to_dict`; unknown keys are refused with the known ones listed."""
        if not isinstance(data, Mapping):
            raise UserInputError(f"{cls.runtime} options must be an object of name: value, not {type(data).__name__}")
        cls._refuse_unknown(data.keys())
        hints = cls._hints()
        kwargs: dict[str, Any] = {}
        for k, v in data.items():
            if _is_pairs_type(hints[k]):
                v = _pairs(cls.runtime, k, v)
            kwargs[k] = v
        return cls(**kwargs)

    @classmethod
    def from_strings(cls: type[OptionsT], values: Mapping[str, str], base: OptionsT | None = None) -> OptionsT:
        """Options from `KEY=VALUE` strings (the CLI's --runtime-option), over `base` or the defaults.

        >>> from edgebench.runtimes.ort.options import OrtCpuOptions
        >>> OrtCpuOptions.from_strings({"spin_wait": "false", "intra_op_threads": "2"}).spin_wait
        False
        """
        cls._refuse_unknown(values.keys())
        hints = cls._hints()
        changes = {k: _convert(cls.runtime, k, v, hints[k]) for k, v in values.items()}
        return dataclasses.replace(base, **changes) if base is not None else cls(**changes)

    @classmethod
    def coerce(cls: type[OptionsT], options: RuntimeOptions | None) -> OptionsT:
        """`options` as this class: itself, or its fields that this class has (threads) over the defaults.

        A runtime given another runtime's options (a library caller passing ORT options to torch) keeps
        what both share; the CLI never does this, it refuses options a runtime lacks.
        """
        if options is None:
            return cls()
        if isinstance(options, cls):
            return options
        mine = set(cls.field_names())
        return cls(**{k: v for k, v in vars(options).items() if k in mine})

    @classmethod
    def _refuse_unknown(cls, keys: typing.Iterable[str]) -> None:
        known = cls.field_names()
        unknown = [k for k in keys if k not in known]
        if unknown:
            hint = suggest(unknown[0], known)
            raise UserInputError(
                f"unknown {cls.runtime} option{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(u) for u in unknown)}; known: {', '.join(known)}.{hint}"
            )

    @classmethod
    def _hints(cls) -> dict[str, Any]:
        return typing.get_type_hints(cls)


def _registered_options() -> list[type[RuntimeOptions]]:
    """Every runtime's own Options class defined so far (each lives in its runtime's sub-package), in order."""
    out: list[type[RuntimeOptions]] = []
    todo = list(RuntimeOptions.__subclasses__())
    while todo:
        c = todo.pop(0)
        out.append(c)
        todo.extend(c.__subclasses__())
    return out


def _is_pairs_type(hint: Any) -> bool:
    return typing.get_origin(hint) is tuple and typing.get_args(hint)[:1] == (tuple[str, str],)


def _pairs(owner: str, name: str, value: Any) -> tuple[tuple[str, str], ...]:
    """An object {k: v} or a list of [k, v] pairs -> a tuple of (str, str) pairs, order kept."""
    items = value.items() if isinstance(value, Mapping) else value
    try:
        out = tuple((k, v) for k, v in items)
    except (TypeError, ValueError):
        raise UserInputError(f"{owner} option {name} must be an object of string: string") from None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in out):
        raise UserInputError(f"{owner} option {name} must map strings to strings, got {value!r}")
    return out


def _convert(owner: str, name: str, text: str, hint: Any) -> Any:
    """A CLI string -> the field's type (int, bool, str, a Literal choice, optional, pairs)."""
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if text.strip().lower() in ("", "none", "default"):
            return None
        (hint,) = [a for a in args if a is not type(None)]
    if _is_pairs_type(hint):
        pairs = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            k, sep, v = part.partition(":")
            if not sep:
                raise UserInputError(f"{owner} option {name}: '{part}' is not KEY:VALUE; give e.g. {name}=a.b:1,c.d:0")
            pairs.append((k.strip(), v.strip()))
        return tuple(pairs)
    if hint is bool:
        low = text.strip().lower()
        if low in _TRUE | _FALSE:
            return low in _TRUE
        raise UserInputError(f"{owner} option {name}={text!r} is not a boolean; give true or false")
    if hint is int:
        try:
            return int(text)
        except ValueError:
            raise UserInputError(f"{owner} option {name}={text!r} is not an integer") from None
    return text  # str and Literal choices: validated by __post_init__


@dataclass(frozen=True)
class PrecisionWay:
    """How a runtime runs a reduced float precision: the model file's precision and the options set."""

    file: str  # precision of the model file loaded (fp32: reduced arithmetic of the FP32 model)
    options: tuple[tuple[str, Any], ...]  # Options fields that select it
    how: str  # one line for docs and messages, e.g. "INFERENCE_PRECISION_HINT=bf16"

    def __post_init__(self) -> None:
        check_one_of("PrecisionWay file precision", self.file, PRECISIONS)
