"""Check, set up and run on devices: `device check|setup` and `bench/eval --on`.

Layout under a device's workdir (default ~/edgebench)::

    venv/                 the torch-free edgebench, installed by `device setup` from our wheel
    store/, models/       pushed files, content-addressed (push.py)
    runs/<run id>/        request.<n>.json (a bench's job batches or an eval request, devices/jobs.py) and
                          out/, the result files, pulled then removed
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgebench.devices.agent import build_id
from edgebench.devices.jobs import DeviceRequest
from edgebench.devices.push import PushResult, file_bundle, model_bundle, push
from edgebench.devices.registry import Device, DeviceRegistry
from edgebench.devices.transport import Ssh, classify, connect_timeout, last_line, remote_path
from edgebench.errors import DeviceError, UserInputError
from edgebench.units import format_mb, to_mb

MIN_PYTHON = (3, 11)
SETUP_FREE_BYTES = 500 * 2**20  # numpy + onnxruntime + the venv, with room to spare
Echo = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- probe

_PROBE = r"""
import json, os, platform, sys
w = os.path.expanduser(sys.argv[1])
out = {"python": platform.python_version(), "python_ok": sys.version_info >= (3, 11), "machine": platform.machine(),
       "executable": sys.executable, "workdir": w}
p = w
while not os.path.exists(p):
    p = os.path.dirname(p) or "/"
st = os.statvfs(p)
out["free_bytes"] = st.f_bavail * st.f_frsize
if not out["python_ok"]:  # an old Python: say its version, run nothing newer (this part is Python 2.6+ syntax)
    out["fingerprint_error"] = "Python " + out["python"] + " is too old for the fingerprint"
    print(json.dumps(out))
    sys.exit(0)
import subprocess
try:
    import types
    cpu = types.ModuleType("edgebench.cpu")  # what fingerprint.py imports, without edgebench installed
    exec(compile(CPU_SRC, "cpu.py", "exec"), cpu.__dict__)
    sys.modules["edgebench.cpu"] = cpu
    ns = {"__name__": "edgebench_fingerprint"}
    exec(compile(FP_SRC, "fingerprint.py", "exec"), ns)
    out["fingerprint"] = ns["fingerprint"]()
except Exception as e:  # an old Python: the version above says why
    out["fingerprint_error"] = repr(e)
venv_py = os.path.join(w, "venv", "bin", "python")
if os.path.exists(venv_py):
    r = subprocess.run([venv_py, "-c", "from edgebench.devices.agent import build_id, version; "
                        "print(version(), build_id())"], capture_output=True, text=True)
    out["installed"] = r.stdout.split() if r.returncode == 0 else None
    out["installed_error"] = r.stderr.strip().splitlines()[-1:] if r.returncode else None
