"""exporter: model zoo, checkpoints, pruning, training and torch -> ONNX export (needs the `export` extra)."""

# What the torch runtimes need from the exporter; the command line and the sweep pass it in
# (`edgebench.runtimes.torch.session.provide(**TORCH_RUNTIME_NEEDS)`): names, so providing imports nothing.
TORCH_RUNTIME_NEEDS = {"build_module": "edgebench.exporter.rebuild:build_module",
                       "calibration_images": "edgebench.exporter.rebuild:calibration_images"}


def provide_torch_runtimes() -> None:
    """Pass the torch runtimes what they need from the exporter (`TORCH_RUNTIME_NEEDS`, by name: nothing is
    imported until a torch runtime loads). The top of every program that may run them calls it: the command line,
    the sweep's stages (a Ray worker too), the benchmark scripts."""
    from edgebench.runtimes.torch.session import provide

    provide(**TORCH_RUNTIME_NEEDS)
