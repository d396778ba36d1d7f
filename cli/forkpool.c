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
 * Sections, in order:
 *   utilities        messages, write_all, a growable string, shell quoting
 *   options          command-line parsing into struct opts
 *   inputs           the record reader, input groups and their combinations
 *   templates        replacement strings and command building
 *   jobs             starting, outcomes, output (ordering, --tag), joblog
 *   progress bar
 *   halt and retries
 *   main loop        poll(), signals, completions
 *   setup/teardown   main()
 *
 * At most `jobs` tasks are outstanding at any time (the pool has the same
 * concurrency), so every submitted task starts at once and its {%} slot is
 * known when its command is built. Inputs are read only as jobs start, and a
 * task is released as soon as its output is printed; with -k only finished
 * jobs that wait for an earlier one are kept.
 */
#include <forkpool.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "fpc.h"
#include "inputs.h"
#include "options.h"
#include "quote.h"
#include "sbuf.h"
#include "template.h"

enum { EXIT_USAGE = 255 };

/* ===================================================================== */
/* jobs                                                                  */
/* ===================================================================== */

struct app;

/* One input combination, from its first start until its output is printed. */
struct job {
    struct app *app;
    unsigned long seq;       /* {#}, 1-based */
    char **vals;             /* its input values (owned) */
    char **argv;             /* this attempt's argv (owned) */
    char *display;           /* this attempt's command line, shell-quoted */
    unsigned slot;           /* {%}: 1..jobs while running, else 0 */
    unsigned long tries;     /* attempts started */
    forkpool_task *task;     /* this attempt's task (NULL in --dry-run) */
    double start_real;       /* epoch seconds */
    double start_mono;
    double runtime;          /* seconds */
    bool ok;                 /* outcome, from the handlers */
    forkpool_error_kind kind;
    int code;
    struct job *next;                  /* completion FIFO */
    struct job *live_prev, *live_next; /* every job alive */
};

struct app {
    struct opts o;
    struct inputs in;
    struct tmpl tmpl;
    unsigned jobs;           /* -j, resolved */
    bool total_known;
    unsigned long total;
    forkpool *pool;
    int sigfd;
    int joblog_fd;           /* -1: none */
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
    /* progress bar */
    double t0;
    size_t bar_width;         /* length of the line drawn last; 0: none */
};

/* A new job for vals (ownership taken, also on failure). NULL: ENOMEM. */
static struct job *job_new(struct app *a, char **vals)
{
    struct job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        inputs_vals_free(vals, a->in.ngroups);
        return NULL;
    }
    j->app = a;
    j->vals = vals;
    j->seq = a->next_seq++;
    j->live_next = a->live;
    if (a->live)
        a->live->live_prev = j;
    a->live = j;
    return j;
}

/* Frees j and releases its task, if any. */
static void job_free(struct app *a, struct job *j)
{
    if (j->live_prev)
        j->live_prev->live_next = j->live_next;
    else
        a->live = j->live_next;
    if (j->live_next)
        j->live_next->live_prev = j->live_prev;
    forkpool_task_release(j->task);
    inputs_vals_free(j->vals, a->in.ngroups);
    tmpl_argv_free(j->argv);
    free(j->display);
    free(j);
}

static void on_done(struct job *j)
{
    struct app *a = j->app;
    j->runtime = fpc_mono_now() - j->start_mono;
    j->next = NULL;
    if (a->done_tail)
        a->done_tail->next = j;
    else
        a->done_head = j;
    a->done_tail = j;
}

/* Task handlers: record the outcome and queue the job for the main loop,
   which does everything else outside the library's call. */
static void on_then(forkpool_task *t, const void *result, size_t len, void *ud)
{
    (void)t;
    (void)result;
    (void)len;
    struct job *j = ud;
    j->ok = true;
    on_done(j);
}

static void on_catch(forkpool_task *t, const forkpool_error *err, void *ud)
{
    (void)t;
    struct job *j = ud;
    j->ok = false;
    j->kind = err->kind;
    j->code = err->code;
    on_done(j);
}

