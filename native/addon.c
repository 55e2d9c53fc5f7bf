/*
 * The native boundary pass's Node-API surface (src/simd/native.ts loads it). It is part of the
 * trusted computing base, so it is small and checks what it is given: the WebAssembly memory is
 * attached once (and again after it grows), each call names a plan block in it, and plan_check
 * proves every region the plan names lies inside the memory before a byte of it is read — the
 * guarantee the WebAssembly module gets from its bounds-checked memory. The attached memory is
 * per Node-API environment (a worker thread that loads the addon has its own); nothing is
 * allocated per call; the pass's findings go back into the block, as the WebAssembly pass writes them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <node_api.h>
#include "dispatch.h"

/* The attached memory, per Node-API environment (each thread that loads the addon has its own). */
struct memory {
  uint8_t *base;
  size_t bytes;
};

#define CHECK_NAPI(env, call)                                   \
  do {                                                          \
    if ((call) != napi_ok) {                                    \
      napi_throw_error((env), NULL, "native boundary pass: Node-API call failed"); \
      return NULL;                                              \
    }                                                           \
  } while (0)

/* A field as an integer in [lo, hi]; 0 when it is not one (and *ok cleared). */
static int64_t int_field(const double *block, int k, int64_t lo, int64_t hi, int *ok) {
  double v = block[k];
  if (!(v >= (double)lo && v <= (double)hi) || v != floor(v)) {
    *ok = 0;
    return 0;
  }
  return (int64_t)v;
}

/* A region of `bytes` at the field's offset, `align`-aligned, inside the memory; NULL when absent (0). */
static const uint8_t *region(const struct memory *m, const double *block, int k, int64_t bytes, int64_t align, int *ok) {
  int64_t at = int_field(block, k, 0, (int64_t)m->bytes, ok);
  if (at == 0) return NULL;
  if (bytes < 0 || at % align != 0 || (uint64_t)at + (uint64_t)bytes > m->bytes) {
    *ok = 0;
    return NULL;
  }
  return m->base + at;
}

/* A Uint32Array outside the attached memory: its values. */
struct outside {
  uint32_t *data;
  size_t length;
};

/*
 * Decodes the block and proves the plan's bounds (the extents the paths index, boundary_portable.c
 * lists them). Returns 0 for a plan the pass cannot run safely: the trusted runtime never builds
 * one, so the caller treats it as an internal error.
 */
