"""SSH to a device through the system OpenSSH client (`ssh`), never a Python SSH library.

Why the system client: the user's ~/.ssh/config (host aliases, ProxyJump, IdentityFile), keys,
agent and known_hosts apply exactly as in their own `ssh pi4`, with no second implementation of
any of it. Every call runs non-interactively and refuses what it cannot verify::

    ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=10 ...

so an unknown or changed host key, a key the device refuses, or an unreachable host ends in one
`DeviceError` line that says what to run (`classify`). Commands run as `sh -c '<script>'`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from typing import IO, Any

from edgebench.devices.registry import Device
from edgebench.errors import DeviceError

DEFAULT_CONNECT_TIMEOUT = 10  # seconds; EDGEBENCH_SSH_TIMEOUT overrides


def connect_timeout() -> int:
    raw = os.environ.get("EDGEBENCH_SSH_TIMEOUT", str(DEFAULT_CONNECT_TIMEOUT))
    try:
        value = int(raw)
    except ValueError:
        raise DeviceError(f"EDGEBENCH_SSH_TIMEOUT={raw!r} is not a whole number of seconds (e.g. 10)") from None
    if value < 1:
        raise DeviceError(f"EDGEBENCH_SSH_TIMEOUT={value} must be >= 1 second")
    return value


def remote_path(path: str) -> str:
    """A shell word for a remote path; a leading `~` becomes `"$HOME"` (quoting would stop its expansion).

    >>> remote_path("~/edgebench")
    '"$HOME"/edgebench'
    >>> remote_path("/opt/my bench")
    "'/opt/my bench'"
    """
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


@dataclass(frozen=True)
class Ssh:
    """The ssh command line of one device."""

    device: Device
    timeout: int = DEFAULT_CONNECT_TIMEOUT

    def options(self) -> list[str]:
        """Everything but the command: config file, non-interactive options, port, destination."""
        d = self.device
        cfg = os.environ.get("EDGEBENCH_SSH_CONFIG") or d.ssh_config
        out = ["ssh"] + (["-F", os.path.expanduser(cfg)] if cfg else [])
        out += ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", f"ConnectTimeout={self.timeout}",
                "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3", "-o", "LogLevel=ERROR"]
        if d.port is not None:
            out += ["-p", str(d.port)]
        return [*out, "--", d.destination]

    def interactive_command(self) -> str:
        """What the user runs to connect once by hand (e.g. to check and accept a host key)."""
        d = self.device
        cfg = os.environ.get("EDGEBENCH_SSH_CONFIG") or d.ssh_config
        parts = ["ssh"] + (["-F", cfg] if cfg else []) + (["-p", str(d.port)] if d.port else [])
        return shlex.join([*parts, "--", d.destination, "true"])

    def argv(self, script: str) -> list[str]:
        return [*self.options(), "sh -c " + shlex.quote(script)]

    def run(self, script: str, *, what: str, stdin: bytes | None = None, timeout: float | None = None,
            check: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Run `script` on the device; ssh's own failures (exit 255) become a DeviceError naming `what`."""
        try:
            proc = subprocess.run(self.argv(script), input=stdin, capture_output=True,
                                  timeout=timeout if timeout is not None else self.timeout + 120,
                                  stdin=None if stdin is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"device '{self.device.name}': {what} did not finish in "
                              f"{timeout if timeout is not None else self.timeout + 120:.0f} s") from None
        except FileNotFoundError:
            raise DeviceError("no 'ssh' command here: install the OpenSSH client (apt-get install openssh-client)"
                              ) from None
        if proc.returncode == 255:
            raise classify(proc.stderr.decode(errors="replace"), self, what)
        if check and proc.returncode != 0:
            err = last_line(proc.stderr.decode(errors="replace")) or f"exit status {proc.returncode}"
            raise DeviceError(f"device '{self.device.name}': {what} failed: {err}")
        return proc

    def popen(self, script: str, *, stdin: int | IO[Any] | None = subprocess.DEVNULL,
              stdout: int | IO[Any] | None = subprocess.PIPE,
              stderr: int | IO[Any] | None = subprocess.PIPE) -> subprocess.Popen[bytes]:
        """Start `script` on the device and return the local ssh process (the caller reads its pipes)."""
        try:
            return subprocess.Popen(self.argv(script), stdin=stdin, stdout=stdout, stderr=stderr)
        except FileNotFoundError:
            raise DeviceError("no 'ssh' command here: install the OpenSSH client (apt-get install openssh-client)"
                              ) from None


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


_UNREACHABLE = ("Connection refused", "Connection timed out", "timed out", "No route to host",
                "Could not resolve hostname", "Network is unreachable", "Name or service not known",
                "Temporary failure in name resolution")
_DROPPED = ("Connection closed", "Connection reset", "Broken pipe", "Timeout, server", "not responding",
            "closed by remote host", "Connection to")


def classify(stderr: str, ssh: Ssh, what: str) -> DeviceError:
    """Turn ssh's exit-255 message into one line that says what happened and what to run."""
    d = ssh.device
    where = f"device '{d.name}' ({d.destination}{':' + str(d.port) if d.port else ''})"
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr or ("Host key for" in stderr and "has changed" in stderr):
        host = shlex.quote(f"[{d.host}]:{d.port}" if d.port else d.host)
        return DeviceError(f"{where}: its host key CHANGED since it was accepted (a reinstalled board, or an "
                           f"attack); if the change is expected, remove the old key with: ssh-keygen -R {host} "
                           f"and accept the new one after checking it: {ssh.interactive_command()}")
    if "Host key verification failed" in stderr or "No ED25519 host key is known" in stderr \
            or re.search(r"No \S+ host key is known", stderr):
        return DeviceError(f"{where}: its host key is not in known_hosts and is never trusted silently; check "
                           f"its fingerprint and accept it by connecting once: {ssh.interactive_command()}")
    if "Permission denied" in stderr or "Too many authentication failures" in stderr:
        detail = re.search(r"Permission denied \(([^)]*)\)", stderr)
        return DeviceError(f"{where}: authentication failed (permission denied"
                           f"{' (' + detail.group(1) + ')' if detail else ''}); install your key there with "
                           f"ssh-copy-id {d.destination} or set IdentityFile in ~/.ssh/config, then check with: "
                           f"{ssh.interactive_command()}")
    for key in _UNREACHABLE:
        if key in stderr:
            return DeviceError(f"{where} is unreachable: {last_line(stderr)} (connect timeout {ssh.timeout} s, "
                               "EDGEBENCH_SSH_TIMEOUT changes it); check that it is on, on the network and "
                               "running sshd")
    for key in _DROPPED:
        if key in stderr:
            return DeviceError(f"{where}: the connection dropped during {what}: {last_line(stderr)}")
    return DeviceError(f"{where}: ssh failed during {what}: {last_line(stderr) or 'exit status 255'}")
