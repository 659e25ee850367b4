"""litert: LiteRT with XNNPACK. `session.py` (runtime and session), `options.py` (`LiteRtOptions`), `convert.py`
(litert-torch from the PyTorch module, workstation only). ai_edge_litert, torch and litert_torch are imported
inside functions."""
