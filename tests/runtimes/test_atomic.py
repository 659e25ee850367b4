from __future__ import annotations

from pathlib import Path

import pytest
from edgebench.atomic import atomic_path, ensure_writable_dir, write_json
from edgebench.errors import EdgebenchError, OutputExistsError, UserInputError


def test_failure_leaves_nothing(tmp_path: Path) -> None:
    final = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(final) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_success_renames(tmp_path: Path) -> None:
    p = write_json(tmp_path / "sub" / "r.json", {"a": 1})
    assert p.read_text().strip().startswith("{") and [x.name for x in p.parent.iterdir()] == ["r.json"]


def test_outputs_get_umask_permissions(tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        p = write_json(tmp_path / "m.json", {"a": 1})
    finally:
        os.umask(old)
    assert p.stat().st_mode & 0o777 == 0o644


def test_no_overwrite_without_force(tmp_path: Path) -> None:
    p = write_json(tmp_path / "r.json", {"a": 1})
    with pytest.raises(OutputExistsError, match="--force"):
        write_json(p, {"a": 2}, force=False)
    assert '"a": 1' in p.read_text()


def test_output_folder_under_a_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(UserInputError, match="cannot create output folder"):
        ensure_writable_dir(f / "results")


def test_write_json_refuses_nan_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    with pytest.raises(EdgebenchError, match=r"accuracy\.per_class\.1 is inf"):
        write_json(target, {"accuracy": {"per_class": [1.0, float("inf")]}})
    assert list(tmp_path.iterdir()) == []
