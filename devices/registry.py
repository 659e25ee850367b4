"""The device registry: a TOML file of named SSH devices in the user's config folder.

Example file (`edgebench device add pi4 ssh://pi@raspberrypi.local` writes it)::

    [devices."pi4"]
    url = "ssh://pi@raspberrypi.local"
    python = "python3"
    workdir = "~/edgebench"

The file is `$EDGEBENCH_DEVICES`, else `$XDG_CONFIG_HOME/edgebench/devices.toml`, else
`~/.config/edgebench/devices.toml`; `device ... --config FILE` overrides it. It is read with
`tomllib` and written atomically (a temporary file, then rename).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit

from edgebench.atomic import write_text
from edgebench.errors import NotFoundError, UserInputError
from edgebench.readers import read_toml_file
from edgebench.registry import Registry

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# a DNS name or ~/.ssh/config alias: dot-separated labels of letters, digits, '-' and '_', none starting with '-'
HOST_LABEL_RE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")  # a POSIX login name (never starting with '-')


def check_host(host: str) -> str:
    """`host` when it is a host name, a ~/.ssh/config alias or an IP address; else a UserInputError.

    Nothing a shell or ssh would read as more than a host gets in (`h;rm -rf x`, `h h`, `-oProxyCommand=id`).

    >>> check_host("raspberrypi.local"), check_host("192.168.1.20"), check_host("fe80::1")
    ('raspberrypi.local', '192.168.1.20', 'fe80::1')
    """
    import ipaddress

    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if len(host) > 253 or not all(HOST_LABEL_RE.match(label) for label in labels):
        raise UserInputError(f"device host {host!r} is not a host name or IP address: use letters, digits, '-', "
                             "'_' and '.' (not starting with '-'), e.g. ssh://pi@raspberrypi.local or "
                             "ssh://pi@192.168.1.20")
    return host


@dataclass(frozen=True)
class Device:
    """One device: a name, an ssh:// URL and where edgebench lives on it.

    >>> d = Device("pi4", "ssh://pi@raspberrypi.local:2222")
    >>> (d.user, d.host, d.port, d.destination)
    ('pi', 'raspberrypi.local', 2222, 'pi@raspberrypi.local')
    >>> Device("pi4", "ssh://my-pi-alias").port is None   # an alias of ~/.ssh/config
    True
    """

    name: str
    url: str
    python: str = "python3"
    workdir: str = "~/edgebench"
    ssh_config: str | None = None  # `ssh -F FILE` instead of ~/.ssh/config

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, str) and not (f.name == "ssh_config" and value is None):
                raise UserInputError(f"device {f.name} {value!r} is not a string ({type(value).__name__}); "
                                     f"write {f.name} = \"...\"")
        if not NAME_RE.match(self.name):
            raise UserInputError(f"device name '{self.name}' is not allowed: use letters, digits, '-', '_' and '.' "
                                 "(e.g. pi4)")
        try:
            parts = urlsplit(self.url)
        except ValueError:  # e.g. an unclosed '[' of an IPv6 address
            raise UserInputError(f"device URL {self.url!r} is not ssh://[user@]host[:port] (IPv6: "
                                 "ssh://user@[fe80::1]:22)") from None
        if parts.scheme != "ssh" or not parts.hostname:
            raise UserInputError(f"device URL '{self.url}' is not ssh://[user@]host[:port] "
                                 "(e.g. ssh://pi@raspberrypi.local or ssh://ALIAS of ~/.ssh/config)")
        host = parts.netloc.rpartition("@")[2]  # as typed (.hostname is lowercased), so the message names it
        if host.startswith("["):
            host = host[1:host.find("]")]
        elif host.count(":") == 1:
            host = host.partition(":")[0]
        check_host(host)
        if parts.username is not None and not USER_RE.match(parts.username):
            raise UserInputError(f"device user {parts.username!r} is not a user name: use letters, digits, '_', "
                                 "'.' and '-' (not starting with '-'), e.g. ssh://pi@raspberrypi.local")
        if parts.password is not None:
            raise UserInputError(f"device URL '{self.url}' holds a password; edgebench uses your SSH keys or agent "
                                 "only: drop the password and run ssh-copy-id")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise UserInputError(f"device URL '{self.url}' has a path or query; give ssh://[user@]host[:port] "
                                 "and the folder with --workdir")
        try:
            parts.port  # noqa: B018  (raises on a bad port)
        except ValueError:
            raise UserInputError(f"device URL '{self.url}' has a bad port; use a number 1-65535") from None
        if not self.python.strip() or not self.workdir.strip():
            raise UserInputError("--python and --workdir must not be empty (defaults: python3, ~/edgebench)")
        if any(c in self.workdir for c in "\n\0"):
            raise UserInputError(f"--workdir {self.workdir!r} holds a newline or NUL; choose a plain path")

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def user(self) -> str | None:
        return urlsplit(self.url).username

    @property
    def port(self) -> int | None:
        return urlsplit(self.url).port

    @property
    def destination(self) -> str:
        """`user@host` or `host` (a ~/.ssh/config alias keeps its own User and Port)."""
        return f"{self.user}@{self.host}" if self.user else self.host

    def to_toml(self) -> str:
        lines = [f"[devices.{json.dumps(self.name)}]"]
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "name" and value is not None:
                lines.append(f"{f.name} = {json.dumps(value, ensure_ascii=True)}")  # a JSON string is a TOML string
        return "\n".join(lines) + "\n"


def default_config_path() -> Path:
    """Where the registry lives: $EDGEBENCH_DEVICES, else the user's config folder."""
    env = os.environ.get("EDGEBENCH_DEVICES")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "edgebench" / "devices.toml"