static int plan_check(const struct memory *m, const double *b, struct plan *pl, const struct outside *reply) {
  int ok = 1;
  memset(pl, 0, sizeof *pl);
  pl->source = (int)int_field(b, F_SOURCE, 0, 2, &ok);
  pl->rows = (int32_t)int_field(b, F_ROWS, 0, INT32_MAX, &ok);
  pl->len = (int32_t)int_field(b, F_ROW_LEN, 0, INT32_MAX, &ok);
  pl->pool_width = (int32_t)int_field(b, F_POOL_WIDTH, 0, MAX_POOL_WIDTH, &ok);
  pl->shift = (int32_t)int_field(b, F_SHIFT, INT32_MIN, 31, &ok);
  if (pl->shift < 0) pl->shift = -1;
  pl->lo = (int32_t)int_field(b, F_LO, INT32_MIN, INT32_MAX, &ok);
  pl->hi = (int32_t)int_field(b, F_HI, INT32_MIN, INT32_MAX, &ok);
  pl->per_column = int_field(b, F_BIAS_PER_COLUMN, 0, 1, &ok) != 0;
  pl->channels = (int32_t)int_field(b, F_CHANNELS, 0, INT32_MAX, &ok);
  pl->relu = int_field(b, F_RELU, 0, 1, &ok) != 0;
  pl->item = (int32_t)int_field(b, F_NEXT_ITEM, 0, INT32_MAX, &ok);
  pl->dequant = b[F_DEQUANT];
  pl->quant_scale = b[F_QUANT_SCALE];
  if (!ok) return 0;

  const int pool = pl->pool_width > 0;
  const int64_t n = (int64_t)pl->rows * pl->len;
  /* A source of n values takes at least 4n bytes: so n < 2^32 and no extent below overflows. */
  if (n > (int64_t)m->bytes) return 0;
  if (pool) {
    /* Planes of an even number of rows of an even width. */
    if (pl->pool_width % 2 != 0 || pl->len % pl->pool_width != 0 || (pl->len / pl->pool_width) % 2 != 0) return 0;
  }
  const int64_t outs = pool ? n / 4 : n;
  const int64_t row_outs = pool ? pl->len / 4 : pl->len;
  const int floats = !pool && pl->source == SOURCE_FLOATS;

  if (reply == NULL) pl->src = region(m, b, F_SOURCE_AT, floats ? 8 * n : 4 * n, floats ? 8 : 4, &ok);
  /* A reply read where it arrived: the plan names no source in the memory, and the reply holds all n values. */
  else if (pl->source == SOURCE_REPLY && b[F_SOURCE_AT] == 0 && (uint64_t)reply->length >= (uint64_t)n) pl->src = (const uint8_t *)reply->data;
  pl->sa = (const uint32_t *)region(m, b, F_CHECK_SA, 4 * (int64_t)pl->len, 4, &ok);
  pl->sb = (const uint32_t *)region(m, b, F_CHECK_SB, 4 * (int64_t)pl->len, 4, &ok);
  pl->sums = (uint32_t *)region(m, b, F_CHECK_SUMS, 8 * (int64_t)pl->rows, 4, &ok);
  pl->u = region(m, b, F_UNBLIND_AT, 3 * n + 16, 1, &ok);
  const int64_t bias_count = pl->per_column && !pool ? pl->len : pl->channels;
  pl->bias = (const int32_t *)region(m, b, F_BIAS_AT, 4 * bias_count, 4, &ok);
  pl->addend = (const double *)region(m, b, F_ADDEND_AT, 8 * n, 8, &ok);
  pl->float_out = (double *)region(m, b, F_FLOAT_OUT_AT, 8 * outs, 8, &ok);
  pl->next = (uint32_t *)region(m, b, F_NEXT_AT, 4 * outs, 4, &ok);
  pl->next_count = outs;
  pl->ta = (const uint32_t *)region(m, b, F_CHECK_TA, 4 * (int64_t)pl->item, 4, &ok);
  pl->tb = (const uint32_t *)region(m, b, F_CHECK_TB, 4 * (int64_t)pl->item, 4, &ok);
  pl->dots = (uint32_t *)region(m, b, F_CHECK_DOTS, pl->item > 0 ? 8 * (outs / pl->item) : 0, 4, &ok);
  pl->ks = region(m, b, F_PAD_AT, 0, 1, &ok);
  pl->ks_end = m->base + m->bytes;
  if (!ok || pl->src == NULL) return 0;
  /* The steps' companions: both secrets and their sums, a bias's channels, an item's length. */
  if ((pl->sa != NULL) != (pl->sb != NULL) || (pl->sa != NULL) != (pl->sums != NULL)) return 0;
  if ((pl->ta != NULL) != (pl->tb != NULL) || (pl->ta != NULL) != (pl->dots != NULL)) return 0;
  if (pl->bias != NULL && bias_count < 1) return 0;
  /* Items end at row ends, so in_item < item indexes ta/tb (boundary_portable.c). */
  if (pl->ta != NULL && (pl->item < 1 || (row_outs > 0 && pl->item % row_outs != 0))) return 0;
  return 1;
}

static struct memory *memory_of(napi_env env) {
  void *m = NULL;
  return napi_get_instance_data(env, &m) == napi_ok ? m : NULL;
}

static napi_value attach(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, &arg, NULL, NULL));
  napi_typedarray_type type;
  size_t length, offset;
  void *data;
  napi_value buffer;
  if (argc != 1 || napi_get_typedarray_info(env, arg, &type, &length, &data, &buffer, &offset) != napi_ok || type != napi_uint8_array || offset != 0) {
    napi_throw_type_error(env, NULL, "attach expects a Uint8Array over the whole memory");
    return NULL;
  }
  struct memory *m = memory_of(env);
  if (m == NULL) {
    napi_throw_error(env, NULL, "native boundary pass: no instance data");
    return NULL;
  }
  m->base = data;
  m->bytes = length;
  return NULL;
}

/*
 * `arg` as a Uint32Array lying wholly outside the attached memory (a view into it could overwrite,
 * or be overwritten by, what the plan names); 0 when it is not one.
 */
