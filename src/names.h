/*
 * Functions known by name (names.c), for processes that are not forks of
 * this one (FORKPOOL_MPI): forkpool_register fills the table; the library
 * registers its own batch function (forkpool_map's) as "forkpool.map".
 */
#ifndef FP_NAMES_H
#define FP_NAMES_H

#include "forkpool.h"

#define FP_NAME_MAX 63

/* Copies fn's name to name: 0, or -1 if it has none. */
int fp_fn_name(forkpool_fn fn, char name[FP_NAME_MAX + 1]);
/* The function registered as name, or NULL. */
forkpool_fn fp_fn_named(const char *name);

#endif