print(json.dumps(out))
"""


def probe_source() -> str:
    """A stdlib-only script the device's own Python runs: the remote fingerprint, Python, disk, install.

    It carries the sources of bench/fingerprint.py and of the edgebench.cpu it imports (core/cpu.py), the
    latter installed as that module, so the board needs no edgebench."""
    from edgebench import cpu
    from edgebench.bench import fingerprint

    fp_src = Path(fingerprint.__file__).read_text(encoding="utf-8")
    cpu_src = Path(cpu.__file__).read_text(encoding="utf-8")
    return f"CPU_SRC = {cpu_src!r}\nFP_SRC = {fp_src!r}\n" + _PROBE


def probe(ssh: Ssh) -> dict[str, Any]:
    """What `device check` prints; raises DeviceError when the device cannot be used at all."""
    d = ssh.device
    script = f"{shlex.quote(d.python)} - {remote_path(d.workdir)}"
    proc = ssh.run(script, what="the device check", stdin=probe_source().encode(), check=False)
    if proc.returncode == 127:
        raise DeviceError(f"device '{d.name}': no '{d.python}' there ({last_line(proc.stderr.decode())}); install "
                          "Python >= 3.11 or point to one: edgebench device add "
                          f"{shlex.quote(d.name)} {shlex.quote(d.url)} --python /usr/bin/python3.11 --force")
    try:
        info: dict[str, Any] = json.loads(proc.stdout.decode()) if proc.returncode == 0 else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        info = {}
    if not info:  # a Python that cannot run the probe at all: its own --version says whether it is too old
        found = python_version(ssh)
        if found is not None and found < MIN_PYTHON:
            check_python(d, {"python": ".".join(map(str, found)), "python_ok": False})
        why = last_line(proc.stderr.decode(errors="replace")) or f"exit status {proc.returncode}, no JSON printed"
        raise DeviceError(f"device '{d.name}': '{d.python}' failed to run the check: {why}")
    return info


def python_version(ssh: Ssh) -> tuple[int, ...] | None:
    """`PYTHON --version` on the device as a tuple (Python 2 prints it on stderr), None when unreadable."""
    import re

    proc = ssh.run(f"{shlex.quote(ssh.device.python)} --version 2>&1", what="the Python version check", check=False)
    m = re.search(r"Python (\d+)\.(\d+)(?:\.(\d+))?", proc.stdout.decode(errors="replace"))
    return tuple(int(g) for g in m.groups() if g is not None) if m else None


def check_python(d: Device, info: dict[str, Any]) -> None:
    """Python >= 3.11 on the device, else one line: the version found, what is needed, how to fix it."""
    if not info["python_ok"]:
        raise DeviceError(f"device '{d.name}': {d.python} is Python {info['python']}; edgebench needs >= "
                          f"{'.'.join(map(str, MIN_PYTHON))}: install it there and pass it with edgebench device add "
                          f"{shlex.quote(d.name)} {shlex.quote(d.url)} --python python3.11 --force")


# ---------------------------------------------------------------------------------------------- wheel

def local_version() -> str:
    from edgebench.devices.agent import version

    return version()


def source_root() -> Path | None:
    """The checkout this edgebench runs from (an editable install), or None for an installed wheel."""
    import edgebench

    root = Path(edgebench.__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "devices" / "agent.py").is_file() else None


def wheel_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgebench" / "wheels"


# what a checkout holds besides its source (at its top; caches anywhere): left out of the copy the wheel is built from
_NOT_SOURCE_TOP = {".git", ".venv", "build", "dist", "artifacts", "results", "report", ".pytest_cache", ".ruff_cache",
                   ".hypothesis"}


def _not_source(root: Path) -> Callable[[str, list[str]], set[str]]:
    def ignore(folder: str, names: list[str]) -> set[str]:
        top = Path(folder) == root
        return {n for n in names if n == "__pycache__" or n.endswith(".egg-info") or (top and n in _NOT_SOURCE_TOP)}

    return ignore


def build_wheel(echo: Echo = _stderr) -> Path:
    """Our wheel, built from this checkout (`pip wheel --no-deps`), cached per build id."""
    root = source_root()
    if root is None:
        raise UserInputError("this edgebench is not a source checkout, so it cannot build its wheel: pass the "
                             "wheel you installed with --wheel FILE (pip download edgebench --no-deps)")
    out = wheel_cache() / build_id()
    found = sorted(out.glob("edgebench-*.whl"))
    if found:
        return found[-1]
    echo(f"building the wheel from {root} (pip wheel --no-deps)")
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    with tempfile.TemporaryDirectory(prefix="edgebench-src.") as src:
        # from a clean copy: setuptools packs whatever its build/ folder still holds, so a module moved or removed
        # since the last build would otherwise travel to the device too (and change the build id there)
        shutil.copytree(root, src, dirs_exist_ok=True, ignore=_not_source(root))
        pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp), src]
        proc = subprocess.run([*pip, "--no-build-isolation"], capture_output=True, text=True)
        if proc.returncode != 0:  # e.g. a setuptools here older than pyproject's build requirement: pip fetches one
            proc = subprocess.run(pip, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DeviceError(f"building the wheel failed: {last_line(proc.stderr)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out) if not out.exists() else None
    return sorted(out.glob("edgebench-*.whl"))[-1]


def base_requirements() -> list[str]:
    """The device install's dependencies (no extras), from our package metadata."""
    from importlib import metadata

    reqs = metadata.requires("edgebench") or []
    return [r.split(";")[0].strip() for r in reqs if "extra ==" not in r]


PLATFORMS = {"aarch64": ["manylinux_2_17_aarch64", "manylinux_2_28_aarch64"],
             "x86_64": ["manylinux_2_17_x86_64", "manylinux_2_28_x86_64"],
             "armv7l": ["linux_armv7l"]}


