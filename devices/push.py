"""Content-addressed push: a folder reaches the device once per distinct file content.

On the device, under its workdir::

    store/<sha256>                 one blob per distinct file content ever pushed
    models/<bundle sha256>/<rel>   a pushed folder, hard links into store/ (a copy where links fail),
                                   with `.complete` written last

A push asks which blobs are missing (one ssh call; a folder already complete answers at once),
sends only those as a tar stream, and assembles the folder under a temporary name that is renamed
when whole. The second push of the same folder sends 0 bytes.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edgebench.devices.transport import Ssh, last_line, remote_path
from edgebench.errors import DeviceError, UserInputError
from edgebench.units import format_mb, to_mb

MARGIN_BYTES = 64 * 2**20  # free space left on the device after a push


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Bundle:
    """Files that travel together as one folder: relative POSIX path -> local file."""

    files: tuple[tuple[str, Path], ...]

    def __post_init__(self) -> None:
        for rel, _ in self.files:
            p = PurePosixPath(rel)
            if p.is_absolute() or ".." in p.parts or not rel or rel.startswith("."):
                raise UserInputError(f"cannot push '{rel}': paths inside a pushed folder must be relative, "
                                     "without '..' and not hidden")

    def hashes(self) -> dict[str, str]:
        return {rel: sha256_of(path) for rel, path in self.files}

    @staticmethod
    def digest(hashes: dict[str, str]) -> str:
        """The folder's identity: the sha256 of its (path, content sha256) listing."""
        return hashlib.sha256(json.dumps(sorted(hashes.items())).encode()).hexdigest()


def folder_bundle(folder: Path) -> Bundle:
    """Every regular file below `folder` (hidden files and folders skipped)."""
    folder = Path(folder)
    files = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts):
            files.append((rel.as_posix(), p))
    if not files:
        raise UserInputError(f"folder '{folder}' holds no files to push")
    return Bundle(tuple(files))


def model_bundle(model: Path) -> tuple[Bundle, str]:
    """What a model argument needs on the device, and the path to give there inside the pushed folder.

    A folder travels whole (the remote path is the folder); an .onnx file travels with its manifest
    (`x.json`) and its external data files (`x.onnx.*`), not with the rest of its folder.
    """
    model = Path(model)
    if model.is_dir():
        return folder_bundle(model), ""
    if not model.is_file():
        raise UserInputError(f"model '{model}' does not exist; give an .onnx file or a model folder")
    files = [(model.name, model)]
    manifest = model.with_suffix(".json")
    if manifest.is_file():
        files.append((manifest.name, manifest))
    files += [(p.name, p) for p in sorted(model.parent.glob(model.name + ".*")) if p.is_file()]
    return Bundle(tuple(files)), model.name


def file_bundle(path: Path) -> tuple[Bundle, str]:
    """A data file or folder (e.g. --inputs x.npz, --data DIR) and its path on the device, inside the pushed
    folder: the file, or the folder under its own name (a dataset read there is named as it is here)."""
    path = Path(path)
    if path.is_dir():
        inner, name = folder_bundle(path), path.resolve().name
        if not name or name.startswith("."):
            return inner, ""
        return Bundle(tuple((f"{name}/{rel}", p) for rel, p in inner.files)), name
    return Bundle(((path.name, path),)), path.name


def pushed_digest(relative: str) -> str:
    """The content digest (`Bundle.digest`) of what was pushed to `relative`, a workdir-relative path
    `<area>/<digest>[/<path inside>]` as `push` lays it out (`PushResult.relative_dir`).

    >>> pushed_digest("data/" + "ab" * 32 + "/val/instances.json") == "ab" * 32
    True
    """
    parts = PurePosixPath(relative).parts
    if len(parts) < 2 or not _is_digest(parts[1]):
        raise UserInputError(f"'{relative}' is not a pushed path (<area>/<sha256>/...)")
    return parts[1]


