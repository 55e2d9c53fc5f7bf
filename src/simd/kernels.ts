/**
 * The trusted runtime's hottest per-value passes, run by WebAssembly SIMD kernels
 * (./assembly/kernels.ts, built into build/simd.wasm by `npm run build:wasm`, which `npm ci` and
 * `npm install` run). Plain TypeScript does these passes at 3–6 ns per value; the kernels at about 1.
 *
 * The data stays in ordinary typed arrays and is streamed through the module's memory in chunks of
 * CHUNK values that stay in the CPU's L2 cache: each chunk is copied in (a memcpy), processed, and,
 * for in-place passes, copied back. The module holds no data between calls, so nothing here changes
 * who owns which buffer, and this module only computes: validating, checking and deciding stay with
 * the callers (boundary/accept.ts, verify/freivalds.ts, quant/fixed-point.ts).
 */
import { readFileSync, statSync } from 'node:fs';

/**
 * Values per chunk: 512 KiB of doubles. Measured here: copies between a typed array and the module's
 * memory run at memcpy speed from this size on, and about 5× slower below it.
 */
export const CHUNK = 65536;

interface SimdExports {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  allResidues(ptr: number, n: number): number;
  resetMagnitudes(): void;
  quantize(x: number, out: number, n: number, scale: number): number;
  finish(
    fx: number, u: number, n: number, subtract: number,
    first: number, inner: number, channels: number, bias: number,
    lo: number, hi: number, shift: number, scale: number,
    addend: number, relu: number,
  ): void;
  finishPool2x2(
    fx: number, u: number, pairs: number, width: number, subtract: number,
    firstRow: number, height: number, channels: number, bias: number,
    lo: number, hi: number, shift: number, scale: number, out: number,
  ): void;
  lastWorst(): number;
  lastNextMax(): number;
  dotT2(x: number, ta: number, tb: number, n: number): void;
  rowDots2(y: number, rows: number, len: number, sa: number, sb: number, out: number): number;
  lastA(): number;
  lastB(): number;
  maxPool2x2(x: number, out: number, pairs: number, width: number): void;
  maxPool3x3s2p1(x: number, out: number, planes: number, h: number, w: number, rows: number): void;
  addPadWords(ks: number, x: number, out: number, groups: number): number;
  packedBelowP(bytes: number, n: number): number;
}

// The same paths from src/simd/ (a checkout, under tsx) and dist/simd/ (compiled; the package ships
// build/simd.wasm beside dist/ but not the AssemblyScript source).
const WASM_FILE = new URL('../../build/simd.wasm', import.meta.url);
const SOURCE_FILE = new URL('../../src/simd/assembly/kernels.ts', import.meta.url);
const REBUILD = "run 'npm run build:wasm' (npm ci and npm install run it)";
let loaded: SimdExports | undefined;

function simd(): SimdExports {
  if (loaded !== undefined) return loaded;
  // Only a checkout has the source, and only there can the build be missing or stale.
  const source = statSync(SOURCE_FILE, { throwIfNoEntry: false });
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(readFileSync(WASM_FILE));
  } catch (e) {
    const advice = source !== undefined ? REBUILD : 'reinstall slalom, whose package ships it';
    throw new Error(`the SIMD kernels are missing (${WASM_FILE.pathname}): ${advice}`, { cause: e });
  }
  // A kernel source edited (or checked out) after the last build would run stale code.
  if (source !== undefined && source.mtimeMs > statSync(WASM_FILE).mtimeMs) throw new Error(`the SIMD kernels are older than ${SOURCE_FILE.pathname}: ${REBUILD}`);
  const abort = (): never => {
    throw new Error('internal: a SIMD kernel aborted');
  };
  loaded = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { abort } }).exports as unknown as SimdExports;
  return loaded;
}

/**
 * Byte offsets of consecutive regions of the given sizes in the module's memory (64-byte aligned,
 * after its static data), growing the memory when needed. Valid until the next call.
 */
function regions(...bytes: number[]): number[] {
  const k = simd();
  const offsets: number[] = [];
  let end = Math.ceil(k.heapBase() / 64) * 64;
  for (const size of bytes) {
    offsets.push(end);
    end += Math.ceil(size / 64) * 64;
  }
  const have = k.memory.buffer.byteLength;
  if (end > have) k.memory.grow(Math.ceil((end - have) / 65536));
  return offsets;
}

