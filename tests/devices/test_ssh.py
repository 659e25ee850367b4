"""`device check`, the SSH failure modes and the content-addressed push, against a real sshd on loopback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from edgebench.cli import app
from edgebench.devices.push import Bundle, folder_bundle, push
from edgebench.devices.registry import Device, DeviceRegistry
from edgebench.devices.transport import Ssh
from edgebench.errors import DeviceError
from edgebench.tools.sshd import Sshd, free_port
from typer.testing import CliRunner

runner = CliRunner()


def add(devices_file: Path, sshd: Sshd, tmp_path: Path, name: str = "dev", **kw: str) -> Device:
    d = Device(name, kw.pop("url", sshd.url()), python=kw.pop("python", sshd.python),
               workdir=kw.pop("workdir", str(tmp_path / "work")), ssh_config=kw.pop("ssh_config", str(sshd.ssh_config)))
    DeviceRegistry(devices_file).add(d)
    return d


def test_check_prints_cpu_python_disk_and_install_state(sshd: Sshd, devices_file: Path, tmp_path: Path) -> None:
    from edgebench.bench.fingerprint import fingerprint

    add(devices_file, sshd, tmp_path)
    r = runner.invoke(app, ["device", "check", "dev"])
    assert r.exit_code == 0, r.output
    fp = fingerprint()
    assert fp["cpu"]["arch"] in r.output and fp["cpu"]["model"] in r.output
    on = [k for k, v in fp["cpu"]["isa"].items() if v]
    assert " ".join(on) in r.output  # ISA flags from the remote fingerprint
    assert "python     3.1" in r.output and "GB in" in r.output
    assert "not installed" in r.output and "edgebench device setup dev" in r.output
    assert "pip download --only-binary=:all:" in r.output


def test_unknown_host_key_is_refused_with_the_accept_command(sshd: Sshd, devices_file: Path, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    cfg = tmp_path / "ssh_config"
    cfg.write_text(sshd.ssh_config.read_text().replace(str(sshd.known_hosts), str(empty)))
    add(devices_file, sshd, tmp_path, ssh_config=str(cfg))
    r = runner.invoke(app, ["device", "check", "dev"])
    assert r.exit_code == 2, r.output
    assert "not in known_hosts" in r.output and f"ssh -F {cfg} -- dev true" in r.output
    assert r.output.count("\n") == 1 and "Traceback" not in r.output
    assert empty.read_text() == ""  # never trusted silently


def test_changed_host_key_is_refused(sshd: Sshd, devices_file: Path, tmp_path: Path) -> None:
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    pub = (tmp_path / "other.pub").read_text().split()
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {pub[0]} {pub[1]}\n")
    cfg = tmp_path / "ssh_config"
    cfg.write_text(sshd.ssh_config.read_text().replace(str(sshd.known_hosts), str(known)))
    add(devices_file, sshd, tmp_path, ssh_config=str(cfg))
    r = runner.invoke(app, ["device", "check", "dev"])
    assert r.exit_code == 2 and "CHANGED" in r.output and "ssh-keygen -R" in r.output, r.output


def test_wrong_key_is_an_authentication_failure(sshd: Sshd, devices_file: Path, tmp_path: Path) -> None:
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "stranger")], check=True)
    cfg = tmp_path / "ssh_config"
    cfg.write_text(sshd.ssh_config.read_text().replace(str(sshd.user_key), str(tmp_path / "stranger")))
    add(devices_file, sshd, tmp_path, ssh_config=str(cfg))
    r = runner.invoke(app, ["device", "check", "dev"])
    assert r.exit_code == 2 and "authentication failed" in r.output and "ssh-copy-id" in r.output, r.output
    assert r.output.count("\n") == 1


def test_unreachable_port_fails_within_the_timeout(sshd: Sshd, devices_file: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEBENCH_SSH_TIMEOUT", "3")
    add(devices_file, sshd, tmp_path, url=f"ssh://127.0.0.1:{free_port()}")
    t0 = time.perf_counter()
    r = runner.invoke(app, ["device", "check", "dev"])
    assert time.perf_counter() - t0 < 3 + 5
    assert r.exit_code == 2 and "unreachable" in r.output and "Connection refused" in r.output, r.output


def test_missing_python_names_the_fix(sshd: Sshd, devices_file: Path, tmp_path: Path) -> None:
    add(devices_file, sshd, tmp_path, python="python3.99")
    r = runner.invoke(app, ["device", "check", "dev"])
    assert r.exit_code == 2 and "no 'python3.99' there" in r.output and "--python" in r.output, r.output


def test_push_is_content_addressed(sshd: Sshd, tmp_path: Path, tiny_onnx: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.fp32.onnx").write_bytes(tiny_onnx.read_bytes())
    (folder / "notes.txt").write_text("a")
    (folder / "sub").mkdir()
    (folder / "sub" / "copy.onnx").write_bytes(tiny_onnx.read_bytes())  # same content: one blob
    work = tmp_path / "work"
    ssh = Ssh(Device("dev", sshd.url(), workdir=str(work), ssh_config=str(sshd.ssh_config)))
    first = push(ssh, folder_bundle(folder))
    assert (first.files, first.sent_files) == (3, 2)
    assert first.sent_bytes == tiny_onnx.stat().st_size + 1
    second = push(ssh, folder_bundle(folder))
    assert (second.sent_files, second.sent_bytes) == (0, 0) and second.remote_dir == first.remote_dir
    (folder / "notes.txt").write_text("bb")
    third = push(ssh, folder_bundle(folder))
    assert (third.sent_files, third.sent_bytes) == (1, 2) and third.remote_dir != first.remote_dir
    there = work / "models" / third.remote_dir.rsplit("/", 1)[1]
    assert (there / "sub" / "copy.onnx").read_bytes() == tiny_onnx.read_bytes()
    assert (there / "notes.txt").read_text() == "bb" and (there / ".complete").exists()
    assert len(list((work / "store").iterdir())) == 3


def test_push_refuses_when_the_disk_is_too_small(sshd: Sshd, tmp_path: Path, tiny_onnx: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from edgebench.devices import push as push_mod

    work = tmp_path / "work"
    monkeypatch.setattr(push_mod, "MARGIN_BYTES", shutil.disk_usage(tmp_path).free + 2**30)  # more than is free
    ssh = Ssh(Device("dev", sshd.url(), workdir=str(work), ssh_config=str(sshd.ssh_config)))
    with pytest.raises(DeviceError, match=r"MB free in .* the push needs"):
        push(ssh, Bundle((("m.onnx", tiny_onnx),)))
    assert not list((work / "models").iterdir())


def _fake_python(path: Path, probe: str) -> Path:
    """A 'Python 3.9.2' on the device: `--version` answers; the probe (a script on stdin) gets `probe`."""
    path.write_text("#!/bin/sh\n"
                    "case \"$1\" in --version|-V) echo 'Python 3.9.2'; exit 0;; esac\n"
                    f"cat >/dev/null\n{probe}\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("probe", [
    # an interpreter that cannot run the probe at all: its --version names it
    "echo '  File \"<stdin>\", line 3' >&2; echo 'SyntaxError: invalid syntax' >&2; exit 1",
    # one that runs it and reports its version (what the probe's early exit prints on a real 3.9)
    "echo '{\"python\": \"3.9.2\", \"python_ok\": false, \"machine\": \"x86_64\", \"executable\": \"'$0'\", "
    "\"workdir\": \"/w\", \"free_bytes\": 2000000000, \"fingerprint_error\": \"too old\"}'",
], ids=["probe-fails", "probe-reports"])
def test_python_older_than_3_11_is_one_line(sshd: Sshd, devices_file: Path, tmp_path: Path, probe: str) -> None:
    old = _fake_python(tmp_path / "python3.9", probe)
    add(devices_file, sshd, tmp_path, python=str(old))
    r = runner.invoke(app, ["device", "setup", "dev", "--wheelhouse", str(tmp_path)])
    assert r.exit_code == 2, r.output
    assert r.output.count("\n") == 1 and "Traceback" not in r.output, r.output
    assert f"{old} is Python 3.9.2; edgebench needs >= 3.11" in r.output and "--python" in r.output, r.output
    assert not (tmp_path / "work" / "venv").exists()
    r = runner.invoke(app, ["device", "check", "dev"])
    assert r.exit_code == 2 and "is Python 3.9.2; edgebench needs >= 3.11" in r.output.splitlines()[-1], r.output


def test_the_probe_reports_an_old_python_before_anything_newer(tmp_path: Path) -> None:
    """The probe's early exit for an old Python: run here with sys.version_info faked (a 3.9 is not installed)."""
    import json
    import subprocess
    import sys

    from edgebench.devices.remote import probe_source

    src = "import sys\nsys.version_info = (3, 9, 2)\n" + probe_source()
    out = subprocess.run([sys.executable, "-", str(tmp_path / "w")], input=src, capture_output=True, text=True,
                         check=True).stdout
    info = json.loads(out)
    assert info["python_ok"] is False and "fingerprint" not in info and info["free_bytes"] > 0
    assert "installed" not in info  # nothing past the version check ran
