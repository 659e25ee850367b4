"""The typer application object and its error handling (one line, exit 2 for bad input)."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

import typer
from edgebench.errors import EdgebenchError
from typer.core import TyperGroup


def _debug_enabled(ctx: typer.Context) -> bool:
    obj = ctx.find_root().obj
    return bool((isinstance(obj, dict) and obj.get("debug")) or os.environ.get("EDGEBENCH_DEBUG"))


class EdgebenchGroup(TyperGroup):
    """Turns an EdgebenchError into one line on stderr and its exit code; --debug shows the traceback."""

    def invoke(self, ctx: typer.Context) -> Any:
        from edgebench.atomic import forget_created, remove_created_if_empty

        forget_created()
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except EdgebenchError as e:
            remove_created_if_empty()  # a refused command leaves no empty output folder behind
            if _debug_enabled(ctx):
                traceback.print_exc()
            typer.echo(f"edgebench: error: {e}", err=True)
            ctx.exit(e.exit_code)
        except BrokenPipeError:  # `edgebench ... | head`: the framework exits quietly on EPIPE
            raise
        except KeyboardInterrupt:
            remove_created_if_empty()  # finished results are kept: only empty folders go
            typer.echo("edgebench: interrupted", err=True)
            ctx.exit(130)
        except Exception as e:  # internal failure: one line unless --debug
            remove_created_if_empty()
            if _debug_enabled(ctx):
                traceback.print_exc()
            typer.echo(f"edgebench: internal error: {type(e).__name__}: {e} (re-run with --debug for the "
                       "traceback)", err=True)
            ctx.exit(1)


app = typer.Typer(
    cls=EdgebenchGroup,
    name="edgebench",
    help="Export, quantize and benchmark vision models on edge CPUs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        from importlib import metadata

        try:
            v = metadata.version("edgebench")
        except metadata.PackageNotFoundError:
            v = "unknown"
        typer.echo(f"edgebench {v}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    ctx.obj = {"debug": debug}


def echo_err(msg: str) -> None:
    print(msg, file=sys.stderr)
