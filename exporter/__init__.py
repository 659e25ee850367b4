"""exporter: model zoo, checkpoints, pruning, training and torch -> ONNX export (needs the `export` extra)."""

# What the torch runtimes need from the exporter; the command line and the sweep pass it in
# (`edgebench.runtimes.torch.session.provide(**TORCH_RUNTIME_NEEDS)`): names, so providing imports nothing.
TORCH_RUNTIME_NEEDS = {"build_module": "edgebench.exporter.rebuild:build_module",
                       "calibration_images": "edgebench.exporter.rebuild:calibration_images"}
