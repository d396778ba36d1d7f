/* WORKERS mode's own promises: workers are reused and recycled after
   max_tasks_per_worker; a crash, exit or timeout fails only the guilty task
   and every task that was sent to the dead worker but not started runs
   elsewhere, exactly once; a task waiting behind another is cancelled
   without running and its clock starts when it starts; a long task does
   not hold up the tasks sent behind it; a worker sees the program as it
   was when it was forked; a worker killed from outside while idle costs no
   task; arguments larger than its request pipe holds arrive intact, and
   a worker that dies with that pipe full costs the parent no SIGPIPE and
   the tasks behind it nothing; tasks taken
   back from a worker stuck on a long one, round after round, never run
   twice nor return another task's result. (The rest of
   WORKERS' behaviour is the whole suite, run with FORKPOOL_TEST_VARIANT=workers.) */
#include "forkpool.h"
#include "tap.h"

#include <sys/ioctl.h>
#include <sys/stat.h>

#define N 64

struct shared {
    _Atomic int runs[N];    /* how many times each task index ran */
    _Atomic int started[N]; /* set when it starts                 */
    _Atomic int saw_full;   /* task_crash_when_full saw its pipe full */
};
static struct shared *sh;
static int gate[2]; /* a pipe made before any worker: long tasks block on it */
static int program_state = 1;

#define WAVE 20    /* tasks per wave in ring_wrap                       */
#define WAVES 100  /* waves while the long task runs: far more requests
                      go to and are taken back from its worker than its
                      slot ring has slots (FP_RING)                      */
#define ROUNDS 4   /* the last one's long task crashes                 */
#define ECHOES (ROUNDS * (WAVES + 2) * WAVE)
static _Atomic int *echo_runs; /* shared: how many times each echo ran */

enum { OK, CRASH, EXIT7, SLEEP, WAIT_GATE, REPORT_STATE };

struct job {
    int what, index;
    long ms;
};

static int task_job(forkpool_ctx *ctx, const void *arg, size_t len)
{
    struct job j;
    char c;
    (void)len;
    memcpy(&j, arg, sizeof j);
    atomic_store(&sh->started[j.index], 1);
    atomic_fetch_add(&sh->runs[j.index], 1);
    switch (j.what) {
    case CRASH:
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
        break;
    case EXIT7:
        exit(7);
    case SLEEP:
        tap_sleep_ms(j.ms);
        break;
    case WAIT_GATE: /* ms < 0: then crash */
        if (read(gate[0], &c, 1) != 1)
            return 1;
        if (j.ms < 0) {
            signal(SIGSEGV, SIG_DFL);
            raise(SIGSEGV);
        }
        break;
    case REPORT_STATE:
        return forkpool_return(ctx, &program_state, sizeof program_state);
    default:
        break;
    }
    int pid = (int)getpid();
    return forkpool_return(ctx, &pid, sizeof pid);
}

static forkpool_task *run(forkpool *p, int what, int index, long ms)
{
    struct job j = {what, index, ms};
    return forkpool_run(p, task_job, &j, sizeof j);
}

static forkpool *make(unsigned concurrency, unsigned max_tasks)
{
    forkpool_options o = {0};
    o.mode = FORKPOOL_WORKERS;
    o.concurrency = concurrency;
    o.max_tasks_per_worker = max_tasks;
    forkpool *p = forkpool_create(&o);
    if (!p)
        bail_out("forkpool_create(WORKERS) failed");
    memset(sh, 0, sizeof *sh);
    return p;
}

/* arg: {index, ms}. Counts its run, sleeps ms, returns its index. */
static int task_echo(forkpool_ctx *ctx, const void *arg, size_t len)
{
    int a[2];
    (void)len;
    memcpy(a, arg, sizeof a);
    atomic_fetch_add(&echo_runs[a[0]], 1);
    tap_sleep_ms(a[1]);
    return forkpool_return(ctx, &a[0], sizeof a[0]);
}

