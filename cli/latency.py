"""`edgebench latency-table`: measure each prunable unit's latency at candidate widths (torch-free with --probes)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from edgebench.cli.common import DataDirOpt, InputLikeOpt, ModelArg, ModelFileOpt, WeightsOpt, say
from edgebench.cli.root import app

if TYPE_CHECKING:
    from edgebench.latency_table import LatencyTableConfig


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
    import tempfile
    from contextlib import ExitStack

    from edgebench.bench.latency_probe import measure_probe_pack
    from edgebench.cli.options import check_threads
    from edgebench.latency_table import LatencyTableConfig

    # every option before the model is loaded or a probe built (those take seconds to minutes)
    cfg = LatencyTableConfig(output=output, runtime=runtime, precision=precision, threads=threads,
                             channel_block=channel_block, rounds=rounds, write_probes=write_probes, force=force)
    check_threads([threads])
    with ExitStack() as stack:
        if probes is None:
            # the pack measured here lives in a temporary folder, removed after the run (also on an error or Ctrl-C)
            pack = write_probes or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edgebench-probes-")))
            _write_probe_pack(cfg, pack, model, model_file, input_like, weights, data_dir)
            if write_probes is not None:
                typer.echo(f"probe pack -> {pack} (measure on the device: edgebench latency-table --probes "
                           f"{pack.name} --precision {precision} -t {threads} -o table.json)")
                return
            probes = pack
        table = measure_probe_pack(cfg, probes, log=say)
    typer.echo(f"{len(table['units'])} units, whole model {table['full_model_ms']:.3f} ms ({runtime} {precision}, "
               f"{threads} thread(s), {table['machine']}) -> {output}")


def _write_probe_pack(cfg: LatencyTableConfig, pack: Path, model: str | None, model_file: str | None,
                      input_like: str | None, weights: Path | None, data_dir: Path | None) -> None:
    """On the workstation: the model (torch) -> its probe pack in `pack`."""
    from edgebench.cli.common import load, resolve_spec
    from edgebench.cpu import cpu_info
    from edgebench.errors import UserInputError
    from edgebench.exporter.prune.prepare import probe_pack

    if model is None and model_file is None:
        raise UserInputError("give MODEL (or --model-file) on the workstation, or --probes DIR on the device")
    spec = resolve_spec(model, model_file, input_like)
    loaded = load(spec, weights, data_dir=data_dir, random_init=weights is None and spec.weights is None)
    probe_pack(loaded.model, loaded.spec, pack, precision=cfg.precision, cpu=cpu_info(),
               channel_block=cfg.channel_block)
