/*
 * app.h: the state of one run of the tool, shared by main.c (which owns it),
 * jobs.c and output.c. Types only: each field is changed by the file named
 * after it, or by main.c during setup and teardown.
 */
#ifndef FPC_APP_H
#define FPC_APP_H

#include <forkpool.h>

#include <stdbool.h>
#include <stddef.h>

#include "batch.h"
#include "inputs.h"
#include "options.h"
#include "pipe.h"
#include "template.h"

struct app;
struct outx; /* outx.c (issue #12 item 5) */
struct ctl;  /* control.c (issue #12 item 6) */
struct robin; /* robin.c (--roundrobin) */
struct pollfd;

/* --line-buffer, for one captured stream of a job (output.c): its bytes
   printed already, and those searched for a newline. */
struct lb_pos {
    size_t shown, seen;
};

/* One input combination, from its first start until its output is printed. */
struct job {
    struct app *app;
    unsigned long seq;       /* {#}, 1-based */
    char **vals;             /* its input values (owned) */
    size_t nvals;            /* how many (batch.c: -N, -m, --colsep...) */
    char **argv;             /* this attempt's argv (owned) */
    char *display;           /* this attempt's command line, shell-quoted */
    unsigned slot;           /* {%}: 1..jobs while running, else 0 */
    unsigned long tries;     /* attempts started */
    forkpool_task *task;     /* this attempt's task (NULL in --dry-run) */
    double start_real;       /* epoch seconds */
    double start_mono;
    double runtime;          /* seconds */
    bool ok;                 /* outcome, from the handlers */
    bool skipped;            /* skip() in {= =}: not run, not printed */
    bool silent;             /* --roundrobin: a slot no block reached; it
                                runs and counts, but prints and logs nothing */
    forkpool_error_kind kind;
    int code;
    struct pipe_blk blk;     /* --pipe/--pipepart: this job's input */
    char *cat;               /* --cat: the file holding it (removed with j) */
    char *tag;               /* --tagstring, expanded as the attempt started */
    char *resname;           /* --results NAME{...}: NAME expanded, likewise */
    struct lb_pos lb_out, lb_err; /* --line-buffer: this attempt's streams */
    bool shown_cmd;          /* --line-buffer -v: its command line printed */
    struct job *next;                  /* completion FIFO */
    struct job *live_prev, *live_next; /* every job alive */
};

struct app {
    struct opts o;
    struct inputs in;        /* unused with --pipe/--pipepart */
    struct pipe_src *pipe;   /* --pipe/--pipepart; else NULL */
    struct robin *robin;     /* --roundrobin, --tee (not --dry-run); else NULL */
    struct pipe_blk tee_blk; /* --tee: the block being given, from tee_off */
    size_t tee_off;
    bool tee_all_started;    /* --tee: every job started (inputs ended) */
    struct pollfd *pfds;     /* main.c's poll() set: 4, and one per job slot */
    struct tmpl tmpl;
    struct batch batch;      /* batch.c: inputs into each job's values */
    struct perl *perl;       /* {= =}'s coprocess (perl.h); NULL: none */
    unsigned jobs;           /* -j, resolved */
    bool jobs_elsewhere;     /* forkpool-mpi with serving ranks: jobs keep
                                their rank's environment (ours not sent) */
    bool total_known;
    unsigned long total;
    forkpool *pool;          /* NULL in --dry-run */
    int sigfd;
    int joblog_fd;           /* output.c; -1: none */
    bool joblog_close;
    unsigned char *slots;    /* slots[i]: slot i+1 is taken */
    unsigned nrunning;
    unsigned long next_seq;
    unsigned long next_print; /* -k: the seq printed next */
    struct job **heap;        /* -k: finished jobs waiting, min-heap on seq */
    size_t nheap, heapcap;
    struct job *done_head, *done_tail; /* completed, not yet processed */
    struct job *live;
    unsigned long nfail, nsucc, ndone;
    enum halt_when halting;
    int halt_status;          /* exit status decided by --halt; -1: none */
    int stop_signal;          /* SIGINT/SIGTERM received; 0: none */
    bool fatal;               /* an internal error: exit 255 */
    bool input_wait;          /* group 0's stream must be read */
    /* progress bar (output.c) */
    double t0;
    size_t bar_width;         /* length of the line drawn last; 0: none */
    bool status_head;         /* --eta/--progress: the table is printed */
    double eta_first, eta_avg; /* --eta: first completion, smoothed average */
    long eta_last;
    /* issue #12 items 5-6 (each owned by its file) */
    struct outx *outx;
    struct ctl *ctl;
};

#endif