def wheelhouse_command(machine: str, python: str, out: str = "wheelhouse") -> str:
    """The `pip download` that fetches the device's dependencies on the workstation, for `--wheelhouse`.

    >>> wheelhouse_command("aarch64", "3.11.2").split(" --platform ")[0]
    'pip download --only-binary=:all: --implementation cp --python-version 3.11'
    """
    major_minor = ".".join(python.split(".")[:2])
    plats = PLATFORMS.get(machine, [f"linux_{machine}"])
    reqs = " ".join(shlex.quote(r) for r in base_requirements()) or "edgebench"
    return (f"pip download --only-binary=:all: --implementation cp --python-version {major_minor} "
            + " ".join(f"--platform {p}" for p in plats) + f" -d {out} {reqs}")


# ---------------------------------------------------------------------------------------------- setup

@dataclass(frozen=True)
class SetupReport:
    version: str
    build: str
    python: str
    seconds: float
    sent_bytes: int


def setup(device: Device, *, wheel: Path | None = None, wheelhouse: Path | None = None,
          system_site_packages: bool = False, echo: Echo = _stderr) -> SetupReport:
    """Install (or update) our torch-free edgebench into `<workdir>/venv` on the device."""
    t0 = time.perf_counter()
    if wheelhouse is not None and not Path(wheelhouse).is_dir():
        raise UserInputError(f"--wheelhouse '{wheelhouse}' is not a folder; make it with the pip download command "
                             "that `edgebench device check NAME` prints")
    if wheel is not None and not (Path(wheel).is_file() and Path(wheel).name.endswith(".whl")):
        raise UserInputError(f"--wheel '{wheel}' is not a .whl file")
    ssh = Ssh(device, connect_timeout())
    info = probe(ssh)
    check_python(device, info)
    if info["free_bytes"] < SETUP_FREE_BYTES:
        raise DeviceError(f"device '{device.name}' has {format_mb(to_mb(info['free_bytes']), 0)} free for "
                          f"{device.workdir}; setup needs {format_mb(to_mb(SETUP_FREE_BYTES), 0)}: free some space or "
                          "choose another --workdir")
    whl = Path(wheel) if wheel is not None else build_wheel(echo)
    files = [(whl.name, whl)]
    if wheelhouse is not None:
        files += [(p.name, p) for p in sorted(Path(wheelhouse).iterdir())
                  if p.is_file() and p.name.endswith((".whl", ".tar.gz", ".zip"))]
    from edgebench.devices.push import Bundle

    pushed = push(ssh, Bundle(tuple(files)), area="wheels")
    echo(f"[{device.name}] sent {pushed.sent_files} file(s), {format_mb(to_mb(pushed.sent_bytes), 1)}; installing into "
         f"{device.workdir}/venv")
    w, src = remote_path(device.workdir), pushed.remote_dir
    flag = "--system-site-packages" if system_site_packages else ""
    want = "true" if system_site_packages else "false"
    index = f"--no-index --find-links {src}" if wheelhouse is not None else ""
    pip = "\"$W/venv/bin/python\" -m pip install -q --disable-pip-version-check"
    script = (f"W={w}; cd \"$W\" || exit 3; "
              f"if ! grep -q 'include-system-site-packages = {want}' venv/pyvenv.cfg 2>/dev/null; then "
              f"rm -rf venv venv.tmp; {shlex.quote(device.python)} -m venv {flag} venv.tmp || exit 10; "
              "mv venv.tmp venv; fi; "
              f"{pip} {index} {src}/{shlex.quote(whl.name)} || exit 11; "
              f"{pip} --force-reinstall --no-deps {src}/{shlex.quote(whl.name)} || exit 11; "
              "\"$W/venv/bin/python\" -c 'from edgebench.devices.agent import build_id, version; "
              "import edgebench, onnxruntime; print(version(), build_id(), edgebench.__file__)'")
    proc = ssh.run(script, what="the setup", timeout=1800, check=False)
    err = proc.stderr.decode(errors="replace")
    if proc.returncode == 10:
        raise DeviceError(f"device '{device.name}': '{device.python} -m venv' failed: {last_line(err)} (on Debian "
                          "or Raspberry Pi OS: sudo apt install python3-venv)")
    if proc.returncode == 11:
        raise DeviceError(f"device '{device.name}': pip could not install edgebench's dependencies: {last_line(err)}; "
                          "a board without internet: on the workstation run "
                          f"{wheelhouse_command(info['machine'], info['python'])} and pass --wheelhouse wheelhouse")
    if proc.returncode != 0:
        raise DeviceError(f"device '{device.name}': setup failed (exit {proc.returncode}): {last_line(err)}")
    fields = proc.stdout.decode().split()
    version, build, where = fields[0], fields[1], fields[2] if len(fields) > 2 else ""
    if build != build_id():
        raise DeviceError(f"device '{device.name}': after setup the device runs build {build} from {where}, ours is "
                          f"{build_id()}: another edgebench shadows the venv's there (check PYTHONPATH)")
    return SetupReport(version, build, info["python"], time.perf_counter() - t0, pushed.sent_bytes)


