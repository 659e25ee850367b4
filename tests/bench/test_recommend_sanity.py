"""recommend / compare never rank a damaged figure (p50 <= 0, NaN, top-1 outside [0, 100]) nor a NaN budget."""

from __future__ import annotations

from pathlib import Path

import pytest
from edgebench.bench.report.data import load_results
from edgebench.bench.report.recommend import recommend
from edgebench.cli import app
from edgebench.errors import ResultSchemaError, UserInputError
from typer.testing import CliRunner

from tests.bench.result_factory import X86, result, write

BAD = [pytest.param({"p50": -5.0}, "p50_ms' is -5.0", id="p50-negative"),
       pytest.param({"p50_ms": 0.0}, "p50_ms' is 0.0", id="p50-zero"),
       pytest.param({"p50": float("nan")}, "p50_ms' is nan", id="p50-nan"),
       pytest.param({"top1": 150.0}, "top1_pct' is 150.0", id="top1-150"),
       pytest.param({"top1": float("inf")}, "top1_pct' is inf", id="top1-inf")]


def _files(tmp_path: Path, bad: dict) -> Path:
    """Two results of one machine; the INT8 one carries the damaged figure (`p50_ms` is set in the file as is)."""
    damaged = result(X86, precision="int8", **{"top1": 91.4, **{k: v for k, v in bad.items() if k != "p50_ms"}})
    if "p50_ms" in bad:
        damaged["latency"]["p50_ms"] = bad["p50_ms"]
    write(tmp_path / "r", [result(X86, p50=2.0, top1=91.5), damaged])
    return tmp_path / "r"


@pytest.mark.parametrize(("bad", "message"), BAD)
def test_recommend_refuses_a_damaged_figure(tmp_path: Path, bad: dict, message: str) -> None:
    with pytest.raises(ResultSchemaError, match=message):  # the result reader refuses it: it is never a row
        recommend(load_results([_files(tmp_path, bad)]).rows, budget=1.0)


@pytest.mark.parametrize("command", ["recommend", "compare"])
def test_cli_refuses_a_negative_p50_in_one_line_and_writes_nothing(tmp_path: Path, command: str) -> None:
    if command == "compare":
        pytest.importorskip("jinja2")
    folder = _files(tmp_path, {"p50": -5.0})
    out = tmp_path / "report"
    args = [command, str(folder)] + (["-o", str(out), "--no-plots"] if command == "compare" else [])
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, (r.stderr, r.stdout)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("edgebench: error:") and "p50_ms' is -5.0" in lines[0]
    assert "recommended" not in r.stdout and not out.exists()


@pytest.mark.parametrize(("kwargs", "message"), [({"budget": float("nan")}, "--budget nan"),
                                                 ({"budget": float("inf")}, "--budget inf"),
                                                 ({"budget": 1.0, "reference_top1": 150.0}, "--reference 150"),
                                                 ({"budget": 1.0, "reference_top1": float("nan")}, "--reference nan")])
def test_library_refuses_non_finite_budget_and_reference(tmp_path: Path, kwargs: dict, message: str) -> None:
    write(tmp_path / "r", [result(X86, p50=2.0, top1=91.5)])
    with pytest.raises(UserInputError, match=message):
        recommend(load_results([tmp_path / "r"]).rows, **kwargs)