/* Runs n echoes from index *next and waits for each. release: they sleep,
   and the long task is let go once they are sent; n is more than the
   other worker takes, so some wait in the queue and go to the long one's
   worker as soon as its END is read. The number of them that failed or
   returned another's index. */
static int echo_wave(forkpool *p, int *next, int n, int release)
{
    forkpool_task *t[2 * WAVE];
    int want[2 * WAVE], wrong = 0;
    for (int k = 0; k < n; k++) {
        int a[2] = {(*next)++, release ? 10 : 0};
        want[k] = a[0];
        t[k] = forkpool_run(p, task_echo, a, sizeof a);
    }
    if (release) {
        forkpool_poll(p, 0);
        if (write(gate[1], "x", 1) != 1)
            bail_out("gate");
    }
    for (int k = 0; k < n; k++) {
        size_t len = 0;
        const int *r = forkpool_wait(t[k]) == 0 ? forkpool_task_result(t[k], &len) : NULL;
        wrong += !r || len != sizeof *r || *r != want[k];
        forkpool_task_release(t[k]);
    }
    return wrong;
}

/*
 * One worker stays on a long task; waves of short tasks are sent, and each
 * time the other worker runs dry it takes back half of what waits behind
 * the long one. The long worker's socket fills with requests taken back,
 * and their slot numbers come round again for new ones. When the long task
 * ends, the worker skips every request taken back, while new tasks come to
 * it on the same slots: each task runs once, with its own result. (A
 * request is checked against its own number, not just its slot's state:
 * whether the worker is still reading the old ones when the new ones come
 * is a race, so without that check this fails in some runs only.) The
 * last round's long task crashes: it fails, and is not run again.
 */
static void ring_wrap(void)
{
    forkpool *p = make(2, 0);
    int next = 0, wrong = 0;
    for (int r = 0; r < ROUNDS; r++) {
        int crash = r == ROUNDS - 1;
        forkpool_task *lng = run(p, WAIT_GATE, r, crash ? -1 : 0);
        for (int w = 0; w < WAVES; w++)
            wrong += echo_wave(p, &next, WAVE, 0);
        wrong += echo_wave(p, &next, 2 * WAVE, 1);
        if (!crash) {
            is(forkpool_wait(lng), 0, "ring wrap %d: the long task succeeds", r);
        } else {
            /* Were it taken for one that never started, it would run again
               (a second gate byte lets it). */
            if (write(gate[1], "x", 1) != 1)
                bail_out("gate");
            const forkpool_error *e = forkpool_wait(lng) == 0 ? NULL : forkpool_task_error(lng);
            ok(e && e->kind == FORKPOOL_ERR_SIGNALED,
               "ring wrap %d: the long task that crashes fails SIGNALED (%s)", r,
               e ? e->message : "no error");
            is(atomic_load(&sh->runs[r]), 1, "ring wrap %d: and ran once, not again elsewhere", r);
        }
        forkpool_task_release(lng);
    }
    is(wrong, 0, "ring wrap: every short task succeeded with its own result");
    int twice = 0, never = 0;
    for (int i = 0; i < ECHOES; i++) {
        twice += atomic_load(&echo_runs[i]) > 1;
        never += atomic_load(&echo_runs[i]) == 0;
    }
    is(twice, 0, "ring wrap: no task ran twice");
    is(never, 0, "ring wrap: every task ran");
    forkpool_destroy(p);
}

#define BIG_ARG ((size_t)1 << 20)

/* Returns the sum of its argument's bytes: a megabyte per task fills a
   worker's request pipe, so the rest goes as it drains. */
static int task_sum(forkpool_ctx *ctx, const void *arg, size_t len)
{
    uint64_t sum = len;
    for (size_t i = 0; i < len; i++)
        sum += ((const unsigned char *)arg)[i];
    return forkpool_return(ctx, &sum, sizeof sum);
}

