"""Every ```bash example of README.md and docs/ runs here on a tiny model, or is listed in NOT_RUN with why.

The tiny model stands in for `artifacts/resnet20` (a two-conv ONNX net with a manifest named resnet20), a
24-image labelled .npz for `cifar10[:train|:test]`, an image folder for `my_images/` and hand-made `bench --eval`
results of a detector for `det-results/`; bench examples get the quick timing flags. Each example runs in a fresh
copy of one prepared workspace (the FP32 model, its INT8 and pi4 INT8 children, result folders), so an example
that writes a file finds it free.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from edgebench.atomic import write_json
from edgebench.cli import app
from edgebench.manifest import InputInfo, new_manifest
from edgebench.tools.synthetic import conv_net
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
BASH = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
QUICK = ["--warmup-iters", "1", "--min-iters", "3", "--min-seconds", "0", "--in-process"]

# (pattern of the example, why it cannot run here); the first match wins.
NOT_RUN: list[tuple[str, str]] = [
    (r"^make ", "a make target: the whole suite or pipeline, minutes on real weights and data (run by hand)"),
    (r"^(scp |ssh |python3 -m venv|pip install ~|pip list)", "runs on, or copies to, a Raspberry Pi over SSH"),
    (r"--on |^edgebench device ", "needs a board reachable over SSH (docs/devices.md)"),
    (r"results/pi[45]", "the result folders of boards benched with --on"),
    (r"^\.venv/bin/pip wheel", "builds the wheel (make arm-check covers it)"),
    (r"^\.venv/bin/(python -m pytest|ruff)", "the test suite and the linter themselves"),
    (r"scripts/", "a benchmark script: minutes of measurement on real data (docs/benchmarks.md)"),
    (r"^edgebench (export|train|prune|sensitivity|latency-table|qat|sparsify|sweep-bits)\b",
     "PyTorch export, training or pruning of zoo models: torch, published weights, minutes (tests/exporter)"),
    (r"^edgebench sweep |sweeps/", "a sweep grid (export, prune, quantize, bench: minutes; tests/sweep)"),
    (r"^edgebench recommend RESULTS\.\.\.", "the command's synopsis (tests/bench/test_recommend*.py)"),
    (r"--accuracy-budget", "the accuracy-aware search: many quantize + eval rounds on real data (tests/calibration)"),
    (r"artifacts/(resnet56|mynet|r56-s75)", "a model only a training example above makes"),
    (r"artifacts/(r18|efficientnet_lite0|tv_resnet18)\b", "an ImageNet model at 224 with real weights on ImageNet "
     "folders (tests/exporter/test_efficientnet_lite.py runs export + eval on ../shared/data/imagenet; "
     "tests/calibration/test_layouts.py every layout on images made in code)"),
    (r"\byolo\.onnx\b", "a user's own YOLO-style detector (tests/calibration/test_describe_detection.py runs describe "
     "--task detection + eval on such graphs built in code)"),
    (r"artifacts/fastestdet\b", "the FastestDet detector with its published weights on COCO images "
     "(tests/exporter/test_fastestdet.py runs export + eval on ../shared/data/coco, "
     "tests/calibration/test_convert_detection.py convert + eval through ncnn and OpenVINO)"),
]


def examples() -> list[tuple[str, str]]:
    """(page:line-number, command) of every bash example line (continuations joined, comments dropped)."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in BASH.finditer(text):
            first = text[: m.start(1)].count("\n") + 1
            for i, line in enumerate(m.group(1).replace("\\\n", " ").splitlines()):
                cmd = line.split(" # ")[0].split("  #")[0].strip()
                if cmd and not cmd.startswith("#"):
                    found.append((f"{page.relative_to(REPO)}:{first + i}", cmd))
    return found


def why_not(cmd: str) -> str | None:
    cmd = cmd.removeprefix(".venv/bin/edgebench").strip()
    cmd = f"edgebench {cmd}" if not re.match(r"^(edgebench|make|scp|ssh|python3?|pip|\.venv)\b", cmd) else cmd
    return next((why for pat, why in NOT_RUN if re.search(pat, cmd)), None)


