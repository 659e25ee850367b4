"""A throwaway OpenSSH server on 127.0.0.1 for the current user: the "device" of tests/devices and
scripts/bench_devices.py (this machine reached over real SSH).

`loopback_sshd(folder)` generates a host key and a user key, writes an sshd_config (a free port,
AuthorizedKeysFile, PidFile in `folder`, no PAM, no passwords), starts `/usr/sbin/sshd -D -e` and
writes a client config (`ssh -F`) with the alias `dev`, that key and a known_hosts holding the host
key; everything stops when the block ends. Nothing of ~/.ssh is read or written.

The device's Python environment: sshd's `SetEnv PYTHONPATH=<dir>` where <dir> holds links to the
installed distributions of edgebench's base dependencies only (numpy, onnxruntime, ...; never
edgebench itself): the device "has" its dependencies, as a board whose packages pip already
installed, so `device setup --wheelhouse EMPTY` installs our real wheel into a fresh venv without
the network.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dependency_closure(root: str) -> list[metadata.Distribution]:
    """The installed distributions edgebench's base install needs (no extras), transitively."""
    seen: dict[str, metadata.Distribution] = {}
    todo = [r for r in (metadata.requires(root) or []) if "extra ==" not in r]
    while todo:
        req = todo.pop()
        name = re.split(r"[ ;<>=!~\[(]", req.strip(), maxsplit=1)[0]
        if ";" in req:
            from packaging.markers import Marker

            if not Marker(req.split(";", 1)[1]).evaluate({"extra": ""}):
                continue
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[key] = dist
        todo += [r for r in (dist.requires or []) if "extra ==" not in r]
    return list(seen.values())


def dependency_site(dest: Path) -> Path:
    """A folder of links to the top-level entries of edgebench's installed dependencies."""
    dest.mkdir(parents=True, exist_ok=True)
    for dist in _dependency_closure("edgebench"):
        base = Path(str(dist.locate_file("")))
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            src = base / top
            if top.endswith(".pth") or top == "__pycache__" or not src.exists() or (dest / top).exists():
                continue
            if top.startswith("edgebench"):
                continue
            (dest / top).symlink_to(src)
    return dest


@dataclass(frozen=True)
class Sshd:
    port: int
    dir: Path
    ssh_config: Path       # client config: alias `dev`, throwaway key and known_hosts
    known_hosts: Path
    user_key: Path
    user: str
    python: str            # the "device" Python (>= 3.11, no venv)
    devsite: Path

    def url(self) -> str:
        return "ssh://dev"

    def kill(self) -> None:
        """Kill this sshd and its per-connection processes (SIGKILL): every connection drops at once, as
        when a board loses power; the sessions' commands (each in a session of its own) are left alone.

        Each connection's sshd processes form one process group (sshd calls setsid per connection).
        """
        import signal

        listener = int((self.dir / "sshd.pid").read_text().split()[0])
        for child in _children(listener):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(listener, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    """The direct children of `pid` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(stat.parent.name))
    return out


@contextlib.contextmanager
def loopback_sshd(d: Path) -> Iterator[Sshd]:
    """Start sshd on 127.0.0.1 with its keys and configs in `d`; stop it at the end."""
    d.mkdir(parents=True, exist_ok=True)
    for key in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgebench-test", "-f", str(d / key)],
                       check=True)
    shutil.copy(d / "user_key.pub", d / "authorized_keys")
    port = free_port()
    devsite = dependency_site(d / "devsite")
    user = getpass.getuser()
    cfg = d / "sshd_config"
    cfg.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {d / 'host_key'}
PidFile {d / 'sshd.pid'}
AuthorizedKeysFile {d / 'authorized_keys'}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
MaxStartups 64
MaxSessions 64
LogLevel ERROR
SetEnv PYTHONPATH={devsite}
""")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder (the Debian service makes it)
    log = open(d / "sshd.log", "wb")  # noqa: SIM115  (closed when the block ends)
    proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.close()
                raise RuntimeError(f"sshd did not start: {(d / 'sshd.log').read_text()}") from None
            time.sleep(0.05)
    host_pub = (d / "host_key.pub").read_text().split()
    known = d / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    client = d / "ssh_config"
    client.write_text(f"""Host dev
  HostName 127.0.0.1
  Port {port}
  User {user}
  IdentityFile {d / 'user_key'}
  IdentitiesOnly yes
  UserKnownHostsFile {known}
  GlobalKnownHostsFile /dev/null
  IdentityAgent none
""")
    python = str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}")
    try:
        yield Sshd(port, d, client, known, d / "user_key", user, python, devsite)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