# ---------------------------------------------------------------------------------------------- run

@dataclass(frozen=True)
class RemoteCommand:
    """The requests to run, one after the other, on each device: a bench's job batches (one per --threads
    value, so finished measurements are pulled before the next starts) or one eval request (devices/jobs.py).

    Their local files (the model, its data) are pushed once, by content; each request is sent as JSON with its
    paths mapped to the pushed copies (`on_device`) and run there by its hidden command (`run-jobs`, `run-eval`).
    """

    requests: tuple[DeviceRequest, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "requests", tuple(self.requests))
        if not self.requests:
            raise UserInputError("give a model to run on the device")
        first = self.requests[0]
        if any(type(r) is not type(first) or r.local_files() != first.local_files() for r in self.requests):
            raise UserInputError(f"a remote {first.kind} sends one model (and its data files) in one or more "
                                 "requests of one kind")

    @property
    def kind(self) -> str:
        return self.requests[0].kind

    @property
    def runtime(self) -> str:
        return self.requests[0].runtime

    @property
    def collect(self) -> str:
        return self.requests[0].collect

    @property
    def models(self) -> tuple[Path, ...]:
        return self.requests[0].local_files()[0]

    @property
    def paths(self) -> tuple[tuple[str, Path], ...]:
        return self.requests[0].local_files()[1]

    def labels(self) -> list[str]:
        """One name per remote run, as progress and `missing:` name them (`-t 2`)."""
        return [r.label for r in self.requests]


@dataclass
class DeviceRun:
    """What happened on one device: pulled result files, outputs, what is missing and why."""

    device: Device
    pulled: list[Path] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: str | None = None
    pushed: list[PushResult] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    run_dir: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def _remote_state(ssh: Ssh, runtime: str) -> dict[str, Any]:
    d = ssh.device
    w = remote_path(d.workdir)
    script = (f"W={w}; [ -x \"$W/venv/bin/python\" ] || exit 20; "
              f"exec \"$W/venv/bin/python\" -m edgebench.devices.agent state {shlex.quote(runtime)} \"$W\"")
    proc = ssh.run(script, what="the device state", check=False)
    if proc.returncode == 20:
        raise DeviceError(f"edgebench is not installed on device '{d.name}': run edgebench device setup {d.name}")
    if proc.returncode != 0:
        raise DeviceError(f"device '{d.name}': its edgebench does not answer ({last_line(proc.stderr.decode())}); "
                          f"run edgebench device setup {d.name}")
    state: dict[str, Any] = json.loads(proc.stdout.decode())
    return state


def _check_state(d: Device, state: dict[str, Any], runtime: str) -> None:
    ours = build_id()
    if state["build"] != ours:
        raise DeviceError(f"device '{d.name}' runs edgebench {state['version']} build {state['build']}, this one is "
                          f"{local_version()} build {ours}: update it with edgebench device setup {d.name}")
    if not state["runtime_available"]:
        raise DeviceError(f"runtime '{runtime}' is not installed on device '{d.name}' ({state['install_hint']}); "
                          "install it there into <workdir>/venv or pick another with -r (the device install has "
                          "ort-cpu)")


