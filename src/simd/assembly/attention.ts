/**
 * Attention of a sequence's tokens over its KV cache (owner: src/graph/decoder/step.ts, through
 * src/simd/attention.ts; the cache's layout is src/graph/decoder/kv-cache.ts's). Float32 in f32x4
 * lanes: a decoding step reads the whole cache once per token, so attention runs at memory speed
 * only if the cache is as small as it can be and every value read is used four lanes at a time.
 * Float, not residues: attention is the trusted runtime's own arithmetic (nothing here is checked
 * or blinded), and the same kernel runs in every mode, so modes stay bit-identical.
 *
 * Layout: per layer, keys and values are [heads][capacity][stride] f32, stride = headDim rounded
 * up to 4 with zero lanes past headDim; the queries are [rows][heads][stride] f32 with zero lanes too,
 * already scaled by 1/√headDim; the output is [rows][heads][stride] f32 (lanes past headDim are 0).
 */

/** Below this a max-subtracted score's exp is flushed to 0 (e^−87 ≈ 1.6e−38, f32's smallest normal range). */
const EXP_FLOOR: f32 = -87.0;

/**
 * e^x per lane for x ≤ 0 (Cephes' expf: x = n·ln 2 + r with |r| ≤ ln2/2, e^r by a degree-7
 * polynomial, 2^n put in the exponent) for x ∈ [−87, 0], 0 below; the kernel's error against
 * float64 is bounded by test/graph/decoder/attention.test.ts.
 */
// @ts-ignore: decorator
@inline
function exp4(x: v128): v128 {
  const under = f32x4.lt(x, f32x4.splat(EXP_FLOOR));
  const c = f32x4.max(x, f32x4.splat(EXP_FLOOR));
  const n = f32x4.nearest(f32x4.mul(c, f32x4.splat(1.44269504088896341)));
  // r = c − n·ln 2, ln 2 in two parts so that n·0.693359375 is exact.
  let r = f32x4.sub(c, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  const er = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(r, r), p), r), f32x4.splat(1.0));
  // n ∈ [−126, 0]: 2^n is the normal float with exponent field n + 127.
  const pow2 = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return v128.andnot(f32x4.mul(er, pow2), under);
}

/** The four lanes' sum. */
// @ts-ignore: decorator
@inline
function lanesSum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** [Σ a0, Σ a1, Σ a2, Σ a3]: four dot products' lane sums as one vector. */
// @ts-ignore: decorator
@inline
function transposeSum(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const a01 = f32x4.add(f32x4.shuffle(a0, a1, 0, 4, 1, 5), f32x4.shuffle(a0, a1, 2, 6, 3, 7));
  const a23 = f32x4.add(f32x4.shuffle(a2, a3, 0, 4, 1, 5), f32x4.shuffle(a2, a3, 2, 6, 3, 7));
  return f32x4.add(f32x4.shuffle(a01, a23, 0, 1, 4, 5), f32x4.shuffle(a01, a23, 2, 3, 6, 7));
}

/** scores[t] = q·k_t for t = 0 … count − 1 (count ≥ 1), four positions at a time. */
// @ts-ignore: decorator
@inline
function dotScores(q: usize, k: usize, count: i32, rowBytes: usize, scores: usize): void {
  let t = 0;
  for (; t + 4 <= count; t += 4) {
    const k0 = k + <usize>t * rowBytes;
    const k1 = k0 + rowBytes;
    const k2 = k1 + rowBytes;
    const k3 = k2 + rowBytes;
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    for (let j: usize = 0; j < rowBytes; j += 16) {
      const qv = v128.load(q + j);
      a0 = f32x4.add(a0, f32x4.mul(qv, v128.load(k0 + j)));
      a1 = f32x4.add(a1, f32x4.mul(qv, v128.load(k1 + j)));
      a2 = f32x4.add(a2, f32x4.mul(qv, v128.load(k2 + j)));
      a3 = f32x4.add(a3, f32x4.mul(qv, v128.load(k3 + j)));
    }
    v128.store(scores + (<usize>t << 2), transposeSum(a0, a1, a2, a3));
  }
  for (; t < count; t++) {
    const kt = k + <usize>t * rowBytes;
    let a = f32x4.splat(0);
    for (let j: usize = 0; j < rowBytes; j += 16) a = f32x4.add(a, f32x4.mul(v128.load(q + j), v128.load(kt + j)));
    store<f32>(scores + (<usize>t << 2), lanesSum(a));
  }
}

/** Replaces scores[0 … count) by their softmax's numerators e^(s − max); returns 1/Σ. */
// @ts-ignore: decorator
@inline
function softmaxInPlace(scores: usize, count: i32): f32 {
  let m = f32x4.splat(-Infinity);
  let t = 0;
  for (; t + 4 <= count; t += 4) m = f32x4.max(m, v128.load(scores + (<usize>t << 2)));
  let largest = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
  for (; t < count; t++) largest = max(largest, load<f32>(scores + (<usize>t << 2)));
  const top = f32x4.splat(largest);
  let sum = f32x4.splat(0);
  t = 0;
  for (; t + 4 <= count; t += 4) {
    const at = scores + (<usize>t << 2);
    const e = exp4(f32x4.sub(v128.load(at), top));
    v128.store(at, e);
    sum = f32x4.add(sum, e);
  }
  let tail: f32 = 0;
  for (; t < count; t++) {
    const at = scores + (<usize>t << 2);
    const e = f32x4.extract_lane(exp4(f32x4.splat(load<f32>(at) - largest)), 0);
    store<f32>(at, e);
    tail += e;
  }
  // The max's own term is 1, so the sum is ≥ 1.
  return 1 / (lanesSum(sum) + tail);
}