RUN = [(where, cmd) for where, cmd in examples() if why_not(cmd) is None]


def test_every_example_is_run_or_explained() -> None:
    assert len(RUN) >= 25
    assert all(cmd.startswith(("edgebench ", ".venv/bin/edgebench ")) for _, cmd in RUN), RUN


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    ws = tmp_path_factory.mktemp("docs-ws")
    d = ws / "artifacts/resnet20"
    conv_net(d / "model.fp32.onnx", size=16)
    write_json(d / "model.fp32.json", new_manifest(name="resnet20", precision="fp32", arch="resnet20",
                                                   input=InputInfo("input", ("batch", 3, 16, 16)).to_dict()))
    rng = np.random.default_rng(0)
    np.savez(ws / "images.npz", images=rng.integers(0, 256, (24, 16, 16, 3)).astype(np.uint8),
             labels=rng.integers(0, 10, 24))
    (ws / "my_images").mkdir()
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)).save(ws / f"my_images/{i}.png")
    run = CliRunner().invoke
    for args in (["quantize", str(d), "-d", str(ws / "images.npz")],
                 ["quantize", str(d), "-d", str(ws / "images.npz"), "--target", "pi4", "-o",
                  str(ws / "artifacts/resnet20-pi4")],
                 ["bench", str(d / "model.fp32.onnx"), "-t", "1", "-o", str(ws / "results"), *QUICK],
                 ["bench", str(d / "model.int8.onnx"), "-t", "1", "-o", str(ws / "results"), *QUICK]):
        r = run(app, args)
        assert r.exit_code == 0, (args, r.output)
    shutil.copytree(ws / "results", ws / "pi-results")
    _detector_results(ws)
    return ws


def _detector_results(ws: Path) -> None:
    """det-results/: `bench --eval` results of FastestDet FP32 and INT8 with their mAP, as docs/detection.md makes
    them (hand-made, tests/bench/result_factory.py: `recommend` reads results, no model)."""
    from tests.bench.result_factory import X86, detector_result, write

    write(ws / "det-results", [detector_result(X86, precision="fp32", p50=8.2, map_pct=19.05),
                               detector_result(X86, precision="int8", p50=10.9, map_pct=17.62, sha="1" * 64)])


def as_run_here(cmd: str, ws: Path) -> list[str]:
    """The example's arguments with the stand-ins: tiny model, .npz for CIFAR-10, quick timing."""
    args = shlex.split(cmd.removeprefix(".venv/bin/").removeprefix("edgebench "))
    sub = {"cifar10": "images.npz", "cifar10:train": "images.npz", "cifar10:test": "images.npz"}
    args = [sub.get(a, a.replace("models/resnet20", "artifacts/resnet20")) for a in args]
    if "--cooldown" in args:  # waits for a CPU temperature; a container has no sensor
        i = args.index("--cooldown")
        del args[i:i + 2]
    if args[0] == "bench":
        args += QUICK
    if args[0] == "quantize":  # a fresh folder: the example writes its own outputs
        for p in (ws / "artifacts/resnet20").glob("model.[!f]*"):
            p.unlink()
        for p in (ws / "artifacts/resnet20").glob("model.fp16*"):
            p.unlink()
        if "-o" in args:
            shutil.rmtree(ws / args[args.index("-o") + 1], ignore_errors=True)
    if args[0] == "compare" and "-o" in args:
        shutil.rmtree(ws / args[args.index("-o") + 1], ignore_errors=True)
    return args


@pytest.mark.slow
@pytest.mark.parametrize(("where", "cmd"), RUN, ids=[w for w, _ in RUN])
def test_example_runs(where: str, cmd: str, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws)
    monkeypatch.chdir(ws)
    args = as_run_here(cmd, ws)
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, f"{where}: edgebench {' '.join(args)}\n{r.output}"
