"""The host-side checks of `make arm-check` (edgebench.tools.armcheck), on fake inputs: they must catch a wrong run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
BOARDS = REPO / "tests" / "data" / "boards"


@pytest.fixture(scope="module")
def ac() -> Any:
    from edgebench.tools import armcheck

    return armcheck


DEB822 = """Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_mirror_from_deb822_sources(ac: Any) -> None:
    entries = ac.parse_sources({"debian.sources": DEB822}, "bookworm")
    assert ac.pick_mirror(entries, "bookworm") == "http://mirror.example/debian"


def test_mirror_from_one_line_sources_and_fallback(ac: Any) -> None:
    text = ("deb http://sec.example/debian-security trixie-security main\n"
            "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian trixie main  # comment\n")
    entries = ac.parse_sources({"sources.list": text}, "bookworm")
    assert entries[1] == ("http://m.example/debian", ["trixie"])
    assert ac.pick_mirror(entries, "trixie") == "http://m.example/debian"
    assert ac.pick_mirror(entries, "bookworm") == "http://m.example/debian"  # any non-security Debian mirror
    assert ac.pick_mirror(ac.parse_sources({"x.list": "deb http://sec.example/debian-security a main\n"}, "a"),
                          "b") is None


def test_base_requirements_have_no_torch(ac: Any) -> None:
    reqs = ac.base_requirements()
    assert any(r.startswith("onnxruntime") for r in reqs)
    assert not any(r.startswith(("torch", "onnx>", "onnx=")) for r in reqs)


def _pkgs(*names: str) -> list[dict[str, str]]:
    return [{"name": n, "version": "1"} for n in names]


BASE = ("edgebench", "numpy", "onnxruntime", "psutil", "typer", "rich", "Pillow")


def test_pip_list_check(ac: Any) -> None:
    assert ac.check_pip_list(_pkgs(*BASE)) == []
    assert ac.check_pip_list(_pkgs(*BASE, "torch")) == ["'torch' is installed in the device install"]
    assert ac.check_pip_list(_pkgs(*BASE[1:])) == ["edgebench is not installed"]
    assert "base dependency 'psutil' is missing" in ac.check_pip_list(_pkgs(*(b for b in BASE if b != "psutil")))


@pytest.mark.parametrize(("board", "core", "dotprod"), [("pi4", "Cortex-A72", False), ("pi5", "Cortex-A76", True)])
def test_sysinfo_check_accepts_the_board_and_rejects_the_other(ac: Any, monkeypatch: pytest.MonkeyPatch,
                                                               board: str, core: str, dotprod: bool) -> None:
    from edgebench.bench.fingerprint import fingerprint

    monkeypatch.setenv("EDGEBENCH_EMULATED", "1")
    fp = json.loads(json.dumps(fingerprint(BOARDS / board, machine="aarch64")))
    fp["packages"]["torch"] = None
    assert ac.check_sysinfo(fp, board) == []
    other = "pi5" if board == "pi4" else "pi4"
    problems = ac.check_sysinfo(fp, other)
    assert any("arm_core" in p for p in problems) and any("asimddp" in p for p in problems)
    monkeypatch.delenv("EDGEBENCH_EMULATED")
    fp2 = fingerprint(BOARDS / board, machine="aarch64")
    fp2["packages"]["torch"] = "2.9.1"
    problems = ac.check_sysinfo(fp2, board)
    assert any("emulated" in p for p in problems) and any("torch" in p for p in problems)


def test_x86_fingerprint_is_rejected(ac: Any) -> None:
    from edgebench.bench.fingerprint import fingerprint

    problems = ac.check_sysinfo(fingerprint(), "pi4")
    assert any("cpu.arch" in p for p in problems)


@pytest.mark.parametrize(("board", "preset"), [("pi4", "arm64-neon"), ("pi5", "arm64-dotprod")])
def test_board_trees_choose_the_expected_auto_preset(ac: Any, board: str, preset: str) -> None:
    from edgebench.bench.fingerprint import fingerprint
    from edgebench.calibration.recipes import resolve_preset

    assert ac.EXPECT[board]["preset"] == preset
    assert resolve_preset("auto", cpu=fingerprint(BOARDS / board, machine="aarch64")["cpu"]).preset == preset


