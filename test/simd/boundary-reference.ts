/**
 * A plain reference of the boundary pass (src/simd/assembly/boundary.ts): the same steps, one value
 * at a time, in ordinary numbers, with Freivalds' sums in BigInt. The SIMD pass must agree with it
 * exactly on every output it writes and every finding it reports.
 */
import { P } from '../../src/field/prime.js';

const HALF = (P - 1) / 2;
const BP = BigInt(P);

export interface ReferencePlan {
  readonly source: 'reply' | 'floats' | 'residues';
  /** u32 residues (reply, residues) or doubles (floats). */
  readonly values: Uint32Array | Float64Array;
  readonly rows: number;
  readonly rowLen: number;
  readonly sa?: Uint32Array;
  readonly sb?: Uint32Array;
  /** Packed u, 3 bytes per value. */
  readonly u?: Uint8Array;
  readonly bias?: Int32Array;
  readonly perColumn?: boolean;
  readonly lo: number;
  readonly hi: number;
  readonly poolWidth?: number;
  readonly shift: number;
  readonly dequant: number;
  readonly addend?: Float64Array;
  readonly relu?: boolean;
  readonly floatOut?: boolean;
  readonly quantScale: number;
  readonly next?: boolean;
  readonly nextItem: number;
  readonly ta?: Uint32Array;
  readonly tb?: Uint32Array;
  readonly keystream?: Uint8Array;
}

export interface ReferenceResult {
  readonly bad: boolean;
  readonly worst: number;
  readonly nextMax: number;
  readonly inexact: boolean;
  readonly padBytes: number;
  readonly sums?: number[];
  readonly dots?: number[];
  readonly floats?: number[];
  readonly next?: number[];
}

const packed = (b: Uint8Array, i: number): number => b[3 * i]! | (b[3 * i + 1]! << 8) | (b[3 * i + 2]! << 16);
const toResidue = (q: number): number => (q < 0 ? q + P : q);

function centered(y: number, u: number, b: number): number {
  let z = y + b - P - u;
  while (z < 0) z += P;
  return z > HALF ? z - P : z;
}

export function referencePass(plan: ReferencePlan): ReferenceResult {
  const { rows, rowLen: len } = plan;
  const reply = plan.source === 'reply';
  const produces = plan.next === true || plan.ta !== undefined || plan.keystream !== undefined;
  const requant = reply && (produces || plan.floatOut === true);
  let bad = false;
  let worst = 0;
  let nextMax = 0;
  let inexact = false;
  let cursor = 0;
  const sums: number[] = [];
  const dots: number[] = [];
  const floats: number[] = [];
  const next: number[] = [];
  let itemA = 0n;
  let itemB = 0n;
  let inItem = 0;
  const round = (v: number): number => {
    const q = Math.floor(v * plan.quantScale + 0.5);
    if (!(Math.abs(q) < 2 ** 31)) {
      inexact = true;
      return Number.isNaN(q) ? 0 : q > 0 ? 2 ** 31 - 1 : -(2 ** 31);
    }
    return q;
  };
  const sink = (value: number, alreadyResidue: boolean): void => {
    let x = value;
    if (!alreadyResidue) {
      nextMax = Math.max(nextMax, Math.abs(value));
      x = toResidue(value);
    }
    if (plan.keystream !== undefined) {
      let r: number;
      do {
        r = packed(plan.keystream, cursor / 3);
        cursor += 3;
      } while (r >= P);
      x = (x + r) % P;
    }
    if (plan.ta !== undefined) {
      itemA += BigInt(x) * BigInt(plan.ta[inItem]!);
      itemB += BigInt(x) * BigInt(plan.tb![inItem]!);
    }
    next.push(x);
    inItem++;
  };
  const biasOf = (row: number, q: number): number => (plan.bias === undefined ? 0 : plan.perColumn ? plan.bias[q]! : plan.bias[row % plan.bias.length]!);
  for (let row = 0; row < rows; row++) {
    let rowA = 0n;
    let rowB = 0n;
    const base = row * len;
    const zs: number[] = [];
    for (let q = 0; q < len; q++) {
      const i = base + q;
      const v = plan.values[i]!;
      if (reply) {
        if (v >= P) bad = true;
        if (plan.sa !== undefined) {
          rowA += BigInt(v) * BigInt(plan.sa[q]!);
          rowB += BigInt(v) * BigInt(plan.sb![q]!);
        }
        if (!requant) continue;
        const z = centered(v, plan.u === undefined ? 0 : packed(plan.u, i), biasOf(row, q));
        worst = Math.max(worst, Math.abs(z));
        zs.push(z);
      } else if (plan.source === 'residues') {
        sink(v, true);
      } else {
        sink(round(v), false);
      }
    }
    if (requant) {
      const clamp = (z: number): number => Math.min(Math.max(z, plan.lo), plan.hi);
      const emit = (z: number, i: number): void => {
        if (plan.shift >= 0) {
          const half = plan.shift > 0 ? 2 ** (plan.shift - 1) : 0;
          sink(Math.floor((z + half) / 2 ** plan.shift), false);
          return;
        }
        let y = z * plan.dequant;
        if (plan.addend !== undefined) {
          y += plan.addend[i]!;
          if (plan.relu) y = Math.max(y, 0);
        }
        if (plan.floatOut) floats.push(y);
        if (produces) sink(round(y), false);
      };
      if (plan.poolWidth !== undefined) {
        const w = plan.poolWidth;
        for (let r = 0; r < len / w; r += 2) {
          for (let c = 0; c < w; c += 2) {
            const m = Math.max(zs[r * w + c]!, zs[r * w + c + 1]!, zs[(r + 1) * w + c]!, zs[(r + 1) * w + c + 1]!);
            emit(clamp(m), -1);
          }
        }
      } else {
        zs.forEach((z, q) => emit(clamp(z), base + q));
      }
    }
    if (plan.sa !== undefined) sums.push(Number(rowA % BP), Number(rowB % BP));
    if (plan.ta !== undefined && inItem >= plan.nextItem) {
      dots.push(Number(itemA % BP), Number(itemB % BP));
      itemA = 0n;
      itemB = 0n;
      inItem = 0;
    }
  }
  return {
    bad,
    worst,
    nextMax,
    inexact,
    padBytes: cursor,
    ...(plan.sa !== undefined ? { sums } : {}),
    ...(plan.ta !== undefined ? { dots } : {}),
    ...(plan.floatOut ? { floats } : {}),
    ...(plan.next ? { next } : {}),
  };
}
