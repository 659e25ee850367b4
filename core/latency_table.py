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
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgebench.errors import UserInputError, check_one_of
from edgebench.manifest import MAX_IMAGE_SIDE
from edgebench.readers import read_json_file

PROBES_KIND = "edgebench.latency-probes"
PROBES_FILE = "probes.json"  # in a probe pack folder, beside the ONNX model it measures
TABLE_KIND = "edgebench.latency-table"
SCHEMA_VERSION = 1
PRECISIONS = ("fp32", "int8")
RUNTIMES = ("ort-cpu",)


def check_measure_options(runtime: str, precision: str, threads: int, rounds: int) -> None:
    """Refuse what a table cannot be measured with, before the probes are built or timed (`latency-table`)."""
    from edgebench.errors import suggest

    if runtime not in RUNTIMES:
        raise UserInputError(f"latency tables are measured with {', '.join(RUNTIMES)}, not '{runtime}'"
                             f"{suggest(runtime, RUNTIMES) or '; give -r ort-cpu'}")
    check_one_of("--precision", precision, PRECISIONS)
    if isinstance(threads, bool) or threads < 1:
        raise UserInputError(f"--threads {threads} must be >= 1")
    if isinstance(rounds, bool) or rounds < 1:
        raise UserInputError(f"--rounds {rounds} must be >= 1 (e.g. 7: the median of 7 interleaved rounds)")


@dataclass(frozen=True)
class LatencyTableConfig:
    """`edgebench latency-table`'s options, checked on construction (before the model is loaded or a probe
    built: those take seconds to minutes). With `write_probes` only the probe pack is written there."""

    output: Path
    runtime: str = "ort-cpu"
    precision: str = "int8"
    threads: int = 1
    channel_block: int = 8
    rounds: int = 7
    write_probes: Path | None = None
    force: bool = False

    def __post_init__(self) -> None:
        from edgebench.atomic import check_writable_dir
        from edgebench.errors import OutputExistsError

        check_measure_options(self.runtime, self.precision, self.threads, self.rounds)
        if self.channel_block < 1:
            raise UserInputError(f"--channel-block {self.channel_block} must be >= 1")
        if self.write_probes is not None:
            check_writable_dir(self.write_probes, "--write-probes")
            return
        if self.output.is_dir():
            raise UserInputError(f"--output '{self.output}' is a folder; give the table's file name, e.g. "
                                 f"{self.output / 'table.json'}")
        if self.output.exists() and not self.force:
            raise OutputExistsError(f"'{self.output}' exists; pass --force to overwrite it")
        check_writable_dir(self.output.parent, "--output")


