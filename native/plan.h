/*
 * The boundary pass's plan (src/simd/boundary-fields.ts, DESIGN.md §7) as the native pass reads it:
 * the same f64 block in the same WebAssembly memory, decoded once per call into `struct plan`, whose
 * pointers addon.c has checked to lie inside that memory (plan_check). The field indexes are the
 * TypeScript file's; src/simd/native.ts compares them with the ones this addon reports and refuses
 * an addon that disagrees.
 */
#ifndef SLALOM_PLAN_H
#define SLALOM_PLAN_H

#include <stddef.h>
#include <stdint.h>

#define F_SOURCE 0
#define F_SOURCE_AT 1
#define F_ROWS 2
#define F_ROW_LEN 3
#define F_CHECK_SA 4
#define F_CHECK_SB 5
#define F_CHECK_SUMS 6
#define F_UNBLIND_AT 7
#define F_BIAS_AT 8
#define F_BIAS_PER_COLUMN 9
#define F_CHANNELS 10
#define F_LO 11
#define F_HI 12
#define F_POOL_WIDTH 13
#define F_SHIFT 14
#define F_DEQUANT 15
#define F_ADDEND_AT 16
#define F_RELU 17
#define F_FLOAT_OUT_AT 18
#define F_QUANT_SCALE 19
#define F_NEXT_AT 20
#define F_NEXT_ITEM 21
#define F_CHECK_TA 22
#define F_CHECK_TB 23
#define F_CHECK_DOTS 24
#define F_PAD_AT 25
#define F_OUT_BAD 26
#define F_OUT_WORST 27
#define F_OUT_NEXT_MAX 28
#define F_OUT_INEXACT 29
#define F_OUT_PAD_BYTES 30
#define F_FIELDS 31

#define SOURCE_REPLY 0
#define SOURCE_FLOATS 1
#define SOURCE_RESIDUES 2

/* p = 2^24 − 3, as src/field/prime.ts. */
#define P 16777213
#define HALF_P 8388606
/*
 * Values a dot product runs over between two folds of its u64 lanes: a product of two residues is
 * < 2^48 and a lane adds at most 2 per 4 values (2 per 8 or 16 at AVX2/AVX-512 widths), so a lane
 * holds < 2^15·2^48 = 2^63 at a fold, and a scalar sum < 2^63 + 2^24 when the fold adds p-reduced
 * lanes. As src/simd/assembly/freivalds.ts.
 */
#define SEGMENT 65536
/*
 * The same for one u64 sum of single products (the portable path), and for the vector paths, which
 * add all their lanes at a fold: a segment adds at most 2^15 products < 2^48 per sum, so a sum (with
 * the reduced one before it, < p) stays below 2^63 + p < 2^64.
 */
#define SCALAR_SEGMENT 32768
/* The widest pooled plane: a pair of its rows adds 2·width ≤ 2^15 products to a scalar sum. */
#define MAX_POOL_WIDTH 16384

/*
 * The decoded plan. Pointers are NULL when the field is 0 (absent); all lie in the memory but `src`
 * when it is a reply read where it arrived and `wire` (addon.c checks both lie outside it, apart).
 */
struct plan {
  int source;
  const uint8_t *src; /* u32 residues, or f64 floats for SOURCE_FLOATS */
  int32_t rows, len;
  const uint32_t *sa, *sb;
  uint32_t *sums;
  const uint8_t *u; /* packed, 3 bytes per value */
  const int32_t *bias;
  int per_column;
  int32_t channels;
  int32_t lo, hi;
  int32_t pool_width;
  int32_t shift;
  double dequant;
  const double *addend;
  int relu;
  double *float_out;
  double quant_scale;
  uint32_t *next;
  int64_t next_count; /* values `next` holds */
  /*
   * A second home for the next layer's values: the request buffer that leaves (not in the memory;
   * addon.c checks it holds next_count values and lies outside the memory). NULL: none.
   */
  uint32_t *wire;
  int32_t item;
  const uint32_t *ta, *tb;
  uint32_t *dots;
  const uint8_t *ks;
  const uint8_t *ks_end; /* the memory's end: the keystream cursor never reads past it */
};

/* What the pass found (written back into the block by addon.c). */
struct findings {
  int bad;
  int32_t worst, next_max;
  int inexact;
  int64_t pad_bytes;
  int out_of_bounds; /* the keystream ran off the memory: the pass stopped, nothing it wrote is used */
};

void boundary_portable(const struct plan *pl, struct findings *out);
void boundary_avx2(const struct plan *pl, struct findings *out);
void boundary_avx512(const struct plan *pl, struct findings *out);

#endif
