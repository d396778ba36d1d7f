/*
 * forkpool(1): run a command once per input, N at a time, with GNU
 * parallel's interface (docs/forkpool.1 is the user's documentation).
 *
 *   forkpool [OPTIONS] COMMAND [ARGS...] [::: INPUTS... | :::: FILES...]...
 *
 * A client of the public API only: every job is a forkpool_exec task whose
 * stdout and stderr are captured and printed whole when it ends. The tool
 * drives the pool from its own poll() loop, which also watches a signalfd
 * (SIGINT, SIGTERM) and, when inputs are streamed, the input's fd, so it
 * never blocks where a signal could not be noticed.
 *
 * This file: setup, the main loop, signals, teardown and the exit status.
 * The modules below it (docs/DESIGN.md, "The command-line tool's modules"):
 *   jobs.c     starting jobs, completions, retries, --halt, -k ordering
 *   output.c   printing job output, --tag, the joblog, the progress bar
 *   outx.c     --tagstring, -t, --results, --files, -u, --eta
 *   control.c  --resume..., --delay, --memfree, --load, --timeout/--halt N%
 *   shellcmd.c --shell's shell, -q, --shellquote, commands needing a shell
 *   batch.c    each job's inputs: -N, -m, -X, --colsep, --header, no COMMAND
 *              (header.c: {name}; batchopt.c: their options' values)
 *   template.c replacement strings and building each job's argv
 *   inputs.c   input groups and their combinations (reader.c: records)
 *   pipe.c     --pipe (stdin cut into blocks) and --pipepart (its runner)
 *              (robin.c: --roundrobin's FIFOs)
 *   options.c  the command line into struct opts, -j
 *   profile.c  the #! line, profiles and $PARALLEL before it; --record-env
 *   machine.c  CPU counts, --number-of-cores and the like, --nice
 *   quote.c, sbuf.c, fpc.c  shell quoting, strings, messages and writes
 */
#include <forkpool.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "control.h"
#include "fpc.h"
#include "jobs.h"
#include "machine.h"
#include "output.h"
#include "outx.h"
#include "shellcmd.h"
#include "perl.h"
#include "profile.h"
#include "robin.h"

enum { EXIT_USAGE = 255 };

/* Reads the pending signal: the first SIGINT/SIGTERM stops every job (the
   loop then drains them); a second one leaves at once. */
static bool handle_signal(struct app *a)
{
    struct signalfd_siginfo si;
    ssize_t n = read(a->sigfd, &si, sizeof si);
    if (n != (ssize_t)sizeof si)
        return false;
    if (a->stop_signal)
        return true; /* second signal: give up draining */
    a->stop_signal = (int)si.ssi_signo;
    if (a->pool != NULL)
        forkpool_stop(a->pool);
    return false;
}

/* Our stdout is a pipe (`| head -1`): watched, so that when its reader
   leaves, the jobs still running are killed then, not when one of them
   first prints. -1 for anything else. */
static int watched_stdout(void)
{
    struct stat st;
    return fstat(STDOUT_FILENO, &st) == 0 && S_ISFIFO(st.st_mode) ? STDOUT_FILENO : -1;
}

/* Whether the stream input_wait means is the data of --pipe (else the
   inputs': without --pipe, and with --tee until every job started). */
static bool waits_for_data(const struct app *a)
{
    return a->pipe != NULL && (!a->o.tee || a->tee_all_started);
}

/* Runs until every job finished (or a signal or error ends the run). */
static void run(struct app *a)
{
    const int out = watched_stdout();
    for (;;) {
        ctl_tick(a); /* --timeout N% */
        jobs_fill(a);
        if (a->pool != NULL && a->nrunning > 0 && forkpool_poll(a->pool, 0) < 0) {
            jobs_fail(a, "forkpool_poll");
            return;
        }
        if (out_lines(a) != 0) { /* --line-buffer */
            jobs_fail(a, "cannot write output");
            return;
        }
        if (jobs_complete(a) > 0)
            continue;
        if (a->fatal || (a->nrunning == 0 && !a->input_wait && !ctl_held(a)))
            return;
        struct pollfd *fds = a->pfds;
        fds[0] = (struct pollfd){.fd = a->sigfd, .events = POLLIN};
        fds[1] = (struct pollfd){.fd = a->nrunning > 0 ? forkpool_fd(a->pool) : -1,
                                 .events = POLLIN};
        fds[2] = (struct pollfd){
            .fd = !a->input_wait ? -1 : waits_for_data(a) ? pipe_fd(a->pipe) : a->in.rd.fd,
            .events = POLLIN};
        fds[3] = (struct pollfd){.fd = out, .events = 0}; /* POLLERR: no reader left */
        size_t nfds = 4;
        int wait_ms = ctl_wait_ms(a);
        int bw = a->input_wait && waits_for_data(a) ? pipe_wait_ms(a->pipe) : -1;
        if (bw >= 0 && (wait_ms < 0 || bw < wait_ms))
            wait_ms = bw;
        if (a->robin != NULL) { /* --roundrobin: the jobs' FIFOs */
            int took = robin_flush(a->robin);
            if (took < 0) {
                jobs_fail(a, "writing to a job's FIFO");
                return;
            }
            if (took > 0) /* a job may take the next block: jobs_fill first */
                continue;
            int rw;
            nfds += robin_pollfds(a->robin, fds + 4, &rw);
            if (rw >= 0 && (wait_ms < 0 || rw < wait_ms))
                wait_ms = rw;
        }
        if (poll(fds, nfds, wait_ms) < 0) {
            if (errno == EINTR)
                continue;
            jobs_fail(a, "poll");
            return;
        }
        if ((fds[0].revents & POLLIN) && handle_signal(a))
            return;
        if (fds[3].revents & POLLERR) {
            errno = EPIPE;
            jobs_fail(a, "standard output");
            return;
        }
        if (fds[2].revents != 0 &&
            (waits_for_data(a) ? pipe_fill(a->pipe) : reader_fill(&a->in.rd)) != 0) {
            jobs_fail(a, "cannot read inputs");
            return;
        }
    }
}