def test_agreement(ac: Any) -> None:
    assert ac.agreement([1, 2, 3], [1, 2, 3]) == (0, 3)
    assert ac.agreement([1, 2, 3], [1, 0, 3]) == (1, 3)
    with pytest.raises(ac.CheckFailed):
        ac.agreement([1, 2], [1, 2, 3])


def _logits(n: int = 20, seed: int = 0) -> Any:
    import numpy as np

    return np.random.default_rng(seed).standard_normal((n, 10)).astype(np.float32) * 5


def test_compare_outputs_fp32_is_strict(ac: Any) -> None:
    import numpy as np

    h = _logits()
    same = ac.compare_outputs({"logits": h}, {"logits": h.copy()}, "fp32")
    assert same["bit_identical"] and same["problems"] == [] and same["n"] == 20
    near = ac.compare_outputs({"logits": h}, {"logits": h + np.float32(1e-6)}, "fp32")
    assert not near["bit_identical"] and near["problems"] == [] and near["max_abs_diff"] < 1e-5
    far = ac.compare_outputs({"logits": h}, {"logits": h + np.float32(0.01)}, "fp32")
    assert any("differs from the host's" in p for p in far["problems"])


def test_compare_outputs_int8_allows_small_differences_but_few_flips(ac: Any) -> None:
    import numpy as np

    h = _logits(100)
    small = ac.compare_outputs({"logits": h}, {"logits": h + np.float32(0.05)}, "int8")
    assert small["problems"] == [] and small["top1_flips"] == 0
    flipped = h.copy()
    rows = np.arange(5)
    flipped[rows, (h[rows].argmax(1) + 1) % 10] = h[rows].max(1) + 1  # 5 % of the images change class
    bad = ac.compare_outputs({"logits": h}, {"logits": flipped}, "int8")
    assert bad["top1_flips"] == 5 and any("top-1 classes differ" in p for p in bad["problems"])


def test_compare_outputs_shape_and_name_mismatch(ac: Any) -> None:
    h = _logits()
    assert ac.compare_outputs({"logits": h}, {"logits": h[:5]}, "fp32")["problems"]
    assert ac.compare_outputs({"logits": h}, {"out": h}, "fp32")["problems"]


def test_check_results_on_a_real_result(ac: Any, tiny_onnx: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A result written by `edgebench bench` on the Pi 4 tree with --cooldown passes; tampered ones do not."""
    import edgebench.bench.fingerprint as fpmod
    from edgebench.cli import app
    from typer.testing import CliRunner

    real_fp, real_state = fpmod.fingerprint, fpmod.dynamic_state
    monkeypatch.setenv("EDGEBENCH_EMULATED", "1")
    monkeypatch.setattr(fpmod, "fingerprint", lambda root=None, machine=None: real_fp(BOARDS / "pi4", "aarch64"))
    monkeypatch.setattr(fpmod, "dynamic_state", lambda root=None: real_state(BOARDS / "pi4"))
    out = tmp_path / "res"
    r = CliRunner().invoke(app, ["bench", str(tiny_onnx), "--in-process", "--min-iters", "3", "--min-seconds", "0",
                                 "--warmup-iters", "1", "--threads", "1", "--cooldown", "70", "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    path = next(out.glob("*.json"))
    res = json.loads(path.read_text())
    assert ac.check_results([res], [path], "pi4") == []
    assert any("arm_core" in p or "machine.cpu" in p for p in ac.check_results([res], [path], "pi5"))
    no_flag = json.loads(json.dumps(res))
    no_flag["warnings"] = []
    assert any("not flagged as emulated" in p for p in ac.check_results([no_flag], [path], "pi4"))
    broken = json.loads(json.dumps(res))
    del broken["latency"]["p50_ms"]
    assert any("p50_ms" in p for p in ac.check_results([broken], [path], "pi4"))
