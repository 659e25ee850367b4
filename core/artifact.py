"""`ModelArtifact`: a model file and its typed manifest, resolved once at the CLI edge and passed down.

    artifact = ModelArtifact.resolve(Path("artifacts/resnet20"))   # folder -> model.fp32.onnx
    artifact.path, artifact.manifest                               # Path, Manifest | None
    artifact.verify()                                              # sha256 of the file == the manifest's
    artifact.hashed().sha256                                       # the file's sha256, hashed once

`resolve` does what `check_model_path(resolve_model_arg(arg))` + `find_manifest` did at every call site:
a folder gives its `model.fp32.onnx` (else its only .onnx), the file must exist and be non-empty, and the
manifest beside it is read and validated once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from edgebench.errors import ModelFileError, UserInputError
from edgebench.manifest import Manifest, find_typed_manifest, manifest_path, resolve_model_arg, sha256_file


def check_model_file(model: Path) -> Path:
    """Fail with one clear line when `model` is not an existing, non-empty file."""
    model = Path(model)
    if not model.exists():
        raise ModelFileError(f"model file '{model}' does not exist; check the path")
    if not model.is_file():
        raise ModelFileError(f"model path '{model}' is not a file; give the .onnx file itself")
    if model.stat().st_size == 0:
        raise ModelFileError(f"model file '{model}' is empty; re-export it")
    return model


def confined_path(folder: Path, rel: str, *, what: str, root: Path | None = None) -> Path:
    """`folder / rel`, a path read from a manifest or probe file, when it stays inside `root` (default `folder`).

    An absolute path, or one whose '..' leaves `root`, is a ModelFileError naming `what` (the field and its
    file): a manifest may only name files of its own model folder.

    >>> confined_path(Path("art/r20"), "model.fp32.onnx", what="parent_file").as_posix()
    'art/r20/model.fp32.onnx'
    >>> confined_path(Path("art/r20/litert/int8"), "../../model.fp32.onnx", what="p", root=Path("art/r20")).as_posix()
    'art/r20/model.fp32.onnx'
    """
    root = Path(os.path.normpath(root if root is not None else folder))
    path = Path(os.path.normpath(Path(folder) / rel))
    if Path(rel).is_absolute() or not path.is_relative_to(root):
        raise ModelFileError(
            f"{what} '{rel}' points outside the model folder '{root}'; a manifest may name only files inside its "
            "model's folder (a relative path, no '..' out of it): fix the file or make the model again"
        )
    return path


@dataclass(frozen=True)
class ModelArtifact:
    """A model file a runtime loads, and its manifest (None for a bare .onnx)."""

    path: Path
    manifest: Manifest | None
    sha256: str | None = field(default=None, compare=False)  # the file's, once `hashed`

    def hashed(self) -> ModelArtifact:
        """This artifact with the sha256 of its file (computed once; a hashed artifact is returned as is)."""
        return self if self.sha256 is not None else replace(self, sha256=sha256_file(self.path))

    @classmethod
    def resolve(cls, arg: Path | str) -> ModelArtifact:
        """A model folder or file given by the user -> the checked file and its manifest."""
        path = check_model_file(resolve_model_arg(Path(arg)))
        return cls(path, find_typed_manifest(path))

    def require_manifest(self, why: str) -> Manifest:
        """The manifest, or a UserInputError saying that `why` needs one (e.g. 'quantizing')."""
        if self.manifest is None:
            raise UserInputError(
                f"'{self.path}' has no manifest ({manifest_path(self.path).name}); {why} needs to know how its "
                f"images are preprocessed: write it with `edgebench describe {self.path} --preprocessing "
                "imagenet|cifar10|unit|symmetric|caffe-bgr` (or --input-like / --mean --std ...), or give those "
                "same options to this command, or export the model with `edgebench export`"
            )
        return self.manifest

    def verify(self) -> str:
        """sha256 of the file, checked against the manifest's `onnx_sha256` when it records one."""
        sha = sha256_file(self.path)
        recorded = self.manifest.onnx_sha256 if self.manifest is not None else None
        if recorded is not None and recorded != sha:
            raise ModelFileError(
                f"'{self.path}' has sha256 {sha[:12]}, not the {recorded[:12]} its manifest "
                f"({manifest_path(self.path).name}) records: the file changed after export; re-export it or "
                "restore the original"
            )
        return sha

    def parent(self) -> ModelArtifact | None:
        """The model this file was made from (the manifest's `parent_file`), inside this model's folder and
        verified by `parent_sha256`; None when the manifest names no parent.

        A parent outside the folder, missing, without a recorded sha256 or with another sha256 is a
        ModelFileError naming both files and the fix.
        """
        m = self.manifest
        if m is None or m.parent_file is None:
            return None
        where = f"parent_file of '{self.manifest_path}'"
        path = confined_path(self.path.parent, m.parent_file, what=where)
        if not path.is_file():
            raise ModelFileError(f"'{path}' ({where}) does not exist; copy the whole model folder, or make "
                                 f"'{self.path.name}' again from its parent")
        if m.parent_sha256 is None:
            raise ModelFileError(f"'{self.manifest_path}' names the parent '{m.parent_file}' but records no "
                                 f"parent_sha256, so it cannot be verified; make '{self.path.name}' again from it "
                                 "(e.g. edgebench quantize --force)")
        sha = sha256_file(path)
        if sha != m.parent_sha256:
            raise ModelFileError(
                f"'{path}' has sha256 {sha[:12]}, not the {m.parent_sha256[:12]} that '{self.manifest_path}' records "
                f"for its parent: '{self.path.name}' was made from another model; make it again from this one "
                "(e.g. edgebench quantize --force) or restore the original parent"
            )
        return ModelArtifact(check_model_file(path), find_typed_manifest(path))

    @property
    def manifest_path(self) -> Path:
        return manifest_path(self.path)
