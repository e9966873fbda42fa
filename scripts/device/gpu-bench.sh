#!/usr/bin/env bash
# The real-GPU bench, in one command on a lent NVIDIA machine (no Node, no
# network there; scripts/device/pack.sh packed what it needs here first):
#
#   device run, carry ["device-pack"], timeout_s 540:
#     bash scripts/device/gpu-bench.sh
#   here, on Chromium's SwiftShader and PyTorch on the CPU (tiny preset, 1 step):
#     bash scripts/device/pack.sh --fast && bash scripts/device/gpu-bench.sh --dry-run
#
# Unpacks Node and Dawn into /tmp; where the image has no Vulkan loader
# (`ldconfig -p` lists no libvulkan), unpacks the packed libvulkan1 .deb there
# too; points Vulkan at the NVIDIA driver's ICD; prints nvidia-smi and the
# adapter Dawn got (a software adapter, SwiftShader or llvmpipe, is reported as
# not a GPU and its WebGPU rows are not run); then bench/gpu.ts (device-pack/gpu.mjs)
# runs the rows, most important first, within --budget-s (default 400 s; the
# rest are skipped with a note), and writes gpu-bench.json and gpu-bench.md
# (ours / PyTorch eager per row) to $OUT (the device tool's folder; else
# ./gpu-bench-out), and prints the table. The pretrained rows run the base in
# f32, f16 and int8 (each with its bytes, planned and measured), on the device
# and in the dry run (there on gpt2-tiny) alike, unless --base-dtypes says otherwise.
# Flags: --dry-run, --pack DIR (default device-pack), --out DIR (default $OUT), anything else goes to
# gpu.mjs (--budget-s S, --steps N, --base-dtypes f32,f16,int8, --only gpt2-124m,tiny).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PACK=device-pack
DEST=
DRY=0
PASS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1; shift ;;
    --pack) PACK=$2; shift 2 ;;
    --out) DEST=$2; shift 2 ;;
    *) PASS+=("$1"); shift ;;
  esac
done
[ -f "$PACK/gpu.mjs" ] || { echo "gpu-bench.sh: no $PACK/gpu.mjs: run scripts/device/pack.sh here first, and carry $PACK" >&2; exit 2; }
DEST=${DEST:-${OUT:-$ROOT/gpu-bench-out}}
T=$(mktemp -d /tmp/mcckd-gpu.XXXXXX)
trap 'rm -f "$PACK/node_modules"; rm -rf "$T"' EXIT

# Node and Dawn, out of the carried folder (which must stay small)
if [ -f "$PACK/node.xz" ]; then xz -dc "$PACK/node.xz" >"$T/node"; else cp "$PACK/node" "$T/node"; fi
chmod +x "$T/node"
mkdir -p "$T/node_modules"
if [ -f "$PACK/webgpu.tar.xz" ]; then tar -C "$T/node_modules" -xJf "$PACK/webgpu.tar.xz"; else tar -C "$T/node_modules" -xf "$PACK/webgpu.tar"; fi
# the bundle imports 'webgpu' from beside itself
rm -f "$PACK/node_modules"
ln -s "$T/node_modules" "$PACK/node_modules"
echo "node $("$T/node" --version)"

if [ "$DRY" = 0 ]; then
  # the loader, and glvnd's libGLdispatch that NVIDIA's libraries need, from
  # the pack where the image lacks them (into /tmp: unpacking into / can break it)
  if ! ldconfig -p | grep -q libvulkan || ! ldconfig -p | grep -q libGLdispatch; then
    debs=$(ls "$PACK"/*.deb 2>/dev/null)
    if [ -n "$debs" ]; then
      for f in $debs; do dpkg -x "$f" "$T/vk"; done
      export LD_LIBRARY_PATH="$T/vk/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      echo "Vulkan loader and glvnd: unpacked into $T/vk from $(echo $debs | xargs -n1 basename | tr '\n' ' ')"
    else
      echo "no Vulkan loader (or libGLdispatch) on this machine and none packed: Dawn may find no GPU"
    fi
  fi
  ldconfig -p | grep -E 'libvulkan|libGLdispatch|libGLX_nvidia|libnvidia-glvkspirv' | head -n 6
  ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  if [ -f "$ICD" ]; then
    export VK_DRIVER_FILES=$ICD VK_ICD_FILENAMES=$ICD
    echo "Vulkan driver: $ICD: $(tr -d ' \n' <"$ICD" | head -c 300)"
  else
    echo "no $ICD: Vulkan finds its own drivers"
  fi
  nvidia-smi || echo "nvidia-smi: not found or failed"
  MCCKD_NVIDIA_SMI=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
  export MCCKD_NVIDIA_SMI
  # the image's python3 is the one with torch (CUDA), transformers and peft
  export MCCKD_PYTHON=${MCCKD_PYTHON:-$(command -v python3)}
  "$MCCKD_PYTHON" -c 'import torch, transformers, peft; print("python:", torch.__version__, "cuda", torch.cuda.is_available(), "transformers", transformers.__version__, "peft", peft.__version__)' || echo "python: $MCCKD_PYTHON lacks torch / transformers / peft"
  ARGS=()
else
  ARGS=(--dry-run)
fi
case " ${PASS[*]:-} " in *" --base-dtypes "*) ;; *) ARGS+=(--base-dtypes f32,f16,int8) ;; esac
export PYTHONUNBUFFERED=1
# the whole bench stays inside the device tool's one-command limit
timeout -k 10 500 "$T/node" "$PACK/gpu.mjs" --out "$DEST" "${ARGS[@]}" "${PASS[@]}"
rc=$?
[ $rc = 124 ] && echo "gpu-bench.sh: the bench passed 500 s and was stopped"
exit $rc