/* Blocks SIGINT and SIGTERM and makes a signalfd for them (the library's
   children start with an empty mask). 0, or -1 after a message. */
static int signals_setup(struct app *a)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
        fpc_say("sigprocmask: %s", strerror(errno));
        return -1;
    }
    a->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (a->sigfd < 0) {
        fpc_say("signalfd: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* forkpool-mpi is this file built with FORKPOOL_CLI_MPI (make MPI=1):
   jobs go to the serving ranks, -j jobs at once on each. */
#ifdef FORKPOOL_CLI_MPI
#include "forkpool_mpi.h"
#define CLI_MODE FORKPOOL_MPI
static unsigned serving_ranks(void)
{
    int n = forkpool_mpi_size();
    return n > 1 ? (unsigned)n - 1 : 1;
}
/* Without -j, each serving rank runs as many jobs as it has CPUs. */
static int jobs_by_rank_cpus(const struct app *a)
{
    return forkpool_mpi_size() > 1 && !a->o.jobs_arg;
}
#else
#define CLI_MODE FORKPOOL_FRESH
static unsigned serving_ranks(void)
{
    return 1;
}
static int jobs_by_rank_cpus(const struct app *a)
{
    (void)a;
    return 0;
}
#endif

/* The template, with the replacement strings the options define (issue
   #12 item 2). 0, or -1 after a message. */
static int repl_setup(struct app *a)
{
    if (tmpl_parse_conf(&a->tmpl, a->o.cmd, a->o.ncmd, &a->o.rpl) != 0) {
        fpc_say("%s", errno == EINVAL ? a->tmpl.err : "out of memory");
        return -1;
    }
    if (a->tmpl.unknown != NULL)
        fpc_say("warning: %.*s is not a replacement string: left as text (see --plus, --rpl)",
                (int)a->tmpl.unknown_len, a->tmpl.unknown);
    if (a->tmpl.needs_total && !a->total_known && (a->o.pipe || a->o.pipepart) && !a->o.tee) {
        fpc_say("{##} and {0#} need the number of jobs in advance, which --pipe does not know");
        return -1;
    }
    if ((a->tmpl.needs_total || a->o.eta) && !a->total_known)
        a->batch.collect = true; /* every input read first, as GNU parallel does */
    return 0;
}

/* --total-jobs N: the number of jobs, when the inputs do not tell it before
   the start (a file, stdin), for --eta, --bar, {##} and total_jobs(). 0,
   or -1 after a message. */
static int total_given(struct app *a)
{
    unsigned long n;
    if (a->o.total_jobs == NULL)
        return 0;
    if (fpc_parse_ulong(a->o.total_jobs, &n) != 0) {
        fpc_say("bad value '%s' for --total-jobs: expected a number of jobs",
                a->o.total_jobs);
        return -1;
    }
    if (!a->total_known) {
        a->total = n;
        a->total_known = true;
    }
    return 0;
}

/* The perl coprocess, when the command, --tagstring or --results hold Perl
   expressions: one for all, so that variables are shared as in GNU
   parallel; each template's expressions numbered on from the last's. 0, or
   -1 after a message. */
static int perl_setup(struct app *a)
{
    struct tmpl *ts[3] = {&a->tmpl};
    size_t nt = 1 + outx_tmpls(a, ts + 1), n = 0;
    for (size_t i = 0; i < nt; i++) {
        ts[i]->expr_base = n;
        n += ts[i]->nexprs;
    }
    if (n == 0)
        return 0;
    char **exprs = malloc(n * sizeof *exprs);
    if (exprs == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    for (size_t i = 0; i < nt; i++)
        for (size_t k = 0; k < ts[i]->nexprs; k++) {
            exprs[ts[i]->expr_base + k] = ts[i]->exprs[k];
            /* total_jobs(): every input read first, as for {##} (--pipe:
               the expression dies) */
            if (strstr(ts[i]->exprs[k], "total_jobs") != NULL && !a->total_known &&
                ((!a->o.pipe && !a->o.pipepart) || a->o.tee))
                a->batch.collect = true;
        }
    int r = perl_start(&a->perl, exprs, n);
    free(exprs);
    return r;
}

/* --tee (with --pipe): every job reads standard input as it comes, so all
   run at once (-j defaults to -j 0, as in GNU parallel), and -j must allow
   them all. 0, or -1 after a message. */
static int tee_check(const struct app *a)
{
    if (!a->o.tee || !a->o.pipe || a->o.dry_run || !a->total_known)
        return 0; /* not known yet: jobs.c checks as the inputs come */
    if (a->jobs < a->total && strcmp(a->o.jobs_arg, "0") == 0) {
        fpc_say("--tee starts every job at once: %lu jobs are more than -j 0 allows here "
                "(%u, from the limit on open files)",
                a->total, a->jobs);
        return -1;
    }
    if (a->jobs < a->total) {
        fpc_say("--tee starts every job at once, and -j allows %u of the %lu: give -j 0",
                a->jobs, a->total);
        return -1;
    }
    return 0;
}

/* Everything before the first job: inputs, template, -j, joblog, signals,
   the pool. 0, or -1 after a message. */

static int setup(struct app *a)
{
    if (ctl_prepare(a) != 0 || shell_check(&a->o) != 0)
        return -1;
    /* --pipe/--pipepart: the jobs' data is not their arguments (--tee: it
       is all of stdin for each job, the arguments are the inputs). */
    bool piped = (a->o.pipe || a->o.pipepart) && !a->o.tee;
    if (!piped && (inputs_init(&a->in, &a->o) != 0 || batch_setup(a) != 0))
        return -1;
    a->total_known = !piped && inputs_total(&a->in, &a->total);
    if (!piped)
        batch_total(a, &a->total_known, &a->total);
    if (total_given(a) != 0 || repl_setup(a) != 0)
        return -1;
    a->tmpl.sh = a->o.shell_path;
    if (outx_init(a) != 0 || perl_setup(a) != 0 || ctl_init(a) != 0)
        return -1;
    if (mach_nice(&a->o) != 0)
        return -1;
    if (a->o.tee && a->o.jobs_arg == NULL)
        a->o.jobs_arg = "0"; /* as given: forkpool-mpi keeps it per rank too */
    if (opt_jobs(a->o.jobs_arg, mach_cpus(&a->o), a->total_known ? &a->total : NULL,
                 &a->jobs) != 0 ||
        tee_check(a) != 0)
        return -1;
    /* Under MPI, -j is per serving rank (N%, +N and -N of rank 0's CPUs). */
    unsigned per_rank = jobs_by_rank_cpus(a) ? 0 : a->jobs;
    if (a->jobs > UINT_MAX / serving_ranks()) {
        fpc_say("-j: %u jobs at once on each of %u ranks is too many", a->jobs,
                serving_ranks());
        return -1;
    }
    a->jobs *= serving_ranks();
    a->jobs_elsewhere = serving_ranks() > 1;
    if (!a->o.dry_run) {
        forkpool_options po = {.concurrency = per_rank,
                               .mode = CLI_MODE,
                               .timeout_ms = a->o.timeout_ms,
                               .contain = a->o.contain,
                               .kill_sequence = a->o.termseq,
                               .kill_steps = a->o.ntermseq};
        a->pool = forkpool_create(&po);
        if (a->pool == NULL && a->o.contain && errno == EPERM) {
            fpc_say("--contain: the kernel refuses PID namespaces here (they need root, "
                    "CAP_SYS_ADMIN)");
            return -1;
        }
        if (a->pool == NULL) {
            fpc_say("cannot create the pool%s: %s",
                    a->o.contain && errno == EINVAL ? " (--contain does not work with MPI yet)"
                                                     : "",
                    strerror(errno));
            return -1;
        }
        if (!per_rank)
            a->jobs = forkpool_concurrency(a->pool);
    }
    if (pipe_init(&a->pipe, &a->o, a->jobs) != 0)
        return -1;
    if ((a->o.roundrobin || a->o.tee || a->o.fifo) && !a->o.dry_run &&
        robin_init(&a->robin, a->jobs, a->o.tmpdir) != 0)
        return -1;
    a->slots = calloc(a->jobs, 1);
    a->pfds = calloc(4 + (size_t)a->jobs, sizeof *a->pfds);
    if (a->slots == NULL || a->pfds == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    if (out_joblog_open(a) != 0 || signals_setup(a) != 0)
        return -1;
    a->t0 = fpc_mono_now();
    return 0;
}

/* Frees everything; destroying the pool kills and reaps what still runs. */
static void teardown(struct app *a)
{
    forkpool_destroy(a->pool); /* frees every task; handlers do not run */
    a->pool = NULL;
    jobs_free_all(a);
    robin_free(a->robin);
    free(a->pfds);
    free(a->slots);
    out_joblog_close(a);
    outx_free(a);
    ctl_free(a);
    if (a->sigfd >= 0)
        close(a->sigfd);
    perl_stop(a->perl);
    a->perl = NULL;
    tmpl_free(&a->tmpl);
    pipe_free(a->pipe);
    batch_free(&a->batch);
    inputs_free(&a->in);
    opt_free(&a->o);
}

/* The exit status, as GNU parallel's. */
static int exit_status(const struct app *a)
{
    if (a->stop_signal)
        return 128 + a->stop_signal;
    if (a->fatal)
        return EXIT_USAGE;
    if (a->halt_status >= 0)
        return a->halt_status;
    if (a->o.halt_pct > 0 && a->o.halt_when != HALT_NEVER)
        return ctl_end_status(a);
    return a->nfail > 100 ? 101 : (int)a->nfail;
}

/* Opens /dev/null on any of fds 0-2 that is closed, so that no fd we make
   (the signalfd, the pool's) lands there and is mistaken for a standard
   stream or handed to a job as one. 0, or -1. */
static int std_fds_open(void)
{
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
            continue;
        int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (n != fd) {
            if (n >= 0)
                close(n);
            return -1;
        }
    }
    return 0;
}

/* Runs the command line prof_argv made (struct app borrows its strings
   until teardown). The exit status. */
static int run_args(int argc, char **argv, bool skip_first_line)
{
    struct app a = {.sigfd = -1, .joblog_fd = -1, .next_seq = 1, .next_print = 1,
                    .halt_status = -1};
    if (opt_parse(&a.o, argc, argv) != 0) {
        opt_free(&a.o);
        return EXIT_USAGE;
    }
    a.o.skip_first_line = skip_first_line;
    if (a.o.record_env) {
        opt_free(&a.o);
        return prof_record_env();
    }
    if (a.o.help || a.o.version) {
        int r = a.o.help ? (fputs(opt_usage, stdout) < 0 ? -1 : fputs(opt_usage_more, stdout))
                         : printf("forkpool %s\n", FORKPOOL_VERSION);
        opt_free(&a.o);
        return r < 0 || fflush(stdout) != 0 ? EXIT_USAGE : 0;
    }
    if (mach_info_wanted(&a.o)) { /* --number-of-cores, --minversion... */
        int r = mach_info(&a.o);
        opt_free(&a.o);
        return r;
    }
    if (a.o.shellquote) {
        int r = shell_quote_inputs(&a.o);
        opt_free(&a.o);
        return r;
    }
    if (setup(&a) != 0) {
        teardown(&a);
        return EXIT_USAGE;
    }
    run(&a);
    if ((a.o.bar || a.o.eta || a.o.progress) && !a.stop_signal)
        out_bar_draw(&a, true);
    else if (out_bar_clear(&a) != 0)
        a.fatal = true;
    int status = exit_status(&a);
    teardown(&a);
    return status;
}

static int run_cli(int argc, char **argv)
{
    pipe_runner(argc, argv); /* --pipepart's jobs: does not return */
    /* Jobs get default handlers from the library; we want EPIPE, not death,
       when our reader goes away, so we can still kill what runs. */
    if (std_fds_open() != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        fpc_say("cannot set up standard streams: %s", strerror(errno));
        return EXIT_USAGE;
    }
    /* The #! line's options, profiles and $PARALLEL come first. */
    struct prof_argv pa;
    int status = prof_argv(argc, argv, &pa) == 0
                     ? run_args(pa.argc, pa.argv, pa.skip_first_line)
                     : EXIT_USAGE;
    prof_argv_free(&pa);
    return status;
}

int main(int argc, char **argv)
{
#ifdef FORKPOOL_CLI_MPI
    /* The serving ranks stay in forkpool_mpi_init until rank 0 is done. */
    int rank = forkpool_mpi_init(&argc, &argv);
    if (rank != 0) {
        if (rank < 0)
            fpc_say("cannot start MPI: %s", strerror(errno));
        return forkpool_mpi_finalize() == 0 && rank > 0 ? 0 : EXIT_USAGE;
    }
    int status = run_cli(argc, argv);
    if (forkpool_mpi_finalize() != 0 && status == 0)
        status = EXIT_USAGE;
    return status;
#else
    return run_cli(argc, argv);
#endif
}
