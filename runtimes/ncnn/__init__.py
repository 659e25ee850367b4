"""ncnn: Tencent's ncnn, FP32 (fp16/bf16 by options). `session.py` (runtime and session), `options.py`
(`NcnnOptions`), `convert.py` (pnnx from the ONNX file, workstation only). ncnn, onnx and pnnx are imported
inside functions."""