static int outside_of(napi_env env, napi_value arg, const struct memory *m, struct outside *out) {
  napi_typedarray_type type;
  size_t length, offset;
  void *data;
  napi_value buffer;
  if (napi_get_typedarray_info(env, arg, &type, &length, &data, &buffer, &offset) != napi_ok || type != napi_uint32_array || data == NULL) return 0;
  const uint8_t *lo = data, *hi = lo + 4 * length;
  if (hi > m->base && lo < m->base + m->bytes) return 0;
  out->data = data;
  out->length = length;
  return 1;
}

static int is_undefined(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && t == napi_undefined;
}

/*
 * boundaryPass(planAt, wire?, reply?). `wire`: the request buffer that leaves, which the pass writes
 * the next layer's values into beside `next` (no copy follows the pass); it must hold every next
 * value. `reply`: a reply's values read where they arrived (a buffer the trusted runtime alone
 * holds), instead of a copy in the memory. Both outside the attached memory, and apart.
 */
static napi_value boundary_pass(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value args[3];
  double at;
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  const napi_value arg = args[0];
  const struct memory *m = memory_of(env);
  if (argc < 1 || argc > 3 || napi_get_value_double(env, arg, &at) != napi_ok || !(at >= 0) || at != floor(at) || fmod(at, 8) != 0 ||
      m == NULL || m->base == NULL || at + 8.0 * F_FIELDS > (double)m->bytes) {
    napi_throw_range_error(env, NULL, "native boundary pass: the plan block is not in the attached memory");
    return NULL;
  }
  double *block = (double *)(m->base + (size_t)at);
  struct outside wire = {0}, reply = {0};
  const int has_wire = argc >= 2 && !is_undefined(env, args[1]), has_reply = argc == 3 && !is_undefined(env, args[2]);
  if ((has_wire && !outside_of(env, args[1], m, &wire)) || (has_reply && !outside_of(env, args[2], m, &reply))) {
    napi_throw_range_error(env, NULL, "native boundary pass: a request buffer or reply that is not a Uint32Array outside the attached memory");
    return NULL;
  }
  const uint8_t *wire_end = (const uint8_t *)(wire.data + wire.length), *reply_end = (const uint8_t *)(reply.data + reply.length);
  if (has_wire && has_reply && (const uint8_t *)wire.data < reply_end && (const uint8_t *)reply.data < wire_end) {
    napi_throw_range_error(env, NULL, "native boundary pass: the request buffer overlaps the reply");
    return NULL;
  }
  struct plan pl;
  if (!plan_check(m, block, &pl, has_reply ? &reply : NULL)) {
    napi_throw_range_error(env, NULL, "native boundary pass: the plan names memory outside the attached memory or is inconsistent");
    return NULL;
  }
  if (has_wire) {
    if (pl.next == NULL || (uint64_t)wire.length < (uint64_t)pl.next_count) {
      napi_throw_range_error(env, NULL, "native boundary pass: the request buffer does not hold every next value");
      return NULL;
    }
    pl.wire = wire.data;
  }
  struct findings f;
  dispatch_run(&pl, &f);
  if (f.out_of_bounds) {
    napi_throw_range_error(env, NULL, "native boundary pass: the keystream ran past the attached memory");
    return NULL;
  }
  block[F_OUT_BAD] = f.bad ? 1 : 0;
  block[F_OUT_WORST] = f.worst;
  block[F_OUT_NEXT_MAX] = f.next_max;
  block[F_OUT_INEXACT] = f.inexact ? 1 : 0;
  block[F_OUT_PAD_BYTES] = (double)f.pad_bytes;
  return NULL;
}

static napi_value string_of(napi_env env, const char *s) {
  napi_value v;
  CHECK_NAPI(env, napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v));
  return v;
}

/* The path that runs now: "avx512", "avx2" or "portable". */
static napi_value path(napi_env env, napi_callback_info info) {
  (void)info;
  return string_of(env, dispatch_name(dispatch_path()));
}

/* The best path this CPU allows. */
static napi_value best(napi_env env, napi_callback_info info) {
  (void)info;
  return string_of(env, dispatch_name(dispatch_best()));
}

