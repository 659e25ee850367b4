"""Run-to-run drift of a device, measured: some of its cells are benched a second time after the others.

A cell's p50 95 % CI is sampling noise within one run. A sweep benches its cells one after another on a
machine that other work shares, so two cells' p50s also differ by what changed between their runs (other
load, clock frequency, thermals): drift, which no CI contains. After a device's lane, `[bench]
repeat_cells` of its finished cells are benched again, in a fresh process each, exactly as the first time:
the first cell of the lane (the longest time between the two runs) and then the fastest cells (the
ones a recommendation compares). Each gives the relative change of its p50 between the two runs; the
device's drift is the LARGEST |change| (with 2-3 repeats a median or mean would understate it; the max
is the conservative figure). `bench.report.recommend` counts a margin within that drift as noise.

A repeat is cached like a stage: ``DIR/cache/<repeat key>/`` (the key chains the cell's key, so a cell
that is measured again gets a new repeat), so a re-run of a finished sweep measures nothing. The record
goes to summary.json (``drift``) and into the ``sweep`` block of each published result of that device
(``sweep.drift``), so `edgebench recommend` reads it from the results alone.

Example::

    rep = pick_repeats(lane_cells, cache, 3)            # first cell, then the fastest
    record = drift_record("local", [(c, repeat_node(c)) for c in rep], cache)
    record["drift_pct"]                                  # e.g. 2.4
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgebench.sweep.graph import Node, content_key, read_done

STATISTIC = "largest |relative p50 change| between a cell's first run and its repeat"


def repeat_key(cell_key: str) -> str:
    """The cache key of a cell's repeat (chains the cell's key: a re-measured cell gets a new repeat)."""
    return content_key("repeat", {"of": cell_key}, (cell_key,))


def repeat_node(cell: Node) -> Node:
    """A bench node that measures `cell` again (same settings and inputs) into its own cache folder."""
    return Node(repeat_key(cell.key), "bench", f"repeat {cell.label}", cell.settings_json, cell.deps)


def _p50(done: dict[str, Any] | None) -> float | None:
    if not isinstance(done, dict) or not isinstance(done.get("outputs"), dict):
        return None
    v = done["outputs"].get("p50_ms")
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
        return None
    return float(v)


def pick_repeats(cells: Sequence[Node], cache: Path, n: int) -> list[Node]:
    """Up to `n` finished cells of one lane: its first finished cell, then the fastest (p50) of the others.

    Deterministic for a given cache, so a re-run picks the same cells and finds their repeats cached.
    """
    if n <= 0:
        return []
    done = [(c, p) for c in cells if (p := _p50(read_done(cache, c.key))) is not None]
    if not done:
        return []
    picked = [done[0][0]]
    for c, _p in sorted(done[1:], key=lambda cp: (cp[1], cp[0].label)):
        if len(picked) >= n:
            break
        picked.append(c)
    return picked


def drift_record(device: str, pairs: Sequence[tuple[Node, Node]], cache: Path) -> dict[str, Any] | None:
    """The device's drift from its (cell, repeat) pairs whose both runs finished; None when none did."""
    cells = []
    for cell, rep in pairs:
        first, again = _p50(read_done(cache, cell.key)), _p50(read_done(cache, rep.key))
        if first is None or again is None:
            continue
        cells.append({"label": cell.label, "key": cell.key, "repeat_key": rep.key, "p50_ms_first": first,
                      "p50_ms_repeat": again, "change_pct": 100.0 * (again - first) / first})
    if not cells:
        return None
    machine = next((c.settings.get("machine_id") for c, _ in pairs), None)
    return {"device": device, "machine_id": machine, "drift_pct": max(abs(c["change_pct"]) for c in cells),
            "statistic": STATISTIC, "repeats": len(cells), "cells": cells}


def result_drift(record: dict[str, Any]) -> dict[str, Any]:
    """What a published result's ``sweep.drift`` holds (the per-cell detail stays in summary.json)."""
    return {"drift_pct": record["drift_pct"], "statistic": record["statistic"], "repeats": record["repeats"]}
