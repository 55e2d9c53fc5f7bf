/**
 * WGSL shared by every exact kernel: p, the limb split of a residue and the fold of two limb sums
 * into a running residue — the arithmetic whose exactness limbs.ts proves. Kept in one place so the
 * kernels cannot drift apart from the proof.
 */
import { P } from '../../../field/prime.js';
import { LIMB_BITS, LIMB_MAX } from '../limbs.js';

/** WGSL: `P`, `limbs(x)` → vec2<i32>(x_l, x_h), `fold(t, lo, hi)` → (t + lo + hi·2^12) mod p. */
export const FIELD_WGSL = /* wgsl */ `
const P: u32 = ${P}u;

// x in [0, p) as (x_l, x_h), each in [0, ${LIMB_MAX}].
fn limbs(x: u32) -> vec2<i32> {
  return vec2<i32>(i32(x & ${LIMB_MAX}u), i32(x >> ${LIMB_BITS}u));
}

// a mod p in [0, p) for |a| < 2^31 (WGSL's i32 % truncates towards zero).
fn residue(a: i32) -> u32 {
  var r = a % i32(P);
  if (r < 0) { r += i32(P); }
  return u32(r);
}

// (t + lo + hi·2^12) mod p for t in [0, p), |lo|, |hi| < 2^31: b·2^12 ≡ 3·(b >> 12) + (b & 4095)·2^12
// since 2^24 ≡ 3 (mod p); every intermediate stays below 2^26.
fn fold(t: u32, lo: i32, hi: i32) -> u32 {
  let b = residue(hi);
  let shifted = ((b >> ${LIMB_BITS}u) * 3u + ((b & ${LIMB_MAX}u) << ${LIMB_BITS}u)) % P;
  return (t + residue(lo) + shifted) % P;
}
`;

/**
 * WGSL of the dot4 scheme (dot4.ts), shared by its kernels: `planes(q)` packs four residues' byte
 * planes, `quadProducts(a, b)` and `quadSums(a)` are one quad's increments of the sums C0…C3 and
 * S0…S2, and `fold4(t, c, s)` → (t + c.x + c.y·2^8 + c.z·2^16 + c.w·2^24 − 2^15·(s.x + s.y·2^8 +
 * s.z·2^16)) mod p for t in [0, p) and any u32 sums c, s.
 */
export const DOT4_FIELD_WGSL = /* wgsl */ `
const P: u32 = ${P}u;

// Four residues (< 2^24) as three u32: byte i of each, residue t in byte t.
fn planes(q: vec4<u32>) -> vec3<u32> {
  let m = vec4<u32>(255u);
  return vec3<u32>(pack4xU8(q & m), pack4xU8((q >> vec4<u32>(8u)) & m), pack4xU8((q >> vec4<u32>(16u)) & m));
}

// One quad of taps: x's byte planes a against w + 2^15's low and high byte quads b, grouped by power of 2^8.
fn quadProducts(a: vec3<u32>, b: vec2<u32>) -> vec4<u32> {
  return vec4<u32>(
    dot4U8Packed(a.x, b.x),
    dot4U8Packed(a.y, b.x) + dot4U8Packed(a.x, b.y),
    dot4U8Packed(a.z, b.x) + dot4U8Packed(a.y, b.y),
    dot4U8Packed(a.z, b.y));
}

// One quad's Σ of each byte plane (for the offset).
fn quadSums(a: vec3<u32>) -> vec3<u32> {
  let ones = 0x01010101u;
  return vec3<u32>(dot4U8Packed(a.x, ones), dot4U8Packed(a.y, ones), dot4U8Packed(a.z, ones));
}

// (r·2^8) mod p for r in [0, p): r·2^8 < 2^32.
fn shift8(r: u32) -> u32 {
  return (r << 8u) % P;
}

// (r·2^8 + c) mod p for r in [0, p), any u32 c: the sum of two residues is below 2p.
fn horner8(r: u32, c: u32) -> u32 {
  return (shift8(r) + c % P) % P;
}

fn fold4(t: u32, c: vec4<u32>, s: vec3<u32>) -> u32 {
  let r = horner8(horner8(horner8(c.w % P, c.z), c.y), c.x);
  // 2^15·Σx = (Σx·2^8)·2^7: both steps stay below 2^32.
  let sx = shift8(horner8(horner8(s.z % P, s.y), s.x));
  let offset = (sx << 7u) % P;
  return (t + r + P - offset) % P;
}
`;

/** `n` copies of `line(i)`, one per line. */
export function unrolled(n: number, line: (i: number) => string, indent = '    '): string {
  return Array.from({ length: n }, (_, i) => indent + line(i)).join('\n');
}
