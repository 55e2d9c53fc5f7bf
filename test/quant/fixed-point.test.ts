/**
 * The trusted runtime's fixed-point conversions (docs/design.md §2) against BigInt and hand computations:
 * quantizeInput rounds x·2^lx (ties toward +∞, as Math.round), maps negatives to p − |v| and refuses
 * magnitudes beyond (p−1)/2 and NaN/∞; finishLinear adds the bias at scale 2^(lx+lw), centers,
 * dequantizes exactly, and reports wrap-around: never in the sound-bound path (where it cannot
 * happen), beyond (p−1)/4 in the threshold path.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { OverflowError } from '../../src/errors.js';
import { packResidues } from '../../src/field/pack24.js';
import { HALF_P, P } from '../../src/field/prime.js';
import { canApplyClamp, canFinishInto, RELU, type Clamp } from '../../src/quant/fixed-point.js';
import { finishLinear, finishLinearInto, quantizeInput } from '../helpers/requantize.js';
import type { QuantizedLayer } from '../../src/quant/quantize-graph.js';
import { sizeOf, tensor } from '../../src/tensor/tensor.js';
import { rng } from '../helpers/single-node.js';

const BP = BigInt(P);
const BHALF = BigInt(HALF_P);

/** A hand-made quantized layer; only the fields fixed-point.ts reads matter. */
function layer(fields: {
  op?: 'Conv' | 'Gemm';
  lx: number;
  lw: number;
  outDims?: number[];
  bias?: number[];
  weightRowL1?: number;
  name?: string;
}): QuantizedLayer {
  const op = fields.op ?? 'Gemm';
  const outDims = fields.outDims ?? [1, 1];
  const bias = fields.bias === undefined ? undefined : Float64Array.from(fields.bias);
  const name = fields.name ?? 'layer';
  return {
    index: 0,
    name,
    op,
    node: { name, op, inputs: ['x', 'w'], outputs: ['y'], attrs: {} },
    inDims: [1, 1],
    outDims,
    lx: fields.lx,
    lw: fields.lw,
    wDims: [1, 1],
    w: tensor([1, 1], [1]),
    bias,
    weightRowL1: fields.weightRowL1 ?? 1,
    maxAbsBias: bias === undefined ? 0 : Math.max(...Array.from(bias, Math.abs)),
    macs: 0,
    stats: { maxAbsIn: 1, maxAbsOut: 1 },
  };
}

const residueOf = (v: bigint): bigint => ((v % BP) + BP) % BP;
const centeredOf = (r: bigint): bigint => (r > BHALF ? r - BP : r);
/** floor(n / d) for d > 0 on BigInts (BigInt division truncates toward zero). */
const floorDiv = (n: bigint, d: bigint): bigint => (n >= 0n ? n / d : -((-n + d - 1n) / d));
/** +0 for −0, so residues compare with strict equality. */
const plain = (a: Float64Array | Uint32Array): number[] => Array.from(a, (v) => v + 0);

