"""Sweeps: a declarative grid (models x pruning x precisions x runtimes x threads x batch x devices) run as a
graph of cached stages, embedded or on Ray (`edgebench sweep`). See docs/sweep.md.

Layer: above exporter and bench (it composes them), below the CLI.
"""
