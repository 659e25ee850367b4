"""Shared fixtures: tiny models built in code, and the reference data in ../shared/data."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

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
