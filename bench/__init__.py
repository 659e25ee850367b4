"""bench: the latency/memory/accuracy harness, machine fingerprint, result schema and the CLI."""
