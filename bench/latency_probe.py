"""Measure a latency table on this machine, torch-free: one small ONNX graph per unit and candidate width.

Reads the probes that `edgebench latency-table MODEL` derived from the model (`edgebench.latency_table`),
builds each unit at each candidate width with `bench.onnx_proto` (no `onnx` package needed, so this runs
on the device install), FP32 or INT8 QDQ (uint8 activations, per-channel int8 weights: what the
`x86-vnni`/`arm64` presets ship; ONNX Runtime fuses it into QLinearConv/QLinearAdd as in the real
model), and times it with ONNX Runtime at the given threads, batch 1. Units with the same shape share
a measurement. A unit's latency is its graph's median time minus an empty graph's (the session
overhead, which the whole model pays once). The whole model (its ONNX file) is measured too: the
chooser predicts a pruned model as `full_model_ms - sum(unit at full width) + sum(unit at chosen width)`.

Example::

    table = measure_table(load_probes(Path("probes/probes.json")), Path("probes/model.int8.onnx"),
                          precision="int8", threads=1)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from edgebench.bench.onnx_proto import Graph
from edgebench.errors import ModelFileError
from edgebench.latency_table import (
    PROBES_FILE,
    SCHEMA_VERSION,
    TABLE_KIND,
    LatencyTableConfig,
    check_measure_options,
    load_probes,
    probe_model,
)
from edgebench.runtimes.timing import ort_session as _session
from edgebench.runtimes.timing import time_sessions

Log = Callable[[str], None]


def _dim(v: Any, w: int) -> int:
    return w if v == "w" else int(v)


def _out_hw(h: int, w: int, conv: Mapping[str, Any]) -> tuple[int, int]:
    kh, kw = conv["k"]
    sh, sw = conv["stride"]
    pt, pl, pb, pr = conv["pad"]
    return (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1


class _Builder:
    """Emits FP32 ops or their QDQ form (Q/DQ around every tensor, as the static INT8 export does)."""

    def __init__(self, g: Graph, int8: bool, rng: np.random.Generator) -> None:
        self.g, self.int8, self.rng = g, int8, rng
        self.scale = g.const("act_scale", np.array(0.05, np.float32)) if int8 else ""
        self.zp = g.const("act_zp", np.array(0, np.uint8)) if int8 else ""

    def qdq(self, x: str) -> str:
        if not self.int8:
            return x
        q = self.g.node("QuantizeLinear", [x, self.scale, self.zp])
        return self.g.node("DequantizeLinear", [q, self.scale, self.zp])

    def conv(self, x: str, cin: int, cout: int, conv: Mapping[str, Any], groups: int) -> str:
        kh, kw = conv["k"]
        w = (self.rng.standard_normal((cout, cin // groups, kh, kw)) * 0.1).astype(np.float32)
        b = np.zeros(cout, np.float32)
        attrs = {"kernel_shape": [kh, kw], "strides": list(conv["stride"]), "pads": list(conv["pad"]),
                 "group": groups, "dilations": [1, 1]}
        if not self.int8:
            return self.g.node("Conv", [x, self.g.const("w", w), self.g.const("b", b)], **attrs)
        ws = np.maximum(np.abs(w).reshape(cout, -1).max(1) / 127.0, 1e-6).astype(np.float32)
        wq = np.clip(np.round(w / ws[:, None, None, None]), -127, 127).astype(np.int8)
        wdq = self.g.node("DequantizeLinear", [self.g.const("wq", wq), self.g.const("ws", ws),
                                               self.g.const("wzp", np.zeros(cout, np.int8))], axis=0)
        bdq = self.g.node("DequantizeLinear", [self.g.const("bq", np.zeros(cout, np.int32)),
                                               self.g.const("bs", (ws * 0.05).astype(np.float32)),
                                               self.g.const("bzp", np.zeros(cout, np.int32))], axis=0)
        return self.g.node("Conv", [x, wdq, bdq], **attrs)


def unit_graph(unit: Mapping[str, Any], width: int | None, precision: str, seed: int = 0) -> bytes:
    """The ONNX bytes of `unit` at `width` filters (None: an empty graph, Q/DQ only, for the overhead)."""
    n, c, h, wd = (int(v) for v in unit["input"])
    g = Graph(f"probe_{unit['name']}_{width}")
    x = g.input("x", [n, c, h, wd])
    b = _Builder(g, precision == "int8", np.random.default_rng(seed))
    skip = b.qdq(x)
    y = skip
    if width is None:
        y = g.node("Relu", [y])
        g.output(b.qdq(y), [n, c, h, wd])
        return g.model_bytes()
    for conv in unit["convs"]:
        cin, cout = _dim(conv["cin"], width), _dim(conv["cout"], width)
        y = b.conv(y, cin, cout, conv, _dim(conv.get("groups", 1), width))
        h, wd = _out_hw(h, wd, conv)
        c = cout
        if conv.get("relu", False):
            y = g.node("Relu", [y])
        y = b.qdq(y)
    if unit.get("residual"):
        y = b.qdq(g.node("Relu", [g.node("Add", [y, skip])]))
    g.output(y, [n, c, h, wd])
    return g.model_bytes()


def _signature(unit: Mapping[str, Any]) -> str:
    return json.dumps({k: unit[k] for k in ("input", "convs", "residual", "widths")}, sort_keys=True)


def _check_model(model_onnx: Path) -> None:
    """Before anything is timed: the whole model loads in ONNX Runtime and takes one float32 input."""
    from edgebench.runtimes import get_runtime

    sess = get_runtime("ort-cpu").load(model_onnx)
    if len(sess.inputs) != 1 or sess.inputs[0].dtype != "float32":
        raise ModelFileError(f"'{model_onnx}' takes inputs {[f'{s.name}: {s.dtype}' for s in sess.inputs]}; a probe "
                             "pack's model takes one float32 image tensor: write the pack again")


def measure_probe_pack(cfg: LatencyTableConfig, pack: Path, log: Log | None = None) -> dict[str, Any]:
    """`edgebench latency-table`: measure the probe pack folder `pack` as `cfg` says and write the table to
    `cfg.output`; returns it. The pack's model must be of `cfg.precision` and is verified by its hash."""
    from edgebench.atomic import write_json
    from edgebench.errors import UserInputError

    doc = load_probes(pack / PROBES_FILE)
    if doc.get("precision") not in (None, cfg.precision):
        raise UserInputError(f"probe pack '{pack}' holds a {doc.get('precision')} model, not --precision "
                             f"{cfg.precision}; write the pack again with --precision {cfg.precision}")
    onnx_path = probe_model(pack, doc, cfg.precision)  # inside the pack, verified by hash, of that precision
    table = measure_table(doc, onnx_path, precision=cfg.precision, threads=cfg.threads, runtime=cfg.runtime,
                          rounds=cfg.rounds, log=log)
    write_json(cfg.output, table)
    return table


