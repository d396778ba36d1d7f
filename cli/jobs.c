/* jobs.c: starting jobs, completions, retries, --halt and -k (contracts in
   jobs.h). */
#include "jobs.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "fpc.h"
#include "output.h"
#include "outx.h"
#include "robin.h"
#include "sbuf.h"

/* A new job for vals and blk (ownership taken, also on failure). NULL:
   ENOMEM. */
static struct job *job_new(struct app *a, char **vals, size_t nvals,
                           const struct pipe_blk *blk)
{
    struct job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        inputs_vals_free(vals, nvals);
        return NULL;
    }
    j->app = a;
    j->vals = vals;
    j->nvals = nvals;
    j->blk = *blk;
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
    if (a->live == j)
        a->live = j->live_next;
    else if (j->live_prev)
        j->live_prev->live_next = j->live_next;
    if (j->live_next)
        j->live_next->live_prev = j->live_prev;
    forkpool_task_release(j->task);
    inputs_vals_free(j->vals, j->nvals);
    tmpl_argv_free(j->argv);
    free(j->display);
    pipe_blk_free(&j->blk);
    if (j->cat != NULL)
        (void)unlink(j->cat);
    free(j->cat);
    free(j->tag);
    free(j->resname);
    free(j);
}

/* GNU parallel's variables in a job's environment: ours, with
   PARALLEL_SEQ, PARALLEL_JOBSLOT, PARALLEL_PID and (--cat) PARALLEL_TMP
   set for the job. */
struct job_env {
    char seq[40], slot[40], pid[40];
    char *tmp;
    const char **envp;
};

static bool env_ours(const char *v)
{
    static const char *const names[] = {"PARALLEL_SEQ=", "PARALLEL_JOBSLOT=", "PARALLEL_PID=",
                                        "PARALLEL_TMP="};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strncmp(v, names[i], strlen(names[i])) == 0)
            return true;
    return false;
}

/* 0, or -1 (ENOMEM); env_free either way. */
static int env_build(struct job_env *e, const struct job *j)
{
    extern char **environ;
    size_t n = 0, k = 0;
    while (environ[n] != NULL)
        n++;
    e->tmp = NULL;
    e->envp = calloc(n + 5, sizeof *e->envp);
    if (e->envp == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!env_ours(environ[i]))
            e->envp[k++] = environ[i];
    snprintf(e->seq, sizeof e->seq, "PARALLEL_SEQ=%lu", j->seq);
    snprintf(e->slot, sizeof e->slot, "PARALLEL_JOBSLOT=%u", j->slot);
    snprintf(e->pid, sizeof e->pid, "PARALLEL_PID=%ld", (long)getpid());
    e->envp[k++] = e->seq;
    e->envp[k++] = e->slot;
    e->envp[k++] = e->pid;
    if (j->cat != NULL) {
        struct sbuf t = {0};
        sb_adds(&t, "PARALLEL_TMP=");
        sb_adds(&t, j->cat);
        if ((e->tmp = sb_take(&t)) == NULL)
            return -1;
        e->envp[k++] = e->tmp;
    }
    return 0;
}

static void env_free(struct job_env *e)
{
    free(e->envp);
    free(e->tmp);
}

/* j's one value: path, the name {} gives of its input (--cat's file,
   --fifo's FIFO; --dry-run shows $PARALLEL_TMP), taken. 0, or -1. */
static int input_named(struct job *j, char *path)
{
    j->cat = path;
    char **v = calloc(1, sizeof *v);
    if (v == NULL)
        return -1;
    v[0] = strdup(path != NULL ? path : "$PARALLEL_TMP");
    inputs_vals_free(j->vals, j->nvals);
    j->vals = v;
    j->nvals = 1;
    return v[0] == NULL ? -1 : 0;
}

/* --cat: j's input into a file of its own. 0, or -1 and errno. */
static int cat_file(struct app *a, struct job *j)
{
    char *path = NULL;
    if (!a->o.dry_run && pipe_blk_save(a->pipe, &j->blk, fpc_tmpdir(a->o.tmpdir), &path) != 0) {
        fpc_say("--cat: cannot write a file in '%s': %s", fpc_tmpdir(a->o.tmpdir),
                strerror(errno));
        errno = EIO; /* told */
        return -1;
    }
    return input_named(j, path);
}

/* --fifo: j's input through a FIFO of its slot, which the job opens by its
   name (robin.h). 0, or -1 and errno. */