const f64At = (offset: number, length: number): Float64Array => new Float64Array(simd().memory.buffer, offset, length);

/** True when every value is an integer in [0, p) (−0 counts as 0). */
export function allResidues(values: Float64Array): boolean {
  const k = simd();
  const [at] = regions(Math.min(values.length, CHUNK) * 8);
  for (let start = 0; start < values.length; start += CHUNK) {
    const part = values.subarray(start, start + CHUNK);
    f64At(at!, part.length).set(part);
    if (k.allResidues(at!, part.length) === 0) return false;
  }
  return true;
}

/**
 * Quantization into the field: residues[i] = round(x[i]·scale) mod p, rounding half up. Returns
 * max |round(x·scale)|, or undefined when some value is not an int32 integer after rounding (NaN,
 * ±Infinity, |·| ≥ 2^31), which the caller reports.
 */
export function quantize(x: Float64Array, scale: number, residues: Float64Array): number | undefined {
  const k = simd();
  const [at] = regions(Math.min(x.length, CHUNK) * 8);
  k.resetMagnitudes();
  let inexact = 0;
  for (let start = 0; start < x.length; start += CHUNK) {
    const part = x.subarray(start, start + CHUNK);
    const view = f64At(at!, part.length);
    view.set(part);
    inexact |= k.quantize(at!, at!, part.length, scale);
    residues.set(view, start);
  }
  return inexact === 0 ? k.lastNextMax() : undefined;
}

export interface Requantization {
  /** Integer residues b̃ mod p, one per channel. */
  readonly bias: Int32Array;
  /** Values per channel block (OH·OW for a Conv, 1 for a Gemm's interleaved channels). */
  readonly inner: number;
  /** The clamp in integer units; ±2^30 where unbounded. */
  readonly lo: number;
  readonly hi: number;
  /** ≥ 0: round to the next layer's grid by this right shift and write residues; −1: write z·scale. */
  readonly shift: number;
  readonly scale: number;
}

/** A residual Add that consumes a layer's dequantized outputs, and whether a ReLU follows it. */
export interface ResidualAdd {
  /** The Add's other input, one value per output. */
  readonly other: Float64Array;
  readonly relu: boolean;
}

/**
 * The requantization pass of quant/fixed-point.ts, in place over `fx` (canonical residues, minus
 * `minus` when given: residues packed 3 bytes each, field/pack24.ts): returns the largest centered
 * magnitude before the clamp (`worst`) and, with a shift, the largest magnitude written
 * (`nextMax`). With `add` (no clamp, no shift), fx becomes z·scale + other, rectified if asked.
 */
export function requantize(fx: Float64Array, minus: Uint8Array | undefined, q: Requantization, add?: ResidualAdd): { worst: number; nextMax: number } {
  const k = simd();
  const chunk = Math.min(fx.length, CHUNK);
  const [bias, x, u, a] = regions(q.bias.length * 4, chunk * 8, minus === undefined ? 0 : chunk * 3 + 16, add === undefined ? 0 : chunk * 8);
  new Int32Array(k.memory.buffer, bias!, q.bias.length).set(q.bias);
  k.resetMagnitudes();
  for (let start = 0; start < fx.length; start += CHUNK) {
    const part = fx.subarray(start, start + CHUNK);
    const view = f64At(x!, part.length);
    view.set(part);
    if (minus !== undefined) new Uint8Array(k.memory.buffer, u!, 3 * part.length).set(minus.subarray(3 * start, 3 * (start + part.length)));
    if (add !== undefined) f64At(a!, part.length).set(add.other.subarray(start, start + part.length));
    const addend = add === undefined ? 0 : a!;
    k.finish(x!, u!, part.length, minus === undefined ? 0 : 1, start, q.inner, q.bias.length, bias!, q.lo, q.hi, q.shift, q.scale, addend, add?.relu ? 1 : 0);
    part.set(view);
  }
  return { worst: k.lastWorst(), nextMax: k.lastNextMax() };
}

/** Rows of planes (N·C planes of `height` rows of `width` values, both even) for a fused 2×2 pool. */
export interface PoolShape {
  readonly rows: number;
  readonly height: number;
  readonly width: number;
}

/**
 * requantize followed by 2×2 max pooling with stride 2 (exact: see finishPool2x2 in the kernels),
 * from `fx` into `out` (rows/2 × width/2 values); the bias changes per plane (`inner` is unused).
 */
