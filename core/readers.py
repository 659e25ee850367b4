"""One reader per file kind that edgebench reads back (JSON, TOML, .npz): bad bytes become one `UserInputError`.

Every command reads through these, so a file that is missing, a folder, not UTF-8, truncated, not the format
its name says, nested past `MAX_DEPTH` or (for .npz) larger unpacked than this machine's memory gets one line
naming the file, what was wrong and the fix, never a traceback. What the content must hold (fields, kinds,
ranges) stays with each caller.
"""

from __future__ import annotations

import json
import os
import tomllib
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from edgebench.errors import UserInputError

__all__ = ["MAX_DEPTH", "check_depth", "parse_json", "parse_toml", "read_json_file", "read_npz", "read_text_file",
           "read_toml_file"]

# No edgebench file nests deeper than ~6; 64 leaves room and keeps every recursive reader far from the
# interpreter's recursion limit.
MAX_DEPTH = 64


def read_text_file(path: Path, what: str, error: type[UserInputError] = UserInputError) -> str:
    """The UTF-8 text of `path`; `what` names the file in the message ('result file', 'sweep file')."""
    path = Path(path)
    if not path.exists():
        raise error(f"{what} '{path}' does not exist")
    if path.is_dir():
        raise error(f"{what} '{path}' is a folder; give the file itself")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{what} '{path}' is not UTF-8 text (byte {e.start}); give the file edgebench wrote") from None
    except OSError as e:
        raise error(f"{what} '{path}' cannot be read ({e.strerror or e})") from None


def check_depth(data: Any, source: str, error: type[UserInputError] = UserInputError) -> Any:
    """`data`, unless its lists/dicts nest deeper than MAX_DEPTH (checked without recursion)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                raise error(f"{source} nests deeper than {MAX_DEPTH} levels; no edgebench file does: "
                            "give the file edgebench wrote")
            stack.extend((v, depth + 1) for v in (node.values() if isinstance(node, dict) else node))
    return data


def parse_json(text: str, source: str, error: type[UserInputError] = UserInputError) -> Any:
    """The JSON value in `text`; `source` names it in the message ("result file 'r.json'")."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"{source} is not valid JSON ({e}); give the file edgebench wrote") from None
    except RecursionError:
        raise error(f"{source} nests deeper than {MAX_DEPTH} levels; no edgebench file does: "
                    "give the file edgebench wrote") from None
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        raise error(f"{source} holds a value JSON cannot give ({e}); give the file edgebench wrote") from None
    return check_depth(data, source, error)


def read_json_file(path: Path, what: str, error: type[UserInputError] = UserInputError) -> Any:
    """The parsed JSON of `path` (any JSON value: callers check the kind they want)."""
    return parse_json(read_text_file(path, what, error), f"{what} '{path}'", error)


def parse_toml(text: str, source: str, error: type[UserInputError] = UserInputError) -> dict[str, Any]:
    """The TOML table in `text`; `source` names it in the message ("sweep file 's.toml'")."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise error(f"{source} is not valid TOML ({e})") from None
    except RecursionError:
        raise error(f"{source} nests deeper than {MAX_DEPTH} levels; write it flat") from None
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        raise error(f"{source} holds a value TOML cannot give ({e})") from None
    return check_depth(data, source, error)


def read_toml_file(path: Path, what: str, error: type[UserInputError] = UserInputError) -> dict[str, Any]:
    """The parsed TOML table of `path`."""
    return parse_toml(read_text_file(path, what, error), f"{what} '{path}'", error)


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):  # not POSIX: no cap from here
        return 1 << 62


def _declared_sizes(path: Path, what: str, error: type[UserInputError]) -> None:
    """Refuse a member whose .npy header disagrees with its zip entry, or arrays larger than the memory."""
    total = 0
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with z.open(info) as f:
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)  # 2.0 and 3.0 share the layout
                shape, _, dtype = read_header(f)  # no data read
                nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if dtype.hasobject:
                    continue  # refused by allow_pickle=False when read
                if nbytes != info.file_size - f.tell():
                    raise error(f"{what} '{path}': array '{info.filename[:-4]}' declares shape {list(shape)} "
                                f"{dtype} ({nbytes} bytes) but holds {info.file_size - f.tell()} bytes; the file is "
                                "truncated or crafted: write it again with numpy.savez")
            total += nbytes
    if total > _memory_bytes():
        raise error(f"{what} '{path}' unpacks to {total / 2**30:.1f} GiB, more than this machine's memory; give a "
                    "smaller file")


def read_npz(path: Path, what: str, error: type[UserInputError] = UserInputError) -> dict[str, np.ndarray]:
    """Every array of the .npz at `path` (never unpickled), checked against its headers before it is unpacked."""
    path = Path(path)
    if not path.exists():
        raise error(f"{what} '{path}' does not exist")
    if path.is_dir():
        raise error(f"{what} '{path}' is a folder; give the .npz file itself")
    fix = "write it with numpy.savez(path, name=array, ...)"
    try:
        if not zipfile.is_zipfile(path):
            raise error(f"{what} '{path}' is not an .npz (a zip of .npy arrays); {fix}")
        _declared_sizes(path, what, error)
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except UserInputError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error,
            NotImplementedError, RuntimeError) as e:
        # RuntimeError: an encrypted member; NotImplementedError: an unknown compression method
        detail = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise error(f"{what} '{path}' is not a readable .npz ({detail}); {fix}") from None
    if not arrays:
        raise error(f"{what} '{path}' holds no arrays; {fix}")
    return arrays
