/*
 * Which boundary-pass path runs (as BLAKE3's blake3_dispatch.c): the CPU's features read once
 * (cpuid + xgetbv) into one cached word, the best path they allow, and a test hook that caps the
 * word so every path can be run on one machine.
 */
#ifndef SLALOM_DISPATCH_H
#define SLALOM_DISPATCH_H

#include "plan.h"

enum path { PATH_PORTABLE = 0, PATH_AVX2 = 1, PATH_AVX512 = 2 };

/* The best path the CPU (capped by dispatch_force) allows. */
enum path dispatch_path(void);
/* The best path the CPU allows, whatever is forced. */
enum path dispatch_best(void);
/* Caps the path (a test hook and SLALOM_BOUNDARY); returns 0 when the CPU cannot run `p`. */
int dispatch_force(enum path p);
const char *dispatch_name(enum path p);
void dispatch_run(const struct plan *pl, struct findings *out);

#endif
