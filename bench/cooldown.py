"""`edgebench bench --cooldown C`: wait until the board is cooler than C degrees before each measurement.

A Raspberry Pi without a fan reaches its soft temperature limit (60-80 C) within a minute of full load and
then lowers its clock; measuring the next model on a hot board mixes two speeds. The temperature is the
hottest thermal zone of the machine fingerprint (`bench.fingerprint.dynamic_state`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgebench.errors import UserInputError

MAX_BOUND_C = 110.0


def max_temp_c(state: dict[str, Any]) -> float | None:
    """The hottest thermal zone of a `dynamic_state()` / fingerprint dict, or None without sensors."""
    temps = [z["temp_c"] for z in state.get("thermal") or [] if z.get("temp_c") is not None]
    return max(temps) if temps else None


@dataclass(frozen=True)
class Cooldown:
    """Wait until the hottest zone reads below `bound_c`, polling every `poll_s`, at most `timeout_s`."""

    bound_c: float
    timeout_s: float = 300.0
    poll_s: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.bound_c <= MAX_BOUND_C:
            raise UserInputError(f"--cooldown {self.bound_c:g} is not a temperature in (0, {MAX_BOUND_C:g}] "
                                 "degrees C; a Raspberry Pi idles at 40-55, e.g. --cooldown 55")
        if self.timeout_s < 0:
            raise UserInputError(f"--cooldown-timeout {self.timeout_s:g} is negative; give seconds >= 0")
        if self.poll_s <= 0:
            raise UserInputError(f"cooldown poll interval {self.poll_s:g} must be > 0 seconds")


def wait_until_cool(cfg: Cooldown, read: Callable[[], dict[str, Any]] | None = None,
                    sleep: Callable[[float], None] | None = None,
                    clock: Callable[[], float] | None = None) -> dict[str, Any]:
    """Block until cooler than `cfg.bound_c` (or the timeout); returns what happened, for the result file.

    `reached` is None when the machine has no temperature sensor (nothing to wait for).
    """
    if read is None:
        from edgebench.bench.fingerprint import dynamic_state

        read = dynamic_state
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    t0 = clock()
    start = temp = max_temp_c(read())
    while temp is not None and temp >= cfg.bound_c and clock() - t0 < cfg.timeout_s:
        sleep(min(cfg.poll_s, max(cfg.timeout_s - (clock() - t0), 0.0)))
        temp = max_temp_c(read())
    return {"bound_c": cfg.bound_c, "timeout_s": cfg.timeout_s, "start_temp_c": start, "end_temp_c": temp,
            "waited_s": round(clock() - t0, 3), "reached": None if temp is None else temp < cfg.bound_c}


def cooldown_warnings(info: dict[str, Any]) -> list[str]:
    """What a result file says when the cooldown could not do its job."""
    if info["reached"] is None:
        return ["--cooldown: this machine reports no temperature, so it did not wait"]
    if not info["reached"]:
        return [f"the board was still at {info['end_temp_c']:.1f} C (bound {info['bound_c']:g} C) after waiting "
                f"{info['waited_s']:.0f} s; its latency may include thermal throttling"]
    return []
