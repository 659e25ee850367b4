"""Bad files for the readers (issue #23 §3), built in code: shared by test_bad_input.py and test_reader_fuzz.py.

Each builder writes under `d` and returns the path to give the command.
"""

from __future__ import annotations

import copy
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np


def not_a_zip_npz(d: Path) -> Path:
    """Starts with the zip magic `PK` but is no zip: BadZipFile in numpy."""
    p = d / "pk.npz"
    p.write_bytes(b"PK\x03\x04" + b"not a zip archive" + b"\0" * 64)
    return p


def empty_npz(d: Path) -> Path:
    """`images` and `labels` with zero rows."""
    p = d / "empty.npz"
    np.savez(p, images=np.zeros((0, 16, 16, 3), np.uint8), labels=np.zeros(0, np.int64))
    return p


def png_declaring(path: Path, width: int, height: int) -> Path:
    """A PNG of a few bytes whose header declares `width` x `height` RGB pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


def bomb_folder(d: Path) -> Path:
    """An image folder whose one PNG declares 30000 x 30000 pixels (Pillow's DecompressionBombError)."""
    png_declaring(d / "bomb" / "cat" / "a.png", 30_000, 30_000)
    return d / "bomb"


def text_weights(d: Path) -> Path:
    p = d / "weights.pt"
    p.write_text("these are not weights\n", encoding="utf-8")
    return p


def devices_url_int(d: Path) -> Path:
    p = d / "devices.toml"
    p.write_text("[devices.pi4]\nurl = 5\n", encoding="utf-8")
    return p


def deep_json(d: Path, name: str = "deep.json", depth: int = 100_000) -> Path:
    p = d / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("[" * depth + "]" * depth, encoding="utf-8")
    return p


def string_input_model(d: Path) -> Path:
    """An ONNX model whose input is a string tensor (Identity), written without the onnx package."""
    from edgebench.bench.onnx_proto import Graph

    string = 8  # TensorProto.STRING
    g = Graph("strings")
    x = g.input("s", [1], elem_type=string)
    g.output(g.node("Identity", [x]), [1], elem_type=string)
    p = d / "strings" / "model.onnx"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(g.model_bytes())
    return p


def probes_pack(d: Path, doc: dict[str, Any] | None = None, files: dict[str, bytes] | None = None) -> Path:
    """A probe pack folder; by default one whose probes.json names a text file as its model."""
    pack = d / "probes"
    pack.mkdir(parents=True, exist_ok=True)
    doc = doc if doc is not None else {**PROBES, "model_file": "notes.txt"}
    files = files if files is not None else {"notes.txt": b"not an ONNX model\n"}
    if isinstance(doc.get("model"), dict) and isinstance(doc.get("units"), list):  # units as written: hash them
        doc = {**doc, "model": {**doc["model"], "hash": structure_hash(doc["units"], doc.get("input_shape"))}}
    (pack / "probes.json").write_text(json.dumps(doc), encoding="utf-8")
    for name, data in files.items():
        (pack / name).write_bytes(data)
    return pack


from edgebench.latency_table import structure_hash  # noqa: E402

UNIT = {"name": "layer1.0.conv1", "block": "layer1.0", "channels": 8, "input": [1, 8, 16, 16], "residual": True,
        "removable": False, "widths": [8],
        "convs": [{"cin": 8, "cout": "w", "k": [3, 3], "stride": [1, 1], "pad": [1, 1, 1, 1], "groups": 1,
                   "relu": True}]}
PROBES = {"schema_version": 1, "kind": "edgebench.latency-probes",
          "model": {"arch": "tiny", "hash": structure_hash([UNIT], [1, 3, 16, 16])},
          "channel_block": 8, "input_shape": [1, 3, 16, 16], "units": [UNIT], "model_file": "model.fp32.onnx",
          "precision": "fp32"}


def result_dict(**latency: float) -> dict[str, Any]:
    """A valid bench result (tests/bench/result_factory.py) with `latency` fields replaced."""
    from tests.bench.result_factory import X86, result

    r = copy.deepcopy(result(X86))
    r["latency"].update(latency)
    return r


def result_with_p50_zero(d: Path) -> Path:
    p = d / "results-p50" / "r.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(result_dict(p50_ms=0.0)), encoding="utf-8")
    return p
