#include "dispatch.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define X86 1
#endif

static int cached = -1; /* the best path the CPU allows, once known */
static int cap = PATH_AVX512;

#ifdef X86
static uint64_t xgetbv0(void) {
  uint32_t eax, edx;
  __asm__ __volatile__("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((uint64_t)edx << 32) | eax;
}

/*
 * AVX2 needs the CPU's flag and the OS saving YMM state (XCR0 bits 1–2); AVX-512 (F, BW, DQ, VL:
 * the instructions boundary_avx512.c uses) also opmask and ZMM state (bits 5–7).
 */
static enum path detect(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return PATH_PORTABLE;
  int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
  if (!osxsave || !avx) return PATH_PORTABLE;
  uint64_t xcr0 = xgetbv0();
  if ((xcr0 & 0x6) != 0x6) return PATH_PORTABLE;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return PATH_PORTABLE;
  int avx2 = (b >> 5) & 1;
  int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1); /* F DQ BW VL */
  if (avx512 && (xcr0 & 0xE6) == 0xE6) return PATH_AVX512;
  return avx2 ? PATH_AVX2 : PATH_PORTABLE;
}
#else
static enum path detect(void) { return PATH_PORTABLE; }
#endif

enum path dispatch_best(void) {
  if (cached < 0) cached = detect();
  return (enum path)cached;
}

enum path dispatch_path(void) {
  enum path best = dispatch_best();
  return best < (enum path)cap ? best : (enum path)cap;
}

int dispatch_force(enum path p) {
  if (p > dispatch_best()) return 0;
  cap = p;
  return 1;
}

const char *dispatch_name(enum path p) {
  return p == PATH_AVX512 ? "avx512" : p == PATH_AVX2 ? "avx2" : "portable";
}

void dispatch_run(const struct plan *pl, struct findings *out) {
  switch (dispatch_path()) {
#ifdef X86
  case PATH_AVX512: boundary_avx512(pl, out); return;
  case PATH_AVX2: boundary_avx2(pl, out); return;
#endif
  default: boundary_portable(pl, out); return;
  }
}
