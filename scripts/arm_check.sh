#!/usr/bin/env bash
# `make arm-check`: prove the torch-free device CLI on aarch64, by emulation (qemu-user in a Debian arm64 root).
#
#  1. host tools: qemu-user-static, binfmt-support, debootstrap (apt-get installs them when missing);
#     binfmt_misc mounted and qemu-aarch64 enabled.
#  2. the root: `debootstrap --foreign --variant=minbase` bookworm arm64 + python3/venv, second stage in the chroot;
#     cached in $EDGEBENCH_ARM_CACHE and reused only while its stamp holds this script's recipe hash.
#  3. a venv in the root with edgebench's BASE dependencies (aarch64 wheels fetched on the host with
#     `pip download`, installed offline in the root); cached the same way, keyed by the dependency list.
#  3b. the ARM runtimes layer (EDGEBENCH_ARM_RUNTIMES, default openvino,litert,ncnn; 'none' skips it): the aarch64
#     wheels of pyproject's `runtimes` extra that the base venv lacks, installed with `pip install --target` in
#     /opt/edgebench-runtimes (on PYTHONPATH for the device commands); cached apart from the base venv, keyed by the
#     base venv's stamp and the runtimes' requirements. A runtime without an aarch64 wheel is recorded as not
#     runnable under emulation (runtimes-unavailable.txt), not failed.
#  4. edgebench's wheel, built from the working tree on the host, installed in the root; `pip list` proves no torch.
#  5. host side (edgebench.tools.armcheck (tools/armcheck.py) prepare): the models (a synthetic one, and those of `make export` when
#     present; the detector FastestDet FP32 + ORT INT8 on the first COCO images when ../shared/data has them),
#     the host's own outputs and predictions (a detector's decoded boxes and mAP), and for each INT8 model its
#     reference: the QDQ graph run with graph optimizations disabled (the arithmetic the ONNX graph specifies; this
#     host's integer kernels may saturate, e.g. U8S8 on x86 without VNNI: docs/int8-arithmetic.md); then per board
#     the device commands (scripts/arm_device.sh) run in the root with that board's /proc/cpuinfo and /sys
#     (tests/data/boards/) and qemu emulating its core: pi4 = Cortex-A72 (no dotprod), pi5 = Cortex-A76 (dotprod).
#  6. edgebench.tools.armcheck (tools/armcheck.py) verify: fingerprints, presets, schema, emulation flags, outputs and
#     predictions vs the host (FP32) or the QDQ reference (INT8; the host kernels' difference is logged as information);
#     the detector's decoded boxes (box agreement both ways) and its `edgebench eval` mAP on the device.
#
# Runs as root. Every mount under the root is undone (reverse order) on exit, and nothing is ever deleted
# while anything is still mounted under it. Stage timings: $OUT/timings.json.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$REPO/.venv/bin/python}
CACHE=${EDGEBENCH_ARM_CACHE:-/var/cache/edgebench-arm}
SUITE=bookworm
ROOT=$CACHE/root-$SUITE-arm64
VENV=/opt/edgebench                      # inside the root
OUT=${EDGEBENCH_ARM_OUT:-$REPO/artifacts/arm-check}
BOARDS_DIR=$REPO/tests/data/boards
BOARDS=${EDGEBENCH_ARM_BOARDS:-"pi4 pi5"}
declare -A QEMU_CPU_OF=([pi4]=cortex-a72 [pi5]=cortex-a76)
RT_DIR=/opt/edgebench-runtimes           # inside the root: the runtimes layer, beside the base venv
RUNTIMES=${EDGEBENCH_ARM_RUNTIMES-openvino,litert,ncnn}

log() { printf '[arm-check %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount)"
[ -x "$PY" ] || die "$PY missing: run 'make setup' first"

# ---------------------------------------------------------------- mounts and safe deletion
mounts_under() {  # mount points at or below $1, most recent first (the order to unmount them in)
    awk -v r="$1" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts | tac
}

umount_under() {
    local m
    for m in $(mounts_under "$1"); do
        umount "$m" 2>/dev/null || umount -l "$m" || true
    done
    [ -z "$(mounts_under "$1")" ] || die "still mounted under $1: $(mounts_under "$1" | tr '\n' ' ')"
}

safe_rm() {  # delete a folder only once nothing is mounted below it, and never across file systems
    [ -e "$1" ] || return 0
    case "$1" in "$CACHE"/?*|"$OUT"|"$OUT"/?*) ;; *) die "refusing to delete $1 (outside $CACHE and $OUT)";; esac
    umount_under "$1"
    rm -rf --one-file-system "$1"
}

