"""Raw outputs of models on fixed inputs, through edgebench's own ort-cpu runtime (torch-free).

`make arm-check` runs it on the host and in the emulated aarch64 root with the same inputs, then compares.
Usage: python -m edgebench.tools.arm_outputs LIST OUT_DIR [--threads N] [--graph-opt LEVEL | --reference]
LIST has one line per model, `MODEL INPUTS.npz KEY` (INPUTS.npz: one array per model input, batch first);
the outputs go to OUT_DIR/KEY.npz. One process for all models: under emulation every start-up costs seconds.
`--reference` (= `--graph-opt disable`): no graph optimization, so no QDQ fusion: an INT8 QDQ model runs as
DequantizeLinear -> float op -> QuantizeLinear, the arithmetic its ONNX graph specifies, whatever integer
kernels this CPU has (docs/int8-arithmetic.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from edgebench.runtimes import get_runtime

GRAPH_OPT_LEVELS = ("disable", "basic", "extended", "all")


def run(model: Path, inputs: Path, out: Path, threads: int = 1, graph_opt: str = "all") -> None:
    feeds = dict(np.load(inputs, allow_pickle=False))
    rt = get_runtime("ort-cpu")
    sess = rt.load(model, rt.Options(intra_op_threads=threads, graph_optimization=graph_opt))  # type: ignore[call-arg]
    n = len(next(iter(feeds.values())))
    fixed = [s.shape[0] for s in sess.inputs if isinstance(s.shape[0], int) and s.shape[0] > 0]
    step = min(fixed) if fixed else n  # a fixed batch dimension: feed it that many at a time
    chunks = [sess.run({k: v[i:i + step] for k, v in feeds.items()}) for i in range(0, n, step)]
    np.savez(out, **{k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("list", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--graph-opt", choices=GRAPH_OPT_LEVELS, default="all",
                    help="ORT graph optimization level (default all: this CPU's fused integer kernels)")
    ap.add_argument("--reference", dest="graph_opt", action="store_const", const="disable",
                    help="the QDQ reference: --graph-opt disable")
    args = ap.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    base = args.list.parent
    for line in args.list.read_text(encoding="utf-8").splitlines():
        if line.strip():
            model, inputs, key = line.split()
            run(base / model, base / inputs, args.out_dir / f"{key}.npz", args.threads, args.graph_opt)


if __name__ == "__main__":
    main()