def _pull(ssh: Ssh, run_dir: str, dest: Path, known: set[str]) -> list[Path]:
    """Copy the new files of `<run_dir>/out` into `dest` (atomically, never overwriting a local file)."""
    import tarfile
    import tempfile

    from edgebench.atomic import ensure_writable_dir

    proc = ssh.popen(f"cd {run_dir}/out 2>/dev/null || exit 0; tar -cf - .")
    assert proc.stdout is not None and proc.stderr is not None
    ensure_writable_dir(dest)
    got: list[Path] = []
    with tempfile.TemporaryDirectory(prefix=".pull.", dir=dest) as tmp:
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                for m in tar:
                    name = Path(m.name).name
                    if not m.isfile() or name in known or name.startswith(".") or not name.endswith(".json"):
                        continue
                    src = tar.extractfile(m)
                    if src is None:
                        continue
                    (Path(tmp) / name).write_bytes(src.read())
        except tarfile.ReadError:
            pass  # nothing was sent: the run wrote no file (the exit status below says more)
        err = proc.stderr.read().decode(errors="replace")
        rc = proc.wait()
        if rc == 255:
            raise classify(err, ssh, "pulling the results")
        for f in sorted(Path(tmp).iterdir()):
            target = dest / f.name
            i = 1
            while target.exists():
                target = dest / f.name.replace(".json", f".{i}.json")
                i += 1
            os.replace(f, target)
            known.add(f.name)
            got.append(target)
    return got


def _push_inputs(run: DeviceRun, ssh: Ssh, cmd: RemoteCommand, echo: Echo) -> dict[str, tuple[str, str]]:
    """Push the models and data files of `cmd`; local path -> (its shell word there, its workdir-relative path)."""
    where: dict[str, tuple[str, str]] = {}
    pushes = [(str(m), str(m), *model_bundle(m), "models") for m in cmd.models]
    pushes += [(str(p), f"{flag} {p}", *file_bundle(p), "data") for flag, p in cmd.paths]
    for local, label, bundle, rel, area in pushes:
        r = push(ssh, bundle, area=area)
        run.pushed.append(r)
        where[local] = (r.remote_dir + ("/" + shlex.quote(rel) if rel else ""),
                        r.relative_dir + ("/" + rel if rel else ""))
        echo(f"[{run.device.name}] {label}: {r.files} file(s), sent {r.sent_files} "
             f"({format_mb(to_mb(r.sent_bytes), 2)})")
    return where


def _scripts(cmd: RemoteCommand, where: dict[str, tuple[str, str]], workdir: str, run_dir: str
             ) -> list[tuple[str, str]]:
    """(label, shell script) of each remote run of `cmd`: the request, as JSON with workdir-relative paths, is
    written to the run folder and run by its hidden command (`run-jobs`, `run-eval`) from the workdir."""
    exec_ = "exec \"$W/venv/bin/python\" -m edgebench.devices.agent exec \"$R/pid\" \"$W/venv/bin/edgebench\""
    head = f"W={remote_path(workdir)}; R={run_dir}; mkdir -p \"$R/out\" || exit 3; "
    out: list[tuple[str, str]] = []
    for i, request in enumerate(cmd.requests):
        text = request.on_device({local: rel for local, (_, rel) in where.items()}).to_json()
        output = " -o \"$R/out\"" if request.collect == "files" else ""
        out.append((request.label, f"{head}printf '%s' {shlex.quote(text)} > \"$R/request.{i}.json\" || exit 3; "
                                   f"cd \"$W\"; {exec_} {request.command} \"$R/request.{i}.json\"{output}"))
    return out


