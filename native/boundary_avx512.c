/*
 * The boundary pass with AVX-512 (F, BW, DQ, VL): sixteen values per step, a row's tail through
 * the same step under a lane mask (masked loads neither read nor fault past the mask, masked
 * stores write nothing past it), so it reads no more than the portable path reads, packed words
 * aside (load_packed16). The
 * loop and the per-value math are boundary_portable.c's (value.h): only the width differs.
 *
 * Freivalds' products use vpmuludq (32×32 → 64 bits, two per u64 lane per sixteen values): the
 * 52-bit IFMA multiply-add (vpmadd52luq) would take the same number of instructions here, since
 * its operands must first be split into 64-bit lanes just the same, so it is not used.
 *
 * Bounds: as boundary_portable.c (plan_check), lane by lane under the masks; packed words as
 * load_packed16 says; the keystream cursor is checked against the memory's end before each step.
 */
#if defined(__x86_64__)
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl")
#include <immintrin.h>
#include "value.h"

#define V INLINE

struct lanes {
  __m512i bad, worst, next_max;
};

V __mmask16 mask_of(int64_t count) { return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1); }

V __m512i splat(int32_t v) { return _mm512_set1_epi32(v); }

/* Loads and stores under mask k: plain ones for a full step (masked ones cost more on some cores). */
V __m512i load16(__mmask16 k, const void *at) { return k == 0xFFFF ? _mm512_loadu_si512(at) : _mm512_maskz_loadu_epi32(k, at); }
V void store16(__mmask16 k, void *at, __m512i v) {
  if (k == 0xFFFF) _mm512_storeu_si512(at, v);
  else _mm512_mask_storeu_epi32(at, k, v);
}
V __m512d load8d(__mmask8 k, const double *at) { return k == 0xFF ? _mm512_loadu_pd(at) : _mm512_maskz_loadu_pd(k, at); }
V void store8d(__mmask8 k, double *at, __m512d v) {
  if (k == 0xFF) _mm512_storeu_pd(at, v);
  else _mm512_mask_storeu_pd(at, k, v);
}

V __m512i residue16(__m512i q) { return _mm512_mask_add_epi32(q, _mm512_movepi32_mask(q), q, splat(P)); }

/*
 * `count` ≤ 16 packed 24-bit words at `at` as u32 lanes: a full step reads 64 bytes (16 past the
 * 48 it uses: the plan promises 16 readable bytes past u, and the keystream's caller checks its
 * room), a row's tail exactly 3·count bytes, under a byte mask.
 */
V __m512i load_packed16(const uint8_t *at, int64_t count) {
  __m512i v = count >= 16 ? _mm512_loadu_si512(at) : _mm512_maskz_loadu_epi8(((__mmask64)1 << (3 * count)) - 1, at);
  v = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 1, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9, 9, 10, 11, 12), v);
  const __m512i spread = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1));
  return _mm512_shuffle_epi8(v, spread);
}

/* acc + Σ x·w over the sixteen lanes, two products per u64 lane. */
V __m512i dot16(__m512i acc, __m512i x, __m512i w) {
  acc = _mm512_add_epi64(acc, _mm512_mul_epu32(x, w));
  return _mm512_add_epi64(acc, _mm512_mul_epu32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(w, 32)));
}

/* (sum + Σ lanes) mod p: the lanes hold one segment's products (< 2^63 together, plan.h). */
V uint64_t fold(uint64_t sum, __m512i acc) { return (sum + (uint64_t)_mm512_reduce_add_epi64(acc)) % P; }

/* Centered z for sixteen reply residues y, minus packed u (when u ≠ NULL), plus bv = b̃ − p. */
V __m512i centered16(__m512i y, const uint8_t *u, int64_t count, __m512i bv) {
  __m512i z = _mm512_add_epi32(y, bv);
  if (u) z = _mm512_sub_epi32(z, load_packed16(u, count));
  z = residue16(residue16(z));
  return _mm512_mask_sub_epi32(z, _mm512_cmpgt_epi32_mask(z, splat(HALF_P)), z, splat(P));
}

