"""report.html opens in headless Chromium (Debian's `chromium`) and the screenshot shows the plots."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from edgebench.cli import app
from typer.testing import CliRunner

from tests.bench.result_factory import two_devices, write

pytest.importorskip("matplotlib")
pytest.importorskip("jinja2")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(html: Path, png: Path, profile: Path, size: str = "1400,4000") -> None:
    """Headless Chromium, no network services, a throw-away profile; writes `png`."""
    cmd = [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={size}", html.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert png.is_file(), f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"


def _near(img: np.ndarray, rgb: tuple[int, int, int], tol: int = 12) -> int:
    return int((np.abs(img.astype(int) - np.array(rgb)).max(axis=2) <= tol).sum())


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium; .ci/run does)")
def test_report_html_renders_in_chromium(tmp_path: Path) -> None:
    write(tmp_path / "res", two_devices())
    out = tmp_path / "rep"
    r = CliRunner().invoke(app, ["compare", str(tmp_path / "res"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    png = tmp_path / "shot.png"
    screenshot(out / "report.html", png, tmp_path / "chromium-profile")
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB"))
    assert img.shape[0] >= 2000 and img.shape[1] >= 1000
    non_white = (img.min(axis=2) < 240).mean()
    assert non_white > 0.03, f"screenshot is blank ({non_white:.2%} non-white pixels)"
    # the embedded PNGs decoded: the latency plot's blue bars and the baseline's red bar are visible
    assert _near(img, (31, 119, 180)) > 2000
    assert _near(img, (214, 39, 40)) > 500
    # and the header of the tables (CSS applied): the light-blue th background
    assert _near(img, (232, 238, 247), tol=3) > 500