def _run_device(run: DeviceRun, cmd: RemoteCommand, output_dir: Path | None, stop: threading.Event,
                echo: Echo) -> None:
    d = run.device
    ssh = Ssh(d, connect_timeout())
    try:
        t0 = time.perf_counter()
        state = _remote_state(ssh, cmd.runtime)
        _check_state(d, state, cmd.runtime)
        run.seconds["connect"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        where = _push_inputs(run, ssh, cmd, echo)
        run.seconds["push"] = time.perf_counter() - t0
        rid = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        run.run_dir = f"{remote_path(d.workdir)}/runs/{rid}"
        known: set[str] = set()
        for label, script in _scripts(cmd, where, d.workdir, run.run_dir):
            if stop.is_set() or not _run_one(run, ssh, cmd, label, script, output_dir, stop, echo, known):
                break
        ssh.run(f"rm -rf {run.run_dir}", what="cleaning up", check=False)
    except DeviceError as e:
        run.error = str(e)
    except Exception as e:  # one device's surprise must not lose the others' results; reported with its type
        run.error = f"device '{d.name}': internal error: {type(e).__name__}: {e}"
    run.missing = [t for t in cmd.labels() if t not in run.done]


def _run_one(run: DeviceRun, ssh: Ssh, cmd: RemoteCommand, label: str, script: str, output_dir: Path | None,
             stop: threading.Event, echo: Echo, known: set[str]) -> bool:
    """One remote run: start it, stream its stderr, then pull its results; False when stopped meanwhile."""
    d = run.device
    t0 = time.perf_counter()
    echo(f"[{d.name}] {cmd.kind} {label}")
    with run.lock:
        if stop.is_set():
            return False
        run.proc = ssh.popen(script)
    stdout, stderr = _stream(run.proc, f"[{d.name}]", echo)
    rc = run.proc.wait()
    with run.lock:
        run.proc = None
    run.seconds["run"] = run.seconds.get("run", 0.0) + time.perf_counter() - t0
    if stop.is_set():
        return False
    if rc == 255:
        dropped = classify(stderr, ssh, f"{cmd.kind} {label}")
        _stop_after_drop(ssh, run.run_dir)
        raise dropped
    if rc != 0:
        raise DeviceError(f"device '{d.name}': {cmd.kind} {label} failed: {last_line(stderr) or f'exit status {rc}'}")
    t0 = time.perf_counter()
    if cmd.collect == "stdout":
        run.outputs.append(json.loads(stdout))
    elif output_dir is not None:
        run.pulled += _pull(ssh, run.run_dir or "", output_dir / d.name, known)
    run.seconds["pull"] = run.seconds.get("pull", 0.0) + time.perf_counter() - t0
    run.done.append(label)
    return True


def _stream(proc: subprocess.Popen[bytes], tag: str, echo: Echo) -> tuple[str, str]:
    """Forward the remote stderr line by line (prefixed with the device), collect stdout."""
    assert proc.stdout is not None and proc.stderr is not None
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read() if proc.stdout else b""), daemon=True)
    reader.start()
    err_lines: list[str] = []
    for raw in proc.stderr:
        line = raw.decode(errors="replace").rstrip()
        if line:
            err_lines.append(line)
            echo(f"{tag} {line}")
    reader.join()
    return b"".join(chunks).decode(errors="replace"), "\n".join(err_lines)


def _stop_script(rdir: str) -> str:
    """Kill the process group of the run in `rdir` (its pid file): TERM, then KILL 2 s later."""
    # `kill -s SIG -- -PGID`: the POSIX spelling that dash's builtin kill also takes
    return (f"R={rdir}; [ -f \"$R/pid\" ] || exit 0; P=$(cat \"$R/pid\"); "
            "kill -s TERM -- -\"$P\" 2>/dev/null; "
            "for i in 1 2 3 4 5 6 7 8 9 10; do kill -s 0 -- -\"$P\" 2>/dev/null || exit 0; sleep 0.2; done; "
            "kill -s KILL -- -\"$P\" 2>/dev/null; true")


def _stop_after_drop(ssh: Ssh, rdir: str | None) -> None:
    """The connection dropped mid-run: the device's agent stops the run when its sshd closes the session;
    a device whose sshd has not noticed yet (a link down, not a closed connection) is asked once more
    over a new connection, best effort."""
    if rdir is None:
        return
    with contextlib.suppress(DeviceError):
        ssh.run(_stop_script(rdir), what="stopping the remote run", check=False, timeout=ssh.timeout + 15)


def _kill_remote(run: DeviceRun) -> None:
    """Ctrl-C: kill the device's process group (from its pid file) and the local ssh."""
    with run.lock:
        proc, rdir = run.proc, run.run_dir
    if proc is not None and rdir is not None:
        ssh = Ssh(run.device, connect_timeout())
        # unreachable now: the run's output pipe breaks when sshd drops the session (reported as missing)
        with contextlib.suppress(DeviceError):
            ssh.run(_stop_script(rdir), what="stopping the remote run", check=False, timeout=30)
        if proc.poll() is None:
            proc.terminate()


def resolve_devices(names: str, registry: DeviceRegistry | None = None) -> list[Device]:
    """`--on pi4,pi5` -> the devices (each name checked, with a suggestion on a typo)."""
    reg = registry or DeviceRegistry()
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if not wanted:
        raise UserInputError("--on needs a device name (edgebench device list shows them)")
    if len(set(wanted)) < len(wanted):
        raise UserInputError(f"--on {names}: a device is named twice")
    return [reg.get(n) for n in wanted]


