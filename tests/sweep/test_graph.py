"""The grid -> stage graph: content-hash keys chain, settings change only what they touch."""

from __future__ import annotations

import pytest
from edgebench.errors import UserInputError
from edgebench.sweep.config import parse_sweep
from edgebench.sweep.graph import Host, build_graph

VNNI_CPU = {"arch": "x86_64", "model": "Zen4", "isa": {"avx2": True, "avx512_vnni": True}}
HOST = Host(cpu=VNNI_CPU, machine_id="m1", runtimes=("ort-cpu", "torch", "torch-int8"),
            file_sha256={"./m/model.fp32.onnx": "ab" * 32})

BASE = """models = ["./m/model.fp32.onnx"]
[quantize]
precisions = {p}
[bench]
runtimes = {r}
threads = [1, 2]
"""


def graph(p: str = '["fp32", "int8:auto", "int8:x86-vnni"]', r: str = '["ort-cpu"]', host: Host = HOST) -> object:
    return build_graph(parse_sweep(BASE.format(p=p, r=r)), host)


def test_nodes_cells_and_dedupe_of_auto() -> None:
    g = graph()
    # int8:auto resolves to x86-vnni on this CPU: the same quantize node as int8:x86-vnni
    assert g.count("import") == 1 and g.count("quantize") == 1 and g.count("evaluate") == 2
    assert len(g.cells) == 4 and g.count("bench") == 4
    labels = {n.label for n in g.nodes.values()}
    assert "bench m-int8-x86-vnni/ort-cpu t2 b1 @local" in labels
    keys = list(g.nodes)
    for n in g.nodes.values():  # topological: inputs come first
        assert all(keys.index(d) < keys.index(n.key) for d in n.deps)


def test_keys_are_stable_and_change_only_downstream() -> None:
    a, b = graph(), graph()
    assert list(a.nodes) == list(b.nodes)
    other = graph(host=Host(cpu=VNNI_CPU, machine_id="m2", runtimes=HOST.runtimes, file_sha256=HOST.file_sha256))
    same = set(a.nodes) & set(other.nodes)
    assert {a.nodes[k].stage for k in same} == {"import", "quantize", "evaluate"}  # benches belong to a machine
    changed_file = graph(host=Host(cpu=VNNI_CPU, machine_id="m1", runtimes=HOST.runtimes,
                                   file_sha256={"./m/model.fp32.onnx": "cd" * 32}))
    assert not set(a.nodes) & set(changed_file.nodes)  # a new model file: everything below it re-runs


def test_installed_runtimes_and_what_they_run() -> None:
    g = graph(r='["installed"]')
    runs = {(n.settings["variant"], n.settings["runtime"]) for n in g.nodes.values() if n.stage == "evaluate"}
    assert runs == {("m-fp32", "ort-cpu"), ("m-fp32", "torch"), ("m-fp32", "torch-int8"),
                    ("m-int8-x86-vnni", "ort-cpu")}
    assert any("torch x int8" in n for n in g.notes)
    only_ort = graph(r='["installed"]', host=Host(cpu=VNNI_CPU, machine_id="m1", runtimes=("ort-cpu",),
                                                 file_sha256=HOST.file_sha256))
    assert {n.settings["runtime"] for n in only_ort.nodes.values() if n.stage == "bench"} == {"ort-cpu"}


def test_installed_with_nothing_runnable_is_an_empty_grid() -> None:
    with pytest.raises(UserInputError, match="empty grid"):
        graph(p='["int8"]', r='["installed"]', host=Host(cpu=VNNI_CPU, machine_id="m1", runtimes=("torch",),
                                                       file_sha256=HOST.file_sha256))
