"""docs/extending/runtime.md: its Python blocks run, and the example runtime works end to end."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

from edgebench.runtimes import RUNTIMES

DOC = Path(__file__).resolve().parents[2] / "docs" / "extending" / "runtime.md"


def test_the_worked_example_runs(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 2
    registered_before = "onehot" in RUNTIMES
    module = types.ModuleType("edgebench_doc_onehot")  # dataclasses look their class's module up
    sys.modules[module.__name__] = module
    try:
        ns = module.__dict__
        ns["work_dir"] = tmp_path
        if not registered_before:
            exec(compile(blocks[0], f"{DOC}:block1", "exec"), ns)
        exec(compile(blocks[1], f"{DOC}:block2", "exec"), ns)
        assert RUNTIMES.get("onehot").name == "onehot"
        assert ns["opts"].temperature == 2  # type: ignore[attr-defined]
        assert (tmp_path / "tiny.onnx").is_file()
    finally:
        sys.modules.pop(module.__name__, None)
        if not registered_before:
            RUNTIMES._items.pop("onehot", None)  # keep the registry as the other tests expect it
