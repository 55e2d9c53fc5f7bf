#!/usr/bin/env bash
# Issue 14, deliverable 5: the measurement on a real GPU, as one script for a machine with Python,
# CUDA and PyTorch but no Node and no network. Carry .device/ and build/ (bench/gpu/pack-device.sh
# makes them; about 45 MiB) with the working tree, then run from the repository root:
#
#   bash bench/gpu/run-device.sh            # OUT=dir (default $OUT or bench/gpu/out)
#
# Environment: MODELS (vgg16,resnet50), ADAPTER (gpu), RUNS (5), WARMUP (2), REPEATS (10),
# TILES (a sweep of tiled-kernel shapes, e.g. 16x16x4x4,16x16x8x4; "" for none), TORCH (python3;
# "off" to skip), NODE_LIMIT_S (360), SCHEMES_LIMIT_S (40) and TORCH_LIMIT_S (150): the steps' time
# limits, so the whole script ends within a 10-minute device call.
#
# Steps, each recorded in the results whether it succeeds or not: the machine (nvidia-smi, CPU, OS),
# Vulkan for Dawn (the carried loader; an ICD file written for the NVIDIA driver if the system has
# none), the node benchmark (bench/gpu/run.ts: every mode of each model end to end with the webgpu
# accelerator, onnxruntime fp32 on one trusted core, exact kernels layer by layer in both exact
# schemes — 12-bit limbs and packed 4×8-bit dot products — and against their float32 twin, the
# device's i32/f32 ceiling), the two schemes side by side on VGG16 layer shapes at 56×56
# (bench/gpu/schemes.ts), PyTorch fp32 on the GPU (bench/gpu/torch_fp32.py: the
# insecure reference, and each layer alone), then one merged file: $OUT/device-results.json.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
OUT=${OUT:-bench/gpu/out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
MODELS=${MODELS:-vgg16,resnet50}
ADAPTER=${ADAPTER:-gpu}
RUNS=${RUNS:-5}
WARMUP=${WARMUP:-2}
REPEATS=${REPEATS:-10}
TILES=${TILES-16x16x4x4,16x16x8x4,16x16x4x8,32x8x4x4}
TORCH=${TORCH:-python3}
NODE_LIMIT_S=${NODE_LIMIT_S:-360}
SCHEMES_LIMIT_S=${SCHEMES_LIMIT_S:-40}
TORCH_LIMIT_S=${TORCH_LIMIT_S:-150}
log() { printf '[run-device %s] %s\n' "$(date +%T)" "$*" >&2; }
steps="$OUT/steps.txt"
: > "$steps"
step() { # name, status, detail
  printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$steps"
  log "$1: $2 $3"
}

unxz_to() { # src dst
  if command -v xz >/dev/null; then xz -dc "$1" > "$2"; else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}

# 1. Node and its modules, from .device/ (or a node already on PATH with node_modules in place).
NODE=node
if [ -f .device/node.xz ]; then
  mkdir -p .device/bin
  [ -x .device/bin/node ] || { unxz_to .device/node.xz .device/bin/node && chmod +x .device/bin/node; }
  NODE=$root/.device/bin/node
fi
if [ -f .device/node_modules.tar.xz ] && [ ! -f node_modules/.device-unpacked ]; then
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(".")' .device/node_modules.tar.xz && touch node_modules/.device-unpacked
fi
if ! "$NODE" --version >/dev/null 2>&1; then step node failed "no usable node binary (carry .device/ from bench/gpu/pack-device.sh)"; fi
[ -f build/simd.wasm ] || step build failed "build/simd.wasm missing (carry build/)"

# 2. The machine.
{
  echo "## date"; date -u +%FT%TZ
  echo "## uname"; uname -a
  echo "## os"; cat /etc/os-release 2>/dev/null
  echo "## cpu"; lscpu 2>/dev/null || cat /proc/cpuinfo | head -30
  echo "## memory"; free -b 2>/dev/null
  echo "## nvidia-smi"; nvidia-smi 2>&1
  echo "## nvidia-smi query"; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.sm,power.limit,memory.total --format=csv 2>&1
  echo "## NVIDIA_DRIVER_CAPABILITIES"; echo "${NVIDIA_DRIVER_CAPABILITIES:-unset}"
  echo "## vulkan icd files"; ls -l /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>&1
  echo "## node"; "$NODE" --version 2>&1
  echo "## python"; python3 -c 'import sys; print(sys.version)' 2>&1; $TORCH -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())' 2>&1
} > "$OUT/machine.txt" 2>&1
step machine ok "$OUT/machine.txt"

# 3. Vulkan for Dawn: the carried loader, and an ICD for the NVIDIA driver when the system lists none.
[ -f .device/lib/libvulkan.so.1 ] && export LD_LIBRARY_PATH="$root/.device/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ! ls /usr/share/vulkan/icd.d/*nvidia* /etc/vulkan/icd.d/*nvidia* >/dev/null 2>&1 && [ -z "${VK_ICD_FILENAMES:-}" ]; then
  glx=$(ldconfig -p 2>/dev/null | awk '/libGLX_nvidia\.so\.0/ {print $NF; exit}')
  [ -n "$glx" ] || glx=$(find / -xdev -name 'libGLX_nvidia.so.0*' 2>/dev/null | head -1)
  if [ -n "$glx" ]; then
    printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$glx" > "$OUT/nvidia_icd.json"
    export VK_ICD_FILENAMES="$OUT/nvidia_icd.json"
    step vulkan ok "wrote an ICD for $glx"
  else
    step vulkan missing "no NVIDIA Vulkan ICD or libGLX_nvidia.so.0: Dawn will find no GPU (containers need NVIDIA_DRIVER_CAPABILITIES to include graphics)"
  fi
else
  step vulkan ok "system ICD files"
fi

# 4. The node benchmark: modes end to end, kernels per layer, ceiling, tile sweep.
if timeout "$NODE_LIMIT_S" "$NODE" --import tsx bench/gpu/run.ts --adapter "$ADAPTER" --models "$MODELS" --runs "$RUNS" --warmup "$WARMUP" --repeats "$REPEATS" ${TILES:+--tiles "$TILES"} --out "$OUT" 2> >(tee "$OUT/node.log" >&2); then
  step webgpu ok "$OUT/webgpu-results.json"
else
  step webgpu failed "exit $? (see node.log)"
fi

# 4b. The two exact schemes side by side on VGG16 layer shapes (bit-identical outputs checked first).
if timeout "$SCHEMES_LIMIT_S" "$NODE" --import tsx bench/gpu/schemes.ts --adapter "$ADAPTER" --size 56 --repeats "$REPEATS" --batch 64 > "$OUT/schemes.md" 2> "$OUT/schemes.log"; then
  step schemes ok "$OUT/schemes.md"
else
  step schemes failed "exit $? (see schemes.log)"
fi

# 5. PyTorch fp32 on the GPU: the insecure reference, and the layers alone.
if [ "$TORCH" != off ]; then
  layers=()
  [ -f "$OUT/webgpu-results.json" ] && layers=(--layers "$OUT/webgpu-results.json")
  if timeout "$TORCH_LIMIT_S" $TORCH bench/gpu/torch_fp32.py --out "$OUT/torch-fp32.json" --models "$MODELS" "${layers[@]}" 2> >(tee "$OUT/torch.log" >&2); then
    step torch ok "$OUT/torch-fp32.json"
  else
    step torch failed "exit $? (see torch.log)"
  fi
fi

# 6. One file with everything.
"$NODE" --import tsx bench/gpu/device-results.ts "$OUT" && log "wrote $OUT/device-results.json and $OUT/device-summary.md"