static void big_arguments(void)
{
    forkpool *p = make(2, 0);
    unsigned char *arg = malloc(BIG_ARG);
    forkpool_task *t[8];
    uint64_t want[8];
    for (int i = 0; i < 8; i++) {
        want[i] = BIG_ARG;
        for (size_t k = 0; k < BIG_ARG; k++) {
            arg[k] = (unsigned char)(k * 31 + (size_t)i);
            want[i] += arg[k];
        }
        t[i] = forkpool_run(p, task_sum, arg, BIG_ARG);
    }
    free(arg);
    is(forkpool_await(p), 0, "big arguments: 8 tasks of 1 MiB each succeed");
    int right = 1;
    for (int i = 0; i < 8; i++) {
        size_t n = 0;
        const uint64_t *r = forkpool_task_result(t[i], &n);
        right &= r && n == sizeof *r && *r == want[i];
        forkpool_task_release(t[i]);
    }
    ok(right, "big arguments: each worker got its tasks' bytes intact");
    forkpool_destroy(p);
}

/* Waits (up to 10 s) until a pipe it reads holds a page or more, its
   worker's request pipe filled by the requests sent behind it (the
   parent's next write finds it full), then dies. */
static int task_crash_when_full(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    for (int waited = 0; waited < 10000 && !atomic_load(&sh->saw_full); waited++) {
        for (int fd = 3; fd < 1024; fd++) {
            struct stat st;
            int queued = 0;
            if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) &&
                (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY &&
                ioctl(fd, FIONREAD, &queued) == 0 && queued >= 4096)
                atomic_store(&sh->saw_full, 1);
        }
        if (!atomic_load(&sh->saw_full))
            tap_sleep_ms(1);
    }
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
    return 1;
}

/* The one worker dies while its request pipe is full and more requests
   wait to be written, SIGPIPE at its default: the parent must not get one
   (it holds the pipe's read end too), and the tasks behind run on a new
   worker, their bytes intact. */
static void dead_worker_full_pipe(void)
{
    void (*was)(int) = signal(SIGPIPE, SIG_DFL);
    forkpool *p = make(1, 0);
    unsigned char *arg = malloc(BIG_ARG);
    uint64_t want = BIG_ARG;
    for (size_t k = 0; k < BIG_ARG; k++) {
        arg[k] = (unsigned char)(k * 7);
        want += arg[k];
    }
    forkpool_task *crash = forkpool_run(p, task_crash_when_full, NULL, 0);
    forkpool_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = forkpool_run(p, task_sum, arg, BIG_ARG);
    free(arg);
    is(forkpool_await(p), 1, "dead worker, full pipe: one failure");
    ok(atomic_load(&sh->saw_full), "dead worker, full pipe: it died with its request pipe full");
    const forkpool_error *e = forkpool_task_error(crash);
    ok(e && e->kind == FORKPOOL_ERR_SIGNALED && e->code == SIGSEGV,
       "dead worker, full pipe: its task failed SIGNALED SIGSEGV (%s)", e ? e->message : "none");
    int right = 1;
    for (int i = 0; i < 4; i++) {
        size_t n = 0;
        const uint64_t *r = forkpool_task_result(t[i], &n);
        right &= r && n == sizeof *r && *r == want;
        forkpool_task_release(t[i]);
    }
    ok(right, "dead worker, full pipe: the 4 tasks behind it succeeded, their 1 MiB intact");
    forkpool_task_release(crash);
    forkpool_destroy(p);
    signal(SIGPIPE, was);
}

static int result_pid(forkpool_task *t)
{
    size_t n = 0;
    const int *r = forkpool_task_result(t, &n);
    return r && n == sizeof(int) ? *r : -1;
}