static int fifo_file(struct app *a, struct job *j)
{
    const char *fifo;
    char *path = NULL;
    if (!a->o.dry_run &&
        (robin_start_named(a->robin, j->slot - 1, j->blk.data, j->blk.len, &fifo) != 0 ||
         (path = strdup(fifo)) == NULL))
        return -1;
    return input_named(j, path);
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

/* A job that will not run after all gives its slot back, with the --fifo
   FIFO made for it. */
static void slot_drop(struct app *a, struct job *j)
{
    if (!a->o.dry_run) {
        if (a->o.fifo)
            robin_stop(a->robin, j->slot - 1);
        slot_give(a, j->slot);
    }
    j->slot = 0;
}

/* Starts one attempt of j: builds its command and submits it (or, with
   --dry-run, prints it). 0; 1 when a Perl expression skipped the job
   (nothing started, its slot given back); or -1 and errno (internal
   error). */
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
    if (a->o.cat && j->tries == 0 && cat_file(a, j) != 0)
        return -1;
    j->tries++;
    j->slot = a->o.dry_run ? (unsigned)((j->seq - 1) % a->jobs + 1) : slot_take(a);
    if (a->o.fifo && fifo_file(a, j) != 0) {
        slot_drop(a, j);
        return -1;
    }
    struct tmpl_ctx c = {.vals = j->vals,
                         .nvals = j->nvals,
                         .seq = j->seq,
                         .slot = j->slot,
                         .shell = a->o.shell,
                         .raw = a->o.no_command,
                         .per_rec = batch_per_input(&a->batch, j->nvals),
                         .total_known = a->total_known,
                         .total = a->total,
                         .jobs = a->jobs,
                         .perl = a->perl};
    int built = tmpl_build(&a->tmpl, &c, &j->argv, &j->display);
    if (built != 0) {
        slot_drop(a, j);
        return built; /* 1: skip(), argv and display built */
    }
    if (ctl_display(a, j) != 0) { /* --retry-failed: the joblog's command */
        slot_drop(a, j);
        return -1;
    }
    if (j->argv[0][0] == '\0' && !a->o.dry_run) {
        fpc_say("job %lu: the program's name is empty (the command's first word expanded to "
                "nothing)",
                j->seq);
        slot_drop(a, j);
        errno = EIO; /* told */
        return -1;
    }
    if (a->o.dry_run) {
        struct sbuf b = {0};
        sb_adds(&b, j->display);
        sb_adds(&b, "\n");
        return sb_write(&b, STDOUT_FILENO);
    }
    struct timespec rt;
    if (clock_gettime(CLOCK_REALTIME, &rt) != 0)
        return -1;
    j->start_real = fpc_timespec_s(&rt);
    j->start_mono = fpc_mono_now();
    if (outx_started(a, j) != 0)
        return -1;
    forkpool_exec_options eo = {.capture = outx_capture(a)};
    const char *fifo;
    if (a->robin != NULL && !a->o.fifo) { /* its stdin: a FIFO fed as blocks come */
        if (robin_start(a->robin, j->slot - 1, j->blk.data, j->blk.len, &fifo) != 0 ||
            pipe_fifo_argv(a->pipe, fifo, &j->argv) != 0)
            return -1;
    } else if (a->pipe != NULL && !a->o.cat && !a->o.fifo &&
               pipe_job_prepare(a->pipe, &j->blk, a->o.max_tries != 1, &j->argv, &eo.input,
                                &eo.input_len) != 0) {
        return -1;
    }
    j->lb_out = j->lb_err = (struct lb_pos){0};
    j->shown_cmd = false;
    struct job_env env = {0};
    if (!a->jobs_elsewhere && env_build(&env, j) != 0) {
        env_free(&env);
        return -1;
    }
    eo.envp = env.envp; /* NULL on other ranks: their own environment */
    j->task = forkpool_exec(a->pool, (const char *const *)j->argv, &eo);
    env_free(&env);
    if (j->task == NULL)
        return -1;
    if (forkpool_catch(forkpool_then(j->task, on_then, j), on_catch, j) == NULL)
        return -1;
    a->nrunning++;
    ctl_started(a);
    out_bar_draw(a, false);
    return 0;
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
        int r = j->skipped || j->silent ? 0 : out_print(a, j);
        job_free(a, j);
        return r;
    }
    if (heap_push(a, j) != 0) {
        job_free(a, j);
        return -1;
    }
    while (ctl_skip(a, a->next_print)) /* --resume...: never run */
        a->next_print++;
    while (a->nheap > 0 && a->heap[0]->seq == a->next_print) {
        struct job *k = heap_pop(a);
        int r = k->skipped || k->silent ? 0 : out_print(a, k);
        job_free(a, k);
        a->next_print++;
        while (ctl_skip(a, a->next_print))
            a->next_print++;
        if (r != 0)
            return -1;
    }
    return 0;
}

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
    out_status(j, &exitval, &sig);
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
    if (!counts || n < ctl_halt_need(a)) /* --halt ...=N% too */
        return;
    a->halting = a->o.halt_when;
    if (a->o.halt_why == HALT_SUCCESS)
        a->halt_status = 0;
    else if (a->o.halt_pct > 0)
        a->halt_status = ctl_halt_status(a);
    else if (a->o.halt_why == HALT_FAIL && a->o.halt_n == 1)
        a->halt_status = job_exit_status(j);
    if (out_bar_clear(a) != 0)
        a->fatal = true;
    fpc_say("halting (%s): this job %s: %s", a->halting == HALT_NOW ? "now" : "soon",
            j->ok ? "succeeded" : "failed", j->display);
    if (a->halting == HALT_NOW)
        forkpool_stop(a->pool);
}

