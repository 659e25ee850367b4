"""ort-cpu: ONNX Runtime on the CPU. `session.py` (the runtime and its session), `options.py` (`OrtCpuOptions` and
`session_options` / `cpu_session`, the one place an `onnxruntime.SessionOptions` is built)."""
