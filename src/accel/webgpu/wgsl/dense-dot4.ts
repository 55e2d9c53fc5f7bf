/**
 * The dense kernel for small batches (wgsl/dense.ts: columns across, K slices down, split-K with
 * `reduceShader`) in the packed-dot-product scheme of dot4.ts: each thread walks its K chunk a quad
 * of taps at a time, reading one pair of byte quads of w + 2^15 per column (dot4.ts
 * `packDot4Weights`, the layout the tiled dense mode reads: half the bytes of i32 weights, which is
 * what a memory-bound product pays for) and packing each batch row's four residues into byte planes,
 * and folds every `foldTaps` taps and at the end (common.ts `fold4`). Chunks and fold points are
 * whole quads (`kChunk` and `foldTaps` multiples of 4), so a quad is never split between threads or
 * segments; taps past K read x = 0. Needs the WGSL language feature packed_4x8_integer_dot_product.
 */
import { DOT4_FIELD_WGSL, unrolled } from './common.js';
import { DENSE_PARAMS, type DenseConfig } from './dense.js';
import { paramsStruct } from './params.js';

export function denseDot4Shader(cfg: DenseConfig): string {
  const { cols, slices, rowsPerGroup: tb } = cfg;
  return /* wgsl */ `// slalom dense kernel (exact, packed 4×8-bit dot products), ${cols} columns × ${slices} K slices, ${tb} rows per workgroup
${DOT4_FIELD_WGSL}
${paramsStruct(DENSE_PARAMS)}

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> w: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read_write> y: array<u32>;

var<workgroup> red: array<u32, ${slices * tb * cols}>;

// x of tap k in the row starting at base, 0 past K.
fn tap(base: u32, k: u32) -> u32 {
  if (k < prm.k) { return x[base + k]; }
  return 0u;
}

@compute @workgroup_size(${cols}, ${slices})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let col = wid.x * ${cols}u + lid.x;
  let colOk = col < prm.n;
  let b0 = wid.z * ${tb}u;
  let kStart = min((wid.y * ${slices}u + lid.y) * prm.kChunk, prm.k);
  let kEnd = min(kStart + prm.kChunk, prm.k);
  // Rows past the batch read the last row (in bounds); their sums are never written.
${unrolled(tb, (b) => `let xrow${b} = min(b0 + ${b}u, prm.b - 1u) * prm.k;`, '  ')}
${unrolled(tb, (b) => `var t${b} = 0u;\n  var c${b} = vec4<u32>(0u);\n  var s${b} = vec3<u32>(0u);`, '  ')}
  for (var s = kStart; s < kEnd; s += prm.foldTaps) {
    let e = min(s + prm.foldTaps, kEnd);
    for (var k = s; k < e; k += 4u) {
      var wv = vec2<u32>(0u);
      if (colOk) { wv = w[(k / 4u) * prm.n + col]; }
${unrolled(tb, (b) => `let a${b} = planes(vec4<u32>(tap(xrow${b}, k), tap(xrow${b}, k + 1u), tap(xrow${b}, k + 2u), tap(xrow${b}, k + 3u)));`, '      ')}
${unrolled(tb, (b) => `c${b} += quadProducts(a${b}, wv);\n      s${b} += quadSums(a${b});`, '      ')}
    }
${unrolled(tb, (b) => `t${b} = fold4(t${b}, c${b}, s${b});\n    c${b} = vec4<u32>(0u);\n    s${b} = vec3<u32>(0u);`, '    ')}
  }
${unrolled(tb, (b) => `red[(lid.y * ${tb}u + ${b}u) * ${cols}u + lid.x] = t${b};`, '  ')}
  workgroupBarrier();
  if (lid.y == 0u && colOk) {
    for (var b = 0u; b < ${tb}u; b++) {
      if (b0 + b < prm.b) {
        var sum = red[b * ${cols}u + lid.x];
        for (var i = 1u; i < ${slices}u; i++) { sum = (sum + red[(i * ${tb}u + b) * ${cols}u + lid.x]) % P; }
        y[(wid.y * prm.b + b0 + b) * prm.n + col] = sum;
      }
    }
  }
}
`;
}