def structure_hash(units: Any, input_shape: Any) -> str:
    """A short hash of what the latency depends on: the input shape and every unit's convs and widths."""
    text = json.dumps({"input": input_shape, "units": units}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _read(path: Path, kind: str, what: str) -> dict[str, Any]:
    data = read_json_file(path, what)
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise UserInputError(f"'{path}' is not a {what} (kind '{kind}'); give the file edgebench latency-table wrote")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise UserInputError(f"{what} '{path}' has schema_version {data.get('schema_version')!r}; this edgebench "
                             f"reads {SCHEMA_VERSION}: measure it again")
    return data


MAX_PROBE_CHANNELS = 65536  # a unit's input channels, filters and candidate widths
MAX_PROBE_KERNEL = 31  # kernel side, stride and padding of a probe conv
MAX_PROBE_ELEMENTS = 2**28  # a unit's input tensor and each conv's weights (1 GiB of float32)


def load_probes(path: Path) -> dict[str, Any]:
    """The probes document at `path` (probes.json of a probe pack), every unit and the model file checked."""
    data = _read(path, PROBES_KIND, "latency probe file")
    if not isinstance(data.get("units"), list) or not isinstance(data.get("model"), dict):
        raise UserInputError(f"latency probe file '{path}' has no 'units'/'model'; write it again")
    for i, unit in enumerate(data["units"]):
        problem = _unit_problem(unit)
        if problem:
            raise UserInputError(f"latency probe file '{path}': unit {i} {problem}; write the probe pack again "
                                 "(edgebench latency-table MODEL --write-probes DIR)")
    model_file = data.get("model_file")
    if model_file is not None:
        if not isinstance(model_file, str) or Path(model_file).name != model_file or not model_file.endswith(".onnx"):
            raise UserInputError(f"latency probe file '{path}' names model_file {model_file!r}; it must be the name "
                                 "of an .onnx file beside probes.json: write the pack again")
        if not (Path(path).parent / model_file).is_file():
            raise UserInputError(f"latency probe file '{path}' names model_file '{model_file}', which is not a file "
                                 "beside it; copy the whole probe pack folder")
    recorded = data["model"].get("hash")
    if recorded != structure_hash(data["units"], data.get("input_shape")):
        raise UserInputError(f"latency probe file '{path}': its units do not match the model hash {recorded!r} they "
                             "were written with (edited or corrupted); write the probe pack again (--write-probes)")
    return data


def _is_int(v: Any, low: int, *, w: bool = False) -> bool:
    return (w and v == "w") or (isinstance(v, int) and not isinstance(v, bool) and v >= low)


def _ints(v: Any, n: int, low: int) -> bool:
    return isinstance(v, list) and len(v) == n and all(_is_int(x, low) for x in v)


def _unit_problem(u: Any) -> str | None:
    """What is wrong with one probe unit (the fields `bench.latency_probe.unit_graph` builds from), or None."""
    if not isinstance(u, dict) or not isinstance(u.get("name"), str):
        return "is not an object with a 'name'"
    if not _ints(u.get("input"), 4, 1):
        return f"'{u['name']}' has input {u.get('input')!r:.60}; expected [N, C, H, W], each >= 1"
    if not _is_int(u.get("channels"), 1):
        return f"'{u['name']}' has channels {u.get('channels')!r:.40}; expected an integer >= 1"
    widths = u.get("widths")
    if not isinstance(widths, list) or not widths or not all(_is_int(x, 1) for x in widths):
        return f"'{u['name']}' has widths {widths!r:.60}; expected a list of integers >= 1"
    convs = u.get("convs")
    if not isinstance(convs, list) or not convs:
        return f"'{u['name']}' has no list of convs"
    n, ch, h, w = u["input"]
    if ch > MAX_PROBE_CHANNELS or max(h, w) > MAX_IMAGE_SIDE or n > 64 or n * ch * h * w > MAX_PROBE_ELEMENTS:
        return (f"'{u['name']}' has input {u['input']!r}: beyond the bounds a real model needs (N <= 64, C <= "
                f"{MAX_PROBE_CHANNELS}, H, W <= {MAX_IMAGE_SIDE}, at most {MAX_PROBE_ELEMENTS} values)")
    if max(widths) > MAX_PROBE_CHANNELS:
        return f"'{u['name']}' has widths above {MAX_PROBE_CHANNELS}"
    for c in convs:
        if not (isinstance(c, dict) and _is_int(c.get("cin"), 1, w=True) and _is_int(c.get("cout"), 1, w=True)
                and _is_int(c.get("groups", 1), 1, w=True) and _ints(c.get("k"), 2, 1)
                and _ints(c.get("stride"), 2, 1) and _ints(c.get("pad"), 4, 0)):
            return (f"'{u['name']}' has conv {c!r:.80}; expected cin, cout, groups (integers >= 1 or 'w'), k and "
                    "stride [2 integers >= 1], pad [4 integers >= 0]")
        (kh, kw), (sh, sw), (pt, pl, pb, pr) = c["k"], c["stride"], c["pad"]
        h, w = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
        if h < 1 or w < 1:
            return f"'{u['name']}' has a conv {c!r:.80} whose kernel is larger than its padded input"
        sizes = [max(widths) if c.get(k, 1) == "w" else c.get(k, 1) for k in ("cin", "cout", "groups")]
        if (max(sizes) > MAX_PROBE_CHANNELS or max(kh, kw, sh, sw, pt, pl, pb, pr) > MAX_PROBE_KERNEL
                or sizes[0] * sizes[1] * kh * kw > MAX_PROBE_ELEMENTS):
            return f"'{u['name']}' has a conv {c!r:.80} outside the bounds a real model needs"
    return None


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
    """A latency table from disk, every latency in it a finite number (full model > 0, units >= 0)."""
    data = _read(path, TABLE_KIND, "latency table")
    if not isinstance(data.get("units"), dict) or not isinstance(data.get("full_model_ms"), int | float):
        raise UserInputError(f"latency table '{path}' has no 'units'/'full_model_ms'; measure it again")
    figures: list[tuple[str, Any, bool]] = [("full_model_ms", data["full_model_ms"], True)]  # (what, value, > 0)
    for name, entry in data["units"].items():
        widths = entry.get("widths") if isinstance(entry, dict) else None
        if not isinstance(widths, dict):
            raise UserInputError(f"latency table '{path}': unit '{name}' has no 'widths'; measure it again")
        figures += [(f"unit '{name}' width {w}", v, False) for w, v in widths.items()]
        if entry.get("remove_ms") is not None:
            figures.append((f"unit '{name}' remove_ms", entry["remove_ms"], False))
    for what, v, positive in figures:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0 or \
                (positive and v == 0):
            need = "> 0" if positive else ">= 0"
            raise UserInputError(f"latency table '{path}': {what} is {v!r}, not a finite number of ms {need} "
                                 "(a table measured with --rounds 0, or edited); measure it again")
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
