"""Sweeps on remote devices: a real OpenSSH server on loopback (edgebench.tools.sshd), our wheel set up there.

One device answers ('dev'), one does not ('gone'): dev's results land in results/dev/ keyed by its probed
fingerprint, gone's cells fail with the reason, local goes on; the second run answers from the cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgebench.cli import app
from edgebench.devices.registry import Device, DeviceRegistry
from edgebench.tools.sshd import Sshd, free_port
from typer.testing import CliRunner

from tests.conftest import Installed
from tests.sweep.tiny_sweep import sweep_text

pytestmark = pytest.mark.slow


def test_sweep_on_a_remote_device_and_one_that_is_down(installed: Installed, sshd: Sshd,
                                                       tiny: Path) -> None:
    devices = tiny / "devices.toml"
    devices.write_text(installed.devices.read_text())
    DeviceRegistry(devices).add(Device("gone", f"ssh://127.0.0.1:{free_port()}", ssh_config=str(sshd.ssh_config)))
    text = sweep_text(tiny, models=[str(tiny / "tiny")], threads="[1]")
    text = text.replace("threads = [1]", 'threads = [1]\ndevices = ["local", "dev", "gone"]')
    (tiny / "s.toml").write_text(text)
    out = tiny / "out"
    r = CliRunner().invoke(app, ["sweep", str(tiny / "s.toml"), "-o", str(out), "--devices-config", str(devices)])
    assert r.exit_code == 1, r.output  # gone's cells failed
    s = json.loads((out / "summary.json").read_text())
    benches = [n for n in s["nodes"] if n["stage"] == "bench"]
    by_dev = {d: [n for n in benches if n["settings"]["device"] == d] for d in ("local", "dev", "gone")}
    assert all(n["status"] == "done" for n in by_dev["local"] + by_dev["dev"]), r.output
    assert all(n["status"] == "failed" and "unreachable" in n["error"] for n in by_dev["gone"])
    assert len(by_dev["dev"]) == 2  # fp32 and INT8 (the ORT INT8 model and its manifest travel)
    dev_results = [json.loads(p.read_text()) for p in (out / "results" / "dev").glob("*.json")]
    local_results = [json.loads(p.read_text()) for p in (out / "results" / "local").glob("*.json")]
    assert len(dev_results) == 2 and len(local_results) == 2 and not (out / "results" / "gone").exists()
    probed = by_dev["dev"][0]["settings"]["machine_id"]
    assert probed and all(r["machine"]["id"] == probed for r in dev_results)
    assert all(r["sweep"]["device"] == "dev" and r["accuracy"]["n"] == 48 for r in dev_results)
    assert {r["model"]["sha256"] for r in dev_results} == {r["model"]["sha256"] for r in local_results}
    assert "device gone: its cells will fail" in r.output

    # second run: dev's cells answer from the cache (same probed fingerprint); gone is retried and fails again
    r = CliRunner().invoke(app, ["sweep", str(tiny / "s.toml"), "-o", str(out), "--devices-config", str(devices)])
    s2 = json.loads((out / "summary.json").read_text())
    st = {(n["settings"].get("device"), n["status"]) for n in s2["nodes"] if n["stage"] == "bench"}
    assert st == {("local", "cached"), ("dev", "cached"), ("gone", "failed")}, r.output
    assert len(list((out / "results" / "dev").glob("*.json"))) == 2

