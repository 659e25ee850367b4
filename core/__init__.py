"""edgebench: export, quantize and benchmark vision models on edge CPUs (x86 and ARM).

The package root is the bottom layer (the repository's `core/` folder): errors, the registry,
atomic I/O, verified download and the model manifest. It imports nothing heavier than numpy, and
every other layer may import it:

    edgebench (core) <- edgebench.runtimes <- edgebench.calibration <- edgebench.exporter / edgebench.bench
                     <- edgebench.cli, edgebench.tools
"""

from __future__ import annotations

__all__: list[str] = []
