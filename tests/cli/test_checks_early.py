"""Issue #23 §2: a command refused or interrupted after it began writing leaves nothing behind.

The one-line bad-input cases are rows of tests/test_bad_input.py; here the cases that need a slow step made to
fail (monkeypatched): Ctrl-C inside `convert`, a failure after `qat`/`sparsify` exported their FP32 model, and the
temporary probe pack of `latency-table`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edgebench.atomic import check_writable_dir, removed_on_failure
from edgebench.cli import app
from edgebench.errors import UserInputError
from typer.testing import CliRunner


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A conv_net folder with its manifest, and 4 labelled 16x16 images beside it (`imgs.npz`)."""
    from edgebench.manifest import InputInfo, Manifest
    from edgebench.tools.synthetic import conv_net

    d = tmp_path / "m"
    path = conv_net(d / "model.fp32.onnx")
    m = Manifest(name="tiny", input=InputInfo("input", ("batch", 3, 16, 16))).with_file(path)
    (d / "model.fp32.json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
    np.savez(tmp_path / "imgs.npz", images=np.zeros((4, 16, 16, 3), np.uint8), labels=np.arange(4))
    return d


def test_check_writable_dir_creates_nothing(tmp_path: Path) -> None:
    assert check_writable_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert _snapshot(tmp_path) == set()  # the probe folder is gone, nothing made
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserInputError, match="is not a folder"):
        check_writable_dir(tmp_path / "file" / "sub", "--csv")
    with pytest.raises(UserInputError, match="in '/proc'; choose another"):
        check_writable_dir(Path("/proc/nope/x"))


def test_removed_on_failure_takes_back_only_new_files(tmp_path: Path) -> None:
    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_text("kept")
    with pytest.raises(KeyboardInterrupt), removed_on_failure(old, new):
        old.write_text("changed")
        new.write_text("half")
        raise KeyboardInterrupt
    assert old.read_text() == "changed" and not new.exists()
    with removed_on_failure(new):  # success keeps everything
        new.write_text("done")
    assert new.read_text() == "done"


def test_ctrl_c_during_convert_leaves_no_folder(model_dir: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C inside the converter: exit 130 and neither `-o`'s folders nor `<runtime>/` stay (was an empty
    `out/openvino/`): the folders are made through ensure_writable_dir, which the CLI takes back when empty."""
    pytest.importorskip("ncnn")
    import edgebench.runtimes.converters as converters

    def interrupted(job: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(converters, "get_converter", lambda runtime: interrupted)
    before = _snapshot(tmp_path)
    for out in ([], ["-o", str(tmp_path / "out" / "deeper")]):  # the model's own folder, and a new -o
        r = CliRunner().invoke(app, ["convert", str(model_dir), "-r", "ncnn", "--parity-data",
                                     str(tmp_path / "imgs.npz"), "--parity-images", "4", *out])
        assert r.exit_code == 130, (r.exit_code, r.stderr)
        assert r.stderr.strip().splitlines()[-1] == "edgebench: interrupted"  # after the progress lines
        assert _snapshot(tmp_path) == before, "an interrupted convert left something"


def _tiny_spec() -> Any:
    from edgebench.exporter.zoo import ModelSpec
    from edgebench.manifest import InputInfo

    from tests.exporter.tiny_nets import conv_resnet

    return ModelSpec("tiny", lambda num_classes=10: conv_resnet(), InputInfo("input", ("batch", 3, 16, 16)), "test",
                     "tiny conv-shortcut resnet")


def _toy(n: int) -> Any:
    from edgebench.calibration.dataset import Dataset

    rng = np.random.default_rng(0)
    return Dataset(rng.integers(0, 255, (n, 16, 16, 3)).astype(np.uint8), rng.integers(0, 10, n).astype(np.int64),
                   "toy")


@pytest.mark.torch
def test_qat_failure_after_the_export_removes_the_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The FP32 parent is exported first; Ctrl-C (or an error) in calibration then took nothing back."""
    pytest.importorskip("torch")
    import edgebench.exporter.train.qat as qat
    from edgebench.calibration.recipes import resolve_preset

    exported = []

    def interrupted(*_a: object, **_k: object) -> None:
        exported.extend(p.name for p in (tmp_path / "q").iterdir())
        raise KeyboardInterrupt

    monkeypatch.setattr(qat, "calibrate", interrupted)
    spec = _tiny_spec()
    with pytest.raises(KeyboardInterrupt):
        qat.run_qat(spec.build(), spec, tmp_path / "q", _toy(16), resolve_preset("x86-vnni", None, None),
                    qat.QATConfig(epochs=0, calib_images=8))
    assert "model.fp32.onnx" in exported  # the failure came after the export ...
    assert not any((tmp_path / "q").iterdir())  # ... and took it back


@pytest.mark.torch
def test_qat_and_sparsify_refuse_unlabelled_data_before_writing(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from edgebench.calibration.dataset import Dataset
    from edgebench.calibration.recipes import resolve_preset
    from edgebench.errors import DataError
    from edgebench.exporter.prune.sparsity import SparsityConfig, run_sparsify
    from edgebench.exporter.train.qat import QATConfig, run_qat

    spec = _tiny_spec()
    flat = Dataset(np.zeros((4, 16, 16, 3), np.uint8), np.full(4, -1, np.int64), "flat")
    with pytest.raises(DataError, match="needs a class per image"):
        run_qat(spec.build(), spec, tmp_path / "q", flat, resolve_preset("x86-vnni", None, None),
                QATConfig())
    empty = Dataset(flat.images[:0], flat.labels[:0], "empty")
    with pytest.raises(DataError, match="is empty"):
        run_sparsify(spec.build(), spec, tmp_path / "s", empty, SparsityConfig(0.5))
    assert _snapshot(tmp_path) == set()


@pytest.mark.torch
def test_sparsify_refused_onnx_removes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ONNX file's zero check fails after the export (ParityError): the exported files go with it."""
    pytest.importorskip("torch")
    import edgebench.exporter.prune.sparsity as sparsity
    from edgebench.errors import ParityError

    monkeypatch.setattr(sparsity, "onnx_zero_fraction", lambda _p: {"overall": 0.0})
    spec = _tiny_spec()
    with pytest.raises(ParityError, match="zeros"):
        sparsity.run_sparsify(spec.build(), spec, tmp_path / "s", _toy(8), sparsity.SparsityConfig(0.5, epochs=0))
    assert not (tmp_path / "s" / "model.fp32.onnx").exists() and not (tmp_path / "s" / "model.fp32.json").exists()


@pytest.mark.torch
def test_latency_table_removes_its_temporary_probe_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe pack measured here was made with mkdtemp and never removed (Ctrl-C while building it, here)."""
    pytest.importorskip("torch")
    import tempfile

    import edgebench.exporter.prune.prepare as prepare

    def interrupted(model: object, spec: object, pack: Path, **_k: object) -> None:
        assert pack.parent == tmp_path / "tmp" and pack.name.startswith("edgebench-probes-")
        (pack / "probes.json").write_text("{}")
        raise KeyboardInterrupt

    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.setattr(prepare, "probe_pack", interrupted)
    tiny = Path(__file__).resolve().parent.parent / "exporter" / "tiny_nets.py"
    r = CliRunner().invoke(app, ["latency-table", "--model-file", f"{tiny}:conv_resnet", "--input-like", "resnet20",
                                 "--precision", "fp32", "-o", str(tmp_path / "out" / "t.json")])
    assert r.exit_code == 130, (r.exit_code, r.stderr)
    assert _snapshot(tmp_path) == {"tmp"}
