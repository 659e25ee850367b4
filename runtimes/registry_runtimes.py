"""The runtime registry (filled by the modules that define runtimes)."""

from __future__ import annotations

from typing import Any

from edgebench.registry import Registry

RUNTIMES: Registry[Any] = Registry("runtime")