/* Sixteen doubles (two halves) onto the grid: floor(v·s + 0.5), lanes no int32 holds flagged and saturated. */
V __m512i round16(__m512d lo, __m512d hi, double scale, __mmask16 k, int *inexact) {
  const __m512d s = _mm512_set1_pd(scale), half = _mm512_set1_pd(0.5), limit = _mm512_set1_pd(2147483648.0);
  const __m512d a = _mm512_roundscale_pd(_mm512_add_pd(_mm512_mul_pd(lo, s), half), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __m512d b = _mm512_roundscale_pd(_mm512_add_pd(_mm512_mul_pd(hi, s), half), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __mmask16 ok = (__mmask16)(_mm512_cmp_pd_mask(_mm512_abs_pd(a), limit, _CMP_LT_OQ) | (_mm512_cmp_pd_mask(_mm512_abs_pd(b), limit, _CMP_LT_OQ) << 8));
  if ((ok & k) == k) return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvttpd_epi32(a)), _mm512_cvttpd_epi32(b), 1);
  *inexact = 1;
  double q[16];
  int32_t out[16];
  _mm512_storeu_pd(q, a);
  _mm512_storeu_pd(q + 8, b);
  for (int l = 0; l < 16; l++) out[l] = trunc_sat1(q[l]);
  return _mm512_loadu_si512(out);
}

/* The next layer's steps for sixteen values (count of them live): as emit1, lane by lane. */
V void emit16(const struct plan *pl, struct emit_state *s, struct lanes *m, __m512i v, __mmask16 k, int64_t count, int as_is, __m512i *ia, __m512i *ib) {
  __m512i x = v;
  if (!as_is) {
    m->next_max = _mm512_mask_max_epi32(m->next_max, k, m->next_max, _mm512_abs_epi32(v));
    x = residue16(v);
  }
  if (pl->ks) {
    const int room = s->rp + (count >= 16 ? 64 : 3 * count) <= pl->ks_end;
    const __m512i r = room ? load_packed16(s->rp, count) : _mm512_setzero_si512();
    if (room && !_mm512_mask_cmpgt_epi32_mask(k, r, splat(P - 1))) {
      const __m512i d = _mm512_sub_epi32(_mm512_add_epi32(x, r), splat(P));
      x = residue16(d);
      s->rp += 3 * count;
    } else {
      /* A rejected word (or the memory's end) among these: word by word, as the portable path. */
      int32_t lane[16];
      _mm512_storeu_si512(lane, x);
      for (int64_t l = 0; l < count; l++) lane[l] = pad1(lane[l], s, pl->ks_end);
      x = _mm512_loadu_si512(lane);
    }
  }
  if (pl->ta) {
    *ia = dot16(*ia, x, load16(k, pl->ta + s->in_item));
    *ib = dot16(*ib, x, load16(k, pl->tb + s->in_item));
  }
  if (pl->next) store16(k, pl->next + s->j, x);
  if (pl->wire) store16(k, pl->wire + s->j, x);
  s->j += count;
  s->in_item += count;
}

V int32_t lanes_max(__m512i v) { return _mm512_reduce_max_epi32(v); }

V void finish(const struct plan *pl, const struct emit_state *s, const struct lanes *m, int32_t worst, struct findings *out) {
  *out = (struct findings){
    .bad = _mm512_test_epi32_mask(m->bad, m->bad) != 0,
    .worst = max1(worst, lanes_max(m->worst)),
    .next_max = max1(s->next_max, lanes_max(m->next_max)),
    .inexact = s->inexact,
    .pad_bytes = s->rp - pl->ks,
    .out_of_bounds = s->out_of_bounds,
  };
}

