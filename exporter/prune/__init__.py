"""exporter.prune: structured, block, latency-aware and unstructured pruning (the `prune`, `sensitivity` and
`sparsify` commands). Import the modules themselves (`prune.run.run_prune`, `prune.config.RatioConfig` ...):
this file imports nothing, so the torch-free ones (`config`) stay torch-free."""
