"""Host side of `make arm-check` (scripts/arm_check.sh runs `python -m edgebench.tools.armcheck` in the .venv).

Subcommands:
  mirror              the Debian mirror of this machine's own apt sources (no registry host lives in the repo)
  base-requirements   edgebench's base dependencies from pyproject.toml, one per line
  check-pip-list F    the root's `pip list --format=json`: edgebench present, no torch (the device install)
  runtime-requirements --runtimes R   the pinned packages of those ARM runtimes (pyproject's `runtimes` extra)
  layer-files REPORT PIPLIST          the wheels of the runtimes layer: what the base venv lacks (pip's report)
  prepare --work W    models, data and the plan of device commands in W; the host's own outputs and eval;
                      with --runtimes: the default export converted for each runtime x precision, its host outputs
  verify --work W     check what the device commands wrote (fingerprints, presets, schema, predictions, runtimes)

An INT8 model's reference is the arithmetic its ONNX graph specifies, computed on the host with graph
optimizations disabled (QDQ unfused: DequantizeLinear -> float op -> QuantizeLinear), not this host's integer
kernels, which saturate on x86 without VNNI for U8S8 without reduce_range (docs/int8-arithmetic.md). The device is
checked against that reference; the host kernels' outputs are compared too, as information.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from edgebench.parity import ConvertTolerance

REPO = Path(__file__).resolve().parent.parent
SHARED_TEST_NPZ = REPO.parent / "shared" / "data" / "cifar10" / "test_first1000.npz"
# Packages that must never be in the device install.
FORBIDDEN = ("torch", "torchvision", "torch-pruning", "torch_pruning", "onnxscript", "onnxslim")
# What each emulated board must look like, and the INT8 preset `auto` must pick for it.
EXPECT: dict[str, dict[str, Any]] = {
    "pi4": {"core": "Cortex-A72", "asimddp": False, "preset": "arm64-neon", "board": "Raspberry Pi 4"},
    "pi5": {"core": "Cortex-A76", "asimddp": True, "preset": "arm64-dotprod", "board": "Raspberry Pi 5"},
}
EXPORT_DIRS = ("artifacts/resnet20",)  # `make export`
EVAL_N_DEFAULT = 100
# Device vs reference, by precision: largest |device - reference| of a raw output relative to max(1, max |reference|),
# and largest share of images whose top-1 class differs (also the largest `eval` top-1/top-5 gap, in points).
# FP32: the reference is the host's own run; they differ by float rounding only (~1e-6). INT8: the reference is the
# QDQ graph run unfused on the host (float ops between exact quantize/dequantize steps); the device's integer kernels
# round differently (requantization), which moves ResNet-20's logits by ~0.2-1 (0.5-3 % of their range).
TOL: dict[str, dict[str, float]] = {"fp32": {"rel_diff": 1e-4, "flip_pct": 0.0},
                                    "int8": {"rel_diff": 0.05, "flip_pct": 2.0}}
OUTPUTS_N_DEFAULT = 100


# The runtimes beside ONNX Runtime that `make arm-check` can add (EDGEBENCH_ARM_RUNTIMES): the distribution of
# pyproject's `runtimes` extra the device installs, the module that proves it imports, the precisions checked
# (those `edgebench convert` makes, plus OpenVINO FP32 on the ONNX file itself) and the host packages converting.
ARM_RUNTIMES: dict[str, dict[str, Any]] = {
    "openvino": {"dist": "openvino", "module": "openvino", "precisions": ("fp32", "int8"),
                 "convert": {"int8": "nncf"},
                 # measured (docs/devices.md): on aarch64 the CPU plugin runs 17 of ResNet-20's 19 convolutions of the
                 # NNCF model in f32 with FakeQuantize decomposed into Eltwise ops, on x86 all 19 in u8: a different
                 # computation, not a rounding difference (max |pi4 - x86| 7.6 logits, 4 of 100 top-1 changed)
                 "int8_arm_kernels": "OpenVINO's ARM CPU plugin runs most INT8 convolutions in f32 (FakeQuantize "
                                     "decomposed), x86 runs them in u8"},
    "litert": {"dist": "ai-edge-litert", "module": "ai_edge_litert.interpreter", "precisions": ("fp32", "int8"),
               "convert": {"fp32": "litert_torch", "int8": "litert_torch"}},
    "ncnn": {"dist": "ncnn", "module": "ncnn", "precisions": ("fp32",), "convert": {"fp32": "pnnx"}},
}
NOT_RUNNABLE = "not runnable under emulation"


def log(msg: str) -> None:
    print(f"[arm-check] {msg}", file=sys.stderr, flush=True)


class CheckFailed(Exception):
    """A check of the emulated run failed."""


# ------------------------------------------------------------------ mirror, requirements, pip list
def parse_sources(texts: dict[str, str], suite: str) -> list[tuple[str, list[str]]]:
    """(uri, suites) of every `deb` entry in one-line (.list) and deb822 (.sources) apt source files."""
    entries: list[tuple[str, list[str]]] = []
    for name, text in texts.items():
        if name.endswith(".sources"):
            for block in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in block.splitlines():
                    if line.startswith("#") or ":" not in line or line[:1].isspace():
                        continue
                    k, _, v = line.partition(":")
                    fields[k.strip().lower()] = v.strip()
                if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
                    entries += [(u, fields.get("suites", "").split()) for u in fields.get("uris", "").split()]
        else:
            for line in text.splitlines():
                line = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()  # type: ignore[assignment]
                if len(line) >= 3 and line[0] == "deb":
                    entries.append((line[1], [line[2]]))
    return entries


def pick_mirror(entries: list[tuple[str, list[str]]], suite: str) -> str | None:
    """The URI serving `suite` itself; else any Debian URI that is not the security archive."""
    for uri, suites in entries:
        if suite in suites:
            return uri
    for uri, _ in entries:
        if "security" not in uri and uri.rstrip("/").endswith("/debian"):
            return uri
    return None


def cmd_mirror(args: argparse.Namespace) -> int:
    texts: dict[str, str] = {}
    apt = Path("/etc/apt")
    for p in [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*"))]:
        if p.is_file() and p.suffix in (".list", ".sources"):
            texts[p.name] = p.read_text(encoding="utf-8", errors="replace")
    uri = pick_mirror(parse_sources(texts, args.suite), args.suite)
    if uri is None:
        log(f"no Debian mirror in /etc/apt sources for {args.suite}; set EDGEBENCH_ARM_MIRROR")
        return 1
    print(uri)
    return 0


def base_requirements() -> list[str]:
    return list(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"])


def cmd_base_requirements(_args: argparse.Namespace) -> int:
    print("\n".join(base_requirements()))
    return 0


def _dist_name(req: str) -> str:
    """'ai_edge_litert==2.3.0' -> 'ai-edge-litert' (PEP 503 normalized)."""
    return re.sub(r"[-_.]+", "-", re.split(r"[<>=!~; \[]", req.strip(), maxsplit=1)[0]).lower()


def parse_runtimes(text: str) -> list[str]:
    """EDGEBENCH_ARM_RUNTIMES ('openvino,litert,ncnn'; '' or 'none': none) -> runtime names, or CheckFailed."""
    names = [x.strip() for x in re.split(r"[,\s]+", text) if x.strip()]
    if names == ["none"]:
        return []
    bad = [x for x in names if x not in ARM_RUNTIMES]
    if bad:
        raise CheckFailed(f"EDGEBENCH_ARM_RUNTIMES: {', '.join(bad)} not among {', '.join(ARM_RUNTIMES)} "
                          "(comma-separated; 'none' for ONNX Runtime only)")
    return list(dict.fromkeys(names))


def runtime_requirements(runtimes: list[str]) -> list[str]:
    """The pinned requirement of each runtime, from pyproject's `runtimes` extra (what a Pi installs)."""
    extra = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"]["runtimes"]
    by_dist = {_dist_name(r): r for r in extra}
    missing = [ARM_RUNTIMES[r]["dist"] for r in runtimes if ARM_RUNTIMES[r]["dist"] not in by_dist]
    if missing:
        raise CheckFailed(f"pyproject.toml's `runtimes` extra has no {', '.join(missing)}")
    return [by_dist[ARM_RUNTIMES[r]["dist"]] for r in runtimes]


def cmd_runtime_requirements(args: argparse.Namespace) -> int:
    """One line per runtime: `NAME REQUIREMENT`."""
    rts = parse_runtimes(args.runtimes)
    for rt, req in zip(rts, runtime_requirements(rts), strict=True):
        print(f"{rt} {req}")
    return 0


