"""A tiny real sweep for the tests: a synthetic ONNX model folder (with manifest) and a random .npz dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from edgebench.atomic import write_json
from edgebench.manifest import InputInfo, new_manifest


def model_folder(d: Path, size: int = 16, manifest_size: int | None = None, name: str = "tiny") -> Path:
    from edgebench.tools.synthetic import conv_net

    conv_net(d / "model.fp32.onnx", size=size)
    s = manifest_size or size
    write_json(d / "model.fp32.json",
               new_manifest(name=name, precision="fp32", input=InputInfo("input", ("batch", 3, s, s)).to_dict()))
    return d


def sweep_text(root: Path, *, models: list[str], precisions: str = '["fp32", "int8:x86-avx2"]',
               threads: str = "[1, 2]", extra: str = "") -> str:
    return f"""
name = "tiny"
models = {models!r}
[quantize]
precisions = {precisions}
calibration = "{root / 'data.npz'}"
calib_size = 32
[eval]
data = "{root / 'data.npz'}"
limit = 48
[bench]
runtimes = ["ort-cpu"]
threads = {threads}
min_seconds = 0.05
min_iters = 10
warmup_iters = 2
[recommend]
budgets = [0.3, 1.0]
{extra}
""".replace("'", '"')


def make_tiny(tmp_path: Path) -> Path:
    """tmp_path with tiny/ (a model folder), data.npz and sweep.toml (fp32 + one INT8 preset, threads 1 and 2)."""
    pytest.importorskip("onnx")
    model_folder(tmp_path / "tiny")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", images=rng.integers(0, 256, (48, 16, 16, 3)).astype(np.uint8),
             labels=rng.integers(0, 10, 48))
    (tmp_path / "sweep.toml").write_text(sweep_text(tmp_path, models=[str(tmp_path / "tiny")]), encoding="utf-8")
    return tmp_path
