"""Write outputs atomically: a temporary name in the same folder, then rename.

A failure half-way leaves nothing behind under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgebench.errors import OutputExistsError, UserInputError


def ensure_writable_dir(path: Path) -> Path:
    """Create `path` if needed and check that files can be written in it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserInputError(
            f"cannot create output folder '{path}': {e.strerror}; choose another with -o"
        ) from None
    if not path.is_dir():
        raise UserInputError(f"output path '{path}' exists and is not a folder; choose another with -o")
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserInputError(f"output folder '{path}' is not writable; choose another with -o")
    return path


@contextlib.contextmanager
def atomic_path(final: Path, *, force: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to `final`; rename it to `final` if the block succeeds.

    Example::

        with atomic_path(out / "model.onnx") as tmp:
            onnx.save(model, tmp)
    """
    final = Path(final)
    if final.exists() and not force:
        raise OutputExistsError(f"'{final}' already exists; pass --force to overwrite it")
    ensure_writable_dir(final.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(final: Path, text: str, *, force: bool = True) -> Path:
    with atomic_path(final, force=force) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(final)


def write_json(final: Path, data: Any, *, force: bool = True) -> Path:
    return write_text(final, json.dumps(data, indent=2, sort_keys=False) + "\n", force=force)
