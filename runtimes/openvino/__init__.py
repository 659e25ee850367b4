"""openvino: the OpenVINO CPU plugin. `session.py` (runtime and session), `options.py` (`OpenVinoOptions`),
`convert.py` (NNCF INT8 IR, workstation only). openvino and nncf are imported inside functions."""
