"""Result files on disk: one JSON per measurement (`BenchResult`, bench/result.py), its file name, the CSV rows.

Example::

    r = load_result(path)
    r.latency.p50_ms, r.latency.samples_ms, r.memory.peak_rss_mb, r.model.sha256, r.runtime.name, r.machine.cpu.isa
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import re
from pathlib import Path
from typing import Any

from edgebench.atomic import check_writable_dir, ensure_writable_dir, update_text_locked, write_json_new
from edgebench.bench.result import BenchResult
from edgebench.errors import ResultSchemaError
from edgebench.readers import read_json_file


def validate_result(data: Any, source: str = "result") -> dict[str, Any]:
    """Check a result dict against the schema (`BenchResult.from_dict`); raise ResultSchemaError naming the bad
    field. Returns `data` itself, for readers that keep the dict."""
    BenchResult.from_dict(data, source)
    return data  # type: ignore[no-any-return]


def load_result(path: Path) -> BenchResult:
    """The result file at `path`; one ResultSchemaError naming the file and the bad field."""
    path = Path(path)
    return BenchResult.from_dict(read_json_file(path, "result file", ResultSchemaError), str(path))


def utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def result_filename(result: BenchResult) -> str:
    o = result.options
    stamp = re.sub(r"[^0-9T]", "", result.created_utc)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", result.model.name)
    return f"{name}.{result.runtime.name}.b{o.batch}.t{o.threads}.{stamp}.json"


def write_result(result: BenchResult, out_dir: Path) -> Path:
    """Write `result` as `out_dir/result_filename(result)` (`.1.json`, `.2.json`... when taken); never over
    another result, also when several runs write into `out_dir` in the same second."""
    out_dir = ensure_writable_dir(Path(out_dir))
    return write_json_new(out_dir / result_filename(result), result.to_dict())


FLAT_FIELDS = (
    "created_utc", "model.name", "model.precision", "model.sha256", "model.file_size_mb", "runtime.name",
    "runtime.version", "options.batch", "options.threads", "options.inter_op_threads",
    "options.graph_optimization", "latency.first_run_ms", "latency.p50_ms", "latency.p90_ms", "latency.p95_ms",
    "latency.p99_ms", "latency.mean_ms", "latency.std_ms", "latency.n", "latency.noisy",
    "latency.throughput_items_per_s", "memory.rss_after_load_mb", "memory.peak_rss_mb", "machine.id",
    "machine.hostname", "machine.cpu.arch", "machine.cpu.model",
)


def flat_row(result: BenchResult) -> dict[str, Any]:
    """The result's FLAT_FIELDS (dotted paths into its JSON), None where it has none."""
    row: dict[str, Any] = {}
    for f in FLAT_FIELDS:
        cur: Any = result.to_dict()
        for part in f.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        row[f] = cur
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


def append_csv(path: Path, result: BenchResult) -> Path:
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
