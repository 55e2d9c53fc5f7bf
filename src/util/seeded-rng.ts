/**
 * A small seeded PRNG for reproducible, public values — the model zoo's weights, the runtime's
 * default calibration inputs, tests: mulberry32 (32-bit state, period 2^32) for uniforms and
 * Marsaglia–Tsang's 128-layer ziggurat (J. Stat. Softw. 5(8), 2000) for normals — about 3× faster
 * than Box-Muller, which matters for VGG-16's 138M weights. Not cryptographic (secrets come from
 * field/random.ts): the same seed gives the same sequence wherever the same Node/V8 runs.
 * (As in the original ziggurat the layer index reuses the low bits of the 32-bit draw, a bias far
 * below anything weight initialisation can notice.)
 */

const TWO_POW_32 = 4294967296;
/** Right edge of the ziggurat's base layer, and the start of the tail. */
const ZIG_R = 3.442619855899;
/** Area of each layer. */
const ZIG_V = 9.91256303526217e-3;

const kn = new Int32Array(128);
const wn = new Float64Array(128);
const fn = new Float64Array(128);
{
  const m1 = 2147483648;
  let dn = ZIG_R;
  let tn = dn;
  const q = ZIG_V / Math.exp(-0.5 * dn * dn);
  kn[0] = Math.trunc((dn / q) * m1);
  kn[1] = 0;
  wn[0] = q / m1;
  wn[127] = dn / m1;
  fn[0] = 1;
  fn[127] = Math.exp(-0.5 * dn * dn);
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(ZIG_V / dn + Math.exp(-0.5 * dn * dn)));
    kn[i + 1] = Math.trunc((dn / tn) * m1);
    tn = dn;
    fn[i] = Math.exp(-0.5 * dn * dn);
    wn[i] = dn / m1;
  }
}

/** A seeded stream of uniform and normal variates; fills typed arrays in place. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    // splitmix32-style scramble so nearby seeds start far apart.
    let z = (Math.trunc(seed) ^ 0x9e3779b9) >>> 0;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    this.state = (z ^ (z >>> 16)) >>> 0;
  }

  /** The next 32-bit draw as a signed integer (mulberry32). */
  nextI32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return t ^ (t >>> 14);
  }

  /** A uniform variate in (0, 1), never 0 (safe under `Math.log`). */
  uniform(): number {
    return ((this.nextI32() >>> 0) + 0.5) / TWO_POW_32;
  }

  /** A standard normal variate. */
  normal(): number {
    const hz = this.nextI32();
    const iz = hz & 127;
    return Math.abs(hz) < kn[iz]! ? hz * wn[iz]! : this.normalSlow(hz, iz);
  }

  /** Fills `out` with N(mean, std²) variates; returns `out`. */
  fillNormal<T extends Float32Array | Float64Array>(out: T, std: number, mean = 0): T {
    for (let i = 0; i < out.length; i++) {
      const hz = this.nextI32();
      const iz = hz & 127;
      out[i] = mean + std * (Math.abs(hz) < kn[iz]! ? hz * wn[iz]! : this.normalSlow(hz, iz));
    }
    return out;
  }

  /** Fills `out` with uniform variates in (lo, hi); returns `out`. */
  fillUniform<T extends Float32Array | Float64Array>(out: T, lo: number, hi: number): T {
    const span = hi - lo;
    for (let i = 0; i < out.length; i++) out[i] = lo + span * this.uniform();
    return out;
  }

  /** The ziggurat's rare path: a draw outside layer `iz`'s inner rectangle, or in the tail. */
  private normalSlow(hz: number, iz: number): number {
    for (;;) {
      const x = hz * wn[iz]!;
      if (iz === 0) {
        let tx: number;
        let ty: number;
        do {
          tx = -Math.log(this.uniform()) / ZIG_R;
          ty = -Math.log(this.uniform());
        } while (ty + ty < tx * tx);
        return hz > 0 ? ZIG_R + tx : -ZIG_R - tx;
      }
      if (fn[iz]! + this.uniform() * (fn[iz - 1]! - fn[iz]!) < Math.exp(-0.5 * x * x)) return x;
      hz = this.nextI32();
      iz = hz & 127;
      if (Math.abs(hz) < kn[iz]!) return hz * wn[iz]!;
    }
  }
}