def layer_files(report: dict[str, Any], base: list[dict[str, str]]) -> list[str]:
    """The wheels of the runtimes layer from `pip install --dry-run --report` run in the base venv: what it would
    install. CheckFailed when that replaces a base package (the layer sits on PYTHONPATH, in front of the venv:
    a second numpy there would shadow the base one)."""
    have = {_dist_name(p["name"]): p["version"] for p in base}
    files, clash = [], []
    for item in report.get("install", []):
        name, version = _dist_name(item["metadata"]["name"]), item["metadata"]["version"]
        if name in have:
            clash.append(f"{name} {have[name]} -> {version}")
        url = item["download_info"]["url"]
        files.append(url.removeprefix("file://"))
    if clash:
        raise CheckFailed("the runtimes would replace base packages of the device venv: " + ", ".join(clash))
    return files


def cmd_layer_files(args: argparse.Namespace) -> int:
    report = json.loads(Path(args.report).read_text(encoding="utf-8"))
    base = json.loads(Path(args.base).read_text(encoding="utf-8"))
    print("\n".join(layer_files(report, base)))
    return 0


def check_pip_list(packages: list[dict[str, str]], runtimes: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Problems with the device install's package list (empty when it is right); `runtimes`: the ARM runtimes
    whose packages must be there too."""
    names = {_dist_name(p["name"]): p["version"] for p in packages}
    problems = [f"'{f}' is installed in the device install" for f in FORBIDDEN if _dist_name(f) in names]
    if "edgebench" not in names:
        problems.append("edgebench is not installed")
    for req in base_requirements():
        name = _dist_name(req)
        if name not in names:
            problems.append(f"base dependency '{name}' is missing")
    for rt in runtimes:
        if ARM_RUNTIMES[rt]["dist"] not in names:
            problems.append(f"runtime '{rt}' ({ARM_RUNTIMES[rt]['dist']}) is missing")
    return problems


def cmd_check_pip_list(args: argparse.Namespace) -> int:
    packages = json.loads(Path(args.file).read_text(encoding="utf-8"))
    unavailable = set()
    if args.unavailable and Path(args.unavailable).is_file():  # NAME REASON lines (arm_check.sh's runtimes layer)
        unavailable = {x.split()[0] for x in Path(args.unavailable).read_text(encoding="utf-8").splitlines() if x}
    problems = check_pip_list(packages, [r for r in parse_runtimes(args.runtimes) if r not in unavailable])
    listing = ", ".join(f"{p['name']} {p['version']}" for p in packages)
    log(f"device install (pip list): {listing}")
    for p in problems:
        log(f"FAILED: {p}")
    return 1 if problems else 0


# ------------------------------------------------------------------ prepare
def _edgebench(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "edgebench"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, check=False)


def has_command(name: str) -> bool:
    return _edgebench(name, "--help").returncode == 0


def model_key(rel: Path) -> str:
    """models/resnet20/model.int8.onnx -> resnet20.model.int8"""
    return f"{rel.parent.name}.{rel.stem}"


def model_inputs(model: Path, n: int, seed: int = 0) -> dict[str, Any]:
    """Inputs for the outputs check: the first `n` real test images preprocessed as the manifest says, or
    seeded random tensors for a model without a manifest (or without the reference data)."""
    import numpy as np
    from edgebench.manifest import find_typed_manifest

    m = find_typed_manifest(model)
    info = m.input if m is not None else None
    if info is not None and SHARED_TEST_NPZ.exists():
        from edgebench.calibration.preprocess import preprocess

        images = np.load(SHARED_TEST_NPZ, allow_pickle=False)["images"][:n]
        return {info.name: preprocess(images, info.preprocessing, info.image_hw())}
    from edgebench.runtimes import RuntimeOptions, get_runtime

    sess = get_runtime("ort-cpu").load(model, RuntimeOptions(intra_op_threads=1))
    rng = np.random.default_rng(seed)
    return {s.name: rng.standard_normal(s.resolve(n)).astype(s.dtype) for s in sess.inputs}


def run_outputs(listing: Path, out_dir: Path, *extra: str) -> None:
    subprocess.run([sys.executable, "-m", "edgebench.tools.arm_outputs", str(listing), str(out_dir), *extra],
                   check=True)


def host_cpu() -> dict[str, Any]:
    """The `cpu` section of this host's fingerprint (what decides whether its integer kernels are exact)."""
    from edgebench.cpu import cpu_info

    return cpu_info()


def build_pruned(build: Path) -> Path | None:
    """A pruned ResNet-20 (30 % of the filters, no fine-tuning: odd channel widths) and its INT8 model, made on
    the host with the project's own commands; None when the export extra (torch) is absent."""
    if not has_command("prune") or not SHARED_TEST_NPZ.exists():
        log("no pruned model: `edgebench prune` (export extra) or the reference data is missing here")
        return None
    run = build / "prune"
    r = _edgebench("prune", "resnet20", "--ratios", "0.3", "--rounds", "1", "--finetune-epochs", "0",
                   "--limit-test", "100", "-o", str(run), "--force")
    rnd = run / "round1"
    if r.returncode != 0 or not (rnd / "model.fp32.onnx").exists():
        raise CheckFailed(f"edgebench prune failed: {(r.stderr or r.stdout).strip()[-500:]}")
    r = _edgebench("quantize", str(rnd / "model.fp32.onnx"), "--data", "cifar10:train", "--calib-size", "256",
                   "--force")
    if r.returncode != 0:
        raise CheckFailed(f"edgebench quantize of the pruned model failed: {r.stderr.strip()[-500:]}")
    return rnd


def build_targeted(build: Path) -> list[tuple[Path, str]]:
    """The default export's FP32 model quantized for each board (`quantize --target pi4|pi5`): the ARM presets'
    own recipes (arm64-neon U8S8, arm64-dotprod S8S8), whatever preset `auto` picks on this host."""
    fp32 = REPO / EXPORT_DIRS[0] / "model.fp32.onnx"
    if not fp32.exists() or not has_command("quantize"):
        return []
    out = []
    for board in EXPECT:
        dst = build / f"resnet20-{board}"
        r = _edgebench("quantize", str(fp32), "--data", "cifar10:train", "--calib-size", "256", "--target", board,
                       "-o", str(dst), "--force")
        if r.returncode != 0:
            raise CheckFailed(f"edgebench quantize --target {board} failed: {r.stderr.strip()[-500:]}")
        out.append((dst, dst.name))
    return out


def reuse_artifact(folder: Path, runtime: str, precision: str) -> bool:
    """Copy the default export's own `<runtime>/<precision>/` artifact (`make report` converts them) into `folder`
    when its manifest names the current FP32 model as its parent (parent_sha256); False: convert it here."""
    from edgebench.manifest import sha256_file
    from edgebench.runtimes.artifacts import ARTIFACT_MANIFEST, artifact_dir

    src = artifact_dir(REPO / EXPORT_DIRS[0], runtime, precision)
    man = src / ARTIFACT_MANIFEST
    if not man.is_file():
        return False
    try:
        parent = json.loads(man.read_text(encoding="utf-8")).get("parent_sha256")
    except json.JSONDecodeError:
        return False
    if parent != sha256_file(folder / "model.fp32.onnx"):
        return False
    shutil.copytree(src, artifact_dir(folder, runtime, precision))
    return True


def prepare_runtimes(work: Path, runtimes: list[str], folder: Path | None, inputs: Path | None) -> list[str]:
    """The default export (`folder`, in `work/models`) converted on the host for each runtime x precision
    (`edgebench convert`, into `folder/<runtime>/<precision>/`) and the host's outputs of each artifact through the
    same runtime on `inputs` (host/outputs/<key>.npz). Writes work/runtimes.json (what is checked, how long each
    conversion took, or why a runtime is not checked on this host) and returns the device's plan lines."""
    import importlib.util
    import time

    planned: dict[str, Any] = {}
    probes: list[str] = []  # first: a runtime that does not import under emulation is skipped, not failed
    plan: list[str] = []
    for rt in runtimes:
        spec = ARM_RUNTIMES[rt]
        if folder is None or inputs is None:
            planned[rt] = {"host": "not checked: no `make export` model (artifacts/resnet20) to convert"}
            log(f"{rt}: {planned[rt]['host']}")
            continue
        need = sorted({spec["module"].split(".")[0], *spec["convert"].values()})
        missing = [m for m in need if importlib.util.find_spec(m) is None]
        if missing:
            planned[rt] = {"host": f"not checked: {', '.join(missing)} not installed on the host "
                                   "(pip install -e '.[runtimes,convert]')"}
            log(f"{rt}: {planned[rt]['host']}")
            continue
        arts: dict[str, Any] = {}
        listing: list[str] = []
        for prec in spec["precisions"]:
            t0 = time.monotonic()
            reused = reuse_artifact(folder, rt, prec)
            if prec in spec["convert"] and not reused:
                r = _edgebench("convert", str(folder), "-r", rt, "--precision", prec,
                               *(["--data", "cifar10:train"] if prec == "int8" else []), "--force")
                if r.returncode != 0:
                    raise CheckFailed(f"edgebench convert {folder.name} -r {rt} --precision {prec} failed on the "
                                      f"host: {(r.stderr or r.stdout).strip()[-500:]}")
            key = f"{folder.name}.{rt}.{prec}"
            how = "reused" if reused else "converted" if prec in spec["convert"] else "the ONNX file as it is"
            arts[prec] = {"key": key, "artifact": how, "convert_s": round(time.monotonic() - t0, 1)}
            listing.append(f"{folder.relative_to(work)} {inputs.relative_to(work)} {key} {rt} {prec}")
            plan.append(f"bench {folder.relative_to(work)} {rt} {prec}")
        (work / f"outputs-{rt}.txt").write_text("\n".join(listing) + "\n", encoding="utf-8")
        t0 = time.monotonic()
        run_outputs(work / f"outputs-{rt}.txt", work / "host" / "outputs")
        planned[rt] = {"host": "ok", "module": spec["module"], "artifacts": arts,
                       "host_outputs_s": round(time.monotonic() - t0, 1)}
        probes.append(f"probe {rt} {spec['module']}")
        plan.append(f"outputs outputs-{rt}.txt {rt}")
        done = ", ".join(f"{p} ({a['artifact']}, {a['convert_s']} s)" for p, a in arts.items())
        log(f"{rt}: converted {done}; host outputs {planned[rt]['host_outputs_s']} s")
    (work / "runtimes.json").write_text(json.dumps(planned, indent=2) + "\n", encoding="utf-8")
    return probes + plan


# ------------------------------------------------------------------ the detector (FastestDet)
DETECTOR = "fastestdet"
DETECTOR_N_DEFAULT = 32  # COCO images on the device: ~1-2 min per emulated board (outputs + two evals)


def detector_sources() -> Path | str:
    """The COCO sample, when it and FastestDet's published weights are found locally; else why the detector is not
    checked."""
    from edgebench.calibration.detection_data import find_coco_sample

    coco = find_coco_sample()
    if coco is None:
        return "no COCO sample (coco/val2017_first128 under $EDGEBENCH_DATA or ../shared/data)"
    try:
        from edgebench.errors import EdgebenchError
        from edgebench.exporter.checkpoint import find_weights
        from edgebench.exporter.zoo import FASTESTDET_WEIGHTS
    except ImportError as e:
        return f"the export extra is not installed here ({e}): pip install -e '.[export]'"
    try:
        find_weights(FASTESTDET_WEIGHTS, download=False)
    except EdgebenchError as e:
        return f"FastestDet's weights are missing: {e}"
    return coco


def detector_reusable(folder: Path) -> str | None:
    """None when `folder` holds a FastestDet FP32 of the published weights and an INT8 (QDQ) made from that very
    file, each file matching the sha256 its manifest records; else what does not match."""
    from edgebench.exporter.zoo import FASTESTDET_WEIGHTS
    from edgebench.manifest import find_typed_manifest, sha256_file

    fp32, int8 = folder / "model.fp32.onnx", folder / "model.int8.onnx"
    if not (fp32.is_file() and int8.is_file()):
        return "not built yet"
    m32, m8 = find_typed_manifest(fp32), find_typed_manifest(int8)
    if m32 is None or m8 is None:
        return "a manifest is missing"
    sha32 = sha256_file(fp32)
    checks = [(m32.weights_sha256 == FASTESTDET_WEIGHTS.sha256, "FP32 not from the published weights"),
              (m32.onnx_sha256 == sha32, "model.fp32.onnx differs from its manifest"),
              (m8.onnx_sha256 == sha256_file(int8), "model.int8.onnx differs from its manifest"),
              (m8.parent_sha256 == sha32, "the INT8 model was not made from this FP32 file"),
              (has_qdq_reference(int8), "the INT8 model is not static QDQ")]
    return next((why for ok, why in checks if not ok), None)


def build_detector(folder: Path, coco: Path) -> dict[str, Any]:
    """FastestDet FP32 (`edgebench export`) and its ORT INT8 (`edgebench quantize` on the COCO sample's images,
    preset auto) in `folder`, kept between runs and reused while `detector_reusable` holds."""
    import time

    t0 = time.monotonic()
    why = detector_reusable(folder)
    if why is None:
        return {"models": "reused", "build_s": round(time.monotonic() - t0, 1)}
    for cmd in (["export", DETECTOR, "-o", str(folder), "--force"],
                ["quantize", str(folder / "model.fp32.onnx"), "--data", str(coco / "images"), "-n", "128",
                 "--force"]):
        r = _edgebench(*cmd)
        if r.returncode != 0:
            raise CheckFailed(f"edgebench {' '.join(cmd[:2])} failed: {(r.stderr or r.stdout).strip()[-500:]}")
    if (left := detector_reusable(folder)) is not None:
        raise CheckFailed(f"the FastestDet models just built in {folder} do not check out: {left}")
    return {"models": f"built ({why})", "build_s": round(time.monotonic() - t0, 1)}


def write_coco_subset(src: Path, dst: Path, n: int) -> Any:
    """The first `n` images of the COCO folder `src` (in the order edgebench loads them) with their boxes and all
    categories, as the COCO folder `dst` (images/ + instances.json); returns the loaded subset."""
    from edgebench.calibration.detection_data import COCO_FILE, load_detection_data

    ds = load_detection_data(src).subset(n)
    doc = json.loads((src / COCO_FILE).read_text(encoding="utf-8"))
    ids = {im.image_id for im in ds.images}
    (dst / "images").mkdir(parents=True, exist_ok=True)
    for im in ds.images:
        shutil.copy2(im.path, dst / "images" / im.path.name)
    sub = {"images": [x for x in doc["images"] if x["id"] in ids], "categories": doc["categories"],
           "annotations": [a for a in doc["annotations"] if a["image_id"] in ids]}
    (dst / COCO_FILE).write_text(json.dumps(sub), encoding="utf-8")
    copied = load_detection_data(dst)
    if copied.fingerprint() != ds.fingerprint():
        raise CheckFailed(f"the COCO subset in {dst} does not load as the first {n} images of {src}")
    return copied


def prepare_detector(work: Path, n: int, cache: Path) -> list[str]:
    """FastestDet on the device: FP32 and ORT INT8 (built in `cache` or reused), the first `n` COCO images
    (work/data/coco, and preprocessed with their sizes in work/inputs/fastestdet.npz), the host's raw outputs and
    decoded boxes (host/outputs; the INT8 model's QDQ reference in host/reference) and `edgebench eval` mAP
    (host/KEY.eval.json; INT8: the QDQ arithmetic, this host's kernels as information). Writes work/detection.json
    (what is checked, or why not) and returns the device's plan lines: `outputs outputs-detection.txt` (raw
    outputs and boxes) and `eval-detection MODEL N KEY` per model."""
    import time

    import numpy as np
    from edgebench.calibration.detection_data import fitted_images
    from edgebench.calibration.preprocess import preprocess
    from edgebench.manifest import find_typed_manifest
    from edgebench.tools.arm_outputs import IMAGE_WH

    coco = detector_sources() if n > 0 else "--detector-n 0 (EDGEBENCH_ARM_DETECTOR_N)"
    if isinstance(coco, str):
        skipped = {"host": f"not checked: {coco}"}
        (work / "detection.json").write_text(json.dumps(skipped, indent=2) + "\n", encoding="utf-8")
        log(f"detector: {skipped['host']}")
        return []
    info: dict[str, Any] = {"host": "ok", "model": DETECTOR, **build_detector(cache, coco)}
    t0 = time.monotonic()
    folder = work / "models" / DETECTOR
    while folder.exists():  # a --model-dirs folder of that name
        folder = folder.with_name(folder.name + "-2")
    folder.mkdir(parents=True)
    for f in ("model.fp32.onnx", "model.fp32.json", "model.int8.onnx", "model.int8.json"):
        shutil.copy2(cache / f, folder / f)
    ds = write_coco_subset(coco, work / "data" / "coco", n)
    man = find_typed_manifest(folder / "model.fp32.onnx")
    if man is None or man.input is None:
        raise CheckFailed(f"{folder / 'model.fp32.json'} has no input description")
    x = preprocess(fitted_images(ds, man.input), man.input.preprocessing, man.input.image_hw())
    inputs = work / "inputs" / f"{DETECTOR}.npz"
    np.savez(inputs, **{man.input.name: x, IMAGE_WH: np.array([[im.width, im.height] for im in ds.images])})
    keys: dict[str, str] = {}
    listing = []
    for prec in ("fp32", "int8"):
        rel = (folder / f"model.{prec}.onnx").relative_to(work)
        keys[prec] = model_key(rel)
        listing.append(f"{rel} {inputs.relative_to(work)} {keys[prec]}")
    (work / "outputs-detection.txt").write_text("\n".join(listing) + "\n", encoding="utf-8")
    (work / "reference-detection.txt").write_text(listing[1] + "\n", encoding="utf-8")
    run_outputs(work / "outputs-detection.txt", work / "host" / "outputs")
    run_outputs(work / "reference-detection.txt", work / "host" / "reference", "--reference")
    plan = ["outputs outputs-detection.txt"]
    for prec, key in keys.items():
        model = folder / f"model.{prec}.onnx"
        runs = [("eval", "qdq"), ("eval-host-kernels", "host")] if prec == "int8" else [("eval", None)]
        for name, arithmetic in runs:
            r = _edgebench("eval", str(model), "--data", str(work / "data" / "coco"), "--json",
                           *(["--arithmetic", arithmetic] if arithmetic else []))
            if r.returncode != 0:
                raise CheckFailed(f"host eval of {model.relative_to(work)} failed: {r.stderr.strip()[-500:]}")
            (work / "host" / f"{key}.{name}.json").write_text(r.stdout, encoding="utf-8")
        plan.append(f"eval-detection {model.relative_to(work)} {n} {key}")
    info.update(n=n, dataset_sha256=ds.fingerprint(), gt_boxes=ds.num_boxes, keys=keys,
                host_s=round(time.monotonic() - t0, 1))
    (work / "detection.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    log(f"detector: {DETECTOR} FP32 + INT8 ({info['models']}, {info['build_s']} s), {n} COCO images "
        f"({ds.num_boxes} boxes); host outputs, QDQ reference and eval {info['host_s']} s")
    return plan


def cmd_prepare(args: argparse.Namespace) -> int:
    import numpy as np
    from edgebench.tools.synthetic import conv_net

    work = Path(args.work)
    models = work / "models"
    for d in ("inputs", "host"):
        (work / d).mkdir(parents=True, exist_ok=True)
    sources: list[tuple[Path, str]] = [(REPO / d, Path(d).name) for d in EXPORT_DIRS]
    sources += build_targeted(work / "build")
    if args.pruned:
        rnd = build_pruned(work / "build")
        if rnd is not None:
            sources.append((rnd, "resnet20-pruned"))
    sources += [(Path(x), Path(x).name) for x in args.model_dirs]
    exported: list[Path] = []
    used: set[str] = set()
    for src, name in sources:
        onnx_files = sorted(src.glob("model.*.onnx"))
        if not onnx_files:
            continue
        while name in used:
            name += "-2"
        used.add(name)
        (models / name).mkdir(parents=True)
        for onnx in onnx_files:
            for f in (onnx, onnx.with_suffix(".json")):
                if f.exists():
                    shutil.copy2(f, models / name / f.name)
            exported.append(models / name / onnx.name)
    synthetic = conv_net(models / "synthetic" / "synthetic.onnx", size=32, channels=16, n_convs=3)
    if not exported:
        log("no exported models (run `make export` first): only the synthetic model is checked")
    plan: list[str] = [f"bench {m.relative_to(work)}" for m in [synthetic, *exported]]

    listing: list[str] = []
    for m in exported or [synthetic]:
        rel, key = m.relative_to(work), model_key(m.relative_to(work))
        inputs = work / "inputs" / f"{key}.npz"
        np.savez(inputs, **model_inputs(m, args.outputs_n))
        listing.append(f"{rel} {inputs.relative_to(work)} {key}")
    (work / "outputs.txt").write_text("\n".join(listing) + "\n", encoding="utf-8")
    run_outputs(work / "outputs.txt", work / "host" / "outputs")
    (work / "host" / "cpu.json").write_text(json.dumps(host_cpu(), indent=2) + "\n", encoding="utf-8")
    int8 = [line for line in listing if has_qdq_reference(work / line.split()[0])]
    if int8:  # the INT8 models' reference: the QDQ graph unfused, the arithmetic the ONNX graph specifies
        (work / "reference.txt").write_text("\n".join(int8) + "\n", encoding="utf-8")
        run_outputs(work / "reference.txt", work / "host" / "reference", "--reference")
    plan.append("outputs outputs.txt")
    default = next((m for m in exported if m.parent.name == Path(EXPORT_DIRS[0]).name and m.name == "model.fp32.onnx"),
                   None)
    default_inputs = None if default is None else work / "inputs" / f"{model_key(default.relative_to(work))}.npz"
    plan += prepare_runtimes(work, parse_runtimes(args.runtimes), None if default is None else default.parent,
                             default_inputs)
    plan += prepare_detector(work, args.detector_n, Path(args.detector_cache or work.parent / DETECTOR))

    eval_ok = has_command("eval")
    if exported and not eval_ok:
        log("`edgebench eval` does not exist yet: eval is not compared")
    if exported and eval_ok and not SHARED_TEST_NPZ.exists():
        log(f"{SHARED_TEST_NPZ} is absent: eval is not compared")
    if exported and eval_ok and SHARED_TEST_NPZ.exists():
        (work / "data").mkdir(exist_ok=True)
        shutil.copy2(SHARED_TEST_NPZ, work / "data" / "test.npz")
        for m in exported:
            rel, key = m.relative_to(work), model_key(m.relative_to(work))
            # INT8: the reference is the QDQ arithmetic (what the device computes); this host's kernels as information
            runs = [("eval", "qdq"), ("eval-host-kernels", "host")] if has_qdq_reference(m) else [("eval", None)]
            for name, arithmetic in runs:
                r = _edgebench("eval", str(m), "--data", str(work / "data" / "test.npz"), "--limit",
                               str(args.eval_n), "--json", *(["--arithmetic", arithmetic] if arithmetic else []))
                if r.returncode != 0:
                    log(f"host eval of {rel} failed: {r.stderr.strip()}")
                    return 1
                (work / "host" / f"{key}.{name}.json").write_text(r.stdout, encoding="utf-8")
            plan.append(f"eval {rel} {args.eval_n} {key}")
    if preset_api():
        (work / "preset.py").write_text(PRESET_SNIPPET, encoding="utf-8")
        plan.append("preset")
    else:
        log("calibration.recipes.resolve_preset does not exist yet: the auto preset is not checked")
    (work / "plan.txt").write_text("\n".join(plan) + "\n", encoding="utf-8")
    log("plan: " + "; ".join(plan))
    return 0


# Run on the device: the INT8 preset `edgebench quantize --preset auto` would choose there.
PRESET_SNIPPET = """from edgebench.bench.fingerprint import fingerprint
from edgebench.calibration.recipes import resolve_preset

print(resolve_preset("auto", cpu=fingerprint()["cpu"]).preset)
"""


def preset_api() -> bool:
    try:
        from edgebench.calibration.recipes import resolve_preset  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------ verify
def check_sysinfo(fp: dict[str, Any], board: str) -> list[str]:
    """The fingerprint the emulated board reported: aarch64, its core, its ISA flags, flagged as emulated."""
    exp = EXPECT[board]
    cpu = fp.get("cpu", {})
    problems = []
    if cpu.get("arch") != "aarch64":
        problems.append(f"cpu.arch is {cpu.get('arch')!r}, expected 'aarch64'")
    if cpu.get("arm_core") != exp["core"]:
        problems.append(f"cpu.arm_core is {cpu.get('arm_core')!r}, expected {exp['core']!r}")
    isa = cpu.get("isa", {})
    if isa.get("asimd") is not True:
        problems.append(f"isa.asimd is {isa.get('asimd')!r}, expected True")
    if isa.get("asimddp") is not exp["asimddp"]:
        problems.append(f"isa.asimddp is {isa.get('asimddp')!r}, expected {exp['asimddp']}")
    if fp.get("emulated") is not True:
        problems.append("the fingerprint does not say 'emulated'")
    model = (fp.get("board") or {}).get("model") or ""
    if not model.startswith(exp["board"]):
        problems.append(f"board.model is {model!r}, expected {exp['board']}...")
    if (fp.get("packages") or {}).get("torch") is not None:
        problems.append("torch is importable on the device install")
    return problems


def check_results(results: list[dict[str, Any]], paths: list[Path], board: str) -> list[str]:
    """Every result validates against the schema and is flagged as emulated."""
    from edgebench.bench.schema import validate_result
    from edgebench.errors import ResultSchemaError

    problems = []
    for r, p in zip(results, paths, strict=True):
        try:
            validate_result(r, str(p))
        except ResultSchemaError as e:
            problems.append(str(e))
            continue
        if r["machine"]["cpu"]["arch"] != "aarch64" or r["machine"]["cpu"]["arm_core"] != EXPECT[board]["core"]:
            problems.append(f"{p.name}: machine.cpu is {r['machine']['cpu']['arch']} {r['machine']['cpu']['model']}")
        if r["machine"].get("emulated") is not True or not any("emulation" in w for w in r.get("warnings", [])):
            problems.append(f"{p.name}: emulated timings are not flagged as emulated")
        # the board's temperature and throttle word, read before and after the run (device runs use --cooldown)
        for when in ("machine", "machine_after"):
            m = r.get(when) or {}
            if not (m.get("throttled") or {}).get("source") or not m.get("thermal"):
                problems.append(f"{p.name}: {when} lacks the board's throttle state or temperature")
        if (r.get("cooldown") or {}).get("reached") is not True:
            problems.append(f"{p.name}: --cooldown did not record a reached bound: {r.get('cooldown')}")
    return problems


def agreement(host: list[int], device: list[int]) -> tuple[int, int]:
    """(images whose top-1 differs, images compared)."""
    if len(host) != len(device):
        raise CheckFailed(f"host has {len(host)} predictions, the device {len(device)}")
    return sum(a != b for a, b in zip(host, device, strict=True)), len(host)


def precision_of(model: Path) -> str:
    from edgebench.manifest import find_typed_manifest

    m = find_typed_manifest(model)
    return m.precision if m else "fp32"


def has_qdq_reference(model: Path) -> bool:
    """An INT8 model in QDQ format (static): unfused, it runs the arithmetic its ONNX graph specifies."""
    from edgebench.manifest import find_typed_manifest

    m = find_typed_manifest(model)
    if m is None:
        return False
    return (m.precision == "int8" and (m.quantization_mode or "static") == "static"
            and (m.recipe is None or m.recipe.quant_format == "qdq"))


def tolerance(precision: str) -> dict[str, float]:
    return TOL.get(precision, TOL["fp32"])


def compare_outputs(host: dict[str, Any], dev: dict[str, Any], precision: str,
                    what: str = "the host's") -> dict[str, Any]:
    """Device outputs vs `host` (the host's, or the QDQ reference: `what` names it) for the same inputs: max abs
    difference, top-1 flips, bit-identity; `problems` lists what exceeds the precision's tolerance."""
    import numpy as np

    problems: list[str] = []
    if sorted(host) != sorted(dev):
        return {"precision": precision, "problems": [f"outputs {sorted(dev)} differ from {what} {sorted(host)}"]}
    out: dict[str, Any] = {"precision": precision, "n": 0, "max_abs_diff": 0.0, "bit_identical": True,
                           "top1_flips": 0}
    for name in host:
        h, d = np.asarray(host[name]), np.asarray(dev[name])
        if h.shape != d.shape:
            problems.append(f"output '{name}' has shape {d.shape} on the device, {h.shape} on the host")
            continue
        diff = float(np.max(np.abs(h.astype(np.float64) - d.astype(np.float64)))) if h.size else 0.0
        out["n"] = max(out["n"], int(h.shape[0]) if h.ndim else 1)
        out["max_abs_diff"] = max(out["max_abs_diff"], diff)
        out["bit_identical"] = out["bit_identical"] and bool(np.array_equal(h, d))
        if h.ndim == 2:
            out["top1_flips"] += int(np.sum(h.argmax(1) != d.argmax(1)))
        scale = max(1.0, float(np.max(np.abs(h)))) if h.size else 1.0
        out["max_rel_diff"] = max(out.get("max_rel_diff", 0.0), diff / scale)
        tol = tolerance(precision)["rel_diff"] * scale
        if diff > tol:
            problems.append(f"output '{name}' differs from {what} by {diff:.3g} (> {tol:.3g}, {precision})")
    if out["top1_flips"] > tolerance(precision)["flip_pct"] / 100 * out["n"]:
        problems.append(f"{out['top1_flips']} of {out['n']} top-1 classes differ from {what} "
                        f"(> {tolerance(precision)['flip_pct']:g} % for {precision})")
    out["problems"] = problems
    return out


def compare_model_outputs(host: dict[str, Any], dev: dict[str, Any], precision: str,
                          reference: dict[str, Any] | None = None, exact: Any = None) -> dict[str, Any]:
    """The outputs check of one model. Without `reference` (FP32): the device against the host, strictly.

    With `reference` (an INT8 model's QDQ graph run unfused on the host): the device against the reference decides
    (`problems`); the device against the host kernels, and the host kernels against the reference, are information.
    `host_kernels_saturate` is True when the host kernels miss the reference by more than the INT8 tolerance, or when
    `exact` (`calibration.recipes.ArithmeticChoice` for this host and model) says they cannot match it.
    """
    if reference is None:
        out = compare_outputs(host, dev, precision)
        out["reference"] = "host"
        return out
    out = compare_outputs(reference, dev, precision, "the QDQ reference's")
    vs_host = compare_outputs(host, dev, precision, "the host kernels'")
    host_vs_ref = compare_outputs(reference, host, precision, "the QDQ reference's")
    out["reference"] = "qdq"
    out["max_abs_diff_vs_reference"] = out.get("max_abs_diff")
    out["max_abs_diff_vs_host_kernels"] = vs_host.get("max_abs_diff")
    out["top1_flips_vs_host_kernels"] = vs_host.get("top1_flips")
    out["host_kernels_vs_reference_max_abs_diff"] = host_vs_ref.get("max_abs_diff")
    out["host_kernels_vs_reference_top1_flips"] = host_vs_ref.get("top1_flips")
    out["host_kernels_saturate"] = bool(host_vs_ref["problems"]) or (exact is not None and not exact.exact)
    out["host_arithmetic"] = None if exact is None else {"exact": exact.exact, "reason": exact.reason}
    out["info"] = [f"host kernels: {x}" for x in host_vs_ref["problems"]]
    return out


def agreement_with_fp32(fp32: dict[str, Any], dev: dict[str, Any]) -> dict[str, Any]:
    """Top-1 agreement of the device's INT8 outputs with the host's FP32 outputs (same runtime, same images), held to
    `edgebench convert`'s INT8 parity bar (ConvertTolerance.min_agreement_int8, 95 %) less its sampling error on
    the few images checked here; `problems` when below.

    The bar is `b - 2 * sqrt(b * (1 - b) / n)`: on 100 images a model that agrees on 95 % of all images shows
    91-99 % here, and OpenVINO's ARM INT8 measured exactly 95 % on both emulated boards, so convert's bar
    itself would fail such a model one run in two. Broken kernels agree on ~10 %: still far below.
    >>> round(sampling_bar(0.95, 100), 4)
    0.9064
    """
    import numpy as np
    from edgebench.parity import ConvertTolerance

    if sorted(fp32) != sorted(dev):
        return {"problems": [f"outputs {sorted(dev)} differ from the host FP32's {sorted(fp32)}"]}
    same = total = 0
    for name in fp32:
        h, d = np.asarray(fp32[name]), np.asarray(dev[name])
        if h.ndim == 2 and h.shape == d.shape:
            same += int(np.sum(h.argmax(1) == d.argmax(1)))
            total += int(h.shape[0])
    agree = same / total if total else 0.0
    convert_bar = ConvertTolerance().min_agreement_int8
    bar = sampling_bar(convert_bar, total) if total else convert_bar
    out: dict[str, Any] = {"top1_agreement": round(agree, 4), "n": total, "bar": round(bar, 4),
                           "convert_bar": convert_bar,
                           "max_abs_diff": max(float(np.max(np.abs(np.asarray(fp32[k], np.float64) - dev[k])))
                                               for k in fp32)}
    out["problems"] = ([] if total and agree >= bar else
                       [f"top-1 agreement with the host's FP32 {agree:.1%} < {bar:.1%} on {total} images "
                        f"(`edgebench convert`'s INT8 bar {convert_bar:.0%} less 2 standard errors)"])
    return out


def sampling_bar(bar: float, n: int) -> float:
    """An agreement bar `bar` (a share of all images) lowered by two standard errors of a share measured on n images."""
    return bar - 2.0 * math.sqrt(bar * (1.0 - bar) / n)


def read_probe(path: Path) -> tuple[str, float | None, str]:
    """out/BOARD/runtimes/RT.probe (scripts/arm_device.sh): ('ok' | 'fail' | 'missing', seconds, reason)."""
    if not path.exists():
        return "missing", None, ""
    lines = path.read_text(encoding="utf-8").splitlines() or [""]
    head = lines[0].split()
    secs = float(head[1]) if len(head) > 1 else None
    return (head[0] if head else "missing"), secs, " ".join(x.strip() for x in lines[1:] if x.strip())


def read_times(path: Path) -> list[tuple[list[str], float]]:
    """out/BOARD/times.txt: (the plan line's fields, seconds) per line the device ran."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        f = line.split()
        if len(f) == 5:
            rows.append((f[:4], float(f[4])))
    return rows


def verify_runtimes(work: Path, bdir: Path, results: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """The ARM runtimes on one board: (summary's `runtimes` section, problems).

    Per runtime prepared on the host (work/runtimes.json): its probe (import time; a runtime that does not
    install or import under emulation is recorded as `not runnable under emulation: <reason>`, not failed), its
    `edgebench runtimes` line, and per precision: a bench result (its p50 under emulation) and its outputs against
    the host's outputs through the same runtime (FP32: 1e-4 relative, no top-1 change; INT8: the INT8 tolerance).
    """
    import numpy as np

    f = work / "runtimes.json"
    planned: dict[str, Any] = json.loads(f.read_text(encoding="utf-8")) if f.exists() else {}
    listing = (bdir / "runtimes.txt").read_text(encoding="utf-8") if (bdir / "runtimes.txt").exists() else ""
    times = read_times(bdir / "times.txt")
    section: dict[str, Any] = {}
    problems: list[str] = []
    for rt, info in planned.items():
        r: dict[str, Any] = {}
        section[rt] = r
        if info.get("host") != "ok":
            r["status"] = info.get("host", "not checked")
            continue
        status, secs, reason = read_probe(bdir / "runtimes" / f"{rt}.probe")
        r["import_s"] = secs
        if status == "missing":
            r["status"] = "no probe"
            problems.append(f"{rt}: the device did not probe it (no runtimes/{rt}.probe)")
            continue
        if status != "ok":
            r["status"] = f"{NOT_RUNNABLE}: {reason or 'no reason given'}"
            continue
        r["status"] = "ok"
        line = next((x for x in listing.splitlines() if x.split()[:1] == [rt]), "")
        r["listed"] = line.strip()
        if "available" not in line or "not" in line.split()[1:2]:
            problems.append(f"{rt}: `edgebench runtimes` on the device says {line.strip()!r}, expected available")
        r["artifacts"] = {}
        for prec, art in info.get("artifacts", {}).items():
            a: dict[str, Any] = {"convert_s_host": art.get("convert_s")}
            r["artifacts"][prec] = a
            mine = [x for x in results if x["runtime"]["name"] == rt and x["model"].get("precision") == prec]
            if len(mine) != 1:
                problems.append(f"{rt} {prec}: {len(mine)} bench results on the device, expected 1")
            else:
                a["p50_ms_emulated"] = round(mine[0]["latency"]["p50_ms"], 3)
                a["peak_rss_mb"] = round(mine[0]["memory"]["peak_rss_mb"], 1)
            a["bench_s"] = next((t for fl, t in times if fl[0] == "bench" and fl[2:] == [rt, prec]), None)
            key = art["key"]
            dev_file, host_file = bdir / "outputs" / f"{key}.npz", work / "host" / "outputs" / f"{key}.npz"
            if not dev_file.exists():
                problems.append(f"{rt} {prec}: the device wrote no outputs ({dev_file.name})")
                continue
            dev = dict(np.load(dev_file))
            cmp = compare_outputs(dict(np.load(host_file)), dev, prec, f"the host's {rt}")
            a["outputs"] = cmp
            differs = ARM_RUNTIMES[rt].get(f"{prec}_arm_kernels")
            fp32_file = work / "host" / "outputs" / f"{key.rsplit('.', 1)[0]}.fp32.npz"
            if differs and fp32_file.exists():
                # the ARM kernels compute something else than x86's: the device against the host is information;
                # the device's INT8 against the host's FP32 (same runtime) must meet `edgebench convert`'s INT8 bar
                cmp["reference"] = "information"
                cmp["why"] = differs
                a["information"] = [f"{rt} {prec}: {x}" for x in cmp.pop("problems")]
                a["vs_host_fp32"] = agreement_with_fp32(dict(np.load(fp32_file)), dev)
                problems += [f"{rt} {prec}: {x}" for x in a["vs_host_fp32"].pop("problems")]
            else:
                cmp["reference"] = f"host {rt}"
                problems += [f"{rt} {prec}: {x}" for x in cmp.pop("problems")]
        r["outputs_s"] = next((t for fl, t in times if fl[0] == "outputs" and fl[2] == rt), None)
        r["device_s"] = round(sum(t for fl, t in times if (fl[0] == "bench" and fl[2] == rt)
                                  or (fl[0] in ("outputs", "probe") and rt in (fl[1], fl[2]))), 1)
    return section, problems


# The detector on the device vs its reference (the host's FP32 run; an INT8 model's QDQ reference), by precision:
# the least box agreement both ways of the decoded boxes with score >= 0.3 (`box_agreement_both_ways`: same class,
# IoU >= 0.5), and the largest |device - reference| `edgebench eval` mAP@0.5:0.95 on the COCO images, in points.
# FP32: `edgebench convert`'s FP32 box bar (ConvertTolerance.min_box_agreement_fp32, 99 %); the raw outputs within
# TOL["fp32"]; mAP within 0.1 (a float-rounding difference can reorder two equal-scored boxes, no more).
# INT8: the QDQ reference (float ops between exact Q/DQ steps) rounds differently from integer kernels (fused
# requantization at every step; the head's output steps are 0.058 wide): this host's own exact kernels (avx512_vnni),
# and the emulated Pi 4 / Pi 5 kernels (bit-identical to them), reach 86-92 % box agreement both ways with it on each
# 32-image window of the 128 COCO images (85-93 % on 16-image windows), move mAP by up to 2.0 points on 32 images
# (3.2 on 16) and differ in raw outputs by up to 4.7 (w/h logits, 61 % of the range): the raw outputs are
# information, boxes and mAP decide. The bars sit below those figures; a broken pipeline scores far lower (BGR fed as
# RGB: 55-61 %, per-tensor INT8 against FP32: 70 %; docs/detection.md).
DET_TOL: dict[str, dict[str, float]] = {"fp32": {"box_agreement_pct": 100 * ConvertTolerance().min_box_agreement_fp32,
                                                 "map_gap_pts": 0.1},
                                        "int8": {"box_agreement_pct": 80.0, "map_gap_pts": 3.0}}


def load_boxes(path: Path) -> list[Any]:
    """A KEY.boxes.npz (tools/arm_outputs.py) -> each image's `Detections`."""
    import numpy as np
    from edgebench.calibration.detection import detections_from_arrays

    return detections_from_arrays(dict(np.load(path)))


def compare_detector(host: tuple[dict[str, Any], list[Any]], dev: tuple[dict[str, Any], list[Any]],
                     precision: str, reference: tuple[dict[str, Any], list[Any]] | None = None,
                     exact: Any = None) -> dict[str, Any]:
    """The outputs check of a detector: (raw outputs, decoded boxes) of the device against the host (FP32) or the
    QDQ reference (INT8). Box agreement both ways >= DET_TOL decides; FP32's raw outputs must also be within TOL,
    INT8's are information (with the device's boxes against this host's kernels)."""
    from edgebench.calibration.detection import box_agreement_both_ways
    from edgebench.calibration.tasks import AGREEMENT_SCORE

    raw = compare_model_outputs(host[0], dev[0], precision, None if reference is None else reference[0], exact)
    # the classifier's saturation verdict compares raw outputs with TOL: for this head the figures are kept, the
    # verdict is not (exact kernels differ from the QDQ reference by more, see DET_TOL)
    raw.pop("host_kernels_saturate", None)
    raw.pop("info", None)
    base = host if reference is None else reference
    out: dict[str, Any] = {"precision": precision, "reference": raw["reference"], "n": len(dev[1]),
                           "bar_pct": DET_TOL[precision]["box_agreement_pct"]}
    problems: list[str] = []
    information = [f"raw outputs: {x}" for x in raw.pop("problems")] if reference is not None else []
    problems += [f"raw outputs: {x}" for x in raw.pop("problems", [])]
    out["raw"] = raw
    what = "the host's" if reference is None else "the QDQ reference's"
    if len(dev[1]) != len(base[1]):
        out["problems"] = [*problems, f"boxes for {len(dev[1])} images on the device, {len(base[1])} in {what}"]
        return out
    out.update(box_agreement_both_ways(dev[1], base[1], AGREEMENT_SCORE))
    bar = out["bar_pct"]
    if out["box_agreement_pct"] < bar:
        problems.append(f"box agreement {out['box_agreement_pct']:.1f} % < {bar:g} % ({precision}): the device "
                        f"reproduces {out['matched_boxes']} of {what} {out['reference_boxes']} boxes with score >= "
                        f"{AGREEMENT_SCORE} on {out['n']} images")
    if out["box_agreement_reverse_pct"] < bar:
        problems.append(f"reverse box agreement {out['box_agreement_reverse_pct']:.1f} % < {bar:g} % ({precision}): "
                        f"of the device's {out['boxes']} boxes, the share {what} boxes have")
    if reference is not None and len(host[1]) == len(dev[1]):
        kernels = box_agreement_both_ways(dev[1], host[1], AGREEMENT_SCORE)
        out["box_agreement_vs_host_kernels_pct"] = kernels["box_agreement_pct"]
        out["box_agreement_reverse_vs_host_kernels_pct"] = kernels["box_agreement_reverse_pct"]
    out["information"] = information
    out["problems"] = problems
    return out


def compare_detector_eval(host: dict[str, Any], dev: dict[str, Any], precision: str) -> dict[str, Any]:
    """`edgebench eval --json` of a detector on the device against the host's (INT8: its QDQ arithmetic): the same
    images and boxes (n, dataset_sha256), mAP@0.5:0.95 within DET_TOL's gap; mAP@0.5 recorded."""
    gap = DET_TOL[precision]["map_gap_pts"]
    out: dict[str, Any] = {"n": dev.get("n"), "map_pct_host": host.get("map_pct"), "map_pct_device": dev.get("map_pct"),
                           "map50_pct_host": host.get("map50_pct"), "map50_pct_device": dev.get("map50_pct"),
                           "gap_pts": gap, "host_arithmetic": host.get("arithmetic"),
                           "device_arithmetic": dev.get("arithmetic"), "device_s": dev.get("seconds")}
    problems = []
    if (host.get("n"), host.get("dataset_sha256")) != (dev.get("n"), dev.get("dataset_sha256")):
        problems.append(f"the device evaluated {dev.get('n')} images (dataset {str(dev.get('dataset_sha256'))[:12]}), "
                        f"the host {host.get('n')} ({str(host.get('dataset_sha256'))[:12]})")
    diff = abs(_num(dev.get("map_pct")) - _num(host.get("map_pct")))
    out["map_diff_pts"] = round(diff, 4)
    if not diff <= gap:
        problems.append(f"`edgebench eval` mAP {dev.get('map_pct')} on the device, {host.get('map_pct')} on the host "
                        f"(|diff| {diff:.2f} > {gap:g} points, {precision})")
    out["problems"] = problems
    return out


def verify_detector(work: Path, bdir: Path, cpu: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The detector on one board (work/detection.json, written by `prepare_detector`): (summary's `detection`
    section, problems). Per model: `compare_detector` on its raw outputs and boxes, `compare_detector_eval` on its
    mAP, and the device's time for each step (times.txt)."""
    import numpy as np
    from edgebench.calibration.recipes import model_arithmetic
    from edgebench.manifest import find_typed_manifest
    from edgebench.tools.arm_outputs import boxes_file

    f = work / "detection.json"
    info: dict[str, Any] = json.loads(f.read_text(encoding="utf-8")) if f.exists() else {"host": "not prepared"}
    if info.get("host") != "ok":
        return {"status": info.get("host")}, []
    times = read_times(bdir / "times.txt")
    section: dict[str, Any] = {"status": "ok", "model": info["model"], "n": info["n"], "gt_boxes": info["gt_boxes"],
                               "host_models": info["models"], "host_build_s": info.get("build_s"),
                               "host_s": info["host_s"],
                               "outputs_s": next((t for fl, t in times if fl[:2] == ["outputs",
                                                                                    "outputs-detection.txt"]), None)}
    problems: list[str] = []
    for prec, key in info["keys"].items():
        rel = f"models/{info['model']}/model.{prec}.onnx"
        d: dict[str, Any] = {}
        section[prec] = d
        host_f, dev_f = work / "host" / "outputs" / f"{key}.npz", bdir / "outputs" / f"{key}.npz"
        if not (dev_f.exists() and boxes_file(dev_f).exists()):
            problems.append(f"{key}: the device wrote no outputs or boxes ({dev_f.name})")
        else:
            ref_f = work / "host" / "reference" / f"{key}.npz"
            ref = (dict(np.load(ref_f)), load_boxes(boxes_file(ref_f))) if ref_f.exists() else None
            exact = model_arithmetic(find_typed_manifest(work / rel), cpu) if ref is not None else None
            cmp = compare_detector((dict(np.load(host_f)), load_boxes(boxes_file(host_f))),
                                   (dict(np.load(dev_f)), load_boxes(boxes_file(dev_f))), prec, ref, exact)
            d["outputs"] = cmp
            problems += [f"{key}: {x}" for x in cmp.pop("problems")]
        dev_eval = bdir / "eval" / f"{key}.json"
        if not dev_eval.exists():
            problems.append(f"{key}: the device wrote no `edgebench eval` result ({dev_eval.name})")
            continue
        e = compare_detector_eval(json.loads((work / "host" / f"{key}.eval.json").read_text(encoding="utf-8")),
                                  json.loads(dev_eval.read_text(encoding="utf-8")), prec)
        kernels = work / "host" / f"{key}.eval-host-kernels.json"
        if kernels.exists():  # information: this host's own integer kernels
            e["map_pct_host_kernels"] = json.loads(kernels.read_text(encoding="utf-8")).get("map_pct")
        e["eval_s"] = next((t for fl, t in times if fl[0] == "eval-detection" and fl[3] == key), None)
        d["eval"] = e
        problems += [f"{key}: {x}" for x in e.pop("problems")]
    section["device_s"] = round(sum(t for fl, t in times if fl[0] == "eval-detection"
                                    or fl[:2] == ["outputs", "outputs-detection.txt"]), 1)
    return section, problems


def log_detection(det: dict[str, Any]) -> None:
    """The log lines of one board's `detection` section (verify_detector)."""
    if det.get("status") != "ok":
        log(f"  detector: {det.get('status')}")
        return
    for prec in ("fp32", "int8"):
        o, e = det[prec].get("outputs", {}), det[prec].get("eval", {})
        ref = "QDQ reference" if o.get("reference") == "qdq" else "host"
        log(f"  detector {det['model']} {prec}: box agreement with the {ref} {_num(o.get('box_agreement_pct')):.1f} % "
            f"/ reverse {_num(o.get('box_agreement_reverse_pct')):.1f} % (bar {o.get('bar_pct')} %; "
            f"{o.get('reference_boxes')} / {o.get('boxes')} boxes on {o.get('n')} images), raw max |diff| "
            f"{_num(o.get('raw', {}).get('max_abs_diff')):.3g}; mAP {_num(e.get('map_pct_device')):.2f} (host "
            f"{_num(e.get('map_pct_host')):.2f}, |diff| {e.get('map_diff_pts')} <= {e.get('gap_pts')})")
        if "box_agreement_vs_host_kernels_pct" in o:
            log(f"    information: box agreement with this host's kernels "
                f"{o['box_agreement_vs_host_kernels_pct']:.1f} % / reverse "
                f"{o['box_agreement_reverse_vs_host_kernels_pct']:.1f} %, their mAP "
                f"{_num(e.get('map_pct_host_kernels')):.2f}")
    log(f"  detector: {det['device_s']} s on the device (outputs {det['outputs_s']} s, the rest `edgebench eval`)")


def _num(x: Any) -> float:
    """A figure for a log line: NaN where a comparison could not be made (e.g. different output names)."""
    return float("nan") if x is None else float(x)


def _load_host_cpu(work: Path) -> dict[str, Any]:
    f = work / "host" / "cpu.json"
    return json.loads(f.read_text(encoding="utf-8")) if f.exists() else host_cpu()


def cmd_verify(args: argparse.Namespace) -> int:
    import numpy as np
    from edgebench.calibration.recipes import model_arithmetic
    from edgebench.manifest import find_typed_manifest

    work, out = Path(args.work), Path(args.out)
    plan = (work / "plan.txt").read_text(encoding="utf-8").split("\n")
    cpu = _load_host_cpu(work)
    summary: dict[str, Any] = {"boards": {}, "emulated": True,
                               "note": "timings below come from qemu-user emulation; they are not device speed"}
    problems: list[str] = []
    for board in args.boards:
        bdir = work / "out" / board
        b: dict[str, Any] = {"qemu_cpu": {"pi4": "cortex-a72", "pi5": "cortex-a76"}[board]}
        fp = json.loads((bdir / "sysinfo.json").read_text(encoding="utf-8"))
        p = check_sysinfo(fp, board)
        b["fingerprint"] = {"arch": fp["cpu"]["arch"], "core": fp["cpu"]["arm_core"], "board": fp["board"]["model"],
                            "isa": {k: v for k, v in fp["cpu"]["isa"].items() if v}, "emulated": fp["emulated"]}
        paths = sorted((bdir / "results").glob("*.json"))
        results = [json.loads(q.read_text(encoding="utf-8")) for q in paths]
        runtimes, rp = verify_runtimes(work, bdir, results)
        skipped = {rt for rt, r in runtimes.items() if r.get("status") != "ok"}
        n_bench = sum(1 for line in plan if line.startswith("bench ")
                      and (len(line.split()) < 3 or line.split()[2] not in skipped))
        if len(results) != n_bench:
            p.append(f"{len(results)} result files for {n_bench} bench commands")
        p += check_results(results, paths, board)
        b["bench_emulated"] = {r["model"]["name"]: {"p50_ms_emulated": round(r["latency"]["p50_ms"], 3),
                                                     "peak_rss_mb": round(r["memory"]["peak_rss_mb"], 1)}
                               for r in results}
        b["outputs"] = {}
        for line in (work / "outputs.txt").read_text(encoding="utf-8").splitlines():
            rel, _, key = line.split()
            host_out = dict(np.load(work / "host" / "outputs" / f"{key}.npz"))
            dev_out = dict(np.load(bdir / "outputs" / f"{key}.npz"))
            ref_file = work / "host" / "reference" / f"{key}.npz"
            ref_out = dict(np.load(ref_file)) if ref_file.exists() else None
            man = find_typed_manifest(work / rel) if ref_out is not None else None
            exact = model_arithmetic(man, cpu) if ref_out is not None else None
            cmp = compare_model_outputs(host_out, dev_out, precision_of(work / rel), ref_out, exact)
            b["outputs"][key] = cmp
            p += [f"{key}: {x}" for x in cmp.pop("problems")]
        b["eval"] = {}
        for line in plan:
            if not line.startswith("eval "):
                continue
            key = line.split()[3]
            host = json.loads((work / "host" / f"{key}.eval.json").read_text(encoding="utf-8"))
            dev = json.loads((bdir / "eval" / f"{key}.json").read_text(encoding="utf-8"))
            gap = tolerance(precision_of(work / line.split()[1]))["flip_pct"]
            same = host.get("n") == dev.get("n") and all(
                abs(float(host.get(k, "nan")) - float(dev.get(k, "nan"))) <= gap for k in ("top1_pct", "top5_pct"))
            b["eval"][key] = {"n": dev.get("n"), "top1_pct_host": host.get("top1_pct"),
                              "top1_pct_device": dev.get("top1_pct"), "top5_pct_host": host.get("top5_pct"),
                              "top5_pct_device": dev.get("top5_pct"), "within_tolerance": same,
                              "host_arithmetic": host.get("arithmetic"), "device_arithmetic": dev.get("arithmetic")}
            kernels = work / "host" / f"{key}.eval-host-kernels.json"
            if kernels.exists():  # information: this host's own integer kernels
                hk = json.loads(kernels.read_text(encoding="utf-8"))
                b["eval"][key].update(top1_pct_host_kernels=hk.get("top1_pct"),
                                      top5_pct_host_kernels=hk.get("top5_pct"))
            if not same:
                p.append(f"{key}: `edgebench eval` gives {dev.get('top1_pct')} / {dev.get('top5_pct')} % top-1/top-5 "
                         f"on {dev.get('n')} images, the host {host.get('top1_pct')} / {host.get('top5_pct')} %")
        targeted = work / "models" / f"resnet20-{board}" / "model.int8.json"
        if targeted.exists():
            got = json.loads(targeted.read_text(encoding="utf-8")).get("preset", {}).get("preset")
            b["targeted_int8_preset"] = got
            if got != EXPECT[board]["preset"]:
                p.append(f"`quantize --target {board}` used preset {got!r}, expected {EXPECT[board]['preset']!r}")
        if any(line == "preset" for line in plan):
            got = (bdir / "preset.txt").read_text(encoding="utf-8").strip()
            b["auto_preset"] = got
            if got != EXPECT[board]["preset"]:
                p.append(f"the auto preset is {got!r}, expected {EXPECT[board]['preset']!r}")
        b["runtimes"] = runtimes
        p += rp
        b["detection"], dp = verify_detector(work, bdir, cpu)
        p += dp
        b["problems"] = p
        summary["boards"][board] = b
        problems += [f"{board}: {x}" for x in p]
        fpr = b["fingerprint"]
        log(f"{board}: {fpr['core']} ({fpr['board']}), isa {sorted(fpr['isa'])}, "
            f"auto preset {b.get('auto_preset', 'not checked')}, {len(results)} bench results (emulated)")
        for key, o in b["outputs"].items():
            ref = "QDQ reference" if o.get("reference") == "qdq" else "host"
            log(f"  outputs {key} ({o.get('precision')}): {o.get('n')} test images, max |device - {ref}| "
                f"{o.get('max_abs_diff', float('nan')):.3g} ({o.get('max_rel_diff', float('nan')):.2g} of the range)"
                f"{', bit-identical' if o.get('bit_identical') else ''}, "
                f"top-1 flips {o.get('top1_flips')}")
            if o.get("reference") == "qdq":
                log(f"    information: max |device - host kernels| {_num(o['max_abs_diff_vs_host_kernels']):.3g} "
                    f"(top-1 flips {o['top1_flips_vs_host_kernels']}), max |host kernels - QDQ reference| "
                    f"{_num(o['host_kernels_vs_reference_max_abs_diff']):.3g} "
                    f"(top-1 flips {o['host_kernels_vs_reference_top1_flips']})")
                if o["host_kernels_saturate"]:
                    why = (o.get("host_arithmetic") or {}).get("reason") or "; ".join(o["info"])
                    log(f"    this host's own integer kernels saturate for {key} ({why}): not used as the reference")
        for rt, r in runtimes.items():
            if r.get("status") != "ok":
                log(f"  runtime {rt}: {r.get('status')}")
                continue
            for prec, a in r["artifacts"].items():
                o = a.get("outputs", {})
                if "vs_host_fp32" in a:
                    log(f"  runtime {rt} {prec}: top-1 agreement with the host's {rt} FP32 "
                        f"{a['vs_host_fp32'].get('top1_agreement')} (bar {a['vs_host_fp32'].get('bar')}); "
                        f"vs the host's {rt} {prec} as information ({o.get('why')})")
                log(f"  runtime {rt} {prec}: import {r.get('import_s')} s, p50 {a.get('p50_ms_emulated')} ms "
                    "(emulated), "
                    f"max |device - host {rt}| {_num(o.get('max_abs_diff')):.3g} "
                    f"({_num(o.get('max_rel_diff')):.2g} of the range), top-1 flips {o.get('top1_flips')}")
            log(f"  runtime {rt}: {r.get('device_s')} s on the device (probe, bench, outputs)")
        log_detection(b["detection"])
        for key, e in b["eval"].items():
            log(f"  eval {key}: top-1 {e['top1_pct_device']} % (host {e['top1_pct_host']} %), top-5 "
                f"{e['top5_pct_device']} % (host {e['top5_pct_host']} %) on {e['n']} images")
        log(f"  {board}: " + ("; ".join(p) if p else "all checks passed"))
    summary["checks_passed"] = not problems
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    for x in problems:
        log(f"FAILED: {x}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("mirror")
    s.add_argument("--suite", default="bookworm")
    s.set_defaults(fn=cmd_mirror)
    sub.add_parser("base-requirements").set_defaults(fn=cmd_base_requirements)
    s = sub.add_parser("check-pip-list")
    s.add_argument("file")
    s.add_argument("--runtimes", default="", help="ARM runtimes whose packages must be installed too")
    s.add_argument("--unavailable", default=None, help="file of runtimes (first word a line) without a wheel")
    s.set_defaults(fn=cmd_check_pip_list)
    s = sub.add_parser("runtime-requirements")
    s.add_argument("--runtimes", required=True, help="comma-separated: " + ",".join(ARM_RUNTIMES))
    s.set_defaults(fn=cmd_runtime_requirements)
    s = sub.add_parser("layer-files")
    s.add_argument("report", help="pip install --dry-run --report of the runtimes in the base venv")
    s.add_argument("base", help="the base venv's pip list --format=json")
    s.set_defaults(fn=cmd_layer_files)
    s = sub.add_parser("prepare")
    s.add_argument("--work", required=True)
    s.add_argument("--eval-n", type=int, default=EVAL_N_DEFAULT)
    s.add_argument("--outputs-n", type=int, default=OUTPUTS_N_DEFAULT)
    s.add_argument("--model-dirs", nargs="*", default=[], help="more model folders to check")
    s.add_argument("--no-pruned", dest="pruned", action="store_false", help="skip the pruned ResNet-20")
    s.add_argument("--runtimes", default="", help="ARM runtimes to check besides ONNX Runtime (comma-separated)")
    s.add_argument("--detector-n", type=int, default=DETECTOR_N_DEFAULT,
                   help="COCO images the detector (FastestDet FP32 + INT8) runs on; 0 leaves it out")
    s.add_argument("--detector-cache", default=None,
                   help="folder the host's FastestDet models are built in and reused from (default: beside --work)")
    s.set_defaults(fn=cmd_prepare)
    s = sub.add_parser("verify")
    s.add_argument("--work", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--boards", nargs="+", default=["pi4", "pi5"], choices=sorted(EXPECT))
    s.set_defaults(fn=cmd_verify)
    args = ap.parse_args(argv)
    try:
        return int(args.fn(args))
    except CheckFailed as e:
        log(f"FAILED: {e}")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
