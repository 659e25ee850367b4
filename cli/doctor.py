"""`edgebench doctor`: why this INT8 model is not faster or less accurate than FP32 here (or `--on` a device), and
the measured fix (the work is in bench/doctor.py; `--on` in devices/doctor.py, whose requests a device runs with
the hidden `run-doctor`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from edgebench.cli.common import no_verify_option, resolve_model
from edgebench.cli.root import app

FLOAT_NODES_SHOWN = 8


@app.command()
def doctor(
    model: Path = typer.Argument(..., help="The INT8 .onnx file, or its model folder."),
    fp32: Path | None = typer.Option(None, "--fp32", help="The FP32 model. Default: the parent in MODEL's manifest."),
    data: str | None = typer.Option(None, "--data", help="Labelled images (e.g. cifar10): paired top-1, per-node "
                                                          "error; --try calibrates on them too."),
    limit: int = typer.Option(500, "--limit", help="Images of --data used."),
    runtime: str = typer.Option("ort-cpu", "--runtime", "-r", help="Runtime (the doctor reads ORT's profiler: "
                                                                    "ort-cpu)."),
    threads: int = typer.Option(1, "--threads", "-t", help="Intra-op threads of the timings."),
    try_fixes_: bool = typer.Option(False, "--try", help="Apply every candidate fix and measure it (needs --data)."),
    apply: bool = typer.Option(False, "--apply", help="Write the best measured model to -o DIR (implies --try)."),
    output: Path | None = typer.Option(None, "--output-dir", "-o", help="Folder for --apply's model + manifest."),
    as_json: bool = typer.Option(False, "--json", help="Print the diagnosis as JSON."),
    on: str | None = typer.Option(None, "--on", metavar="DEVICE[,DEVICE...]",
                                  help="Diagnose on these devices' CPUs over SSH (`edgebench device add`): they time, "
                                       "profile and score; this machine reads the graphs and builds the fixes."),
    no_verify: bool = no_verify_option(),
) -> None:
    """Why INT8 is not faster (or is less accurate) than FP32 here: the verdict, the evidence, the measured fixes."""
    from edgebench.bench.doctor import DoctorConfig, run_doctor
    from edgebench.cli.options import check_threads

    devices = _device_names(on)
    cfg = DoctorConfig(data=data, limit=limit, runtime=runtime, threads=threads, try_fixes=try_fixes_, apply=apply,
                       output=output, on=devices)
    if not devices:  # with --on each device checks the threads against its own cores
        check_threads([threads])
    int8, parent = _models(model, fp32, no_verify)
    if on is None:
        record = run_doctor(cfg, int8.path, parent.path, parent.manifest)
        if as_json:
            typer.echo(json.dumps(record, indent=2, default=str))
        else:
            _print(record)
        return
    from edgebench.devices.doctor import doctor_on

    records = doctor_on(on, cfg, int8.path, parent.path, parent.manifest)
    if as_json:  # {device: record}, as `eval --on --json`
        typer.echo(json.dumps(records, indent=2, default=str))
        return
    for name, record in records.items():
        if len(records) > 1:
            typer.echo(f"[{name}]")
        _print(record)


def _device_names(on: str | None) -> tuple[str, ...]:
    """--on's devices, each checked in the devices file (the message bench --on gives), before anything is read."""
    if on is None:
        return ()
    from edgebench.devices.remote import resolve_devices

    return tuple(d.name for d in resolve_devices(on))


@app.command("run-doctor", hidden=True)
def run_doctor_cmd(request_file: Path = typer.Argument(..., help="A JSON doctor request (edgebench.doctor) written "
                                                                    "by `doctor --on`."),
                   output_dir: Path = typer.Option(Path("results"), "--output-dir", "-o",
                                                   help="Folder for doctor.json.")) -> None:
    """The device side of `doctor --on`: measure what REQUEST_FILE asks on this CPU (no onnx needed) and write the
    measurements to DIR/doctor.json for the workstation to pull."""
    from edgebench.atomic import ensure_writable_dir, write_json
    from edgebench.bench.doctor_measure import measure_here
    from edgebench.cli.options import check_threads
    from edgebench.devices.jobs import read_doctor_request

    request = read_doctor_request(request_file)
    check_threads([request.measure.threads, *(t.threads for t in request.measure.trials if t.threads)])
    ensure_writable_dir(output_dir)
    data = Path(request.data) if request.data is not None else None
    typer.echo(f"wrote {write_json(output_dir / 'doctor.json', measure_here(request.measure, data))}")


