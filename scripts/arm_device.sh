#!/bin/sh
# The device side of `make arm-check`: what a Raspberry Pi runs (README, "Raspberry Pi"), run by
# scripts/arm_check.sh inside the emulated aarch64 root. Usage: arm_device.sh BOARD WORK
# WORK/plan.txt (written by `python -m edgebench.tools.armcheck prepare`) lists the commands, one per line:
#   bench MODEL | outputs LIST | eval MODEL N KEY | preset
set -eu
board=$1
work=$2
out=$work/out/$board
rm -rf "$out"
mkdir -p "$out/results" "$out/eval" "$out/outputs"
cd "$work"

echo "[$board] $(uname -m), python $(python3 -c 'import platform; print(platform.python_version())')"
if python3 -c "import torch" 2>/dev/null; then
    echo "[$board] torch is importable: the device install must not have it" >&2
    exit 1
fi
edgebench --help > /dev/null
edgebench sysinfo > "$out/sysinfo.json"
edgebench sysinfo --text
edgebench runtimes

threads=$(nproc)
while read -r cmd model arg key; do
    t0=$(date +%s.%N)
    case "$cmd" in
        bench)
            echo "[$board] edgebench bench $model"
            edgebench bench "$model" --threads 1 --warmup-iters 2 --min-iters 5 --min-seconds 0 --max-seconds 60 \
                --cooldown 70 --cooldown-timeout 5 -o "$out/results"
            ;;
        outputs)
            python3 -m edgebench.tools.arm_outputs "$model" "$out/outputs" --threads "$threads"
            ;;
        eval)
            echo "[$board] edgebench eval $model --limit $arg"
            # the device measures its own integer kernels (exact on ARM: NEON widens, SDOT accumulates in int32)
            edgebench eval "$model" --data data/test.npz --limit "$arg" --threads "$threads" --arithmetic host \
                --json > "$out/eval/$key.json"
            ;;
        preset)
            python3 preset.py > "$out/preset.txt"
            echo "[$board] auto INT8 preset: $(cat "$out/preset.txt")"
            ;;
        "") ;;
        *) echo "unknown plan line: $cmd" >&2; exit 2 ;;
    esac
    [ -z "$cmd" ] || echo "[$board] $cmd $model: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
done < plan.txt
echo "[$board] done"