class DeviceRegistry:
    """The devices of one TOML file; `get` suggests the closest name on a typo."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_config_path()
        self.devices: dict[str, Device] = {}
        if self.path.exists() or self.path.is_symlink():  # a folder or a dangling link: refused by the reader
            self.devices = self._read()

    def _read(self) -> dict[str, Device]:
        data = read_toml_file(self.path, "device file")
        table = data.get("devices", {})
        if not isinstance(table, dict):
            raise UserInputError(f"device file '{self.path}': 'devices' must be a table of [devices.NAME]")
        known = {f.name for f in fields(Device)} - {"name"}
        out: dict[str, Device] = {}
        for name, entry in table.items():
            if not isinstance(entry, dict) or "url" not in entry:
                raise UserInputError(f"device file '{self.path}': [devices.{name}] needs a url")
            extra = set(entry) - known
            if extra:
                raise UserInputError(f"device file '{self.path}': [devices.{name}] has unknown keys "
                                     f"{sorted(extra)}; allowed: {sorted(known)}")
            try:
                out[name] = Device(name=name, **entry)
            except UserInputError as e:
                raise UserInputError(f"device file '{self.path}': [devices.{name}]: {e}") from None
        return out

    def get(self, name: str) -> Device:
        reg: Registry[Device] = Registry("device")
        for n, d in self.devices.items():
            reg.add(n, d)
        try:
            return reg.get(name)
        except NotFoundError as e:
            raise NotFoundError(f"{e} Add it with: edgebench device add {shlex.quote(name)} ssh://user@host "
                                f"(devices file: {self.path})") from None

    def add(self, device: Device, *, force: bool = False) -> None:
        if device.name in self.devices and not force:
            raise UserInputError(f"device '{device.name}' already exists ({self.devices[device.name].url}); "
                                 "pass --force to replace it or remove it first")
        self.devices[device.name] = device
        self.save()

    def remove(self, name: str) -> Device:
        device = self.get(name)
        del self.devices[name]
        self.save()
        return device

    def save(self) -> None:
        header = "# edgebench devices (edgebench device add|remove edits this file)\n"
        body = "\n".join(d.to_toml() for _, d in sorted(self.devices.items()))
        write_text(self.path, header + ("\n" if body else "") + body)
