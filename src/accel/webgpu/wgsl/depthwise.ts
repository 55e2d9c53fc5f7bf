/**
 * The depthwise kernel (C/group = 1, any channel multiplier, stride, padding and dilation): a
 * workgroup computes a th × tw tile of one output channel of one image. It loads the input patch
 * the tile reads ((th − 1)·sH + (kH − 1)·dH + 1 rows, likewise columns) into shared memory once,
 * split into limbs (limbs.ts), and each thread computes `rowsPerThread` outputs of one column,
 * folding every `foldTaps` taps and at the end. The kernel shape (kH, kW, strides, dilations) is
 * baked into the shader, so one pipeline serves every layer of that shape.
 */
import { FIELD_WGSL, unrolled } from './common.js';
import { paramsStruct } from './params.js';
import type { Arithmetic } from './tiled.js';

/** The baked kernel shape. */
export interface DepthwiseShape {
  readonly kH: number;
  readonly kW: number;
  readonly sH: number;
  readonly sW: number;
  readonly dH: number;
  readonly dW: number;
}

/** Output tile th × tw; tw threads across, th / rowsPerThread down. */
export interface DepthwiseTile {
  readonly tw: number;
  readonly th: number;
  readonly rowsPerThread: number;
}

export const DEPTHWISE_PARAMS = ['cIn', 'h', 'w', 'oh', 'ow', 'mOut', 'mg', 'tilesX', 'padT', 'padL', 'foldTaps'] as const;
export type DepthwiseParams = Record<(typeof DEPTHWISE_PARAMS)[number], number>;

/** Rows and columns of the input patch one tile reads. */
export function patchDims(s: DepthwiseShape, t: DepthwiseTile): { ph: number; pw: number } {
  return { ph: (t.th - 1) * s.sH + (s.kH - 1) * s.dH + 1, pw: (t.tw - 1) * s.sW + (s.kW - 1) * s.dW + 1 };
}

export function depthwiseSharedBytes(s: DepthwiseShape, t: DepthwiseTile, arith: Arithmetic): number {
  const { ph, pw } = patchDims(s, t);
  return ph * pw * (arith === 'exact' ? 8 : 4);
}

export function depthwiseShader(s: DepthwiseShape, t: DepthwiseTile, arith: Arithmetic): string {
  const { ph, pw } = patchDims(s, t);
  const wgY = t.th / t.rowsPerThread;
  if (!Number.isInteger(wgY)) throw new RangeError(`depthwise tile height ${t.th} is not a multiple of ${t.rowsPerThread} rows per thread`);
  const threads = t.tw * wgY;
  const exact = arith === 'exact';
  const elem = exact ? 'u32' : 'f32';
  const rows = t.rowsPerThread;
  const taps = s.kH * s.kW;
  return /* wgsl */ `// slalom depthwise kernel (${arith}), ${s.kH}×${s.kW} stride ${s.sH}×${s.sW} dilation ${s.dH}×${s.dW}, tile ${t.th}×${t.tw}
${exact ? FIELD_WGSL : ''}
${paramsStruct(DEPTHWISE_PARAMS)}

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> x: array<${elem}>;
@group(0) @binding(2) var<storage, read> w: array<${exact ? 'i32' : 'f32'}>;
@group(0) @binding(3) var<storage, read_write> y: array<${elem}>;

const PW = ${pw}u;
const TAPS = ${taps}u;

var<workgroup> tile: array<${exact ? 'vec2<i32>' : 'f32'}, ${ph * pw}>;

@compute @workgroup_size(${t.tw}, ${wgY})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let o = wid.y;
  let n = wid.z;
  let oy0 = (wid.x / prm.tilesX) * ${t.th}u;
  let ox0 = (wid.x % prm.tilesX) * ${t.tw}u;
  let iy0 = i32(oy0 * ${s.sH}u) - i32(prm.padT);
  let ix0 = i32(ox0 * ${s.sW}u) - i32(prm.padL);
  let xbase = (n * prm.cIn + o / prm.mg) * prm.h * prm.w;
  for (var e = lid.y * ${t.tw}u + lid.x; e < ${ph * pw}u; e += ${threads}u) {
    let iy = iy0 + i32(e / PW);
    let ix = ix0 + i32(e % PW);
    var v = ${exact ? 'vec2<i32>(0, 0)' : '0.0'};
    if (iy >= 0 && iy < i32(prm.h) && ix >= 0 && ix < i32(prm.w)) { v = ${exact ? 'limbs(x[xbase + u32(iy) * prm.w + u32(ix)])' : 'x[xbase + u32(iy) * prm.w + u32(ix)]'}; }
    tile[e] = v;
  }
  workgroupBarrier();

  let wbase = o * TAPS;
${unrolled(rows, (r) => (exact ? `var t${r} = 0u;\n  var lo${r} = 0i;\n  var hi${r} = 0i;` : `var a${r} = 0.0;`), '  ')}
  for (var s = 0u; s < TAPS; s += prm.foldTaps) {
    let e = min(s + prm.foldTaps, TAPS);
    for (var kk = s; kk < e; kk++) {
      let wv = w[wbase + kk];
      let off = (kk / ${s.kW}u) * ${s.dH}u * PW + (kk % ${s.kW}u) * ${s.dW}u + lid.x * ${s.sW}u;
${unrolled(rows, (r) => `let v${r} = tile[off + (lid.y + ${r * wgY}u) * ${s.sH}u * PW];`, '      ')}
${unrolled(rows, (r) => (exact ? `lo${r} += wv * v${r}.x;\n      hi${r} += wv * v${r}.y;` : `a${r} = fma(wv, v${r}, a${r});`), '      ')}
    }
${exact ? unrolled(rows, (r) => `t${r} = fold(t${r}, lo${r}, hi${r});\n    lo${r} = 0i;\n    hi${r} = 0i;`, '    ') : ''}
  }
  let ox = ox0 + lid.x;
${unrolled(rows, (r) => `{
    let oy = oy0 + lid.y + ${r * wgY}u;
    if (oy < prm.oh && ox < prm.ow) { y[((n * prm.mOut + o) * prm.oh + oy) * prm.ow + ox] = ${exact ? `t${r}` : `a${r}`}; }
  }`, '  ')}
}
`;
}
