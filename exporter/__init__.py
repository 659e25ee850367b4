"""exporter: model zoo, checkpoints, pruning, training and torch -> ONNX export (needs the `export` extra)."""