/* The lowest free slot, marked taken (1-based). */
static unsigned slot_take(struct app *a)
{
    for (unsigned i = 0; i < a->jobs; i++)
        if (!a->slots[i]) {
            a->slots[i] = 1;
            return i + 1;
        }
    return 1; /* unreachable: at most `jobs` jobs are outstanding */
}

static void slot_give(struct app *a, unsigned slot)
{
    if (slot >= 1 && slot <= a->jobs)
        a->slots[slot - 1] = 0;
}

static void bar_draw(struct app *a, bool final);

/* Starts one attempt of j: builds its command and submits it (or, with
   --dry-run, prints it). 0, or -1 and errno (internal error). */
static int job_start(struct app *a, struct job *j)
{
    tmpl_argv_free(j->argv);
    free(j->display);
    j->argv = NULL;
    j->display = NULL;
    if (j->task != NULL) {
        forkpool_task_release(j->task);
        j->task = NULL;
    }
    j->tries++;
    j->slot = a->o.dry_run ? (unsigned)((j->seq - 1) % a->jobs + 1) : slot_take(a);
    struct tmpl_ctx c = {j->vals, a->in.ngroups, j->seq, j->slot, a->o.shell};
    if (tmpl_build(&a->tmpl, &c, &j->argv, &j->display) != 0)
        return -1;
    if (a->o.dry_run) {
        struct sbuf b = {0};
        sb_adds(&b, j->display);
        sb_adds(&b, "\n");
        char *line = sb_take(&b);
        if (line == NULL)
            return -1;
        int r = fpc_write_all(STDOUT_FILENO, line, strlen(line));
        free(line);
        return r;
    }
    struct timespec rt;
    if (clock_gettime(CLOCK_REALTIME, &rt) != 0)
        return -1;
    j->start_real = fpc_timespec_s(&rt);
    j->start_mono = fpc_mono_now();
    forkpool_exec_options eo = {.capture = FORKPOOL_CAPTURE_STDOUT | FORKPOOL_CAPTURE_STDERR};
    j->task = forkpool_exec(a->pool, (const char *const *)j->argv, &eo);
    if (j->task == NULL)
        return -1;
    if (forkpool_catch(forkpool_then(j->task, on_then, j), on_catch, j) == NULL)
        return -1;
    a->nrunning++;
    bar_draw(a, false);
    return 0;
}

/* GNU parallel's Exitval and Signal for j's final outcome: exit status;
   a signal death is 0 and the signal; a timeout -1 and SIGTERM; a program
   that cannot be run 127 (not found) or 126, like a shell. */
static void job_status(const struct job *j, int *exitval, int *sig)
{
    *exitval = 0;
    *sig = 0;
    if (j->ok)
        return;
    switch (j->kind) {
    case FORKPOOL_ERR_EXITED: *exitval = j->code; break;
    case FORKPOOL_ERR_SIGNALED: *sig = j->code; break;
    case FORKPOOL_ERR_TIMEOUT:
    case FORKPOOL_ERR_CANCELLED:
        *exitval = -1;
        *sig = SIGTERM;
        break;
    case FORKPOOL_ERR_SPAWN: *exitval = j->code == ENOENT ? 127 : 126; break;
    default: *exitval = -1; break;
    }
}

/* Appends buf[0..n) to b with tag before each line (none if tag is NULL). */
static void add_tagged(struct sbuf *b, const char *buf, size_t n, const char *tag)
{
    if (tag == NULL) {
        sb_add(b, buf, n);
        return;
    }
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(buf + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - buf) + 1 : n;
        sb_adds(b, tag);
        sb_add(b, buf + i, end - i);
        i = end;
    }
}

/* Erases the progress bar line, if one is drawn, before other stderr output. */
static int bar_clear(struct app *a)
{
    if (a->bar_width == 0)
        return 0;
    struct sbuf b = {0};
    sb_adds(&b, "\r");
    for (size_t i = 0; i < a->bar_width; i++)
        sb_adds(&b, " ");
    sb_adds(&b, "\r");
    char *s = sb_take(&b);
    if (s == NULL)
        return -1;
    int r = fpc_write_all(STDERR_FILENO, s, strlen(s));
    free(s);
    a->bar_width = 0;
    return r;
}

