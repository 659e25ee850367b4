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


CONVERTING = Host(cpu=VNNI_CPU, machine_id="m1", runtimes=("ort-cpu", "openvino", "litert", "ncnn"),
                  file_sha256=HOST.file_sha256)


def test_converting_runtimes_get_a_convert_stage_per_precision_they_support() -> None:
    g = graph(r='["installed"]', host=CONVERTING)
    evals = {(n.settings["variant"], n.settings["runtime"]) for n in g.nodes.values() if n.stage == "evaluate"}
    assert {("m-fp32", "openvino"), ("m-int8", "openvino"), ("m-fp32", "litert"), ("m-int8", "litert"),
            ("m-fp32", "ncnn")} <= evals
    assert ("m-int8", "ncnn") not in evals and any("ncnn x int8" in n for n in g.notes)
    converts = {(n.settings["runtime"], n.settings["precision"]) for n in g.nodes.values() if n.stage == "convert"}
    # OpenVINO reads the FP32 ONNX file itself: no convert stage for it; one INT8 conversion, not one per preset
    assert converts == {("openvino", "int8"), ("litert", "fp32"), ("litert", "int8"), ("ncnn", "fp32")}
    imp = next(k for k, n in g.nodes.items() if n.stage == "import")
    ov_fp32 = next(n for n in g.nodes.values() if n.stage == "evaluate" and n.settings["runtime"] == "openvino"
                   and n.settings["variant"] == "m-fp32")
    base = next(k for k, n in g.nodes.items() if n.label == "evaluate m-fp32/ort-cpu")  # the lineage's FP32
    assert ov_fp32.deps == (imp, base) and ov_fp32.settings["paired_with"] == "evaluate m-fp32/ort-cpu"
    lt_int8 = next(n for n in g.nodes.values() if n.stage == "convert" and n.settings["runtime"] == "litert"
                   and n.settings["precision"] == "int8")
    assert lt_int8.settings["calibration"] == "cifar10:train" and lt_int8.settings["calib_size"] == 500


def test_convert_keys_follow_calibration_not_the_ort_presets() -> None:
    a = graph(p='["fp32", "int8:x86-vnni"]', r='["litert"]', host=CONVERTING)
    b = graph(p='["fp32", "int8:x86-avx2"]', r='["litert"]', host=CONVERTING)
    assert {k for k, n in a.nodes.items() if n.stage == "convert"} == \
        {k for k, n in b.nodes.items() if n.stage == "convert"}
    text = BASE.format(p='["fp32", "int8"]', r='["litert"]')
    c = build_graph(parse_sweep(text.replace("[bench]", "[convert]\nparity_images = 64\n[bench]")), CONVERTING)
    assert not {k for k, n in a.nodes.items() if n.stage == "convert"} & set(c.nodes)


def test_a_missing_converter_is_a_note_and_openvino_fp32_still_runs() -> None:
    host = Host(cpu=VNNI_CPU, machine_id="m1", runtimes=("openvino",), file_sha256=HOST.file_sha256, converters=())
    g = graph(r='["openvino"]', host=host)
    assert g.count("convert") == 0 and {n.settings["precision"] for n in g.nodes.values() if n.stage == "bench"} \
        == {"fp32"}
    assert any("converter is not" in n and "openvino x int8" in n for n in g.notes)


def test_remote_bench_keys_hold_the_device_fingerprint() -> None:
    text = BASE.format(p='["fp32"]', r='["ort-cpu"]').replace("threads = [1, 2]", 'threads = [1]\ndevices = '
                                                               '["local", "pi4"]')
    hosts = [Host(cpu=VNNI_CPU, machine_id="m1", runtimes=("ort-cpu",), file_sha256=HOST.file_sha256,
                  device_ids={"pi4": i}) for i in ("board-a", "board-b", None)]
    a, b, down = (build_graph(parse_sweep(text), h) for h in hosts)
    benches = [{n.settings["device"]: k for k, n in g.nodes.items() if n.stage == "bench"} for g in (a, b, down)]
    assert benches[0]["local"] == benches[1]["local"] == benches[2]["local"]
    assert len({x["pi4"] for x in benches}) == 3  # another board (or an unprobed one) never reuses a result
    assert a.nodes[benches[0]["pi4"]].settings["machine_id"] == "board-a"
    assert {n.stage for k, n in a.nodes.items() if k in b.nodes} == {"import", "evaluate", "bench"}


