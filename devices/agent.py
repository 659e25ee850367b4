"""The device side of `bench --on`: run by the device's venv as `python -m edgebench.devices.agent ...`.

    state RUNTIME WORKDIR    print JSON: version, build, whether RUNTIME is installed, free disk
    exec PIDFILE CMD ARGS..  become a session (process group) leader, write our pid, run CMD and
                             watch the connection: when sshd closes our output (the connection
                             dropped), stop CMD's whole process group

The workstation kills a run with `kill -TERM -- -$(cat PIDFILE)`: the whole group, so the fresh
measurement process that `bench` starts goes too. A dropped connection sends no signal to a session
without a terminal (no SIGHUP, and SIGPIPE only on the next write, which a silent measurement never
makes), so `exec` does not simply exec CMD: it stays as CMD's parent and polls its stdout/stderr,
which reach sshd through a pipe; POLLERR/POLLHUP there means nobody reads them any more.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

# The packages of the wheel (pyproject.toml's `packages`; tests/devices/test_registry.py keeps them in step).
PACKAGES = ("edgebench", "edgebench.runtimes", "edgebench.runtimes.litert", "edgebench.runtimes.ncnn",
            "edgebench.runtimes.openvino", "edgebench.runtimes.ort", "edgebench.runtimes.torch",
            "edgebench.calibration", "edgebench.exporter", "edgebench.exporter.models", "edgebench.exporter.prune",
            "edgebench.exporter.train", "edgebench.bench", "edgebench.bench.report", "edgebench.devices",
            "edgebench.sweep", "edgebench.cli", "edgebench.tools")


def build_id() -> str:
    """A digest of edgebench's own .py files as this interpreter imports them (checkout or wheel alike).

    Two installs with the same build id run the same measurement code, whatever their version string.
    """
    h = hashlib.sha256()
    for pkg in PACKAGES:
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            continue
        folder = Path(next(iter(spec.submodule_search_locations)))
        for f in sorted(folder.glob("*.py")):
            h.update(f"{pkg}/{f.name}\0".encode())
            h.update(f.read_bytes())
            h.update(b"\0")
    return h.hexdigest()[:16]


def version() -> str:
    from importlib import metadata

    try:
        return metadata.version("edgebench")
    except metadata.PackageNotFoundError:
        return "unknown"


def state(runtime: str, workdir: str) -> dict[str, object]:
    from edgebench.runtimes import RUNTIMES, runtime_names

    out: dict[str, object] = {"version": version(), "build": build_id(), "python": sys.version.split()[0],
                              "runtimes": runtime_names()}
    if runtime in RUNTIMES:
        rt = RUNTIMES.get(runtime)()
        out["runtime_available"] = rt.available()
        out["install_hint"] = rt.install_hint
    else:
        out["runtime_available"] = False
        out["install_hint"] = f"this edgebench has no runtime '{runtime}'"
    out["free_bytes"] = shutil.disk_usage(os.path.expanduser(workdir)).free
    return out


HANGUP_GRACE_S = 5.0  # SIGTERM to the group, then SIGKILL this much later


def _watched_fds() -> list[int]:
    """Our stdout/stderr when they are pipes or sockets (to sshd); a file or terminal has no reader to lose."""
    import stat

    fds = []
    for fd in (1, 2):
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            continue
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            fds.append(fd)
    return fds


def run_watched(argv: list[str], poll_s: float = 0.5) -> int:
    """Run `argv` in our process group; if our output's reader goes away, stop the group. Returns its exit code.

    A SIGTERM to the group (the workstation stopping the run) reaches the command, and we exit with it.
    """
    fds = _watched_fds()
    if not fds:
        os.execv(argv[0], argv)
    terminated: list[int] = []
    # a handler, not SIG_IGN: an ignored signal stays ignored in the child across exec
    signal.signal(signal.SIGTERM, lambda signum, _frame: terminated.append(signum))
    child = subprocess.Popen(argv)
    poller = select.poll()
    for fd in fds:
        poller.register(fd, 0)  # POLLERR/POLLHUP/POLLNVAL are always reported
    while True:
        rc = child.poll()
        if rc is not None:
            return rc if rc >= 0 else 128 - rc
        events = poller.poll(poll_s * 1000)
        if any(ev & (select.POLLERR | select.POLLHUP | select.POLLNVAL) for _, ev in events):
            _stop_group(child)
            return 129  # 128 + SIGHUP: the session hung up


def _stop_group(child: subprocess.Popen[bytes]) -> None:
    """The connection is gone: TERM our group (we survive it: a handler), then KILL the group, us included."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(os.getpgid(0), signal.SIGTERM)
    deadline = time.monotonic() + HANGUP_GRACE_S
    while child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # the rest of the group (bench's measurement process) got the TERM too
    os.killpg(os.getpgid(0), signal.SIGKILL)  # and us: nothing of the run survives; nobody reads our status


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "state":
        print(json.dumps(state(argv[1], argv[2])))
        return 0
    if len(argv) >= 3 and argv[0] == "exec":
        with contextlib.suppress(PermissionError):  # already a session leader (ssh exec'd us): a group leader too
            os.setsid()
        Path(argv[1]).write_text(str(os.getpid()))
        return run_watched(argv[2:])
    print("usage: python -m edgebench.devices.agent state RUNTIME WORKDIR | exec PIDFILE CMD ARGS...",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
