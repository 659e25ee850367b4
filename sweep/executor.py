"""Run a stage graph: embedded (this process, in order) or with the compute stages as Ray tasks.

The cache: ``DIR/cache/<key>/`` holds a stage's artifacts; ``done.json`` is written (atomically) last, so
a folder without it is an interrupted stage and runs again. A failed stage leaves ``error.json`` (type,
message, traceback) and its dependants are skipped; the other cells go on.

Benchmarks run after the compute stages, in the driver: `local` in the main thread, each remote device of
the registry in a thread of its own (in parallel with each other and with `local`), one cell at a time per
device under an exclusive file lock keyed by the device's fingerprint id (two sweeps, or two names of one board, never
time on one machine at once): a timing never shares its machine with a compute stage or another
timing. After its cells, a lane benches `repeat_cells` of them again (cached like stages, not counted
as stages): the device's measured run-to-run drift (sweep/drift.py). A remote device's failure
(unreachable, not set up) fails its own cells only. Both executors call `execute_node`.

Ctrl-C or SIGTERM (`interrupt_signals`): no new stage starts; what was running is stopped and recorded
as interrupted (``interrupted.json`` in its folder, never ``done.json``): a local measurement process is
killed, a remote bench goes through `devices.remote.run_on`'s stop path (the device's process group is
killed), Ray tasks are cancelled. KeyboardInterrupt then propagates; the next run redoes those stages.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgebench.atomic import ensure_writable_dir, write_json
from edgebench.errors import EdgebenchError, UserInputError
from edgebench.sweep.drift import pick_repeats, repeat_node
from edgebench.sweep.graph import DONE, ERROR, INTERRUPTED, Graph, Node, done_marker, read_done, verify_done
from edgebench.sweep.stages import Input, run_stage

if TYPE_CHECKING:
    from edgebench.devices.registry import Device

LOCAL = "local"
RAY_CONNECT_TIMEOUT_S = 15.0
Log = Callable[[str], None]


@dataclass(frozen=True)
class Outcome:
    """What happened to one node: done (ran now), cached (done before), failed, skipped (an input failed) or
    interrupted (Ctrl-C/SIGTERM while it ran)."""

    key: str
    stage: str
    label: str
    status: str
    seconds: float = 0.0
    error: str | None = None
    outputs: dict[str, Any] | None = None
    note: str | None = None  # why its cache was not reused (edited, missing, ...): it ran again

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def execute_node(node: Node, cache: str | Path, device: Device | None = None,
                 cancel: threading.Event | None = None) -> Outcome:
    """Run one node into ``cache/<key>/`` unless done; record a failure as error.json. Ray runs this too.

    `device`: the registry entry of a remote bench cell's device; `cancel`: stops its remote run from
    another thread. KeyboardInterrupt is not a failure: it propagates, and no done.json is written.
    """
    from edgebench.exporter import provide_torch_runtimes

    provide_torch_runtimes()  # a Ray worker is a process of its own: the torch runtimes get the builder here too
    cache = Path(cache)
    done, untrusted = verify_done(cache, node.key)
    if done is not None:
        return Outcome(node.key, node.stage, node.label, "cached", 0.0, None, done["outputs"])
    inputs = []
    for dep in node.deps:
        d = read_done(cache, dep)
        if d is None:
            return Outcome(node.key, node.stage, node.label, "skipped", 0.0, f"input {dep[:12]} is not done",
                           note=untrusted)
        inputs.append(Input(cache / dep, d["outputs"]))
    out = cache / node.key
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    try:
        outputs = run_stage(node, inputs, out, device, cancel)
    except Exception as e:  # recorded in error.json and reported; the other cells go on
        seconds = time.perf_counter() - t0
        msg = f"{type(e).__name__}: {e}"
        write_json(out / ERROR, {"key": node.key, "stage": node.stage, "label": node.label, "error": msg,
                                 "type": type(e).__name__, "user_error": isinstance(e, UserInputError),
                                 "traceback": traceback.format_exc(limit=20), "seconds": seconds,
                                 "settings": node.settings})
        return Outcome(node.key, node.stage, node.label, "failed", seconds, msg, note=untrusted)
    seconds = time.perf_counter() - t0
    write_json(out / DONE, done_marker(out, {**node.to_dict(), "outputs": outputs, "seconds": seconds,
                                             "host": socket.gethostname(), "pid": os.getpid()}))
    return Outcome(node.key, node.stage, node.label, "done", seconds, None, outputs, note=untrusted)


# ------------------------------------------------------------------------------------------ locks


def _lock_dir() -> Path:
    d = Path(tempfile.gettempdir()) / f"edgebench-locks-{os.getuid()}"
    d.mkdir(parents=True, exist_ok=True)
    return d


@contextlib.contextmanager
def device_lock(device: str, machine_id: str | None, stop: threading.Event | None = None) -> Iterator[None]:
    """Exclusive per machine (blocking): one timing at a time on it, across sweeps and processes.

    Keyed by the fingerprint id (the board, whatever its name in the registry); by the name when the
    device could not be probed. `stop` set while waiting raises KeyboardInterrupt (the sweep is stopping).
    """
    path = _lock_dir() / (f"machine-{machine_id}.lock" if machine_id else f"device-{device}.lock")
    with open(path, "w") as f:
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if stop is not None and stop.is_set():
                    raise KeyboardInterrupt("cancelled") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def sweep_dir_lock(out_dir: Path) -> Iterator[None]:
    """One sweep at a time in a folder: a second one is refused at once."""
    path = Path(out_dir) / ".sweep.lock"
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserInputError(f"another sweep is running in '{out_dir}'; wait for it or use another -o") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------- signals


@contextlib.contextmanager
def interrupt_signals() -> Iterator[list[str]]:
    """SIGINT and SIGTERM raise KeyboardInterrupt in the main thread (SIGTERM would end the process at once);
    yields the list of the signal names received. Outside the main thread it changes nothing.

    Example::

        with interrupt_signals() as got:
            try:
                work()
            except KeyboardInterrupt:
                print("stopped by", got[0] if got else "Ctrl-C")
    """
    got: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield got
        return

    def handler(signum: int, _frame: Any) -> None:
        got.append(signal.Signals(signum).name)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield got
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


@contextlib.contextmanager
def stopping(log: Log) -> Iterator[None]:
    """While the running stages are being stopped: another Ctrl-C/SIGTERM does not cut the cleanup short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    said: list[bool] = []

    def handler(_signum: int, _frame: Any) -> None:
        if not said:
            said.append(True)
            log("already stopping the running stages (remote runs are being killed); wait")

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