export function requantizePool2x2(fx: Float64Array, minus: Uint8Array | undefined, q: Requantization, shape: PoolShape, out: Float64Array): { worst: number; nextMax: number } {
  const k = simd();
  const { rows, height, width } = shape;
  const pairsPerChunk = Math.max(1, Math.floor(CHUNK / (2 * width)));
  const inChunk = pairsPerChunk * 2 * width;
  const [bias, x, u, o] = regions(q.bias.length * 4, inChunk * 8, minus === undefined ? 0 : inChunk * 3 + 16, pairsPerChunk * (width / 2) * 8);
  new Int32Array(k.memory.buffer, bias!, q.bias.length).set(q.bias);
  k.resetMagnitudes();
  for (let pair = 0; pair < rows / 2; pair += pairsPerChunk) {
    const pairs = Math.min(pairsPerChunk, rows / 2 - pair);
    const from = pair * 2 * width;
    const count = pairs * 2 * width;
    f64At(x!, count).set(fx.subarray(from, from + count));
    if (minus !== undefined) new Uint8Array(k.memory.buffer, u!, 3 * count).set(minus.subarray(3 * from, 3 * (from + count)));
    k.finishPool2x2(x!, u!, pairs, width, minus === undefined ? 0 : 1, 2 * pair, height, q.bias.length, bias!, q.lo, q.hi, q.shift, q.scale, o!);
    out.set(f64At(o!, pairs * (width / 2)), pair * (width / 2));
  }
  return { worst: k.lastWorst(), nextMax: k.lastNextMax() };
}

/**
 * ⟨x, ta⟩ and ⟨x, tb⟩ over x[offset, offset + n) and t[0, n): values congruent to them, each of
 * magnitude < 2^51, through `reduce` after every chunk (the caller's modular reduction).
 */
export function dotT2(x: Float64Array, offset: number, ta: Float32Array, tb: Float32Array, n: number, reduce: (v: number) => number): [number, number] {
  const k = simd();
  const chunk = Math.min(n, CHUNK);
  const [xAt, aAt, bAt] = regions(chunk * 8, chunk * 4, chunk * 4);
  const buffer = k.memory.buffer;
  let a = 0;
  let b = 0;
  for (let start = 0; start < n; start += CHUNK) {
    const len = Math.min(CHUNK, n - start);
    new Float64Array(buffer, xAt!, len).set(x.subarray(offset + start, offset + start + len));
    new Float32Array(buffer, aAt!, len).set(ta.subarray(start, start + len));
    new Float32Array(buffer, bAt!, len).set(tb.subarray(start, start + len));
    k.dotT2(xAt!, aAt!, bAt!, len);
    a = reduce(a + k.lastA());
    b = reduce(b + k.lastB());
  }
  return [a, b];
}

/**
 * For each of `rows` consecutive rows of `len` values of y from `offset`: Σ_q y[q]·sa[q] and
 * Σ_q y[q]·sb[q], as values congruent to them of magnitude < 2^52 (through `reduce` when a row spans
 * chunks), in out[2·row] and out[2·row + 1]. Returns whether every value read is an integer in
 * [0, p) (as allResidues): the sums only mean something then, and a caller may use this one read of
 * y as its validation.
 */
export function rowDots2(
  y: Float64Array, offset: number, rows: number, len: number,
  sa: Float64Array, sb: Float64Array, out: Float64Array, reduce: (v: number) => number,
): boolean {
  const k = simd();
  // Whole rows per chunk when a row fits, else one row in pieces.
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK / len));
  const piece = Math.min(len, CHUNK);
  const [aAt, bAt, yAt, outAt] = regions(len * 8, len * 8, rowsPerChunk * piece * 8, rowsPerChunk * 16);
  const buffer = k.memory.buffer;
  new Float64Array(buffer, aAt!, len).set(sa.subarray(0, len));
  new Float64Array(buffer, bAt!, len).set(sb.subarray(0, len));
  const sums = new Float64Array(buffer, outAt!, rowsPerChunk * 2);
  let ok = 1;
  if (len <= CHUNK) {
    for (let row = 0; row < rows; row += rowsPerChunk) {
      const count = Math.min(rowsPerChunk, rows - row);
      const from = offset + row * len;
      new Float64Array(buffer, yAt!, count * len).set(y.subarray(from, from + count * len));
      ok &= k.rowDots2(yAt!, count, len, aAt!, bAt!, outAt!);
      out.set(sums.subarray(0, 2 * count), 2 * row);
    }
    return ok === 1;
  }
  for (let row = 0; row < rows; row++) {
    let a = 0;
    let b = 0;
    for (let q = 0; q < len; q += CHUNK) {
      const count = Math.min(CHUNK, len - q);
      const from = offset + row * len + q;
      new Float64Array(buffer, yAt!, count).set(y.subarray(from, from + count));
      ok &= k.rowDots2(yAt!, 1, count, aAt! + q * 8, bAt! + q * 8, outAt!);
      a = reduce(a + sums[0]!);
      b = reduce(b + sums[1]!);
    }
    out[2 * row] = a;
    out[2 * row + 1] = b;
  }
  return ok === 1;
}

