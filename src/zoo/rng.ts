/**
 * A small seeded PRNG for the model zoo: mulberry32 (32-bit state, period 2^32) for uniforms and
 * Box-Muller for normals. Not cryptographic — it only makes zoo weights reproducible: the same seed
 * gives the same sequence on every platform (all arithmetic is 32-bit integer or IEEE double).
 */

const TWO_POW_32 = 4294967296;
const TWO_PI = 2 * Math.PI;

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

  /** The next 32-bit unsigned integer (mulberry32). */
  nextU32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform variate in (0, 1), never 0 (safe under `Math.log`). */
  uniform(): number {
    return (this.nextU32() + 0.5) / TWO_POW_32;
  }

  /** A standard normal variate (Box-Muller; the sine half is discarded). */
  normal(): number {
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    return r * Math.cos(TWO_PI * this.uniform());
  }

  /** Fills `out` with N(mean, std²) variates, two per Box-Muller pair; returns `out`. */
  fillNormal<T extends Float32Array | Float64Array>(out: T, std: number, mean = 0): T {
    const n = out.length;
    for (let i = 0; i < n; i += 2) {
      const r = std * Math.sqrt(-2 * Math.log(this.uniform()));
      const theta = TWO_PI * this.uniform();
      out[i] = mean + r * Math.cos(theta);
      if (i + 1 < n) out[i + 1] = mean + r * Math.sin(theta);
    }
    return out;
  }

  /** Fills `out` with uniform variates in (lo, hi); returns `out`. */
  fillUniform<T extends Float32Array | Float64Array>(out: T, lo: number, hi: number): T {
    const span = hi - lo;
    for (let i = 0; i < out.length; i++) out[i] = lo + span * this.uniform();
    return out;
  }
}
