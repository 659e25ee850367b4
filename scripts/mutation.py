"""Mutation testing of the modules that compute the figures users read (`make mutation`), with cosmic-ray.

For each module below: write a cosmic-ray config, `cosmic-ray init` (one work item per mutant), skip the
operators and lines out of scope (cosmic-ray's own `cr-filter-operators` / `cr-filter-lines`), check the
tests pass unmutated (`cosmic-ray baseline`), `cosmic-ray exec` (mutates the file in place, runs the
module's tests, restores it), then read the work database and write the score per module to
artifacts/mutation/score.json with every survivor (line, operator, diff).

Why cosmic-ray and not mutmut 3: mutmut 3 copies the tree into mutants/ and names mutants after the file
path (``bench.stats``), which only works for ./, src/ or source/ layouts; here setuptools' package-dir
maps root folders into ``edgebench.*`` so mutmut's trampolines would never fire. cosmic-ray mutates the
file in place, which the editable install imports as it is.

    python scripts/mutation.py                 # every module (30-40 min on a loaded 2-core machine)
    python scripts/mutation.py stats evaluate  # some of them
    python scripts/mutation.py --list
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "artifacts" / "mutation"
BIN = Path(sys.executable).parent

# Operators left out, with why (regular expressions over cosmic-ray's operator names):
EXCLUDED_OPERATORS = [
    # + - * / are swapped among themselves; a swap into **, %, //, bit or shift operators is killed by the
    # same tests and only multiplies the run time
    r"core/ReplaceBinaryOperator_.*_(Pow|Mod|FloorDiv|RShift|LShift|BitOr|BitAnd|BitXor)$",
    # `|` in these modules is a type union (`int | float` in isinstance), not arithmetic
    r"core/ReplaceBinaryOperator_(BitOr|BitAnd|BitXor|RShift|LShift|Pow|Mod)_.*",
    # `==` -> `is` on numbers and strings is an identity test, not a figure
    r"core/ReplaceComparisonOperator_(Eq|NotEq|Lt|LtE|Gt|GtE)_(Is|IsNot)$",
    # removing @dataclass/@classmethod breaks every caller at import (killed by any test); random variable
    # rewiring (VariableReplacer/Inserter) is not reproducible between runs
    r"core/RemoveDecorator", r"core/VariableReplacer", r"core/VariableInserter",
]


@dataclass(frozen=True)
class Module:
    name: str
    path: str  # the file mutated, relative to the repository root
    tests: tuple[str, ...]  # what pytest runs for each mutant (the module itself too: its doctests)
    functions: tuple[str, ...] = ()  # only these top-level functions are mutated (all of the file when empty)
    what: str = ""


MODULES = [
    Module("stats", "bench/stats.py", ("bench/stats.py", "tests/bench/test_stats.py"),
           what="percentiles, CI of the median, noisy flag"),
    Module("evaluate", "calibration/metrics.py",
           ("calibration/metrics.py", "tests/bench/test_paired_metrics.py",
            "tests/bench/test_eval_baseline.py::test_paired_metrics_counts_each_direction"),
           functions=("topk_hits", "paired_metrics"),
           what="paired metrics (agreement, flips, top-1 delta) and top-k; evaluate()'s ONNX loop is I/O"),
    Module("efficiency", "bench/efficiency.py", ("bench/efficiency.py", "tests/bench/test_efficiency.py"),
           what="peak MACs/cycle, peak GMAC/s, achieved GMAC/s, fraction of peak"),
    Module("report_figures", "bench/report/analysis.py",
           ("tests/bench/test_report_figures.py", "tests/bench/test_report_columns.py"),
           functions=("with_efficiency", "with_flags", "with_speedup", "speedups", "best_per_machine"),
           what="speed-ups and their ranges, efficiency per row, noisy flags, fastest per machine"),
    Module("recipes", "calibration/recipes.py",
           ("calibration/recipes.py", "tests/calibration/test_recipes.py", "tests/calibration/test_recipes_mutants.py"),
           what="INT8 presets, preset choice from ISA flags, translation to ORT arguments"),
    Module("prune_ratios", "exporter/prune/config.py",
           ("exporter/prune/config.py", "tests/exporter/test_prune_config.py", "tests/exporter/test_prune_ratios.py"),
           what="pruning ratios: parsing, per-layer resolution, rounding, kept channels"),
]


def function_lines(path: Path, names: tuple[str, ...]) -> list[str]:
    """'start-end' line ranges of the top-level functions `names` in `path` (decorators included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    missing = [n for n in names if n not in found]
    if missing:
        raise SystemExit(f"{path}: no top-level function {missing}; update MODULES in {Path(__file__).name}")
    out = []
    for n in names:
        node = found[n]
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        out.append(f"{start}-{node.end_lineno}")
    return out


def toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def write_config(m: Module, cfg: Path) -> None:
    tests = " ".join(m.tests)
    cmd = f"{BIN / 'python'} -m pytest -x -q -p no:cacheprovider --no-header -W ignore {tests}"
    lines = [
        "[cosmic-ray]",
        f"module-path = {toml_str(m.path)}",
        "timeout = 60.0",
        "excluded-modules = []",
        f"test-command = {toml_str(cmd)}",
        "",
        "[cosmic-ray.distributor]",
        'name = "local"',
        "",
        "[cosmic-ray.filters.operators-filter]",
        "exclude-operators = [" + ", ".join(toml_str(o) for o in EXCLUDED_OPERATORS) + "]",
    ]
    if m.functions:
        ranges = function_lines(ROOT / m.path, m.functions)
        lines += ["", "[cosmic-ray.filters.line-filter.lines]",
                  f"{toml_str(m.path)} = [" + ", ".join(toml_str(r) for r in ranges) + "]"]
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(*args: str) -> None:
    subprocess.run([str(a) for a in args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def mutate(m: Module) -> dict:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    cfg, db = OUT / f"{m.name}.toml", OUT / f"{m.name}.sqlite"
    db.unlink(missing_ok=True)
    write_config(m, cfg)
    t0 = time.perf_counter()
    run(BIN / "cosmic-ray", "init", cfg, db)
    run(BIN / "cr-filter-operators", db, cfg)
    if m.functions:
        run(BIN / "cr-filter-lines", db, "--config", cfg)
    base = subprocess.run([BIN / "cosmic-ray", "baseline", cfg], cwd=ROOT, capture_output=True, text=True)
    if base.returncode != 0:
        raise SystemExit(f"{m.name}: the tests fail without any mutation; fix them first\n{base.stdout}{base.stderr}")
    run(BIN / "cosmic-ray", "exec", cfg, db)
    seconds = time.perf_counter() - t0
    killed = survived = incompetent = skipped = 0
    survivors = []
    with use_db(str(db), WorkDB.Mode.open) as wdb:
        for item, result in wdb.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                skipped += 1
            elif result.test_outcome == TestOutcome.SURVIVED:
                survived += 1
                mut = item.mutations[0]
                survivors.append({"line": mut.start_pos[0], "operator": mut.operator_name,
                                  "occurrence": mut.occurrence, "diff": _short_diff(result.diff or "")})
            elif result.test_outcome == TestOutcome.INCOMPETENT:
                incompetent += 1
            else:
                killed += 1
        pending = sum(1 for _ in wdb.pending_work_items)
    tested = killed + survived + incompetent
    return {
        "module": m.path, "what": m.what, "functions": list(m.functions), "tests": list(m.tests),
        "mutants": tested, "killed": killed, "survived": survived, "incompetent": incompetent,
        "skipped_out_of_scope": skipped, "pending": pending,
        "score": round((killed + incompetent) / tested, 4) if tested else None,
        "seconds": round(seconds, 1),
        "survivors": sorted(survivors, key=lambda s: (s["line"], s["operator"])),
    }


def _short_diff(diff: str) -> str:
    return "\n".join(ln for ln in diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("modules", nargs="*", help="module names (default: all); see --list")
    ap.add_argument("--list", action="store_true", help="list the modules and exit")
    args = ap.parse_args(argv)
    if args.list:
        for m in MODULES:
            print(f"{m.name:15s} {m.path:28s} {m.what}")
        return 0
    known = {m.name: m for m in MODULES}
    unknown = [n for n in args.modules if n not in known]
    if unknown:
        print(f"unknown module(s) {unknown}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    score_file = OUT / "score.json"
    scores = json.loads(score_file.read_text(encoding="utf-8")) if score_file.exists() else {"modules": {}}
    t0 = time.perf_counter()
    for name in args.modules or list(known):
        r = mutate(known[name])
        scores["modules"][name] = r
        print(f"{name:15s} {r['killed'] + r['incompetent']:4d}/{r['mutants']:<4d} killed "
              f"({100 * (r['score'] or 0):5.1f} %), {r['survived']} survived, {r['seconds']:.0f} s", flush=True)
        for s in r["survivors"]:
            print(f"    line {s['line']}: {s['operator']}  {s['diff'].splitlines()[-1] if s['diff'] else ''}")
    mods = scores["modules"].values()
    total = sum(r["mutants"] for r in mods)
    dead = sum(r["killed"] + r["incompetent"] for r in mods)
    scores.update(total_mutants=total, total_killed=dead, score=round(dead / total, 4) if total else None,
                  last_run_seconds=round(time.perf_counter() - t0, 1), tool="cosmic-ray",
                  excluded_operators=EXCLUDED_OPERATORS)
    tmp = score_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
    tmp.replace(score_file)
    print(f"all: {dead}/{total} killed ({100 * dead / max(total, 1):.1f} %) -> {score_file.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
