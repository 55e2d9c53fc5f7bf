/*
 * One value's steps of the boundary pass, scalar: the portable path runs every value through them,
 * the vector paths their row tails and the rare lanes (a rejected keystream word, a float no int32
 * holds). Each is its owner's math exactly as the WebAssembly pass has it (src/simd/assembly/:
 * requantize.ts, blind.ts, freivalds.ts, common.ts say why each is exact). The addon is built with
 * -fwrapv, so int32 arithmetic wraps as WebAssembly's i32 does (it only matters for a reply value
 * ≥ p, whose pass is discarded), and with -ffp-contract=off, so v·s + 0.5 rounds twice, as there.
 */
#ifndef SLALOM_VALUE_H
#define SLALOM_VALUE_H

#include <math.h>
#include <string.h>
#include "plan.h"

#define INLINE static inline __attribute__((always_inline))

/* What the steps after the requantization carry from value to value. */
struct emit_state {
  int64_t j;        /* next-layer values produced */
  int64_t in_item;  /* their position in the current item */
  int64_t items;
  uint64_t item_a, item_b;
  const uint8_t *rp; /* keystream cursor */
  int32_t next_max;
  int inexact;
  int out_of_bounds;
};

INLINE int32_t residue1(int32_t q) { return q + (P & (q >> 31)); }

/* |x| as WebAssembly's i32 abs: −2^31 stays −2^31. */
INLINE int32_t mag1(int32_t x) { return (x ^ (x >> 31)) - (x >> 31); }

INLINE int32_t max1(int32_t a, int32_t b) { return a > b ? a : b; }
INLINE int32_t min1(int32_t a, int32_t b) { return a < b ? a : b; }

INLINE int32_t load_packed1(const uint8_t *at) { return (int32_t)at[0] | ((int32_t)at[1] << 8) | ((int32_t)at[2] << 16); }

INLINE uint32_t load_u32(const void *at) {
  uint32_t v;
  memcpy(&v, at, 4);
  return v;
}

/* z = fx − u + b mod p, centered to (−p/2, p/2] (b = b̃ − p); u NULL when not unblinding. */
INLINE int32_t centered1(uint32_t fx, const uint8_t *u, int32_t b) {
  int32_t z = (int32_t)fx + b;
  if (u) z -= load_packed1(u);
  z = residue1(residue1(z));
  return z - (P & ((HALF_P - z) >> 31));
}

/* WebAssembly's i32.trunc_sat_f64_s: NaN → 0, out of range → the nearest end. */
INLINE int32_t trunc_sat1(double q) {
  if (q != q) return 0;
  if (q >= 2147483648.0) return INT32_MAX;
  if (q <= -2147483649.0) return INT32_MIN;
  return (int32_t)q;
}

/* floor(v·scale + 0.5), flagging a result no int32 holds (NaN, ±∞, |q| ≥ 2^31). */
INLINE int32_t round_to_grid1(double v, double scale, int *inexact) {
  double q = floor(v * scale + 0.5);
  if (!(fabs(q) < 2147483648.0)) *inexact = 1;
  return trunc_sat1(q);
}

/* WebAssembly's f64.max(v, 0): NaN stays NaN, −0 becomes +0. */
INLINE double relu1(double v) { return v != v ? v : v > 0.0 ? v : 0.0; }

/*
 * x + r mod p with r the next keystream word < p (rejection sampling), advancing the cursor. Words
 * are read only below ks_end (the memory's end): a keystream that runs off it stops the pass.
 */
INLINE int32_t pad1(int32_t x, struct emit_state *s, const uint8_t *ks_end) {
  int32_t r;
  do {
    if (s->rp + 3 > ks_end) {
      s->out_of_bounds = 1;
      return x;
    }
    r = load_packed1(s->rp);
    s->rp += 3;
  } while (r >= P);
  int32_t d = x + r - P;
  return d + (P & (d >> 31));
}

/*
 * The next layer's steps for one value: x is a residue already (as_is) or qs on the next grid,
 * made a residue here; then the pad, the input side, the store.
 */
INLINE void emit1(const struct plan *pl, struct emit_state *s, int32_t v, int as_is) {
  int32_t x = v;
  if (!as_is) {
    s->next_max = max1(s->next_max, mag1(v));
    x = residue1(v);
  }
  if (pl->ks) x = pad1(x, s, pl->ks_end);
  if (pl->ta) {
    s->item_a += (uint64_t)(uint32_t)x * pl->ta[s->in_item];
    s->item_b += (uint64_t)(uint32_t)x * pl->tb[s->in_item];
  }
  if (pl->next) pl->next[s->j] = (uint32_t)x;
  if (pl->wire) pl->wire[s->j] = (uint32_t)x;
  s->j++;
  s->in_item++;
}

