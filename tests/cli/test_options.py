"""Option parsers: examples, the README's own shapes, and property tests (Hypothesis) over any input."""

from __future__ import annotations

import pytest
from edgebench.cli.options import parse_int_list, parse_key_values, parse_shape
from edgebench.errors import UserInputError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(("text", "shape"), [("1,3,224,224", (1, 3, 224, 224)), ("1,3,32,32", (1, 3, 32, 32)),
                                            ("1x3x16x16", (1, 3, 16, 16)), ("2, 2, 2", (2, 2, 2))])
def test_shape_accepts_repeated_dims(text: str, shape: tuple[int, ...]) -> None:
    assert parse_shape(text) == shape


def test_int_lists_still_refuse_repeats() -> None:
    with pytest.raises(UserInputError, match="repeats a value"):
        parse_int_list("1,1", "--threads")


@pytest.mark.parametrize("text", ["", "1,,2", "0,3", "-1", "1.5", "a,b", "1,3,2x", "3e2"])
def test_shape_refuses_non_dims(text: str) -> None:
    with pytest.raises(UserInputError, match="--shape"):
        parse_shape(text)


@FUZZ
@given(st.text(max_size=40))
def test_int_list_any_text_is_a_list_or_a_user_error(text: str) -> None:
    """No input makes the parser fail other than with a one-line UserInputError naming the option."""
    try:
        out = parse_int_list(text, "--batch")
    except UserInputError as e:
        assert "--batch" in str(e) and "\n" not in str(e)
        return
    assert out and all(isinstance(n, int) and n >= 1 for n in out) and len(set(out)) == len(out)


@FUZZ
@given(st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=6), st.sampled_from([",", "x"]))
def test_shape_round_trip(dims: list[int], sep: str) -> None:
    assert parse_shape(sep.join(map(str, dims))) == tuple(dims)


@FUZZ
@given(st.text(max_size=40))
def test_shape_any_text(text: str) -> None:
    try:
        out = parse_shape(text)
    except UserInputError as e:
        assert "--shape" in str(e) and "\n" not in str(e)
        return
    assert out is not None and all(d >= 1 for d in out)


@FUZZ
@given(st.lists(st.text(max_size=20), max_size=5))
def test_key_values_any_text(items: list[str]) -> None:
    try:
        out = parse_key_values(items)
    except UserInputError as e:
        assert "--runtime-option" in str(e)
        return
    assert len(out) == len(items) and all(k and "-" not in k for k in out)


def test_bench_shape_with_repeated_dims_runs(tiny_onnx, tmp_path) -> None:
    """The README's own form (`--shape 1,3,224,224`) repeats a dim: it must run, not be refused."""
    import json

    from edgebench.cli import app
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, ["bench", str(tiny_onnx), "--shape", "2,3,16,16", "--in-process", "-t", "1", "--json",
                                 "-o", str(tmp_path), "--warmup-iters", "1", "--min-iters", "3", "--min-seconds", "0"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["model"]["inputs"][0]["resolved_shape"] == [2, 3, 16, 16]
