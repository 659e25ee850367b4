"""Two real `edgebench bench` processes into one -o folder and one --csv: every result and row is kept."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from edgebench.bench.schema import load_result

EDGEBENCH = [sys.executable, "-c", "from edgebench.cli import main; main()"]


def test_two_processes_same_model_same_options_keep_everything(tiny_onnx: Path, tmp_path: Path) -> None:
    out, table = tmp_path / "results", tmp_path / "all.csv"
    cmd = [*EDGEBENCH, "bench", str(tiny_onnx), "-o", str(out), "--csv", str(table), "--in-process", "-t", "1",
           "--batch", "1,2,3,4,5", "--warmup-iters", "0", "--min-iters", "2", "--min-seconds", "0"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    files = sorted(out.glob("*.json"))
    assert len(files) == 10, [f.name for f in files]
    assert sorted(load_result(f).options.batch for f in files) == sorted([1, 2, 3, 4, 5] * 2)
    wrote = [ln.split("wrote ", 1)[1] for o in outs for ln in o[0].splitlines() if ln.startswith("wrote ")]
    assert len(set(wrote)) == 10  # each process names the file it actually wrote
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporaries left behind


def test_write_result_from_many_threads_same_second_keeps_all(tmp_path: Path) -> None:
    """Same model, options and second: the names collide, every writer must still get its own file."""
    from concurrent.futures import ThreadPoolExecutor

    from edgebench.bench.result import BenchResult
    from edgebench.bench.schema import write_result

    from tests.bench.result_factory import X86
    from tests.bench.result_factory import result as make_result

    result = BenchResult.from_dict(make_result(X86))
    with ThreadPoolExecutor(16) as ex:
        paths = list(ex.map(lambda _: write_result(result, tmp_path), range(64)))
    assert len(set(paths)) == 64 and len(list(tmp_path.glob("*.json"))) == 64


def test_append_csv_from_many_threads_keeps_all_rows(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from edgebench.bench.result import BenchResult
    from edgebench.bench.schema import append_csv

    from tests.bench.result_factory import X86
    from tests.bench.result_factory import result as make_result

    table, result = tmp_path / "t.csv", BenchResult.from_dict(make_result(X86))
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda _: append_csv(table, result), range(40)))
    with open(table, newline="") as f:
        assert len(list(csv.DictReader(f))) == 40
