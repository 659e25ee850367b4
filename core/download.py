"""Download a published file and verify its checksum before it takes its final name."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

from edgebench.errors import UserInputError


def file_digest(path: Path, algo: str = "sha256", chunk: int = 1 << 20) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def download_verified(url: str, dest: Path, expected: str, *, algo: str = "sha256", what: str = "file",
                      hint: str = "", error: type[UserInputError] = UserInputError,
                      timeout_s: float = 60.0) -> Path:
    """Fetch `url` to `dest` via `dest.part`; keep it only when its `algo` digest is `expected`.

    `hint` says where to put a local copy instead; it ends the error message when the download fails.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    h = hashlib.new(algo)
    try:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as r, open(tmp, "wb") as f:
                while block := r.read(1 << 20):
                    h.update(block)
                    f.write(block)
        except OSError as e:
            raise error(f"cannot download {what} from {url} ({e}){'; ' + hint if hint else ''}") from None
        if h.hexdigest() != expected:
            raise error(f"downloaded {what} has {algo} {h.hexdigest()}, not the published {expected}; try again")
        os.replace(tmp, dest)
    finally:  # also on Ctrl-C: no .part file is left behind
        tmp.unlink(missing_ok=True)
    return dest
