"""OpenVINO INT8 by NNCF post-training quantization (workstation: `openvino` + `nncf`, no torch needed).

The FP32 ONNX model is read by OpenVINO as it is (dynamic batch kept), quantized with `nncf.quantize`
(its defaults: mixed preset, symmetric weights, per-channel) on the calibration images and saved as an
IR pair `model.xml` + `model.bin`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from edgebench.runtimes.base import dist_version
from edgebench.runtimes.converters import ConvertJob, ConvertOutput


def convert(job: ConvertJob) -> ConvertOutput:
    import nncf
    import openvino as ov
    from edgebench.errors import CalibrationError

    if job.precision != "int8" or job.calibration is None:
        raise CalibrationError("the openvino converter makes INT8 models and needs calibration images")
    logging.getLogger("nncf").setLevel(logging.ERROR)
    model = ov.Core().read_model(str(job.onnx_path))
    x = job.calibration
    dataset = nncf.Dataset([x[i:i + 1] for i in range(len(x))])
    quantized = nncf.quantize(model, dataset, subset_size=len(x))
    out = Path(job.out_dir) / "model.xml"
    ov.save_model(quantized, str(out), compress_to_fp16=False)
    return ConvertOutput(model_file=out, converter="nncf.quantize (OpenVINO IR)",
                         converter_version=f"nncf {dist_version('nncf', 'nncf')}, "
                                           f"openvino {dist_version('openvino', 'openvino')}",
                         details={"name_suffix": "nncf", "subset_size": len(x),
                                  "settings": "nncf defaults (preset mixed: symmetric weights, per-channel)"})
