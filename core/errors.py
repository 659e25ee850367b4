"""One error hierarchy for the whole project.

`EdgebenchError` is the root. Errors caused by what the user typed or gave us also
subclass `ValueError` (via `UserInputError`); the CLI prints them as one line and
exits with code 2. Anything else that reaches the CLI is an internal failure (exit 1).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable


class EdgebenchError(Exception):
    """Root of every error edgebench raises on purpose."""

    exit_code: int = 1


class UserInputError(EdgebenchError, ValueError):
    """Bad input: a path, a name, an option value. Message says what, what is allowed, the fix."""

    exit_code = 2


class NotFoundError(UserInputError, LookupError):
    """A name looked up in a registry (runtime, model, preset, importance) does not exist."""


class ModelFileError(UserInputError):
    """A model file is missing, not ONNX, truncated or otherwise unusable."""


class BadCheckpoint(UserInputError):
    """A weights file does not fit the architecture or cannot be loaded safely."""


class DataError(UserInputError):
    """Image data (evaluation, parity, training, calibration) is missing, empty, malformed or does not fit."""


class CalibrationError(DataError):
    """Calibration data or a calibration run is unusable (empty set, NaN/Inf batches, a quantized model
    that outputs NaN). A DataError, so `except DataError` also catches it."""


class ParityError(EdgebenchError):
    """An exported or converted model does not match its source within tolerance."""


class OutputExistsError(UserInputError):
    """An output would overwrite an existing file and --force was not given."""


class RuntimeUnavailable(UserInputError):
    """A registered runtime whose packages are not installed here."""


class ResultSchemaError(UserInputError):
    """A result file that does not follow edgebench's result schema."""


class DeviceError(UserInputError):
    """A device (`edgebench device`) cannot be reached, refuses us, or lacks what a run needs."""


def suggest(name: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean 'x'?' for the closest choice, or '' when nothing is close.

    >>> suggest("ort-cpx", ["ort-cpu", "torch"])
    " Did you mean 'ort-cpu'?"
    >>> suggest("resnet21", ["resnet32", "resnet20", "resnet56"])
    " Did you mean 'resnet20'?"
    """
    choices = list(choices)
    close = difflib.get_close_matches(name, choices, n=len(choices) or 1, cutoff=0.5)
    if not close:
        return ""

    def rank(c: str) -> tuple[float, int, int, str]:
        # equal similarity (resnet21: resnet20 and resnet32 both 0.875): the longer common prefix wins, then
        # the closer length, then the name, so the answer never depends on the order of `choices`
        prefix = next((i for i, (a, b) in enumerate(zip(name, c, strict=False)) if a != b), min(len(name), len(c)))
        return (-difflib.SequenceMatcher(None, name, c).ratio(), -prefix, abs(len(c) - len(name)), c)

    return f" Did you mean '{min(close, key=rank)}'?"


def check_one_of(what: str, value: object, allowed: Iterable[str], *, fix: str = "",
                 error: Callable[[str], Exception] = UserInputError) -> str:
    """`value` if it is one of `allowed`; else `error` (a UserInputError) naming it, what is allowed and the
    closest name. `fix` is said after the list (a sentence of its own).

    >>> check_one_of("--mode", "static", ("static", "dynamic"))
    'static'
    >>> check_one_of("--mode", "statik", ("static", "dynamic"))
    Traceback (most recent call last):
      ...
    edgebench.errors.UserInputError: --mode 'statik' is not one of static, dynamic. Did you mean 'static'?
    """
    allowed = tuple(allowed)
    if value in allowed:
        return str(value)
    tail = f" {fix}" if fix else ""
    raise error(f"{what} '{value}' is not one of {', '.join(allowed)}.{suggest(str(value), allowed)}{tail}")
