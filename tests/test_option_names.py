"""Every `--option` a message or a docs page names exists on the command it names (issue #24 item 6).

Messages: every string literal of the package (errors, warnings, notes, help). Docs: README.md and docs/**/*.md,
code blocks (backslash continuations joined) and prose. `edgebench CMD [SUB] ... --opt` must be an option of that
command (typer's click tree); a bare `--opt` must be an option of some edgebench command, of a script or tool
that defines it (`"--opt"` in scripts/*.py or tools/*.py), or of a third-party program listed below.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import typer
from edgebench.cli.main import app

REPO = Path(__file__).resolve().parent.parent
CODE_DIRS = ("core", "runtimes", "calibration", "exporter", "bench", "devices", "sweep", "cli", "tools")
# Options of other programs that messages and docs quote (with the program that takes them).
THIRD_PARTY = {
    "--no-deps": "pip", "--no-build-isolation": "pip", "--implementation": "pip download", "--only-binary": "pip",
    "--platform": "pip download", "--python-version": "pip download", "--find-links": "pip", "--no-index": "pip",
    "--disable-pip-version-check": "pip", "--force-reinstall": "pip", "--upgrade": "pip",
    "--format": "pip list", "--report": "pip install", "--dry-run": "pip install",
    "--strict-markers": "pytest", "--doctest-modules": "pytest", "--source": "coverage run",
    "--foreign": "debootstrap", "--variant": "debootstrap", "--head": "ray start",
}
OPT = re.compile(r"(?<![\w/-])(--[a-z][a-z0-9-]*)")
CMD = re.compile(r"edgebench((?:\s+[a-z][a-z0-9-]*)+)")
# Where the options of one `edgebench CMD` stop in a sentence or a line.
CMD_END = re.compile(r"[`;|\n]|\)\s|, then |\s#\s")


@cache
def command_options() -> dict[tuple[str, ...], frozenset[str]]:
    """Every command path (`()`, `('bench',)`, `('device', 'add')`, ...) -> the options it accepts."""
    out: dict[tuple[str, ...], frozenset[str]] = {}

    def walk(c: object, path: tuple[str, ...]) -> None:
        opts = {"--help", "-h"}
        for p in c.params:  # type: ignore[attr-defined]
            opts.update(p.opts)
            opts.update(p.secondary_opts)
        out[path] = frozenset(opts)
        for name, sub in getattr(c, "commands", {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return out


@cache
def script_options() -> frozenset[str]:
    """Options that scripts/ and tools/ define for their own argument parsers."""
    text = "".join(p.read_text() for d in ("scripts", "tools") for p in sorted((REPO / d).rglob("*.py")))
    return frozenset(re.findall(r"[\"'](--[a-z][a-z0-9-]*)[\"']", text))


def bad_options(text: str) -> list[str]:
    """The options in `text` that the command they go with does not accept ('CMD --opt' each)."""
    opts = command_options()
    everyone = frozenset().union(*opts.values())
    bad = []
    for seg in re.split(r"(?=\bedgebench\s)", text):
        m = CMD.match(seg)
        path: tuple[str, ...] = ()
        for w in m.group(1).split() if m else []:
            if (*path, w) not in opts:
                break
            path = (*path, w)
        if path:
            scope = CMD_END.split(seg)[0]
            bad += [f"edgebench {' '.join(path)} {o}" for o in OPT.findall(scope) if o not in opts[path]]
            seg = seg[len(scope):]
        bad += [o for o in OPT.findall(seg) if o not in everyone and o not in script_options()
                and o not in THIRD_PARTY]
    return bad


def code_strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of each string literal of a module; an f-string's fields become '{}'."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.JoinedStr):
            found.append((node.lineno, "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
    return found


def doc_lines(path: Path) -> list[tuple[int, str]]:
    """(line, text) of a Markdown page; code-block lines ending in a backslash are joined to the next."""
    out, pending, start = [], "", 0
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not pending:
            start = n
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append((start, pending + line))
        pending = ""
    return out


def test_the_checker_finds_a_wrong_option() -> None:
    assert bad_options("bench with --eval-dataset to add it") == ["--eval-dataset"]
    assert bad_options("`edgebench compare results --eval cifar10`") == ["edgebench compare --eval"]
    assert bad_options("edgebench device add pi4 ssh://pi@h --workdir /x; then --nope") == ["--nope"]
    assert bad_options("edgebench bench m.onnx --eval cifar10 --threads 4 -o results/") == []


def test_messages_name_existing_options() -> None:
    bad = [f"{p.relative_to(REPO)}:{n}: {b}" for d in CODE_DIRS for p in sorted((REPO / d).rglob("*.py"))
           for n, s in code_strings(p) for b in bad_options(s)]
    assert not bad, "\n".join(bad)


def test_docs_name_existing_options() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    bad = [f"{p.relative_to(REPO)}:{n}: {b}" for p in pages for n, s in doc_lines(p) for b in bad_options(s)]
    assert not bad, "\n".join(bad)
