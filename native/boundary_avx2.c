/*
 * The boundary pass with AVX2: eight values per step; a row's last values (fewer than eight) and a
 * pool row's last windows go through the portable steps (value.h), value by value. The loop and the
 * per-value math are boundary_portable.c's: only the width differs.
 *
 * Bounds: as boundary_portable.c (plan_check). Eight packed 24-bit words are read as two 16-byte
 * loads at +0 and +12, 4 bytes past the 24 they use: within the 16 readable bytes the plan promises
 * past u (boundary-fields.ts), and checked against the memory's end for the keystream.
 */
#if defined(__x86_64__)
#pragma GCC target("avx2")
#include <immintrin.h>
#include "value.h"

#define V INLINE

struct lanes {
  __m256i bad, worst, next_max;
};

V __m256i splat(int32_t v) { return _mm256_set1_epi32(v); }

V __m256i residue8(__m256i q) { return _mm256_add_epi32(q, _mm256_and_si256(splat(P), _mm256_srai_epi32(q, 31))); }

/* Eight packed 24-bit words at `at` (28 bytes read) as u32 lanes. */
V __m256i load_packed8(const uint8_t *at) {
  const __m256i v = _mm256_loadu2_m128i((const __m128i *)(at + 12), (const __m128i *)at);
  const __m256i spread = _mm256_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1, 0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
  return _mm256_shuffle_epi8(v, spread);
}

V __m256i load8(const void *at) { return _mm256_loadu_si256((const __m256i *)at); }

/* acc + Σ x·w over the eight lanes, two products per u64 lane. */
V __m256i dot8(__m256i acc, __m256i x, __m256i w) {
  acc = _mm256_add_epi64(acc, _mm256_mul_epu32(x, w));
  return _mm256_add_epi64(acc, _mm256_mul_epu32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(w, 32)));
}

/* (sum + Σ lanes) mod p: the lanes and the scalar sum hold one segment's products (< 2^63 together, plan.h). */
V uint64_t fold(uint64_t sum, __m256i acc) {
  uint64_t l[4];
  _mm256_storeu_si256((__m256i *)l, acc);
  return (sum + l[0] + l[1] + l[2] + l[3]) % P;
}

/* Lanes of y ≥ p (unsigned compare through the sign flip). */
V __m256i over8(__m256i y) {
  const __m256i flip = splat(INT32_MIN);
  return _mm256_cmpgt_epi32(_mm256_xor_si256(y, flip), _mm256_xor_si256(splat(P - 1), flip));
}

V __m256i centered8(__m256i y, const uint8_t *u, __m256i bv) {
  __m256i z = _mm256_add_epi32(y, bv);
  if (u) z = _mm256_sub_epi32(z, load_packed8(u));
  z = residue8(residue8(z));
  return _mm256_sub_epi32(z, _mm256_and_si256(splat(P), _mm256_cmpgt_epi32(z, splat(HALF_P))));
}

V __m256d abs4(__m256d v) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), v); }

/* Eight doubles (two halves) onto the grid, as round16 in boundary_avx512.c. */
V __m256i round8(__m256d lo, __m256d hi, double scale, int *inexact) {
  const __m256d s = _mm256_set1_pd(scale), half = _mm256_set1_pd(0.5), limit = _mm256_set1_pd(2147483648.0);
  const __m256d a = _mm256_floor_pd(_mm256_add_pd(_mm256_mul_pd(lo, s), half));
  const __m256d b = _mm256_floor_pd(_mm256_add_pd(_mm256_mul_pd(hi, s), half));
  const int ok = _mm256_movemask_pd(_mm256_cmp_pd(abs4(a), limit, _CMP_LT_OQ)) & _mm256_movemask_pd(_mm256_cmp_pd(abs4(b), limit, _CMP_LT_OQ));
  if (ok == 0xF) return _mm256_set_m128i(_mm256_cvttpd_epi32(b), _mm256_cvttpd_epi32(a));
  *inexact = 1;
  double q[8];
  int32_t out[8];
  _mm256_storeu_pd(q, a);
  _mm256_storeu_pd(q + 4, b);
  for (int l = 0; l < 8; l++) out[l] = trunc_sat1(q[l]);
  return load8(out);
}

