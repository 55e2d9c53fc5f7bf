/**
 * The boundary pass (boundary.ts) for a layer whose activation feeds a 2×2 max pool with stride 2:
 * rows are the output planes, read as pairs of image rows, and every four values of a window give
 * one result. Max commutes with the clamp, the dequantization (a positive scale) and the rounding
 * shift (all monotone), so pooling the integers gives the values the separate passes give; the
 * magnitude covers every value before the pool, Freivalds' output side every value the accelerator
 * sent, the next layer's steps every pooled result. Planes have an even height and width.
 */
import {
  BIAS_AT, CHANNELS, CHECK_DOTS, CHECK_SA, CHECK_SB, CHECK_SUMS, CHECK_TA, CHECK_TB, DEQUANT, FLOAT_OUT_AT, HI, LO, NEXT_AT, NEXT_ITEM,
  PAD_AT, POOL_WIDTH, ROW_LEN, ROWS, SHIFT, SOURCE_AT, UNBLIND_AT,
} from '../boundary-fields';
import { addPad4, anyRejected, fallbackBytes, pad1, padFallback4, padWords4 } from './blind';
import { field, int, on, ptr, report } from './boundary';
import { lanesMax, lanesModP, P, P64, residue1, residue4 } from './common';
import { dot4 } from './freivalds';
import { centered1, centered4, highF64, lowF64, shiftRound4 } from './requantize';

