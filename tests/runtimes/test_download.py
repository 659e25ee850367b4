from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from edgebench.download import download_verified, file_digest
from edgebench.errors import CalibrationError, UserInputError


def test_verified_download_keeps_the_file(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"published bytes")
    digest = hashlib.sha256(b"published bytes").hexdigest()
    got = download_verified(src.as_uri(), tmp_path / "cache" / "f.bin", digest)
    assert got.read_bytes() == b"published bytes" and file_digest(got) == digest
    assert [p.name for p in got.parent.iterdir()] == ["f.bin"]


def test_wrong_checksum_leaves_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"tampered")
    with pytest.raises(CalibrationError, match="not the published"):
        download_verified(src.as_uri(), tmp_path / "cache" / "f.bin", "0" * 32, algo="md5", error=CalibrationError)
    assert list((tmp_path / "cache").iterdir()) == []


def test_unreachable_url_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"cannot download data.*pass --data-dir"):
        download_verified((tmp_path / "missing").as_uri(), tmp_path / "c" / "f", "0", what="data",
                          hint="pass --data-dir")


def test_cifar10_download_refuses_a_wrong_archive(tmp_path: Path) -> None:
    from edgebench.calibration.datasets import CIFAR10_ARCHIVE, download_cifar10

    fake = tmp_path / "fake.tar.gz"
    fake.write_bytes(b"not the archive")
    with pytest.raises(CalibrationError, match="CIFAR-10 has md5"):
        download_cifar10(tmp_path / "cache", url=fake.as_uri())
    assert not (tmp_path / "cache" / CIFAR10_ARCHIVE).exists()
