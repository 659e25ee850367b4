"""The `edgebench` command line: thin typer commands, one module per command group.

Each command parses its options, builds typed config objects and calls one library function;
heavy modules (numpy, onnxruntime, torch) are imported inside the commands, so `edgebench --help`
starts fast and the device install (no torch) runs every torch-free command.
`edgebench.cli.main` registers the commands; `app` here is that fully registered application.
"""

from __future__ import annotations

from typing import Any


def main() -> None:
    """The console script."""
    from edgebench.cli.main import app

    app()


def __getattr__(name: str) -> Any:
    if name == "app":  # `from edgebench.cli import app` (tests, CliRunner): the app with every command registered
        from edgebench.cli.main import app

        return app
    raise AttributeError(f"module 'edgebench.cli' has no attribute '{name}'")


__all__ = ["app", "main"]