/* Prints j's captured stdout and stderr (each in one write, tagged with
   --tag), then the tool's own message about it, if any. 0, or -1 and errno. */
static int job_print(struct app *a, struct job *j)
{
    char *tag = NULL;
    if (a->o.tag) {
        struct sbuf t = {0};
        for (size_t g = 0; g < a->in.ngroups; g++) {
            if (g > 0)
                sb_adds(&t, " ");
            sb_adds(&t, j->vals[g]);
        }
        sb_adds(&t, "\t");
        if ((tag = sb_take(&t)) == NULL)
            return -1;
    }
    size_t on = 0, en = 0;
    const char *out = forkpool_task_stdout(j->task, &on);
    const char *err = forkpool_task_stderr(j->task, &en);
    struct sbuf bo = {0}, be = {0};
    /* Untagged stdout is written straight from the task's buffer: a copy
       would double the memory a job's large output takes. */
    bool tagged = tag != NULL;
    if (out != NULL && tagged)
        add_tagged(&bo, out, on, tag);
    if (err != NULL)
        add_tagged(&be, err, en, tag);
    if (!j->ok && j->kind == FORKPOOL_ERR_SPAWN) {
        sb_adds(&be, "forkpool: cannot run '");
        sb_adds(&be, j->argv[0]);
        sb_adds(&be, "': ");
        sb_adds(&be, strerror(j->code));
        sb_adds(&be, "\n");
    } else if (!j->ok && j->kind == FORKPOOL_ERR_TIMEOUT) {
        sb_printf(&be, "forkpool: timed out after %g s: ", a->o.timeout_s);
        sb_adds(&be, j->display);
        sb_adds(&be, "\n");
    }
    free(tag);
    size_t olen = tagged ? bo.len : on, elen = be.len;
    char *os = sb_take(&bo), *es = sb_take(&be);
    const char *op = tagged || out == NULL ? os : out;
    int r = -1;
    if (os != NULL && es != NULL && fpc_write_all(STDOUT_FILENO, op, olen) == 0 &&
        (elen == 0 || (bar_clear(a) == 0 && fpc_write_all(STDERR_FILENO, es, elen) == 0)))
        r = 0;
    free(os);
    free(es);
    return r;
}

/* Appends j's line to the joblog (Command with newlines as NUL, as GNU
   parallel writes them). 0, or -1 and errno. */
static int joblog_write(struct app *a, const struct job *j)
{
    if (a->joblog_fd < 0)
        return 0;
    int exitval, sig;
    job_status(j, &exitval, &sig);
    size_t out = 0;
    if (forkpool_task_stdout(j->task, &out) == NULL)
        out = 0;
    struct sbuf b = {0};
    sb_printf(&b, "%lu\t:\t%.3f\t%10.3f\t0\t%zu\t%d\t%d\t", j->seq, j->start_real, j->runtime,
              out, exitval, sig);
    for (const char *p = j->display; *p; p++)
        sb_add(&b, *p == '\n' ? "" : p, 1); /* "" + NUL byte for '\n' */
    sb_adds(&b, "\n");
    size_t len = b.len;
    char *line = sb_take(&b);
    if (line == NULL)
        return -1;
    int r = fpc_write_all(a->joblog_fd, line, len);
    free(line);
    return r;
}

/* -k: min-heap of finished jobs on seq. */
static int heap_push(struct app *a, struct job *j)
{
    if (a->nheap == a->heapcap) {
        size_t cap = a->heapcap ? a->heapcap * 2 : 16;
        struct job **h = realloc(a->heap, cap * sizeof(struct job *));
        if (h == NULL)
            return -1;
        a->heap = h;
        a->heapcap = cap;
    }
    size_t i = a->nheap++;
    while (i > 0 && a->heap[(i - 1) / 2]->seq > j->seq) {
        a->heap[i] = a->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    a->heap[i] = j;
    return 0;
}

static struct job *heap_pop(struct app *a)
{
    struct job *top = a->heap[0];
    struct job *last = a->heap[--a->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= a->nheap)
            break;
        if (c + 1 < a->nheap && a->heap[c + 1]->seq < a->heap[c]->seq)
            c++;
        if (a->heap[c]->seq >= last->seq)
            break;
        a->heap[i] = a->heap[c];
        i = c;
    }
    if (a->nheap > 0)
        a->heap[i] = last;
    return top;
}