def _models(model: Path, fp32: Path | None, no_verify: bool) -> tuple[Any, Any]:
    """The INT8 model (a folder: its model.int8.onnx) and its FP32 parent (--fp32, else its manifest's), both
    verified by hash."""
    from edgebench.bench.doctor import require_int8
    from edgebench.errors import UserInputError

    if model.is_dir() and (model / "model.int8.onnx").is_file():  # a model folder: its INT8 model
        model = model / "model.int8.onnx"
    artifact, _ = resolve_model(model, no_verify=no_verify)
    require_int8(artifact.path)
    parent = resolve_model(fp32, no_verify=no_verify)[0] if fp32 is not None else artifact.parent()
    if parent is None:
        what = "names no FP32 parent in its manifest" if artifact.manifest is not None else "has no manifest"
        raise UserInputError(f"'{model}' {what}; give --fp32 FP32_MODEL")
    if parent.path.resolve() == artifact.path.resolve():
        raise UserInputError(f"--fp32 '{fp32}' is the model itself; give its FP32 parent")
    return artifact, parent


def _print(r: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    c = Console()
    c.print(r["verdict"], markup=False)
    for where, what in (r.get("measured") or {}).items():  # --on: which figures came from where
        c.print(f"measured on {where}: {', '.join(what)}", markup=False)
    f = r["facts"]
    c.print(f"CPU {f['cpu'].get('model') or f['cpu'].get('arch')}; ISA {', '.join(f['isa']) or 'unknown'}; "
            f"{f['threads']} thread(s) of {f['usable_cores']} usable cores; weights {', '.join(f['weights']) or '-'}",
            markup=False)
    if f.get("arithmetic"):
        c.print(f"arithmetic: {f['arithmetic']}", markup=False)
    c.print("kernel time by precision (ORT profiler): " + ", ".join(f"{k} {v:.0f} %" for k, v in
                                                                  f["precision_pct"].items()), markup=False)
    t = Table(title="causes")
    for col in ("cause", "area", "evidence", "fix"):
        t.add_column(col, overflow="fold")
    for cause in r["causes"]:
        t.add_row(cause["kind"], cause["area"], cause["detail"], cause["fix"])
    c.print(t)
    if f.get("float_nodes"):
        shown = list(f["float_nodes"].items())[:FLOAT_NODES_SHOWN]
        t = Table(title=f"nodes that ran in float and why ({len(shown)} of {len(f['float_nodes'])}, slowest first)")
        for col in ("node", "why"):
            t.add_column(col, overflow="fold")
        for n, why in shown:
            t.add_row(n, why)
        c.print(t)
    if f.get("paired"):
        p = f["paired"]
        c.print(f"paired top-1 on {p['n']} images: agreement {p['agreement_pct']:.2f} %, {p['flipped_to_wrong']} "
                f"flipped to wrong, {p['flipped_to_correct']} to right, delta {p['top1_delta_pts']:+.2f} points",
                markup=False)
    if f.get("node_errors"):
        t = Table(title="tensors quantization damages most")
        for col in ("tensor", "nodes", "SQNR dB", "relative error"):
            t.add_column(col, overflow="fold")
        for e in f["node_errors"]:
            t.add_row(e["tensor"], ", ".join(e["nodes"]), str(e["sqnr_db"]), f"{e['relative_error']:.4f}")
        c.print(t)
    if f.get("activation_outliers"):
        c.print("activations whose calibrated range dwarfs their typical channel's 99.9th percentile (FP32, 16 "
                "images): " + "; ".join(f"{a['tensor']} {a['ratio']}x" for a in f["activation_outliers"]),
                markup=False)
    if r["trials"]:
        c.print(_trials_table(r))
    c.print(f"decision: {r['decision']}", markup=False)
    if r.get("applied"):
        c.print(f"wrote {r['applied']}", markup=False)


def _trials_table(r: dict[str, Any]) -> Any:
    """The measured fixes, the INT8 model as given first."""
    from rich.table import Table

    t = Table(title="fixes, measured (before: INT8 as given)")
    for col in ("fix", "for cause", "speed vs FP32", "top-1 vs FP32", "fixes cause", "good to apply"):
        t.add_column(col, overflow="fold")
    before = "-" if r["drop_pts"] is None else f"{0.0 - r['drop_pts']:+.2f}"
    t.add_row("(before)", "", f"{r['speedup']:.2f}x", before, "", "")
    for tr in r["trials"]:
        drop = "-" if tr["drop_pts"] is None else f"{0.0 - tr['drop_pts']:+.2f}"
        t.add_row(tr["fix"], tr["cause"], f"{tr['speedup']:.2f}x", drop, "yes" if tr["fixes_cause"] else "no",
                  "yes" if tr["meets_goal"] else "no")
    return t
