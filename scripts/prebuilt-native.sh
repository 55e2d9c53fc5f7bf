#!/usr/bin/env bash
# Builds the native boundary pass's prebuilt binary that the package ships (node-gyp-build's
# prebuildify layout): -O3 for the x86-64 baseline, the AVX2 and AVX-512 paths compiled per function
# (native/boundary_avx*.c), so the one binary runs on any x86-64 Linux with glibc. Commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build:native
mkdir -p prebuilds/linux-x64
strip --strip-unneeded -o prebuilds/linux-x64/slalom.napi.glibc.node build/Release/slalom_boundary.node
node -e "
const a = require('./prebuilds/linux-x64/slalom.napi.glibc.node');
console.log('prebuilds/linux-x64/slalom.napi.glibc.node: best path ' + a.best() + ', sources ' + a.sources());
"
