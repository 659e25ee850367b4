"""Sweep grids are bounded like `bench`: threads by bench's oversubscription rule (`--allow-oversubscribe`),
batch by bench's MAX_BATCH, and the grid's size is said (with an estimated time) and needs `--yes` above
MAX_CELLS_WITHOUT_YES cells. The refusals themselves are rows of tests/test_bad_input.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from edgebench.bench.inputs import MAX_BATCH
from edgebench.cli import app
from edgebench.errors import UserInputError
from edgebench.sweep.config import parse_sweep
from edgebench.sweep.run import MAX_CELLS_WITHOUT_YES, check_grid_size, estimate_seconds, plan
from typer.testing import CliRunner

from tests.sweep.tiny_sweep import sweep_text


def _write(tiny: Path, threads: str = "[1]", batch: str = "[1]") -> Path:
    text = sweep_text(tiny, models=[str(tiny / "tiny")], precisions='["fp32"]', threads=f"{threads}\nbatch = {batch}")
    (tiny / "s.toml").write_text(text, encoding="utf-8")
    return tiny / "s.toml"


def test_dry_run_says_the_grid_size_and_time_and_when_it_needs_yes(tiny: Path) -> None:
    sweep = _write(tiny, batch=str(list(range(1, MAX_CELLS_WITHOUT_YES + 2))))
    r = CliRunner().invoke(app, ["sweep", str(sweep), "-o", str(tiny / "out"), "--dry-run"])
    assert r.exit_code == 0, r.stderr
    assert f"{MAX_CELLS_WITHOUT_YES + 1} cells, {MAX_CELLS_WITHOUT_YES + 3} stages" in r.stdout
    assert "estimated ~" in r.stdout and "running it needs --yes" in r.stdout
    r = CliRunner().invoke(app, ["sweep", str(sweep), "-o", str(tiny / "out"), "--dry-run", "--yes"])
    assert r.exit_code == 0 and "estimated ~" in r.stdout and "needs --yes" not in r.stdout
    assert not (tiny / "out").exists()


def test_yes_lets_a_large_grid_through_and_the_estimate_counts_every_cell(tiny: Path) -> None:
    cfg = parse_sweep(_write(tiny, batch=str(list(range(1, MAX_CELLS_WITHOUT_YES + 2)))).read_text())
    graph = plan(cfg)
    with pytest.raises(UserInputError, match=f"the grid has {MAX_CELLS_WITHOUT_YES + 1} cells"):
        check_grid_size(graph, cfg, yes=False)
    check_grid_size(graph, cfg, yes=True)
    small = parse_sweep(_write(tiny).read_text())
    assert estimate_seconds(graph, cfg) > len(graph.cells) * cfg.bench.min_seconds
    assert estimate_seconds(graph, cfg) > 100 * estimate_seconds(plan(small), small)


def test_allow_oversubscribe_lets_many_threads_through(tiny: Path) -> None:
    sweep = _write(tiny, threads="[10000]")
    r = CliRunner().invoke(app, ["sweep", str(sweep), "-o", str(tiny / "out"), "--dry-run"])
    assert r.exit_code == 2 and "[bench] threads 10000 is more than 4x" in r.stderr
    r = CliRunner().invoke(app, ["sweep", str(sweep), "-o", str(tiny / "out"), "--dry-run", "--allow-oversubscribe"])
    assert r.exit_code == 0, r.stderr


def test_the_largest_batch_is_accepted(tiny: Path) -> None:
    assert parse_sweep(_write(tiny, batch=f"[{MAX_BATCH}]").read_text()).bench.batch == (MAX_BATCH,)
    with pytest.raises(UserInputError, match=f"batch {MAX_BATCH + 1} is above"):
        parse_sweep(_write(tiny, batch=f"[{MAX_BATCH + 1}]").read_text())
