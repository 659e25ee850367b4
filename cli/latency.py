"""`edgebench latency-table`: measure each prunable unit's latency at candidate widths (torch-free with --probes)."""

from __future__ import annotations

from pathlib import Path

import typer
from edgebench.cli.common import DataDirOpt, InputLikeOpt, ModelArg, ModelFileOpt, WeightsOpt, say
from edgebench.cli.root import app


@app.command("latency-table")
def latency_table(
    output: Path = typer.Option(..., "--output", "-o", help="The table to write (JSON)."),
    model: ModelArg = None,
    model_file: ModelFileOpt = None,
    input_like: InputLikeOpt = None,
    weights: WeightsOpt = None,
    probes: Path | None = typer.Option(None, "--probes", help="A probe pack folder (probes.json + ONNX) written by "
                                       "--write-probes on the workstation: measure it here, no torch needed."),
    write_probes: Path | None = typer.Option(None, "--write-probes", help="Only write the probe pack to this "
                                             "folder (to measure on a device)."),
    runtime: str = typer.Option("ort-cpu", "--runtime", "-r", help="Runtime that will ship (ort-cpu)."),
    precision: str = typer.Option("int8", "--precision", help="fp32 or int8 (static QDQ, the host's auto preset)."),
    threads: int = typer.Option(1, "--threads", "-t", help="Intra-op threads (batch 1)."),
    channel_block: int = typer.Option(8, "--channel-block", help="Candidate widths are multiples of N filters."),
    rounds: int = typer.Option(7, "--rounds", help="Interleaved timing rounds (median)."),
    data_dir: DataDirOpt = None,
    force: bool = typer.Option(False, "--force", help="Overwrite an existing table."),
) -> None:
    """Latency of every prunable layer/block at candidate widths here -> a table for prune --target-speedup."""


    from edgebench.atomic import write_json
    from edgebench.bench.fingerprint import cpu_info
    from edgebench.bench.latency_probe import measure_table
    from edgebench.errors import OutputExistsError, UserInputError
    from edgebench.latency_table import PRECISIONS, PROBES_FILE, load_probes, probe_model

    if precision not in PRECISIONS:
        raise UserInputError(f"--precision '{precision}' is not one of {', '.join(PRECISIONS)}")
    if output.exists() and not force and write_probes is None:
        raise OutputExistsError(f"'{output}' exists; pass --force to overwrite it")
    if probes is None:
        if model is None and model_file is None:
            raise UserInputError("give MODEL (or --model-file) on the workstation, or --probes DIR on the device")
        import tempfile

        from edgebench.cli.common import load, resolve_spec
        from edgebench.exporter.prune_setup import probe_pack

        spec = resolve_spec(model, model_file, input_like)
        loaded = load(spec, weights, data_dir=data_dir, random_init=weights is None and spec.weights is None)
        pack = write_probes or Path(tempfile.mkdtemp(prefix="edgebench-probes-"))
        onnx_path = probe_pack(loaded.model, loaded.spec, pack, precision=precision, cpu=cpu_info(),
                               channel_block=channel_block)
        if write_probes is not None:
            typer.echo(f"probe pack -> {pack} (measure on the device: edgebench latency-table --probes {pack.name} "
                       f"--precision {precision} -t {threads} -o table.json)")
            return
        probes = pack
    doc = load_probes(probes / PROBES_FILE)
    if doc.get("precision") not in (None, precision):
        raise UserInputError(f"probe pack '{probes}' holds a {doc.get('precision')} model, not --precision "
                             f"{precision}; write the pack again with --precision {precision}")
    onnx_path = probe_model(probes, doc, precision)  # inside the pack, verified by hash, of that precision
    table = measure_table(doc, onnx_path, precision=precision, threads=threads, runtime=runtime, rounds=rounds,
                          log=say)
    write_json(output, table)
    typer.echo(f"{len(table['units'])} units, whole model {table['full_model_ms']:.3f} ms ({runtime} {precision}, "
               f"{threads} thread(s), {table['machine']}) -> {output}")

