"""Facts about the machine this process runs on that several layers need (stdlib only).

Example::

    from edgebench.system import default_threads
    default_threads()   # 2 on a 2-core container, even when the host has 64 cores
"""

from __future__ import annotations

import os


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
