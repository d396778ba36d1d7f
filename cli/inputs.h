/*
 * inputs.h: the input groups (`:::` words, `::::` files, stdin) and every
 * combination of them, in GNU parallel's order: the first group varies
 * slowest. Group 0 is streamed when it is a file or stdin (read as jobs
 * start); the other groups are held in memory.
 */
#ifndef FPC_INPUTS_H
#define FPC_INPUTS_H

#include <stdbool.h>
#include <stddef.h>

#include "options.h"
#include "reader.h"

struct group;

struct inputs {
    struct group *groups;
    size_t ngroups; /* at least 1; every combination has this many values */
    struct reader rd;
    bool streaming; /* group 0 comes from rd: poll rd.fd, then reader_fill */
    size_t next0;   /* in-memory group 0: next index */
    char *cur0;     /* current group-0 value (owned), NULL between values */
    size_t *odo;    /* odometer over groups 1..ngroups-1 */
    bool exhausted;
    bool linked;          /* --link, :::+: groups advance together */
    const char *eof_str;  /* -E (borrowed) */
};

/* Sets up the groups from o (which must outlive in): later files are read
   whole now (blocking). 0, or -1 after a message; call inputs_free either
   way. */
int inputs_init(struct inputs *in, const struct opts *o);

/* The number of combinations, if known without reading a stream. */
bool inputs_total(const struct inputs *in, unsigned long *total);

/* The next combination as ngroups new strings in *vals (free with
   inputs_vals_free). 1, 0 when group 0's stream must be read first (poll
   in->rd.fd, then reader_fill), -1 when there are no more, -2 on error
   (errno). */
int inputs_next(struct inputs *in, char ***vals);

/* --header: removes the first value of group g (reading group 0's stream
   for it, blocking) into *out (owned). 1, 0 if the group is empty, -1
   after a message. */
int inputs_take_first(struct inputs *in, size_t g, char **out);

void inputs_vals_free(char **vals, size_t n);
void inputs_free(struct inputs *in);

#endif
