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


# ---- INT8: the device is checked against the QDQ reference, not against this host's integer kernels ----------

def _saturated(ref: Any, by: float = 10.0) -> Any:
    """What Zen3's kernels do to the pi4 model: some logits off by ~10 (int16 pair sums saturating), a flip or two."""
    h = ref.copy()
    h[:3, 0] -= by
    h[3, (ref[3].argmax() + 1) % 10] = ref[3].max() + 1
    return h


def test_int8_device_matching_the_reference_passes_although_the_host_kernels_saturate(ac: Any) -> None:
    import numpy as np
    from edgebench.calibration.recipes import ArithmeticChoice

    ref = _logits(100) * 7  # logits spanning ~±35, as ResNet-20's
    host = _saturated(ref)
    dev = ref + np.float32(0.3)  # the device's kernels round differently from the unfused graph: small differences
    zen3 = ArithmeticChoice(False, "x86_64 has no VNNI: VPMADDUBSW saturates")
    out = ac.compare_model_outputs({"logits": host}, {"logits": dev}, "int8", {"logits": ref}, zen3)
    assert out["problems"] == [] and out["reference"] == "qdq"
    assert out["max_abs_diff_vs_reference"] == pytest.approx(0.3, abs=1e-5)
    assert out["max_abs_diff_vs_host_kernels"] >= 10 and out["top1_flips_vs_host_kernels"] >= 1
    assert out["host_kernels_vs_reference_max_abs_diff"] >= 10 and out["host_kernels_saturate"] is True
    assert any("differs from the QDQ reference's" in x for x in out["info"])
    assert out["host_arithmetic"] == {"exact": False, "reason": zen3.reason}
    # a Zen4 (VNNI) host: its kernels match the reference, nothing saturates
    zen4 = ArithmeticChoice(True, "avx512_vnni")
    ok = ac.compare_model_outputs({"logits": ref + np.float32(0.2)}, {"logits": dev}, "int8", {"logits": ref}, zen4)
    assert ok["problems"] == [] and ok["host_kernels_saturate"] is False and ok["info"] == []
    # host kernels within tolerance but the CPU is known to saturate (e.g. an S8S8 model on Zen3): still flagged
    assert ac.compare_model_outputs({"logits": ref}, {"logits": dev}, "int8", {"logits": ref},
                                    zen3)["host_kernels_saturate"] is True


def test_int8_device_differing_from_the_reference_fails(ac: Any) -> None:
    import numpy as np

    ref = _logits(100) * 7
    host = _saturated(ref)
    # the device saturating like the host (what the old check would have called "identical"): fails
    out = ac.compare_model_outputs({"logits": host}, {"logits": host.copy()}, "int8", {"logits": ref})
    assert any("differs from the QDQ reference's" in p for p in out["problems"])
    assert out["max_abs_diff_vs_host_kernels"] == 0.0
    # small differences but 5 % of the images change class: fails too
    flipped = ref.copy()
    rows = np.arange(5)
    flipped[rows, (ref[rows].argmax(1) + 1) % 10] = ref[rows].max(1) + 0.5
    out = ac.compare_model_outputs({"logits": ref}, {"logits": flipped}, "int8", {"logits": ref})
    assert [p for p in out["problems"] if "top-1 classes differ from the QDQ reference's" in p]
    # FP32 keeps the strict comparison against the host
    fp32 = ac.compare_model_outputs({"logits": ref}, {"logits": ref + 0.1}, "fp32")
    assert fp32["reference"] == "host" and any("differs from the host's" in p for p in fp32["problems"])


