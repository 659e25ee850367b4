"""Saving and reloading a pruned model safely: `structure.json` (channels per layer) + a state dict.

A pruned model cannot be rebuilt from its architecture name alone (its convs are narrower), and
pickling the whole module would need `torch.load(weights_only=False)`. So a pruned checkpoint is a
folder holding:

- ``structure.json``: the architecture name, the number of classes and the shape of every conv,
  linear and batch-norm layer (``kind: edgebench.pruned-structure``);
- ``<name>.pt``: ``{"state_dict": ..., "edgebench_pruned": {"arch": ..., "structure_sha256": ...}}``,
  loaded with ``weights_only=True``.

`load_pruned` builds the zoo model, narrows its layers to the recorded shapes, then loads the state
dict strictly. Example::

    save_pruned(model, Path("out/round3"), arch="resnet56", num_classes=10, stem="round3")
    model, structure = load_pruned(Path("out/round3"))          # or out/round3/round3.pt
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from edgebench.atomic import atomic_path, ensure_writable_dir, write_text
from edgebench.errors import BadCheckpoint
from edgebench.exporter.checkpoint import check_state_dict, extract_state_dict, read_checkpoint
from edgebench.manifest import WeightsRecord
from edgebench.readers import read_json_file
from torch import nn

STRUCTURE_FILE = "structure.json"
STRUCTURE_KIND = "edgebench.pruned-structure"
STRUCTURE_SCHEMA_VERSION = 1
MARKER = "edgebench_pruned"


def describe_structure(model: nn.Module, arch: str, num_classes: int | None, **extra: Any) -> dict[str, Any]:
    """The shapes of every conv / linear / batch-norm layer of `model`, plus `filters` (out channels per conv)."""
    layers: dict[str, dict[str, Any]] = {}
    filters: dict[str, int] = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            layers[name] = {"type": "Conv2d", "in_channels": m.in_channels, "out_channels": m.out_channels,
                            "groups": m.groups}
            filters[name] = m.out_channels
        elif isinstance(m, nn.Linear):
            layers[name] = {"type": "Linear", "in_features": m.in_features, "out_features": m.out_features}
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            layers[name] = {"type": "BatchNorm", "num_features": m.num_features}
    from edgebench.exporter.prune.depth import removed_blocks

    return {"schema_version": STRUCTURE_SCHEMA_VERSION, "kind": STRUCTURE_KIND, "arch": arch,
            "num_classes": num_classes, "filters": filters, "layers": layers,
            "removed_blocks": removed_blocks(model), **extra}


def _resize(name: str, m: nn.Module, spec: dict[str, Any], source: str) -> None:
    kind = spec.get("type")
    try:
        if isinstance(m, nn.Conv2d) and kind == "Conv2d":
            cin, cout, groups = int(spec["in_channels"]), int(spec["out_channels"]), int(spec["groups"])
            if cin % groups or cout % groups:
                raise BadCheckpoint(f"{source}: layer '{name}' has {cin}->{cout} channels in {groups} groups")
            m.in_channels, m.out_channels, m.groups = cin, cout, groups
            m.weight = nn.Parameter(torch.empty(cout, cin // groups, *m.kernel_size))
            if m.bias is not None:
                m.bias = nn.Parameter(torch.empty(cout))
        elif isinstance(m, nn.Linear) and kind == "Linear":
            m.in_features, m.out_features = int(spec["in_features"]), int(spec["out_features"])
            m.weight = nn.Parameter(torch.empty(m.out_features, m.in_features))
            if m.bias is not None:
                m.bias = nn.Parameter(torch.empty(m.out_features))
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and kind == "BatchNorm":
            n = int(spec["num_features"])
            m.num_features = n
            if m.affine:
                m.weight = nn.Parameter(torch.empty(n))
                m.bias = nn.Parameter(torch.empty(n))
            if m.track_running_stats:
                m.running_mean = torch.zeros(n)
                m.running_var = torch.ones(n)
        else:
            raise BadCheckpoint(
                f"{source}: layer '{name}' is a {kind} there but a {type(m).__name__} in the model; "
                "is the structure from another architecture?"
            )
    except (KeyError, TypeError, ValueError) as e:
        raise BadCheckpoint(f"{source}: layer '{name}' has a malformed entry ({e!r})") from None


def apply_structure(model: nn.Module, structure: dict[str, Any], source: str = STRUCTURE_FILE) -> nn.Module:
    """Narrow `model`'s layers in place to the shapes recorded in `structure` (weights left uninitialised)."""
    from edgebench.exporter.prune.depth import apply_removed

    layers = structure.get("layers")
    if not isinstance(layers, dict):
        raise BadCheckpoint(f"{source} has no 'layers' mapping; re-run edgebench prune")
    removed = structure.get("removed_blocks") or []
    if not isinstance(removed, list) or not all(isinstance(n, str) for n in removed):
        raise BadCheckpoint(f"{source}: 'removed_blocks' must be a list of block names")
    apply_removed(model, removed)
    modules = dict(model.named_modules())
    for name, spec in layers.items():
        if name not in modules:
            raise BadCheckpoint(
                f"{source} names layer '{name}', which architecture '{structure.get('arch')}' does not have"
            )
        _resize(name, modules[name], spec, source)
    return model