/* Prints (and frees) j now, or with -k once every earlier job is printed. */
static int output_job(struct app *a, struct job *j)
{
    if (!a->o.keep_order) {
        int r = job_print(a, j);
        job_free(a, j);
        return r;
    }
    if (heap_push(a, j) != 0) {
        job_free(a, j);
        return -1;
    }
    while (a->nheap > 0 && a->heap[0]->seq == a->next_print) {
        struct job *k = heap_pop(a);
        int r = job_print(a, k);
        job_free(a, k);
        a->next_print++;
        if (r != 0)
            return -1;
    }
    return 0;
}

/* ===================================================================== */
/* progress bar                                                          */
/* ===================================================================== */

/* Redraws the bar on stderr: done/total, percent and ETA when the total is
   known (all inputs given with :::), else counts. `final` ends the line. */
static void bar_draw(struct app *a, bool final)
{
    if (!a->o.bar)
        return;
    struct sbuf b = {0};
    sb_adds(&b, "\r");
    unsigned long total = a->total_known ? a->total : 0;
    if (final && !a->total_known)
        total = a->ndone;
    if (total > 0 || final) {
        unsigned long pct = total ? a->ndone * 100 / total : 100;
        enum { W = 30 };
        unsigned long fill = total ? a->ndone * W / total : W;
        sb_adds(&b, "[");
        for (unsigned long i = 0; i < W; i++)
            sb_adds(&b, i < fill ? "#" : "-");
        sb_printf(&b, "] %3lu%% %lu/%lu", pct, a->ndone, total);
        if (a->ndone > 0 && a->ndone < total) {
            double el = fpc_mono_now() - a->t0;
            double eta = el / (double)a->ndone * (double)(total - a->ndone);
            sb_printf(&b, " ETA %.0fs", eta);
        }
    } else {
        sb_printf(&b, "%lu done", a->ndone);
    }
    if (a->nrunning > 0)
        sb_printf(&b, ", %u running", a->nrunning);
    size_t width = b.len - 1;
    while (b.len - 1 < a->bar_width)
        sb_adds(&b, " ");
    if (final)
        sb_adds(&b, "\n");
    size_t len = b.len;
    char *s = sb_take(&b);
    if (s == NULL)
        return; /* out of memory: skip one frame */
    if (fpc_write_all(STDERR_FILENO, s, len) == 0)
        a->bar_width = final ? 0 : width;
    free(s);
}

/* ===================================================================== */
/* halt and retries                                                      */
/* ===================================================================== */

/* Whether a failed attempt of j is run again. */
static bool should_retry(const struct app *a, const struct job *j)
{
    if (j->ok || a->halting != HALT_NEVER || a->stop_signal || a->fatal)
        return false;
    return a->o.max_tries == 0 || j->tries < a->o.max_tries;
}

/* The exit status for --halt ...,fail=1: the failing job's (128+signal for
   a signal death or timeout, 127/126 when it could not be run). */
static int job_exit_status(const struct job *j)
{
    int exitval, sig;
    job_status(j, &exitval, &sig);
    if (exitval > 0 && exitval < 256)
        return exitval;
    if (sig > 0)
        return 128 + sig;
    return 1;
}

/* After j's final outcome was counted: starts halting if --halt's
   condition is met (now: every running job is killed and discarded). */
static void halt_check(struct app *a, const struct job *j)
{
    if (a->o.halt_when == HALT_NEVER || a->halting != HALT_NEVER)
        return;
    unsigned long n = a->o.halt_why == HALT_FAIL      ? a->nfail
                      : a->o.halt_why == HALT_SUCCESS ? a->nsucc
                                                      : a->ndone;
    bool counts = a->o.halt_why == HALT_DONE || (a->o.halt_why == HALT_FAIL) == !j->ok;
    if (!counts || n < a->o.halt_n)
        return;
    a->halting = a->o.halt_when;
    if (a->o.halt_why == HALT_SUCCESS)
        a->halt_status = 0;
    else if (a->o.halt_why == HALT_FAIL && a->o.halt_n == 1)
        a->halt_status = job_exit_status(j);
    if (bar_clear(a) != 0)
        a->fatal = true;
    fpc_say("halting (%s): this job %s: %s", a->halting == HALT_NOW ? "now" : "soon",
        j->ok ? "succeeded" : "failed", j->display);
    if (a->halting == HALT_NOW)
        forkpool_stop(a->pool);
}