function assertOverflow(f: () => unknown, layerName: string, pattern?: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof OverflowError, `expected OverflowError, got ${String(e)}`);
    assert.equal(e.code, 'SLALOM_ERR_OVERFLOW');
    assert.equal(e.layer, layerName);
    assert.ok(e.message.startsWith(`${layerName}: `), e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

describe('quantizeInput', () => {
  it('rounds x·2^lx to the nearest integer, ties toward +∞, and maps negatives to p − |v|', () => {
    const l = layer({ lx: 3, lw: 0 });
    // x·8 = 0, 8, −8, 0.5, −0.5, 1.5, −1.5, 2.4, −2.4, 13.6, −13.6, 2.5
    const x = [0, 1, -1, 0.0625, -0.0625, 0.1875, -0.1875, 0.3, -0.3, 1.7, -1.7, 0.3125];
    const v = [0, 8, -8, 1, 0, 2, -1, 2, -2, 14, -14, 3];
    const q = quantizeInput(l, Float64Array.from(x));
    assert.deepEqual(plain(q.residues), v.map((n) => (n < 0 ? n + P : n)));
    assert.equal(q.maxAbs, 14);
  });

  it('agrees with BigInt rounding on random dyadic inputs for several scales', () => {
    const random = rng(42);
    for (const lx of [0, 1, 4, 8, 12, 19]) {
      const l = layer({ lx, lw: 0 });
      // x = n / 2^(lx+4): x·2^lx = n/16 exactly, rounded by hand as floor((n + 8) / 16).
      const ns = Array.from({ length: 500 }, () => BigInt(Math.floor((random() * 2 - 1) * HALF_P * 16)));
      ns.push(0n, 8n, -8n, 24n, -24n, 7n, -9n, BigInt(HALF_P) * 16n, -BigInt(HALF_P) * 16n - 8n);
      const x = Float64Array.from(ns, (n) => Number(n) / 2 ** (lx + 4));
      const q = quantizeInput(l, x);
      let maxAbs = 0n;
      ns.forEach((n, i) => {
        const v = floorDiv(n + 8n, 16n);
        if ((v < 0n ? -v : v) > maxAbs) maxAbs = v < 0n ? -v : v;
        assert.equal(BigInt(q.residues[i]! + 0), residueOf(v), `lx ${lx}, n ${n}`);
        assert.ok(q.residues[i]! >= 0 && q.residues[i]! < P);
      });
      assert.equal(BigInt(q.maxAbs), maxAbs);
    }
  });

  it('accepts magnitudes up to (p−1)/2 and refuses anything beyond, naming the layer', () => {
    const l = layer({ lx: 4, lw: 0, name: 'conv7' });
    const s = 2 ** 4;
    const ok = quantizeInput(l, Float64Array.of(HALF_P / s, -HALF_P / s, -(HALF_P + 0.5) / s));
    assert.deepEqual(plain(ok.residues), [HALF_P, P - HALF_P, P - HALF_P]);
    assert.equal(P - HALF_P, HALF_P + 1);
    assert.equal(ok.maxAbs, HALF_P);
    assertOverflow(() => quantizeInput(l, Float64Array.of(0, (HALF_P + 1) / s)), 'conv7', /2\^4/);
    assertOverflow(() => quantizeInput(l, Float64Array.of(-(HALF_P + 1) / s, 0)), 'conv7');
    assertOverflow(() => quantizeInput(l, Float64Array.of((HALF_P + 0.5) / s)), 'conv7'); // rounds up to HALF_P + 1
  });

  it('NaN and ±∞ anywhere in the input → OverflowError', () => {
    const l = layer({ lx: 2, lw: 0, name: 'fc' });
    for (const x of [[NaN], [NaN, 1], [1, NaN], [0.5, NaN, -0.25], [NaN, 1e9], [Infinity], [1, -Infinity]]) {
      assertOverflow(() => quantizeInput(l, Float64Array.from(x)), 'fc');
    }
  });
});

describe('finishLinear', () => {
  /** The BigInt model: center((fx + b) mod p) · 2^−(lx+lw). */
  function expected(fx: readonly bigint[], biasOf: (i: number) => bigint, bits: number): number[] {
    return fx.map((f, i) => Number(centeredOf(residueOf(f + biasOf(i)))) / 2 ** bits);
  }

  it('Gemm: adds the per-feature bias, centers and dequantizes at 2^−(lx+lw) (batch 2)', () => {
    const bias = [100, -200, 0];
    const l = layer({ lx: 3, lw: 5, outDims: [2, 3], bias });
    const centered = [5n, -5n, 0n, BHALF - 300n, -(BHALF - 300n), 1234567n];
    const fx = centered.map(residueOf);
    const out = finishLinear(l, Float64Array.from(fx, Number), 1);
    assert.deepEqual(Array.from(out), expected(fx, (i) => BigInt(bias[i % 3]!), 8));
    assert.deepEqual(Array.from(out).slice(0, 3), [105 / 256, -205 / 256, 0]);
  });

  it('Conv: one bias per output channel over the spatial positions and the batch', () => {
    const bias = [7, -11, 13];
    const outDims = [2, 3, 2, 2];
    const l = layer({ op: 'Conv', lx: 2, lw: 2, outDims, bias });
    const random = rng(3);
    const fx = Array.from({ length: sizeOf(outDims) }, () => residueOf(BigInt(Math.floor((random() * 2 - 1) * 1000))));
    const out = finishLinear(l, Float64Array.from(fx, Number), 1);
    // Element i of [N, C, H, W] belongs to channel ⌊i / (H·W)⌋ mod C.
    assert.deepEqual(Array.from(out), expected(fx, (i) => BigInt(bias[Math.floor(i / 4) % 3]!), 4));
  });

  it('no bias, and biases beyond ±p, reduce correctly', () => {
    const noBias = layer({ lx: 1, lw: 1, outDims: [1, 2] });
    assert.deepEqual(Array.from(finishLinear(noBias, Float64Array.of(P - 1, 6), 1)), [-0.25, 1.5]);
    const big = layer({ lx: 0, lw: 0, outDims: [1, 2], bias: [3 * P + 7, -(2 * P) - 3] });
    assert.deepEqual(Array.from(finishLinear(big, Float64Array.of(0, 0), 0)), [7, -3]);
  });

  it('end to end with dyadic values: round(x·2^lx)·round(w·2^lw) + round(b·2^(lx+lw)) dequantizes to x·w + b exactly', () => {
    const [lx, lw] = [4, 6];
    const xs = [3 / 16, -5 / 16, 1.5, -2.0625];
    const w = [[1 / 64, -3 / 64], [0.5, 0.25], [-7 / 64, 1], [0, -0.5]]; // [K = 4, N = 2]
    const b = [5 / 1024, -3 / 8];
    const l = layer({ lx, lw, outDims: [1, 2], bias: b.map((v) => Math.round(v * 2 ** (lx + lw))) });
    const xq = quantizeInput(l, Float64Array.from(xs));
    const fx = [0, 1].map((n) => {
      let s = 0n;
      for (let k = 0; k < 4; k++) s += BigInt(xq.residues[k]!) * BigInt(Math.round(w[k]![n]! * 2 ** lw));
      return Number(residueOf(s));
    });
    const out = finishLinear(l, Float64Array.from(fx), xq.maxAbs);
    const truth = [0, 1].map((n) => xs.reduce((s, x, k) => s + x * w[k]![n]!, 0) + b[n]!);
    assert.deepEqual(Array.from(out), truth);
  });

  it('sound-bound path: when max|x̃|·Σ|w̃| + max|b̃| ≤ (p−1)/2 every centered value is trusted', () => {
    // 1000 · 8000 + 388 606 = HALF_P exactly: no wrap-around is possible, so large values pass.
    const l = layer({ lx: 0, lw: 0, outDims: [1, 3], bias: [388_606, 0, 0], weightRowL1: 8000 });
    assert.equal(1000 * 8000 + 388_606, HALF_P);
    const fx = Float64Array.from([HALF_P - 388_606, residueOf(-(BHALF - 1n)), HALF_P / 2 + 1].map(Number));
    assert.deepEqual(Array.from(finishLinear(l, fx, 1000)), [HALF_P, -(HALF_P - 1), HALF_P / 2 + 1]);
    // One more unit of input magnitude leaves the sound bound: the same values now count as suspect.
    assertOverflow(() => finishLinear(l, fx, 1001), 'layer', /wrapped/);
  });

  it('threshold path: a centered value beyond (p−1)/4 is an OverflowError, up to (p−1)/4 it passes', () => {
    const l = layer({ lx: 2, lw: 3, outDims: [1, 2], weightRowL1: 4000, name: 'fc2' });
    const quarter = HALF_P / 2;
    assert.ok(Number.isInteger(quarter));
    assert.deepEqual(Array.from(finishLinear(l, Float64Array.of(quarter, P - quarter), 3000)), [quarter / 32, -quarter / 32]);
    assertOverflow(() => finishLinear(l, Float64Array.of(0, quarter + 1), 3000), 'fc2', new RegExp(`${quarter + 1}`));
    assertOverflow(() => finishLinear(l, Float64Array.of(P - quarter - 1, 0), 3000), 'fc2');
  });

  it('threshold path: a true pre-activation beyond p/2 (computed with BigInt) wraps and is detected', () => {
    // x̃ = [3000 ×4], w̃ = [1000 ×4]: z = 12 000 000 > (p−1)/2 wraps to 12 000 000 − p.
    const l = layer({ lx: 0, lw: 0, outDims: [1, 1], weightRowL1: 4000, name: 'wrap' });
    const z = 4n * 3000n * 1000n;
    assert.ok(z > BHALF);
    const fx = Float64Array.of(Number(residueOf(z)));
    assert.equal(Number(centeredOf(residueOf(z))), 12_000_000 - P);
    assertOverflow(() => finishLinear(l, fx, 3000), 'wrap', /wrapped mod p/);
    // The same from a negative pre-activation.
    assertOverflow(() => finishLinear(l, Float64Array.of(Number(residueOf(-z))), 3000), 'wrap');
  });
});

describe('fused passes: activation, unblinding and the next layer’s quantization', () => {
  const random = rng(31);
  const conv = layer({ op: 'Conv', lx: 6, lw: 7, outDims: [2, 3, 4, 5], bias: [-900, 0, 1234], weightRowL1: 50 });
  const n = sizeOf(conv.outDims);
  /** Residues of random centered outputs well inside the sound bound (real values within ±13), so no OverflowError. */
  const outputs = (): Float64Array => Float64Array.from({ length: n }, () => Number(residueOf(BigInt(Math.floor((random() - 0.5) * 200_000)))));
  const randomResidues = (): Float64Array => Float64Array.from({ length: n }, () => Math.floor(random() * P));
  /** What a blinded reply holds: f + u mod p. */
  const blinded = (f: Float64Array, u: Float64Array): Float64Array => Float64Array.from(f, (v, i) => Number(residueOf(BigInt(v) + BigInt(u[i]!))));
  /** u as an unsealed pad holds it: packed 3 bytes per residue. */
  const packed = (u: Float64Array): Uint8Array => packResidues(u, new Uint8Array(3 * u.length));
  const CLAMPS: (Clamp | undefined)[] = [undefined, RELU, { lo: 0, hi: 6 }, { lo: -1.5, hi: 2.25 }, { lo: -Infinity, hi: 3 }];
  /** The activation applied on its own, in float, as the unfused graph does. */
  const clipped = (y: Float64Array, c: Clamp | undefined): Float64Array => (c === undefined ? y : y.map((v) => Math.min(Math.max(v, c.lo), c.hi)));

  it('finishLinear(fx, clamp, minus) equals dequantizing fx − minus mod p, then clamping in float', () => {
    for (const clamp of CLAMPS) {
      const f = outputs();
      const u = randomResidues();
      const expected = clipped(finishLinear(conv, f.slice(), 100), clamp);
      assert.deepEqual(plain(finishLinear(conv, blinded(f, u), 100, { clamp, minus: packed(u) })), plain(expected), JSON.stringify(clamp));
      assert.deepEqual(plain(finishLinear(conv, f, 100, { clamp })), plain(expected));
    }
  });

  it('finishLinearInto equals finishLinear, the clamp, then quantizeInput of the next layer, bit for bit', () => {
    for (const nextLx of [-17, -4, 0, 3, 6, 13]) {
      for (const clamp of CLAMPS) {
        const next = layer({ lx: nextLx, lw: 5, name: 'next' });
        const f = outputs();
        const u = randomResidues();
        const separate = quantizeInput(next, clipped(finishLinear(conv, f.slice(), 100), clamp));
        const fused = finishLinearInto(conv, blinded(f, u), 100, next, { clamp, minus: packed(u) });
        assert.deepEqual(plain(fused.residues), plain(separate.residues), `lx' = ${nextLx}, clamp ${JSON.stringify(clamp)}`);
        assert.equal(fused.maxAbs, separate.maxAbs);
      }
    }
  });

  it('a clamp is fused only where it is exact at the layer’s output scale', () => {
    assert.equal(canApplyClamp(conv, { lo: 0, hi: 6 }), true);
    assert.equal(canApplyClamp(conv, { lo: 0.1, hi: 6 }), false, '0.1·2^13 is not an integer');
    assert.equal(canApplyClamp(conv, { lo: 2, hi: 1 }), false, 'min > max');
    assert.equal(canApplyClamp(conv, { lo: 0, hi: 2 ** 20 }), false, 'beyond int32 headroom');
    assert.throws(() => finishLinear(conv, outputs(), 100, { clamp: { lo: 0.1, hi: 6 } }), /not exact/);
  });

  it('finishLinearInto refuses a next layer whose grid is not a right shift of 0–30 bits away', () => {
    for (const lx of [14, -18]) {
      assert.equal(canFinishInto(conv, layer({ lx, lw: 1 })), false);
      assert.throws(() => finishLinearInto(conv, outputs(), 100, layer({ lx, lw: 1 })), /not a right shift/);
    }
    assert.equal(canFinishInto(conv, layer({ lx: -17, lw: 1 })), true);
  });
});