static void reuse_and_recycle(void)
{
    forkpool *p = make(2, 0);
    forkpool_task *t[10];
    for (int i = 0; i < 10; i++)
        t[i] = run(p, OK, i, 0);
    is(forkpool_await(p), 0, "reuse: 10 tasks succeed");
    int pids[10], distinct = 0;
    for (int i = 0; i < 10; i++) {
        pids[i] = result_pid(t[i]);
        int seen = 0;
        for (int k = 0; k < i; k++)
            seen |= pids[k] == pids[i];
        distinct += !seen;
        forkpool_task_release(t[i]);
    }
    ok(distinct >= 1 && distinct <= 2, "reuse: 10 tasks ran in %d worker(s), at most 2", distinct);
    forkpool_destroy(p);

    p = make(2, 3);
    for (int i = 0; i < 10; i++)
        t[i] = run(p, OK, i, 0);
    is(forkpool_await(p), 0, "recycle: 10 tasks succeed with max_tasks_per_worker 3");
    int most = 0;
    distinct = 0;
    for (int i = 0; i < 10; i++) {
        pids[i] = result_pid(t[i]);
        int same = 0, seen = 0;
        for (int k = 0; k < 10; k++)
            same += pids[k] == pids[i];
        for (int k = 0; k < i; k++)
            seen |= pids[k] == pids[i];
        distinct += !seen;
        most = same > most ? same : most;
    }
    for (int i = 0; i < 10; i++)
        forkpool_task_release(t[i]);
    ok(most <= 3, "recycle: no worker ran more than 3 tasks (most: %d)", most);
    ok(distinct >= 4, "recycle: so at least 4 workers ran them (%d)", distinct);
    forkpool_destroy(p);
    ok(tap_no_children(), "recycle: destroy left no worker");
}

/* One worker, several tasks sent to it at once: the one that dies fails,
   the ones sent behind it run (on a new worker) exactly once. */
static void only_the_guilty(int what, forkpool_error_kind kind, long timeout_ms, const char *name)
{
    forkpool *p = make(1, 0);
    forkpool_task *t[6];
    for (int i = 0; i < 6; i++) {
        t[i] = run(p, i == 2 ? what : OK, i, what == SLEEP ? 60000 : 0);
        if (i == 2 && timeout_ms)
            forkpool_set_timeout(t[i], timeout_ms);
    }
    int rc = forkpool_await(p);
    is(rc, 1, "%s: exactly one failure", name);
    const forkpool_error *e = forkpool_task_error(t[2]);
    ok(e && e->kind == kind, "%s: the guilty task failed %s (%s)", name,
       forkpool_error_kind_name(kind), e ? e->message : "no error");
    int others = 1, once = 1;
    for (int i = 0; i < 6; i++) {
        if (i != 2)
            others &= forkpool_task_state(t[i]) == FORKPOOL_SUCCEEDED;
        once &= atomic_load(&sh->runs[i]) == 1;
        forkpool_task_release(t[i]);
    }
    ok(others, "%s: the 5 others succeeded", name);
    ok(once, "%s: each task ran exactly once", name);
    forkpool_destroy(p);
}

/* Behind a task that runs until the gate opens: a cancelled task never
   runs; one with a short limit does not time out while it waits. */
static void waiting_tasks(void)
{
    forkpool *p = make(1, 0);
    forkpool_task *head = run(p, WAIT_GATE, 0, 0);
    forkpool_task *victim = run(p, OK, 1, 0);
    forkpool_task *patient = run(p, SLEEP, 2, 1);
    long limit = 100L * tap_scale();
    forkpool_set_timeout(patient, limit);
    forkpool_poll(p, 0);
    is(forkpool_task_state(victim), FORKPOOL_QUEUED, "waiting: a task behind a running one is QUEUED");
    is(forkpool_task_pid(victim), 0, "waiting: and has no pid yet");
    is(forkpool_cancel(victim), 0, "waiting: cancel it");
    /* Long past the patient task's limit, had its clock started. */
    long long until = tap_now_ms() + 3 * limit;
    while (tap_now_ms() < until)
        forkpool_poll(p, (int)(until - tap_now_ms()));
    if (write(gate[1], "x", 1) != 1)
        bail_out("gate");
    is(forkpool_await(p), 0, "waiting: no failure counted (the cancelled task is not one)");
    const forkpool_error *e = forkpool_task_error(victim);
    ok(e && e->kind == FORKPOOL_ERR_CANCELLED, "waiting: the cancelled task: CANCELLED (%s)",
       e ? e->message : "none");
    is(atomic_load(&sh->runs[1]), 0, "waiting: and it never ran");
    is(forkpool_task_state(patient), FORKPOOL_SUCCEEDED,
       "waiting: its limit counts from the task's start, not from the wait before it");
    forkpool_task_release(head);
    forkpool_task_release(victim);
    forkpool_task_release(patient);
    forkpool_destroy(p);
}

