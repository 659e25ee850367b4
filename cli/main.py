"""Registers every command group on the typer app (importing a module registers its commands)."""

from __future__ import annotations

from edgebench.cli import bench as _bench  # noqa: F401  (bench, sysinfo, runtimes)
from edgebench.cli import bits as _bits  # noqa: F401  (sweep-bits)
from edgebench.cli import convert as _convert  # noqa: F401  (convert)
from edgebench.cli import describe as _describe  # noqa: F401  (describe)
from edgebench.cli import device as _device  # noqa: F401  (device add|list|remove|check|setup)
from edgebench.cli import doctor as _doctor  # noqa: F401  (doctor)
from edgebench.cli import evaluate as _evaluate  # noqa: F401  (eval)
from edgebench.cli import export as _export  # noqa: F401  (export, models)
from edgebench.cli import latency as _latency  # noqa: F401  (latency-table)
from edgebench.cli import profile as _profile  # noqa: F401  (profile)
from edgebench.cli import prune as _prune  # noqa: F401  (train, sensitivity, prune)
from edgebench.cli import qat as _qat  # noqa: F401  (qat, sparsify)
from edgebench.cli import quantize as _quantize  # noqa: F401  (quantize)
from edgebench.cli import report as _report  # noqa: F401  (compare)
from edgebench.cli import sweep as _sweep  # noqa: F401  (sweep, recommend)
from edgebench.cli.root import app

__all__ = ["app"]