static void linear_pass(const struct plan *plan, struct findings *out) {
  /* A local copy: the pass's stores (u32, f64) cannot alias it, so its fields stay in registers. */
  const struct plan local = *plan, *pl = &local;
  const int reply = pl->source == SOURCE_REPLY;
  const int as_is = pl->source == SOURCE_RESIDUES;
  const int requant = reply && (produces(pl) || pl->float_out != NULL);
  const int32_t half = pl->shift > 0 ? 1 << (pl->shift - 1) : 0;
  const __m128i shift = _mm_cvtsi32_si128(pl->shift < 0 ? 0 : pl->shift);
  const __m512d dq = _mm512_set1_pd(pl->dequant), zero = _mm512_setzero_pd();
  const int64_t len = pl->len;
  struct emit_state s = {.rp = pl->ks};
  struct lanes m = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};

  for (int32_t row = 0; row < pl->rows && !s.out_of_bounds; row++) {
    const int64_t base = (int64_t)row * len;
    const __m512i b_row = splat(row_bias(pl, row));
    uint64_t row_a = 0, row_b = 0;
    for (int64_t q0 = 0; q0 < len; q0 += SCALAR_SEGMENT) {
      const int64_t stop = q0 + SCALAR_SEGMENT < len ? q0 + SCALAR_SEGMENT : len;
      __m512i oa = _mm512_setzero_si512(), ob = oa, ia = oa, ib = oa;
      for (int64_t q = q0; q < stop; q += 16) {
        const int64_t i = base + q, count = stop - q < 16 ? stop - q : 16;
        const __mmask16 k = mask_of(count);
        __m512i v;
        if (reply) {
          const __m512i y = load16(k, pl->src + 4 * i);
          m.bad = _mm512_or_si512(m.bad, _mm512_movm_epi32(_mm512_mask_cmpgt_epu32_mask(k, y, splat(P - 1))));
          if (pl->sa) {
            oa = dot16(oa, y, load16(k, pl->sa + q));
            ob = dot16(ob, y, load16(k, pl->sb + q));
          }
          if (!requant) continue;
          const __m512i bv = pl->per_column && pl->bias ? _mm512_sub_epi32(load16(k, pl->bias + q), splat(P)) : b_row;
          __m512i z = centered16(y, pl->u ? pl->u + 3 * i : NULL, count, bv);
          m.worst = _mm512_mask_max_epi32(m.worst, k, m.worst, _mm512_abs_epi32(z));
          z = _mm512_min_epi32(_mm512_max_epi32(z, splat(pl->lo)), splat(pl->hi));
          if (pl->shift >= 0) {
            v = _mm512_sra_epi32(_mm512_add_epi32(z, splat(half)), shift);
          } else {
            const __mmask8 kl = (__mmask8)k, kh = (__mmask8)(k >> 8);
            __m512d l = _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(z)), dq);
            __m512d h = _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(z, 1)), dq);
            if (pl->addend) {
              l = _mm512_add_pd(l, load8d(kl, pl->addend + i));
              h = _mm512_add_pd(h, load8d(kh, pl->addend + i + 8));
              if (pl->relu) {
                /* f64.max(v, 0): v where v > 0 or v is NaN, else +0. */
                l = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(l, zero, _CMP_NLE_UQ), zero, l);
                h = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(h, zero, _CMP_NLE_UQ), zero, h);
              }
            }
            if (pl->float_out) {
              store8d(kl, pl->float_out + i, l);
              store8d(kh, pl->float_out + i + 8, h);
            }
            if (!produces(pl)) continue;
            v = round16(l, h, pl->quant_scale, k, &s.inexact);
          }
          if (!produces(pl)) continue;
        } else if (as_is) {
          v = load16(k, pl->src + 4 * i);
        } else {
          const double *f = (const double *)(pl->src + 8 * i);
          v = round16(load8d((__mmask8)k, f), load8d((__mmask8)(k >> 8), f + 8), pl->quant_scale, k, &s.inexact);
        }
        emit16(pl, &s, &m, v, k, count, as_is, &ia, &ib);
        if (s.out_of_bounds) break;
      }
      row_a = fold(row_a, oa);
      row_b = fold(row_b, ob);
      s.item_a = fold(s.item_a, ia);
      s.item_b = fold(s.item_b, ib);
    }
    if (pl->sa) {
      pl->sums[2 * row] = (uint32_t)row_a;
      pl->sums[2 * row + 1] = (uint32_t)row_b;
    }
    end_row_items(pl, &s);
  }
  finish(pl, &s, &m, 0, out);
}

