"""Developer tooling shipped with edgebench: synthetic ONNX models and the host side of `make arm-check`."""
