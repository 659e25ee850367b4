"""torch and torch-int8: PyTorch eager FP32/bf16 and PyTorch's post-training static INT8. `session.py` (the
runtimes, torch imported inside functions), `options.py` (`TorchOptions`, `TorchInt8Options`)."""
