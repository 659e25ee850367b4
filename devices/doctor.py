"""`edgebench doctor MODEL --on DEVICE[,DEVICE...]`: the doctor's diagnosis of a model on a device's CPU.

The device measures what only it can (bench/doctor_measure.py, numpy + ONNX Runtime, no onnx): FP32 against INT8
interleaved, ORT's profiler (kernel time and the precision each kernel ran at), its CPU fingerprint and usable
cores, and with --data the paired top-1 on the doctor's images (sent as an .npz). This machine reads the graphs and
concludes with the code of a local doctor (bench/doctor.py `conclude`: the causes for that CPU, the per-tensor
SQNR, the candidate fixes), then builds the fixes (quantizing needs onnx) and sends them back to be timed and
scored there against FP32. Each trip is a `DoctorRequest` (devices/jobs.py) through `run_jobs_on`, the one path to
a device; the device writes doctor.json, which is pulled. Example::

    records = doctor_on("pi4", DoctorConfig(data="cifar10", try_fixes=True, on=("pi4",)), int8, fp32, manifest)
    records["pi4"]["verdict"]   # 'INT8 is 2.10x FP32 on pi4 (Cortex-A72): ...'
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from edgebench.bench.doctor import DoctorConfig, ModelPair, conclude, doctor_record, read_pair, try_fixes
from edgebench.bench.doctor_measure import DoctorMeasure
from edgebench.devices import remote
from edgebench.devices.jobs import DoctorRequest
from edgebench.errors import DeviceError

# which figures come from where (the record's `measured`, printed under the verdict)
ON_THE_DEVICE = ("FP32/INT8 interleaved timing", "ORT profiler (kernel time by precision)", "CPU fingerprint and ISA")
ON_THIS_MACHINE = ("graph analysis (causes, node classes, weights)",)


def doctor_on(on: str, cfg: DoctorConfig, int8: Path, fp32: Path, fp32_manifest: Any = None
              ) -> dict[str, dict[str, Any]]:
    """The doctor's record of `int8` against its parent `fp32` on each device of `on` ({device: record}, as a
    local `run_doctor`'s, its verdict naming the device and its CPU); --try/--apply as `cfg` says (--apply writes
    to `cfg.output/<device>`)."""
    ds = cfg.load_data(fp32_manifest)
    pair = read_pair(int8, fp32, ds)  # refused here, before any push
    with tempfile.TemporaryDirectory(prefix="edgebench-doctor-on-") as tmp:
        work = Path(tmp)
        data = _write_images(ds, work / "images.npz") if ds is not None else None
        spec = DoctorMeasure(fp32=str(fp32), model=str(int8), threads=cfg.threads)
        measured = _measure_on(on, DoctorRequest(spec, data), work / "diagnosis")
        return {name: _device_record(name, m, pair, cfg, ds, data, work) for name, m in measured.items()}


def _write_images(ds: Any, path: Path) -> str:
    """The doctor's images as an .npz the device reads (`measure_here`): the same pixels and labels here and there."""
    np.savez(path, images=ds.images, labels=ds.labels)
    return str(path)


def _measure_on(names: str, request: DoctorRequest, out: Path) -> dict[str, dict[str, Any]]:
    """Run `request` on the devices `names` and read each one's pulled doctor.json ({device: measurements})."""
    measured = {}
    for r in remote.run_jobs_on(names, [request], out):
        found = [p for p in r.pulled if p.name == "doctor.json"]
        if not found:
            raise DeviceError(f"device '{r.device.name}': the doctor wrote no doctor.json (run edgebench device setup "
                              f"{r.device.name})")
        measured[r.device.name] = json.loads(found[0].read_text(encoding="utf-8"))
    return measured


def _device_record(name: str, m: Mapping[str, Any], pair: ModelPair, cfg: DoctorConfig, ds: Any, data: str | None,
                   work: Path) -> dict[str, Any]:
    """Conclude from device `name`'s measurements `m` here; with --try build the fixes here and time them there."""
    if ds is not None and m.get("data_sha256") != ds.fingerprint():
        raise DeviceError(f"device '{name}' measured other images than the doctor sent (sha256 {m.get('data_sha256')}"
                          f"); run the same edgebench on both sides (edgebench device setup {name})")
    machine = m["machine"]
    cpu = machine["cpu"]
    d = conclude(pair, m["model"], cpu=cpu, threads=cfg.threads, usable_cores=int(machine["usable_cores"]), data=ds,
                 where=f"on {name} ({cpu.get('model') or cpu.get('arch')})")
    trials = []
    if cfg.try_fixes or cfg.apply:
        def there(spec: DoctorMeasure) -> list[dict[str, Any]]:
            return list(_measure_on(name, DoctorRequest(spec, data), work / "trials")[name]["trials"])

        trials = try_fixes(d, pair.int8, pair.fp32, ds, work / "candidates" / name, measure_trials=there)
    record = doctor_record(d, trials, pair.int8, pair.fp32, ds, cfg.output_for(name))
    record["device"] = {"name": name, "cpu": {k: cpu.get(k) for k in ("arch", "model")},
                        "usable_cores": machine["usable_cores"]}
    record["measured"] = measured_where(name, d.facts, bool(trials))
    return record


def measured_where(device: str, facts: Mapping[str, Any], tried: bool) -> dict[str, list[str]]:
    """Which figures of a `doctor --on` record came from the device and which from this machine.

    >>> measured_where("pi4", {"paired": {}}, False)["pi4"][-1]
    'paired top-1'
    """
    there, here = list(ON_THE_DEVICE), list(ON_THIS_MACHINE)
    if "paired" in facts:
        there.append("paired top-1")
    if "node_errors" in facts:
        here.append("per-tensor SQNR and activation ranges (16 images)")
    if tried:
        there.append("each fix's timing and paired top-1 against FP32")
        here.append("the fixes' models (quantized here)")
    return {device: there, "this machine": here}
