"""Fuzzing the manifest reader (Hypothesis): any JSON, any file content, any one field replaced by any value
gives a Manifest or one UserInputError line, never another exception (a manifest travels with a model
folder, so it is input like any other)."""

from __future__ import annotations

import json
from pathlib import Path

from edgebench.errors import UserInputError
from edgebench.manifest import InputInfo, Manifest, check_value, read_manifest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.function_scoped_fixture])

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63) | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
VALID = Manifest(name="m", arch="resnet20", input=InputInfo("input", ("batch", 3, 32, 32)), onnx_file="model.fp32.onnx",
                 onnx_sha256="ab" * 32, file_size_mb=1.0, opset=17, precision="fp32").to_dict()


def _parse(data: object) -> Manifest | None:
    try:
        return Manifest.from_dict(data, "fuzz.json")  # type: ignore[arg-type]
    except UserInputError as e:
        assert "\n" not in str(e) and str(e)
        return None


@FUZZ
@given(JSON)
def test_any_json_value(data: object) -> None:
    _parse(data)


@FUZZ
@given(st.sampled_from(sorted(VALID)), JSON)
def test_one_field_replaced_by_anything(field: str, value: object) -> None:
    m = _parse({**VALID, field: value})
    if m is not None:  # what was accepted round-trips
        assert Manifest.from_dict(m.to_dict()) == m


@settings(FUZZ, max_examples=150)
@given(st.sampled_from(["input", "weights", "pruned"]), st.dictionaries(st.text(max_size=10), JSON, max_size=5))
def test_nested_blocks_of_anything(field: str, value: dict) -> None:
    _parse({**VALID, field: value})


@FUZZ
@given(st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()))
def test_any_file_content(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.fp32.json"  # one file, rewritten per example
    path.write_bytes(content)
    try:
        read_manifest(path)
    except UserInputError as e:
        assert "\n" not in str(e)


def test_valid_round_trip() -> None:
    m = Manifest.from_dict(VALID)
    assert Manifest.from_dict(json.loads(json.dumps(m.to_dict()))) == m


PP_FIELDS = ["resize", "crop", "scale", "mean", "std", "interpolation", "layout", "channel_order"]
ANY_NUMBERS = JSON | st.floats() | st.lists(st.floats() | st.integers(), max_size=5)  # NaN and Inf too


@FUZZ
@given(st.sampled_from([*PP_FIELDS, "num_classes", "batch", "shape"]), ANY_NUMBERS)
def test_an_accepted_value_is_within_the_rules(field: str, value: object) -> None:
    """Whatever a manifest holds, what loads is within `FIELD_RULES` (issue #23: resize 100000, std NaN)."""
    data = json.loads(json.dumps(VALID))
    target = (data["input"]["preprocessing"] if field in PP_FIELDS else data["input"] if field == "shape" else data)
    target[field] = value
    m = _parse(data)
    if m is not None and m.input is not None:
        holder = m.input.preprocessing if field in PP_FIELDS else m.input if field == "shape" else m
        if getattr(holder, field) is not None:
            check_value(field, getattr(holder, field), field)
