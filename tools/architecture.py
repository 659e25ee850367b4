"""The package's layer table, and the generated parts of docs/architecture.md.

One table says which folder is which package and which layer it sits in; tests/test_architecture.py
holds the imports and the entry points to it, and `python -m edgebench.tools.architecture --write`
(`make docs`) writes the drawings and tables of docs/architecture.md from it and from the source
(read with `ast`, nothing imported), so the page cannot drift from the code: a test regenerates it.

>>> layer_of("edgebench.runtimes.ort")
1
>>> layer_of("edgebench.errors")
0
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "architecture.md"


@dataclass(frozen=True)
class Layer:
    """One root folder of the repository: its package, its layer (0 = bottom) and what it may import."""

    folder: str
    package: str
    layer: int
    may_import: str


LAYERS = (
    Layer("core", "edgebench", 0, "the standard library, numpy"),
    Layer("runtimes", "edgebench.runtimes", 1, "core (+ each engine inside functions)"),
    Layer("calibration", "edgebench.calibration", 2, "core, runtimes; never torch"),
    Layer("exporter", "edgebench.exporter", 3, "core, runtimes, calibration; torch"),
    Layer("bench", "edgebench.bench", 3, "core, runtimes, calibration; never exporter"),
    Layer("devices", "edgebench.devices", 4, "core, runtimes, calibration, bench; never exporter"),
    Layer("sweep", "edgebench.sweep", 5, "everything below"),
    Layer("cli", "edgebench.cli", 6, "everything below, inside the commands"),
    Layer("tools", "edgebench.tools", 6, "everything below"),
)
FOLDERS = {la.folder: la.package for la in LAYERS}
LAYER = {la.package: la.layer for la in LAYERS}
# packages a layer must never import, whatever the layer numbers say
FORBIDDEN = {"edgebench.bench": {"edgebench.exporter"}, "edgebench.exporter": {"edgebench.bench"},
             "edgebench.devices": {"edgebench.exporter"}}
# third-party modules each layer may import (besides the standard library)
ALLOWED_THIRD_PARTY = {"edgebench": {"numpy"}}

# Where a new piece of each kind goes: (what, where (one or more paths), how it is found, an existing one to copy).
WHERE_TO_PUT: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("a runtime (an inference engine)", ("runtimes/<name>/session.py", "runtimes/<name>/options.py"),
     "`@RUNTIMES.register(name)`; imported by `runtimes/__init__.py`", "runtimes/ort/"),
    ("a converter for a runtime", ("runtimes/<name>/convert.py",),
     "the runtime's `converts` / `converter_packages` (`runtimes/converters.py`)", "runtimes/openvino/convert.py"),
    ("a zoo model", ("exporter/zoo.py", "exporter/models/<family>.py"), "`@register_model`",
     "exporter/models/efficientnet_lite.py"),
    ("a pruning importance", ("exporter/prune/importance.py",), "`@IMPORTANCES.register(name)`",
     "exporter/prune/importance.py"),
    ("an INT8 preset / recipe", ("calibration/recipes.py",), "`PRESETS` (a registry)", "calibration/recipes.py"),
    ("a quantize mode", ("calibration/entry.py",), "a config dataclass + its runner in `RUNNERS`",
     "calibration/entry.py"),
    ("an image-folder or labels layout", ("calibration/imagefolder.py", "calibration/labels.py"),
     "the layout readers", "calibration/labels.py"),
    ("a task (classification, detection)", ("core/task.py", "calibration/tasks.py"), "`TASKS.add(name, Task())`",
     "calibration/tasks.py"),
    ("a result field", ("bench/result.py",), "`BenchResult` (to_dict/from_dict, validated)", "bench/result.py"),
    ("a report column", ("bench/report/columns.py",), "`COLUMNS.add(Column(...))`", "bench/report/columns.py"),
    ("a sweep stage", ("sweep/stages.py", "sweep/graph.py"), "the stage graph", "sweep/stages.py"),
    ("a command", ("cli/<group>.py", "cli/main.py"), "`@app.command()` in a module cli/main.py imports; "
     "parse -> typed config -> one call", "cli/report.py"),
    ("an option several commands share", ("cli/common.py",), "an `Annotated` alias, or an `OptionGroup` declared "
     "with `@with_options(...)` and read with `group.take(kw)` (as `MODEL_SOURCE`)", "cli/common.py"),
    ("a user-input error", ("core/errors.py", "docs/errors.md"), "a `UserInputError` subclass and its row; a value "
     "outside a fixed set: `check_one_of`", "core/errors.py"),
)


def layer_of(module: str) -> int:
    """The layer of a dotted module name (its longest matching package)."""
    return LAYER[package_of(module)]


def package_of(module: str) -> str:
    """The layer package a module belongs to ('edgebench' for the core modules)."""
    best = "edgebench"
    for pkg in LAYER:
        if (module == pkg or module.startswith(pkg + ".")) and len(pkg) > len(best):
            best = pkg
    return best


def modules(repo: Path = REPO) -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the package."""
    out: dict[str, Path] = {}
    for folder, pkg in FOLDERS.items():
        for f in sorted((repo / folder).rglob("*.py")):
            rel = f.relative_to(repo / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([pkg, *parts])] = f
    return out


