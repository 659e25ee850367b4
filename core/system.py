"""Facts about the machine this process runs on that several layers need (stdlib only).

Example::

    from edgebench.system import default_threads
    default_threads()   # 2 on a 2-core container, even when the host has 64 cores
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path


def default_threads() -> int:
    """The default thread count: the cores this process may run on, else the machine's CPUs, else 1.

    `os.sched_getaffinity` honours taskset/cgroup cpusets (a container limited to 2 of 64 cores
    gives 2); `os.cpu_count()` is the fallback where it does not exist (macOS, Windows).
    """
    if hasattr(os, "sched_getaffinity"):
        try:
            n = len(os.sched_getaffinity(0))
        except OSError:  # some sandboxes refuse the syscall
            n = 0
        if n > 0:
            return n
    return os.cpu_count() or 1


def allowed_cpus() -> set[int] | None:
    """The CPUs this process may run on (`os.sched_getaffinity`), None where that cannot be read (macOS)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    try:
        return set(os.sched_getaffinity(0))
    except OSError:
        return None


def thread_ids() -> list[int]:
    """The kernel's ids of this process's threads, sorted (Linux's /proc/self/task; empty elsewhere)."""
    task_dir = Path("/proc/self/task")
    return sorted(int(t.name) for t in task_dir.iterdir()) if task_dir.is_dir() else []


def thread_allowed_cpus(tid: int = 0) -> tuple[int, ...] | None:
    """The CPUs thread `tid` (0: the calling thread) may run on; None where that cannot be read (the thread
    ended, or no `os.sched_getaffinity`: macOS)."""
    try:
        return tuple(sorted(os.sched_getaffinity(tid)))
    except (AttributeError, OSError):
        return None


def format_cpus(cpus: Iterable[int]) -> str:
    """CPU numbers as the kernel writes them in Cpus_allowed_list.

    >>> format_cpus([0, 1, 2, 3, 6])
    '0-3,6'
    """
    out: list[str] = []
    run: list[int] = []
    for c in sorted(set(cpus)):
        if run and c != run[-1] + 1:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = []
        run.append(c)
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


MAX_CPU = 8191  # Linux's largest NR_CPUS


def parse_cpus(value: str, option: str = "--cpus") -> tuple[int, ...]:
    """'0-3' / '0,2,4-5' -> sorted CPU numbers; a bad item, a backwards range or a repeat is refused.

    Only the syntax: `check_cpus` checks the numbers against the CPUs this process may use.

    >>> parse_cpus("4-5,0")
    (0, 4, 5)
    """
    from edgebench.errors import UserInputError

    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value))
    out: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        lo, sep, hi = (p.strip() for p in part.partition("-"))
        if not re.fullmatch(r"\d+", lo, re.ASCII) or (sep and not re.fullmatch(r"\d+", hi, re.ASCII)):
            raise UserInputError(f"{option} '{text}': '{part}' is not a CPU number or range; "
                                 f"give e.g. {option} 0-3 or {option} 0,2")
        a, b = int(lo), int(hi) if sep else int(lo)
        if max(a, b) > MAX_CPU:  # before the range is expanded: 0-99999999999 would fill the memory
            raise UserInputError(f"{option} '{text}': CPU {max(a, b)} is above {MAX_CPU}, the largest CPU number "
                                 "Linux has; give the CPUs of this machine (edgebench sysinfo)")
        if b < a:
            raise UserInputError(f"{option} '{text}': the range {a}-{b} runs backwards; write it low-high "
                                 f"({option} {b}-{a})")
        out.extend(range(a, b + 1))
    if len(set(out)) != len(out):
        raise UserInputError(f"{option} '{text}' names a CPU twice; give each once")
    return tuple(sorted(out))


def check_cpus(cpus: Iterable[int], option: str = "--cpus") -> None:
    """Refuse CPUs that do not exist here or that this process may not run on (taskset, a container's cpuset)."""
    from edgebench.errors import UserInputError

    allowed = allowed_cpus()
    if allowed is None:
        raise UserInputError(f"{option} needs CPU affinity (os.sched_setaffinity), which this system does not "
                             f"offer; drop {option}")
    bad = sorted(set(cpus) - allowed)
    if bad:
        n = os.cpu_count() or 0
        why = "does not exist" if bad[0] >= n else "is not among the CPUs this process may use"
        raise UserInputError(f"{option}: CPU {bad[0]} {why} (allowed here: {format_cpus(allowed)}); "
                             "choose among those")
