/**
 * The one pass per layer boundary (docs/design.md §7): reads a linear layer's output once and writes the
 * next layer's request once. Per value, in this order:
 *
 *   range check (the gate's) · Freivalds' output side Σ y·s (verify/) · z = y − u + b̃ mod p,
 *   centered, |z| folded into the magnitude (quant/) · clamp (ReLU/ReLU6) · 2×2 max pool
 *   (boundary-pool.ts) · either a right shift onto the next layer's grid, or z·2^−(lx+lw) as a float
 *   (+ a residual Add's operand, ReLU), written, and rounded onto the next grid · the next layer's
 *   input side ⟨x′, T′⟩ and its pad x′ + r′ (blind/) · x′ written into the next request.
 *
 * Each step is its owner's math (the inline helpers of requantize.ts, freivalds.ts, blind.ts); this
 * file only runs them in one loop, as the plan block says (../boundary-fields.ts; a step whose
 * pointer is 0 is skipped). It writes only into the plan's output regions, and decides nothing: the
 * range flag, the sums and the magnitudes go back in the block, and src/boundary/accept.ts decides.
 * The same loop also serves a float source (a layer whose input comes from a non-linear layer:
 * quantize, input side, pad) and a residue source (the passes taken apart, for the per-owner timing).
 */
import {
  ADDEND_AT, BIAS_AT, BIAS_PER_COLUMN, CHANNELS, CHECK_DOTS, CHECK_SA, CHECK_SB, CHECK_SUMS, CHECK_TA, CHECK_TB, DEQUANT, FLOAT_OUT_AT,
  HI, LO, NEXT_AT, NEXT_ITEM, OUT_BAD, OUT_INEXACT, OUT_NEXT_MAX, OUT_PAD_BYTES, OUT_WORST, PAD_AT, POOL_WIDTH, QUANT_SCALE, RELU, ROW_LEN,
  ROWS, SHIFT, SOURCE, SOURCE_AT, SOURCE_FLOATS, SOURCE_REPLY, UNBLIND_AT,
} from '../boundary-fields';
import { addPad4, anyRejected, fallbackBytes, pad1, padFallback4, padWords4 } from './blind';
import { lanesMax, lanesModP, P, P64, residue1, residue4 } from './common';
import { dot4, SEGMENT } from './freivalds';
import { poolPass } from './boundary-pool';
import { centered1, centered4, highF64, inexactLanes, lowF64, roundToGrid1, roundToGrid4, shiftRound4 } from './requantize';

export function heapBase(): usize {
  return __heap_base;
}

// @ts-ignore: decorator
@inline
export function field(plan: usize, k: i32): f64 {
  return load<f64>(plan + (<usize>k << 3));
}

// @ts-ignore: decorator
@inline
export function int(plan: usize, k: i32): i32 {
  return <i32>load<f64>(plan + (<usize>k << 3));
}

// @ts-ignore: decorator
@inline
export function ptr(plan: usize, k: i32): usize {
  return <usize>load<f64>(plan + (<usize>k << 3));
}

/** Writes the pass's findings into the plan block. */
export function report(plan: usize, bad: bool, worst: i32, nextMax: i32, padBytes: i32): void {
  store<f64>(plan + (<usize>OUT_BAD << 3), bad ? 1 : 0);
  store<f64>(plan + (<usize>OUT_WORST << 3), <f64>worst);
  store<f64>(plan + (<usize>OUT_NEXT_MAX << 3), <f64>nextMax);
  store<f64>(plan + (<usize>OUT_INEXACT << 3), v128.any_true(inexactLanes) ? 1 : 0);
  store<f64>(plan + (<usize>OUT_PAD_BYTES << 3), <f64>padBytes);
}

/**
 * Whether a compile-time flag of a pass's instantiation is on (u16) or off (u8): the dispatch below
 * instantiates the loop once per combination of the steps that vary by mode, so a step a mode
 * skips costs no branch and no register inside the loop.
 */
