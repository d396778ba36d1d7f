/*
 * template.h: COMMAND [ARGS...] with GNU parallel's replacement strings,
 * parsed once and expanded into each job's argv:
 *
 *   {}  the input (with several groups: every value, space-separated)
 *   {.} without extension   {/} basename   {//} dirname   {/.} basename
 *       without extension   {#} job number   {%} job slot
 *   {N} {N.} {N/} {N//} {N/.}  the same for input group N (1-based; past
 *       the last group: empty; {0} is {}, leading zeros do not count)
 *   {-N} {-N.} ...  the same, counted from the last group ({-1}: the last)
 *   {= perl expression =}, {=N perl =}: evaluated by cli/perl.c
 *
 * and those of the table cli/rpl.h builds (--plus, -I and the renames,
 * --rpl, --parens), positional too ({2..}, {-1+.}). As in GNU parallel,
 * a {= whose =} is in a later word joins the words up to it with spaces.
 * Anything else in braces is literal text, as in GNU parallel; the first
 * such {word} is noted (t->unknown) for the caller to warn about.
 */
#ifndef FPC_TEMPLATE_H
#define FPC_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "rpl.h"

struct tmpl_word;
struct perl;

struct tmpl {
    struct tmpl_word *words;
    size_t nwords;
    bool has_repl;      /* any replacement string: inputs are not appended */
    bool needs_total;   /* {##} or {0#}: the number of jobs must be known */
    char **exprs;       /* Perl expressions, each once (cli/perl.h ids) */
    size_t nexprs;
    size_t expr_base;   /* perl's id of exprs[0]: templates sharing one
                           coprocess number theirs on (set by the caller) */
    char **joined;      /* words joined around a {= =} (owned) */
    size_t njoined;
    struct rpl_set rpls;
    const char *err;    /* EINVAL: why (static text) */
    const char *unknown; /* the first {word} left as text; NULL: none */
    size_t unknown_len;
    const char *sh;     /* --shell's shell (NULL: /bin/sh); set after tmpl_parse */
};

/* What one command is built from: a job's inputs, number and slot. */
struct tmpl_ctx {
    char **vals;        /* one value per input group */
    size_t nvals;
    unsigned long seq;  /* {#} */
    unsigned slot;      /* {%} */
    bool shell;         /* --shell: values are shell-quoted */
    bool raw;           /* with shell: values unquoted (no COMMAND: each
                           input is shell code) */
    size_t per_rec;     /* -X: values per input; a word holding {} is
                           repeated for each input; 0: no (-m, default) */
    size_t rec;         /* set by tmpl_build itself: with one_rec, the word
                           being repeated is for input rec: {} is its
                           values, {N} still the job's N-th */
    bool one_rec;
    bool total_known;   /* total_jobs() in Perl; else it dies */
    unsigned long total; /* {##}, {0#} */
    unsigned jobs;      /* -j: {0%}'s width */
    struct perl *perl;  /* the coprocess for t->exprs; NULL: none */
};

/* Parses words[0..n) (n >= 1), which must outlive t, with the table conf
   builds (NULL: the default replacement strings). 0, or -1 (ENOMEM;
   EINVAL: t->err says why: a {= without =}, a bad --rpl or --parens);
   call tmpl_free either way. tmpl_parse: tmpl_parse_conf(..., NULL). */
int tmpl_parse_conf(struct tmpl *t, char **words, size_t n, const struct rpl_conf *conf);
int tmpl_parse(struct tmpl *t, char **words, size_t n);
void tmpl_free(struct tmpl *t);

/* Builds the NULL-terminated argv to run (free with tmpl_argv_free) and the
   command line to show (joblog, --dry-run, messages; free()). --shell:
   SH -c "words joined by spaces, values quoted"; else one argument
   per word, and a word that is exactly {} (or {.} ...) with several groups
   gives one argument per value. Without any replacement string the values
   are appended. 0; 1 when a Perl expression called skip() (the job is not
   to run; argv and display are built all the same); or -1 (ENOMEM;
   ENOSYS: Perl expressions and c->perl NULL; EIO: perl failed, after a
   message), with nothing to free. */
int tmpl_build(const struct tmpl *t, const struct tmpl_ctx *c, char ***argv_out,
               char **display_out);

void tmpl_argv_free(char **argv);

/* The length of the command line, for -m/-X/--xargs, as GNU parallel
   counts it (its CommandLine::len): fixed + n * per_arg + (their lengths)
   * per_char - less for n >= 1 inputs (n * per_arg >= less). context: -X
   (each word holding {} repeated per input). */
struct tmpl_cost {
    size_t fixed, per_arg, per_char, less;
};
void tmpl_cost(const struct tmpl *t, bool context, struct tmpl_cost *cost);

#endif
