"""Parsing of CLI option values shared by the commands (lists of ints, shapes, runtime options)."""

from __future__ import annotations

from typing import Any

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


OVERSUBSCRIBE_FACTOR = 4  # threads above this many per logical core are refused without --allow-oversubscribe


def check_threads(values: list[int], option: str = "--threads", *, allow_oversubscribe: bool = False,
                  cores: int | None = None) -> list[int]:
    """Refuse thread counts above OVERSUBSCRIBE_FACTOR x the logical cores (a typo such as 10000 would
    start 10000 threads and never finish) unless `allow_oversubscribe`.

    >>> check_threads([1, 8], cores=2)
    [1, 8]
    """
    import os

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
