from __future__ import annotations

import pytest
from edgebench.errors import UserInputError
from edgebench.runtimes.base import TensorSpec
from edgebench.runtimes.options import RuntimeOptions
from edgebench.runtimes.ort.options import OrtCpuOptions


def test_resolve_dynamic_batch() -> None:
    spec = TensorSpec("x", ("batch", 3, 32, 32), "float32")
    assert spec.dynamic_dims == [0]
    assert spec.resolve() == (1, 3, 32, 32)
    assert spec.resolve(batch=8) == (8, 3, 32, 32)


def test_resolve_explicit_shape() -> None:
    spec = TensorSpec("x", ("batch", 3, None, None), "float32")
    assert spec.resolve(shape=(2, 3, 64, 48)) == (2, 3, 64, 48)
    with pytest.raises(UserInputError, match="give the full shape with --shape"):
        spec.resolve(batch=1)


def test_shape_rank_mismatch() -> None:
    spec = TensorSpec("x", ("batch", 3, 32, 32), "float32")
    with pytest.raises(UserInputError, match="has rank 3 but input 'x' has rank 4"):
        spec.resolve(shape=(1, 32, 32))


def test_shape_conflicts_with_fixed_dim() -> None:
    spec = TensorSpec("x", (1, 3, 32, 32), "float32")
    with pytest.raises(UserInputError, match="fixes it to 3"):
        spec.resolve(shape=(1, 4, 32, 32))
    with pytest.raises(UserInputError, match="fixed batch of 1"):
        spec.resolve(batch=4)


@pytest.mark.parametrize(
    "kwargs", [{"intra_op_threads": 0}, {"inter_op_threads": -1}, {"graph_optimization": "max"},
               {"execution_mode": "async"}]
)
def test_runtime_options_validated(kwargs: dict) -> None:
    with pytest.raises(UserInputError):
        (OrtCpuOptions if kwargs.keys() - {"intra_op_threads", "inter_op_threads"} else RuntimeOptions)(**kwargs)
