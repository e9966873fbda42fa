#!/usr/bin/env bash
# Packs what scripts/device/gpu-bench.sh needs on a lent GPU machine, which has
# no Node, no node_modules and no network: only the repository's working tree
# travels, plus at most 8 ignored paths named in the device tool's `carry`,
# 64 MiB in all. Run here, in the repository, before the device call:
#
#   bash scripts/device/pack.sh [--out device-pack] [--fast]
#
# Writes (the folder is ignored by git; carry it: "carry": ["device-pack"]):
#   gpu.mjs           bench/gpu.ts bundled by esbuild (tfjs and our code; no tsx there)
#   *.py              support/*.py: support/torch.ts finds torch_ref.py beside
#                     itself, which in the bundle is beside gpu.mjs
#   node.xz           this machine's Node binary (x86-64 Linux, glibc >= 2.28)
#   webgpu.tar.xz     Dawn's addon for linux-x64 (node_modules/webgpu: index.js,
#                     package.json, dist/linux-x64/dawn.node): what import('webgpu') loads
#   *.deb             the Vulkan loader and glvnd (libvulkan1, libglvnd0, libegl1,
#                     libglx0, libgl1, libopengl0, libgles2: the device tool's
#                     README's set, about 0.4 MB), for an image without them
#                     (apt-get download; skipped with a note where apt can't)
# --fast: node and Dawn uncompressed (node, webgpu.tar), for the unit test
# here: xz of Node's 99 MB takes minutes on 2 busy cores. Too big to carry.
# The folder must sit directly in the repository root: the bundle finds
# support/hf_bench.py at ../support beside itself.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
OUT=device-pack
FAST=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --fast) FAST=1; shift ;;
    *) echo "pack.sh: unknown argument $1 (--out DIR, --fast)" >&2; exit 2 ;;
  esac
done
case "$OUT" in /*|*/*) echo "pack.sh: --out must be a folder name in the repository root, got $OUT" >&2; exit 2 ;; esac
[ "$(uname -m)" = x86_64 ] || { echo "pack.sh: this machine is $(uname -m); the device is x86-64: pack on x86-64" >&2; exit 2; }
NODE=$(command -v node)
DAWN=node_modules/webgpu
[ -f "$DAWN/dist/linux-x64/dawn.node" ] || { echo "pack.sh: $DAWN/dist/linux-x64/dawn.node is missing (npm install)" >&2; exit 2; }

rm -rf "$OUT"
mkdir -p "$OUT"
# import.meta.url stays the bundle's: gpu.mjs finds itself, the .py files and ../support
node_modules/.bin/esbuild bench/gpu.ts --bundle --platform=node --format=esm --target=node20 \
  --external:webgpu --log-level=error \
  --banner:js="import { createRequire as __mcckdRequire } from 'node:module'; const require = __mcckdRequire(import.meta.url);" \
  --outfile="$OUT/gpu.mjs"
cp support/*.py "$OUT/"
DAWN_FILES=(webgpu/package.json webgpu/index.js webgpu/LICENSE.md webgpu/dist/linux-x64)
if [ "$FAST" = 1 ]; then
  cp "$NODE" "$OUT/node"
  tar -C node_modules -cf "$OUT/webgpu.tar" "${DAWN_FILES[@]}"
else
  xz -T0 -6 -c "$NODE" >"$OUT/node.xz"
  tar -C node_modules -cf - "${DAWN_FILES[@]}" | xz -T0 -6 >"$OUT/webgpu.tar.xz"
  # the Vulkan loader (and glvnd, which NVIDIA's driver libraries load), for
  # an image without them (gpu-bench.sh unpacks them into /tmp)
  if ! (cd "$OUT" && apt-get download libvulkan1 libglvnd0 libegl1 libglx0 libgl1 libopengl0 libgles2 >/dev/null 2>&1); then
    echo "pack.sh: note: apt-get download of libvulkan1 and glvnd failed; gpu-bench.sh then needs a Vulkan loader on the device" >&2
  fi
fi
echo "node $("$NODE" --version), Dawn $(node -p "require('./$DAWN/package.json').version")"
du -ab "$OUT" | sort -n | tail -n 12 | awk '{ printf "%8.1f MiB  %s\n", $1 / 1048576, $2 }'
total=$(du -sb "$OUT" | cut -f1)
if [ "$FAST" = 0 ] && [ "$total" -gt $((56 * 1048576)) ]; then
  echo "pack.sh: $OUT is $((total / 1048576)) MiB: over 56 MiB leaves too little of the 64 MiB for the working tree" >&2
  exit 1
fi
