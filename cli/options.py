"""Parsing of CLI option values shared by the commands (lists of ints, floats, shapes, runtime options)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from edgebench.bench.cooldown import MAX_BOUND_C
from edgebench.errors import UserInputError


def shown(value: str) -> str:
    """`value` for a one-line message: control characters escaped (a pasted newline stays visible).

    >>> shown("1,\\n2")
    '1,\\\\n2'
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value))


def parse_int_list(value: str, option: str, *, minimum: int = 1, unique: bool = True) -> list[int]:
    """'1,2,4' -> [1, 2, 4]; every value must be an integer >= `minimum` (and given once, if `unique`).

    >>> parse_int_list("1, 8", "--batch")
    [1, 8]
    """
    out: list[int] = []
    for part in str(value).split(","):
        part = part.strip()
        try:
            n = int(part)
        except ValueError:
            raise UserInputError(
                f"{option} '{shown(value)}': '{shown(part)}' is not an integer; give e.g. {option} 1,2") from None
        if n < minimum:
            raise UserInputError(f"{option} '{shown(value)}': {n} is below {minimum}; every value must be >= {minimum}")
        out.append(n)
    if unique and len(set(out)) != len(out):
        raise UserInputError(f"{option} '{shown(value)}' repeats a value; give each once")
    return out


def parse_shape(value: str | None) -> tuple[int, ...] | None:
    """'1,3,224,224' (or '1x3x224x224') -> (1, 3, 224, 224); dims may repeat, each must be >= 1.

    >>> parse_shape("1,3,32,32")
    (1, 3, 32, 32)
    """
    if value is None:
        return None
    return tuple(parse_int_list(value.replace("x", ","), "--shape", unique=False))


def check_float(value: float | None, option: str, low: float | None = None, high: float | None = None, *,
                low_open: bool = False, high_open: bool = False, what: str = "a number") -> float | None:
    """`value` if it is finite and inside the interval (None passes: an option not given); else a UserInputError
    naming `option`, the value and the interval. The one check behind every float option.

    >>> check_float(0.3, "--budget", 0, 100)
    0.3
    >>> check_float(float("nan"), "--budget", 0, 100)
    Traceback (most recent call last):
    ...
    edgebench.errors.UserInputError: --budget nan is not a finite number; give a number in [0, 100]
    """
    import math

    if value is None:
        return None
    v = float(value)
    if low is not None and high is not None:
        allowed = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low is not None:
        allowed = f"{'>' if low_open else '>='} {low:g}"
    elif high is not None:
        allowed = f"{'<' if high_open else '<='} {high:g}"
    else:
        allowed = ""
    if not math.isfinite(v):
        raise UserInputError(f"{option} {v} is not a finite number; give {what}" + (f" {allowed}" if allowed else ""))
    if (low is not None and (v <= low if low_open else v < low)) or \
            (high is not None and (v >= high if high_open else v > high)):
        raise UserInputError(f"{option} {v:g} is out of range: it must be {what} {allowed}")
    return v


def float_option(low: float | None = None, high: float | None = None, *, low_open: bool = False,
                 high_open: bool = False, what: str = "a number") -> Callable[..., float | None]:
    """A typer option callback running `check_float` at parse time (before any work), named after the option:
    ``typer.Option(1.0, "--budget", callback=float_option(0, 100))``."""

    def callback(param: typer.CallbackParam, value: float | None) -> float | None:
        option = max((o for o in param.opts if o.startswith("--")), key=len, default=param.name or "option")
        return check_float(value, option, low, high, low_open=low_open, high_open=high_open, what=what)

    return callback


# the ranges the float options share (each a typer callback: `typer.Option(1e-2, "--lr", callback=POSITIVE)`)
FINITE = float_option()  # the range is checked where it is defined (e.g. AccuracyBudget: 0..MAX_BUDGET_PTS)
POSITIVE = float_option(0, low_open=True)
NON_NEGATIVE = float_option(0)
UNIT = float_option(0, 1)
FRACTION = float_option(0, 1, high_open=True, what="a fraction")
OPEN_FRACTION = float_option(0, 1, low_open=True, high_open=True, what="a fraction")
POINTS = float_option(0, 100, what="a number of top-1 points")
# an accuracy budget or reference of `recommend`/`compare`: each model's headline accuracy (edgebench.task.Headline)
ACCURACY_POINTS = float_option(0, 100, what="a number of accuracy points (top-1, or mAP@0.5:0.95 for a detector)")
ACCURACY_PCT = float_option(0, 100, low_open=True, what="an accuracy % (top-1, or mAP@0.5:0.95 for a detector)")
CELSIUS = float_option(0, MAX_BOUND_C, low_open=True, what="a temperature (Celsius)")


