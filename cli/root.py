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


def help_width(terminal_width: int | None = None) -> int | None:
    """Width of the help: click's `terminal_width`, else $TERMINAL_WIDTH / $COLUMNS, else the terminal's (stdout's,
    or stderr's when stdout is piped, e.g. `edgebench quantize --help | less`); None: rich's default (80)."""
    if terminal_width:
        return terminal_width
    for var in ("TERMINAL_WIDTH", "COLUMNS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    for stream in (sys.stdout, sys.stderr):
        try:
            return os.get_terminal_size(stream.fileno()).columns
        except (OSError, ValueError, AttributeError):  # not a terminal, or a stream without a descriptor
            continue
    return None


def _plain_flags(cmd: Any) -> None:
    """Boolean flags (and -h/--help) show no `<bool>` type in help: they take no value (`--force`, not
    `--force true`)."""
    for p in cmd.params:
        if getattr(p, "is_flag", False):
            p.metavar = ""
    make_help = cmd.get_help_option

    def get_help_option(ctx: Any) -> Any:
        opt = make_help(ctx)
        if opt is not None:
            opt.metavar = ""
        return opt

    cmd.get_help_option = get_help_option
    for sub in getattr(cmd, "commands", {}).values():
        _plain_flags(sub)


class EdgebenchGroup(TyperGroup):
    """Turns an EdgebenchError into one line on stderr and its exit code; --debug shows the traceback.

    Help is as wide as the terminal (`help_width`) and shows boolean flags as plain flags.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_flags(self)

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **kwargs: Any) -> Any:
        """As click's, except that a usage error (unknown option, a value of the wrong type, a missing argument)
        is one line on stderr and exit 2, like every other bad input; no arguments still print the help."""
        from typer import rich_utils

        errors = sys.modules[typer.BadParameter.__module__]  # click's exceptions (typer may vendor click)

        rich_utils.MAX_WIDTH = help_width(kwargs.get("terminal_width"))
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **kwargs)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **kwargs)
        except errors.NoArgsIsHelpError as e:
            rich_utils.rich_format_error(e)
            sys.exit(e.exit_code)
        except errors.UsageError as e:
            where = e.ctx.command_path if e.ctx is not None else "edgebench"
            typer.echo(f"edgebench: error: {e.format_message()} (see '{where} -h')", err=True)
            sys.exit(e.exit_code)
        except errors.ClickException as e:
            typer.echo(f"edgebench: error: {e.format_message()}", err=True)
            sys.exit(e.exit_code)
        except typer.Abort:
            typer.echo("edgebench: aborted", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)  # an Exit's code comes back as rv

    def invoke(self, ctx: typer.Context) -> Any:
        from edgebench.atomic import forget_created, remove_created_if_empty
        from edgebench.exporter import provide_torch_runtimes

        forget_created()
        provide_torch_runtimes()  # the top layer passes the exporter's model builder down (by name)
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
