"""Parsing of CLI option values shared by the commands (lists of ints, shapes)."""

from __future__ import annotations

from edgebench.errors import UserInputError


def parse_int_list(value: str, option: str, *, minimum: int = 1) -> list[int]:
    """'1,2,4' -> [1, 2, 4]; every value must be an integer >= `minimum`.

    >>> parse_int_list("1, 8", "--batch")
    [1, 8]
    """
    out: list[int] = []
    for part in str(value).split(","):
        part = part.strip()
        try:
            n = int(part)
        except ValueError:
            raise UserInputError(f"{option} '{value}': '{part}' is not an integer; give e.g. {option} 1,2") from None
        if n < minimum:
            raise UserInputError(f"{option} '{value}': {n} is below {minimum}; every value must be >= {minimum}")
        out.append(n)
    if len(set(out)) != len(out):
        raise UserInputError(f"{option} '{value}' repeats a value; give each once")
    return out


def parse_shape(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    return tuple(parse_int_list(value.replace("x", ","), "--shape"))
