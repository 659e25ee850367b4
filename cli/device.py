"""`edgebench device add|list|remove|check|setup`, and the `--on` branch of `bench` (its Jobs, devices/jobs.py;
`eval`'s is `eval_on_devices` in cli/evaluate.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from edgebench.cli.root import app
from edgebench.units import format_mb, to_mb

if TYPE_CHECKING:
    from edgebench.devices.jobs import JobBatch

device_app = typer.Typer(help="Boards reached over SSH: add, check and set them up, then `bench --on NAME`.",
                         no_args_is_help=True)
app.add_typer(device_app, name="device")

CONFIG_HELP = "The devices file [default: $EDGEBENCH_DEVICES, else ~/.config/edgebench/devices.toml]."


def _registry(config: Path | None) -> Any:
    from edgebench.devices.registry import DeviceRegistry

    return DeviceRegistry(config)


@device_app.command("add")
def add(
    name: str = typer.Argument(..., help="A short name, e.g. pi4."),
    url: str = typer.Argument(..., help="ssh://[user@]host[:port], or ssh://ALIAS of your ~/.ssh/config."),
    python: str = typer.Option("python3", "--python", help="The Python (>= 3.11) on the device."),
    workdir: str = typer.Option("~/edgebench", "--workdir", help="Folder on the device for the venv, models, runs."),
    ssh_config: str | None = typer.Option(None, "--ssh-config", help="Use this ssh config (ssh -F) for the device."),
    force: bool = typer.Option(False, "--force", help="Replace a device of the same name."),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Register a device (nothing is contacted; `device check NAME` does)."""
    from edgebench.devices.registry import Device

    reg = _registry(config)
    reg.add(Device(name=name, url=url, python=python, workdir=workdir, ssh_config=ssh_config), force=force)
    typer.echo(f"added {name} ({url}) to {reg.path}; next: edgebench device check {name}")


@device_app.command("list")
def list_devices(config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP)) -> None:
    """List the registered devices."""
    reg = _registry(config)
    if not reg.devices:
        typer.echo(f"no devices in {reg.path}; add one with edgebench device add NAME ssh://user@host")
        return
    for name, d in sorted(reg.devices.items()):
        typer.echo(f"{name:12s} {d.url}  python={d.python}  workdir={d.workdir}"
                   + (f"  ssh-config={d.ssh_config}" if d.ssh_config else ""))


@device_app.command("remove")
def remove(name: str = typer.Argument(...), config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP)
           ) -> None:
    """Forget a device (nothing on the device is deleted)."""
    reg = _registry(config)
    d = reg.remove(name)
    typer.echo(f"removed {name} ({d.url}) from {reg.path}")


@device_app.command("check")
def check(name: str = typer.Argument(...), config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
          as_json: bool = typer.Option(False, "--json", help="Print the device's probe as JSON.")) -> None:
    """Connect; print the device's CPU and ISA flags, Python, free disk and its edgebench vs ours."""
    from edgebench.devices.agent import build_id
    from edgebench.devices.remote import check_python, host_summary, local_version, probe, wheelhouse_command
    from edgebench.devices.transport import Ssh, connect_timeout

    d = _registry(config).get(name)
    info = probe(Ssh(d, connect_timeout()))
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    ours = f"{local_version()} build {build_id()}"
    inst = info.get("installed")
    theirs = f"{inst[0]} build {inst[1]}" if inst else "not installed"
    state = ("up to date" if inst and inst[1] == build_id()
             else f"run edgebench device setup {name}")
    typer.echo(f"{name}: {d.url}")
    typer.echo(f"  cpu        {host_summary(info)}")
    typer.echo(f"  python     {info['python']} ({info['executable']})" + ("" if info["python_ok"] else
                                                                          "  [too old: needs >= 3.11]"))
    typer.echo(f"  free disk  {info['free_bytes'] / 2**30:.1f} GB in {d.workdir}")
    typer.echo(f"  edgebench  {theirs} on the device; ours {ours}: {state}")
    typer.echo(f"  offline    {wheelhouse_command(info['machine'], info['python'])}")
    check_python(d, info)


@device_app.command("setup")
def setup_cmd(
    name: str = typer.Argument(...),
    wheelhouse: Path | None = typer.Option(None, "--wheelhouse", help="Install the dependencies from this folder "
                                           "(no internet on the board; `device check` prints the pip download)."),
    wheel: Path | None = typer.Option(None, "--wheel", help="Install this edgebench wheel instead of building one "
                                      "from this checkout."),
    system_site_packages: bool = typer.Option(False, "--system-site-packages",
                                              help="Let the venv see the device's system packages (e.g. a vendor "
                                                   "onnxruntime on a Jetson)."),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Install or update the torch-free edgebench (built from this tree) in a venv on the device."""
    from edgebench.devices.remote import setup

    d = _registry(config).get(name)
    r = setup(d, wheel=wheel, wheelhouse=wheelhouse, system_site_packages=system_site_packages)
    typer.echo(f"{name}: edgebench {r.version} build {r.build} (Python {r.python}) in {d.workdir}/venv "
               f"[{r.seconds:.1f} s, sent {format_mb(to_mb(r.sent_bytes), 1)}]")


# ------------------------------------------------------------------------------------------- --on

def bench_on_devices(on: str, request: JobBatch, output_dir: Path, *, as_json: bool = False,
                     csv_path: Path | None = None) -> None:
    """The `--on` branch of bench: send `request` (one run per --threads value) to the
    devices (`devices.remote.run_jobs_on`), show the results pulled into `output_dir/<device>/`."""
    from edgebench.bench.schema import append_csv, load_result
    from edgebench.devices.remote import run_jobs_on

    runs = run_jobs_on(on, request.per_threads(), output_dir)
    results = []
    for r in runs:
        for f in r.pulled:
            loaded = load_result(f)
            if csv_path is not None:
                append_csv(csv_path, loaded)
            data = loaded.to_dict()
            lat, o = data["latency"], data["options"]
            if not as_json:
                typer.echo(f"[{r.device.name}] {data['model']['name']} {data['runtime']['name']} b{o['batch']} "
                           f"t{o['threads']}: p50 {lat['p50_ms']:.3f} ms, p99 {lat['p99_ms']:.3f} ms -> {f}")
            results.append({"device": r.device.name, **data})
    if as_json:
        typer.echo(json.dumps(results, indent=2))
    sys.stderr.flush()
