/*
 * header.h: --header's column names in the command. GNU parallel reads
 * the first line of each input group as names and rewrites {name} (and
 * {name.} {name/} {name//} {name/.}) into {N}, N the column's position
 * counted over every group; so does forkpool, before the command is parsed.
 */
#ifndef FPC_HEADER_H
#define FPC_HEADER_H

#include <stddef.h>

/* Rewrites, in each of the ncmd owned words of cmd, every {name...} into
   {id...} (a word is replaced by a new string when it changes). 0, or -1
   (ENOMEM; words already rewritten stay valid). */
int header_rewrite(char **cmd, size_t ncmd, const char *name, size_t id);

#endif