cleanup() {
    local rc=$?
    umount_under "$ROOT" || rc=1
    [ -d "$ROOT.new" ] && { umount_under "$ROOT.new" || rc=1; }
    exit $rc
}

# ---------------------------------------------------------------- timing
declare -A T
STAGES=()
stage_start() { STAGE=$1; STAGE_T0=$(date +%s.%N); log "== $1"; }
stage_end() {
    local dt; dt=$(awk -v a="$STAGE_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    T[$STAGE]=$dt; STAGES+=("$STAGE"); log "   $STAGE took ${dt}s"
}
write_timings() {
    mkdir -p "$OUT"
    { printf '{\n  "cached_root": %s,\n  "cached_venv": %s,\n  "cached_runtimes": %s,\n  "runtimes": "%s",\n  "stages_s": {' \
          "$CACHED_ROOT" "$CACHED_VENV" "$CACHED_RUNTIMES" "$RUNTIMES"
      local sep="" s
      for s in "${STAGES[@]}"; do printf '%s\n    "%s": %s' "$sep" "$s" "${T[$s]}"; sep=","; done
      printf '\n  },\n  "total_s": %s\n}\n' "$(awk -v a="$T_ALL" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
    } > "$OUT/timings.json"
}

# ---------------------------------------------------------------- 1. host tools and binfmt
host_tools() {
    local need=()
    command -v debootstrap >/dev/null || need+=(debootstrap)
    command -v update-binfmts >/dev/null || need+=(binfmt-support)
    [ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
    if [ ${#need[@]} -gt 0 ]; then
        log "installing ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    if ! grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
        update-binfmts --import qemu-aarch64 2>/dev/null || true
        update-binfmts --enable qemu-aarch64
    fi
    grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "qemu-aarch64 binfmt handler is not enabled"
}

in_root() {  # in_root ROOT QEMU_CPU CMD...: run CMD in the root with a clean environment
    local root=$1 cpu=$2; shift 2
    env -i HOME=/root LANG=C.UTF-8 PATH=$VENV/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
        QEMU_CPU="$cpu" DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
        PYTHONDONTWRITEBYTECODE=1 EDGEBENCH_EMULATED=1 chroot "$root" "$@"
}

# ---------------------------------------------------------------- 2. the root (cached by recipe hash)
build_root() {  # $1 = folder to build in; $2 = mirror
    debootstrap --arch=arm64 --foreign --variant=minbase --include=python3,python3-venv "$SUITE" "$1" "$2" >/dev/null
    # binfmt's F flag already pins the interpreter; the copy keeps the root usable where it is not set.
    cp /usr/bin/qemu-aarch64-static "$1/usr/bin/"
    in_root "$1" max /debootstrap/debootstrap --second-stage >/dev/null
    umount_under "$1"
    rm -rf --one-file-system "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*
    in_root "$1" max /usr/bin/python3 -c "import sys, venv; print(sys.version)"
}

recipe_hash() { { echo "$SUITE arm64 v1"; declare -f "$@"; } | sha256sum | cut -c1-16; }

ensure_root() {
    local want; want=$(recipe_hash build_root in_root)
    if [ -f "$ROOT/.edgebench-root" ] && [ "$(cat "$ROOT/.edgebench-root")" = "$want" ] \
        && in_root "$ROOT" max /usr/bin/python3 -c "pass" 2>/dev/null; then
        CACHED_ROOT=true; log "root cached: $ROOT ($want)"; return
    fi
    CACHED_ROOT=false
    safe_rm "$ROOT"; safe_rm "$ROOT.new"
    local mirror; mirror=${EDGEBENCH_ARM_MIRROR:-$("$PY" -m edgebench.tools.armcheck mirror --suite "$SUITE")}
    log "building the arm64 $SUITE root from the machine's own Debian mirror: $mirror"
    mkdir -p "$CACHE"
    build_root "$ROOT.new" "$mirror"
    echo "$want" > "$ROOT.new/.edgebench-root"
    mv "$ROOT.new" "$ROOT"
    du -sh "$ROOT" | awk '{ print "root size: " $1 }' >&2
}

# ---------------------------------------------------------------- 3. the venv with the base dependencies
build_venv() {  # $1 = wheelhouse on the host, $2.. = requirements
    local wh=$1; shift
    rm -rf --one-file-system "$wh.part"; mkdir -p "$wh.part"
    "$PY" -m pip download -q --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 --abi abi3 \
        --abi none --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 \
        --platform manylinux_2_28_aarch64 --platform manylinux_2_34_aarch64 --platform manylinux_2_36_aarch64 \
        --platform any -d "$wh.part" "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
    rm -rf --one-file-system "$wh"; mv "$wh.part" "$wh"
    rm -rf --one-file-system "$ROOT$VENV" "$ROOT/tmp/wheels"
    cp -r "$wh" "$ROOT/tmp/wheels"
    in_root "$ROOT" max /usr/bin/python3 -m venv "$VENV"
    in_root "$ROOT" max "$VENV/bin/pip" install -q --no-compile --no-index --find-links /tmp/wheels "$@"
    rm -rf --one-file-system "$ROOT/tmp/wheels"
}

ensure_venv() {
    mapfile -t REQS < <("$PY" -m edgebench.tools.armcheck base-requirements)
    local want; want=$( { printf '%s\n' "${REQS[@]}"; declare -f build_venv; } | sha256sum | cut -c1-16)
    if [ -f "$ROOT$VENV/.edgebench-venv" ] && [ "$(cat "$ROOT$VENV/.edgebench-venv")" = "$want" ]; then
        CACHED_VENV=true; log "venv cached: $VENV ($want)"; return
    fi
    CACHED_VENV=false
    log "installing the base dependencies in the root: ${REQS[*]}"
    build_venv "$CACHE/wheels-$want" "${REQS[@]}"
    echo "$want" > "$ROOT$VENV/.edgebench-venv"
    find "$CACHE" -maxdepth 1 -name 'wheels-*' ! -name "wheels-$want" -exec rm -rf --one-file-system {} +
}

# ---------------------------------------------------------------- 3b. the runtimes layer
# pip matches --platform tags exactly: every manylinux_2_X up to bookworm's glibc 2.36, or it silently picks old
# releases (openvino's wheel is manylinux_2_35, ai-edge-litert's manylinux_2_27).
rt_download() {  # $1 = wheelhouse, $2.. = requirements
    local wh=$1 tags=() v; shift
    for v in $(seq 17 36); do tags+=(--platform "manylinux_2_${v}_aarch64"); done
    "$PY" -m pip download -q --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 --abi abi3 \
        --abi none "${tags[@]}" --platform manylinux2014_aarch64 --platform any -d "$wh" "$@" \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

build_runtimes() {  # $1 = wheelhouse on the host; RT_REQS (NAME REQUIREMENT lines); writes $UNAVAILABLE
    local wh=$1 line name req err reqs=()
    rm -rf --one-file-system "$wh.part"; mkdir -p "$wh.part"
    : > "$UNAVAILABLE"
    for line in "${RT_REQS[@]}"; do  # one runtime at a time: one without an aarch64 wheel does not stop the others
        name=${line%% *} req=${line#* }
        if err=$(rt_download "$wh.part" "${REQS[@]}" "$req" 2>&1); then
            reqs+=("$req")
        else
            echo "$name no aarch64 cp311 wheel for bookworm (glibc 2.36): $(tail -n 1 <<< "$err")" >> "$UNAVAILABLE"
        fi
    done
    rm -rf --one-file-system "$wh"; mv "$wh.part" "$wh"
    rm -rf --one-file-system "$ROOT$RT_DIR" "$ROOT/tmp/wheels"
    mkdir -p "$ROOT$RT_DIR"
    [ ${#reqs[@]} -gt 0 ] || return 0
    cp -r "$wh" "$ROOT/tmp/wheels"
    # what the base venv lacks (pip's own resolver against it), installed beside it: the base stays as it is
    in_root "$ROOT" max "$VENV/bin/pip" install -q --dry-run --no-index --find-links /tmp/wheels \
        --report /tmp/rt-report.json "${reqs[@]}"
    in_root "$ROOT" max "$VENV/bin/pip" list --format=json > "$CACHE/base-pip-list.json"
    local files; mapfile -t files < <("$PY" -m edgebench.tools.armcheck layer-files "$ROOT/tmp/rt-report.json" \
        "$CACHE/base-pip-list.json")
    in_root "$ROOT" max "$VENV/bin/pip" install -q --no-compile --no-index --no-deps --target "$RT_DIR" "${files[@]}"
    rm -rf --one-file-system "$ROOT/tmp/wheels" "$ROOT/tmp/rt-report.json"
    du -sh "$ROOT$RT_DIR" | awk '{ print "runtimes layer size: " $1 }' >&2
}

ensure_runtimes() {
    CACHED_RUNTIMES=false RT_PYTHONPATH=()
    mapfile -t RT_REQS < <("$PY" -m edgebench.tools.armcheck runtime-requirements --runtimes "$RUNTIMES")
    [ ${#RT_REQS[@]} -gt 0 ] || { log "no ARM runtimes besides ONNX Runtime (EDGEBENCH_ARM_RUNTIMES='$RUNTIMES')"; return; }
    UNAVAILABLE=$ROOT$RT_DIR.unavailable   # NAME REASON: runtimes without an aarch64 wheel
    RT_PYTHONPATH=(/usr/bin/env "PYTHONPATH=$RT_DIR")
    local want; want=$( { cat "$ROOT$VENV/.edgebench-venv"; printf '%s\n' "${RT_REQS[@]}";
                          declare -f rt_download build_runtimes; } | sha256sum | cut -c1-16)
    if [ -f "$ROOT$RT_DIR/.edgebench-runtimes" ] && [ "$(cat "$ROOT$RT_DIR/.edgebench-runtimes")" = "$want" ]; then
        CACHED_RUNTIMES=true; log "runtimes layer cached: $RT_DIR ($want)"; return
    fi
    log "installing the ARM runtimes' aarch64 wheels in $RT_DIR: ${RT_REQS[*]}"
    build_runtimes "$CACHE/rt-wheels-$want"
    # cached only when every runtime installed (a failed download may be the network's)
    [ -s "$UNAVAILABLE" ] || echo "$want" > "$ROOT$RT_DIR/.edgebench-runtimes"
    find "$CACHE" -maxdepth 1 -name 'rt-wheels-*' ! -name "rt-wheels-$want" -exec rm -rf --one-file-system {} +
}

# ---------------------------------------------------------------- 4. edgebench from the working tree
install_edgebench() {
    local dist=$OUT/dist
    safe_rm "$dist"; mkdir -p "$dist"
    # the wheel `edgebench device setup` installs: built from a clean copy of the tree (a stale build/ adds moved modules)
    cp "$("$PY" -c 'from edgebench.devices.remote import build_wheel; print(build_wheel(echo=lambda _m: None))')" "$dist/"
    local whl; whl=$(ls "$dist"/edgebench-*.whl)
    cp "$whl" "$ROOT/tmp/"
    in_root "$ROOT" max "$VENV/bin/pip" install -q --no-compile --no-index --no-deps --force-reinstall \
        "/tmp/$(basename "$whl")"
    rm -f "$ROOT/tmp/$(basename "$whl")"
    in_root "$ROOT" max "$VENV/bin/pip" check
    in_root "$ROOT" max "$VENV/bin/pip" list --format=json > "$OUT/pip_list.json"
    "$PY" -m edgebench.tools.armcheck check-pip-list "$OUT/pip_list.json"
    [ ${#RT_PYTHONPATH[@]} -gt 0 ] || return 0
    # the base venv with the runtimes layer, as the device commands see it: consistent, the runtimes there, no torch
    in_root "$ROOT" max "${RT_PYTHONPATH[@]}" "$VENV/bin/pip" check
    in_root "$ROOT" max "${RT_PYTHONPATH[@]}" "$VENV/bin/pip" list --format=json > "$OUT/pip_list_runtimes.json"
    "$PY" -m edgebench.tools.armcheck check-pip-list "$OUT/pip_list_runtimes.json" --runtimes "$RUNTIMES" \
        --unavailable "$UNAVAILABLE"
}

# ---------------------------------------------------------------- 5. the device commands, per board
mount_board() {  # $1 = board
    local b=$BOARDS_DIR/$1
    [ -f "$b/proc/cpuinfo" ] || die "no board tree $b"
    mount -t proc proc "$ROOT/proc"
    # qemu-user passes /proc/cpuinfo through: the host's x86 one crashes onnxruntime's CPU detection.
    mount --bind "$b/proc/cpuinfo" "$ROOT/proc/cpuinfo"
    # A board-shaped /sys (cpufreq, thermal zone, firmware throttle word, device-tree model) on a tmpfs:
    # the host's /sys never enters the root.
    mount -t tmpfs -o size=8m,mode=755 edgebench-sys "$ROOT/sys"
    cp -r "$b/sys/." "$ROOT/sys/"
    mkdir -p "$ROOT/dev/shm" "$ROOT/work"
    mount -t tmpfs -o size=64m edgebench-shm "$ROOT/dev/shm"
    mount --bind "$WORK" "$ROOT/work"
}

run_board() {  # $1 = board
    local board=$1 cpu=${QEMU_CPU_OF[$1]}
    mount_board "$board"
    local rc=0
    in_root "$ROOT" "$cpu" "${RT_PYTHONPATH[@]}" /bin/sh /work/arm_device.sh "$board" /work || rc=$?
    umount_under "$ROOT"
    [ $rc = 0 ] || die "device commands failed on $board (qemu cpu $cpu), exit $rc"
}

# ---------------------------------------------------------------- main
T_ALL=$(date +%s.%N)
CACHED_ROOT=false CACHED_VENV=false CACHED_RUNTIMES=false RT_PYTHONPATH=() UNAVAILABLE=/dev/null
mkdir -p "$CACHE" "$OUT"
exec 9>"$CACHE/.lock"
flock -w 1800 9 || die "another arm-check holds $CACHE/.lock"
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
umount_under "$ROOT"                       # leftovers of a run that was killed
[ -d "$ROOT.new" ] && safe_rm "$ROOT.new"

stage_start host-tools;  host_tools;        stage_end
stage_start root;        ensure_root;       stage_end
stage_start venv;        ensure_venv;       stage_end
stage_start runtimes;    ensure_runtimes;   stage_end
stage_start install;     install_edgebench; stage_end

WORK=$OUT/work
stage_start prepare
safe_rm "$WORK"; mkdir -p "$WORK"
cp "$REPO/scripts/arm_device.sh" "$WORK/"
# EDGEBENCH_ARM_MODEL_DIRS: more model folders (space-separated); EDGEBENCH_ARM_NO_PRUNED=1: skip the pruned model;
# EDGEBENCH_ARM_DETECTOR_N: COCO images the detector runs on (default 32; 0 leaves it out)
# shellcheck disable=SC2086
"$PY" -m edgebench.tools.armcheck prepare --work "$WORK" ${EDGEBENCH_ARM_MODEL_DIRS:+--model-dirs $EDGEBENCH_ARM_MODEL_DIRS} \
    ${EDGEBENCH_ARM_NO_PRUNED:+--no-pruned} ${EDGEBENCH_ARM_DETECTOR_N:+--detector-n $EDGEBENCH_ARM_DETECTOR_N} \
    --runtimes "${RUNTIMES:-none}"
[ ! -s "$UNAVAILABLE" ] || cp "$UNAVAILABLE" "$WORK/runtimes-unavailable.txt"
stage_end

for board in $BOARDS; do
    stage_start "device-$board"; run_board "$board"; stage_end
done

stage_start verify
"$PY" -m edgebench.tools.armcheck verify --work "$WORK" --boards $BOARDS --out "$OUT"
stage_end
write_timings
log "passed; timings in $OUT/timings.json, summary in $OUT/summary.json"
cat "$OUT/timings.json" >&2
