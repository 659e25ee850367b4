#!/bin/sh
# The device side of `make arm-check`: what a Raspberry Pi runs (README, "Raspberry Pi"), run by
# scripts/arm_check.sh inside the emulated aarch64 root. Usage: arm_device.sh BOARD WORK
# WORK/plan.txt (written by `python -m edgebench.tools.armcheck prepare`) lists the commands, one per line:
#   bench MODEL [RUNTIME PRECISION] | outputs LIST [RUNTIME] | eval MODEL N KEY | eval-detection MODEL N KEY |
#   preset | probe RUNTIME MODULE
# (`eval` scores a classifier on data/test.npz, `eval-detection` a detector's COCO mAP on the folder data/coco)
# `probe` imports a runtime's module (timed); one that does not install or import here is written to
# out/BOARD/runtimes/RUNTIME.probe as `fail` with the reason, and its later lines are skipped (verify records it
# as not runnable under emulation). Every line's time goes to out/BOARD/times.txt.
set -eu
board=$1
work=$2
out=$work/out/$board
rm -rf "$out"
mkdir -p "$out/results" "$out/eval" "$out/outputs" "$out/runtimes"
cd "$work"

echo "[$board] $(uname -m), python $(python3 -c 'import platform; print(platform.python_version())')"
if python3 -c "import torch" 2>/dev/null; then
    echo "[$board] torch is importable: the device install must not have it" >&2
    exit 1
fi
edgebench --help > /dev/null
edgebench sysinfo > "$out/sysinfo.json"
edgebench sysinfo --text
edgebench runtimes | tee "$out/runtimes.txt"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
skipped() {  # skipped RUNTIME: true when its probe failed on this board
    [ -n "$1" ] && [ -f "$out/runtimes/$1.probe" ] && [ "$(head -c 4 "$out/runtimes/$1.probe")" = fail ]
}

threads=$(nproc)
while read -r cmd model arg key; do
    t0=$(now)
    case "$cmd" in
        bench)
            if skipped "${arg:-}"; then echo "[$board] skipped: bench $model $arg $key"; continue; fi
            echo "[$board] edgebench bench $model ${arg:+-r $arg --precision $key}"
            edgebench bench "$model" ${arg:+-r "$arg" --precision "$key"} --threads 1 --warmup-iters 2 \
                --min-iters 5 --min-seconds 0 --max-seconds 60 --cooldown 70 --cooldown-timeout 5 -o "$out/results"
            ;;
        outputs)
            if skipped "${arg:-}"; then echo "[$board] skipped: outputs $model"; continue; fi
            python3 -m edgebench.tools.arm_outputs "$model" "$out/outputs" --threads "$threads"
            ;;
        eval)
            echo "[$board] edgebench eval $model --limit $arg"
            # the device measures its own integer kernels (exact on ARM: NEON widens, SDOT accumulates in int32)
            edgebench eval "$model" --data data/test.npz --limit "$arg" --threads "$threads" --arithmetic host \
                --json > "$out/eval/$key.json"
            ;;
        eval-detection)
            echo "[$board] edgebench eval $model --data data/coco --limit $arg"
            edgebench eval "$model" --data data/coco --limit "$arg" --threads "$threads" --arithmetic host \
                --json > "$out/eval/$key.json"
            ;;
        preset)
            python3 preset.py > "$out/preset.txt"
            echo "[$board] auto INT8 preset: $(cat "$out/preset.txt")"
            ;;
        probe)
            # the runtimes layer could not install it (written by arm_check.sh), or it does not import here
            reason=
            [ ! -f runtimes-unavailable.txt ] \
                || reason=$(awk -v r="$model" '$1 == r { $1 = ""; sub(/^ /, ""); print }' runtimes-unavailable.txt)
            if [ -z "$reason" ] && ! python3 -c "import $arg" > "$out/runtimes/$model.err" 2>&1; then
                reason="import $arg failed: $(grep -v '^\s*$' "$out/runtimes/$model.err" | tail -n 1)"
            fi
            if [ -n "$reason" ]; then
                printf 'fail %s\n%s\n' "$(since "$t0")" "$reason" > "$out/runtimes/$model.probe"
                echo "[$board] $model is not runnable under emulation: $reason"
            else
                printf 'ok %s\n' "$(since "$t0")" > "$out/runtimes/$model.probe"
                echo "[$board] import $arg: $(since "$t0") s"
            fi
            ;;
        "") continue ;;
        *) echo "unknown plan line: $cmd" >&2; exit 2 ;;
    esac
    dt=$(since "$t0")
    echo "$cmd $model ${arg:--} ${key:--} $dt" >> "$out/times.txt"
    echo "[$board] $cmd $model${arg:+ $arg}${key:+ $key}: $dt s"
done < plan.txt
echo "[$board] done"