def run_on(names: str, cmd: RemoteCommand, output_dir: Path | None, *, registry: DeviceRegistry | None = None,
           echo: Echo = _stderr, cancel: threading.Event | None = None) -> list[DeviceRun]:
    """Run `cmd` on every device of `names` in parallel (one command at a time per device).

    Results land in `output_dir/<device>/`. Ctrl-C stops the remote processes and keeps what was
    pulled; a failing device does not stop the others; raises DeviceError at the end if any failed.
    `cancel`: set by another thread (a caller not in the main thread never sees Ctrl-C), it stops the
    runs exactly as Ctrl-C does and raises KeyboardInterrupt.
    """
    devices = resolve_devices(names, registry)
    for m in cmd.models:
        if not Path(m).exists():
            raise UserInputError(f"model '{m}' does not exist; give an .onnx file or a model folder")
    for flag, p in cmd.paths:
        if not Path(p).exists():
            raise UserInputError(f"{flag} '{p}' does not exist")
    if output_dir is not None:
        from edgebench.atomic import ensure_writable_dir

        ensure_writable_dir(output_dir)
    runs = [DeviceRun(d) for d in devices]
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=len(runs), thread_name_prefix="edgebench-device")
    futures: dict[Future[None], DeviceRun] = {pool.submit(_run_device, r, cmd, output_dir, stop, echo): r
                                              for r in runs}
    try:
        pending = set(futures)
        while pending:
            if cancel is not None and cancel.is_set():
                raise KeyboardInterrupt("cancelled")
            _, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
    except KeyboardInterrupt:
        stop.set()
        echo("interrupted: stopping the remote runs")
        for r in runs:
            _kill_remote(r)
        pool.shutdown(wait=True, cancel_futures=True)
        for r in runs:
            kept = f"kept {len(r.pulled)} result file(s)" + (f" in {output_dir / r.device.name}" if output_dir else "")
            echo(f"[{r.device.name}] {kept}; not run: {', '.join(r.missing) or 'nothing'}")
        raise
    pool.shutdown(wait=True)
    failed = [r for r in runs if r.error]

    def outcome(r: DeviceRun) -> str:
        where = f" in {output_dir / r.device.name}" if output_dir is not None and r.pulled else ""
        return f"{r.error}; kept {len(r.pulled)} result file(s){where}; missing: {', '.join(r.missing) or 'nothing'}"

    for r in failed[1:]:
        echo(f"[{r.device.name}] failed: {outcome(r)}")
    if failed:
        ok = len(runs) - len(failed)
        raise DeviceError(f"{len(failed)} of {len(runs)} device(s) failed ({ok} finished): {outcome(failed[0])}"
                          + (f" (+{len(failed) - 1} more above)" if len(failed) > 1 else ""))
    return runs


def run_jobs_on(names: str, requests: Sequence[DeviceRequest], output_dir: Path | None, *,
                registry: DeviceRegistry | None = None, echo: Echo = _stderr, cancel: threading.Event | None = None
                ) -> list[DeviceRun]:
    """Run requests on devices: `bench --on` and a sweep's remote bench cells (job batches, their result files
    landing in `output_dir/<device>/`) and `eval --on` (one eval request, its JSON in each run's `outputs`), the
    one path to a device.

    The requests' model (its folder, or the file with its manifest) and data files are pushed by content, each
    request is sent as JSON with its paths mapped to the pushed copies and run there by its hidden command
    (`edgebench run-jobs`, `edgebench run-eval`), one at a time (`run_on` says the rest).
    """
    return run_on(names, RemoteCommand(tuple(requests)), output_dir, registry=registry, echo=echo, cancel=cancel)


def host_summary(info: dict[str, Any]) -> str:
    """One line: arch, CPU and ISA flags of a probe's fingerprint."""
    fp = info.get("fingerprint")
    if not fp:
        return f"{info.get('machine')} (fingerprint unavailable: {info.get('fingerprint_error')})"
    from edgebench.bench.fingerprint import host_isa_summary

    board = (fp.get("board") or {}).get("model")
    return host_isa_summary(fp) + (f" on {board}" if board else "") + (" (emulated)" if fp.get("emulated") else "")