void jobs_fail(struct app *a, const char *what)
{
    if (errno == EPIPE) {
        /* Nobody reads our output (`| head -1`): leave as a write would
           have (SIGPIPE's status), quietly, killing what still runs. */
        a->stop_signal = SIGPIPE;
        forkpool_stop(a->pool);
    } else
        fpc_say("%s: %s", what, strerror(errno));
    a->fatal = true;
}

/* A job a Perl expression skipped (skip()): not run, not printed, but
   counted and logged as a failure with Exitval -2, as GNU parallel does;
   with -k it still takes its turn. */
static void job_skipped(struct app *a, struct job *j)
{
    j->skipped = true;
    j->ok = false;
    j->runtime = 0;
    a->ndone++;
    a->nfail++;
    if (a->o.dry_run) {
        job_free(a, j);
        return;
    }
    struct timespec rt;
    j->start_real = clock_gettime(CLOCK_REALTIME, &rt) == 0 ? fpc_timespec_s(&rt) : 0;
    if (out_joblog_write(a, j) != 0)
        jobs_fail(a, "cannot write the joblog");
    if (output_job(a, j) != 0)
        jobs_fail(a, "cannot write output");
}

/* A job could not be started: EIO is a failure already told (perl, --cat). */
static void start_failed(struct app *a)
{
    if (errno == EIO)
        a->fatal = true;
    else
        jobs_fail(a, "cannot start a job");
}

/* Handles one finished attempt: discard (stopping), retry, or log, count,
   print and check --halt. */
static void complete_job(struct app *a, struct job *j)
{
    a->nrunning--;
    if (a->robin != NULL)
        robin_stop(a->robin, j->slot - 1);
    slot_give(a, j->slot);
    j->slot = 0;
    ctl_completed(a, j); /* --timeout N% */
    if (a->stop_signal || a->halting == HALT_NOW || a->fatal) {
        job_free(a, j); /* killed by us, or we are leaving: not reported */
        return;
    }
    if (should_retry(a, j)) {
        int r = job_start(a, j);
        if (r == 1) {
            job_skipped(a, j);
        } else if (r != 0) {
            start_failed(a);
            job_free(a, j);
        }
        return;
    }
    a->ndone++;
    if (j->ok)
        a->nsucc++;
    else
        a->nfail++;
    if (!j->silent && out_joblog_write(a, j) != 0)
        jobs_fail(a, "cannot write the joblog");
    halt_check(a, j);
    if (output_job(a, j) != 0)
        jobs_fail(a, "cannot write output");
    out_bar_draw(a, false);
}

size_t jobs_complete(struct app *a)
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

/* Starts j, just made by job_new (NULL: it could not be). 1: it runs (or
   was printed, --dry-run); 0: skip() in {= =} skipped it; -1: it could not
   start (told, j freed). */
static int launch(struct app *a, struct job *j)
{
    int started = j == NULL ? -1 : job_start(a, j);
    if (started == 1) {
        job_skipped(a, j);
        return 0;
    }
    if (started != 0) {
        start_failed(a);
        if (j != NULL)
            job_free(a, j);
        return -1;
    }
    return 1;
}

/* A new job with these values (taken) and block: launch's result; a
   --dry-run job, printed, is done at once. */
static int start_new(struct app *a, char **vals, size_t nvals, const struct pipe_blk *blk)
{
    struct job *j = job_new(a, vals, nvals, blk);
    int started = launch(a, j);
    if (started == 1 && a->o.dry_run) {
        a->ndone++;
        job_free(a, j);
    }
    return started;
}

/* --roundrobin at the end of input: the slots no block reached start too,
   reading nothing, as in GNU parallel (`-j250 parallel ...` starts 250). */
static void start_silent(struct app *a)
{
    static const struct pipe_blk none;
    while (!a->fatal && a->halting == HALT_NEVER && !a->stop_signal &&
           a->nrunning < a->jobs && robin_started(a->robin) < a->jobs) {
        struct job *j = job_new(a, NULL, 0, &none);
        if (j != NULL)
            j->silent = true;
        if (launch(a, j) < 0)
            return;
    }
}

