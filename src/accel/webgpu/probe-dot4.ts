/**
 * The dot4 kernels' start-up probe: before an engine uses packed dot products, one worst-case
 * product runs on this device through the real kernels — the tiled one (a batch of 17 rows) and the
 * small-batch one (2 rows, split across K) — and is compared with BigInt. The operands sit
 * at the bound dot4.ts proves: x = p − 1 everywhere, weights whose offset bytes are all 255
 * (w = 2^15 − 1: every u32 sum takes its largest step) next to a column mixing both extremes, and
 * K one KT step past the longest segment, so in the tiled kernel the first fold comes within a few
 * thousandths of the u32 wrap point and a second segment follows (the small-batch kernel splits K
 * into chunks far shorter than a segment). A device whose dot4U8Packed (or its polyfill)
 * saturates, loses bits or wraps differently fails here, and the engine keeps the 12-bit limbs.
 */
import { P } from '../../field/prime.js';
import type { ExactLinearLayer } from '../../kernels/exact-linear.js';
import { tensor } from '../../tensor/tensor.js';
import { DOT4_MAX_WEIGHT, DOT4_MIN_WEIGHT, dot4SegmentTaps } from './dot4.js';
import type { WebGpuEngine } from './engine.js';
import { DENSE_MAX_ROWS } from './layer.js';
import { MIN_SEGMENT_TAPS } from './limbs.js';

/** K of the probe: one fold at the widest segment, then one more step. */
export const PROBE_TAPS = dot4SegmentTaps(255, 255) + MIN_SEGMENT_TAPS;

/** The probe's Gemm [K, 2]: column 0 all 2^15 − 1, column 1 alternating the extremes with a pattern of smaller weights. */
export function probeLayer(): ExactLinearLayer {
  const w = new Float64Array(PROBE_TAPS * 2);
  for (let k = 0; k < PROBE_TAPS; k++) {
    w[2 * k] = DOT4_MAX_WEIGHT;
    w[2 * k + 1] = k % 3 === 0 ? DOT4_MIN_WEIGHT : k % 3 === 1 ? DOT4_MAX_WEIGHT : ((k * 2_654_435_761) % 65_536) - 32_768;
  }
  return { op: 'Gemm', wDims: [PROBE_TAPS, 2], w: tensor([PROBE_TAPS, 2], w) };
}

/** undefined when the dot4 kernels compute the probe exactly on `engine` (registered on them); else what differed. */
export async function probeDot4(engine: WebGpuEngine): Promise<string | undefined> {
  const layer = probeLayer();
  const expected = [0, 1].map((c) => {
    let sum = 0n;
    for (let k = 0; k < PROBE_TAPS; k++) sum += BigInt(layer.w.data[2 * k + c]!);
    return Number((((BigInt(P - 1) * sum) % BigInt(P)) + BigInt(P)) % BigInt(P));
  });
  const registered = engine.register(layer, 'dot4 probe');
  try {
    if (registered.dot4 === undefined || registered.dot4.segmentTaps >= PROBE_TAPS) return 'the probe layer did not plan a fold on the dot4 kernels';
    // The tiled kernel (more rows than the small-batch kernel takes), then the small-batch one.
    for (const rows of [DENSE_MAX_ROWS + 1, 2]) {
      const y = (await engine.run(registered, [rows, PROBE_TAPS], new Uint32Array(rows * PROBE_TAPS).fill(P - 1))).data;
      for (let i = 0; i < y.length; i++) {
        if (y[i] !== expected[i % 2]) return `its worst-case probe gave ${y[i]} where BigInt gives ${expected[i % 2]} (${rows} rows: row ${Math.floor(i / 2)}, column ${i % 2})`;
      }
    }
    return undefined;
  } finally {
    engine.release(registered);
  }
}