/**
 * 2×2 max pooling with stride 2 of `rows` rows of `width` values (both even; rows of consecutive
 * planes may follow each other, as no window spans two planes), into out (rows/2 × width/2 values).
 */
export function maxPool2x2(x: Float64Array, rows: number, width: number, out: Float64Array): void {
  const k = simd();
  const pairsPerChunk = Math.max(1, Math.floor(CHUNK / (2 * width)));
  const [inAt, outAt] = regions(pairsPerChunk * 2 * width * 8, pairsPerChunk * (width / 2) * 8);
  for (let pair = 0; pair < rows / 2; pair += pairsPerChunk) {
    const pairs = Math.min(pairsPerChunk, rows / 2 - pair);
    f64At(inAt!, pairs * 2 * width).set(x.subarray(pair * 2 * width, (pair + pairs) * 2 * width));
    k.maxPool2x2(inAt!, outAt!, pairs, width);
    out.set(f64At(outAt!, pairs * (width / 2)), pair * (width / 2));
  }
}

/**
 * 3×3 max pooling with stride 2 and padding 1 on every side of `planes` planes of h×w values, into
 * out (planes of ⌊(h − 1)/2⌋ + 1 × ⌊(w − 1)/2⌋ + 1 values).
 */
export function maxPool3x3s2p1(x: Float64Array, planes: number, h: number, w: number, out: Float64Array): void {
  const k = simd();
  const oh = Math.floor((h - 1) / 2) + 1;
  const ow = Math.floor((w - 1) / 2) + 1;
  const perChunk = Math.max(1, Math.floor(CHUNK / (h * w)));
  const [inAt, outAt, rowsAt] = regions(perChunk * h * w * 8 + 16, perChunk * oh * ow * 8, h * ow * 8);
  for (let plane = 0; plane < planes; plane += perChunk) {
    const count = Math.min(perChunk, planes - plane);
    f64At(inAt!, count * h * w).set(x.subarray(plane * h * w, (plane + count) * h * w));
    k.maxPool3x3s2p1(inAt!, outAt!, count, h, w, rowsAt!);
    out.set(f64At(outAt!, count * oh * ow), plane * oh * ow);
  }
}

/**
 * Blinding from keystream bytes, four values per 12 bytes (four 24-bit little-endian words r):
 * out[from + i] = values[from + i] + r_i mod p, for the first `groups` groups or up to the first
 * group that holds a word ≥ p, which rejection sampling must drop (the caller goes on word by word
 * from there). Returns the values written, a multiple of 4.
 */
export function addPadWords(keystream: Uint8Array, groups: number, values: Float64Array, out: Float64Array, from: number): number {
  const k = simd();
  const [ksAt, xAt] = regions(groups * 12 + 16, groups * 32);
  new Uint8Array(k.memory.buffer, ksAt!, groups * 12).set(keystream.subarray(0, groups * 12));
  f64At(xAt!, groups * 4).set(values.subarray(from, from + groups * 4));
  const written = 4 * k.addPadWords(ksAt!, xAt!, xAt!, groups);
  out.set(f64At(xAt!, written), from);
  return written;
}

/** True when every residue packed 3 bytes each in `bytes` is < p. */
export function packedResidues(bytes: Uint8Array): boolean {
  const k = simd();
  const count = Math.floor(bytes.length / 3);
  const chunk = Math.min(count, CHUNK);
  const [at] = regions(chunk * 3 + 16);
  for (let start = 0; start < count; start += CHUNK) {
    const len = Math.min(CHUNK, count - start);
    new Uint8Array(k.memory.buffer, at!, 3 * len).set(bytes.subarray(3 * start, 3 * (start + len)));
    if (k.packedBelowP(at!, len) === 0) return false;
  }
  return true;
}
