"""The device check's probe runs the fingerprint on a board without edgebench (core/cpu.py shipped with it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_the_probe_fingerprints_without_edgebench_installed(tmp_path: Path) -> None:
    from edgebench.cpu import cpu_info
    from edgebench.devices.remote import probe_source

    bare = [sys.executable, "-S", "-I"]  # no site-packages: neither edgebench nor numpy importable
    assert subprocess.run([*bare, "-c", "import edgebench"], capture_output=True).returncode != 0
    out = subprocess.run([*bare, "-", str(tmp_path / "w")], input=probe_source(), capture_output=True, text=True,
                         check=True).stdout
    info = json.loads(out)
    assert "fingerprint_error" not in info, info.get("fingerprint_error")
    here, there = cpu_info(), info["fingerprint"]["cpu"]
    assert {k: there[k] for k in ("arch", "model", "logical_cores", "isa")} == {
        k: here[k] for k in ("arch", "model", "logical_cores", "isa")}  # cur_freq_mhz may move between reads
