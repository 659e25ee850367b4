"""The stream threads of the multi, offline and server scenarios (bench/scenarios.py), and `--pin-streams`.

A stream is a thread of its own that creates its session and then runs what it is handed, so a session is made
and run in one thread. With `--pin-streams` the thread first restricts itself to its CPU set
(`os.sched_setaffinity(0, ...)`, which sets the calling thread's affinity on Linux): the threads a runtime starts
from it inherit the set, those it starts when the session is created (ONNX Runtime's intra-op pool) and those it
starts at the first run (an OpenMP team: ncnn, PyTorch). Sessions are created one at a time (a lock):
PyTorch's FX tracing (torch-int8) fails or hangs when two threads trace at once.

Example::

    with StreamPool(lambda i: rt.load(path, opts), 2, split_cpus((0, 1), 2)) as pool:
        pool.run(lambda i, sess: sess.run(feeds))
        pool.placement()  # [{"stream": 0, "cpus": [0], "thread_allowed_cpus": [0], ...}, ...]
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from edgebench.cpu import core_of
from edgebench.errors import UserInputError
from edgebench.system import format_cpus, thread_allowed_cpus, thread_ids

Task = Callable[[int, Any], None]  # (stream index, its session) -> None, run in the stream's thread


def check_pin_streams(streams: int, cpus: Sequence[int], source: str = "--cpus") -> None:
    """Refuse `--pin-streams` in one line when `cpus` (taken from `source`) are fewer than the streams."""
    if streams > len(cpus):
        n = len(cpus)
        raise UserInputError(f"--pin-streams gives each of the {streams} streams CPUs of its own, but {source} "
                             f"holds {n} CPU{'' if n == 1 else 's'} ({format_cpus(cpus)}); give --streams {n} or "
                             "fewer, or more CPUs with --cpus")


def split_cpus(cpus: Sequence[int], streams: int, root: Path = Path("/")) -> list[tuple[int, ...]]:
    """`cpus` cut into `streams` disjoint sets whose sizes differ by at most one, taken in order of physical
    core (`cpu.core_of`), so SMT siblings share a set where the sizes allow (4 cores x 2 threads, 4 streams:
    one core each, not one thread of each of two cores).

    >>> split_cpus((0, 1, 2, 3, 4), 2, Path("/nonexistent"))
    [(0, 1, 2), (3, 4)]
    """
    check_pin_streams(streams, cpus, "the CPU list")
    ordered = sorted(cpus, key=lambda c: (core_of(c, root), c))
    size, extra = divmod(len(ordered), streams)
    out, start = [], 0
    for i in range(streams):
        end = start + size + (1 if i < extra else 0)
        out.append(tuple(sorted(ordered[start:end])))
        start = end
    return out


class StreamPool:
    """`n` stream threads. Thread i pins itself to `cpu_sets[i]` (None: no pinning), creates its session with
    `open_session(i)` (one thread at a time), then runs each task handed to it (`run`, or `submit` then `wait`)
    until `close`; the session is dropped in its thread. A session that fails to load is raised here."""

    def __init__(self, open_session: Callable[[int], Any], n: int,
                 cpu_sets: Sequence[tuple[int, ...]] | None = None, name: str = "edgebench-stream") -> None:
        if cpu_sets is not None and len(cpu_sets) != n:
            raise ValueError(f"{len(cpu_sets)} CPU sets for {n} streams")
        self.n, self.cpu_sets = n, cpu_sets
        self._open, self._lock, self._failed, self._closed = open_session, threading.Lock(), False, False
        self._tasks: list[queue.SimpleQueue[Task | None]] = [queue.SimpleQueue() for _ in range(n)]
        self._done: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        self._created: list[list[int]] = [[] for _ in range(n)]
        self._seen: list[tuple[int, ...] | None] = [None] * n
        self._ids: list[int] = [0] * n  # the kernel's id of each stream's thread
        self._threads = [threading.Thread(target=self._main, args=(i,), name=f"{name}-{i}", daemon=True)
                         for i in range(n)]
        for t in self._threads:
            t.start()
        try:
            self.wait()
        except BaseException:
            self.close()
            raise

    @classmethod
    def of(cls, sessions: Sequence[Any]) -> StreamPool:
        """A pool running sessions made elsewhere (not pinned: they were created outside their threads)."""
        return cls(lambda i: sessions[i], len(sessions))

    def _main(self, i: int) -> None:
        self._ids[i] = threading.get_native_id()
        try:
            if self.cpu_sets is not None:
                os.sched_setaffinity(0, self.cpu_sets[i])
            with self._lock:
                if self._failed:  # another stream's session failed: the pool is refused anyway
                    self._done.put(None)
                    return
                before = set(thread_ids())
                session = self._open(i)
                self._created[i] = sorted(set(thread_ids()) - before)
        except BaseException as e:  # handed to the caller, which raises it: nothing is hidden
            self._failed = True
            self._done.put(e)
            return
        self._done.put(None)
        while (task := self._tasks[i].get()) is not None:
            error: BaseException | None = None
            try:
                task(i, session)
            except BaseException as e:  # handed to the caller (`wait`)
                error = e
            self._seen[i] = thread_allowed_cpus()  # read inside the stream's thread, after its work
            self._done.put(error)

    def submit(self, task: Task) -> None:
        """Start `task(i, session)` in every stream's thread; `wait` for them."""
        for q in self._tasks:
            q.put(task)

    def wait(self) -> None:
        """Wait until every stream has finished its task; raise the first error (one that is not a broken
        barrier, which the failing stream's fellows get)."""
        errors = [e for e in (self._done.get() for _ in range(self.n)) if e is not None]
        if errors:
            raise next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0])

    def run(self, task: Task) -> None:
        """`task(i, session)` in every stream's thread at once; returns when all are done."""
        self.submit(task)
        self.wait()

    def placement(self) -> list[dict[str, Any]]:
        """Where each stream ran: `cpus` (its set; None: not pinned), `thread_allowed_cpus` (its thread's allowed
        CPUs, read inside the thread after its last task), `session_threads` (the threads that appeared while its
        session was created, still alive) and how many of those may run outside its set; with pinning also
        `threads_within_cpus`, the process's threads allowed only on its set (its thread, the runtime threads it
        started, at loading or at the first run)."""
        everyone = [c for c in map(thread_allowed_cpus, thread_ids()) if c is not None]
        out = []
        for i in range(self.n):
            want = set(self.cpu_sets[i]) if self.cpu_sets is not None else None
            # the other streams' threads start meanwhile: they are not this session's
            started = [c for c in map(thread_allowed_cpus, set(self._created[i]) - set(self._ids)) if c is not None]
            seen = self._seen[i]
            rec: dict[str, Any] = {
                "stream": i, "cpus": sorted(want) if want is not None else None,
                "thread_allowed_cpus": list(seen) if seen is not None else None,
                "session_threads": len(started),
                "session_threads_outside_cpus": sum(1 for c in started if want is not None and not set(c) <= want)}
            if want is not None:
                rec["threads_within_cpus"] = sum(1 for c in everyone if set(c) <= want)
            out.append(rec)
        return out

    def close(self) -> None:
        """End the stream threads (each drops its session) and wait for them."""
        if self._closed:
            return
        self._closed = True
        for q in self._tasks:
            q.put(None)
        for t in self._threads:
            t.join()

    def __enter__(self) -> StreamPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
