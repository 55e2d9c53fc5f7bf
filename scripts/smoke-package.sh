#!/usr/bin/env bash
# The package as a user gets it: pack this checkout, install the tarball into an empty directory (no
# sources, no dev dependencies, no build step), then run the README's quick start there with
# `npx slalom` and use the library from plain `node` (no tsx). Any error fails (CI runs this).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n== %s\n' "$*"; }
fail() { echo "smoke-package: $*" >&2; exit 1; }

step "npm pack (prepare builds dist/ and build/simd.wasm)"
cd "$repo"
tarball="$work/$(npm pack --silent --pack-destination "$work" | tail -n 1)"
[ -f "$tarball" ] || fail "npm pack produced no tarball"
tar -tzf "$tarball" | sed 's|^package/||' | sort > "$work/contents"
for f in package.json README.md bin/slalom.js build/simd.wasm dist/index.js dist/index.d.ts dist/server.js \
  dist/cli/main.js dist/accel/worker/entry.js models/fashion-mnist.onnx models/fashion-mnist.slalom.json \
  models/fashion-mnist.calibration.npy examples/fashion-mnist-0-boot.png \
  prebuilds/linux-x64/slalom.napi.glibc.node binding.gyp native/addon.c native/install.mjs native/digest.mjs; do
  grep -qx "$f" "$work/contents" || fail "the tarball lacks $f"
done
if grep -E '^(src|test|bench|scripts|\.ci)/|\.ts$' "$work/contents" | grep -v '\.d\.ts$'; then
  fail "the tarball ships sources, tests, benchmarks or CI scripts (above)"
fi
echo "$(wc -l < "$work/contents") files, $(du -k "$tarball" | cut -f1) KiB: $(basename "$tarball")"

step "npm install the tarball into an empty directory"
mkdir "$work/app"
cd "$work/app"
npm init -y > /dev/null
ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --prefer-offline "$tarball"
for dev in tsx typescript assemblyscript; do
  [ ! -e "node_modules/$dev" ] || fail "$dev was installed: it must be a dev dependency only"
done
# The trusted state stays in the throwaway directory, not in ~/.slalom.
export SLALOM_STATE_DIR="$work/state"
pkg=node_modules/slalom

if [ "$(uname -sm)" = "Linux x86_64" ]; then
  step "the native boundary pass loads from the tarball's prebuilt (nothing compiled at install)"
  [ ! -e "$pkg/build/Release" ] || fail "the install compiled the addon: the prebuilt did not load"
  boundary=$(npx slalom inspect "$pkg/models/fashion-mnist.onnx" --json | node -e "process.stdin.on('data', (d) => (this.s = (this.s ?? '') + d)).on('end', () => console.log(JSON.parse(this.s).boundary))")
  case "$boundary" in native-*) echo "boundary pass: $boundary" ;; *) fail "inspect reports the boundary pass as '$boundary', not native" ;; esac
  SLALOM_BOUNDARY=native-portable npx slalom inspect "$pkg/models/fashion-mnist.onnx" | grep -qx 'boundary pass: native-portable' || fail "SLALOM_BOUNDARY=native-portable was not honoured"
fi

step "quick start: npx slalom precompute + infer --mode private+verified"
npx slalom precompute --model "$pkg/models/fashion-mnist.onnx" --count 16 --store .slalom-pads
npx slalom infer --model "$pkg/models/fashion-mnist.onnx" --input "$pkg/examples/fashion-mnist-0-boot.png" \
  --mode private+verified --store .slalom-pads | tee infer.txt
grep -q 'Ankle boot' <(sed -n 2p infer.txt) || fail "infer's top prediction is not 'Ankle boot'"

step "library: import('slalom') and import('slalom/server') from plain node"
node -e "
import('slalom').then(async (slalom) => {
  const { SlalomModel, createSession } = slalom;
  const model = await SlalomModel.load('$pkg/models/fashion-mnist.onnx');
  const input = await model.loadInput('$pkg/examples/fashion-mnist-0-boot.png');
  const baseline = (await model.infer(input)).logits;
  const session = await createSession(model, { mode: 'private+verified', pads: { store: '.slalom-pads' } });
  let result;
  try {
    result = await session.run(input);
  } finally {
    await session.close();
  }
  const top = result.predictions[0][0];
  if (top.label !== 'Ankle boot') throw new Error('top-1 is ' + top.label + ', not Ankle boot');
  if (result.mode !== 'private+verified' || result.insecure) throw new Error('the session ran ' + result.mode + (result.insecure ? ' (insecure)' : ''));
  if (result.outputs.logits.data.some((v, i) => !Object.is(v, baseline[i]))) throw new Error('private+verified differs from baseline');
  console.log('import(\"slalom\"): ' + top.label + ' (' + (top.score * 100).toFixed(2) + ' %), private+verified bit-identical to baseline');
}).catch((e) => { console.error(e); process.exit(1); });
"
node -e "
import('slalom/server').then(async ({ startAcceleratorServer }) => {
  const server = await startAcceleratorServer({ port: 0 });
  try {
    const res = await fetch(server.url + '/v2/health/ready');
    if (res.status !== 200) throw new Error('/v2/health/ready answered ' + res.status);
    console.log('import(\"slalom/server\"): an accelerator server at ' + server.url + ' is ready');
  } finally {
    await server.close();
  }
}).catch((e) => { console.error(e); process.exit(1); });
"

step "types: a TypeScript consumer resolves slalom's declarations through exports"
cat > consumer.ts <<'EOF'
import { SlalomModel, type InferenceResult } from 'slalom';
import { AcceleratorServer } from 'slalom/server';
export const load: (path: string) => Promise<SlalomModel> = (path) => SlalomModel.load(path);
export type Logits = InferenceResult['logits'];
export const server: typeof AcceleratorServer = AcceleratorServer;
EOF
echo '{ "compilerOptions": { "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true, "noEmit": true, "skipLibCheck": true, "types": [] }, "files": ["consumer.ts"] }' > tsconfig.json
"$repo/node_modules/.bin/tsc" -p tsconfig.json

step "the installed package works: quick start, library import and types"
