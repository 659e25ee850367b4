"""The README and docs/ stay true: short README, no dead links, every command and make target documented.

Pages whose `>>>` examples are run here are listed in DOCTEST_PAGES; the worked examples of
docs/extending/*.md are kept true by their own tests.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = REPO / "docs"
MAKEFILE = REPO / "Makefile"
README_MAX_LINES = 150

# [text](target) and [text]: target; the target up to a space, ')' or '#'.
INLINE_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//|#)", re.IGNORECASE)

DOCTEST_PAGES = ("eval.md", "profile.md")


def markdown_pages() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def relative_links(page: Path) -> list[str]:
    """The link targets of a Markdown page that point into the repository (code blocks excluded).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.md"
    >>> _ = p.write_text("[a](b.md#x) [c](https://e.org) [d](#top)\\n```\\n[e](f.md)\\n```\\n[g]: ../h.md\\n")
    >>> relative_links(p)
    ['b.md', '../h.md']
    """
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    targets = INLINE_LINK.findall(text) + REF_LINK.findall(text)
    return [t.split("#", 1)[0] for t in targets if not EXTERNAL.match(t)]


def make_targets() -> set[str]:
    """Targets defined in the Makefile (rules `name: ...`, not variable assignments `X := ...`)."""
    names: set[str] = set()
    for line in MAKEFILE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+(?:\s+[A-Za-z0-9_.-]+)*)\s*:(?!=)", line)
        if m and not line.startswith((".", "\t")):
            names.update(m.group(1).split())
    return names


def test_readme_is_short() -> None:
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines; keep it <= {README_MAX_LINES} and move details to docs/"


@pytest.mark.parametrize("page", markdown_pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_point_to_files(page: Path) -> None:
    links = relative_links(page)
    missing = [t for t in links if not (page.parent / t).exists()]
    assert not missing, f"{page.relative_to(REPO)} links to missing files: {missing}"


def test_readme_links_every_docs_page() -> None:
    """The top-level docs pages are reachable from the README or from docs/index.md."""
    linked = {(README.parent / t).resolve() for t in relative_links(README)}
    linked |= {(DOCS / t).resolve() for t in relative_links(DOCS / "index.md")}
    unlinked = [p.relative_to(REPO) for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked]
    assert not unlinked, f"docs pages linked neither from README.md nor docs/index.md: {unlinked}"


def test_every_cli_command_is_documented() -> None:
    import typer
    from edgebench.cli import app

    commands = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert {"bench", "export", "quantize", "compare"} <= set(commands)
    text = "\n".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md"))
    undocumented = [c for c in commands if not re.search(rf"edgebench {re.escape(c)}\b", text)]
    assert not undocumented, f"commands never mentioned as `edgebench NAME` in docs/: {undocumented}"


def test_make_targets_in_readme_exist() -> None:
    readme = README.read_text(encoding="utf-8")
    mentioned = set(re.findall(r"`make ([A-Za-z0-9_.-]*[A-Za-z0-9_])[`\s]", readme))  # not `make bench-*`
    assert {"export", "test"} <= mentioned, "the README must name the two commands, make export and make test"
    missing = sorted(mentioned - make_targets())
    assert not missing, f"README.md names make targets the Makefile lacks: {missing}"


def test_readme_make_table_lists_every_documented_target() -> None:
    """Every target with a `## ` help text (what `make help` prints) is in the README's table."""
    documented = set(re.findall(r"^([A-Za-z0-9_-]+):.*## ", MAKEFILE.read_text(encoding="utf-8"), re.MULTILINE))
    table = set(re.findall(r"^\| `make ([A-Za-z0-9_-]+)`", README.read_text(encoding="utf-8"), re.MULTILINE))
    assert documented, "no `target: ## help` lines found in the Makefile"
    assert documented <= table, f"make targets missing from the README's table: {sorted(documented - table)}"


def python_blocks(page: Path) -> list[str]:
    """The fenced ```python blocks of a page (their closing fence is not part of an example's output)."""
    return re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("name", DOCTEST_PAGES)
def test_page_examples_run(name: str) -> None:
    page = DOCS / name
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for i, block in enumerate(python_blocks(page)):
        runner.run(parser.get_doctest(block, {}, f"{name}[{i}]", str(page), 0))
    result = runner.summarize(verbose=False)
    assert result.attempted > 0, f"docs/{name} has no >>> examples"
    assert result.failed == 0, f"docs/{name}: {result.failed} of {result.attempted} examples failed (output above)"