/* Caps the path at the one named; false when the CPU cannot run it. */
static napi_value force(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  char name[16] = {0};
  size_t n;
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, &arg, NULL, NULL));
  if (argc != 1 || napi_get_value_string_utf8(env, arg, name, sizeof name, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "force expects a path name");
    return NULL;
  }
  int done;
  if (strcmp(name, "avx512") == 0) done = dispatch_force(PATH_AVX512);
  else if (strcmp(name, "avx2") == 0) done = dispatch_force(PATH_AVX2);
  else if (strcmp(name, "portable") == 0) done = dispatch_force(PATH_PORTABLE);
  else {
    napi_throw_type_error(env, NULL, "force expects avx512, avx2 or portable");
    return NULL;
  }
  napi_value v;
  CHECK_NAPI(env, napi_get_boolean(env, done, &v));
  return v;
}

/* The plan block's layout as this addon reads it, for the loader to compare with its own. */
static napi_value fields(napi_env env, napi_callback_info info) {
  (void)info;
  static const struct { const char *name; int at; } all[] = {
    {"SOURCE", F_SOURCE}, {"SOURCE_AT", F_SOURCE_AT}, {"ROWS", F_ROWS}, {"ROW_LEN", F_ROW_LEN}, {"CHECK_SA", F_CHECK_SA},
    {"CHECK_SB", F_CHECK_SB}, {"CHECK_SUMS", F_CHECK_SUMS}, {"UNBLIND_AT", F_UNBLIND_AT}, {"BIAS_AT", F_BIAS_AT},
    {"BIAS_PER_COLUMN", F_BIAS_PER_COLUMN}, {"CHANNELS", F_CHANNELS}, {"LO", F_LO}, {"HI", F_HI}, {"POOL_WIDTH", F_POOL_WIDTH},
    {"SHIFT", F_SHIFT}, {"DEQUANT", F_DEQUANT}, {"ADDEND_AT", F_ADDEND_AT}, {"RELU", F_RELU}, {"FLOAT_OUT_AT", F_FLOAT_OUT_AT},
    {"QUANT_SCALE", F_QUANT_SCALE}, {"NEXT_AT", F_NEXT_AT}, {"NEXT_ITEM", F_NEXT_ITEM}, {"CHECK_TA", F_CHECK_TA},
    {"CHECK_TB", F_CHECK_TB}, {"CHECK_DOTS", F_CHECK_DOTS}, {"PAD_AT", F_PAD_AT}, {"OUT_BAD", F_OUT_BAD}, {"OUT_WORST", F_OUT_WORST},
    {"OUT_NEXT_MAX", F_OUT_NEXT_MAX}, {"OUT_INEXACT", F_OUT_INEXACT}, {"OUT_PAD_BYTES", F_OUT_PAD_BYTES}, {"FIELDS", F_FIELDS},
    {"SOURCE_REPLY", SOURCE_REPLY}, {"SOURCE_FLOATS", SOURCE_FLOATS}, {"SOURCE_RESIDUES", SOURCE_RESIDUES},
  };
  napi_value obj;
  CHECK_NAPI(env, napi_create_object(env, &obj));
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
    napi_value v;
    CHECK_NAPI(env, napi_create_int32(env, all[k].at, &v));
    CHECK_NAPI(env, napi_set_named_property(env, obj, all[k].name, v));
  }
  return obj;
}

#define STRING_OF(x) #x
#define STRING(x) STRING_OF(x)

/* The digest of the sources this binary was built from (binding.gyp), for the loader to compare. */
static napi_value sources(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef SLALOM_SOURCES
  return string_of(env, STRING(SLALOM_SOURCES));
#else
  return string_of(env, "unknown");
#endif
}

static void free_memory(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static napi_value init(napi_env env, napi_value exports) {
  /* Allocated once per environment, at load: nothing is allocated per call. */
  struct memory *m = calloc(1, sizeof *m);
  if (m == NULL || napi_set_instance_data(env, m, free_memory, NULL) != napi_ok) {
    free(m);
    napi_throw_error(env, NULL, "native boundary pass: cannot set up its instance data");
    return NULL;
  }
  const napi_property_descriptor methods[] = {
    {"attach", NULL, attach, NULL, NULL, NULL, napi_default, NULL},
    {"boundaryPass", NULL, boundary_pass, NULL, NULL, NULL, napi_default, NULL},
    {"path", NULL, path, NULL, NULL, NULL, napi_default, NULL},
    {"best", NULL, best, NULL, NULL, NULL, napi_default, NULL},
    {"force", NULL, force, NULL, NULL, NULL, napi_default, NULL},
    {"fields", NULL, fields, NULL, NULL, NULL, napi_default, NULL},
    {"sources", NULL, sources, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof methods / sizeof methods[0], methods) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
