/**
 * Blinding (owner: src/blind/keystream.ts, which states the pad's derivation): x + r mod p with r
 * the keystream's 24-bit little-endian words, those ≥ p dropped (rejection sampling keeps r
 * uniform), so the word for value i is not at a fixed place once a word was dropped: the pass
 * keeps a byte cursor into the keystream.
 */
import { loadPacked1, loadPacked4, P } from './common';

/** Keystream bytes the last padFallback4 consumed (read by its caller only). */
export let fallbackBytes: i32 = 0;

/**
 * x + r for four residues whose four words at `ks` include one ≥ p: word by word, skipping the
 * dropped ones. The caller advances its cursor by fallbackBytes.
 */
// @ts-ignore: decorator
@inline
export function padFallback4(x: v128, ks: usize): v128 {
  let at = ks;
  let out = x;
  for (let lane = 0; lane < 4; lane++) {
    let r = loadPacked1(at);
    at += 3;
    while (r >= P) {
      r = loadPacked1(at);
      at += 3;
    }
    const v = (lane == 0 ? i32x4.extract_lane(x, 0) : lane == 1 ? i32x4.extract_lane(x, 1) : lane == 2 ? i32x4.extract_lane(x, 2) : i32x4.extract_lane(x, 3)) + r - P;
    const d = v + (P & (v >> 31));
    if (lane == 0) out = i32x4.replace_lane(out, 0, d);
    else if (lane == 1) out = i32x4.replace_lane(out, 1, d);
    else if (lane == 2) out = i32x4.replace_lane(out, 2, d);
    else out = i32x4.replace_lane(out, 3, d);
  }
  fallbackBytes = <i32>(at - ks);
  return out;
}

/** The four words at `ks` as an i32x4, or a lane ≥ p among them (the caller tests with anyRejected). */
// @ts-ignore: decorator
@inline
export function padWords4(ks: usize): v128 {
  return loadPacked4(ks);
}

// @ts-ignore: decorator
@inline
export function anyRejected(r: v128): bool {
  return v128.any_true(i32x4.gt_s(r, i32x4.splat(P - 1)));
}

/** x + r mod p for residues x and words r < p. */
// @ts-ignore: decorator
@inline
export function addPad4(x: v128, r: v128): v128 {
  const d = i32x4.sub(i32x4.add(x, r), i32x4.splat(P));
  return i32x4.add(d, v128.and(i32x4.splat(P), i32x4.shr_s(d, 31)));
}

/** One residue x plus the next accepted word at ks; fallbackBytes says how many bytes it took. */
export function pad1(x: i32, ks: usize): i32 {
  let at = ks;
  let r = loadPacked1(at);
  at += 3;
  while (r >= P) {
    r = loadPacked1(at);
    at += 3;
  }
  fallbackBytes = <i32>(at - ks);
  const d = x + r - P;
  return d + (P & (d >> 31));
}

/** Words ≥ p among the n 24-bit words at ks (how many more words rejection sampling needs). Reads 4 bytes past the last. */
export function countRejected(ks: usize, n: i32): i32 {
  const top = i32x4.splat(P - 1);
  let count = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const over = i32x4.gt_s(loadPacked4(ks + <usize>(3 * i)), top);
    if (v128.any_true(over)) count -= i32x4.extract_lane(over, 0) + i32x4.extract_lane(over, 1) + i32x4.extract_lane(over, 2) + i32x4.extract_lane(over, 3);
  }
  for (; i < n; i++) if (loadPacked1(ks + <usize>(3 * i)) >= P) count++;
  return count;
}

/** The first n words < p among the 24-bit words at ks, as u32 residues at out (rejection sampling's output). */
export function wordsToResidues(ks: usize, n: i32, out: usize): void {
  let at = ks;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const r = loadPacked4(at);
    if (anyRejected(r)) break;
    v128.store(out + (<usize>i << 2), r);
    at += 12;
  }
  for (; i < n; i++) {
    let r = loadPacked1(at);
    at += 3;
    while (r >= P) {
      r = loadPacked1(at);
      at += 3;
    }
    store<u32>(out + (<usize>i << 2), <u32>r);
    // Back to four at a time once the rejected word is behind.
    if ((i & 3) == 3) {
      for (; i + 5 <= n; i += 4) {
        const v = loadPacked4(at);
        if (anyRejected(v)) break;
        v128.store(out + (<usize>(i + 1) << 2), v);
        at += 12;
      }
    }
  }
}