/* ===================================================================== */
/* main loop                                                             */
/* ===================================================================== */

/* Sets a->fatal after printing what failed. A reader of our output that
   went away (`forkpool ... | head`) is no error to report: we stop quietly,
   killing what runs, and exit as a process killed by SIGPIPE would (141). */
static void fail_internal(struct app *a, const char *what)
{
    if (errno == EPIPE)
        a->stop_signal = SIGPIPE;
    else
        fpc_say("%s: %s", what, strerror(errno));
    a->fatal = true;
}

/* Handles one finished attempt: discard (stopping), retry, or log, count,
   print and check --halt. */
static void complete_job(struct app *a, struct job *j)
{
    a->nrunning--;
    slot_give(a, j->slot);
    j->slot = 0;
    if (a->stop_signal || a->halting == HALT_NOW || a->fatal) {
        job_free(a, j); /* killed by us, or we are leaving: not reported */
        return;
    }
    if (should_retry(a, j)) {
        if (job_start(a, j) != 0) {
            fail_internal(a, "cannot start a job");
            job_free(a, j);
        }
        return;
    }
    a->ndone++;
    if (j->ok)
        a->nsucc++;
    else
        a->nfail++;
    if (joblog_write(a, j) != 0)
        fail_internal(a, "cannot write the joblog");
    halt_check(a, j);
    if (output_job(a, j) != 0)
        fail_internal(a, "cannot write output");
    bar_draw(a, false);
}

/* Processes every completion the handlers queued. Returns how many. */
static size_t process_completions(struct app *a)
{
    size_t n = 0;
    while (a->done_head != NULL) {
        struct job *j = a->done_head;
        a->done_head = j->next;
        if (a->done_head == NULL)
            a->done_tail = NULL;
        complete_job(a, j);
        n++;
    }
    return n;
}

/* Starts jobs while slots are free and inputs are at hand; sets
   a->input_wait when group 0's stream must be read first. */
static void start_jobs(struct app *a)
{
    a->input_wait = false;
    while (!a->fatal && a->halting == HALT_NEVER && !a->stop_signal &&
           (a->o.dry_run || a->nrunning < a->jobs)) {
        char **vals;
        int r = inputs_next(&a->in, &vals);
        if (r == 0)
            a->input_wait = true;
        if (r == -2)
            fail_internal(a, "cannot read inputs");
        if (r != 1)
            return;
        struct job *j = job_new(a, vals);
        if (j == NULL || job_start(a, j) != 0) {
            fail_internal(a, "cannot start a job");
            if (j != NULL)
                job_free(a, j);
            return;
        }
        if (a->o.dry_run) {
            a->ndone++;
            job_free(a, j);
        }
    }
}

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

/* Runs until every job finished (or a signal or error ends the run). */
static void run(struct app *a)
{
    for (;;) {
        start_jobs(a);
        if (a->pool != NULL && a->nrunning > 0 && forkpool_poll(a->pool, 0) < 0) {
            fail_internal(a, "forkpool_poll");
            return;
        }
        if (process_completions(a) > 0)
            continue;
        if (a->fatal || (a->nrunning == 0 && !a->input_wait))
            return;
        struct pollfd fds[3] = {
            {.fd = a->sigfd, .events = POLLIN},
            {.fd = a->nrunning > 0 ? forkpool_fd(a->pool) : -1, .events = POLLIN},
            {.fd = a->input_wait ? a->in.rd.fd : -1, .events = POLLIN},
        };
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            fail_internal(a, "poll");
            return;
        }
        if ((fds[0].revents & POLLIN) && handle_signal(a))
            return;
        if (fds[2].revents != 0 && reader_fill(&a->in.rd) != 0) {
            fail_internal(a, "cannot read inputs");
            return;
        }
    }
}

