#!/bin/sh
# The device side of `make arm-check`: what a Raspberry Pi runs (README, "Raspberry Pi"), run by
# scripts/arm_check.sh inside the emulated aarch64 root. Usage: arm_device.sh BOARD WORK
# WORK/plan.txt (written by scripts/arm_check.py prepare) lists the commands, one per line:
#   bench MODEL | eval MODEL N | preset
set -eu
board=$1
work=$2
out=$work/out/$board
rm -rf "$out"
mkdir -p "$out/results" "$out/eval"
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

while read -r cmd model n; do
    case "$cmd" in
        bench)
            echo "[$board] edgebench bench $model"
            edgebench bench "$model" --threads 1 --warmup-iters 2 --min-iters 5 --min-seconds 0 --max-seconds 60 \
                --cooldown 70 --cooldown-timeout 5 -o "$out/results"
            ;;
        eval)
            key="$(basename "$(dirname "$model")").$(basename "$model" .onnx)"
            echo "[$board] edgebench eval $model --limit $n"
            edgebench eval "$model" --dataset data/test.npz --limit "$n" --json > "$out/eval/$key.json"
            ;;
        preset)
            python3 preset.py > "$out/preset.txt"
            echo "[$board] auto INT8 preset: $(cat "$out/preset.txt")"
            ;;
        "") ;;
        *) echo "unknown plan line: $cmd" >&2; exit 2 ;;
    esac
done < plan.txt
echo "[$board] done"