// @ts-ignore: decorator
@inline
export function poolPass<CO, UB, CI, PD>(plan: usize): void {
  const src = ptr(plan, SOURCE_AT);
  const planes = int(plan, ROWS);
  const len = int(plan, ROW_LEN);
  const width = int(plan, POOL_WIDTH);
  const height = len / width;
  const outWidth = width >> 1;
  const sa = ptr(plan, CHECK_SA);
  const sb = ptr(plan, CHECK_SB);
  const sums = ptr(plan, CHECK_SUMS);
  const u = ptr(plan, UNBLIND_AT);
  const bias = ptr(plan, BIAS_AT);
  const channels = int(plan, CHANNELS);
  const lo = int(plan, LO);
  const hi = int(plan, HI);
  const shift = int(plan, SHIFT);
  const dequant = field(plan, DEQUANT);
  const floatOut = ptr(plan, FLOAT_OUT_AT);
  const next = ptr(plan, NEXT_AT);
  const item = int(plan, NEXT_ITEM);
  const ta = ptr(plan, CHECK_TA);
  const tb = ptr(plan, CHECK_TB);
  const dots = ptr(plan, CHECK_DOTS);
  const ks = ptr(plan, PAD_AT);

  const produces = next != 0 || ta != 0 || ks != 0;
  const requant = produces || floatOut != 0;
  const toFloat = shift < 0;
  const half = shift > 0 ? 1 << (shift - 1) : 0;
  const top = i32x4.splat(P - 1);
  const lov = i32x4.splat(lo);
  const hiv = i32x4.splat(hi);
  const dq = f64x2.splat(dequant);

  let badLanes = i32x4.splat(0);
  let bad = false;
  let worstLanes = i32x4.splat(0);
  let worst = 0;
  let maxLanes = i32x4.splat(0);
  let nextMax = 0;
  let rp = ks;
  let j = 0;
  let inItem = 0;
  let items = 0;
  let itemA: u64 = 0;
  let itemB: u64 = 0;

  for (let plane = 0; plane < planes; plane++) {
    const base = plane * len;
    const b = bias == 0 ? -P : load<i32>(bias + (<usize>(plane % channels) << 2)) - P;
    const bv = i32x4.splat(b);
    let rowA: u64 = 0;
    let rowB: u64 = 0;
    for (let pair = 0; pair < height >> 1; pair++) {
      const t = 2 * pair * width; // the pair's first value in the plane
      let oa = i64x2.splat(0);
      let ob = i64x2.splat(0);
      let ia = i64x2.splat(0);
      let ib = i64x2.splat(0);
      let o = 0;
      // Eight columns of both rows give four results.
      for (; o + 4 <= outWidth; o += 4) {
        const c = t + 2 * o;
        const i = base + c;
        const t0 = v128.load(src + (<usize>i << 2));
        const t1 = v128.load(src + (<usize>i << 2), 16);
        const b0 = v128.load(src + (<usize>(i + width) << 2));
        const b1 = v128.load(src + (<usize>(i + width) << 2), 16);
        badLanes = v128.or(badLanes, v128.or(v128.or(i32x4.gt_u(t0, top), i32x4.gt_u(t1, top)), v128.or(i32x4.gt_u(b0, top), i32x4.gt_u(b1, top))));
        if (on<CO>()) {
          oa = dot4(dot4(dot4(dot4(oa, t0, v128.load(sa + (<usize>c << 2))), t1, v128.load(sa + (<usize>c << 2), 16)), b0, v128.load(sa + (<usize>(c + width) << 2))), b1, v128.load(sa + (<usize>(c + width) << 2), 16));
          ob = dot4(dot4(dot4(dot4(ob, t0, v128.load(sb + (<usize>c << 2))), t1, v128.load(sb + (<usize>c << 2), 16)), b0, v128.load(sb + (<usize>(c + width) << 2))), b1, v128.load(sb + (<usize>(c + width) << 2), 16));
        }
        if (!requant) continue;
        const ct0 = centered4(t0, on<UB>() ? u + <usize>(3 * i) : 0, bv);
        const ct1 = centered4(t1, on<UB>() ? u + <usize>(3 * (i + 4)) : 0, bv);
        const cb0 = centered4(b0, on<UB>() ? u + <usize>(3 * (i + width)) : 0, bv);
        const cb1 = centered4(b1, on<UB>() ? u + <usize>(3 * (i + width + 4)) : 0, bv);
        worstLanes = i32x4.max_s(worstLanes, i32x4.max_s(i32x4.max_s(i32x4.abs(ct0), i32x4.abs(ct1)), i32x4.max_s(i32x4.abs(cb0), i32x4.abs(cb1))));
        const m0 = i32x4.max_s(ct0, cb0);
        const m1 = i32x4.max_s(ct1, cb1);
        const evens = i8x16.shuffle(m0, m1, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
        const odds = i8x16.shuffle(m0, m1, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
        const z = i32x4.min_s(i32x4.max_s(i32x4.max_s(evens, odds), lov), hiv);
        if (toFloat) {
          if (floatOut) {
            v128.store(floatOut + (<usize>j << 3), f64x2.mul(lowF64(z), dq));
            v128.store(floatOut + (<usize>j << 3), f64x2.mul(highF64(z), dq), 16);
          }
          j += 4;
          continue;
        }
        const qv = shiftRound4(z, half, shift);
        maxLanes = i32x4.max_s(maxLanes, i32x4.abs(qv));
        let x = residue4(qv);
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
      for (; o < outWidth; o++) {
        const c = t + 2 * o;
        let m = -P;
        for (let k = 0; k < 4; k++) {
          const at = k < 2 ? c + k : c + width + k - 2;
          const y = load<u32>(src + (<usize>(base + at) << 2));
          if (y >= <u32>P) bad = true;
          if (on<CO>()) {
            rowA += <u64>y * <u64>load<u32>(sa + (<usize>at << 2));
            rowB += <u64>y * <u64>load<u32>(sb + (<usize>at << 2));
          }
          if (!requant) continue;
          const zk = centered1(<i32>y, on<UB>() ? u + <usize>(3 * (base + at)) : 0, b);
          worst = max(worst, abs(zk));
          m = max(m, zk);
        }
        if (!requant) continue;
        const z = min(max(m, lo), hi);
        if (toFloat) {
          if (floatOut) store<f64>(floatOut + (<usize>j << 3), <f64>z * dequant);
          j++;
          continue;
        }
        const qs = (z + half) >> shift;
        nextMax = max(nextMax, abs(qs));
        // The next layer's grid, pad and input side, as in boundary.ts's tail: written out again because
        // AssemblyScript cannot share a loop body that updates six of the loop's locals without a round
        // trip through memory on every value.
        let x = residue1(qs);
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
      store<u32>(sums + (<usize>plane << 3), <u32>(rowA % P64));
      store<u32>(sums + (<usize>plane << 3), <u32>(rowB % P64), 4);
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
