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
 *
 * A Perl expression ({= ... =}) is refused (tmpl_parse: EINVAL): GNU
 * parallel evaluates it, and as text it would run the wrong command.
 * Anything else in braces is literal text, as in GNU parallel.
 */
#ifndef FPC_TEMPLATE_H
#define FPC_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

struct tmpl_word;

struct tmpl {
    struct tmpl_word *words;
    size_t nwords;
    bool has_repl; /* any replacement string: inputs are not appended */
    const char *sh; /* --shell's shell (NULL: /bin/sh); set after tmpl_parse */
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
};

/* Parses words[0..n) (n >= 1), which must outlive t. 0, or -1 (ENOMEM,
   EINVAL: a word holds a Perl expression); call tmpl_free either way. */
int tmpl_parse(struct tmpl *t, char **words, size_t n);
void tmpl_free(struct tmpl *t);

/* Builds the NULL-terminated argv to run (free with tmpl_argv_free) and the
   command line to show (joblog, --dry-run, messages; free()). --shell:
   SH -c "words joined by spaces, values quoted"; else one argument
   per word, and a word that is exactly {} (or {.} ...) with several groups
   gives one argument per value. Without any replacement string the values
   are appended. 0, or -1 (ENOMEM; nothing to free). */
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
