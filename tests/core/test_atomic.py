"""edgebench.atomic: unique names and locked updates under concurrent writers (threads and processes)."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from edgebench.atomic import update_text_locked, write_json_new, write_text_new


def test_write_text_new_never_overwrites(tmp_path: Path) -> None:
    a = write_text_new(tmp_path / "r.json", "a")
    b = write_text_new(tmp_path / "r.json", "b")
    assert (a.name, b.name) == ("r.json", "r.1.json")
    assert a.read_text() == "a" and b.read_text() == "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.1.json", "r.json"]  # no temporary left


def test_many_threads_same_name_all_kept(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as ex:
        paths = list(ex.map(lambda i: write_json_new(tmp_path / "same.json", {"i": i}), range(40)))
    assert len(set(paths)) == 40
    assert sorted(json.loads(p.read_text())["i"] for p in paths) == list(range(40))


def test_locked_updates_from_processes_lose_nothing(tmp_path: Path) -> None:
    f = tmp_path / "log.txt"
    pids = []
    for k in range(4):
        pid = os.fork()
        if pid == 0:  # child: 25 read-modify-replace appends, as fast as it can
            code = 0
            try:
                for i in range(25):
                    update_text_locked(f, lambda cur, k=k, i=i: (cur or "") + f"{k}.{i}\n")
            except BaseException:
                code = 1
            os._exit(code)
        pids.append(pid)
    assert all(os.waitpid(p, 0)[1] == 0 for p in pids)
    lines = f.read_text().splitlines()
    assert len(lines) == 100 and len(set(lines)) == 100


def test_only_empty_folders_this_command_created_are_removed(tmp_path: Path) -> None:
    from edgebench.atomic import ensure_writable_dir, forget_created, remove_created_if_empty

    (tmp_path / "before").mkdir()
    forget_created()
    ensure_writable_dir(tmp_path / "before")  # existed: never ours to remove
    ensure_writable_dir(tmp_path / "a" / "b" / "c")
    ensure_writable_dir(tmp_path / "kept")
    (tmp_path / "kept" / "result.json").write_text("{}")
    removed = remove_created_if_empty()
    assert sorted(p.name for p in removed) == ["a", "b", "c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["before", "kept"]
