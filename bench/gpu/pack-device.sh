#!/usr/bin/env bash
# Packs what bench/gpu/run-device.sh needs on a GPU machine that has Python, CUDA and PyTorch but no
# Node and no network, into .device/ (git-ignored; carry it, and build/, to that machine):
#   .device/node.xz               this machine's node binary, xz-compressed
#   .device/node_modules.tar.xz   the runtime dependencies: no compilers or type packages, and only
#                                 the linux-x64 binaries of onnxruntime-node, webgpu (Dawn) and esbuild
#   .device/lib/libvulkan.so.1    the Vulkan loader Dawn opens (Debian's libvulkan1), in case the GPU
#                                 machine has the NVIDIA driver but no loader
# build/simd.wasm (the trusted runtime's SIMD kernels) must be built (npm ci does it) and carried too.
set -euo pipefail
cd "$(dirname "$0")/../.."

[ -f build/simd.wasm ] || { echo "pack-device: build/simd.wasm is missing: run npm ci (or npm run build:wasm) first" >&2; exit 1; }
[ -f node_modules/webgpu/dist/linux-x64/dawn.node ] || { echo "pack-device: node_modules/webgpu is missing: run npm ci" >&2; exit 1; }
node_bin=$(command -v node)
vulkan=$(ldconfig -p 2>/dev/null | awk '/libvulkan\.so\.1 .*x86-64/ {print $NF; exit}')
[ -n "$vulkan" ] || vulkan=/usr/lib/x86_64-linux-gnu/libvulkan.so.1
[ -f "$vulkan" ] || { echo "pack-device: no libvulkan.so.1 (apt-get install libvulkan1)" >&2; exit 1; }

rm -rf .device
mkdir -p .device/lib
xz -T0 -9 -c "$node_bin" > .device/node.xz
cp -L "$vulkan" .device/lib/libvulkan.so.1

# Everything the benchmark imports at run time; nothing for other platforms, nothing for building.
tar -cJf .device/node_modules.tar.xz \
  --exclude='node_modules/typescript' --exclude='node_modules/@typescript' \
  --exclude='node_modules/assemblyscript' --exclude='node_modules/binaryen' \
  --exclude='node_modules/@types' --exclude='node_modules/@webgpu/types' \
  --exclude='node_modules/webgpu/dist/darwin-*' --exclude='node_modules/webgpu/dist/win32-*' --exclude='node_modules/webgpu/dist/linux-arm64' \
  --exclude='node_modules/onnxruntime-node/bin/napi-v*/darwin' --exclude='node_modules/onnxruntime-node/bin/napi-v*/win32' \
  --exclude='node_modules/onnxruntime-node/bin/napi-v*/linux/arm64' \
  node_modules

total=$(du -cb .device/node.xz .device/node_modules.tar.xz .device/lib/libvulkan.so.1 build/simd.wasm | tail -1 | cut -f1)
du -h .device/node.xz .device/node_modules.tar.xz .device/lib/libvulkan.so.1 build/simd.wasm
echo "pack-device: $((total / 1048576)) MiB to carry (.device and build); the working tree travels besides"
