"""The `edgebench` console script. Commands live in `bench/cmd_*.py` and import heavy modules lazily."""

from __future__ import annotations

from bench import cmd_bench as _cmd_bench  # noqa: F401  (registers bench, sysinfo, runtimes)
from bench import cmd_eval as _cmd_eval  # noqa: F401  (registers eval)
from bench import cmd_export as _cmd_export  # noqa: F401  (registers export, models)
from bench import cmd_profile as _cmd_profile  # noqa: F401  (registers profile)
from bench import cmd_prune as _cmd_prune  # noqa: F401  (registers train, sensitivity, prune)
from bench import cmd_quantize as _cmd_quantize  # noqa: F401  (registers quantize)
from bench import cmd_report as _cmd_report  # noqa: F401  (registers compare)
from bench.app import app

COMMAND_MODULES = ("bench.cmd_bench", "bench.cmd_export", "bench.cmd_eval",
                   "bench.cmd_quantize", "bench.cmd_profile", "bench.cmd_report", "bench.cmd_prune")


def main() -> None:
    app()


__all__ = ["COMMAND_MODULES", "app", "main"]