def parse_floats(text: str, option: str, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False) -> list[float]:
    """'0.1,0.2' -> [0.1, 0.2]; each value finite and inside the interval (`check_float`), else a UserInputError.

    >>> parse_floats("0.1, 0.2", "--grid", 0, 1)
    [0.1, 0.2]
    """
    out: list[float] = []
    for part in str(text).split(","):
        if not part.strip():
            continue
        try:
            v = float(part)
        except ValueError:
            raise UserInputError(f"{option} '{shown(text)}': '{shown(part.strip())}' is not a number; give a "
                                 f"comma-separated list such as {option} 0.1,0.2") from None
        out.append(check_float(v, option, low, high, low_open=low_open, high_open=high_open))  # type: ignore[arg-type]
    return out


def _existing(param: typer.CallbackParam, value: Path | None, folder: bool) -> Path | None:
    """`value` when it names an existing folder (`folder`) or file, else one line naming the option."""
    if value is None or (Path(value).is_dir() if folder else Path(value).is_file()):
        return value
    option = max(param.opts, key=len)
    kind, other = ("folder", "file") if folder else ("file", "folder")
    what = f"is a {other}, not a {kind}" if Path(value).exists() else "does not exist"
    default = "the default places" if folder else "the default"
    raise UserInputError(f"{option} '{shown(str(value))}' {what}; give an existing {kind}, or leave {option} "
                         f"out to use {default}")


def existing_dir(param: typer.CallbackParam, value: Path | None) -> Path | None:
    """Option callback: a folder option (--data-dir) must name an existing folder (no silent fallback)."""
    return _existing(param, value, folder=True)


def existing_file(param: typer.CallbackParam, value: Path | None) -> Path | None:
    """Option callback: a file option (--devices-config) must name an existing file (not an empty default)."""
    return _existing(param, value, folder=False)


OVERSUBSCRIBE_FACTOR = 4  # threads above this many per logical core are refused without --allow-oversubscribe


def check_threads(values: list[int], option: str = "--threads", *, allow_oversubscribe: bool = False,
                  cores: int | None = None) -> list[int]:
    """Refuse thread counts above OVERSUBSCRIBE_FACTOR x the logical cores (a typo such as 10000 would
    start 10000 threads and never finish) unless `allow_oversubscribe`.

    >>> check_threads([1, 8], cores=2)
    [1, 8]
    >>> check_threads([0])
    Traceback (most recent call last):
      ...
    edgebench.errors.UserInputError: --threads 0 must be >= 1; leave --threads out for the default (the usable cores)
    """
    import os

    if too_few := [t for t in values if t < 1]:  # ORT reads 0 as "its default": say so instead of doing it silently
        raise UserInputError(f"{option} {too_few[0]} must be >= 1; leave {option} out for the default (the usable "
                             "cores)")
    cores = cores or os.cpu_count() or 1
    limit = OVERSUBSCRIBE_FACTOR * cores
    too_many = [t for t in values if t > limit]
    if too_many and not allow_oversubscribe:
        raise UserInputError(
            f"{option} {too_many[0]} is more than {OVERSUBSCRIBE_FACTOR}x the {cores} logical cores here "
            f"(at most {limit}); give fewer, or pass --allow-oversubscribe to run it anyway"
        )
    return values


def parse_key_values(values: list[str] | None, option: str = "--runtime-option") -> dict[str, str]:
    """['engine=qnnpack', 'calibration-size=500'] -> {'engine': 'qnnpack', 'calibration_size': '500'}.

    >>> parse_key_values(["engine=x86", "spin-wait=false"])
    {'engine': 'x86', 'spin_wait': 'false'}
    """
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UserInputError(f"{option} '{shown(item)}' is not KEY=VALUE; give e.g. {option} engine=qnnpack")
        if key in out:
            raise UserInputError(f"{option} sets '{shown(key)}' twice; give each key once")
        out[key] = value.strip()
    return out


def runtime_options(runtime: str, flags: dict[str, tuple[str, object]], given: dict[str, str]) -> Any:
    """The runtime's typed Options from the dedicated flags and --runtime-option pairs (`parse_key_values`).

    `flags` maps an Options field to (the flag that set it, its value); only flags the user gave.
    A flag the runtime's Options lack is refused in one line, naming what the runtime takes.
    """
    from dataclasses import replace

    from edgebench.runtimes import options_class

    cls = options_class(runtime)
    known = cls.field_names()
    for field_name, (flag, _) in flags.items():
        if field_name not in known:
            raise UserInputError(
                f"{flag} does not apply to runtime '{runtime}'; its options are {', '.join(known)} "
                "(set them with --runtime-option KEY=VALUE)"
            )
    for field_name, (flag, _) in flags.items():
        if field_name in given:
            raise UserInputError(f"{flag} and --runtime-option {field_name}=... both set {field_name}; give one")
    opts = cls.from_strings(given)
    return replace(opts, **{k: v for k, (_, v) in flags.items()}) if flags else opts