/** out = inv · Σ_t w[t]·v_t over count rows of rowBytes, 32 lanes of the row at a time (then 16, then 4). */
// @ts-ignore: decorator
@inline
function weightedSum(w: usize, v: usize, count: i32, rowBytes: usize, inv: f32, out: usize): void {
  const scale = f32x4.splat(inv);
  let j: usize = 0;
  for (; j + 128 <= rowBytes; j += 128) {
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    let a4 = f32x4.splat(0);
    let a5 = f32x4.splat(0);
    let a6 = f32x4.splat(0);
    let a7 = f32x4.splat(0);
    let vt = v + j;
    for (let t = 0; t < count; t++, vt += rowBytes) {
      const p = v128.load32_splat(w + (<usize>t << 2));
      a0 = f32x4.add(a0, f32x4.mul(p, v128.load(vt)));
      a1 = f32x4.add(a1, f32x4.mul(p, v128.load(vt, 16)));
      a2 = f32x4.add(a2, f32x4.mul(p, v128.load(vt, 32)));
      a3 = f32x4.add(a3, f32x4.mul(p, v128.load(vt, 48)));
      a4 = f32x4.add(a4, f32x4.mul(p, v128.load(vt, 64)));
      a5 = f32x4.add(a5, f32x4.mul(p, v128.load(vt, 80)));
      a6 = f32x4.add(a6, f32x4.mul(p, v128.load(vt, 96)));
      a7 = f32x4.add(a7, f32x4.mul(p, v128.load(vt, 112)));
    }
    v128.store(out + j, f32x4.mul(a0, scale));
    v128.store(out + j, f32x4.mul(a1, scale), 16);
    v128.store(out + j, f32x4.mul(a2, scale), 32);
    v128.store(out + j, f32x4.mul(a3, scale), 48);
    v128.store(out + j, f32x4.mul(a4, scale), 64);
    v128.store(out + j, f32x4.mul(a5, scale), 80);
    v128.store(out + j, f32x4.mul(a6, scale), 96);
    v128.store(out + j, f32x4.mul(a7, scale), 112);
  }
  for (; j + 64 <= rowBytes; j += 64) {
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    let vt = v + j;
    for (let t = 0; t < count; t++, vt += rowBytes) {
      const p = v128.load32_splat(w + (<usize>t << 2));
      a0 = f32x4.add(a0, f32x4.mul(p, v128.load(vt)));
      a1 = f32x4.add(a1, f32x4.mul(p, v128.load(vt, 16)));
      a2 = f32x4.add(a2, f32x4.mul(p, v128.load(vt, 32)));
      a3 = f32x4.add(a3, f32x4.mul(p, v128.load(vt, 48)));
    }
    v128.store(out + j, f32x4.mul(a0, scale));
    v128.store(out + j, f32x4.mul(a1, scale), 16);
    v128.store(out + j, f32x4.mul(a2, scale), 32);
    v128.store(out + j, f32x4.mul(a3, scale), 48);
  }
  for (; j < rowBytes; j += 16) {
    let a = f32x4.splat(0);
    let vt = v + j;
    for (let t = 0; t < count; t++, vt += rowBytes) a = f32x4.add(a, f32x4.mul(v128.load32_splat(w + (<usize>t << 2)), v128.load(vt)));
    v128.store(out + j, f32x4.mul(a, scale));
  }
}

/**
 * Attention in one layer for `rows` tokens of one sequence: for row r and head h, softmax over
 * t = 0 … lasts[r] of q_{r,h}·k_{h,t} (max-subtracted), then out_{r,h} = Σ_t p_t·v_{h,t}. Heads are
 * the outer loop, so a prefill's rows share each head's keys and values while they are in cache
 * (the order changes no result: each row and head is computed the same way alone). q and out are
 * [rows][heads][stride]; lasts is rows i32; `scores` holds max(lasts) + 1 f32 (scratch).
 */
export function attendRows(q: usize, keys: usize, values: usize, heads: i32, capacity: i32, stride: i32, rows: i32, lasts: usize, scores: usize, out: usize): void {
  const rowBytes = <usize>stride << 2;
  const headBytes = <usize>capacity * rowBytes;
  const tokenBytes = <usize>heads * rowBytes;
  for (let h = 0; h < heads; h++) {
    const kh = keys + <usize>h * headBytes;
    const vh = values + <usize>h * headBytes;
    for (let r = 0; r < rows; r++) {
      const at = <usize>r * tokenBytes + <usize>h * rowBytes;
      const count = load<i32>(lasts + (<usize>r << 2)) + 1;
      dotScores(q + at, kh, count, rowBytes, scores);
      const inv = softmaxInPlace(scores, count);
      weightedSum(scores, vh, count, rowBytes, inv, out + at);
    }
  }
}
