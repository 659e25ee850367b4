"""The result file: one JSON per measurement, `schema_version`, units in field names.

Example of the fields most readers use::

    r["latency"]["p50_ms"], r["latency"]["samples_ms"], r["memory"]["peak_rss_mb"],
    r["model"]["sha256"], r["runtime"]["name"], r["machine"]["cpu"]["isa"]
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import math
import re
from pathlib import Path
from typing import Any

from edgebench.atomic import check_writable_dir, ensure_writable_dir, update_text_locked, write_json_new
from edgebench.errors import ResultSchemaError
from edgebench.readers import read_json_file

SCHEMA_VERSION = 1

_NUM = (int, float)
# dotted path -> allowed types; None allowed where listed with type(None).
REQUIRED: dict[str, tuple[type, ...]] = {
    "schema_version": (int,),
    "kind": (str,),
    "created_utc": (str,),
    "model.path": (str,),
    "model.name": (str,),
    "model.sha256": (str,),
    "model.file_size_mb": _NUM,
    "model.inputs": (list,),
    "runtime.name": (str,),
    "runtime.version": (str,),
    "options": (dict,),
    "options.batch": (int,),
    "options.threads": (int,),
    "latency.first_run_ms": _NUM,
    "latency.p50_ms": _NUM,
    "latency.p90_ms": _NUM,
    "latency.p95_ms": _NUM,
    "latency.p99_ms": _NUM,
    "latency.mean_ms": _NUM,
    "latency.std_ms": _NUM,
    "latency.min_ms": _NUM,
    "latency.max_ms": _NUM,
    "latency.p50_ci95_ms": (list,),
    "latency.samples_ms": (list,),
    "latency.noisy": (bool,),
    "latency.throughput_items_per_s": _NUM,
    "memory.rss_before_load_mb": _NUM,
    "memory.rss_after_load_mb": _NUM,
    "memory.peak_rss_mb": _NUM,
    "machine": (dict,),
    "machine.cpu.arch": (str,),
    "machine.cpu.isa": (dict,),
}
# fields a result may leave out (or set to null); when given, of these types (what the report reads)
OPTIONAL: dict[str, tuple[type, ...]] = {
    "model.precision": (str,), "model.arch": (str,), "runtime.precision": (str,), "runtime.info": (dict,),
    "runtime.execution_precision": (str,),
    "machine.id": (str,), "machine.hostname": (str,), "machine.board": (dict,), "machine.board.model": (str,),
    "machine.cpu.model": (str,), "machine.cpu.logical_cores": (int,), "machine.cpu.max_freq_mhz": _NUM,
    "machine.cpu.cur_freq_mhz": _NUM, "options.graph_optimization": (str,), "sweep": (dict,),
    "options.cpus": (list,), "placement": (dict,), "cold_start": (dict,), "cold_start.process_to_session_ms": _NUM,
    "cold_start.session_to_first_result_ms": _NUM, "cold_start.total_ms": _NUM, "cold_start.load_peak_rss_mb": _NUM,
    "scenario": (dict,), "scenario.name": (str,), "scenario.streams": (int,), "scenario.threads_per_stream": (int,),
    "throughput": (dict,), "throughput.items_per_s": _NUM, "throughput.queries_per_s": _NUM,
}


def _get(d: Any, dotted: str) -> Any:
    cur = d
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise KeyError(dotted)
        cur = cur[part]
    return cur


def validate_result(data: Any, source: str = "result") -> dict[str, Any]:
    """Check a result dict against the schema; raise ResultSchemaError naming the bad field."""
    if not isinstance(data, dict):
        raise ResultSchemaError(f"{source}: not a JSON object; expected an edgebench result file")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultSchemaError(
            f"{source}: schema_version {version!r} is not {SCHEMA_VERSION}, which this edgebench reads; "
            "re-run the benchmark with this version or use the matching edgebench"
        )
    for path, types in REQUIRED.items():
        try:
            value = _get(data, path)
        except KeyError:
            raise ResultSchemaError(f"{source}: missing field '{path}'") from None
        if isinstance(value, bool) and bool not in types:
            raise ResultSchemaError(f"{source}: field '{path}' is a bool; expected {types[0].__name__}")
        if not isinstance(value, types):
            raise ResultSchemaError(
                f"{source}: field '{path}' is {type(value).__name__}; expected {types[0].__name__}"
            )
    for path, types in OPTIONAL.items():
        try:
            value = _get(data, path)
        except KeyError:
            continue
        if value is not None and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
            raise ResultSchemaError(f"{source}: field '{path}' is {type(value).__name__}; expected "
                                    f"{types[0].__name__} or null")
    if not all(isinstance(x, _NUM) and not isinstance(x, bool) for x in data["latency"]["samples_ms"]):
        raise ResultSchemaError(f"{source}: latency.samples_ms must hold numbers only")
    ci = data["latency"]["p50_ci95_ms"]
    if len(ci) != 2 or not all(isinstance(x, _NUM) and not isinstance(x, bool) for x in ci):
        raise ResultSchemaError(f"{source}: latency.p50_ci95_ms must be two numbers [low, high]; got {ci!r:.80}")
    for path, low, strict in RANGES:
        values = _get(data, path)
        for v in values if isinstance(values, list) else [values]:
            if not math.isfinite(v) or v < low or (strict and v == low):
                want = f"{'>' if strict else '>='} {low}"
                raise ResultSchemaError(f"{source}: field '{path}' is {v!r}; it must be a finite number {want} "
                                        "(a damaged or hand-edited file: re-run the benchmark)")
    _check_accuracy(data.get("accuracy"), source)
    for key in ("items_per_s", "queries_per_s"):  # --scenario multi/offline
        v = (data.get("throughput") or {}).get(key)
        if v is not None and not (math.isfinite(v) and v >= 0):
            raise ResultSchemaError(f"{source}: field 'throughput.{key}' is {v!r}; it must be a finite number >= 0 "
                                    "(a damaged or hand-edited file: re-run the benchmark)")
    return data


# dotted path -> (lowest allowed value, whether the lowest itself is refused); a list is checked item by item
RANGES: tuple[tuple[str, float, bool], ...] = (
    ("model.file_size_mb", 0, False), ("options.batch", 1, False), ("options.threads", 1, False),
    ("latency.p50_ms", 0, True), ("latency.first_run_ms", 0, False), ("latency.p90_ms", 0, False),
    ("latency.p95_ms", 0, False), ("latency.p99_ms", 0, False), ("latency.mean_ms", 0, False),
    ("latency.std_ms", 0, False), ("latency.min_ms", 0, False), ("latency.max_ms", 0, False),
    ("latency.p50_ci95_ms", 0, False), ("latency.samples_ms", 0, False), ("latency.throughput_items_per_s", 0, False),
    ("memory.rss_before_load_mb", 0, False), ("memory.rss_after_load_mb", 0, False), ("memory.peak_rss_mb", 0, False),
)


def _check_accuracy(acc: Any, source: str) -> None:
    """An `accuracy` block, when present: percentages in [0, 100], a count >= 1."""
    if acc is None:
        return
    if not isinstance(acc, dict):
        raise ResultSchemaError(f"{source}: field 'accuracy' is {type(acc).__name__}; expected an object")
    for key, low, high in (("top1_pct", 0, 100), ("top5_pct", 0, 100), ("n", 1, math.inf)):
        v = acc.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, _NUM) or not math.isfinite(v) or not low <= v <= high:
            raise ResultSchemaError(f"{source}: field 'accuracy.{key}' is {v!r:.40}; it must be a number in "
                                    f"[{low}, {high}] (a damaged or hand-edited file: evaluate again)")


def load_result(path: Path) -> dict[str, Any]:
    path = Path(path)
    return validate_result(read_json_file(path, "result file", ResultSchemaError), str(path))


def utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def result_filename(result: dict[str, Any]) -> str:
    o = result["options"]
    stamp = re.sub(r"[^0-9T]", "", result["created_utc"])
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", result["model"]["name"])
    return f"{name}.{result['runtime']['name']}.b{o['batch']}.t{o['threads']}.{stamp}.json"


def write_result(result: dict[str, Any], out_dir: Path) -> Path:
    """Write `result` as `out_dir/result_filename(result)` (`.1.json`, `.2.json`... when taken); never over
    another result, also when several runs write into `out_dir` in the same second."""
    validate_result(result)
    out_dir = ensure_writable_dir(Path(out_dir))
    return write_json_new(out_dir / result_filename(result), result)


FLAT_FIELDS = (
    "created_utc", "model.name", "model.precision", "model.sha256", "model.file_size_mb", "runtime.name",
    "runtime.version", "options.batch", "options.threads", "options.inter_op_threads",
    "options.graph_optimization", "latency.first_run_ms", "latency.p50_ms", "latency.p90_ms", "latency.p95_ms",
    "latency.p99_ms", "latency.mean_ms", "latency.std_ms", "latency.n", "latency.noisy",
    "latency.throughput_items_per_s", "memory.rss_after_load_mb", "memory.peak_rss_mb", "machine.id",
    "machine.hostname", "machine.cpu.arch", "machine.cpu.model",
)


def flat_row(result: dict[str, Any]) -> dict[str, Any]:
    row = {}
    for f in FLAT_FIELDS:
        try:
            row[f] = _get(result, f)
        except KeyError:
            row[f] = None
    return row


def check_csv(path: Path) -> Path:
    """Fail early (before anything is measured or written) when `path` cannot take edgebench's rows."""
    from edgebench.errors import UserInputError

    path = Path(path)
    if path.exists() and not path.is_file():
        raise UserInputError(f"--csv '{path}' is a folder, not a file; give a file name, e.g. {path / 'results.csv'}")
    if path.parent.exists() and not path.parent.is_dir():
        raise UserInputError(f"--csv '{path}': '{path.parent}' is not a folder")
    check_writable_dir(path.parent, "--csv")  # a folder that cannot be made: refused before the run, not after
    if path.is_file():
        try:
            with open(path, encoding="utf-8") as f:
                header = f.readline().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as e:
            raise UserInputError(f"--csv '{path}' cannot be read ({e}); use a new file") from None
        if header and header.split(",") != list(FLAT_FIELDS):
            raise ResultSchemaError(f"CSV '{path}' has other columns than this edgebench writes; use a new file")
    return path


def append_csv(path: Path, result: dict[str, Any]) -> Path:
    """Append one flat row to `path` (header on a new file): replaced atomically, under the folder's lock,
    so two runs appending at once keep both rows."""
    path = check_csv(path)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FLAT_FIELDS, lineterminator="\n")
    w.writerow(flat_row(result))

    def add_row(existing: str | None) -> str:
        if existing and existing.splitlines()[0].split(",") != list(FLAT_FIELDS):
            raise ResultSchemaError(f"CSV '{path}' has other columns than this edgebench writes; use a new file")
        if not existing:
            head = io.StringIO()
            csv.DictWriter(head, fieldnames=FLAT_FIELDS, lineterminator="\n").writeheader()
            existing = head.getvalue()
        return existing + buf.getvalue()

    return update_text_locked(path, add_row)
