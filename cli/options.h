/*
 * options.h: the command line, parsed into struct opts as GNU parallel
 * reads it (docs/forkpool.1). Every parse error is reported here, on
 * stderr, in the tool's words; callers only exit.
 */
#ifndef FPC_OPTIONS_H
#define FPC_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

enum halt_when { HALT_NEVER, HALT_SOON, HALT_NOW };
enum halt_why { HALT_FAIL, HALT_SUCCESS, HALT_DONE };

/* Where one input group comes from: the words after a `:::`, or one file
   named after `::::` ("-": stdin). */
struct source {
    char **args; /* `:::` words (pointers into argv); NULL for a file */
    size_t nargs;
    const char *path; /* `::::` file; NULL for words */
};

struct opts {
    const char *jobs_arg; /* -j as given; NULL: online CPUs (see opt_jobs) */
    bool keep_order, bar, dry_run, tag, shell, help, version, contain;
    long timeout_ms;         /* 0: none */
    double timeout_s;        /* as given, for messages */
    unsigned long max_tries; /* runs of a failing job in all; 0: unlimited */
    enum halt_when halt_when;
    enum halt_why halt_why;
    unsigned long halt_n;
    const char *joblog;
    char *delim; /* record separator (owned, may hold NUL); default "\n" */
    size_t dlen;
    char **cmd; /* COMMAND [ARGS...], pointers into argv */
    size_t ncmd;
    struct source *srcs; /* input groups in order; none: stdin */
    size_t nsrcs;
    const char **argfiles; /* -a FILE, in order (they come first in srcs) */
    size_t nargfiles;
    /* --pipe, --pipepart (issue #12 item 4): values as given, checked and
       used by cli/pipe.c. pipe_n/pipe_l: -N/-L (records with --pipe). */
    bool pipe, pipepart, regexp, rrs;
    const char *block_arg, *recstart, *recend, *pipe_n, *pipe_l, *header;
};

/* --help's text. */
extern const char opt_usage[];

/* Parses the whole command line into *o (which borrows argv's strings).
   0, or -1 after printing a usage message; call opt_free either way.
   --help and --version stop the parse (o->help / o->version). */
int opt_parse(struct opts *o, int argc, char **argv);
void opt_free(struct opts *o);

/* Decodes a -d delimiter with GNU parallel's escapes (\n \t \r \0 \\ \a \b
   \f \v, octal \NNN, hex \xHH; any other backslash stays as written) into a
   new buffer *out of *outlen bytes (not NUL-terminated; may hold NUL).
   0, or -1 (errno ENOMEM, or EINVAL for an empty result). */
int opt_delim(const char *s, char **out, size_t *outlen);

/* Resolves -j as given (s; NULL: not given) into *jobs: NULL cpus; N; N% of
   cpus, +N or -N cpus (at least 1); 0 as many as possible: *total when it
   is known (total not NULL), capped by the fds a job needs (RLIMIT_NOFILE)
   and by 4096. cpus below 1 counts as 1. 0, or -1 after a message. */
int opt_jobs(const char *s, long cpus, const unsigned long *total, unsigned *jobs);

#endif
