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


def test_ctrl_c_during_a_download_leaves_no_part_file(tmp_path: Path) -> None:
    """A real HTTP server that stalls after the first bytes; SIGALRM raises KeyboardInterrupt as Ctrl-C does."""
    import http.server
    import signal
    import threading
    import time

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 20))
            self.end_headers()
            self.wfile.write(b"x" * 65536)
            self.wfile.flush()
            time.sleep(3)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def ctrl_c(*_: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, ctrl_c)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            download_verified(f"http://127.0.0.1:{server.server_address[1]}/f", tmp_path / "c" / "f.bin", "0" * 64)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        server.shutdown()
    assert list((tmp_path / "c").iterdir()) == []
