"""Resident-set-size readings: current RSS, the process high-water mark, a sampling thread."""

from __future__ import annotations

import os
import resource
import sys
import threading

from edgebench.units import to_mb

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    """Current resident set size of this process in MB (10**6 bytes; reads /proc/self/statm on Linux)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return to_mb(int(f.read().split()[1]) * _PAGE)
    except OSError:
        import psutil

        return to_mb(float(psutil.Process().memory_info().rss))


def peak_rss_hwm_mb() -> float:
    """High-water mark of RSS for the whole life of this process, in MB (10**6 bytes).

    Linux: VmHWM of /proc/self/status, the high-water mark of this program's own memory. `ru_maxrss` is not
    that in a child process: the kernel carries the parent's high-water mark across fork + exec, so a worker
    started by a 400 MB parent read 400 MB whatever it loaded.
    """
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return to_mb(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass  # no procfs (macOS) or an odd line: getrusage below
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return to_mb(ru if sys.platform == "darwin" else ru * 1024)


class RssSampler:
    """Samples RSS every `interval_s` in a daemon thread; `peak_mb` is the largest reading.

    Example::

        with RssSampler() as s:
            loop()
        s.peak_mb
    """

    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self.peak_mb = 0.0
        self.n_samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval_s)

    def _sample(self) -> None:
        v = rss_mb()
        self.n_samples += 1
        if v > self.peak_mb:
            self.peak_mb = v

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
