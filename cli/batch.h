/*
 * batch.h: what each job gets from the inputs (issue #12 items 1 and 3).
 * Every combination read by inputs.c is one input; it is split into
 * columns (--colsep), trimmed (--trim) or skipped (-r), then inputs are
 * taken N at a time (-N, -n) or as many as the command line holds (-m, -X,
 * --xargs, -s), as GNU parallel does; a job's values are its inputs'
 * values in order ({1} {2} ...).
 *
 * Also here: the command-line length limit (--show-limits), and the set-up
 * that rewrites the command before it is parsed: --header's {name}s, and
 * no COMMAND at all. The options' values are parsed by batchopt.c.
 */
#ifndef FPC_BATCH_H
#define FPC_BATCH_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "options.h"
#include "template.h"

struct app;

/* One input: its values (owned) and their length joined by spaces. */
struct batch_rec {
    char **v;
    size_t n, len;
};

/* One job's values (kept for every job when they are all read first). */
struct batch_job {
    char **vals;
    size_t nvals;
};

struct batch {
    struct batch_rec *q;   /* inputs read, not yet in a job: q[head..head+n) */
    size_t head, n, cap;
    size_t qlen;           /* the sum of their len */
    size_t qvals;          /* the sum of their n */
    bool eof;              /* inputs_next said there are no more */
    regex_t re;            /* --colsep, compiled */
    bool re_ok;
    char **cmd;            /* the command rewritten (owned); NULL: argv's */
    char **hnames;         /* --header's names by column (owned; --results) */
    size_t nhnames;
    size_t ncmd;
    size_t max_args;       /* inputs per job at most; 0: no limit */
    bool none;             /* -N0: a job per input, without its values */
    size_t max_len;        /* -m/-X/--xargs: command-line length limit */
    struct tmpl_cost cost; /* once the template is parsed */
    bool cost_ok;
    bool spread_done;      /* -m/-X: inputs spread over the job slots once */
    bool context;          /* -X: a word holding {} is repeated per value */
    /* --shuf, or collect (the number of jobs is needed, for {##} or --halt
       N%, and the inputs are streamed): every job's values, read before the
       first job starts (then a->total is known), shuffled with --shuf,
       taken from `head` on */
    struct batch_job *all;
    size_t nall, allcap, head_all;
    bool all_ready, collect;
};

/* After inputs_init, before the template is parsed: compiles --colsep,
   reads --header's names (the first value of each input group; blocking)
   and rewrites {name} in the command into {N}, makes the command `{}` run
   by the shell when there is none, computes the length limit and prints it
   for --show-limits. 0, or -1 after a message; call batch_free either
   way. */
int batch_setup(struct app *a);

/* Corrects the number of jobs that inputs_total counted (*known: whether
   it can be known before reading). */
void batch_total(const struct app *a, bool *known, unsigned long *total);

/* The next job's values: 1 with *vals (owned, free with inputs_vals_free)
   and *nvals; 0 when group 0's stream must be read first; -1 when there are
   no more; -2 on error (errno); -3 after a message (an input too long for
   the command line). */
int batch_next(struct app *a, char ***vals, size_t *nvals);

/* -X: values per copy of a word holding {} in a job with nvals values
   (1: GNU parallel repeats it for every value, also of several groups or
   columns); 0 otherwise. */
size_t batch_per_input(const struct batch *b, size_t nvals);

void batch_free(struct batch *b);

/* The longest command line, as GNU parallel computes it (--show-limits'
   "Maximal size of command", --max-line-length-allowed). */
size_t batch_max_line(void);

#endif
