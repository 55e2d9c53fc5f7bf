/**
 * The dense kernel for small batches (a Gemm y = x·W, x [B, K], W [K, N], B ≤ a few rows): a
 * memory-bound product where every weight is read once per `rowsPerGroup` batch rows. A workgroup
 * covers `cols` consecutive columns (coalesced weight reads) and splits its share of the K axis
 * into `slices` contiguous chunks, one per row of threads; each thread accumulates limb sums
 * (limbs.ts) over its chunk, folding every `foldTaps` taps, then the slices' residues are summed
 * mod p through shared memory. Large K is also split across workgroups (`kSplit`, grid y): each
 * writes a residue per output to a partial buffer and `reduceShader` sums them mod p.
 */
import { P } from '../../../field/prime.js';
import { FIELD_WGSL, unrolled } from './common.js';
import { paramsStruct } from './params.js';
import type { Arithmetic } from './tiled.js';

export interface DenseConfig {
  /** Columns per workgroup (threads across). */
  readonly cols: number;
  /** K chunks per workgroup (threads down). */
  readonly slices: number;
  /** Batch rows per workgroup (grid z covers the rest). */
  readonly rowsPerGroup: number;
}

export const DENSE_PARAMS = ['n', 'k', 'b', 'kChunk', 'foldTaps'] as const;
export type DenseParams = Record<(typeof DENSE_PARAMS)[number], number>;
export const REDUCE_PARAMS = ['count', 'splits'] as const;
export type ReduceParams = Record<(typeof REDUCE_PARAMS)[number], number>;
/** Threads per workgroup of the reduction. */
export const REDUCE_THREADS = 128;

export function denseSharedBytes(cfg: DenseConfig): number {
  return cfg.slices * cfg.rowsPerGroup * cfg.cols * 4;
}

export function denseShader(cfg: DenseConfig, arith: Arithmetic): string {
  const { cols, slices, rowsPerGroup: tb } = cfg;
  const exact = arith === 'exact';
  const elem = exact ? 'u32' : 'f32';
  const acc = (b: number): string => (exact ? `lo${b} += wv * v${b}.x;\n        hi${b} += wv * v${b}.y;` : `a${b} = fma(wv, v${b}, a${b});`);
  return /* wgsl */ `// slalom dense kernel (${arith}), ${cols} columns × ${slices} K slices, ${tb} rows per workgroup
${exact ? FIELD_WGSL : ''}
${paramsStruct(DENSE_PARAMS)}

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> x: array<${elem}>;
@group(0) @binding(2) var<storage, read> w: array<${exact ? 'i32' : 'f32'}>;
@group(0) @binding(3) var<storage, read_write> y: array<${elem}>;

var<workgroup> red: array<${elem}, ${slices * tb * cols}>;

@compute @workgroup_size(${cols}, ${slices})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let col = wid.x * ${cols}u + lid.x;
  let colOk = col < prm.n;
  let b0 = wid.z * ${tb}u;
  let kStart = min((wid.y * ${slices}u + lid.y) * prm.kChunk, prm.k);
  let kEnd = min(kStart + prm.kChunk, prm.k);
  // Rows past the batch read the last row (in bounds); their sums are never written.
${unrolled(tb, (b) => `let xrow${b} = min(b0 + ${b}u, prm.b - 1u) * prm.k;`, '  ')}
${unrolled(tb, (b) => (exact ? `var t${b} = 0u;\n  var lo${b} = 0i;\n  var hi${b} = 0i;` : `var a${b} = 0.0;`), '  ')}
  for (var s = kStart; s < kEnd; s += prm.foldTaps) {
    let e = min(s + prm.foldTaps, kEnd);
    for (var k = s; k < e; k++) {
      var wv = ${exact ? '0i' : '0.0'};
      if (colOk) { wv = w[k * prm.n + col]; }
${unrolled(tb, (b) => `let v${b} = ${exact ? `limbs(x[xrow${b} + k])` : `x[xrow${b} + k]`};`, '      ')}
${unrolled(tb, (b) => acc(b), '        ')}
    }
${exact ? unrolled(tb, (b) => `t${b} = fold(t${b}, lo${b}, hi${b});\n    lo${b} = 0i;\n    hi${b} = 0i;`, '    ') : ''}
  }
${unrolled(tb, (b) => `red[(lid.y * ${tb}u + ${b}u) * ${cols}u + lid.x] = ${exact ? `t${b}` : `a${b}`};`, '  ')}
  workgroupBarrier();
  if (lid.y == 0u && colOk) {
    for (var b = 0u; b < ${tb}u; b++) {
      if (b0 + b < prm.b) {
        var sum = red[b * ${cols}u + lid.x];
        for (var i = 1u; i < ${slices}u; i++) { sum = ${exact ? `(sum + red[(i * ${tb}u + b) * ${cols}u + lid.x]) % P` : `sum + red[(i * ${tb}u + b) * ${cols}u + lid.x]`}; }
        y[(wid.y * prm.b + b0 + b) * prm.n + col] = sum;
      }
    }
  }
}
`;
}

/** y[i] = Σ_s part[s·count + i] mod p (sums of residues: each step stays below 2p). */
export function reduceShader(arith: Arithmetic): string {
  const exact = arith === 'exact';
  const elem = exact ? 'u32' : 'f32';
  return /* wgsl */ `// slalom split-K reduction (${arith})
${exact ? `const P: u32 = ${P}u;` : ''}
${paramsStruct(REDUCE_PARAMS)}

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> part: array<${elem}>;
@group(0) @binding(3) var<storage, read_write> y: array<${elem}>;

@compute @workgroup_size(${REDUCE_THREADS})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i < prm.count) {
    var sum = part[i];
    for (var s = 1u; s < prm.splits; s++) { sum = ${exact ? '(sum + part[s * prm.count + i]) % P' : 'sum + part[s * prm.count + i]'}; }
    y[i] = sum;
  }
}
`;
}
