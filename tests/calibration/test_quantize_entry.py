"""The one quantize entry (`calibration.entry.quantize`): each config type, the CLI and the sweep stage writing
the same manifest, and the typed `recipe` / `calibration` records reading old manifests back byte-identical."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edgebench.atomic import write_json
from edgebench.calibration.accuracy_aware import AccuracyBudget
from edgebench.calibration.entry import (
    BitsConfig,
    BudgetConfig,
    DynamicConfig,
    Fp16Config,
    StaticConfig,
    quantize,
)
from edgebench.calibration.quantize import CalibrationSettings
from edgebench.calibration.recipes import resolve_preset
from edgebench.errors import UserInputError
from edgebench.manifest import CalibrationRecord, InputInfo, Manifest, RecipeRecord, new_manifest, sha256_file
from edgebench.tools.synthetic import conv_net

pytest.importorskip("onnx")
FIXTURES = Path(__file__).parent.parent / "data" / "manifests"


@pytest.fixture()
def model(tmp_path: Path) -> Path:
    path = conv_net(tmp_path / "tiny" / "model.fp32.onnx", size=16)
    write_json(path.with_suffix(".json"), new_manifest(
        name="tiny", precision="fp32", onnx_file=path.name, onnx_sha256=sha256_file(path),
        input=InputInfo("input", ("batch", 3, 16, 16)).to_dict()))
    return path


@pytest.fixture()
def calib(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "c.npz", images=rng.integers(0, 256, (24, 16, 16, 3)).astype(np.uint8), labels=np.zeros(24))
    return tmp_path / "c.npz"


def _static(calib: Path, preset: str = "x86-avx2") -> StaticConfig:
    return StaticConfig(resolve_preset(preset), str(calib), CalibrationSettings(size=16, seed=3))


def test_static_config(model: Path, calib: Path, tmp_path: Path) -> None:
    r = quantize(model, tmp_path / "out", _static(calib))
    assert r.path == tmp_path / "out" / "model.int8.onnx" and r.path.is_file()
    m = r.manifest
    assert m.quantization_mode == "static" and m.recipe is not None and m.recipe.reduce_range
    assert m.calibration == CalibrationRecord(dataset=str(calib), size=16, requested_size=16, seed=3, batch_size=32,
                                              sha256=m.calibration.sha256 if m.calibration else None,
                                              method="minmax", quant_pre_process=True)
    lines = r.lines()
    assert lines[0].startswith("preset   x86-avx2") and "bits w8/a8" in lines[1]
    assert lines[2].startswith("calib    16 images of") and lines[-1].startswith(f"wrote    {r.path}")


def test_bits_config(model: Path, calib: Path, tmp_path: Path) -> None:
    c = BitsConfig(resolve_preset("x86-vnni"), str(calib), CalibrationSettings(size=16), weight_bits=4)
    assert c.choice.recipe.weight_bits == 4 and c.choice.recipe.name == "x86-vnni+"
    r = quantize(model, tmp_path / "out", c)
    rec = r.manifest.recipe
    assert rec is not None and (rec.weight_bits, rec.activation_bits) == (4, 8)
    assert "bits w4/a8" in r.lines()[1]
    with pytest.raises(UserInputError, match="--weight-bits 5"):
        BitsConfig(resolve_preset("x86-vnni"), str(calib), weight_bits=5)


def test_dynamic_and_fp16_configs(model: Path, tmp_path: Path) -> None:
    d = quantize(model, tmp_path / "out", DynamicConfig(resolve_preset("x86-vnni")))
    assert d.path.name == "model.int8-dynamic.onnx" and d.manifest.quantization_mode == "dynamic"
    assert d.manifest.calibration is None and d.manifest.recipe is not None
    assert not any(line.startswith("calib") for line in d.lines())
    h = quantize(model, tmp_path / "out", Fp16Config())
    assert h.path.name == "model.fp16.onnx" and h.manifest.precision == "fp16" and h.manifest.recipe is None
    assert h.lines()[0].startswith("wrote")


def test_budget_config(model: Path, calib: Path, tmp_path: Path) -> None:
    c = BudgetConfig(_static(calib), AccuracyBudget(10.0, max_steps=1, best_effort=True), str(calib), 12)
    r = quantize(model, tmp_path / "out", c)
    a = r.manifest.accuracy_aware
    assert a is not None and a["eval_images"] == 12 and a["eval_data"] == str(calib) and a["budget_pts"] == 10.0
    assert any(line.startswith("budget   10.0 points on 12 images") for line in r.lines())
    with pytest.raises(UserInputError, match="--fallback int8"):  # 8-bit weights: refused when the config is built
        BudgetConfig(_static(calib), AccuracyBudget(1.0, fallback="int8"), str(calib))


def test_static_config_needs_data() -> None:
    with pytest.raises(UserInputError, match="--mode static needs calibration data"):
        StaticConfig(resolve_preset("x86-vnni"), "")


def test_an_unknown_config_is_a_type_error(model: Path) -> None:
    with pytest.raises(TypeError, match="StaticConfig"):
        quantize(model, None, object())  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["static", "dynamic", "fp16"])
def test_cli_and_sweep_write_the_same_manifest(model: Path, calib: Path, tmp_path: Path, mode: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import edgebench.calibration.quantize as q
    from edgebench.cli import app
    from edgebench.sweep.stages import Input, stage_quantize
    from typer.testing import CliRunner

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Frozen:
            return cls(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    monkeypatch.setattr(q, "datetime", Frozen)
    extra = ["--data", str(calib), "-n", "16", "--seed", "3"] if mode == "static" else []
    preset = [] if mode == "fp16" else ["--preset", "x86-avx2"]
    r = CliRunner().invoke(app, ["quantize", str(model), "--mode", mode, *preset, *extra, "-o", str(tmp_path / "cli")])
    assert r.exit_code == 0, r.stderr
    s = {"mode": mode, "preset": "x86-avx2", "calibration": str(calib), "calib_size": 16, "seed": 3}
    out = stage_quantize(s, [Input(model.parent, {"model": model.name})], tmp_path / "sweep")
    name = out["model"]
    for suffix in (".json", ".onnx"):
        cli_file = (tmp_path / "cli" / name).with_suffix(suffix)
        assert cli_file.read_bytes() == (tmp_path / "sweep" / name).with_suffix(suffix).read_bytes(), suffix


@pytest.mark.parametrize("name", ["int8_static.json", "int8_static_old.json", "int8_dynamic.json",
                                  "openvino_int8.json"])
def test_old_manifests_load_typed_and_write_back_identical(name: str) -> None:
    text = (FIXTURES / name).read_text()
    m = Manifest.from_dict(json.loads(text), name)
    assert json.dumps(m.to_dict(), indent=2) + "\n" == text
    if m.recipe is not None:
        assert isinstance(m.recipe, RecipeRecord) and m.recipe.weight_bits == 8 and m.recipe.quant_format == "qdq"
    if m.calibration is not None:
        assert isinstance(m.calibration, CalibrationRecord) and m.calibration.size in (16, 300)


def test_openvino_calibration_keeps_its_own_keys() -> None:
    m = Manifest.from_dict(json.loads((FIXTURES / "openvino_int8.json").read_text()))
    assert m.calibration is not None and m.calibration.dataset == "cifar10:train"
    assert (m.calibration.images, m.calibration.source, dict(m.calibration.extra)) == (300, "--data", {})


def test_old_recipe_reads_the_defaults() -> None:
    m = Manifest.from_dict(json.loads((FIXTURES / "int8_static_old.json").read_text()))
    assert m.recipe is not None and (m.recipe.weight_bits, m.recipe.activation_bits, m.recipe.int8_nodes) == (8, 8, ())
    assert m.calibration is not None and m.calibration.requested_size is None


@pytest.mark.parametrize(("field", "value", "match"), [
    ("recipe", {"weight_bits": "8"}, "field 'recipe.weight_bits' is \"8\"; expected int"),
    ("recipe", {"per_channel": 1}, "field 'recipe.per_channel' is 1; expected bool"),
    ("calibration", {"size": True}, "field 'calibration.size' is true; expected int"),
    ("calibration", {"dataset": ["a"]}, "field 'calibration.dataset'"),
])
def test_bad_records_are_refused(field: str, value: dict[str, Any], match: str) -> None:
    d = json.loads((FIXTURES / "int8_static.json").read_text())
    d[field] = value
    with pytest.raises(UserInputError, match=match.replace("(", r"\(")):
        Manifest.from_dict(d, "m.json")


@pytest.mark.parametrize(("change", "want"), [({}, True), ({"recipe": {"quant_format": "qoperator"}}, False),
                                              ({"quantization_mode": "dynamic"}, False)])
def test_readers_use_the_recipe_record(tmp_path: Path, change: dict[str, Any], want: bool) -> None:
    from edgebench.tools.armcheck import has_qdq_reference

    d = {**json.loads((FIXTURES / "int8_static.json").read_text()), **change}
    (tmp_path / "model.int8.onnx").write_bytes(b"")
    write_json(tmp_path / "model.int8.json", d)
    assert has_qdq_reference(tmp_path / "model.int8.onnx") is want


def test_convert_prints_the_calibration_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import edgebench.calibration.convert as conv
    from edgebench.cli import app
    from typer.testing import CliRunner

    def fake_convert(model: Path, config: Any, log: Any = None, **_: Any) -> Path:
        out = tmp_path / "openvino" / "int8" / "model.int8.xml"
        out.parent.mkdir(parents=True)
        out.write_bytes(b"<net/>")
        write_json(out.with_suffix(".json"), json.loads((FIXTURES / "openvino_int8.json").read_text()))
        return out

    monkeypatch.setattr(conv, "convert_model", fake_convert)
    r = CliRunner().invoke(app, ["convert", str(tmp_path / "m.onnx"), "-r", "openvino", "--precision", "int8"])
    assert r.exit_code == 0, r.stderr
    assert "calib    300 images of cifar10:train (seed 0), sha256 000000000000" in r.stdout