# ------------------------------------------------------------------------------------------- Ray


def _host_port(address: str) -> tuple[str, int] | None:
    """'ray://h:10001' or 'h:6379' -> (h, port); None for 'auto'."""
    if address == "auto":
        return None
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise UserInputError(f"--ray '{address}' is not 'local', 'auto', HOST:PORT or ray://HOST:PORT")
    return host.strip("[]"), int(port)


def probe_ray(address: str, timeout: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """Fail in at most `timeout` seconds, in one line, when nothing answers at `address`."""
    hp = _host_port(address)
    if hp is None:
        return
    try:
        with socket.create_connection(hp, timeout=timeout):
            pass
    except OSError as e:
        reason = "timed out" if isinstance(e, TimeoutError | socket.timeout) else (e.strerror or str(e))
        raise UserInputError(f"no Ray cluster answers at '{address}' ({reason}; waited at most {timeout:g} s); "
                             "start one with `ray start --head`, check the address, or use --ray local") from None


def check_ray(address: str, timeout: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """Before any work: Ray is installed, and a cluster `address` answers."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise UserInputError("--ray needs Ray: pip install 'edgebench[ray]'")
    if address != "local":
        probe_ray(address, timeout)


@contextlib.contextmanager
def ray_session(address: str, num_cpus: int | None = None,
                timeout: float = RAY_CONNECT_TIMEOUT_S) -> Iterator[Any]:
    """`local`: a Ray instance on this machine for the sweep; else join the cluster at `address`."""
    try:
        import ray
    except ImportError:
        raise UserInputError("--ray needs Ray: pip install 'edgebench[ray]'") from None
    if address != "local":
        probe_ray(address, timeout)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        if address == "local":
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise UserInputError(f"could not join Ray at '{address}': {str(e).splitlines()[0][:300]}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


# -------------------------------------------------------------------------------------- executor


def _skip(node: Node, why: str) -> Outcome:
    return Outcome(node.key, node.stage, node.label, "skipped", 0.0, why)


class Executor:
    """Runs a graph's nodes; `ray` (the module, inside `ray_session`) sends compute stages to the cluster.

    On KeyboardInterrupt (Ctrl-C, or SIGTERM under `interrupt_signals`) `run` stops what runs (see the
    module docstring), records it as interrupted, and re-raises; `outcomes` holds what happened so far.
    """

    def __init__(self, graph: Graph, cache: Path, machine_id: str, *, ray: Any = None, log: Log | None = None,
                 devices: dict[str, Device] | None = None, device_errors: dict[str, str] | None = None,
                 repeat_cells: int = 0) -> None:
        self.graph, self.cache, self.machine_id, self.ray = graph, Path(cache), machine_id, ray
        self.repeat_cells = repeat_cells  # per device, cells benched again after its lane (sweep.drift)
        self.repeats: dict[str, list[tuple[Node, Node]]] = {}  # device -> (cell, its repeat node)
        self.repeat_outcomes: dict[str, Outcome] = {}  # repeat key -> what happened (not counted as a stage)
        self.devices = devices or {}  # remote device name -> registry entry
        self.device_errors = device_errors or {}  # remote device name -> why it cannot bench (its probe)
        self.log = log or (lambda _m: None)
        self.outcomes: dict[str, Outcome] = {}
        self.stop = threading.Event()  # set on Ctrl-C: no new stage starts; remote runs are stopped
        self._lock = threading.Lock()
        self._n = len(graph.nodes)

    def _record(self, o: Outcome, repeat: bool = False) -> None:
        with self._lock:
            if repeat:
                self.repeat_outcomes[o.key] = o
            else:
                self.outcomes[o.key] = o
            i = len(self.outcomes)
        if o.note:
            self.log(f"note: cache of '{o.label}' not reused: {o.note}; the stage ran again")
        extra = f" ({o.seconds:.1f} s)" if o.status == "done" else f": {o.error}" if o.error else ""
        self.log(f"[{'drift' if repeat else f'{i}/{self._n}'}] {o.status:7s} {o.label}{extra}")

    def _interrupted(self, node: Node, seconds: float, how: str) -> None:
        """Record `node` as interrupted: ``interrupted.json`` in its folder (the next run redoes it)."""
        msg = f"after {seconds:.1f} s: {how}; the next run does it again"
        folder = self.cache / node.key
        if folder.is_dir() and not (folder / DONE).exists():
            write_json(folder / INTERRUPTED, {"key": node.key, "stage": node.stage, "label": node.label,
                                              "error": msg, "seconds": seconds, "settings": node.settings})
        self._record(Outcome(node.key, node.stage, node.label, "interrupted", seconds, msg))

    def _execute(self, node: Node, device: Device | None = None, repeat: bool = False) -> None:
        """`execute_node` and record it; interrupted, it is recorded as such and KeyboardInterrupt propagates."""
        t0 = time.perf_counter()
        try:
            outcome = execute_node(node, self.cache, device, self.stop)
        except KeyboardInterrupt:
            if repeat:
                self._record(Outcome(node.key, node.stage, node.label, "interrupted",
                                     time.perf_counter() - t0, "stopped; the next run does it again"), repeat=True)
                raise
            if node.stage != "bench":
                how = "stopped"
            elif device is not None:
                how = f"its run on device '{device.name}' was stopped (its process group there killed)"
            else:
                how = "its measurement process was killed, no result written"
            self._interrupted(node, time.perf_counter() - t0, how)
            raise
        self._record(outcome, repeat)

    def _blocked(self, node: Node) -> str | None:
        for d in node.deps:
            o = self.outcomes.get(d)
            if o is not None and o.status in ("failed", "skipped"):  # the first failure's reason travels down
                return f"input '{o.label}' {o.status}" + (f" ({o.error})" if o.error else "")
        return None

    def run(self) -> dict[str, Outcome]:
        compute = [n for n in self.graph.nodes.values() if n.compute]
        try:
            if self.ray is None:
                for n in compute:
                    why = self._blocked(n)
                    if why:
                        self._record(_skip(n, why))
                    else:
                        self._execute(n)
            else:
                self._run_ray(compute)
            self._run_benches([n for n in self.graph.nodes.values() if not n.compute])
        except KeyboardInterrupt:
            self.stop.set()
            raise
        return self.outcomes

    def _run_ray(self, compute: list[Node]) -> None:
        ray = self.ray
        task = ray.remote(num_cpus=1, max_retries=0)(execute_node)
        pending = {n.key: n for n in compute}
        running: dict[Any, tuple[Node, float]] = {}
        cache = str(self.cache)
        try:
            while pending or running:
                for key, n in list(pending.items()):
                    why = self._blocked(n)
                    if why:
                        self._record(_skip(n, why))
                    elif all(d in self.outcomes for d in n.deps):
                        done = read_done(self.cache, n.key)
                        if done is not None:  # no task for a cache hit
                            self._record(Outcome(n.key, n.stage, n.label, "cached", 0.0, None, done["outputs"]))
                        else:
                            running[task.remote(n, cache)] = (n, time.perf_counter())
                    else:
                        continue
                    del pending[key]
                if not running:
                    if pending:  # cannot happen for a graph built by build_graph (deps come first)
                        raise EdgebenchError(f"sweep graph: {len(pending)} stage(s) wait on inputs that never ran")
                    break
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    n, _t0 = running.pop(ref)
                    try:
                        self._record(ray.get(ref))
                    except ray.exceptions.RayError as e:  # the worker died (memory, signal): a failed cell
                        msg = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                        write_json(self.cache / n.key / ERROR, {"key": n.key, "stage": n.stage, "label": n.label,
                                                                 "error": msg, "type": type(e).__name__})
                        self._record(Outcome(n.key, n.stage, n.label, "failed", 0.0, msg))
        except BaseException as exc:
            for ref in running:
                ray.cancel(ref, force=True)
            if isinstance(exc, KeyboardInterrupt):
                for n, t0 in running.values():
                    self._interrupted(n, time.perf_counter() - t0, "its Ray task was cancelled")
            raise

    def _run_benches(self, benches: list[Node]) -> None:
        """`local` in this (the main) thread, each remote device in a thread of its own; on Ctrl-C the remote
        threads stop their runs through `run_on` (`self.stop`) and are waited for."""
        by_device: dict[str, list[Node]] = {}
        for n in benches:
            by_device.setdefault(str(n.device), []).append(n)
        # waited for through events, not Thread.join: a join that Ctrl-C interrupts marks a live thread as
        # stopped in CPython 3.11 (bpo-45274's fix), and the next join would return at once
        finished: list[threading.Event] = []
        for device, nodes in by_device.items():
            if device != LOCAL:
                finished.append(threading.Event())
                threading.Thread(target=self._remote_lane, args=(device, nodes, finished[-1]), daemon=True,
                                 name=f"sweep-bench-{device}").start()
        try:
            if LOCAL in by_device:
                self._lane(LOCAL, by_device[LOCAL])
            for f in finished:
                while not f.wait(0.2):
                    pass
        except KeyboardInterrupt:
            self.stop.set()
            with stopping(self.log):
                for f in finished:
                    f.wait()
            raise

    def _remote_lane(self, device: str, nodes: list[Node], finished: threading.Event) -> None:
        try:
            self._lane(device, nodes)
        finally:
            finished.set()

    def _lane(self, device: str, nodes: list[Node]) -> None:
        """The cells of one device, one at a time under its lock. In a remote device's thread, a stop ends the
        lane quietly (its interrupted cell is recorded); in the main thread KeyboardInterrupt propagates."""
        entry = self.devices.get(device)
        unusable = self.device_errors.get(device)
        for n in nodes:
            if self.stop.is_set():
                return
            why = self._blocked(n)
            if why:
                self._record(_skip(n, why))
                continue
            if unusable and read_done(self.cache, n.key) is None:
                msg = f"DeviceError: {unusable}"
                write_json(ensure_writable_dir(self.cache / n.key) / ERROR, {
                    "key": n.key, "stage": n.stage, "label": n.label, "error": msg, "type": "DeviceError",
                    "user_error": False, "settings": n.settings})
                self._record(Outcome(n.key, n.stage, n.label, "failed", 0.0, msg))
                continue
            if not self._run_locked(device, n, entry):
                return
        if self.stop.is_set():
            return
        # drift: some finished cells benched again, now that the others ran (sweep/drift.py); a device that
        # cannot bench now keeps the repeats it has in the cache
        pairs = [(c, repeat_node(c)) for c in pick_repeats(nodes, self.cache, self.repeat_cells)]
        if unusable:
            pairs = [(c, r) for c, r in pairs if read_done(self.cache, r.key) is not None]
        with self._lock:
            self.repeats[device] = pairs
        for _cell, rep in pairs:
            if self.stop.is_set() or not self._run_locked(device, rep, entry, repeat=True):
                return

    def _run_locked(self, device: str, n: Node, entry: Device | None, repeat: bool = False) -> bool:
        """`_execute` under the device's lock (not needed for a cache hit); False when a remote lane stopped."""
        try:
            if read_done(self.cache, n.key) is None:
                with device_lock(device, n.settings.get("machine_id"), self.stop):
                    self._execute(n, entry, repeat)
            else:
                self._execute(n, entry, repeat)
        except KeyboardInterrupt:
            if threading.current_thread() is threading.main_thread():
                raise
            return False
        return True