V void emit8(const struct plan *pl, struct emit_state *s, struct lanes *m, __m256i v, int as_is, __m256i *ia, __m256i *ib) {
  __m256i x = v;
  if (!as_is) {
    m->next_max = _mm256_max_epi32(m->next_max, _mm256_abs_epi32(v));
    x = residue8(v);
  }
  if (pl->ks) {
    const int room = s->rp + 28 <= pl->ks_end;
    const __m256i r = room ? load_packed8(s->rp) : _mm256_setzero_si256();
    if (room && _mm256_testz_si256(r, _mm256_cmpgt_epi32(r, splat(P - 1)))) {
      x = residue8(_mm256_sub_epi32(_mm256_add_epi32(x, r), splat(P)));
      s->rp += 24;
    } else {
      /* A rejected word (or the memory's end) among these: word by word, as the portable path. */
      int32_t lane[8];
      _mm256_storeu_si256((__m256i *)lane, x);
      for (int l = 0; l < 8; l++) lane[l] = pad1(lane[l], s, pl->ks_end);
      x = load8(lane);
    }
  }
  if (pl->ta) {
    *ia = dot8(*ia, x, load8(pl->ta + s->in_item));
    *ib = dot8(*ib, x, load8(pl->tb + s->in_item));
  }
  if (pl->next) _mm256_storeu_si256((__m256i *)(pl->next + s->j), x);
  if (pl->wire) _mm256_storeu_si256((__m256i *)(pl->wire + s->j), x);
  s->j += 8;
  s->in_item += 8;
}

V int32_t lanes_max(__m256i v) {
  int32_t l[8];
  _mm256_storeu_si256((__m256i *)l, v);
  int32_t r = l[0];
  for (int k = 1; k < 8; k++) r = max1(r, l[k]);
  return r;
}

