"""make bench-byo: three third-party-style ONNX files -> describe -> quantize --preset auto -> bench interleaved.

Each model is exported by torch the way other tools export (not by `edgebench export`), with different opsets and
input conventions, then handled only through the CLI a user would type:

1. mobilenet_v2 (torchvision), opset 11, NCHW, dynamic batch, a final Softmax; `--preprocessing imagenet`
   (the graph is upgraded to opset 13 for INT8);
2. resnet18 (torchvision) behind an NHWC wrapper (the graph transposes), opset 17, fixed batch 1, input name
   'input_1:0'; `--preprocessing caffe-bgr`;
3. a small VGG-style CIFAR net, opset 9, NCHW; `--preprocessing cifar10 --labels cifar10`.

Weights are random (no download): accuracy is not the point here, speed, node counts and MACs are. Calibration
uses random uint8 images (64). For each model: `edgebench describe`, `edgebench quantize --preset auto`,
`edgebench bench FP32 INT8 --interleave -t 1` (speed-up = FP32 / INT8 median over rounds, CPU time), the INT8 vs
float node counts from the INT8 manifest, and the graph MACs of the manifest against torch.utils.flop_counter on
the same architecture (must agree within 2 %). Writes artifacts/bench-byo/summary.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
EDGEBENCH = str(Path(sys.executable).parent / "edgebench")
MACS_TOLERANCE = 0.02


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(*args: object) -> str:
    cmd = [EDGEBENCH, *map(str, args)]
    say("$ " + " ".join(cmd[1:]))
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.stderr.strip():
        say(r.stderr.strip())
    if r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd)}")
    return r.stdout


def mobilenet_v2() -> Any:
    import torch
    import torchvision

    return torch.nn.Sequential(torchvision.models.mobilenet_v2(weights=None), torch.nn.Softmax(dim=1))


class Nhwc:  # a namespace for the wrapper class (torch imported lazily)
    @staticmethod
    def resnet18() -> Any:
        import torch
        import torchvision

        class NhwcResNet(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = torchvision.models.resnet18(weights=None)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.net(x.permute(0, 3, 1, 2))

        return NhwcResNet()


def vgg_cifar() -> Any:
    from torch import nn

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    return nn.Sequential(*block(3, 64), *block(64, 64), nn.MaxPool2d(2), *block(64, 128), *block(128, 128),
                         nn.MaxPool2d(2), *block(128, 256), *block(256, 256), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(256 * 4 * 4, 256), nn.ReLU(inplace=True), nn.Linear(256, 10))


# name, factory, opset, input shape, input name, dynamic batch, describe options, calibration image size
MODELS: list[tuple[str, Callable[[], Any], int, tuple[int, ...], str, bool, list[str], int]] = [
    ("mobilenet_v2_softmax_op11", mobilenet_v2, 11, (1, 3, 224, 224), "input.1", True,
     ["--preprocessing", "imagenet", "--labels", "imagenet"], 256),
    ("resnet18_nhwc_op17", Nhwc.resnet18, 17, (1, 224, 224, 3), "input_1:0", False,
     ["--preprocessing", "caffe-bgr", "--labels", "imagenet"], 256),
    ("vgg_cifar_op9", vgg_cifar, 9, (1, 3, 32, 32), "data", True,
     ["--preprocessing", "cifar10", "--labels", "cifar10"], 32),
]


def export(name: str, factory: Callable[[], Any], opset: int, shape: tuple[int, ...], input_name: str,
           dynamic: bool, out: Path) -> tuple[Path, int]:
    """torch.onnx.export (TorchScript exporter, as older tools use) and the MACs torch counts at batch 1."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    model = factory().eval()
    x = torch.randn(*shape)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(x)
    torch_macs = fc.get_total_flops() // 2
    path = out / name / f"{name}.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {input_name: {0: "batch_size"}, "probs": {0: "batch_size"}} if dynamic else None
    torch.onnx.export(model, (x,), str(path), opset_version=opset, input_names=[input_name], output_names=["probs"],
                      dynamic_axes=axes, dynamo=False, do_constant_folding=True)
    return path, int(torch_macs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", type=Path, default=REPO / "artifacts" / "bench-byo")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--round-iters", type=int, default=20)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from edgebench.bench.fingerprint import host_isa_summary
    from edgebench.manifest import read_manifest

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, factory, opset, shape, input_name, dynamic, options, calib_size in MODELS:
        path, torch_macs = export(name, factory, opset, shape, input_name, dynamic, out)
        rng = np.random.default_rng(0)
        calib = out / f"calib{calib_size}.npz"
        if not calib.exists():
            np.savez(calib, images=rng.integers(0, 256, (64, calib_size, calib_size, 3)).astype(np.uint8),
                     labels=np.zeros(64, np.int64))
        run("describe", path, *options, "--force")
        run("quantize", path, "--data", calib, "--preset", "auto", "--calib-size", "64", "--force")
        fp32, int8 = read_manifest(path.with_suffix(".json")), read_manifest(path.parent / f"{name}.int8.json")
        res_dir = out / name / "interleaved"
        run("bench", path, path.parent / f"{name}.int8.onnx", "--interleave", "-t", "1", "--rounds", args.rounds,
            "--round-iters", args.round_iters, "-o", res_dir)
        result = json.loads(sorted(res_dir.glob("interleave.*.json"))[-1].read_text())
        i8 = result["models"][1]
        r8 = i8.get("cpu_ratio_vs_first") or i8["ratio_vs_first"]  # thread CPU time when the runtime gives it
        ratio = r8["median"]
        graph_macs = int(fp32.macs or 0)
        rows.append({
            "model": name, "opset": opset, "input": f"{input_name} {list(shape)}",
            "layout": fp32.input.preprocessing.layout if fp32.input else None,
            "output_kind": (fp32.output or {}).get("kind"),
            "int8_opset": int8.opset or opset, "preset": (int8.preset or {}).get("preset"),
            "fp32_p50_ms": result["models"][0]["p50_ms"], "int8_p50_ms": i8["p50_ms"],
            "speedup": 1.0 / ratio, "speedup_ci95": [1.0 / c for c in reversed(r8["ci95"])],
            "speedup_basis": "thread CPU time" if "cpu_ratio_vs_first" in i8 else "wall clock",
            "nodes_int8": (int8.nodes or {}).get("int8"), "nodes_float": (int8.nodes or {}).get("float"),
            "float_op_types": dict((int8.nodes or {}).get("float_op_types") or {}),
            "graph_macs": graph_macs, "torch_macs": torch_macs,
            "macs_diff_pct": 100.0 * (graph_macs - torch_macs) / torch_macs,
        })
    from edgebench.atomic import write_json

    summary = {"host": host_isa_summary(), "threads": 1, "rounds": args.rounds, "round_iters": args.round_iters,
               "models": rows}
    write_json(out / "summary.json", summary, force=True)
    print(f"host: {summary['host']}; ORT 1 thread, batch 1, interleaved {args.rounds} rounds x {args.round_iters}")
    print("| model | opset (INT8) | input | output | FP32 p50 ms | INT8 p50 ms | INT8 speed-up | nodes INT8/float "
          "| graph MMACs | torch MMACs | diff |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    bad = []
    for r in rows:
        print(f"| {r['model']} | {r['opset']} ({r['int8_opset']}) | {r['input']} {r['layout']} | {r['output_kind']} | "
              f"{r['fp32_p50_ms']:.2f} | {r['int8_p50_ms']:.2f} | {r['speedup']:.2f}x | "
              f"{r['nodes_int8']}/{r['nodes_float']} | {r['graph_macs'] / 1e6:.1f} | {r['torch_macs'] / 1e6:.1f} | "
              f"{r['macs_diff_pct']:+.2f} % |")
        if abs(r["macs_diff_pct"]) > 100 * MACS_TOLERANCE:
            bad.append(r["model"])
    if bad:
        raise SystemExit(f"graph MACs differ from torch's by more than {MACS_TOLERANCE:.0%}: {', '.join(bad)}")


if __name__ == "__main__":
    main()
