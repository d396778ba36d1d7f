/*
 * perl.h: {= Perl expressions =} (and --rpl, --plus's Perl strings)
 * evaluated as GNU parallel evaluates them, by ONE perl coprocess for the
 * whole run, fed one request per replacement over two pipes (no perl per
 * job).
 *
 * Each expression is compiled once, as GNU parallel compiles it:
 *   package Arg; sub { no strict; no warnings; my $job = shift; EXPR }
 * and run with $_ the value; the value of $_ afterwards replaces the
 * string. Available: @arg (1-based: every value of the job), $job->seq(),
 * $job->slot(), seq(), slot(), total_jobs(), skip() (the job is not run),
 * Q() (shell quoting, as GNU parallel's), pQ(), uq() (the value is not
 * quoted with --shell), hash(), the yyyy_mm_dd... date helpers. Variables
 * keep their values from one evaluation to the next, as in GNU parallel.
 *
 * Protocol (private to perl.c): requests "C id len\n<expr>" (compile) and
 * "E id pos seq slot total jobs nvals\n" then nvals times "len\n<bytes>";
 * answers "status len\n<bytes>" (status: 0 value, 1 value not to quote,
 * 2 skip, 3 error text).
 */
#ifndef FPC_PERL_H
#define FPC_PERL_H

#include <stdbool.h>
#include <stddef.h>

#include "sbuf.h"

struct perl;

/* Starts `perl` (found on PATH) and compiles exprs[0..n). 0, or -1 after
   a message (no perl: "{= =} needs perl"; an expression that does not
   compile: perl's error); *pp is NULL on failure. */
int perl_start(struct perl **pp, char *const *exprs, size_t n);

/* What one evaluation sees. */
struct perl_job {
    char *const *vals;  /* @arg[1..nvals] */
    size_t nvals;
    unsigned long seq;
    unsigned slot;
    long long total;    /* total_jobs(); -1: not known (total_jobs() dies) */
    unsigned jobs;      /* -j, for {0%} */
};

/* Evaluates expression id with $_ = j->vals[pos] (pos < nvals; or "" when
   pos >= nvals) and appends the result to out. 0, 1 when the expression
   called skip(), -1 after a message (the expression died, perl exited:
   errno EIO; ENOMEM). *unquoted: uq() was called. */
int perl_eval(struct perl *p, size_t id, const struct perl_job *j, size_t pos, struct sbuf *out,
              bool *unquoted);

/* Closes perl's input and waits for it to exit. NULL is fine. */
void perl_stop(struct perl *p);

#endif