V void finish(const struct plan *pl, const struct emit_state *s, const struct lanes *m, const struct pass_state *ps, struct findings *out) {
  *out = (struct findings){
    .bad = ps->bad || !_mm256_testz_si256(m->bad, m->bad),
    .worst = max1(ps->worst, lanes_max(m->worst)),
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
  const __m256d dq = _mm256_set1_pd(pl->dequant), zero = _mm256_setzero_pd();
  const int64_t len = pl->len;
  struct emit_state s = {.rp = pl->ks};
  struct pass_state ps = {0};
  struct lanes m = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};

  for (int32_t row = 0; row < pl->rows && !s.out_of_bounds; row++) {
    const int64_t base = (int64_t)row * len;
    const int32_t b = row_bias(pl, row);
    const __m256i b_row = splat(b);
    ps.row_a = ps.row_b = 0;
    for (int64_t q0 = 0; q0 < len; q0 += SCALAR_SEGMENT) {
      const int64_t stop = q0 + SCALAR_SEGMENT < len ? q0 + SCALAR_SEGMENT : len;
      __m256i oa = _mm256_setzero_si256(), ob = oa, ia = oa, ib = oa;
      int64_t q = q0;
      for (; q + 8 <= stop && !s.out_of_bounds; q += 8) {
        const int64_t i = base + q;
        __m256i v;
        if (reply) {
          const __m256i y = load8(pl->src + 4 * i);
          m.bad = _mm256_or_si256(m.bad, over8(y));
          if (pl->sa) {
            oa = dot8(oa, y, load8(pl->sa + q));
            ob = dot8(ob, y, load8(pl->sb + q));
          }
          if (!requant) continue;
          const __m256i bv = pl->per_column && pl->bias ? _mm256_sub_epi32(load8(pl->bias + q), splat(P)) : b_row;
          __m256i z = centered8(y, pl->u ? pl->u + 3 * i : NULL, bv);
          m.worst = _mm256_max_epi32(m.worst, _mm256_abs_epi32(z));
          z = _mm256_min_epi32(_mm256_max_epi32(z, splat(pl->lo)), splat(pl->hi));
          if (pl->shift >= 0) {
            v = _mm256_sra_epi32(_mm256_add_epi32(z, splat(half)), shift);
          } else {
            __m256d l = _mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(z)), dq);
            __m256d h = _mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(z, 1)), dq);
            if (pl->addend) {
              l = _mm256_add_pd(l, _mm256_loadu_pd(pl->addend + i));
              h = _mm256_add_pd(h, _mm256_loadu_pd(pl->addend + i + 4));
              if (pl->relu) {
                /* f64.max(v, 0): v where v > 0 or v is NaN, else +0. */
                l = _mm256_blendv_pd(zero, l, _mm256_cmp_pd(l, zero, _CMP_NLE_UQ));
                h = _mm256_blendv_pd(zero, h, _mm256_cmp_pd(h, zero, _CMP_NLE_UQ));
              }
            }
            if (pl->float_out) {
              _mm256_storeu_pd(pl->float_out + i, l);
              _mm256_storeu_pd(pl->float_out + i + 4, h);
            }
            if (!produces(pl)) continue;
            v = round8(l, h, pl->quant_scale, &s.inexact);
          }
          if (!produces(pl)) continue;
        } else if (as_is) {
          v = load8(pl->src + 4 * i);
        } else {
          const double *f = (const double *)(pl->src + 8 * i);
          v = round8(_mm256_loadu_pd(f), _mm256_loadu_pd(f + 4), pl->quant_scale, &s.inexact);
        }
        emit8(pl, &s, &m, v, as_is, &ia, &ib);
      }
      for (; q < stop && !s.out_of_bounds; q++) linear_value1(pl, &s, &ps, base + q, (int32_t)q, b, half, requant);
      ps.row_a = fold(ps.row_a, oa);
      ps.row_b = fold(ps.row_b, ob);
      s.item_a = fold(s.item_a, ia);
      s.item_b = fold(s.item_b, ib);
    }
    if (pl->sa) {
      pl->sums[2 * row] = (uint32_t)ps.row_a;
      pl->sums[2 * row + 1] = (uint32_t)ps.row_b;
    }
    end_row_items(pl, &s);
  }
  finish(pl, &s, &m, &ps, out);
}