// @ts-ignore: decorator
@inline
export function on<T>(): bool {
  return sizeof<T>() == 2;
}

/** Runs the pass the plan block at `plan` describes (boundary-fields.ts). */
export function boundaryPass(plan: usize): void {
  inexactLanes = i64x2.splat(0);
  const source = int(plan, SOURCE);
  if (int(plan, POOL_WIDTH) > 0) {
    if (ptr(plan, CHECK_SA)) poolWithCheckOut<u16>(plan);
    else poolWithCheckOut<u8>(plan);
  } else if (source != SOURCE_REPLY) {
    if (source == SOURCE_FLOATS) fromSource<u16>(plan);
    else fromSource<u8>(plan);
  } else if (ptr(plan, CHECK_SA)) withCheckOut<u16>(plan);
  else withCheckOut<u8>(plan);
}

function poolWithCheckOut<CO>(plan: usize): void {
  if (ptr(plan, UNBLIND_AT)) poolWithUnblind<CO, u16>(plan);
  else poolWithUnblind<CO, u8>(plan);
}
function poolWithUnblind<CO, UB>(plan: usize): void {
  if (ptr(plan, CHECK_TA)) poolWithCheckIn<CO, UB, u16>(plan);
  else poolWithCheckIn<CO, UB, u8>(plan);
}
function poolWithCheckIn<CO, UB, CI>(plan: usize): void {
  if (ptr(plan, PAD_AT)) poolPass<CO, UB, CI, u16>(plan);
  else poolPass<CO, UB, CI, u8>(plan);
}

function withCheckOut<CO>(plan: usize): void {
  if (ptr(plan, UNBLIND_AT)) withUnblind<CO, u16>(plan);
  else withUnblind<CO, u8>(plan);
}
function withUnblind<CO, UB>(plan: usize): void {
  if (ptr(plan, CHECK_TA)) withCheckIn<CO, UB, u16>(plan);
  else withCheckIn<CO, UB, u8>(plan);
}
function withCheckIn<CO, UB, CI>(plan: usize): void {
  if (ptr(plan, PAD_AT)) withPad<CO, UB, CI, u16>(plan);
  else withPad<CO, UB, CI, u8>(plan);
}
function withPad<CO, UB, CI, PD>(plan: usize): void {
  if (int(plan, SHIFT) < 0) linearPass<u8, u8, CO, UB, CI, PD, u16>(plan);
  else linearPass<u8, u8, CO, UB, CI, PD, u8>(plan);
}
/** A float source (FLOATS on) or residues as they are (off): nothing of a reply's steps. */
function fromSource<FLOATS>(plan: usize): void {
  if (ptr(plan, CHECK_TA)) {
    if (ptr(plan, PAD_AT)) linearPass<u16, FLOATS, u8, u8, u16, u16, u8>(plan);
    else linearPass<u16, FLOATS, u8, u8, u16, u8, u8>(plan);
  } else if (ptr(plan, PAD_AT)) linearPass<u16, FLOATS, u8, u8, u8, u16, u8>(plan);
  else linearPass<u16, FLOATS, u8, u8, u8, u8, u8>(plan);
}

/**
 * The loop, instantiated per combination: NOT_REPLY (a float or residue source), FLOATS (which),
 * CO (output side), UB (unblinding), CI (input side), PD (pad), FL (float outputs).
 */
