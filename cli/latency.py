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
    from edgebench.atomic import check_writable_dir, write_json
    from edgebench.bench.fingerprint import cpu_info
    from edgebench.bench.latency_probe import measure_table
    from edgebench.cli.options import check_threads
    from edgebench.errors import OutputExistsError, UserInputError
    from edgebench.latency_table import PROBES_FILE, check_measure_options, load_probes, probe_model

    # every option before the model is loaded or a probe built (those take seconds to minutes)
    check_measure_options(runtime, precision, threads, rounds)
    check_threads([threads])
    if channel_block < 1:
        raise UserInputError(f"--channel-block {channel_block} must be >= 1")
    if write_probes is not None:
        check_writable_dir(write_probes, "--write-probes")
    else:
        if output.is_dir():
            raise UserInputError(f"--output '{output}' is a folder; give the table's file name, e.g. "
                                 f"{output / 'table.json'}")
        if output.exists() and not force:
            raise OutputExistsError(f"'{output}' exists; pass --force to overwrite it")
        check_writable_dir(output.parent, "--output")
    import tempfile
    from contextlib import ExitStack

    with ExitStack() as stack:
        if probes is None:
            if model is None and model_file is None:
                raise UserInputError("give MODEL (or --model-file) on the workstation, or --probes DIR on the "
                                     "device")
            from edgebench.cli.common import load, resolve_spec
            from edgebench.exporter.prune.prepare import probe_pack

            spec = resolve_spec(model, model_file, input_like)
            loaded = load(spec, weights, data_dir=data_dir, random_init=weights is None and spec.weights is None)
            # the pack measured here lives in a temporary folder, removed after the run (also on an error or Ctrl-C)
            pack = write_probes or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edgebench-probes-")))
            probe_pack(loaded.model, loaded.spec, pack, precision=precision, cpu=cpu_info(),
                       channel_block=channel_block)
            if write_probes is not None:
                typer.echo(f"probe pack -> {pack} (measure on the device: edgebench latency-table --probes "
                           f"{pack.name} --precision {precision} -t {threads} -o table.json)")
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

