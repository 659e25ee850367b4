"""The device side of `bench --on`: run by the device's venv as `python -m edgebench.devices.agent ...`.

    state RUNTIME WORKDIR    print JSON: version, build, whether RUNTIME is installed, free disk
    exec PIDFILE CMD ARGS..  become a session (process group) leader, write our pid, exec CMD

The workstation kills a run with `kill -TERM -- -$(cat PIDFILE)`: the whole group, so the fresh
measurement process that `bench` starts goes too.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

# The packages of the wheel (pyproject.toml's `packages`; tests/devices/test_registry.py keeps them in step).
PACKAGES = ("edgebench", "edgebench.runtimes", "edgebench.calibration", "edgebench.exporter", "edgebench.bench",
            "edgebench.devices", "edgebench.sweep", "edgebench.cli", "edgebench.tools")


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


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "state":
        print(json.dumps(state(argv[1], argv[2])))
        return 0
    if len(argv) >= 3 and argv[0] == "exec":
        with contextlib.suppress(PermissionError):  # already a session leader (ssh exec'd us): a group leader too
            os.setsid()
        Path(argv[1]).write_text(str(os.getpid()))
        os.execv(argv[2], argv[2:])
    print("usage: python -m edgebench.devices.agent state RUNTIME WORKDIR | exec PIDFILE CMD ARGS...",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