/* 2×2 max pool: eight results per step from 16 columns of a pair of rows. */
static void pool_pass(const struct plan *plan, struct findings *out) {
  const struct plan local = *plan, *pl = &local;
  const int requant = produces(pl) || pl->float_out != NULL;
  const int32_t half = pl->shift > 0 ? 1 << (pl->shift - 1) : 0;
  const __m128i shift = _mm_cvtsi32_si128(pl->shift < 0 ? 0 : pl->shift);
  const __m256d dq = _mm256_set1_pd(pl->dequant);
  const int64_t len = pl->len, width = pl->pool_width, height = len / width, out_width = width >> 1;
  const __m256i gather = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  struct emit_state s = {.rp = pl->ks};
  struct pass_state ps = {0};
  struct lanes m = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};

  for (int32_t plane = 0; plane < pl->rows && !s.out_of_bounds; plane++) {
    const int64_t base = (int64_t)plane * len;
    const int32_t b = pl->bias == NULL ? -P : pl->bias[plane % pl->channels] - P;
    const __m256i bv = splat(b);
    ps.row_a = ps.row_b = 0;
    /*
     * Products since the last fold: a pair adds 2·width ≤ 2^15 to each sum (plan_check), so the sums
     * fold before a pair would take them past SCALAR_SEGMENT, and at the plane's end.
     */
    __m256i oa = _mm256_setzero_si256(), ob = oa, ia = oa, ib = oa;
    int64_t pending = 0;
    for (int64_t pair = 0; pair < height >> 1 && !s.out_of_bounds; pair++) {
      const int64_t t = 2 * pair * width;
      if (pending + 2 * width > SCALAR_SEGMENT) {
        ps.row_a = fold(ps.row_a, oa);
        ps.row_b = fold(ps.row_b, ob);
        s.item_a = fold(s.item_a, ia);
        s.item_b = fold(s.item_b, ib);
        oa = ob = ia = ib = _mm256_setzero_si256();
        pending = 0;
      }
      pending += 2 * width;
      int64_t o = 0;
      for (; o + 8 <= out_width && !s.out_of_bounds; o += 8) {
        const int64_t c = t + 2 * o, i = base + c;
        const uint8_t *top = pl->src + 4 * i, *bottom = pl->src + 4 * (i + width);
        const __m256i t0 = load8(top), t1 = load8(top + 32), b0 = load8(bottom), b1 = load8(bottom + 32);
        m.bad = _mm256_or_si256(m.bad, _mm256_or_si256(_mm256_or_si256(over8(t0), over8(t1)), _mm256_or_si256(over8(b0), over8(b1))));
        if (pl->sa) {
          const uint32_t *sa = pl->sa + c, *sb = pl->sb + c;
          oa = dot8(dot8(dot8(dot8(oa, t0, load8(sa)), t1, load8(sa + 8)), b0, load8(sa + width)), b1, load8(sa + width + 8));
          ob = dot8(dot8(dot8(dot8(ob, t0, load8(sb)), t1, load8(sb + 8)), b0, load8(sb + width)), b1, load8(sb + width + 8));
        }
        if (!requant) continue;
        const uint8_t *u = pl->u;
        const __m256i ct0 = centered8(t0, u ? u + 3 * i : NULL, bv);
        const __m256i ct1 = centered8(t1, u ? u + 3 * (i + 8) : NULL, bv);
        const __m256i cb0 = centered8(b0, u ? u + 3 * (i + width) : NULL, bv);
        const __m256i cb1 = centered8(b1, u ? u + 3 * (i + width + 8) : NULL, bv);
        m.worst = _mm256_max_epi32(m.worst, _mm256_max_epi32(_mm256_max_epi32(_mm256_abs_epi32(ct0), _mm256_abs_epi32(ct1)), _mm256_max_epi32(_mm256_abs_epi32(cb0), _mm256_abs_epi32(cb1))));
        /* Columns (0..7 | 8..15) as evens then odds of each half, then the halves' evens and odds side by side. */
        const __m256i m0 = _mm256_permutevar8x32_epi32(_mm256_max_epi32(ct0, cb0), gather);
        const __m256i m1 = _mm256_permutevar8x32_epi32(_mm256_max_epi32(ct1, cb1), gather);
        const __m256i ev = _mm256_permute2x128_si256(m0, m1, 0x20), od = _mm256_permute2x128_si256(m0, m1, 0x31);
        __m256i z = _mm256_min_epi32(_mm256_max_epi32(_mm256_max_epi32(ev, od), splat(pl->lo)), splat(pl->hi));
        if (pl->shift < 0) {
          if (pl->float_out) {
            _mm256_storeu_pd(pl->float_out + s.j, _mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(z)), dq));
            _mm256_storeu_pd(pl->float_out + s.j + 4, _mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(z, 1)), dq));
          }
          s.j += 8;
          continue;
        }
        emit8(pl, &s, &m, _mm256_sra_epi32(_mm256_add_epi32(z, splat(half)), shift), 0, &ia, &ib);
      }
      for (; o < out_width && !s.out_of_bounds; o++) pool_window1(pl, &s, &ps, base, t + 2 * o, b, half, requant);
    }
    ps.row_a = fold(ps.row_a, oa);
    ps.row_b = fold(ps.row_b, ob);
    s.item_a = fold(s.item_a, ia);
    s.item_b = fold(s.item_b, ib);
    if (pl->sa) {
      pl->sums[2 * plane] = (uint32_t)ps.row_a;
      pl->sums[2 * plane + 1] = (uint32_t)ps.row_b;
    }
    end_row_items(pl, &s);
  }
  finish(pl, &s, &m, &ps, out);
}

void boundary_avx2(const struct plan *pl, struct findings *out) {
  if (pl->pool_width > 0) pool_pass(pl, out);
  else linear_pass(pl, out);
}
#endif
