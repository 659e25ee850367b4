"""The package's shape: one top-level package, imports pointing down the layers, no import cycles.

The import graph is read from the source with `ast` (module-level and function-level imports alike:
a lazy import is still a dependency), so a test fails the moment someone writes an upward import.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# repository folder -> package name (pyproject.toml [tool.setuptools.package-dir])
FOLDERS = {"core": "edgebench", "runtimes": "edgebench.runtimes", "calibration": "edgebench.calibration",
           "exporter": "edgebench.exporter", "bench": "edgebench.bench", "devices": "edgebench.devices",
           "sweep": "edgebench.sweep", "cli": "edgebench.cli", "tools": "edgebench.tools"}
# layer of each package, bottom (0) to top; a module may import its own layer and the ones below
LAYER = {"edgebench": 0, "edgebench.runtimes": 1, "edgebench.calibration": 2, "edgebench.exporter": 3,
         "edgebench.bench": 3, "edgebench.devices": 4, "edgebench.sweep": 5, "edgebench.cli": 6, "edgebench.tools": 6}
# packages a layer must never import, whatever the layer numbers say
FORBIDDEN = {"edgebench.bench": {"edgebench.exporter"}, "edgebench.exporter": {"edgebench.bench"},
             "edgebench.devices": {"edgebench.exporter"}}
# third-party modules each layer may import (besides the standard library)
ALLOWED_THIRD_PARTY = {"edgebench": {"numpy"}}


def modules() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the package."""
    out: dict[str, Path] = {}
    for folder, pkg in FOLDERS.items():
        for f in sorted((REPO / folder).rglob("*.py")):
            rel = f.relative_to(REPO / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([pkg, *parts])] = f
    return out


MODULES = modules()


def package_of(mod: str) -> str:
    """The layer package a module belongs to ('edgebench' for the core modules)."""
    best = "edgebench"
    for pkg in LAYER:
        if (mod == pkg or mod.startswith(pkg + ".")) and len(pkg) > len(best):
            best = pkg
    return best


def imports_of(mod: str, path: Path) -> set[str]:
    """Every absolute module name `mod` imports (module-level or inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = {f"{target}.{a.name}" for a in node.names} & set(MODULES)  # `from pkg import submodule`
            out |= subs
            if len(subs) < len(node.names):  # some name is an attribute of `target` itself
                out.add(target)
    return out


def edges() -> dict[str, set[str]]:
    return {m: {t for t in imports_of(m, p) if t in MODULES and t != m} for m, p in MODULES.items()}


def test_every_folder_is_a_package() -> None:
    for folder in FOLDERS:
        assert (REPO / folder / "__init__.py").is_file(), f"{folder}/ has no __init__.py"
    assert "edgebench.errors" in MODULES and "edgebench.bench.harness" in MODULES


def test_imports_point_down_the_layers() -> None:
    bad = []
    for m, targets in edges().items():
        src = package_of(m)
        for t in targets:
            dst = package_of(t)
            if LAYER[dst] > LAYER[src] or dst in FORBIDDEN.get(src, set()):
                bad.append(f"{m} imports {t} ({src} must not import {dst})")
            elif LAYER[dst] == LAYER[src] and dst != src:
                bad.append(f"{m} imports {t} (sibling layers {src} and {dst} stay independent)")
    assert not bad, "\n".join(sorted(bad))


def test_core_imports_only_the_standard_library_and_numpy() -> None:
    stdlib = set(sys.stdlib_module_names)
    bad = []
    for m, p in MODULES.items():
        if package_of(m) != "edgebench":
            continue
        for t in imports_of(m, p):
            top = t.split(".")[0]
            if top not in stdlib and top != "edgebench" and top not in ALLOWED_THIRD_PARTY["edgebench"]:
                bad.append(f"{m} imports {t}")
    assert not bad, "\n".join(bad)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for t in sorted(graph.get(n, ())):
            if state.get(t) == 1:
                return [*stack[stack.index(t):], t]
            if t not in state:
                found = visit(t)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycles() -> None:
    cycle = find_cycle(edges())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.slow
def test_wheel_holds_one_top_level_package(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True, text=True)
    (wheel,) = tmp_path.glob("edgebench-*.whl")
    tops = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"edgebench"}
    names = zipfile.ZipFile(wheel).namelist()
    assert "edgebench/bench/harness.py" in names and "edgebench/errors.py" in names
    assert "edgebench/data/imagenet_synsets.txt" in names  # package-data: --labels imagenet on the device