def measure_table(probes: Mapping[str, Any], model_onnx: Path, *, precision: str, threads: int = 1,
                  runtime: str = "ort-cpu", rounds: int = 7, log: Log | None = None) -> dict[str, Any]:
    """Measure every unit of `probes` at its candidate widths and the whole model; returns the table."""
    from edgebench.bench.fingerprint import fingerprint

    log = log or (lambda _m: None)
    check_measure_options(runtime, precision, threads, rounds)
    _check_model(Path(model_onnx))
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for u in probes["units"]:
        groups.setdefault(_signature(u), []).append(u)
    t0 = time.perf_counter()
    units: dict[str, Any] = {}
    for i, members in enumerate(groups.values()):
        u = members[0]
        widths: Sequence[int] = u["widths"]
        sessions = {str(w): _session(unit_graph(u, w, precision), threads) for w in widths}
        sessions["empty"] = _session(unit_graph(u, None, precision), threads)
        ms = time_sessions(sessions, rounds=rounds)
        base = ms.pop("empty")
        per_width = {w: max(0.0, v - base) for w, v in ms.items()}
        log(f"unit shape {i + 1}/{len(groups)} ({len(members)} units like {u['name']}): "
            + ", ".join(f"{w}:{v:.3f}" for w, v in per_width.items()) + " ms")
        for m in members:
            units[m["name"]] = {"channels": m["channels"], "block": m.get("block"), "removable": m.get("removable"),
                                "widths": per_width, "remove_ms": 0.0 if m.get("removable") else None}
    full = time_sessions({"model": _session(str(model_onnx), threads)}, rounds=rounds, min_round_s=0.1)["model"]
    fp = fingerprint()
    log(f"whole model {full:.3f} ms ({precision}, {threads} thread(s)); {time.perf_counter() - t0:.0f} s")
    return {"schema_version": SCHEMA_VERSION, "kind": TABLE_KIND, "model": dict(probes["model"]),
            "runtime": runtime, "precision": precision, "threads": threads, "batch": 1,
            "channel_block": probes.get("channel_block"), "input_shape": probes.get("input_shape"),
            "full_model_ms": full, "model_file": Path(model_onnx).name, "units": units,
            "fingerprint": fp, "fingerprint_id": fp.get("id"), "machine": fp["cpu"].get("model"),
            "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "seconds": time.perf_counter() - t0}

