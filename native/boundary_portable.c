/*
 * The boundary pass, one value at a time in plain C: the path for a CPU without AVX2, and the
 * reference the vector paths are tested against beside the WebAssembly module. The loop is
 * src/simd/assembly/boundary.ts's and boundary-pool.ts's, value for value (value.h).
 *
 * Bounds: addon.c's plan_check proved, before this runs, that every region lies inside the memory
 * for the indexes used here — src, u, addend, float_out over rows·len values (the pool's outputs
 * rows·len/4), sa/sb over len, bias over len or channels, sums over rows, next over the outputs,
 * ta/tb over `item` (in_item < item: items end at row ends and item is a multiple of a row's
 * outputs), dots over the items; the keystream cursor is checked against the memory's end (pad1).
 */
#include "value.h"

static void linear_pass(const struct plan *plan, struct findings *out) {
  /* A local copy: the pass's stores (u32, f64) cannot alias it, so its fields stay in registers. */
  const struct plan local = *plan, *pl = &local;
  const int requant = pl->source == SOURCE_REPLY && (produces(pl) || pl->float_out != NULL);
  const int32_t half = pl->shift > 0 ? 1 << (pl->shift - 1) : 0;
  const int64_t len = pl->len;
  struct emit_state s = {.rp = pl->ks};
  struct pass_state ps = {0};

  for (int32_t row = 0; row < pl->rows && !s.out_of_bounds; row++) {
    const int64_t base = (int64_t)row * len;
    const int32_t b = row_bias(pl, row);
    ps.row_a = ps.row_b = 0;
    for (int64_t q0 = 0; q0 < len; q0 += SCALAR_SEGMENT) {
      const int64_t stop = q0 + SCALAR_SEGMENT < len ? q0 + SCALAR_SEGMENT : len;
      for (int64_t q = q0; q < stop; q++) linear_value1(pl, &s, &ps, base + q, (int32_t)q, b, half, requant);
      ps.row_a %= P;
      ps.row_b %= P;
      s.item_a %= P;
      s.item_b %= P;
    }
    if (pl->sa) {
      pl->sums[2 * row] = (uint32_t)ps.row_a;
      pl->sums[2 * row + 1] = (uint32_t)ps.row_b;
    }
    end_row_items(pl, &s);
  }
  *out = (struct findings){.bad = ps.bad, .worst = ps.worst, .next_max = s.next_max, .inexact = s.inexact, .pad_bytes = s.rp - pl->ks, .out_of_bounds = s.out_of_bounds};
}

/* 2×2 max pool, stride 2: rows are planes of len/width rows of `width` values (both even). */
static void pool_pass(const struct plan *plan, struct findings *out) {
  const struct plan local = *plan, *pl = &local;
  const int requant = produces(pl) || pl->float_out != NULL;
  const int32_t half = pl->shift > 0 ? 1 << (pl->shift - 1) : 0;
  const int64_t len = pl->len, width = pl->pool_width, height = len / width, out_width = width >> 1;
  struct emit_state s = {.rp = pl->ks};
  struct pass_state ps = {0};

  for (int32_t plane = 0; plane < pl->rows && !s.out_of_bounds; plane++) {
    const int64_t base = (int64_t)plane * len;
    const int32_t b = pl->bias == NULL ? -P : pl->bias[plane % pl->channels] - P;
    ps.row_a = ps.row_b = 0;
    for (int64_t pair = 0; pair < height >> 1; pair++) {
      for (int64_t o = 0; o < out_width; o++) pool_window1(pl, &s, &ps, base, 2 * pair * width + 2 * o, b, half, requant);
      /* A pair adds 2·width ≤ 2^15 products to a sum (plan_check: width ≤ MAX_POOL_WIDTH). */
      ps.row_a %= P;
      ps.row_b %= P;
      s.item_a %= P;
      s.item_b %= P;
    }
    if (pl->sa) {
      pl->sums[2 * plane] = (uint32_t)ps.row_a;
      pl->sums[2 * plane + 1] = (uint32_t)ps.row_b;
    }
    end_row_items(pl, &s);
  }
  *out = (struct findings){.bad = ps.bad, .worst = ps.worst, .next_max = s.next_max, .inexact = s.inexact, .pad_bytes = s.rp - pl->ks, .out_of_bounds = s.out_of_bounds};
}

void boundary_portable(const struct plan *pl, struct findings *out) {
  if (pl->pool_width > 0) pool_pass(pl, out);
  else linear_pass(pl, out);
}
