"""The latency table: measured latency of each prunable unit of one model at candidate widths (torch-free).

Two JSON documents, both small enough to travel to a device and back:

- probes (``kind: edgebench.latency-probes``), written on the workstation from the model graph: the
  model identity (arch + structural hash), its input shape, the channel block, and per prunable
  unit (a conv whose filters are pruned plus the convs that consume them, e.g. a residual block's
  conv1 + conv2 + add) its input shape, convs (``"w"`` marks the pruned width), candidate widths and
  whether its whole block can be removed;
- the table (``kind: edgebench.latency-table``), written where it was measured: the probes' model
  identity, runtime, precision, threads, the machine fingerprint, the whole model's latency and per
  unit the latency at each candidate width (ms, the unit alone minus an empty graph's overhead).

`check_table` refuses a table made for another model, runtime, precision or thread count with one line
saying what differs. Example::

    table = load_table(Path("table.json"))
    check_table(table, arch="resnet56", model_hash=probes["model"]["hash"], runtime="ort-cpu", precision="int8")
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgebench.errors import UserInputError
from edgebench.manifest import MAX_IMAGE_SIDE

PROBES_KIND = "edgebench.latency-probes"
PROBES_FILE = "probes.json"  # in a probe pack folder, beside the ONNX model it measures
TABLE_KIND = "edgebench.latency-table"
SCHEMA_VERSION = 1
PRECISIONS = ("fp32", "int8")
RUNTIMES = ("ort-cpu",)


def structure_hash(units: Any, input_shape: Any) -> str:
    """A short hash of what the latency depends on: the input shape and every unit's convs and widths."""
    text = json.dumps({"input": input_shape, "units": units}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _read(path: Path, kind: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"{what} '{path}' does not exist") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserInputError(f"{what} '{path}' cannot be read as JSON ({e})") from None
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise UserInputError(f"'{path}' is not a {what} (kind '{kind}'); give the file edgebench latency-table wrote")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise UserInputError(f"{what} '{path}' has schema_version {data.get('schema_version')!r}; this edgebench "
                             f"reads {SCHEMA_VERSION}: measure it again")
    return data


MAX_PROBE_CHANNELS = 65536  # a unit's input channels, filters and candidate widths
MAX_PROBE_KERNEL = 31  # kernel side, stride and padding of a probe conv
MAX_PROBE_ELEMENTS = 2**28  # a unit's input tensor and each conv's weights (1 GiB of float32)


def _int_ok(v: Any, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _unit_problem(u: Any) -> str | None:
    """What is wrong with one probe unit (None: nothing): the values `measure_table` builds graphs from."""
    if not isinstance(u, dict) or not isinstance(u.get("name"), str):
        return "a unit is not an object with a name"
    shape, widths, convs = u.get("input"), u.get("widths"), u.get("convs")
    if not (isinstance(shape, list) and len(shape) == 4 and _int_ok(shape[0], 1, 64)
            and _int_ok(shape[1], 1, MAX_PROBE_CHANNELS) and all(_int_ok(d, 1, MAX_IMAGE_SIDE) for d in shape[2:])
            and shape[0] * shape[1] * shape[2] * shape[3] <= MAX_PROBE_ELEMENTS):
        return (f"unit '{u['name']}' input {shape!r} is not [N, C, H, W] within bounds (N <= 64, C <= "
                f"{MAX_PROBE_CHANNELS}, H, W <= {MAX_IMAGE_SIDE}, at most {MAX_PROBE_ELEMENTS} values)")
    if not (isinstance(widths, list) and widths and all(_int_ok(w, 1, MAX_PROBE_CHANNELS) for w in widths)):
        return f"unit '{u['name']}' widths {widths!r} are not integers from 1 to {MAX_PROBE_CHANNELS}"
    if not (isinstance(convs, list) and convs):
        return f"unit '{u['name']}' has no convs"
    for c in convs:
        dims = [c.get("cin"), c.get("cout"), c.get("groups", 1)] if isinstance(c, dict) else [None]
        sizes = [max(widths) if d == "w" else d for d in dims]
        if not (all(d == "w" or _int_ok(d, 1, MAX_PROBE_CHANNELS) for d in dims)
                and all(isinstance(c.get(k), list) and len(c[k]) == n and all(_int_ok(v, lo, MAX_PROBE_KERNEL)
                                                                               for v in c[k])
                        for k, n, lo in (("k", 2, 1), ("stride", 2, 1), ("pad", 4, 0)))
                and sizes[0] * sizes[1] * c["k"][0] * c["k"][1] <= MAX_PROBE_ELEMENTS):
            return f"unit '{u['name']}' has a conv {json.dumps(c)[:80]} outside the bounds a real model needs"
    return None


def load_probes(path: Path) -> dict[str, Any]:
    """The probes at `path`, checked: the units match the model hash they were written with and are within
    bounds (a probe file travels to a device like a model folder: it is input)."""
    data = _read(path, PROBES_KIND, "latency probe file")
    if not isinstance(data.get("units"), list) or not isinstance(data.get("model"), dict):
        raise UserInputError(f"latency probe file '{path}' has no 'units'/'model'; write it again")
    recorded = data["model"].get("hash")
    if recorded != structure_hash(data["units"], data.get("input_shape")):
        raise UserInputError(f"latency probe file '{path}': its units do not match the model hash {recorded!r} they "
                             "were written with (edited or corrupted); write the probe pack again (--write-probes)")
    for unit in data["units"]:
        problem = _unit_problem(unit)
        if problem is not None:
            raise UserInputError(f"latency probe file '{path}': {problem}; write the probe pack again")
    return data


def probe_model(pack: Path, probes: Mapping[str, Any], precision: str) -> Path:
    """The ONNX file of probe pack `pack` that `latency-table --probes` times as the whole model.

    Its `model_file` must lie inside the pack; it is verified by the probes' `model_sha256` (packs written
    before it existed: by its manifest's `onnx_sha256`), and its manifest's precision must be `precision`,
    the precision the table will claim.
    """
    from edgebench.artifact import ModelArtifact, confined_path
    from edgebench.manifest import sha256_file

    pack = Path(pack)
    where = f"model_file of '{pack / PROBES_FILE}'"
    rel = probes.get("model_file", f"model.{precision}.onnx")
    if not isinstance(rel, str) or not rel:
        raise UserInputError(f"{where} is {rel!r}; write the probe pack again (latency-table --write-probes)")
    path = confined_path(pack, rel, what=where)
    artifact = ModelArtifact.resolve(path)
    manifest = artifact.require_manifest("measuring a probe pack")
    recorded = probes.get("model_sha256")
    if recorded is not None:
        sha = sha256_file(path)
        if sha != recorded:
            raise UserInputError(f"'{path}' has sha256 {sha[:12]}, not the {str(recorded)[:12]} that "
                                 f"'{pack / PROBES_FILE}' records: the pack's model changed; write the probe pack "
                                 "again (--write-probes)")
    else:
        artifact.verify()
        if manifest.onnx_sha256 is None:
            raise UserInputError(f"'{path}' of probe pack '{pack}' has no recorded sha256 (neither model_sha256 in "
                                 f"{PROBES_FILE} nor onnx_sha256 in its manifest); write the probe pack again")
    if manifest.precision != precision:
        raise UserInputError(f"probe pack '{pack}' measures '{rel}', whose manifest says precision "
                             f"{manifest.precision}, not --precision {precision}; write the pack again with "
                             f"--precision {precision}")
    return path


def load_table(path: Path) -> dict[str, Any]:
    data = _read(path, TABLE_KIND, "latency table")
    if not isinstance(data.get("units"), dict) or not isinstance(data.get("full_model_ms"), int | float):
        raise UserInputError(f"latency table '{path}' has no 'units'/'full_model_ms'; measure it again")
    return data


def check_table(table: Mapping[str, Any], *, arch: str, model_hash: str, runtime: str | None = None,
                precision: str | None = None, threads: int | None = None, source: str = "the latency table") -> None:
    """Refuse `table` for another model, runtime, precision or thread count: one line naming the difference."""
    model = table.get("model") or {}
    if model.get("arch") != arch:
        raise UserInputError(f"{source} was measured for model '{model.get('arch')}', not '{arch}'; run "
                             f"edgebench latency-table {arch} first")
    if model.get("hash") != model_hash:
        raise UserInputError(f"{source} was measured for another structure of '{arch}' (hash {model.get('hash')} "
                             f"vs {model_hash}: other widths or layers); measure this model's table again")
    for key, want in (("runtime", runtime), ("precision", precision), ("threads", threads)):
        if want is not None and table.get(key) != want:
            raise UserInputError(f"{source} was measured for {key} {table.get(key)!r}, not {want!r}; measure a table "
                                 f"with --{key} {want} (latency at one {key} does not predict another)")


def unit_ms(table: Mapping[str, Any], unit: str, width: int | None) -> float:
    """Latency of `unit` at `width` filters (None: the block removed) from `table`."""
    entry = table["units"][unit]
    if width is None:
        return float(entry.get("remove_ms") or 0.0)
    return float(entry["widths"][str(width)])