def _fake_device(ac: Any, work: Path, board: str, outputs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """What scripts/arm_device.sh would write for `board`, with `outputs` (key -> arrays) as the device's outputs."""
    import numpy as np
    from edgebench.bench.fingerprint import fingerprint

    bdir = work / "out" / board
    for d in ("results", "eval", "outputs"):
        (bdir / d).mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("EDGEBENCH_EMULATED", "1")
    fp = json.loads(json.dumps(fingerprint(BOARDS / board, machine="aarch64")))
    fp["packages"]["torch"] = None
    (bdir / "sysinfo.json").write_text(json.dumps(fp))
    for key, arrays in outputs.items():
        np.savez(bdir / "outputs" / f"{key}.npz", **arrays)
    for f in (work / "host").glob("*.eval.json"):  # the device's own eval: the host's figures, its own kernels
        e = json.loads(f.read_text())
        (bdir / "eval" / f.name.replace(".eval.json", ".json")).write_text(json.dumps({**e, "arithmetic":
                                                                                        "host-kernels"}))
    (bdir / "preset.txt").write_text(ac.EXPECT[board]["preset"] + "\n")


@pytest.mark.data
@pytest.mark.slow
def test_prepare_and_verify_with_an_arm64_neon_model(ac: Any, tmp_path: Path, shared_data: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`prepare` on a real U8S8 (arm64-neon) model writes the QDQ reference and a qdq host eval; `verify` passes a
    device matching the reference even where the host's kernels saturate (a fake Zen3 host), fails one that does not."""
    import numpy as np
    from edgebench.atomic import write_json
    from edgebench.calibration.datasets import Dataset
    from edgebench.calibration.quantize import quantize_static_model
    from edgebench.calibration.recipes import host_arithmetic, resolve_preset
    from edgebench.manifest import InputInfo, new_manifest
    from edgebench.tools.synthetic import conv_net

    pytest.importorskip("onnx")
    src = tmp_path / "src" / "neon"
    conv_net(src / "model.fp32.onnx", size=32, channels=16, n_convs=3)
    write_json(src / "model.fp32.json", new_manifest(name="neon", precision="fp32",
                                                     input=InputInfo("input", ("batch", 3, 32, 32)).to_dict()))
    train = np.load(shared_data / "cifar10" / "train_first4000.npz")
    quantize_static_model(src / "model.fp32.onnx", Dataset(train["images"][:64], train["labels"][:64], "c"),
                          resolve_preset("arm64-neon"))
    monkeypatch.setattr(ac, "REPO", tmp_path)  # no `make export` artifacts: only the given model folder
    work = tmp_path / "work"
    assert ac.main(["prepare", "--work", str(work), "--model-dirs", str(src), "--no-pruned", "--eval-n", "50",
                    "--outputs-n", "50", "--detector-n", "0"]) == 0
    key = "neon.model.int8"
    assert (work / "reference.txt").read_text().split() == ["models/neon/model.int8.onnx", f"inputs/{key}.npz", key]
    assert not (work / "host" / "reference" / "neon.model.fp32.npz").exists()  # FP32: the host is the reference
    assert json.loads((work / "host" / f"{key}.eval.json").read_text())["arithmetic"] == "qdq-reference"
    assert json.loads((work / "host" / f"{key}.eval-host-kernels.json").read_text())["arithmetic"] == "host-kernels"
    assert json.loads((work / "host" / "neon.model.fp32.eval.json").read_text())["arithmetic"] == "host-kernels"
    plan = (work / "plan.txt").read_text().splitlines()
    assert "preset" in plan and f"eval models/neon/model.int8.onnx 50 {key}" in plan
    (work / "plan.txt").write_text("\n".join(x for x in plan if not x.startswith("bench ")) + "\n")  # no bench here
    host = {k: dict(np.load(work / "host" / "outputs" / f"{k}.npz")) for k in (key, "neon.model.fp32")}
    ref = dict(np.load(work / "host" / "reference" / f"{key}.npz"))

    real_cpu = json.loads((work / "host" / "cpu.json").read_text())
    _fake_device(ac, work, "pi4", {key: ref, "neon.model.fp32": host["neon.model.fp32"]}, monkeypatch)
    out = tmp_path / "out"
    assert ac.main(["verify", "--work", str(work), "--out", str(out), "--boards", "pi4"]) == 0
    o = json.loads((out / "summary.json").read_text())["boards"]["pi4"]["outputs"][key]
    assert o["max_abs_diff_vs_reference"] == 0.0 and o["reference"] == "qdq"
    from edgebench.calibration.recipes import get_preset

    exact = host_arithmetic(get_preset("arm64-neon"), real_cpu).exact
    tol = ac.TOL["int8"]["rel_diff"] * max(1.0, float(np.abs(ref["logits"]).max()))
    assert o["host_kernels_saturate"] is (not exact or o["host_kernels_vs_reference_max_abs_diff"] > tol)
    if exact:  # this host (VNNI or ARM): its kernels match the reference within the INT8 tolerance
        assert o["host_kernels_vs_reference_max_abs_diff"] <= tol and o["host_kernels_saturate"] is False

    # a Zen3 host: its kernels saturate (host outputs far from the reference); the device matching the reference passes
    zen3 = {**real_cpu, "arch": "x86_64", "model": "AMD Ryzen 7 5800X", "isa": {"avx2": True, "avx512_vnni": False}}
    (work / "host" / "cpu.json").write_text(json.dumps(zen3))
    scale = max(1.0, float(np.abs(ref["logits"]).max()))
    np.savez(work / "host" / "outputs" / f"{key}.npz", logits=_saturated(ref["logits"], by=0.5 * scale))
    assert ac.main(["verify", "--work", str(work), "--out", str(out), "--boards", "pi4"]) == 0
    o = json.loads((out / "summary.json").read_text())["boards"]["pi4"]["outputs"][key]
    assert o["host_kernels_saturate"] is True and "VPMADDUBSW" in o["host_arithmetic"]["reason"]
    assert o["max_abs_diff_vs_host_kernels"] >= 0.5 * scale - 1e-3

    # the device saturating like that host: fails against the reference
    _fake_device(ac, work, "pi4", {key: {"logits": _saturated(ref["logits"], by=0.5 * scale)},
                                   "neon.model.fp32": host["neon.model.fp32"]}, monkeypatch)
    assert ac.main(["verify", "--work", str(work), "--out", str(out), "--boards", "pi4"]) == 1
    s = json.loads((out / "summary.json").read_text())
    assert not s["checks_passed"] and any("QDQ reference" in p for p in s["boards"]["pi4"]["problems"])


# ---- the ARM runtimes (openvino, litert, ncnn): the runtimes layer and verify on fake device outputs ----------

def test_parse_runtimes_and_their_pinned_requirements(ac: Any) -> None:
    assert ac.parse_runtimes("openvino, litert,ncnn") == ["openvino", "litert", "ncnn"]
    assert ac.parse_runtimes("") == [] and ac.parse_runtimes("none") == []
    with pytest.raises(ac.CheckFailed, match=r"tflite.*openvino, litert, ncnn"):
        ac.parse_runtimes("openvino,tflite")
    reqs = ac.runtime_requirements(["litert", "ncnn", "openvino"])
    assert [r.split("==")[0] for r in reqs] == ["ai-edge-litert", "ncnn", "openvino"]
    assert all("==" in r for r in reqs)  # pinned: the device gets what the workstation tested


def test_layer_files_are_what_the_base_lacks_and_never_replace_it(ac: Any) -> None:
    def item(name: str, version: str) -> dict[str, Any]:
        return {"metadata": {"name": name, "version": version},
                "download_info": {"url": f"file:///tmp/wheels/{name}-{version}-py3-none-any.whl"}}

    base = _pkgs(*BASE)
    report = {"install": [item("openvino", "2026.4.1"), item("openvino_telemetry", "2025.2.0")]}
    assert ac.layer_files(report, base) == ["/tmp/wheels/openvino-2026.4.1-py3-none-any.whl",
                                            "/tmp/wheels/openvino_telemetry-2025.2.0-py3-none-any.whl"]
    report["install"].append(item("NumPy", "1.26.4"))  # a runtime pinning another numpy would shadow the base one
    with pytest.raises(ac.CheckFailed, match=r"numpy 1 -> 1\.26\.4"):
        ac.layer_files(report, base)


def test_pip_list_check_with_runtimes(ac: Any) -> None:
    assert ac.check_pip_list(_pkgs(*BASE, "openvino", "ai_edge_litert", "ncnn"), ["openvino", "litert", "ncnn"]) == []
    assert ac.check_pip_list(_pkgs(*BASE, "openvino"), ["openvino", "ncnn"]) == ["runtime 'ncnn' (ncnn) is missing"]


RT_ARTIFACTS = {"openvino": ("fp32", "int8"), "litert": ("fp32", "int8"), "ncnn": ("fp32",)}


def _fake_runtime_run(ac: Any, tmp_path: Path, probes: dict[str, str] | None = None,
                      device: dict[str, Any] | None = None) -> tuple[Path, Path, list[dict[str, Any]], dict[str, Any]]:
    """A work folder as `prepare --runtimes openvino,litert,ncnn` and the device would leave it: host outputs per
    artifact, the device's (identical unless `device` gives key -> logits), probes ok unless `probes` says."""
    import numpy as np

    work, bdir = tmp_path / "work", tmp_path / "work" / "out" / "pi4"
    for d in (work / "host" / "outputs", bdir / "outputs", bdir / "runtimes"):
        d.mkdir(parents=True, exist_ok=True)
    planned: dict[str, Any] = {}
    results: list[dict[str, Any]] = []
    host: dict[str, Any] = {}
    times = []
    fp32 = _logits(100) * 7
    for i, (rt, precs) in enumerate(RT_ARTIFACTS.items()):
        arts = {}
        for prec in precs:
            key = f"resnet20.{rt}.{prec}"
            arts[prec] = {"key": key, "artifact": "converted", "convert_s": 1.0}
            host[key] = fp32 if prec == "fp32" else fp32 + np.float32(0.1)
            np.savez(work / "host" / "outputs" / f"{key}.npz", logits=host[key])
            np.savez(bdir / "outputs" / f"{key}.npz", logits=(device or {}).get(key, host[key]))
            results.append({"runtime": {"name": rt}, "model": {"precision": prec},
                            "latency": {"p50_ms": 10.0 + i}, "memory": {"peak_rss_mb": 100.0}})
            times.append(f"bench models/resnet20 {rt} {prec} 20.0")
        planned[rt] = {"host": "ok", "module": ac.ARM_RUNTIMES[rt]["module"], "artifacts": arts}
        status = (probes or {}).get(rt, "ok 1.5")
        (bdir / "runtimes" / f"{rt}.probe").write_text(status + "\n")
        times += [f"probe {rt} {ac.ARM_RUNTIMES[rt]['module']} - 1.5", f"outputs outputs-{rt}.txt {rt} - 40.0"]
    (work / "runtimes.json").write_text(json.dumps(planned))
    (bdir / "runtimes.txt").write_text("".join(f"{rt:12} available (1.0)\n" for rt in RT_ARTIFACTS))
    (bdir / "times.txt").write_text("\n".join(times) + "\n")
    return work, bdir, results, host


def test_verify_runtimes_passes_when_the_device_matches_the_host(ac: Any, tmp_path: Path) -> None:
    import numpy as np

    host = _logits(100) * 7
    work, bdir, results, _ = _fake_runtime_run(ac, tmp_path, device={"resnet20.ncnn.fp32": host + np.float32(1e-5)})
    section, problems = ac.verify_runtimes(work, bdir, results)
    assert problems == []
    assert set(section) == set(RT_ARTIFACTS) and all(r["status"] == "ok" for r in section.values())
    lit = section["litert"]
    assert lit["import_s"] == 1.5 and lit["artifacts"]["int8"]["p50_ms_emulated"] == 11.0
    assert lit["artifacts"]["int8"]["outputs"]["bit_identical"] and lit["artifacts"]["fp32"]["bench_s"] == 20.0
    assert lit["device_s"] == 20.0 * 2 + 1.5 + 40.0 and lit["outputs_s"] == 40.0
    ncnn = section["ncnn"]["artifacts"]["fp32"]["outputs"]
    assert not ncnn["bit_identical"] and ncnn["max_abs_diff"] < 1e-4 and ncnn["reference"] == "host ncnn"


def test_verify_runtimes_fails_on_a_mismatch(ac: Any, tmp_path: Path) -> None:
    import numpy as np

    host = _logits(100) * 7
    flipped = host + np.float32(0.1)
    rows = np.arange(5)
    flipped[rows, (host[rows].argmax(1) + 1) % 10] = host[rows].max(1) + 1  # 5 % of the classes change
    work, bdir, results, _ = _fake_runtime_run(ac, tmp_path, device={"resnet20.litert.fp32": host + np.float32(0.1),
                                                                     "resnet20.litert.int8": flipped})
    _, problems = ac.verify_runtimes(work, bdir, results)
    assert any(p.startswith("litert fp32: output 'logits' differs from the host's litert") for p in problems)
    assert any(p.startswith("litert int8: 5 of 100 top-1 classes differ") for p in problems)
    assert not [p for p in problems if not p.startswith("litert")]
    # a missing bench result, a runtime the device does not list as available, missing outputs: failures too
    (bdir / "runtimes.txt").write_text("ncnn         not installed: pip install 'edgebench[runtimes]'\n")
    (bdir / "outputs" / "resnet20.openvino.fp32.npz").unlink()
    _, problems = ac.verify_runtimes(work, bdir, [r for r in results if r["runtime"]["name"] != "ncnn"])
    assert any("ncnn fp32: 0 bench results" in p for p in problems)
    assert any("ncnn: `edgebench runtimes` on the device says" in p for p in problems)
    assert any("openvino fp32: the device wrote no outputs" in p for p in problems)


def test_verify_runtimes_records_a_runtime_not_runnable_under_emulation(ac: Any, tmp_path: Path) -> None:
    why = "import openvino failed: qemu: uncaught target signal 4 (Illegal instruction) - core dumped"
    work, bdir, results, _ = _fake_runtime_run(ac, tmp_path, probes={"openvino": f"fail 2.0\n{why}"})
    for f in (bdir / "outputs").glob("resnet20.openvino.*"):  # the device skipped its lines
        f.unlink()
    section, problems = ac.verify_runtimes(work, bdir, [r for r in results if r["runtime"]["name"] != "openvino"])
    assert problems == []
    assert section["openvino"]["status"] == f"not runnable under emulation: {why}"
    assert "artifacts" not in section["openvino"] and section["litert"]["status"] == "ok"
    # no probe at all is not "not runnable": the device script did not run the plan
    (bdir / "runtimes" / "ncnn.probe").unlink()
    _, problems = ac.verify_runtimes(work, bdir, results)
    assert problems == ["ncnn: the device did not probe it (no runtimes/ncnn.probe)"]


def test_verify_runtimes_openvino_int8_is_held_to_the_convert_bar_against_fp32(ac: Any, tmp_path: Path) -> None:
    """OpenVINO INT8 computes differently on ARM (f32 convolutions, FakeQuantize decomposed) than on x86 (u8): the
    device is held to `edgebench convert`'s INT8 bar (less its sampling error on 100 images) against the host's FP32;
    the host's INT8 is information."""
    import numpy as np

    fp32 = _logits(100) * 7
    arm = fp32.copy()
    rows = np.arange(4)  # 4 % of the classes change: as measured on the emulated Pi 4
    arm[rows, (fp32[rows].argmax(1) + 1) % 10] = fp32[rows].max(1) + 2
    work, bdir, results, _ = _fake_runtime_run(ac, tmp_path, device={"resnet20.openvino.int8": arm})
    section, problems = ac.verify_runtimes(work, bdir, results)
    a = section["openvino"]["artifacts"]["int8"]
    assert problems == [] and a["vs_host_fp32"]["top1_agreement"] == 0.96 and a["vs_host_fp32"]["bar"] == 0.9064
    assert a["vs_host_fp32"]["convert_bar"] == 0.95
    assert a["outputs"]["reference"] == "information" and any("top-1 classes differ" in x for x in a["information"])
    rows = np.arange(10)  # 10 %: below the bar
    arm[rows, (fp32[rows].argmax(1) + 1) % 10] = fp32[rows].max(1) + 2
    np.savez(bdir / "outputs" / "resnet20.openvino.int8.npz", logits=arm)
    _, problems = ac.verify_runtimes(work, bdir, results)
    assert problems == ["openvino int8: top-1 agreement with the host's FP32 90.0% < 90.6% on 100 images "
                        "(`edgebench convert`'s INT8 bar 95% less 2 standard errors)"]
    # litert INT8 (XNNPACK on both) stays strict against the host's INT8
    assert "vs_host_fp32" not in section["litert"]["artifacts"]["int8"]


def test_arm_outputs_runs_a_runtime_artifact_from_its_listing(tmp_path: Path) -> None:
    """tools/arm_outputs.py: `MODEL INPUTS KEY RUNTIME PRECISION` lines run that runtime's artifact of the folder
    (here OpenVINO FP32: the ONNX file itself), 3-field lines ONNX Runtime; the two agree as FP32 must."""
    import subprocess
    import sys

    import numpy as np
    from edgebench.atomic import write_json
    from edgebench.manifest import InputInfo, new_manifest
    from edgebench.tools.synthetic import conv_net

    pytest.importorskip("onnx")
    pytest.importorskip("openvino")
    folder = tmp_path / "m"
    conv_net(folder / "model.fp32.onnx", size=16, channels=8, n_convs=2)
    write_json(folder / "model.fp32.json", new_manifest(name="m", precision="fp32",
                                                        input=InputInfo("input", ("batch", 3, 16, 16)).to_dict()))
    np.savez(tmp_path / "in.npz", input=np.random.default_rng(0).standard_normal((6, 3, 16, 16)).astype(np.float32))
    (tmp_path / "list.txt").write_text("m/model.fp32.onnx in.npz m.ort\nm in.npz m.ov openvino fp32\n")
    r = subprocess.run([sys.executable, "-m", "edgebench.tools.arm_outputs", str(tmp_path / "list.txt"),
                        str(tmp_path / "out")], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    ort, ov = np.load(tmp_path / "out" / "m.ort.npz"), np.load(tmp_path / "out" / "m.ov.npz")
    assert sorted(ort) == sorted(ov) and next(iter(ort.values())).shape == (6, 10)
    for k in ort:
        assert np.max(np.abs(ort[k] - ov[k])) <= 1e-4 * max(1.0, float(np.max(np.abs(ort[k]))))
    (tmp_path / "list.txt").write_text("m in.npz m.bad openvino\n")  # 4 fields: refused, naming the format
    r = subprocess.run([sys.executable, "-m", "edgebench.tools.arm_outputs", str(tmp_path / "list.txt"),
                        str(tmp_path / "out")], capture_output=True, text=True, check=False)
    assert r.returncode != 0 and "MODEL INPUTS KEY [RUNTIME PRECISION]" in r.stderr


# ---- the detector (FastestDet): raw outputs, decoded boxes and mAP of the device against the host --------------

def _dets(n: int = 10, seed: int = 0, score: float = 0.8) -> list[Any]:
    """Ten images with one box each (class 0..2), scored `score`."""
    import numpy as np
    from edgebench.calibration.detection import Detections

    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        x, y = rng.uniform(0, 50, 2)
        out.append(Detections(np.array([[x, y, x + 20, y + 30]]), np.array([score]), np.array([k % 3])))
    return out


def _grid(seed: int = 0) -> dict[str, Any]:
    import numpy as np

    return {"logits": np.random.default_rng(seed).uniform(0, 1, (10, 7, 3, 3)).astype(np.float32)}


def test_compare_detector_fp32_is_strict_on_raw_outputs_and_boxes(ac: Any) -> None:
    import numpy as np
    from edgebench.calibration.detection import Detections

    raw, boxes = _grid(), _dets()
    same = ac.compare_detector((raw, boxes), ({"logits": raw["logits"] + np.float32(1e-6)}, list(boxes)), "fp32")
    assert same["problems"] == [] and same["reference"] == "host"
    assert (same["box_agreement_pct"], same["box_agreement_reverse_pct"], same["reference_boxes"]) == (100.0, 100.0, 10)
    far = ac.compare_detector((raw, boxes), ({"logits": raw["logits"] + np.float32(0.01)}, boxes), "fp32")
    assert far["problems"] == ["raw outputs: output 'logits' differs from the host's by 0.01 (> 0.0001, fp32)"]
    moved = list(boxes)
    moved[0] = Detections(boxes[0].boxes + 15.0, boxes[0].scores, boxes[0].labels)  # IoU < 0.5: 9 of 10 boxes
    extra = [Detections(np.vstack([b.boxes, [[0, 0, 5, 5]]]), np.append(b.scores, 0.5), np.append(b.labels, 1))
             for b in boxes]  # every image gains a box the host does not have
    bad = ac.compare_detector((raw, boxes), (raw, moved), "fp32")
    assert [p[:38] for p in bad["problems"]] == ["box agreement 90.0 % < 99 % (fp32): th",
                                                 "reverse box agreement 90.0 % < 99 % (f"]
    added = ac.compare_detector((raw, boxes), (raw, extra), "fp32")
    assert added["box_agreement_pct"] == 100.0 and added["box_agreement_reverse_pct"] == 50.0
    assert len(added["problems"]) == 1 and added["problems"][0].startswith("reverse box agreement 50.0 %")
    short = ac.compare_detector((raw, boxes), ({"logits": raw["logits"][:9]}, boxes[:9]), "fp32")
    assert any("boxes for 9 images on the device, 10 in the host's" in p for p in short["problems"])


def test_compare_detector_int8_is_held_to_the_qdq_reference_by_its_boxes(ac: Any) -> None:
    """INT8: the raw outputs may differ from the QDQ reference by several quantization steps (information); the
    boxes against the reference decide (>= 80 % both ways); the host kernels' boxes are information."""
    import numpy as np
    from edgebench.calibration.detection import Detections

    ref_raw, ref = _grid(), _dets()
    host = ({"logits": ref_raw["logits"] + np.float32(2.0)}, _dets(seed=1))  # host kernels: other boxes entirely
    moved = [Detections(d.boxes + (15.0 if k < 1 else 0.0), d.scores, d.labels) for k, d in enumerate(ref)]
    dev_raw = {"logits": ref_raw["logits"] + np.float32(0.5)}
    ok = ac.compare_detector(host, (dev_raw, moved), "int8", (ref_raw, ref))
    assert ok["problems"] == [] and ok["reference"] == "qdq" and ok["box_agreement_pct"] == 90.0
    assert ok["information"] and "differs from the QDQ reference's" in ok["information"][0]
    assert ok["raw"]["max_abs_diff_vs_reference"] == pytest.approx(0.5)
    assert ok["box_agreement_vs_host_kernels_pct"] < 50.0 and "host_kernels_saturate" not in ok["raw"]
    three_off = [Detections(d.boxes + (15.0 if k < 3 else 0.0), d.scores, d.labels) for k, d in enumerate(ref)]
    bad = ac.compare_detector(host, (ref_raw, three_off), "int8", (ref_raw, ref))
    assert len(bad["problems"]) == 2 and bad["problems"][0].startswith("box agreement 70.0 % < 80 % (int8)")
    assert "of the QDQ reference's 10 boxes" in bad["problems"][0]


def test_compare_detector_eval(ac: Any) -> None:
    host = {"n": 16, "dataset_sha256": "ab" * 32, "map_pct": 24.14, "map50_pct": 44.4, "arithmetic": "host-kernels"}
    assert ac.compare_detector_eval(host, dict(host), "fp32")["problems"] == []
    off = ac.compare_detector_eval(host, {**host, "map_pct": 24.3}, "fp32")
    assert off["problems"] == ["`edgebench eval` mAP 24.3 on the device, 24.14 on the host (|diff| 0.16 > 0.1 "
                               "points, fp32)"]
    assert ac.compare_detector_eval(host, {**host, "map_pct": 21.5}, "int8")["problems"] == []  # within 3 points
    assert ac.compare_detector_eval(host, {**host, "map_pct": 21.0}, "int8")["problems"][0].endswith(
        "(|diff| 3.14 > 3 points, int8)")
    other = ac.compare_detector_eval(host, {**host, "n": 15, "dataset_sha256": "cd" * 32}, "int8")
    assert other["problems"] == ["the device evaluated 15 images (dataset cdcdcdcdcdcd), the host 16 (abababababab)"]
    assert ac.compare_detector_eval(host, {**host, "map_pct": None}, "int8")["problems"]  # no figure: fails


def _fastestdet_like(folder: Path, precision: str = "fp32") -> Path:
    """A FastestDet-layout 'detector' [1, 1+4+2, 3, 3] (constant output) with its detection manifest."""
    import numpy as np
    from edgebench.atomic import write_json
    from edgebench.manifest import InputInfo, new_manifest
    from edgebench.tools.synthetic import constant_detector

    raw = np.zeros((1, 7, 3, 3), np.float32)
    raw[0, 0, 1, 1] = raw[0, 5, 1, 1] = 0.9  # one confident box of class 0 in the centre cell
    raw[0, 0, 0, 2] = raw[0, 6, 0, 2] = 0.2  # one below the agreement score
    model = constant_detector(folder / f"model.{precision}.onnx", raw)
    write_json(folder / f"model.{precision}.json", new_manifest(
        name="det", precision=precision, task="detection", input=InputInfo("input", (1, 3, 32, 32)).to_dict(),
        output={"name": "output0", "shape": [1, 7, 3, 3], "kind": "detection-grid", "decoder": "fastestdet"}))
    return model


def test_arm_outputs_decodes_a_detectors_boxes_in_each_images_frame(tmp_path: Path) -> None:
    """tools/arm_outputs.py on a detector: raw outputs as for any model, and KEY.boxes.npz with the boxes of score
    >= 0.3 decoded by the package's decoder in each image's size (`image_wh`, not fed to the model)."""
    import numpy as np
    from edgebench.calibration.detection import detections_from_arrays
    from edgebench.tools import arm_outputs

    pytest.importorskip("onnx")
    model = _fastestdet_like(tmp_path / "det")
    np.savez(tmp_path / "in.npz", input=np.zeros((2, 3, 32, 32), np.float32), image_wh=np.array([[90, 30], [9, 3]]))
    arm_outputs.run(model, tmp_path / "in.npz", tmp_path / "det.npz")
    assert np.load(tmp_path / "det.npz")["output0"].shape == (2, 7, 3, 3)
    dets = detections_from_arrays(dict(np.load(tmp_path / "det.boxes.npz")))
    assert [d.labels.tolist() for d in dets] == [[0], [0]]  # the 0.2-scored box is left out
    assert dets[0].boxes[0] == pytest.approx(10 * dets[1].boxes[0])  # the images' own frames
    assert dets[0].scores[0] == pytest.approx(0.9)
    plain = tmp_path / "plain.onnx"
    (tmp_path / "plain.onnx").write_bytes(model.read_bytes())  # no manifest: no boxes
    np.savez(tmp_path / "in1.npz", input=np.zeros((1, 3, 32, 32), np.float32))
    arm_outputs.run(plain, tmp_path / "in1.npz", tmp_path / "plain.npz")
    assert not (tmp_path / "plain.boxes.npz").exists()


def test_coco_subset_and_a_skipped_detector(ac: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`write_coco_subset` keeps the first n images with their boxes (the device's `eval --data data/coco`); without
    the COCO sample or the weights `prepare_detector` writes why and plans nothing, and verify records that."""
    from edgebench.calibration.detection_data import load_detection_data
    from edgebench.tools.synthetic import coco_folder

    src = coco_folder(tmp_path / "coco", [[(0, [1, 1, 5, 5])], [(1, [2, 2, 8, 8]), (2, [0, 0, 4, 4])], []])
    ds = ac.write_coco_subset(src, tmp_path / "sub", 2)
    assert len(ds) == 2 and ds.num_boxes == 3 and len(list((tmp_path / "sub" / "images").iterdir())) == 2
    assert ds.fingerprint() == load_detection_data(src).subset(2).fingerprint()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setattr(ac, "detector_sources", lambda: "no COCO sample (coco/val2017_first128 under ...)")
    assert ac.prepare_detector(work, 16, tmp_path / "cache") == []
    assert ac.verify_detector(work, work / "out" / "pi4", {}) == (
        {"status": "not checked: no COCO sample (coco/val2017_first128 under ...)"}, [])
    assert ac.prepare_detector(work, 0, tmp_path / "cache") == []
    assert ac.verify_detector(work, work / "out" / "pi4", {})[0] == {
        "status": "not checked: --detector-n 0 (EDGEBENCH_ARM_DETECTOR_N)"}


def test_verify_detector_reads_what_prepare_and_the_device_write(ac: Any, tmp_path: Path) -> None:
    """verify's detector section from a work folder laid out as `prepare_detector` and scripts/arm_device.sh leave
    it: passes a device matching the host (FP32) and the QDQ reference (INT8), fails a wrong INT8 device."""
    import numpy as np
    from edgebench.calibration.detection import Detections, detections_arrays

    work, bdir = tmp_path / "work", tmp_path / "work" / "out" / "pi5"
    for d in ("host/outputs", "host/reference", "out/pi5/outputs", "out/pi5/eval"):
        (work / d).mkdir(parents=True)
    keys = {"fp32": "det.model.fp32", "int8": "det.model.int8"}
    (work / "detection.json").write_text(json.dumps({"host": "ok", "model": "det", "models": "reused", "n": 10,
                                                     "gt_boxes": 12, "host_s": 3.0, "keys": keys}))
    ev = {"n": 10, "dataset_sha256": "ab" * 32, "map_pct": 20.0, "map50_pct": 40.0}
    raw, boxes = _grid(), _dets()
    for prec, key in keys.items():
        for where in ("host/outputs", "out/pi5/outputs") + (("host/reference",) if prec == "int8" else ()):
            np.savez(work / where / f"{key}.npz", **raw)
            np.savez(work / where / f"{key}.boxes.npz", **detections_arrays(boxes))
        (work / "host" / f"{key}.eval.json").write_text(json.dumps(ev))
        (bdir / "eval" / f"{key}.json").write_text(json.dumps({**ev, "map_pct": 21.5 if prec == "int8" else 20.0}))
    (bdir / "times.txt").write_text("outputs outputs-detection.txt - - 30.0\n"
                                    "eval-detection models/det/model.fp32.onnx 10 det.model.fp32 20.0\n")
    section, problems = ac.verify_detector(work, bdir, {})
    assert problems == [] and section["device_s"] == 50.0 and section["outputs_s"] == 30.0
    assert section["int8"]["outputs"]["reference"] == "qdq" and section["int8"]["eval"]["map_diff_pts"] == 1.5
    assert section["fp32"]["eval"]["eval_s"] == 20.0 and section["fp32"]["outputs"]["box_agreement_pct"] == 100.0
    wrong = [Detections(d.boxes, d.scores, (d.labels + 1) % 3) for d in boxes]  # every class wrong
    np.savez(bdir / "outputs" / "det.model.int8.boxes.npz", **detections_arrays(wrong))
    (bdir / "eval" / "det.model.fp32.json").unlink()
    _, problems = ac.verify_detector(work, bdir, {})
    assert problems[0] == ("det.model.fp32: the device wrote no `edgebench eval` result (det.model.fp32.json)")
    assert problems[1].startswith("det.model.int8: box agreement 0.0 % < 80 % (int8)") and len(problems) == 3


@pytest.mark.torch
def test_detector_models_are_reused_only_while_their_hashes_match(ac: Any, tmp_path: Path) -> None:
    from edgebench.atomic import write_json
    from edgebench.exporter.zoo import FASTESTDET_WEIGHTS
    from edgebench.manifest import new_manifest, sha256_file

    folder = tmp_path / "fastestdet"
    assert ac.detector_reusable(folder) == "not built yet"
    folder.mkdir()
    fp32, int8 = folder / "model.fp32.onnx", folder / "model.int8.onnx"
    fp32.write_bytes(b"fp32 graph")
    int8.write_bytes(b"int8 graph")

    def manifests(weights: str = FASTESTDET_WEIGHTS.sha256, parent: str | None = None) -> None:
        write_json(folder / "model.fp32.json", new_manifest(name="fastestdet", precision="fp32", task="detection",
                                                            weights_sha256=weights, onnx_sha256=sha256_file(fp32)))
        write_json(folder / "model.int8.json", new_manifest(
            name="fastestdet", precision="int8", task="detection", onnx_sha256=sha256_file(int8),
            parent_sha256=parent or sha256_file(fp32), quantization_mode="static"))

    manifests()
    assert ac.detector_reusable(folder) is None
    manifests(weights="0" * 64)
    assert ac.detector_reusable(folder) == "FP32 not from the published weights"
    manifests(parent="1" * 64)
    assert ac.detector_reusable(folder) == "the INT8 model was not made from this FP32 file"
    manifests()
    fp32.write_bytes(b"another fp32 graph")
    assert ac.detector_reusable(folder) == "model.fp32.onnx differs from its manifest"
