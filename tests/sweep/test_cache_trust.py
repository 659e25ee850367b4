"""The sweep cache verifies what it reuses: a done marker and the files it records (sha256), paths confined
to the stage's folder. Anything else (edited, missing, garbage, wrong type, outside paths, old markers
without hashes) is not trusted: the stage runs again with a `note:` line naming it and why, exit 0."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from edgebench.cli import app
from edgebench.sweep.graph import DONE
from typer.testing import CliRunner

from tests.sweep.tiny_sweep import make_tiny, sweep_text

EVIL = {"evil": True, "latency": {"p50_ms": 0.0001}}


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny sweep (fp32, 1 thread, no drift repeats: import, evaluate, bench) in ROOT/out."""
    root = make_tiny(tmp_path_factory.mktemp("trust"))
    text = sweep_text(root, models=[str(root / "tiny")], precisions='["fp32"]', threads="[1]\nrepeat_cells = 0")
    (root / "sweep.toml").write_text(text, encoding="utf-8")
    r = CliRunner().invoke(app, ["sweep", str(root / "sweep.toml"), "-o", str(root / "out")])
    assert r.exit_code == 0, r.stderr
    return root


def _node(out: Path, stage: str) -> dict:
    s = json.loads((out / "summary.json").read_text())
    return next(n for n in s["nodes"] if n["stage"] == stage)


def _marker(out: Path, key: str) -> dict:
    return json.loads((out / "cache" / key / DONE).read_text())


def _write_marker(out: Path, key: str, marker: object, *, resign: bool = False) -> None:
    """Write a done marker; `resign`: recompute its own digest (a crafted marker, not a careless edit)."""
    if resign and isinstance(marker, dict) and "sha256" in marker:
        from edgebench.sweep.graph import marker_digest

        marker["sha256"] = marker_digest(marker)
    (out / "cache" / key / DONE).write_text(json.dumps(marker))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _evil(root: Path) -> Path:
    """A result-looking file outside the sweep folder."""
    p = root / "x" / "evil.json"
    p.parent.mkdir(exist_ok=True)
    p.write_text(json.dumps(EVIL))
    return p


def edited_result(out: Path, key: str, _root: Path) -> str:
    p = out / "cache" / key / "result.json"
    r = json.loads(p.read_text())
    r["latency"]["p50_ms"] = 0.0001
    r["accuracy"]["top1_pct"] = 100.0
    p.write_text(json.dumps(r))
    return "'result.json' changed since the stage finished"


def deleted_result(out: Path, key: str, _root: Path) -> str:
    (out / "cache" / key / "result.json").unlink()
    return "'result.json' is missing (or not a file)"


def garbage_result(out: Path, key: str, _root: Path) -> str:
    (out / "cache" / key / "result.json").write_bytes(b"\x00\xffnot json")
    return "'result.json' changed since the stage finished"


def outside_path(out: Path, key: str, root: Path) -> str:
    evil = _evil(root)
    rel = os.path.relpath(evil, out / "cache" / key)  # ../../../x/evil.json
    assert rel.startswith("..")
    m = _marker(out, key)
    m["outputs"]["result"] = rel
    m["files"][rel] = _sha(evil)
    _write_marker(out, key, m, resign=True)
    return f"outputs.result '{rel}' is outside the stage folder"


def outside_path_edited(out: Path, key: str, root: Path) -> str:
    m = _marker(out, key)
    m["outputs"]["result"] = os.path.relpath(_evil(root), out / "cache" / key)  # done.json edited by hand
    _write_marker(out, key, m)
    return "was edited"


def absolute_path(out: Path, key: str, root: Path) -> str:
    evil = _evil(root)
    m = _marker(out, key)
    m["outputs"]["result"] = str(evil)
    m["files"][str(evil)] = _sha(evil)
    _write_marker(out, key, m, resign=True)
    return "is outside the stage folder"


def symlink_out(out: Path, key: str, root: Path) -> str:
    evil = _evil(root)
    p = out / "cache" / key / "result.json"
    p.unlink()
    p.symlink_to(evil)
    m = _marker(out, key)
    m["files"]["result.json"] = _sha(evil)
    _write_marker(out, key, m, resign=True)
    return "'result.json' is outside the stage folder (a link)"


def list_marker(out: Path, key: str, _root: Path) -> str:
    _write_marker(out, key, [1, 2])
    return "done.json holds a list, not an object"