static int short_done;
static void on_short(forkpool_task *t, const void *r, size_t n, void *ud)
{
    (void)t; (void)r; (void)n; (void)ud;
    if (++short_done == 12 && write(gate[1], "x", 1) != 1)
        bail_out("gate");
}

/* A long task must not hold up the tasks sent to its worker behind it: the
   long one waits for the 12 short ones, so a stuck one would hang here. */
static void no_head_of_line_blocking(void)
{
    forkpool *p = make(2, 0);
    forkpool_task *lng = run(p, WAIT_GATE, 0, 0);
    forkpool_task_release(lng);
    for (int i = 0; i < 12; i++) {
        forkpool_task *t = run(p, SLEEP, 1 + i, 2);
        forkpool_then(t, on_short, NULL);
        forkpool_task_release(t);
    }
    is(forkpool_await(p), 0, "fairness: the short tasks behind a long one ran on the other worker");
    is(short_done, 12, "fairness: all 12 finished before the long one was let go");
    forkpool_destroy(p);
}

static void snapshot_and_outside_kill(void)
{
    forkpool *p = make(1, 0);
    program_state = 1;
    forkpool_task *a = run(p, REPORT_STATE, 0, 0);
    forkpool_wait(a);
    program_state = 2;
    forkpool_task *b = run(p, REPORT_STATE, 1, 0);
    forkpool_wait(b);
    size_t n;
    const int *ra = forkpool_task_result(a, &n), *rb = forkpool_task_result(b, &n);
    ok(ra && rb && *ra == 1 && *rb == 1,
       "snapshot: a worker sees the program as it was when it was forked");
    pid_t w = forkpool_task_pid(b);
    forkpool_task_release(a);
    forkpool_task_release(b);

    /* Killed from outside while idle: the next task gets a new worker. */
    kill(w, SIGKILL);
    ok(tap_wait_pid_dead(w, 5000) || tap_proc_state(w) == 'Z', "outside kill: the idle worker died");
    forkpool_task *c = run(p, OK, 2, 0);
    is(forkpool_wait(c), 0, "outside kill: the next task runs");
    ok(result_pid(c) != (int)w, "outside kill: on a new worker");
    forkpool_task_release(c);
    forkpool_stats s = forkpool_get_stats(p);
    is((long)s.failed, 0L, "outside kill: no task failed");
    forkpool_destroy(p);
}

int main(void)
{
    tap_watchdog(60);
    sh = tap_shared(sizeof *sh);
    echo_runs = tap_shared(ECHOES * sizeof *echo_runs);
    if (pipe(gate) == -1)
        bail_out("pipe");
    int fds = tap_fd_count();
    reuse_and_recycle();
    big_arguments();
    dead_worker_full_pipe();
    only_the_guilty(CRASH, FORKPOOL_ERR_SIGNALED, 0, "crash");
    only_the_guilty(EXIT7, FORKPOOL_ERR_EXITED, 0, "exit");
    only_the_guilty(SLEEP, FORKPOOL_ERR_TIMEOUT, 200, "timeout");
    waiting_tasks();
    no_head_of_line_blocking();
    snapshot_and_outside_kill();
    ring_wrap(); /* last: it may leave a byte in the gate */
    is(tap_fd_count(), fds, "no fd left");
    ok(tap_no_children(), "no child left");
    tap_shared_free(sh, sizeof *sh);
    tap_shared_free((void *)echo_runs, ECHOES * sizeof *echo_runs);
    return done_testing();
}
