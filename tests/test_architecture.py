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
from edgebench.tools.architecture import (
    ALLOWED_THIRD_PARTY,
    FOLDERS,
    FORBIDDEN,
    LAYER,
    REPO,
    modules,
    package_of,
)

MODULES = modules()


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
    import shutil

    from edgebench.devices.remote import _not_source

    src = tmp_path / "src"  # a clean copy, as `device setup` builds it: a stale build/ adds moved modules back
    shutil.copytree(REPO, src, ignore=_not_source(REPO))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path), str(src)], check=True, capture_output=True, text=True)
    (wheel,) = tmp_path.glob("edgebench-*.whl")
    tops = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"edgebench"}
    names = zipfile.ZipFile(wheel).namelist()
    assert "edgebench/bench/harness.py" in names and "edgebench/errors.py" in names
    assert "edgebench/data/imagenet_synsets.txt" in names  # package-data: --labels imagenet on the device
    wheel_modules = {n.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for n in names
                     if n.endswith(".py")}
    assert wheel_modules == set(MODULES), f"the wheel and the source differ: {sorted(wheel_modules ^ set(MODULES))}"


def entry_point_consumers() -> dict[str, set[str]]:
    """Entry-point group -> the modules that load it (`entry_points(group=...)`, a literal or a module constant)."""
    out: dict[str, set[str]] = {}
    for m, p in MODULES.items():
        tree = ast.parse(p.read_text(encoding="utf-8"))
        consts = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                  and isinstance(n.value, ast.Constant) for t in n.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "entry_points"):
                continue
            for k in (k for k in node.keywords if k.arg == "group"):
                value = k.value
                group = value.value if isinstance(value, ast.Constant) else consts.get(getattr(value, "id", ""))
                out.setdefault(str(group), set()).add(m)
    return out


def entry_point_violations(groups: dict[str, dict[str, str]], consumers: dict[str, set[str]]) -> list[str]:
    """An entry point whose target sits above (or beside, or forbidden to) a module that loads its group."""
    bad = []
    for group, eps in groups.items():
        if group not in consumers:
            bad.append(f"entry-point group {group!r} is loaded by no module (remove it from pyproject.toml)")
        for name, target in eps.items():
            mod = target.split(":")[0]
            for user in sorted(consumers.get(group, ())):
                src, dst = package_of(user), package_of(mod)
                sibling = LAYER[dst] == LAYER[src] and dst != src
                if LAYER[dst] > LAYER[src] or dst in FORBIDDEN.get(src, set()) or sibling:
                    bad.append(f"{group}:{name} -> {mod} is loaded by {user} ({src} must not reach {dst})")
    return bad


def test_entry_points_point_down_the_layers() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    bad = entry_point_violations(project.get("entry-points", {}), entry_point_consumers())
    assert not bad, "\n".join(bad)


def test_an_upward_entry_point_is_caught() -> None:
    groups = {"edgebench.x": {"build": "edgebench.exporter.rebuild:build_module"}}
    assert entry_point_violations(groups, {"edgebench.x": {"edgebench.runtimes.torch_rt"}})
    assert not entry_point_violations(groups, {"edgebench.x": {"edgebench.sweep.run"}})
    assert entry_point_violations(groups, {})  # a group nobody loads


def test_architecture_doc_matches_the_code() -> None:
    from edgebench.tools.architecture import DOC, render

    text = DOC.read_text(encoding="utf-8")
    assert "<!-- generated: packages -->" in text and "<!-- generated: layers -->" in text
    assert render(text) == text, "docs/architecture.md is stale: run `make docs`"


def test_the_where_to_put_table_names_real_paths() -> None:
    from edgebench.tools.architecture import WHERE_TO_PUT

    missing = sorted({p for _what, where, _how, example in WHERE_TO_PUT for p in (*where, example)
                      if "<" not in p and not (REPO / p).exists()})
    assert not missing, f"docs/architecture.md's 'where to put' table names paths that do not exist: {missing}"