def _first_line(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    line = doc.strip().split("\n\n")[0].replace("\n", " ")
    return line.replace("|", "\\|")


def _subpackages(repo: Path = REPO) -> list[tuple[str, str, Path]]:
    """(folder, package, __init__ file) of every package and sub-package, in layer order."""
    out = []
    for la in LAYERS:
        for init in sorted((repo / la.folder).rglob("__init__.py")):
            rel = init.parent.relative_to(repo / la.folder)
            folder = "/".join((la.folder, *rel.parts)) + "/"
            out.append((folder, ".".join((la.package, *rel.parts)), init))
    return out


def layer_drawing(repo: Path = REPO) -> str:
    """The layers, top to bottom, as a text drawing (from the table alone: `repo` is not read)."""
    rows = []
    for n in sorted({la.layer for la in LAYERS}, reverse=True):
        names = [f"{la.folder}/" for la in LAYERS if la.layer == n]
        rows.append(f"{n}  " + "  |  ".join(names))
    never = "; ".join(f"`{a}` never imports `{b}`" for a, bs in sorted(FORBIDDEN.items()) for b in sorted(bs))
    return ("```\n" + "\n".join(rows) + "\n```\n\nA module imports its own package and the layers below; packages "
            f"side by side on one\nlayer stay independent; {never}.")


def package_table(repo: Path = REPO) -> str:
    """One row per package and sub-package: its folder, name, layer, what it holds and its modules."""
    mods = modules(repo)
    rows = ["| folder | package | layer | what | modules |", "|---|---|---|---|---|"]
    subs = _subpackages(repo)
    for folder, pkg, init in subs:
        deeper = {p for _, p, _ in subs if p.startswith(pkg + ".")}
        own = sorted(m.rsplit(".", 1)[1] for m in mods if m.startswith(pkg + ".") and m.count(".") == pkg.count(".") + 1
                     and m not in deeper)
        rows.append(f"| `{folder}` | `{pkg}` | {layer_of(pkg)} | {_first_line(init)} | "
                    f"{', '.join(f'`{m}`' for m in own)} |")
    may = ["", "| package | may import |", "|---|---|"]
    may += [f"| `{la.package}` | {la.may_import} |" for la in LAYERS]
    return "\n".join(rows + may)


def _command_name(fn: ast.FunctionDef) -> str | None:
    for dec in fn.decorator_list:
        if isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute) and dec.func.attr == "command":
            group = dec.func.value.id.removesuffix("_app") if isinstance(dec.func.value, ast.Name) else "app"
            name = next((a.value for a in dec.args if isinstance(a, ast.Constant)), None)
            name = next((k.value.value for k in dec.keywords if k.arg == "name" and isinstance(k.value, ast.Constant)),
                        name) or fn.name.replace("_", "-")
            return name if group == "app" else f"{group} {name}"
    return None


def _library_modules(fn: ast.FunctionDef, tree: ast.Module) -> list[str]:
    """The edgebench modules below the CLI a command imports (in its body, else at module level)."""
    def found(nodes: list[ast.AST]) -> list[str]:
        out = []
        for node in nodes:
            for n in ast.walk(node):
                if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("edgebench") \
                        and not n.module.startswith(("edgebench.cli", "edgebench.errors")):
                    out.append(n.module)
        return sorted(set(out))
    return found(list(fn.body)) or found([n for n in tree.body if isinstance(n, ast.ImportFrom)])


def command_table(repo: Path = REPO) -> str:
    """One row per command: its module in cli/ and the library modules it calls."""
    rows = ["| command | `cli/` module | library modules it calls |", "|---|---|---|"]
    found = []
    for f in sorted((repo / "cli").glob("*.py")):
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for fn in tree.body:
            if isinstance(fn, ast.FunctionDef) and (name := _command_name(fn)):
                libs = ", ".join(f"`{m.removeprefix('edgebench.')}`" for m in _library_modules(fn, tree)) or "-"
                found.append(f"| `edgebench {name}` | `{f.name}` | {libs} |")
    return "\n".join(rows + sorted(found))


def entry_point_table(repo: Path = REPO) -> str:
    """The entry points pyproject.toml declares, with the layer of each target."""
    project = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    rows = ["| group | name | target | layer |", "|---|---|---|---|"]
    groups = {"console script": project.get("scripts", {}), **project.get("entry-points", {})}
    for group, eps in groups.items():
        for name, target in eps.items():
            mod = target.split(":")[0]
            rows.append(f"| `{group}` | `{name}` | `{target}` | {layer_of(mod)} |")
    return "\n".join(rows)


def where_table(repo: Path = REPO) -> str:
    rows = ["| to add | put it in | found through | copy |", "|---|---|---|---|"]
    rows += [f"| {what} | {' + '.join(f'`{w}`' for w in where)} | {how} | `{example}` |"
             for what, where, how, example in WHERE_TO_PUT]
    return "\n".join(rows)


SECTIONS = {"layers": layer_drawing, "packages": package_table, "commands": command_table,
            "entry-points": entry_point_table, "where": where_table}
_BLOCK = re.compile(r"(<!-- generated: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def render(text: str, repo: Path = REPO) -> str:
    """`text` with every generated block replaced by its content freshly generated from the code."""
    def fill(m: re.Match[str]) -> str:
        name = m["name"]
        if name not in SECTIONS:
            raise KeyError(f"docs/architecture.md names an unknown generated block {name!r}; known: {sorted(SECTIONS)}")
        return m.group(1) + SECTIONS[name](repo) + "\n" + m.group(4)
    return _BLOCK.sub(fill, text)


def main(argv: list[str] | None = None) -> int:
    """With `--write`, regenerate docs/architecture.md; without it, exit 1 when the page is stale."""
    args = sys.argv[1:] if argv is None else argv
    text = DOC.read_text(encoding="utf-8")
    fresh = render(text)
    if "--write" in args:
        DOC.write_text(fresh, encoding="utf-8")
        return 0
    if fresh != text:
        print("docs/architecture.md is stale: run `make docs`", file=sys.stderr)  # the test says so too
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