def garbage_marker(out: Path, key: str, _root: Path) -> str:
    (out / "cache" / key / DONE).write_bytes(b"{\x00\xff")
    return "done.json is not JSON"


def old_marker(out: Path, key: str, _root: Path) -> str:
    m = _marker(out, key)
    del m["files"], m["sha256"]
    _write_marker(out, key, m)
    return "no content hashes (written by an older edgebench)"


def edited_marker_figure(out: Path, key: str, _root: Path) -> str:
    m = _marker(out, key)
    m["outputs"]["p50_ms"] = 0.0001
    _write_marker(out, key, m)
    return "done.json was edited"


def marker_of_another_stage(out: Path, key: str, _root: Path) -> str:
    ev = _node(out, "evaluate")["key"]
    shutil.copy(out / "cache" / ev / DONE, out / "cache" / key / DONE)
    return f"belongs to stage {ev[:12]}"


CASES: dict[str, Callable[[Path, str, Path], str]] = {
    f.__name__: f for f in (edited_result, deleted_result, garbage_result, outside_path, outside_path_edited,
                            absolute_path, symlink_out, list_marker, garbage_marker, old_marker,
                            edited_marker_figure, marker_of_another_stage)
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_untrusted_bench_cache_is_measured_again(swept: Path, tmp_path: Path, case: str) -> None:
    out = tmp_path / "out"
    shutil.copytree(swept / "out", out, symlinks=True)
    bench = _node(out, "bench")
    why = CASES[case](out, bench["key"], tmp_path)
    evil_before = (tmp_path / "x" / "evil.json").read_bytes() if (tmp_path / "x").exists() else None
    r = CliRunner().invoke(app, ["sweep", str(swept / "sweep.toml"), "-o", str(out)])
    assert r.exit_code == 0, (r.stderr, r.stdout)
    notes = [ln for ln in r.stderr.splitlines() if ln.startswith("note: cache of")]
    assert len(notes) == 1 and f"'{bench['label']}'" in notes[0] and why in notes[0], r.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["counts"] == {"done": 1, "cached": 2, "failed": 0, "skipped": 0}
    # the re-measured result is published, never the edited one nor the file outside the folder
    published = [json.loads(p.read_text()) for p in (out / "results" / "local").glob("*.json")]
    assert len(published) == 1 and "evil" not in published[0]
    assert published[0]["latency"]["p50_ms"] != 0.0001 and published[0]["accuracy"]["top1_pct"] != 100.0
    assert "0.0001" not in (out / "recommendation.json").read_text()
    if evil_before is not None:
        assert (tmp_path / "x" / "evil.json").read_bytes() == evil_before
    # and its new marker is trusted: a third run is all cache hits, no note
    r = CliRunner().invoke(app, ["sweep", str(swept / "sweep.toml"), "-o", str(out)])
    assert r.exit_code == 0 and "note: cache of" not in r.stderr
    assert json.loads((out / "summary.json").read_text())["counts"]["cached"] == 3


def test_an_edited_input_model_reruns_its_stage_and_the_rest_stays_cached(swept: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(swept / "out", out)
    imp = _node(out, "import")
    model = out / "cache" / imp["key"] / "model.fp32.onnx"
    model.write_bytes(model.read_bytes() + b"\0")
    r = CliRunner().invoke(app, ["sweep", str(swept / "sweep.toml"), "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    assert f"note: cache of '{imp['label']}' not reused: 'model.fp32.onnx' changed" in r.stderr
    assert json.loads((out / "summary.json").read_text())["counts"] == {"done": 1, "cached": 2, "failed": 0,
                                                                       "skipped": 0}


@pytest.mark.slow
def test_a_ray_task_verifies_the_cache_too(swept: Path, tmp_path: Path) -> None:
    """The compute stages run as Ray tasks: the note comes back with the task's outcome."""
    pytest.importorskip("ray")
    out = tmp_path / "out"
    shutil.copytree(swept / "out", out)
    imp = _node(out, "import")
    (out / "cache" / imp["key"] / "model.fp32.onnx").write_bytes(b"not the model")
    r = CliRunner().invoke(app, ["sweep", str(swept / "sweep.toml"), "-o", str(out), "--ray", "local",
                                 "--ray-cpus", "1"])
    assert r.exit_code == 0, r.stderr
    assert f"note: cache of '{imp['label']}' not reused: 'model.fp32.onnx' changed" in r.stderr
    assert json.loads((out / "summary.json").read_text())["counts"]["done"] == 1
