"""docs/errors.md as tests: one test per row of the bad-input table.

Each row: the command, the exit code, a fragment of its one-line message, and that nothing was written
(no output folder, no result, no partial file). The table in docs/errors.md lists the same rows by id;
`test_table_matches_the_doc` keeps the two in step.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from edgebench.cli import app
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
QUICK = ["--in-process", "--warmup-iters", "0", "--min-iters", "2", "--min-seconds", "0"]


@dataclass(frozen=True)
class Row:
    id: str
    args: tuple[str, ...]  # {model} {tampered} {nan} {out} {tmp} {archive_dir} {images} are filled in
    code: int
    message: str  # a fragment of the one line on stderr


ROWS = [
    Row("missing-model", ("bench", "{tmp}/missing.onnx", "-o", "{out}"), 2, "does not exist"),
    Row("not-onnx", ("bench", "{tmp}/notes.onnx", "-o", "{out}"), 2, "not a loadable ONNX model"),
    Row("unknown-runtime", ("bench", "{model}", "-r", "ort-cpx", "-o", "{out}"), 2, "Did you mean 'ort-cpu'?"),
    Row("threads-not-int", ("bench", "{model}", "-t", "two", "-o", "{out}"), 2, "'two' is not an integer"),
    Row("threads-repeated", ("bench", "{model}", "-t", "1,1", "-o", "{out}"), 2, "repeats a value"),
    Row("threads-oversubscribed", ("bench", "{model}", "-t", "10000", "-o", "{out}"), 2, "--allow-oversubscribe"),
    Row("shape-zero", ("bench", "{model}", "--shape", "1,3,0,16", "-o", "{out}"), 2, "every value must be >= 1"),
    Row("shape-rank", ("bench", "{model}", "--shape", "1,3,16", "-o", "{out}", *QUICK), 2, "has rank 3"),
    Row("timeout-too-short", ("bench", "{model}", "--timeout", "1", "--min-seconds", "5", "-o", "{out}"), 2,
        "raise --timeout"),
    Row("timeout-not-finite", ("bench", "{model}", "--timeout", "inf", "-o", "{out}"), 2, "finite number"),
    Row("csv-is-a-folder", ("bench", "{model}", "--csv", "{tmp}", "-o", "{out}", *QUICK), 2, "is a folder"),
    Row("tampered-model", ("bench", "{tampered}", "-o", "{out}", *QUICK), 2, "changed after export"),
    Row("tampered-model-eval", ("eval", "{tampered}", "--data", "{images}"), 2, "changed after export"),
    Row("crafted-cifar10-archive", ("eval", "{model}", "--data", "cifar10", "--data-dir", "{archive_dir}"), 2,
        "not the published CIFAR-10"),
    Row("quantize-nan-weights", ("quantize", "{nan}", "--mode", "dynamic"), 2, "NaN/Inf weights"),
    Row("quantize-unknown-exclude-node", ("quantize", "{tampered_ok}", "--mode", "dynamic", "--exclude-nodes",
                                          "conv9"), 2, "no node named 'conv9'"),
    Row("sensitivity-target-macs", ("sensitivity", "resnet20", "-o", "{out}", "--target-macs", "1.5"), 2,
        "must be a fraction in (0, 1)"),
    Row("model-typo", ("export", "resnet21", "-o", "{out}"), 2, "Did you mean 'resnet20'?"),
    Row("convert-litert-described", ("convert", "{described}", "-r", "litert", "-o", "{out}"), 2,
        "has none (a described third-party ONNX"),
]
NEEDS_EXPORT_EXTRA = {"quantize-nan-weights", "quantize-unknown-exclude-node", "sensitivity-target-macs", "model-typo"}


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, str]:
    import pickle

    from edgebench.manifest import InputInfo, Manifest
    from edgebench.tools.synthetic import conv_net

    tmp = tmp_path / "in"
    tmp.mkdir()
    (tmp / "notes.onnx").write_text("hello, I am a text file\n")
    model = conv_net(tmp / "tiny" / "model.fp32.onnx")
    for name, change in (("tampered", True), ("tampered_ok", False)):
        d = tmp / name
        path = conv_net(d / "model.fp32.onnx")
        m = Manifest(name=name, input=InputInfo("input", ("batch", 3, 16, 16))).with_file(path)
        (d / "model.fp32.json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
        if change:
            conv_net(path, seed=1)
    m = Manifest(name="tiny", input=InputInfo("input", ("batch", 3, 16, 16))).with_file(model)
    (model.parent / "model.fp32.json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
    images = tmp / "imgs.npz"
    np.savez(images, images=np.zeros((4, 16, 16, 3), np.uint8), labels=np.arange(4))
    archive_dir = tmp / "data"
    archive_dir.mkdir()
    _crafted_archive(archive_dir / "cifar-10-python.tar.gz", pickle.dumps({b"data": _Pwn(tmp / "pwned")}))
    out = {"tmp": str(tmp), "model": str(model), "tampered": str(tmp / "tampered"),
           "tampered_ok": str(tmp / "tampered_ok"), "out": str(tmp_path / "out" / "deeper"), "images": str(images),
           "archive_dir": str(archive_dir), "nan": str(_nan_model(tmp / "nan")),
           "described": str(_described(tmp / "thirdparty" / "net.onnx")),
           }
    return out


class _Pwn:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        import os

        return (os.system, (f"touch {self.marker}",))


def _crafted_archive(path: Path, payload: bytes) -> Path:
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return path


def _nan_model(d: Path) -> Path:
    """A model folder (onnx + manifest) whose first conv weight is NaN; needs `onnx` (else a placeholder)."""
    from edgebench.manifest import InputInfo, Manifest
    from edgebench.tools.synthetic import conv_net

    path = conv_net(d / "model.fp32.onnx")
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return d
    proto = onnx.load(path)
    w = proto.graph.initializer[0]
    arr = numpy_helper.to_array(w).copy()
    arr[0, 0, 0, 0] = np.nan
    w.CopyFrom(numpy_helper.from_array(arr, w.name))
    onnx.save(proto, path)
    m = Manifest(name="nan", input=InputInfo("input", ("batch", 3, 16, 16))).with_file(path)
    (d / "model.fp32.json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
    return d


def _described(path: Path) -> Path:
    """A third-party ONNX with the manifest `edgebench describe` writes (provenance 'described', no 'arch')."""
    from edgebench.manifest import InputInfo, Manifest
    from edgebench.tools.synthetic import conv_net

    conv_net(path)
    m = Manifest(name="net", input=InputInfo("input", ("batch", 3, 16, 16)),
                 provenance={"source": "described"}).with_file(path)
    path.with_suffix(".json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
    return path


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("row", [pytest.param(r, id=r.id, marks=[pytest.mark.torch] if r.id in NEEDS_EXPORT_EXTRA
                                              else []) for r in ROWS])
def test_bad_input(row: Row, paths: dict[str, str], tmp_path: Path) -> None:
    before = _snapshot(tmp_path)
    r = CliRunner().invoke(app, [a.format(**paths) for a in row.args])
    assert r.exit_code == row.code, (r.exit_code, r.stderr, r.stdout)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith(("note:", "warning:"))]
    assert len(lines) == 1 and lines[0].startswith("edgebench: error:"), r.stderr
    assert row.message in lines[0], lines[0]
    assert "Traceback" not in r.stderr + r.stdout
    assert _snapshot(tmp_path) == before, "a refused command wrote or left something"
    assert not Path(paths["tmp"], "pwned").exists()


def test_table_matches_the_doc() -> None:
    doc = (REPO / "docs" / "errors.md").read_text(encoding="utf-8")
    ids = re.findall(r"^\| `([a-z0-9-]+)` \|", doc, flags=re.M)
    assert ids == [r.id for r in ROWS]