def _structure_text(structure: dict[str, Any]) -> str:
    return json.dumps(structure, indent=2) + "\n"


def save_pruned(model: nn.Module, out_dir: Path, *, arch: str, num_classes: int | None, stem: str = "model",
                **extra: Any) -> tuple[Path, Path]:
    """Write `out_dir/structure.json` and `out_dir/<stem>.pt` (atomically); returns both paths."""
    out_dir = ensure_writable_dir(Path(out_dir))
    structure = describe_structure(model, arch, num_classes, **extra)
    text = _structure_text(structure)
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    weights = out_dir / f"{stem}.pt"
    with atomic_path(weights) as tmp:
        torch.save({"state_dict": state, MARKER: {"arch": arch, "structure_file": STRUCTURE_FILE,
                                                  "structure_sha256": sha}}, tmp)
    structure_path = write_text(out_dir / STRUCTURE_FILE, text)
    return weights, structure_path


def _locate(path: Path) -> tuple[Path, Path | None]:
    """(weights file, structure file or None) for a round folder or a .pt file."""
    path = Path(path)
    if path.is_dir():
        pts = sorted(path.glob("*.pt"))
        if len(pts) != 1:
            names = ", ".join(p.name for p in pts) or "none"
            raise BadCheckpoint(f"folder '{path}' holds {len(pts)} .pt files ({names}); name the one to load")
        structure = path / STRUCTURE_FILE
        return pts[0], structure if structure.is_file() else None
    if not path.is_file():
        raise BadCheckpoint(f"pruned checkpoint '{path}' does not exist; give a round folder or its .pt file")
    for cand in (path.parent / STRUCTURE_FILE, path.with_suffix("") / STRUCTURE_FILE):
        if cand.is_file():
            return path, cand
    return path, None


def pruned_marker(obj: Any) -> dict[str, Any] | None:
    """The `edgebench_pruned` record of a loaded checkpoint, or None for an ordinary state dict."""
    if isinstance(obj, dict) and isinstance(obj.get(MARKER), dict):
        return obj[MARKER]
    return None


def is_pruned_checkpoint(path: Path) -> bool:
    """True for a round folder, a .pt with a structure.json beside it, or a .pt that says it is pruned."""
    path = Path(path)
    if path.is_dir():
        return True
    _, structure = _locate(path)
    return structure is not None or pruned_marker(read_checkpoint(path)) is not None


def read_structure(path: Path) -> dict[str, Any]:
    data = read_json_file(Path(path), "pruned structure", BadCheckpoint)
    if not isinstance(data, dict) or data.get("kind") != STRUCTURE_KIND:
        raise BadCheckpoint(f"'{path}' is not an edgebench pruned structure (kind '{STRUCTURE_KIND}')")
    if data.get("schema_version") != STRUCTURE_SCHEMA_VERSION:
        raise BadCheckpoint(
            f"'{path}' has schema_version {data.get('schema_version')!r}; this edgebench reads "
            f"{STRUCTURE_SCHEMA_VERSION}"
        )
    return data


