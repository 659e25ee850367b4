"""The real OpenSSH server of tests/devices (edgebench.tools.sshd), a devices file, a set-up device."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from edgebench.tools.sshd import SSHD, Sshd, free_port, loopback_sshd

__all__ = ["Installed", "Sshd", "free_port"]


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if not SSHD.exists():
        pytest.skip("needs OpenSSH's server (/usr/sbin/sshd): apt-get install openssh-server (.ci/run installs it)")
    with loopback_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture
def devices_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh devices TOML (EDGEBENCH_DEVICES) for one test."""
    path = tmp_path / "devices.toml"
    monkeypatch.setenv("EDGEBENCH_DEVICES", str(path))
    return path


@dataclass(frozen=True)
class Installed:
    """Device `dev` registered in `devices` and set up (our wheel in a fresh venv on the 'device')."""

    devices: Path
    workdir: Path
    setup_seconds: float


@pytest.fixture(scope="session")
def installed(sshd: Sshd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    from edgebench.devices.registry import Device, DeviceRegistry
    from edgebench.devices.remote import setup

    d = tmp_path_factory.mktemp("installed")
    devices, workdir, empty = d / "devices.toml", d / "work", d / "wheelhouse"
    empty.mkdir()
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(d / "cache"))  # the wheel cache
    reg = DeviceRegistry(devices)
    reg.add(Device("dev", sshd.url(), python=sshd.python, workdir=str(workdir), ssh_config=str(sshd.ssh_config)))
    t0 = time.perf_counter()
    setup(reg.get("dev"), wheelhouse=empty, echo=lambda _: None)
    try:
        yield Installed(devices, workdir, time.perf_counter() - t0)
    finally:
        mp.undo()