def test_torch_int8_calibrates_on_the_quantize_settings() -> None:
    g = graph(r='["torch-int8"]', p='["fp32"]')
    opts = {n.stage: n.settings["runtime_options"] for n in g.nodes.values() if n.stage in ("evaluate", "bench")}
    assert opts["evaluate"] == opts["bench"] == {"calibration_data": "cifar10:train", "calibration_size": 500,
                                                 "calibration_seed": 0}
    text = BASE.format(p='["fp32"]', r='["torch-int8"]').replace("[bench]", "calib_size = 64\n[bench]")
    other = build_graph(parse_sweep(text), HOST)
    assert not {k for k, n in g.nodes.items() if n.stage == "evaluate" and n.settings["runtime"] == "torch-int8"} \
        & set(other.nodes)


def test_distillation_is_in_the_prune_key_only_when_on() -> None:
    text = 'models = ["resnet20"]\n[prune]\nratios = [0.3]\nfinetune_epochs = 2\n'
    host = Host(cpu=VNNI_CPU, machine_id="m1", runtimes=("ort-cpu",), weights_sha256={"resnet20": "ab" * 32})
    plain, kd, kd_alpha = (build_graph(parse_sweep(text + extra), host)
                           for extra in ("", "distill = true", "distill = true\ndistill_alpha = 0.5"))

    def prune(g: object) -> object:
        return next(n for n in g.nodes.values() if n.stage == "prune")

    assert "distill" not in prune(plain).settings  # sweeps without distillation keep their keys
    assert prune(kd).settings["distill"] == {"alpha": 0.9, "temperature": 4.0}
    assert len({prune(g).key for g in (plain, kd, kd_alpha)}) == 3
    export = {next(k for k, n in g.nodes.items() if n.stage == "export") for g in (plain, kd, kd_alpha)}
    assert len(export) == 1  # the unpruned model is not touched


def test_every_evaluation_is_paired_with_its_lineage_fp32() -> None:
    """Each evaluation depends on the unpruned FP32's ort-cpu evaluation (the same images, paired), which is
    planned even when fp32 is not among the precisions; the FP32 ort-cpu cell's own evaluation is that node."""
    text = 'models = ["resnet20"]\n[prune]\nratios = [0.3]\n[quantize]\nprecisions = {p}\n'
    host = Host(cpu=VNNI_CPU, machine_id="m1", runtimes=("ort-cpu",), weights_sha256={"resnet20": "ab" * 32})
    for p, evaluations in (('["fp32", "int8:x86-vnni"]', 4), ('["int8:x86-vnni"]', 3)):
        g = build_graph(parse_sweep(text.format(p=p)), host)
        export = next(k for k, n in g.nodes.items() if n.stage == "export")
        base = next(n for n in g.nodes.values() if n.label == "evaluate resnet20-fp32/ort-cpu")
        assert base.deps == (export,) and base.settings["paired_with"] is None
        evals = [n for n in g.nodes.values() if n.stage == "evaluate" and n is not base]
        assert len(evals) + 1 == evaluations == g.count("evaluate")
        for n in evals:  # the pruned and INT8 variants: paired with the unpruned FP32
            assert n.deps[1] == base.key and n.settings["paired_with"] == base.label
        fp32_cells = [n for n in g.nodes.values() if n.stage == "bench" and n.settings["variant"] == "resnet20-fp32"]
        assert all(base.key in c.deps for c in fp32_cells) and len(fp32_cells) == (1 if "fp32" in p else 0)
