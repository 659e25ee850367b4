"""Host side of `make arm-check` (scripts/arm_check.sh runs it with the project's .venv).

Subcommands:
  mirror              the Debian mirror of this machine's own apt sources (no registry host lives in the repo)
  base-requirements   edgebench's base dependencies from pyproject.toml, one per line
  check-pip-list F    the root's `pip list --format=json`: edgebench present, no torch (the device install)
  prepare --work W    models, data and the plan of device commands in W; the host's own eval predictions
  verify --work W     check what the device commands wrote (fingerprints, presets, schema, predictions)
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED_TEST_NPZ = REPO.parent / "shared" / "data" / "cifar10" / "test_first1000.npz"
# Packages that must never be in the device install.
FORBIDDEN = ("torch", "torchvision", "torch-pruning", "torch_pruning", "onnxscript", "onnxslim")
# What each emulated board must look like, and the INT8 preset `auto` must pick for it.
EXPECT: dict[str, dict[str, Any]] = {
    "pi4": {"core": "Cortex-A72", "asimddp": False, "preset": "arm64-neon", "board": "Raspberry Pi 4"},
    "pi5": {"core": "Cortex-A76", "asimddp": True, "preset": "arm64-dotprod", "board": "Raspberry Pi 5"},
}
EXPORT_DIRS = ("artifacts/resnet20", "artifacts/resnet20-pruned")
EVAL_N_DEFAULT = 1000


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


def check_pip_list(packages: list[dict[str, str]]) -> list[str]:
    """Problems with the device install's package list (empty when it is right)."""
    names = {p["name"].lower().replace("_", "-"): p["version"] for p in packages}
    problems = [f"'{f}' is installed in the device install" for f in FORBIDDEN if f.replace("_", "-") in names]
    if "edgebench" not in names:
        problems.append("edgebench is not installed")
    for req in base_requirements():
        name = re.split(r"[<>=!~; \[]", req, maxsplit=1)[0].lower().replace("_", "-")
        if name not in names:
            problems.append(f"base dependency '{name}' is missing")
    return problems


def cmd_check_pip_list(args: argparse.Namespace) -> int:
    packages = json.loads(Path(args.file).read_text(encoding="utf-8"))
    problems = check_pip_list(packages)
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


def cmd_prepare(args: argparse.Namespace) -> int:
    from bench.synthetic import conv_net

    work = Path(args.work)
    models = work / "models"
    plan: list[str] = []
    conv_net(models / "synthetic" / "synthetic.onnx", size=32, channels=16, n_convs=3)
    plan.append("bench models/synthetic/synthetic.onnx")
    exported: list[Path] = []
    for d in EXPORT_DIRS:
        src = REPO / d
        for onnx in sorted(src.glob("model.*.onnx")):
            dst = models / src.name
            dst.mkdir(parents=True, exist_ok=True)
            for f in (onnx, onnx.with_suffix(".json")):
                if f.exists():
                    shutil.copy2(f, dst / f.name)
            exported.append(dst / onnx.name)
            plan.append(f"bench models/{src.name}/{onnx.name}")
    if not exported:
        log("no exported models (run `make export` first); only the synthetic model is benchmarked")
    eval_ok = has_command("eval")
    if exported and not eval_ok:
        log("`edgebench eval` does not exist yet: predictions are not compared")
    if exported and eval_ok and not SHARED_TEST_NPZ.exists():
        log(f"{SHARED_TEST_NPZ} is absent: predictions are not compared")
    if exported and eval_ok and SHARED_TEST_NPZ.exists():
        (work / "data").mkdir(exist_ok=True)
        shutil.copy2(SHARED_TEST_NPZ, work / "data" / "test.npz")
        host = work / "host"
        host.mkdir(exist_ok=True)
        for m in exported:
            rel = m.relative_to(work)
            out = host / (rel.parent.name + "." + m.stem + ".json")
            r = _edgebench("eval", str(m), "--dataset", str(work / "data" / "test.npz"), "--limit", str(args.eval_n),
                           "--json")
            if r.returncode != 0:
                log(f"host eval of {rel} failed: {r.stderr.strip()}")
                return 1
            out.write_text(r.stdout, encoding="utf-8")
            plan.append(f"eval {rel} {args.eval_n}")
    if preset_api():
        (work / "preset.py").write_text(PRESET_SNIPPET, encoding="utf-8")
        plan.append("preset")
    else:
        log("calibration.recipes.resolve_preset does not exist yet: the auto preset is not checked")
    (work / "plan.txt").write_text("\n".join(plan) + "\n", encoding="utf-8")
    log("plan: " + "; ".join(plan))
    return 0


# Run on the device: the INT8 preset `edgebench quantize --preset auto` would choose there.
PRESET_SNIPPET = """from bench.fingerprint import fingerprint
from calibration.recipes import resolve_preset

print(resolve_preset("auto", cpu=fingerprint()["cpu"]).preset)
"""


def preset_api() -> bool:
    try:
        from calibration.recipes import resolve_preset  # noqa: F401
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
    from bench.schema import validate_result
    from runtimes.errors import ResultSchemaError

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


def cmd_verify(args: argparse.Namespace) -> int:
    work, out = Path(args.work), Path(args.out)
    plan = (work / "plan.txt").read_text(encoding="utf-8").split("\n")
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
        n_bench = sum(1 for line in plan if line.startswith("bench "))
        if len(results) != n_bench:
            p.append(f"{len(results)} result files for {n_bench} bench commands")
        p += check_results(results, paths, board)
        b["bench_emulated"] = {r["model"]["name"]: {"p50_ms_emulated": round(r["latency"]["p50_ms"], 3),
                                                     "peak_rss_mb": round(r["memory"]["peak_rss_mb"], 1)}
                               for r in results}
        b["eval"] = {}
        for line in plan:
            if not line.startswith("eval "):
                continue
            rel = Path(line.split()[1])
            key = rel.parent.name + "." + rel.stem
            host = json.loads((work / "host" / f"{key}.json").read_text(encoding="utf-8"))
            dev = json.loads((bdir / "eval" / f"{key}.json").read_text(encoding="utf-8"))
            diff, n = agreement(host["predictions"], dev["predictions"])
            b["eval"][key] = {"n": n, "flipped_vs_host": diff, "top1_pct_host": host["top1_pct"],
                              "top1_pct_device": dev["top1_pct"]}
            if diff:
                p.append(f"{key}: {diff} of {n} top-1 predictions differ from the host's")
        if any(line == "preset" for line in plan):
            got = (bdir / "preset.txt").read_text(encoding="utf-8").strip()
            b["auto_preset"] = got
            if got != EXPECT[board]["preset"]:
                p.append(f"the auto preset is {got!r}, expected {EXPECT[board]['preset']!r}")
        b["problems"] = p
        summary["boards"][board] = b
        problems += [f"{board}: {x}" for x in p]
        log(f"{board}: {b['fingerprint']['core']} ({b['fingerprint']['board']}), "
            f"{len(results)} results, eval {b['eval'] or 'not run'}, preset {b.get('auto_preset', 'not checked')}"
            f"{' -- ' + '; '.join(p) if p else ' -- ok'}")
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
    s.set_defaults(fn=cmd_check_pip_list)
    s = sub.add_parser("prepare")
    s.add_argument("--work", required=True)
    s.add_argument("--eval-n", type=int, default=EVAL_N_DEFAULT)
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