/* 2×2 max pool: sixteen results per step from 32 columns of a pair of rows. */
static void pool_pass(const struct plan *plan, struct findings *out) {
  const struct plan local = *plan, *pl = &local;
  const int requant = produces(pl) || pl->float_out != NULL;
  const int32_t half = pl->shift > 0 ? 1 << (pl->shift - 1) : 0;
  const __m128i shift = _mm_cvtsi32_si128(pl->shift < 0 ? 0 : pl->shift);
  const __m512d dq = _mm512_set1_pd(pl->dequant);
  const int64_t len = pl->len, width = pl->pool_width, height = len / width, out_width = width >> 1;
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odds = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  struct emit_state s = {.rp = pl->ks};
  struct lanes m = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};

  for (int32_t plane = 0; plane < pl->rows && !s.out_of_bounds; plane++) {
    const int64_t base = (int64_t)plane * len;
    const __m512i bv = splat(pl->bias == NULL ? -P : pl->bias[plane % pl->channels] - P);
    uint64_t row_a = 0, row_b = 0;
    /*
     * Products since the last fold: a pair adds 2·width ≤ 2^15 to each sum (plan_check), so the sums
     * fold before a pair would take them past SCALAR_SEGMENT, and at the plane's end.
     */
    __m512i oa = _mm512_setzero_si512(), ob = oa, ia = oa, ib = oa;
    int64_t pending = 0;
    for (int64_t pair = 0; pair < height >> 1 && !s.out_of_bounds; pair++) {
      const int64_t t = 2 * pair * width;
      if (pending + 2 * width > SCALAR_SEGMENT) {
        row_a = fold(row_a, oa);
        row_b = fold(row_b, ob);
        s.item_a = fold(s.item_a, ia);
        s.item_b = fold(s.item_b, ib);
        oa = ob = ia = ib = _mm512_setzero_si512();
        pending = 0;
      }
      pending += 2 * width;
      for (int64_t o = 0; o < out_width; o += 16) {
        const int64_t count = out_width - o < 16 ? out_width - o : 16;
        const int64_t c = t + 2 * o, i = base + c;
        const int64_t n0 = 2 * count < 16 ? 2 * count : 16, n1 = 2 * count - n0;
        const __mmask16 k = mask_of(count), k0 = mask_of(n0), k1 = mask_of(n1);
        const uint8_t *top = pl->src + 4 * i, *bottom = pl->src + 4 * (i + width);
        const __m512i t0 = load16(k0, top), t1 = load16(k1, top + 64);
        const __m512i b0 = load16(k0, bottom), b1 = load16(k1, bottom + 64);
        const __m512i over = splat(P - 1);
        const __mmask16 bad0 = _mm512_mask_cmpgt_epu32_mask(k0, t0, over) | _mm512_mask_cmpgt_epu32_mask(k0, b0, over);
        const __mmask16 bad1 = _mm512_mask_cmpgt_epu32_mask(k1, t1, over) | _mm512_mask_cmpgt_epu32_mask(k1, b1, over);
        m.bad = _mm512_or_si512(m.bad, _mm512_movm_epi32(bad0 | bad1));
        if (pl->sa) {
          const uint32_t *sa = pl->sa + c, *sb = pl->sb + c;
          oa = dot16(dot16(oa, t0, load16(k0, sa)), t1, load16(k1, sa + 16));
          oa = dot16(dot16(oa, b0, load16(k0, sa + width)), b1, load16(k1, sa + width + 16));
          ob = dot16(dot16(ob, t0, load16(k0, sb)), t1, load16(k1, sb + 16));
          ob = dot16(dot16(ob, b0, load16(k0, sb + width)), b1, load16(k1, sb + width + 16));
        }
        if (!requant) continue;
        const uint8_t *u = pl->u;
        const __m512i ct0 = centered16(t0, u ? u + 3 * i : NULL, n0, bv);
        const __m512i ct1 = centered16(t1, u ? u + 3 * (i + 16) : NULL, n1, bv);
        const __m512i cb0 = centered16(b0, u ? u + 3 * (i + width) : NULL, n0, bv);
        const __m512i cb1 = centered16(b1, u ? u + 3 * (i + width + 16) : NULL, n1, bv);
        m.worst = _mm512_mask_max_epi32(m.worst, k0, m.worst, _mm512_max_epi32(_mm512_abs_epi32(ct0), _mm512_abs_epi32(cb0)));
        m.worst = _mm512_mask_max_epi32(m.worst, k1, m.worst, _mm512_max_epi32(_mm512_abs_epi32(ct1), _mm512_abs_epi32(cb1)));
        const __m512i m0 = _mm512_max_epi32(ct0, cb0), m1 = _mm512_max_epi32(ct1, cb1);
        __m512i z = _mm512_max_epi32(_mm512_permutex2var_epi32(m0, evens, m1), _mm512_permutex2var_epi32(m0, odds, m1));
        z = _mm512_min_epi32(_mm512_max_epi32(z, splat(pl->lo)), splat(pl->hi));
        if (pl->shift < 0) {
          if (pl->float_out) {
            store8d((__mmask8)k, pl->float_out + s.j, _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(z)), dq));
            store8d((__mmask8)(k >> 8), pl->float_out + s.j + 8, _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(z, 1)), dq));
          }
          s.j += count;
          continue;
        }
        emit16(pl, &s, &m, _mm512_sra_epi32(_mm512_add_epi32(z, splat(half)), shift), k, count, 0, &ia, &ib);
        if (s.out_of_bounds) break;
      }
    }
    row_a = fold(row_a, oa);
    row_b = fold(row_b, ob);
    s.item_a = fold(s.item_a, ia);
    s.item_b = fold(s.item_b, ib);
    if (pl->sa) {
      pl->sums[2 * plane] = (uint32_t)row_a;
      pl->sums[2 * plane + 1] = (uint32_t)row_b;
    }
    end_row_items(pl, &s);
  }
  finish(pl, &s, &m, 0, out);
}

void boundary_avx512(const struct plan *pl, struct findings *out) {
  if (pl->pool_width > 0) pool_pass(pl, out);
  else linear_pass(pl, out);
}
#endif