def load_pruned(path: Path, *, factory: Callable[[str, int | None], nn.Module] | None = None,
                ) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a pruned model from a round folder or its .pt; returns (model in eval mode, structure).

    `factory(arch, num_classes)` builds the unpruned model (default: the zoo's `create_model`).
    """
    weights, structure_path = _locate(Path(path))
    obj = read_checkpoint(weights)
    marker = pruned_marker(obj)
    if structure_path is None:
        what = "a pruned checkpoint" if marker else "not a pruned checkpoint (no edgebench_pruned record)"
        raise BadCheckpoint(
            f"'{weights}' is {what} and has no {STRUCTURE_FILE} beside it; copy the whole round folder "
            "(structure.json + .pt) or re-run edgebench prune"
        )
    text = structure_path.read_text(encoding="utf-8")
    structure = read_structure(structure_path)
    if marker and marker.get("structure_sha256") not in (None, hashlib.sha256(text.encode("utf-8")).hexdigest()):
        raise BadCheckpoint(
            f"'{structure_path}' is not the structure '{weights.name}' was saved with (sha256 differs); "
            "keep each round's files together"
        )
    arch = str(structure.get("arch"))
    num_classes = structure.get("num_classes")
    if factory is None:
        from edgebench.exporter.zoo import create_model

        model = create_model(arch, num_classes)
    else:
        model = factory(arch, num_classes)
    apply_structure(model, structure, str(structure_path))
    sd = extract_state_dict(obj, f"pruned checkpoint '{weights}'")
    check_state_dict(model, sd, f"pruned checkpoint '{weights}'", arch)
    model.load_state_dict(sd, strict=False)
    return model.eval(), structure


def looks_pruned(path: Path) -> bool:
    """True when `path` is an existing round folder or a pruned .pt (the export hook's test)."""
    path = Path(path)
    return path.is_dir() or (path.is_file() and is_pruned_checkpoint(path))


def load_pruned_for(arch: str, path: Path, num_classes: int | None = None,
                    factory: Callable[[str, int | None], nn.Module] | None = None,
                    ) -> tuple[nn.Module, WeightsRecord, dict[str, Any]]:
    """A pruned checkpoint of model `arch`; returns (model, weights record for a manifest, structure).

    `factory` builds the unpruned model (a `--model-file` or `tv:` spec); default: the zoo."""
    from edgebench.manifest import sha256_file

    def checked(found: str, n: int | None) -> nn.Module:
        if found != arch:
            raise BadCheckpoint(f"pruned checkpoint '{path}' is a pruned '{found}', not '{arch}'; give MODEL {found}")
        if factory is not None:
            return factory(found, n)
        from edgebench.exporter.zoo import create_model

        return create_model(found, n)

    model, structure = load_pruned(path, factory=checked)
    if structure.get("arch") != arch:
        raise BadCheckpoint(
            f"pruned checkpoint '{path}' is a pruned '{structure.get('arch')}', not '{arch}'; "
            f"give MODEL {structure.get('arch')}"
        )
    if num_classes is not None and structure.get("num_classes") not in (None, num_classes):
        raise BadCheckpoint(
            f"pruned checkpoint '{path}' has {structure.get('num_classes')} classes, not --num-classes {num_classes}"
        )
    weights, structure_path = _locate(Path(path))
    record = WeightsRecord(
        source="pruned", file=weights.name, sha256=sha256_file(weights),
        extra={"structure_file": str(structure_path.name if structure_path else STRUCTURE_FILE),
               "structure_sha256": sha256_file(structure_path) if structure_path else None,
               "filters": structure.get("filters", {}),
               "round": structure.get("round"), "importance": structure.get("importance")})
    return model, record, structure
