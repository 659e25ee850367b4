"""Units of the figures users read: one megabyte everywhere (MB = 10**6 bytes, as file managers and pip show).

Every size a printer shows goes through `format_mb`, every byte count through `to_mb`: no 2**20 anywhere.
"""

from __future__ import annotations

MB = 10**6


def to_mb(n_bytes: float) -> float:
    """Bytes -> MB (10**6 bytes, not 2**20).

    >>> to_mb(1_500_000)
    1.5
    """
    return n_bytes / MB


def format_mb(mb: float | None, digits: int = 3) -> str:
    """A size in MB as every printer shows it, e.g. '0.329 MB' (`to_mb` first for a byte count).

    >>> format_mb(to_mb(328_960))
    '0.329 MB'
    """
    return f"{mb or 0.0:.{digits}f} MB"