// @ts-ignore: decorator
@inline
function linearPass<NOT_REPLY, FLOATS, CO, UB, CI, PD, FL>(plan: usize): void {
  const src = ptr(plan, SOURCE_AT);
  const rows = int(plan, ROWS);
  const len = int(plan, ROW_LEN);
  const sa = ptr(plan, CHECK_SA);
  const sb = ptr(plan, CHECK_SB);
  const sums = ptr(plan, CHECK_SUMS);
  const u = ptr(plan, UNBLIND_AT);
  const bias = ptr(plan, BIAS_AT);
  const perColumn = int(plan, BIAS_PER_COLUMN) != 0;
  const channels = int(plan, CHANNELS);
  const lo = int(plan, LO);
  const hi = int(plan, HI);
  const shift = int(plan, SHIFT);
  const dequant = field(plan, DEQUANT);
  const addend = ptr(plan, ADDEND_AT);
  const relu = int(plan, RELU) != 0;
  const floatOut = ptr(plan, FLOAT_OUT_AT);
  const quantScale = field(plan, QUANT_SCALE);
  const next = ptr(plan, NEXT_AT);
  const item = int(plan, NEXT_ITEM);
  const ta = ptr(plan, CHECK_TA);
  const tb = ptr(plan, CHECK_TB);
  const dots = ptr(plan, CHECK_DOTS);
  const ks = ptr(plan, PAD_AT);

  const reply = !on<NOT_REPLY>();
  const asIs = on<NOT_REPLY>() && !on<FLOATS>();
  const produces = next != 0 || ta != 0 || ks != 0;
  const requant = reply && (produces || floatOut != 0);
  const toFloat = on<FL>();
  const half = shift > 0 ? 1 << (shift - 1) : 0;
  const top = i32x4.splat(P - 1);
  const pv = i32x4.splat(P);
  const lov = i32x4.splat(lo);
  const hiv = i32x4.splat(hi);
  const dq = f64x2.splat(dequant);
  const zero = f64x2.splat(0.0);

  let badLanes = i32x4.splat(0);
  let bad = false;
  let worstLanes = i32x4.splat(0);
  let worst = 0;
  let maxLanes = i32x4.splat(0);
  let nextMax = 0;
  let rp = ks;
  let j = 0; // next-layer values produced
  let inItem = 0; // their position in the current item
  let items = 0;
  let itemA: u64 = 0;
  let itemB: u64 = 0;

  for (let row = 0; row < rows; row++) {
    const base = row * len;
    const b = bias == 0 || perColumn ? -P : load<i32>(bias + (<usize>(row % channels) << 2)) - P;
    const bRow = i32x4.splat(b);
    let rowA: u64 = 0;
    let rowB: u64 = 0;
    let q = 0;
    while (q < len) {
      const stop = min(len, q + SEGMENT);
      let oa = i64x2.splat(0);
      let ob = i64x2.splat(0);
      let ia = i64x2.splat(0);
      let ib = i64x2.splat(0);
      for (; q + 4 <= stop; q += 4) {
        const i = base + q;
        let x = i32x4.splat(0);
        let qv = i32x4.splat(0);
        if (reply) {
          const y = v128.load(src + (<usize>i << 2));
          badLanes = v128.or(badLanes, i32x4.gt_u(y, top));
          if (on<CO>()) {
            oa = dot4(oa, y, v128.load(sa + (<usize>q << 2)));
            ob = dot4(ob, y, v128.load(sb + (<usize>q << 2)));
          }
          if (!requant) continue;
          const bv = perColumn && bias != 0 ? i32x4.sub(v128.load(bias + (<usize>q << 2)), pv) : bRow;
          let z = centered4(y, on<UB>() ? u + <usize>(3 * i) : 0, bv);
          worstLanes = i32x4.max_s(worstLanes, i32x4.abs(z));
          z = i32x4.min_s(i32x4.max_s(z, lov), hiv);
          if (!toFloat) {
            qv = shiftRound4(z, half, shift);
          } else {
            let l = f64x2.mul(lowF64(z), dq);
            let h = f64x2.mul(highF64(z), dq);
            if (addend) {
              l = f64x2.add(l, v128.load(addend + (<usize>i << 3)));
              h = f64x2.add(h, v128.load(addend + (<usize>i << 3), 16));
              if (relu) {
                l = f64x2.max(l, zero);
                h = f64x2.max(h, zero);
              }
            }
            if (floatOut) {
              v128.store(floatOut + (<usize>i << 3), l);
              v128.store(floatOut + (<usize>i << 3), h, 16);
            }
            if (!produces) continue;
            qv = roundToGrid4(l, h, quantScale);
          }
          if (!produces) continue;
        } else if (asIs) {
          x = v128.load(src + (<usize>i << 2));
        } else {
          qv = roundToGrid4(v128.load(src + (<usize>i << 3)), v128.load(src + (<usize>i << 3), 16), quantScale);
        }
        if (!asIs) {
          maxLanes = i32x4.max_s(maxLanes, i32x4.abs(qv));
          x = residue4(qv);
        }
        if (on<PD>()) {
          const r = padWords4(rp);
          if (anyRejected(r)) {
            x = padFallback4(x, rp);
            rp += fallbackBytes;
          } else {
            x = addPad4(x, r);
            rp += 12;
          }
        }
        if (on<CI>()) {
          ia = dot4(ia, x, v128.load(ta + (<usize>inItem << 2)));
          ib = dot4(ib, x, v128.load(tb + (<usize>inItem << 2)));
        }
        if (next) v128.store(next + (<usize>j << 2), x);
        j += 4;
        inItem += 4;
      }
      for (; q < stop; q++) {
        const i = base + q;
        let x = 0;
        let qs = 0;
        if (reply) {
          const y = load<u32>(src + (<usize>i << 2));
          if (y >= <u32>P) bad = true;
          if (on<CO>()) {
            rowA += <u64>y * <u64>load<u32>(sa + (<usize>q << 2));
            rowB += <u64>y * <u64>load<u32>(sb + (<usize>q << 2));
          }
          if (!requant) continue;
          const bs = perColumn && bias != 0 ? load<i32>(bias + (<usize>q << 2)) - P : b;
          let z = centered1(<i32>y, on<UB>() ? u + <usize>(3 * i) : 0, bs);
          worst = max(worst, abs(z));
          z = min(max(z, lo), hi);
          if (!toFloat) {
            qs = (z + half) >> shift;
          } else {
            let v = <f64>z * dequant;
            if (addend) {
              v += load<f64>(addend + (<usize>i << 3));
              if (relu) v = Math.max(v, 0.0);
            }
            if (floatOut) store<f64>(floatOut + (<usize>i << 3), v);
            if (!produces) continue;
            qs = roundToGrid1(v, quantScale);
          }
          if (!produces) continue;
        } else if (asIs) {
          x = <i32>load<u32>(src + (<usize>i << 2));
        } else {
          qs = roundToGrid1(load<f64>(src + (<usize>i << 3)), quantScale);
        }
        if (!asIs) {
          nextMax = max(nextMax, abs(qs));
          x = residue1(qs);
        }
        if (on<PD>()) {
          x = pad1(x, rp);
          rp += fallbackBytes;
        }
        if (on<CI>()) {
          itemA += <u64>x * <u64>load<u32>(ta + (<usize>inItem << 2));
          itemB += <u64>x * <u64>load<u32>(tb + (<usize>inItem << 2));
        }
        if (next) store<u32>(next + (<usize>j << 2), x);
        j++;
        inItem++;
      }
      rowA = (rowA % P64) + lanesModP(oa);
      rowB = (rowB % P64) + lanesModP(ob);
      itemA = (itemA % P64) + lanesModP(ia);
      itemB = (itemB % P64) + lanesModP(ib);
    }
    if (on<CO>()) {
      store<u32>(sums + (<usize>row << 3), <u32>(rowA % P64));
      store<u32>(sums + (<usize>row << 3), <u32>(rowB % P64), 4);
    }
    if (on<CI>() && inItem >= item) {
      store<u32>(dots + (<usize>items << 3), <u32>(itemA % P64));
      store<u32>(dots + (<usize>items << 3), <u32>(itemB % P64), 4);
      items++;
      inItem = 0;
      itemA = 0;
      itemB = 0;
    }
  }
  report(plan, bad || v128.any_true(badLanes), max(worst, lanesMax(worstLanes)), max(nextMax, lanesMax(maxLanes)), <i32>(rp - ks));
}
