"""Shared fixtures: tiny models built in code, and the reference data in ../shared/data."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from edgebench.tools.sshd import Sshd

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
HAS_TORCH = importlib.util.find_spec("torch") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_torch = pytest.mark.skip(reason="needs the export extra (torch): pip install -e '.[export]'")
    skip_data = pytest.mark.skip(reason=f"needs the reference data in {SHARED_DATA} (absent here)")
    for item in items:
        if "torch" in item.keywords and not HAS_TORCH:
            item.add_marker(skip_torch)
        if "data" in item.keywords and not SHARED_DATA.is_dir():
            item.add_marker(skip_data)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data; tests using it must also carry @pytest.mark.data."""
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-conv classifier, [batch,3,16,16] -> [batch,10], dynamic batch."""
    from edgebench.tools.synthetic import conv_net

    return conv_net(tmp_path_factory.mktemp("tiny") / "tiny.onnx")


@pytest.fixture(scope="session")
def tiny_onnx_fixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Same network with a fixed batch of 1."""
    from edgebench.tools.synthetic import conv_net

    return conv_net(tmp_path_factory.mktemp("tinyf") / "tiny_fixed.onnx", dynamic_batch=False)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One torch intra-op thread: tests are not benchmarks, and the machine is shared (2 cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def torch_provided() -> Iterator[None]:
    """The torch runtimes given the exporter's functions, as the command line and the sweep give them."""
    from edgebench.exporter import TORCH_RUNTIME_NEEDS
    from edgebench.runtimes.torch import session

    before = dict(session._provided_targets)
    session.provide(**TORCH_RUNTIME_NEEDS)
    yield
    session._provided_targets.clear()
    session._provided_targets.update(before)


@pytest.fixture(scope="session")
def fastestdet_export(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FastestDet exported once for the run with its published weights from ../shared/data, export parity on the
    128 COCO images (tests/exporter/test_fastestdet.py checks that export; tests/calibration converts it).
    Tests using it carry @pytest.mark.data and @pytest.mark.torch."""
    pytest.importorskip("torch")
    from edgebench.calibration.detection_data import parity_images_for
    from edgebench.exporter.export import export_model
    from edgebench.exporter.loading import WeightsRequest, load_model
    from edgebench.exporter.zoo import get_spec

    spec = get_spec("fastestdet")
    loaded = load_model(spec, WeightsRequest(data_dir=shared_data, download=False))
    out = tmp_path_factory.mktemp("fastestdet") / "fd"
    export_model(loaded.model, spec, out, parity_dataset=parity_images_for(spec.input, None, shared_data),
                 weights=loaded.weights, threads=1)
    return out


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """The real OpenSSH server on loopback (edgebench.tools.sshd), one for the run (tests/devices, tests/sweep)."""
    from edgebench.tools.sshd import SSHD, loopback_sshd

    if not SSHD.exists():
        pytest.skip("needs OpenSSH's server (/usr/sbin/sshd): apt-get install openssh-server (.ci/run installs it)")
    with loopback_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@dataclass(frozen=True)
class Installed:
    """Device `dev` registered in `devices` and set up (our wheel in a fresh venv on the 'device')."""

    devices: Path
    workdir: Path
    setup_seconds: float


@pytest.fixture(scope="session")
def installed(sshd: Sshd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """`dev` set up once for the whole run (a wheel build and a venv on the 'device' take ~10 s)."""
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