/* At a row's end: the input side's dot products of a finished item (items end at row ends). */
INLINE void end_row_items(const struct plan *pl, struct emit_state *s) {
  if (pl->ta && s->in_item >= pl->item) {
    pl->dots[2 * s->items] = (uint32_t)(s->item_a % P);
    pl->dots[2 * s->items + 1] = (uint32_t)(s->item_b % P);
    s->items++;
    s->in_item = 0;
    s->item_a = 0;
    s->item_b = 0;
  }
}

/* The bias of a row when it is per row (b̃ − p; −p without a bias). */
INLINE int32_t row_bias(const struct plan *pl, int32_t row) {
  return pl->bias == NULL || pl->per_column ? -P : pl->bias[row % pl->channels] - P;
}

INLINE int produces(const struct plan *pl) { return pl->next != NULL || pl->ta != NULL || pl->ks != NULL; }

/* A reply value through the requantization: false when no next-layer value follows (*out unset). */
INLINE int requantize1(const struct plan *pl, struct emit_state *s, int64_t i, int32_t q, uint32_t y, int32_t b, int32_t half, int32_t *worst, int32_t *out) {
  int32_t bs = pl->per_column && pl->bias ? pl->bias[q] - P : b;
  int32_t z = centered1(y, pl->u ? pl->u + 3 * i : NULL, bs);
  *worst = max1(*worst, mag1(z));
  z = min1(max1(z, pl->lo), pl->hi);
  if (pl->shift >= 0) {
    *out = (z + half) >> pl->shift;
    return produces(pl);
  }
  double v = (double)z * pl->dequant;
  if (pl->addend) {
    v += pl->addend[i];
    if (pl->relu) v = relu1(v);
  }
  if (pl->float_out) pl->float_out[i] = v;
  if (!produces(pl)) return 0;
  *out = round_to_grid1(v, pl->quant_scale, &s->inexact);
  return 1;
}

/* What a pass adds up outside the next layer's steps. */
struct pass_state {
  int bad;
  int32_t worst;
  uint64_t row_a, row_b;
};

/* One value of a linear pass (source, range, output side, requantization, next layer's steps). */
INLINE void linear_value1(const struct plan *pl, struct emit_state *s, struct pass_state *ps, int64_t i, int32_t q, int32_t b, int32_t half, int requant) {
  int32_t v;
  if (pl->source == SOURCE_REPLY) {
    const uint32_t y = load_u32(pl->src + 4 * i);
    ps->bad |= y >= (uint32_t)P;
    if (pl->sa) {
      ps->row_a += (uint64_t)y * pl->sa[q];
      ps->row_b += (uint64_t)y * pl->sb[q];
    }
    if (!requant || !requantize1(pl, s, i, q, y, b, half, &ps->worst, &v)) return;
  } else if (pl->source == SOURCE_RESIDUES) {
    v = (int32_t)load_u32(pl->src + 4 * i);
  } else {
    double f;
    memcpy(&f, pl->src + 8 * i, 8);
    v = round_to_grid1(f, pl->quant_scale, &s->inexact);
  }
  emit1(pl, s, v, pl->source == SOURCE_RESIDUES);
}

/* One 2×2 window of a pool pass, its top-left value at column c of the plane at `base`. */
INLINE void pool_window1(const struct plan *pl, struct emit_state *s, struct pass_state *ps, int64_t base, int64_t c, int32_t b, int32_t half, int requant) {
  const int64_t width = pl->pool_width;
  int32_t m = -P;
  for (int k = 0; k < 4; k++) {
    const int64_t at = k < 2 ? c + k : c + width + k - 2;
    const uint32_t y = load_u32(pl->src + 4 * (base + at));
    ps->bad |= y >= (uint32_t)P;
    if (pl->sa) {
      ps->row_a += (uint64_t)y * pl->sa[at];
      ps->row_b += (uint64_t)y * pl->sb[at];
    }
    if (!requant) continue;
    const int32_t zk = centered1(y, pl->u ? pl->u + 3 * (base + at) : NULL, b);
    ps->worst = max1(ps->worst, mag1(zk));
    m = max1(m, zk);
  }
  if (!requant) return;
  const int32_t z = min1(max1(m, pl->lo), pl->hi);
  if (pl->shift < 0) {
    if (pl->float_out) pl->float_out[s->j] = (double)z * pl->dequant;
    s->j++;
    return;
  }
  emit1(pl, s, (z + half) >> pl->shift, 0);
}

#endif