def _is_digest(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def verify_pushed(path: Path, digest: str, what: str) -> None:
    """The device side: the pushed copy `path` (a file or folder inside `<area>/<digest>/`) holds what was sent,
    i.e. its folder's files hash to `digest` again; one DataError naming the folder otherwise (a file changed,
    added or lost after the push: nothing read back from the device's disk is trusted without its hash)."""
    from edgebench.errors import DataError

    full = Path(path).absolute()
    root = next((p for p in (full, *full.parents) if p.name == digest), None)
    if not _is_digest(digest) or root is None or not root.is_dir():
        raise DataError(f"{what} '{path}' is not the pushed copy {digest[:12]}... this request names; it is written "
                        "by `eval --on`")
    try:
        got = Bundle.digest(folder_bundle(root).hashes())
    except UserInputError:  # no files left
        got = "none"
    if got != digest:
        raise DataError(f"{what} '{root}' on this device does not hold what was pushed (its files hash to "
                        f"{got[:12]}..., the push sent {digest[:12]}...): they changed after the push (its files are "
                        f"links into the store); remove '{root}' and '{root.parent.parent / 'store'}' there and run "
                        "again (the push then sends every file anew)")


@dataclass(frozen=True)
class PushResult:
    remote_dir: str        # shell word of the pushed folder on the device (may start with "$HOME")
    files: int             # files in the folder
    total_bytes: int       # their size
    sent_files: int        # blobs that were missing and sent
    sent_bytes: int        # their size (payload; 0 when everything was there)
    relative_dir: str = ""  # the pushed folder relative to the device's workdir: `<area>/<digest>`


def push(ssh: Ssh, bundle: Bundle, *, area: str = "models") -> PushResult:
    """Make `bundle` present on the device as `<workdir>/<area>/<digest>/`, sending only missing blobs."""
    hashes = bundle.hashes()
    digest = Bundle.digest(hashes)
    paths = dict(bundle.files)
    total = sum(paths[rel].stat().st_size for rel in hashes)
    w = remote_path(ssh.device.workdir)
    dest = f'"$W"/{area}/{digest}'
    blobs = sorted(set(hashes.values()))
    check = (f"W={w}; mkdir -p \"$W/store\" \"$W/{area}\" || exit 3; "
             f"if [ -f {dest}/.complete ]; then echo COMPLETE; exit 0; fi; cd \"$W/store\" || exit 3; "
             f"for h in {' '.join(blobs)}; do [ -f \"$h\" ] || echo \"MISSING $h\"; done; "
             "df -Pk . | awk 'NR==2 {print \"FREE_KB\", $4}'")
    out = ssh.run(check, what="the push check").stdout.decode().split("\n")
    if "COMPLETE" in out:
        return PushResult(f"{w}/{area}/{digest}", len(hashes), total, 0, 0, f"{area}/{digest}")
    missing = {ln.split()[1] for ln in out if ln.startswith("MISSING ")}
    free = next((int(ln.split()[1]) * 1024 for ln in out if ln.startswith("FREE_KB ")), None)
    by_hash = {h: paths[rel] for rel, h in hashes.items()}
    need = sum(by_hash[h].stat().st_size for h in missing)
    if free is not None and need + MARGIN_BYTES > free:
        raise DeviceError(f"device '{ssh.device.name}' has {format_mb(to_mb(free), 0)} free in "
                          f"{ssh.device.workdir}; the push needs {format_mb(to_mb(need), 1)} plus "
                          f"{format_mb(to_mb(MARGIN_BYTES), 0)} to spare: free some "
                          "space there or choose another --workdir (edgebench device add NAME URL --workdir DIR "
                          "--force)")
    links = []
    for rel, h in sorted(hashes.items()):
        parent = str(PurePosixPath(rel).parent)
        if parent != ".":
            links.append(f"mkdir -p \"$T\"/{shlex.quote(parent)}")
        links.append(f"{{ ln \"$W/store/{h}\" \"$T\"/{shlex.quote(rel)} 2>/dev/null || "
                     f"cp \"$W/store/{h}\" \"$T\"/{shlex.quote(rel)}; }} || exit 4")
    script = (f"W={w}; I=$(mktemp -d \"$W/store/.in.XXXXXX\") || exit 3; "
              "tar -xf - -C \"$I\" || { rm -rf \"$I\"; exit 5; }; "
              "for f in \"$I\"/*; do [ -e \"$f\" ] && mv -f \"$f\" \"$W/store/\"; done; rmdir \"$I\"; "
              f"T={dest}.tmp.$$; rm -rf \"$T\"; mkdir -p \"$T\" || exit 3; " + "; ".join(links) + "; "
              f"touch \"$T/.complete\"; rm -rf {dest}; mv \"$T\" {dest} 2>/dev/null || rm -rf \"$T\"; "
              f"[ -f {dest}/.complete ]")
    proc = ssh.popen(script, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stderr is not None  # both PIPE above
    try:
        with tarfile.open(fileobj=proc.stdin, mode="w|") as tar:
            for h in sorted(missing):
                info = tar.gettarinfo(str(by_hash[h]), arcname=h)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mode = 0o444
                with open(by_hash[h], "rb") as f:
                    tar.addfile(info, f)
        proc.stdin.close()
    except BrokenPipeError:
        pass  # the remote side ended early: its exit status and stderr say why
    err = proc.stderr.read().decode(errors="replace")
    rc = proc.wait()
    if rc == 255:
        from edgebench.devices.transport import classify

        raise classify(err, ssh, "the push")
    if rc != 0:
        raise DeviceError(f"device '{ssh.device.name}': the push failed (exit {rc}): {last_line(err) or 'no message'}")
    return PushResult(f"{w}/{area}/{digest}", len(hashes), total, len(missing), need, f"{area}/{digest}")
