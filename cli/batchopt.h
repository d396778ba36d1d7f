/*
 * batchopt.h: the values of the options of issue #12 items 1 and 3 (-N
 * -n -m -X --xargs -s --show-limits --link --colsep --header -E -r --trim
 * --arg-sep --arg-file-sep) into struct opts; what they do is batch.c's
 * and inputs.c's. Depends on options.h and fpc.h only, so options.c calls
 * it without calling up.
 */
#ifndef FPC_BATCHOPT_H
#define FPC_BATCHOPT_H

#include <regex.h>

#include "options.h"

/* Applies option `name` (its long name in options.c's table) with value
   val (NULL if it takes none); shown is the option as written. 0, or -1
   after a message. */
int batchopt_apply(struct opts *o, const char *name, const char *val, const char *shown);

/* Compiles a --colsep REGEX (POSIX ERE, with Perl's \t \n \r \f \v \d \D
   understood) into *re (regfree it). 0, or -1 after a message. */
int batchopt_colsep(regex_t *re, const char *s);

#endif
