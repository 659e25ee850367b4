"""The torch runtimes load the checkpoint a manifest names only from the model folder and only with its recorded
sha256 (issue #23); no torch needed: `find_weights_file` only finds and checks the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from edgebench.errors import BadCheckpoint, UserInputError
from edgebench.exporter.rebuild import find_weights_file
from edgebench.manifest import Manifest, WeightsRecord, sha256_file


def _manifest(weights: WeightsRecord | None = None, **extra: str) -> Manifest:
    return Manifest(name="m", arch="resnet20", weights=weights, extra=extra)


def test_the_checkpoint_in_the_folder_with_its_hash_is_used(tmp_path: Path) -> None:
    (tmp_path / "w.pt").write_bytes(b"weights")
    m = _manifest(WeightsRecord(source="user", file="w.pt", sha256=sha256_file(tmp_path / "w.pt")))
    assert find_weights_file(m, tmp_path) == tmp_path / "w.pt"


def test_a_changed_checkpoint_is_refused(tmp_path: Path) -> None:
    (tmp_path / "w.pt").write_bytes(b"other weights")
    m = _manifest(WeightsRecord(source="user", file="w.pt", sha256="0" * 64))
    with pytest.raises(BadCheckpoint, match="changed after export"):
        find_weights_file(m, tmp_path)


def test_a_checkpoint_outside_the_folder_is_never_recorded(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.pt").write_bytes(b"weights")
    with pytest.raises(UserInputError, match=r"field 'weights_file' is \"\.\./elsewhere\.pt\"; allowed: a relative"):
        _manifest(weights_file="../elsewhere.pt")  # an extra key (older manifests)
    with pytest.raises(UserInputError, match=r"field 'weights\.file' is .*; allowed: a relative path"):
        WeightsRecord("user", str(tmp_path / "elsewhere.pt"))


def test_a_missing_checkpoint_is_not_looked_for_in_the_working_directory(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "w.pt").write_bytes(b"weights")
    monkeypatch.chdir(tmp_path)  # the old lookup tried Path("w.pt") first: any file of that name here
    folder = tmp_path / "model"
    folder.mkdir()
    with pytest.raises(BadCheckpoint, match="cannot find the weights"):
        find_weights_file(_manifest(WeightsRecord(source="user", file="w.pt", sha256="ab" * 32)).replace(
            weights_sha256="ab" * 32), folder)