/* ===================================================================== */
/* setup and teardown                                                    */
/* ===================================================================== */
/* Opens the joblog and writes its header. 0, or -1 after a message. */
static int joblog_open(struct app *a)
{
    a->joblog_fd = -1;
    if (a->o.joblog == NULL || a->o.dry_run)
        return 0;
    if (strcmp(a->o.joblog, "-") == 0) {
        a->joblog_fd = STDOUT_FILENO;
    } else {
        a->joblog_fd = open(a->o.joblog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (a->joblog_fd < 0) {
            fpc_say("cannot open joblog '%s': %s", a->o.joblog, strerror(errno));
            return -1;
        }
        a->joblog_close = true;
    }
    static const char header[] =
        "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";
    if (fpc_write_all(a->joblog_fd, header, sizeof header - 1) != 0) {
        fpc_say("cannot write joblog '%s': %s", a->o.joblog, strerror(errno));
        return -1;
    }
    return 0;
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

/* Everything before the first job: inputs, template, -j, joblog, signals,
   the pool. 0, or -1 after a message. */
static int setup(struct app *a)
{
    if (inputs_init(&a->in, &a->o) != 0)
        return -1;
    if (tmpl_parse(&a->tmpl, a->o.cmd, a->o.ncmd) != 0) {
        fpc_say("out of memory");
        return -1;
    }
    a->total_known = inputs_total(&a->in, &a->total);
    if (opt_jobs(a->o.jobs_arg, sysconf(_SC_NPROCESSORS_ONLN),
                 a->total_known ? &a->total : NULL, &a->jobs) != 0)
        return -1;
    a->slots = calloc(a->jobs, 1);
    if (a->slots == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    if (joblog_open(a) != 0 || signals_setup(a) != 0)
        return -1;
    if (!a->o.dry_run) {
        forkpool_options po = {.concurrency = a->jobs, .timeout_ms = a->o.timeout_ms};
        a->pool = forkpool_create(&po);
        if (a->pool == NULL) {
            fpc_say("cannot create the pool: %s", strerror(errno));
            return -1;
        }
    }
    a->t0 = fpc_mono_now();
    return 0;
}

/* Frees everything; destroying the pool kills and reaps what still runs. */
static void teardown(struct app *a)
{
    forkpool_destroy(a->pool); /* frees every task; handlers do not run */
    a->pool = NULL;
    for (struct job *j = a->live, *next; j != NULL; j = next) {
        next = j->live_next;
        j->task = NULL; /* already freed by destroy */
        job_free(a, j);
    }
    free(a->heap);
    free(a->slots);
    if (a->joblog_close)
        close(a->joblog_fd);
    if (a->sigfd >= 0)
        close(a->sigfd);
    tmpl_free(&a->tmpl);
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

int main(int argc, char **argv)
{
    struct app a = {.sigfd = -1, .joblog_fd = -1, .next_seq = 1, .next_print = 1,
                    .halt_status = -1};
    /* Jobs get default handlers from the library; we want EPIPE, not death,
       when our reader goes away, so we can still kill what runs. */
    if (std_fds_open() != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        fpc_say("cannot set up standard streams: %s", strerror(errno));
        return EXIT_USAGE;
    }
    if (opt_parse(&a.o, argc, argv) != 0) {
        opt_free(&a.o);
        return EXIT_USAGE;
    }
    if (a.o.help || a.o.version) {
        int r = a.o.help ? fputs(opt_usage, stdout)
                         : printf("forkpool %s\n", FORKPOOL_VERSION);
        opt_free(&a.o);
        return r < 0 || fflush(stdout) != 0 ? EXIT_USAGE : 0;
    }
    if (setup(&a) != 0) {
        teardown(&a);
        return EXIT_USAGE;
    }
    run(&a);
    if (a.o.bar && !a.stop_signal)
        bar_draw(&a, true);
    else if (bar_clear(&a) != 0)
        a.fatal = true;
    int status = exit_status(&a);
    teardown(&a);
    return status;
}
