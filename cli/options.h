/*
 * options.h: the command line, parsed into struct opts as GNU parallel
 * reads it (docs/forkpool.1). Every parse error is reported here, on
 * stderr, in the tool's words; callers only exit.
 */
#ifndef FPC_OPTIONS_H
#define FPC_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "forkpool.h"
#include "rpl.h"

enum halt_when { HALT_NEVER, HALT_SOON, HALT_NOW };
enum halt_why { HALT_FAIL, HALT_SUCCESS, HALT_DONE };

/* Where one input group comes from: the words after a `:::`, or one file
   named after `::::` ("-": stdin). */
struct source {
    char **args; /* `:::` words (pointers into argv); NULL for a file */
    size_t nargs;
    const char *path; /* `::::` file; NULL for words */
    bool link;        /* `:::+` / `::::+`: linked to the group before */
};

struct opts {
    const char *jobs_arg; /* -j as given; NULL: online CPUs (see opt_jobs) */
    bool keep_order, bar, dry_run, tag, shell, help, version, contain;
    long timeout_ms;         /* 0: none */
    double timeout_s;        /* as given, for messages */
    /* --termseq: how a job is killed (timeout, --halt now, a signal to the
       tool); GNU parallel's TERM,200,TERM,100,TERM,50,KILL,25 unless given
       (so a job that handles SIGTERM gets it three times) */
    forkpool_kill_step termseq[FORKPOOL_KILL_STEPS_MAX];
    unsigned ntermseq;
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
    /* issue #12 items 5-7 (output, control, shell; cli/shellcmd.c,
       cli/outx.c, cli/control.c). Values are kept as given and checked
       there, at setup. */
    const char *shell_path; /* --shell=PATH, else resolved: $SHELL or /bin/sh */
    bool quote, shellquote;
    bool verbose, ungroup, line_buffer, files, eta, progress;
    const char *total_jobs; /* --total-jobs N; NULL: counted from the inputs */
    const char *tagstring, *results, *tmpdir;
    bool resume, resume_failed, retry_failed;
    const char *delay, *memfree, *load;
    double timeout_pct;  /* --timeout N%: N/100 of the median runtime; 0: none */
    double halt_pct;     /* --halt ...=N%: N/100 of all jobs; 0: none */
    /* Issue #12 items 1 and 3 (values parsed by cli/batchopt.c). */
    long max_args;         /* -N/-n/--max-replace-args; -1: not given */
    bool replace_args;     /* the count came from -N: words with {} are
                              repeated per value, as with -X */
    char multi;            /* 0, 'm' (-m), 'X' (-X), 'x' (--xargs) */
    unsigned long max_chars; /* -s; 0: not given */
    bool show_limits, link, no_empty;
    bool trim_l, trim_r, trim_given; /* --trim; --colsep alone trims both */
    const char *colsep;    /* --colsep REGEX (ERE); NULL: none */
    const char *header;    /* --header; NULL: none */
    const char *eof_str;   /* -E; NULL: none */
    const char *arg_sep, *arg_file_sep; /* ":::" and "::::" unless given */
    bool no_command;       /* no COMMAND: each input is a shell command */
    /* issue #12 item 2 (replacement strings): --plus, -I and the renames,
       --rpl (rpl.rpls owned), --parens; checked by rpl_init */
    struct rpl_conf rpl;
    /* --pipe, --pipepart (issue #12 item 4): values as given, checked and
       used by cli/pipe.c (with them, max_args counts records; -L: pipe_l
       lines a record; header: lines sent to every job). */
    bool pipe, pipepart, regexp, rrs, roundrobin, cat, tee, fifo;
    const char *block_arg, *recstart, *recend, *pipe_l;
    long block_timeout_ms; /* --block-timeout; 0: none */
    /* The machine (cli/machine.c), and options GNU parallel users pass. */
    const char *info;       /* --number-of-threads|cores|cpus|sockets,
                               --max-line-length-allowed: its long name */
    const char *minversion; /* --minversion VERSION */
    char cpu_unit;          /* what -j N% counts: 0 threads, 'c' cores,
                               's' sockets (--use-...-instead-of-...) */
    const char *nice;       /* --nice N, checked by mach_nice */
    bool noswap, shuf;      /* --noswap (control.c), --shuf (batch.c) */
    int print_cmd;          /* -v (once or more): each job's command on stdout */
    /* What GNU parallel reads before the command line (cli/profile.c):
       --profile/-J names (borrowed; profiles[0..nprofiles)), --plain,
       --record-env; skip_first_line: the first -a file's first line is
       not an input (set by prof_argv for --shebang, not an option). */
    const char **profiles;
    size_t nprofiles;
    bool plain, record_env, skip_first_line;
    int nopt_words;         /* argv[1..nopt_words) were options */
    bool dashdash;          /* ... the last of them the "--" ending them */
};

/* --help's text. */
extern const char opt_usage[];
extern const char opt_usage_more[]; /* printed after opt_usage */

/* Parses the whole command line into *o (which borrows argv's strings).
   0, or -1 after printing a usage message; call opt_free either way.
   --help, --version, the print-and-exit options (o->info, o->minversion)
   and --record-env stop the parse. */
int opt_parse(struct opts *o, int argc, char **argv);
void opt_free(struct opts *o);

/* Decodes a -d delimiter with GNU parallel's escapes (\n \t \r \0 \\ \a \b
   \f \v, octal \NNN, hex \xHH; any other backslash stays as written) into a
   new buffer *out of *outlen bytes (may hold NUL; a NUL follows them).
   0, or -1 (errno ENOMEM, or EINVAL for an empty result). */
int opt_delim(const char *s, char **out, size_t *outlen);

/* Resolves -j as given (s; NULL: not given) into *jobs: NULL cpus; N; N% of
   cpus, +N or -N cpus (at least 1); 0 as many as possible: *total when it
   is known (total not NULL), capped by the fds a job needs (RLIMIT_NOFILE)
   and by 4096; or the name of a file whose first line holds one of
   those (read once, here: GNU parallel reads it again as jobs end). cpus
   below 1 counts as 1. 0, or -1 after a message. */
int opt_jobs(const char *s, long cpus, const unsigned long *total, unsigned *jobs);

#endif
