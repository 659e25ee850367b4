"""Write outputs atomically: a temporary name in the same folder, then rename.

A failure half-way leaves nothing behind under the final name. Several processes writing into one folder
at once (two `bench -o results` runs) neither overwrite each other's files (`write_json_new`) nor lose
each other's rows (`update_text_locked`, an exclusive lock around read-modify-replace).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from edgebench.errors import EdgebenchError, OutputExistsError, UserInputError

# Folders this process created (shallowest first); `remove_created_if_empty` takes back the empty ones when a
# command fails, so a refused command leaves no empty output folder behind.
_CREATED: list[Path] = []


def forget_created() -> None:
    """Start a new command: folders created so far are no longer this command's to remove."""
    _CREATED.clear()


def remove_created_if_empty() -> list[Path]:
    """Remove the folders `ensure_writable_dir` created that are still empty (deepest first); the removed."""
    removed = []
    for d in reversed(_CREATED):
        try:
            d.rmdir()  # only ever removes an empty folder
        except OSError:
            continue  # not empty (a finished result is kept) or already gone
        removed.append(d)
    _CREATED.clear()
    return removed


def ensure_writable_dir(path: Path) -> Path:
    """Create `path` if needed and check that files can be written in it."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists() and not p.is_symlink() and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        path.mkdir(parents=True, exist_ok=True)
        _CREATED.extend(reversed(missing))
    except OSError as e:
        raise UserInputError(
            f"cannot create output folder '{path}': {e.strerror}; choose another with -o"
        ) from None
    if not path.is_dir():
        raise UserInputError(f"output path '{path}' exists and is not a folder; choose another with -o")
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserInputError(f"output folder '{path}' is not writable; choose another with -o")
    return path


def check_writable_dir(path: Path, option: str = "-o") -> Path:
    """Check, creating nothing, that `path` is (or can be created as) a writable folder: its nearest existing
    ancestor must be a writable folder. Run before slow work; `ensure_writable_dir` makes it when needed."""
    path = Path(path)
    p = path
    while not p.exists() and p != p.parent:
        if p.is_symlink():  # a dangling link cannot be made a folder
            raise UserInputError(f"cannot create output folder '{path}': '{p}' is a broken link; choose another "
                                 f"with {option}")
        p = p.parent
    if not p.is_dir():
        raise UserInputError(f"cannot create output folder '{path}': '{p}' is not a folder; choose another with "
                             f"{option}")
    try:  # os.access says yes to root everywhere (also on /proc): a real probe, removed at once
        os.rmdir(tempfile.mkdtemp(prefix=".edgebench-check-", dir=p))
    except OSError as e:
        if p == path:
            raise UserInputError(f"output folder '{path}' is not writable ({e.strerror}); choose another with "
                                 f"{option}") from None
        raise UserInputError(f"cannot create output folder '{path}': {e.strerror} in '{p}'; choose another with "
                             f"{option}") from None
    return path


@contextlib.contextmanager
def removed_on_failure(*paths: Path) -> Iterator[None]:
    """Delete those of `paths` that did not exist on entry when the block raises (an error or Ctrl-C), so a
    command that fails after writing part of its outputs (an exported parent before its INT8 child) leaves none.

    Example::

        with removed_on_failure(out / "model.fp32.onnx", out / "model.fp32.json"):
            export(...); quantize(...)
    """
    new = [Path(p) for p in paths if not Path(p).exists()]
    try:
        yield
    except BaseException:
        for p in new:
            p.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_path(final: Path, *, force: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to `final`; rename it to `final` if the block succeeds.

    Example::

        with atomic_path(out / "model.onnx") as tmp:
            onnx.save(model, tmp)
    """
    final = Path(final)
    if final.is_dir():  # os.replace onto a folder fails after the work is done: refuse first
        raise UserInputError(f"output '{final}' is a folder, not a file; give a file path (one inside it, or "
                             "another name)")
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


def _nonfinite(data: Any, path: str = "") -> tuple[str, float] | None:
    """The dotted path and value of the first NaN or infinity in `data`, or None."""
    if isinstance(data, float) and not math.isfinite(data):
        return path or "(the value itself)", data
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list | tuple) else ()
    for key, value in items:
        found = _nonfinite(value, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


def to_json(data: Any, final: Path | str = "") -> str:
    """`data` as indented JSON; a NaN or infinity is refused (JSON has none, and other readers reject it).

    >>> to_json({"p50_ms": 1.5})
    '{\\n  "p50_ms": 1.5\\n}\\n'
    >>> to_json({"latency": {"p50_ms": float("nan")}}, "r.json")
    Traceback (most recent call last):
    ...
    edgebench.errors.EdgebenchError: not writing r.json: latency.p50_ms is nan, which JSON cannot hold
    """
    try:
        return json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n"
    except ValueError:
        found = _nonfinite(data)
        if found is None:
            raise
        raise EdgebenchError(f"not writing {final}: {found[0]} is {found[1]}, which JSON cannot hold") from None


def write_json(final: Path, data: Any, *, force: bool = True) -> Path:
    return write_text(final, to_json(data, final), force=force)


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock (flock) on `folder` itself (no lock file left behind).

    Every writer of a shared output in that folder takes it; readers need not. Where flock is missing
    (not POSIX) the block runs unlocked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def write_text_new(final: Path, text: str) -> Path:
    """Write `text` under `final`, or `stem.1.ext`, `stem.2.ext`... when taken: never over an existing file,
    also with other processes writing the same names at the same moment. Returns the name it got.

    The file is written in full under a temporary name, then hard-linked to the first free name (the link
    fails when the name exists, atomically); without hard links (FAT) a folder lock does the same.
    """
    final = Path(final)
    folder = ensure_writable_dir(final.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        for i in itertools.count():
            cand = final if i == 0 else final.with_name(f"{final.stem}.{i}{final.suffix}")
            try:
                os.link(tmp, cand)
                return cand
            except FileExistsError:
                continue
            except OSError:  # this file system has no hard links
                with folder_lock(folder):
                    if cand.exists():
                        continue
                    os.replace(tmp, cand)
                    return cand
        raise AssertionError("unreachable")  # itertools.count() never ends
    finally:
        tmp.unlink(missing_ok=True)


def write_json_new(final: Path, data: Any) -> Path:
    """`write_text_new` of `data` as indented JSON."""
    return write_text_new(final, to_json(data, final))


def update_text_locked(final: Path, update: Callable[[str | None], str]) -> Path:
    """Replace `final` with `update(current text or None)`, atomically and under the folder's lock, so
    concurrent updaters (two runs appending to one --csv) each see the other's result.
    """
    final = Path(final)
    folder = ensure_writable_dir(final.parent)
    with folder_lock(folder):
        current = final.read_text(encoding="utf-8") if final.is_file() else None
        return write_text(final, update(current))
