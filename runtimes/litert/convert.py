"""LiteRT `.tflite` from the PyTorch module (workstation: `litert-torch`, torch).

The module is rebuilt from the manifest by `job.build_module` (the caller passes the exporter's
`rebuild.build_module`, the same the torch runtimes get) and converted
by `litert_torch.convert` at batch 1 (a static shape: LiteRT's batch is never resized afterwards). INT8:
PT2E post-training static quantization with litert-torch's quantizer (symmetric, per-channel weights),
calibrated image by image; the model then takes int8 input and gives int8 output (the runtime scales them).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from edgebench.runtimes.base import dist_version
from edgebench.runtimes.converters import ConvertJob, ConvertOutput


def _refused(name: str, error: str) -> Exception:
    """One line for an INT8 graph TFLite's converter rejects (its error names the source line); the converter's
    own error as it is otherwise."""
    from edgebench.errors import ModelFileError

    if "same scale constraint" not in error:
        return ValueError(error)
    where = error.split(": error:")[0].strip().rsplit("/", 1)[-1] or "?"
    return ModelFileError(
        f"LiteRT cannot take '{name}' as INT8: TFLite's int8 concatenation needs one scale for all its inputs and "
        f"litert-torch's PT2E quantizer gave them different ones (the concatenation at {where}); convert it with "
        "--precision fp32, or to INT8 with -r openvino (or edgebench quantize for ONNX Runtime)")


def convert(job: ConvertJob) -> ConvertOutput:
    import numpy as np
    import torch
    from edgebench.errors import CalibrationError, ModelFileError

    if job.build_module is None:
        raise ModelFileError("the litert converter rebuilds the PyTorch module: the caller passes build_module "
                             "in the ConvertJob (edgebench convert does)")
    logging.getLogger("litert_torch").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import litert_torch

        module, _ = job.build_module(job.manifest, job.onnx_path.parent)
        module.eval()
        shape = [1 if not isinstance(d, int) else d for d in (job.manifest.input.shape if job.manifest.input else ())]
        example = (torch.from_numpy(np.zeros(shape, dtype=np.float32)),)
        details: dict[str, object] = {"static_batch": 1}
        if job.precision == "fp32":
            edge = litert_torch.convert(module, example)
        else:
            from litert_torch.quantize import pt2e_quantizer
            from litert_torch.quantize.quant_config import QuantConfig
            from torchao.quantization.pt2e import quantize_pt2e

            x = job.calibration
            if x is None:
                raise CalibrationError("LiteRT INT8 needs calibration images (--data)")
            example = (torch.from_numpy(x[:1]),)
            exported = torch.export.export(module, example).module()
            quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
                pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
            prepared = quantize_pt2e.prepare_pt2e(exported, quantizer)
            with torch.no_grad():
                for i in range(len(x)):  # the exported graph is static: batch 1
                    prepared(torch.from_numpy(x[i:i + 1]))
            converted = quantize_pt2e.convert_pt2e(prepared, fold_quantize=False)
            try:
                edge = litert_torch.convert(converted, example, quant_config=QuantConfig(pt2e_quantizer=quantizer))
            except ValueError as e:
                raise _refused(job.onnx_path.name, str(e)) from None
            details["quantizer"] = "PT2EQuantizer, symmetric, per-channel weights, static activations"
            details["calibrated_images"] = len(x)
        out = Path(job.out_dir) / "model.tflite"
        edge.export(str(out))
    return ConvertOutput(model_file=out, converter="litert_torch.convert",
                         converter_version=f"litert-torch {dist_version('litert-torch', 'litert_torch')}, "
                                           f"torch {dist_version('torch', 'torch').split('+')[0]}",
                         details=details)