/* --tee: a block goes to the jobs in pieces of at most this, so the tool
   holds at most this per job beside the FIFOs. */
#define TEE_PIECE ((size_t)64 * 1024)

/* --tee: starts every job (-j allows them all: main.c), then gives each
   piece of standard input to every job still running, the next once all
   took it. Stops reading when no job is left to read. While the inputs
   are read, input_wait is theirs (main.c polls their stream). */
static void tee_fill(struct app *a)
{
    static const struct pipe_blk none;
    while (!a->tee_all_started && !a->fatal && a->halting == HALT_NEVER && !a->stop_signal) {
        if (!ctl_may_start(a)) /* --delay, --memfree, --load */
            return;
        char **vals = NULL;
        size_t nvals = 0;
        int r = batch_next(a, &vals, &nvals);
        if (r == -1) {
            a->tee_all_started = true;
            break;
        }
        if (r == 0)
            a->input_wait = true;
        if (r == -2)
            jobs_fail(a, "cannot read inputs");
        if (r == -3)
            a->fatal = true; /* reported */
        if (r != 1)
            return;
        if (ctl_skip(a, a->next_seq)) { /* --resume...: done in the joblog */
            inputs_vals_free(vals, nvals);
            a->next_seq++;
            continue;
        }
        if (a->nrunning == a->jobs && !a->o.dry_run) {
            inputs_vals_free(vals, nvals);
            fpc_say("--tee starts every job at once, and -j allows %u: there are more inputs "
                    "(give -j 0, or more)",
                    a->jobs);
            a->fatal = true;
            return;
        }
        if (start_new(a, vals, nvals, &none) < 0)
            return;
    }
    if (a->robin == NULL || !a->tee_all_started) /* --dry-run: no input read */
        return;
    while (a->nrunning > 0 && robin_all_taken(a->robin)) {
        if (a->tee_off == a->tee_blk.len) {
            int r = pipe_next(a->pipe, &a->tee_blk);
            a->tee_off = 0;
            if (r == 0)
                a->input_wait = true;
            if (r == -1)
                robin_eof(a->robin);
            if (r == -2)
                jobs_fail(a, "cannot read standard input");
            if (r != 1) {
                a->tee_blk = none;
                return;
            }
        }
        size_t n = a->tee_blk.len - a->tee_off;
        if (n > TEE_PIECE)
            n = TEE_PIECE;
        if (robin_give_all(a->robin, a->tee_blk.data + a->tee_off, n) != 0) {
            jobs_fail(a, "--tee");
            return;
        }
        a->tee_off += n;
    }
}

void jobs_fill(struct app *a)
{
    a->input_wait = false;
    if (a->o.tee && a->o.pipe) {
        tee_fill(a);
        return;
    }
    while (!a->fatal && a->halting == HALT_NEVER && !a->stop_signal) {
        /* A new job while fewer than -j run; after that, with
           --roundrobin, the next block goes to a job done writing. */
        int idle = -1;
        bool start = a->o.dry_run || a->nrunning < a->jobs;
        if (!start && (!a->o.roundrobin || (idle = robin_idle(a->robin)) < 0))
            return;
        if (start && !ctl_may_start(a)) /* --delay, --memfree, --load */
            return;
        char **vals = NULL;
        size_t nvals = 0;
        struct pipe_blk blk = {0};
        int r = a->pipe != NULL ? pipe_next(a->pipe, &blk) : batch_next(a, &vals, &nvals);
        if (r == 0)
            a->input_wait = true;
        if (r == -1 && a->o.roundrobin && a->robin != NULL) {
            robin_eof(a->robin);
            start_silent(a);
        }
        if (r == -2)
            jobs_fail(a, "cannot read inputs");
        if (r == -3)
            a->fatal = true; /* reported */
        if (r != 1)
            return;
        if (idle >= 0) {
            if (robin_give(a->robin, (unsigned)idle, blk.data, blk.len) != 0)
                jobs_fail(a, "--roundrobin");
            continue;
        }
        if (ctl_skip(a, a->next_seq)) { /* --resume...: done in the joblog */
            inputs_vals_free(vals, nvals);
            a->next_seq++;
            continue;
        }
        if (start_new(a, vals, nvals, &blk) < 0)
            return;
    }
}

void jobs_free_all(struct app *a)
{
    for (struct job *j = a->live, *next; j != NULL; j = next) {
        next = j->live_next;
        j->task = NULL; /* already freed by destroy */
        job_free(a, j);
    }
    free(a->heap);
    a->heap = NULL;
    a->nheap = a->heapcap = 0;
}
