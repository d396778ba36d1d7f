/* Tasks that misbehave: close their own channel, leave a grandchild holding
   it, stop themselves, block every signal, flood stdout, crash after a huge
   result, fork a small bomb. Each fails (or succeeds) the way the contract
   says, with a message, promptly; the pool goes on working; nothing the
   task started is left running; no fd leaks. Every case runs with pidfd
   exit detection and with the FORKPOOL_NO_PIDFD=1 fallback. */
#include <poll.h>

#include "forkpool.h"
#include "tap.h"

#define NBOMB 50                         /* the bomb's children (each forks once) */
#define BIG_CRASH ((size_t)256 << 20)    /* result sent before a crash            */
#define STDOUT_BYTES ((size_t)64 << 20)  /* written to stdout by one task         */

struct shared {
    _Atomic int grandchild;          /* the channel-holding grandchild's pid */
    _Atomic int bomb[2 * NBOMB];     /* every descendant of the bomb         */
};
static struct shared *sh;

static long safety_ms(void) { return 20000L * tap_scale(); }

/* ------------------------------------------------------------- the tasks */

static int task_ok(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return forkpool_return(ctx, "fine", 4);
}

/* Closes everything, its channel included, then returns 0: the END frame
   cannot be sent. */
static int task_close_all(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    for (int fd = 0; fd < 1024; fd++)
        close(fd);
    return 0;
}

/* Leaves a grandchild that holds the channel open and sleeps forever, then
   returns a result: the parent must not wait for the channel's EOF. */
static int task_grandchild_holds_channel(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    pid_t g = fork();
    if (g == 0)
        tap_pause_forever();
    if (g < 0)
        return forkpool_throw(ctx, "fork", "fork failed: %s", strerror(errno));
    atomic_store(&sh->grandchild, (int)g);
    return forkpool_return(ctx, "left one behind", 15);
}

static int task_sigstop(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    for (;;)
        raise(SIGSTOP); /* SIGCONT alone would let it stop again */
    return 0;
}

static int task_block_all(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    for (;;)
        pause(); /* nothing but SIGKILL can end this */
    return 0;
}

/* Writes STDOUT_BYTES to fd 1: half with write(2), half through stdio in
   small pieces, the last of which is still buffered when the function
   returns (the library flushes the child's stdio before _exit). */
static int task_flood_stdout(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    static char buf[1 << 16];
    memset(buf, 'x', sizeof buf);
    size_t half = STDOUT_BYTES / 2, done = 0;
    while (done < half) {
        size_t n = half - done < sizeof buf ? half - done : sizeof buf;
        ssize_t w = write(STDOUT_FILENO, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return forkpool_throw(ctx, "write", "write(1): %s", strerror(errno));
        done += (size_t)w;
    }
    for (done = 0; done < half; done += 1000) {
        size_t n = half - done < 1000 ? half - done : 1000;
        if (fwrite(buf, 1, n, stdout) != n)
            return forkpool_throw(ctx, "fwrite", "fwrite(stdout) failed");
    }
    return forkpool_return(ctx, "flooded", 7);
}

/* A result of 16 MiB, to keep the parent busy reading meanwhile. */
static int task_busy_result(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    size_t n = (size_t)16 << 20;
    char *p = malloc(n);
    if (!p)
        return forkpool_throw(ctx, "nomem", "malloc failed");
    memset(p, 'r', n);
    int rc = forkpool_return(ctx, p, n);
    free(p);
    return rc;
}

static int task_big_then_crash(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    char *p = malloc(BIG_CRASH);
    if (!p)
        return forkpool_throw(ctx, "nomem", "malloc failed");
    memset(p, 0x5a, BIG_CRASH);
    if (forkpool_return(ctx, p, BIG_CRASH) == -1)
        return forkpool_throw(ctx, "return", "forkpool_return: %s", strerror(errno));
    raise(SIGSEGV);
    return 0; /* not reached */
}

/* NBOMB children, each of which forks a grandchild that ignores SIGTERM;
   every pid is recorded before anyone sleeps. */
static int task_bomb(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    for (int i = 0; i < NBOMB; i++) {
        pid_t c = fork();
        if (c < 0)
            return forkpool_throw(ctx, "fork", "fork %d failed: %s", i, strerror(errno));
        if (c > 0)
            continue;
        pid_t g = fork();
        if (g == 0) {
            signal(SIGTERM, SIG_IGN);
            atomic_store(&sh->bomb[2 * i + 1], (int)tap_pid());
            tap_pause_forever();
        }
        atomic_store(&sh->bomb[2 * i], (int)tap_pid());
        tap_pause_forever();
    }
    tap_pause_forever();
}

/* ---------------------------------------------------------------- helpers */

/* Live (not zombie) processes whose process group is pgid. */
static int count_group(pid_t pgid)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t k = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (k <= 0)
            continue;
        buf[k] = '\0';
        char *p = strrchr(buf, ')');
        char state;
        int ppid, pgrp;
        if (p && sscanf(p + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
            state != 'Z' && state != 'X' && state != 'x')
            n++;
    }
    closedir(d);
    return n;
}

static int all_bomb_recorded(void)
{
    for (int i = 0; i < 2 * NBOMB; i++)
        if (atomic_load(&sh->bomb[i]) == 0)
            return 0;
    return 1;
}

static const char *kind_of(const forkpool_error *e)
{
    return e ? forkpool_error_kind_name(e->kind) : "none";
}

/* Runs fn under a limit and waits for it; returns the (unreleased) task. */
static forkpool_task *run_wait(forkpool *p, forkpool_fn fn, long timeout_ms, int *rc)
{
    forkpool_task *t = forkpool_run(p, fn, NULL, 0);
    forkpool_set_timeout(t, timeout_ms);
    *rc = forkpool_wait(t);
    return t;
}

/* The pool still works, no child of ours is left, no fd was leaked. */
static void still_fine(forkpool *p, const char *mode, const char *what, int fds)
{
    int rc;
    forkpool_task *t = run_wait(p, task_ok, safety_ms(), &rc);
    size_t n = 0;
    const void *r = forkpool_task_result(t, &n);
    ok(rc == 0 && n == 4 && memcmp(r, "fine", 4) == 0, "%s: %s: the pool still works", mode,
       what);
    forkpool_task_release(t);
    int now, want, fine = tap_pool_idle_ok(fds, 2, &now, &want);
    ok(fine, "%s: %s: no child left (but idle workers), no fd leaked (%d fds, want %d)", mode,
       what, now, want);
}

static void expect_fail(forkpool_task *t, int rc, forkpool_error_kind kind, const char *words,
                        const char *mode, const char *what)
{
    const forkpool_error *e = forkpool_task_error(t);
    is(rc, 1, "%s: %s: the task failed", mode, what);
    ok(e && e->kind == kind, "%s: %s: kind %s (want %s)", mode, what, kind_of(e),
       forkpool_error_kind_name(kind));
    ok(e && e->message && *e->message && (!words || strstr(e->message, words)),
       "%s: %s: message '%s'", mode, what, e && e->message ? e->message : "(none)");
}

/* ------------------------------------------------------------- the cases */

static void case_close_all(forkpool *p, const char *mode, int fds)
{
    const char *what = "task closed every fd";
    int rc;
    forkpool_task *t = run_wait(p, task_close_all, safety_ms(), &rc);
    const forkpool_error *e = forkpool_task_error(t);
    if (tap_workers()) {
        /* Its END needs no fd: it goes through the ring the worker shares
           with the parent (worker.h), so the task succeeds; the worker,
           which can no longer be reached, ends and is replaced. */
        is(rc, 0, "%s: %s: its END came through the ring: it succeeded (error: %s)", mode,
           what, e ? e->message : "none");
    } else {
        /* Its END frame could not be written, so the child _exit()s
           non-zero with no END received: EXITED, never a hang or a
           success. */
        expect_fail(t, rc, FORKPOOL_ERR_EXITED, "status", mode, what);
        ok(e && e->code != 0, "%s: %s: non-zero exit status (%d)", mode, what,
           e ? e->code : 0);
    }
    forkpool_task_release(t);
    still_fine(p, mode, what, fds);
}

static void case_grandchild_holds_channel(forkpool *p, const char *mode, int fds)
{
    const char *what = "grandchild holds the channel";
    int rc;
    atomic_store(&sh->grandchild, 0);
    /* A wait for EOF would end only at this limit, as a TIMEOUT. */
    forkpool_task *t = run_wait(p, task_grandchild_holds_channel, safety_ms(), &rc);
    const forkpool_error *e = forkpool_task_error(t);
    size_t n = 0;
    const void *r = forkpool_task_result(t, &n);
    is(rc, 0, "%s: %s: the task succeeded (error: %s)", mode, what, e ? e->message : "none");
    is_mem(r, n, "left one behind", 15, "%s: %s: with its result", mode, what);
    forkpool_task_release(t);
    pid_t g = (pid_t)atomic_load(&sh->grandchild);
    ok(g > 0 && tap_wait_pid_dead(g, 5000), "%s: %s: the grandchild %d was killed", mode, what,
       (int)g);
    if (g > 0 && !tap_pid_dead(g))
        kill(g, SIGKILL);
    still_fine(p, mode, what, fds);
}

static void case_sigstop(forkpool *p, const char *mode, int fds)
{
    const char *what = "task stopped itself";
    int rc;
    forkpool_task *t = run_wait(p, task_sigstop, 200, &rc);
    expect_fail(t, rc, FORKPOOL_ERR_TIMEOUT, "200 ms", mode, what);
    forkpool_task_release(t);
    still_fine(p, mode, what, fds);
}

static void case_block_all(forkpool *p, const char *mode, int fds)
{
    const char *what = "task blocked every signal";
    int rc;
    forkpool_task *t = run_wait(p, task_block_all, 200, &rc);
    expect_fail(t, rc, FORKPOOL_ERR_TIMEOUT, "200 ms", mode, what);
    forkpool_task_release(t);
    still_fine(p, mode, what, fds);
}

static forkpool_options g_opts; /* run_mode's pool options */

/*
 * A task's stdout is the program's stdout as it was when its child's
 * ancestor was forked: with a fork server, at forkpool_create; in WORKERS,
 * when its worker was. So there, a case that redirects stdout runs in a
 * pool made after the redirection (its helper or workers hold the
 * redirected stdout until that pool is destroyed).
 */
static forkpool *pool_for_redirect(forkpool *p, int saved_stdout)
{
    if (!tap_server() && !tap_workers())
        return p;
    forkpool *q = forkpool_create(&g_opts);
    if (!q) {
        /* The TAP stream first: stdout is redirected here. */
        int err = errno;
        dup2(saved_stdout, STDOUT_FILENO);
        char why[160];
        snprintf(why, sizeof why, "forkpool_create failed with stdout redirected: %s",
                 strerror(err));
        bail_out(why);
    }
    return q;
}

/* What case_flood_stdout checks, copied out before its pool may go. */
struct flood_outcome {
    forkpool_state state, busy_state;
    char error[256];
    char result[8];
    size_t result_len, busy_len;
};

static void flood_collect(forkpool_task *t, forkpool_task *busy, struct flood_outcome *o)
{
    const forkpool_error *e = forkpool_task_error(t);
    size_t n = 0;
    const void *r = forkpool_task_result(t, &n);
    o->state = forkpool_task_state(t);
    snprintf(o->error, sizeof o->error, "%s", e ? e->message : "none");
    o->result_len = n;
    if (r)
        memcpy(o->result, r, n < sizeof o->result ? n : sizeof o->result);
    forkpool_task_result(busy, &o->busy_len);
    o->busy_state = forkpool_task_state(busy);
    forkpool_task_release(t);
    forkpool_task_release(busy);
}

/* stdout is a pipe the test drains between forkpool_poll calls while the
   parent is also busy reading a 16 MiB result; the TAP stdout is put back
   before anything is printed. */
static void case_flood_stdout(forkpool *p, const char *mode, int fds)
{
    const char *what = "task flooded stdout";
    int pfd[2];
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    if (saved < 0 || pipe2(pfd, O_CLOEXEC) == -1)
        bail_out("dup/pipe2 failed");
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    (void)fcntl(pfd[0], F_SETPIPE_SZ, 1 << 20); /* fewer turns; optional */
    dup2(pfd[1], STDOUT_FILENO);
    close(pfd[1]);

    forkpool *q = pool_for_redirect(p, saved);
    struct flood_outcome out;
    forkpool_task *busy = forkpool_run(q, task_busy_result, NULL, 0);
    forkpool_task *t = forkpool_run(q, task_flood_stdout, NULL, 0);
    forkpool_set_timeout(busy, safety_ms());
    forkpool_set_timeout(t, safety_ms());
    size_t got = 0, bad = 0;
    static char buf[1 << 16];
    int eof = 0, more = 1;
    /* No timing: block in poll() until the pool or the pipe has something;
       ends when both tasks are done and the pipe reached EOF. */
    while (more || !eof) {
        /* q may be destroyed already (once more is 0): not used then. */
        struct pollfd pf[2] = {{pfd[0], POLLIN, 0}, {more ? forkpool_fd(q) : -1, POLLIN, 0}};
        if (poll(pf, more ? 2 : 1, -1) == -1 && errno != EINTR)
            break;
        if (more) {
            int left = forkpool_poll(q, 0);
            if (left < 0)
                break;
            more = left > 0;
            if (!more) {
                close(STDOUT_FILENO); /* our copy of the write end: EOF when drained */
                flood_collect(t, busy, &out);
                if (q != p)
                    forkpool_destroy(q); /* and its helper's copy */
            }
        }
        ssize_t k;
        while ((k = read(pfd[0], buf, sizeof buf)) > 0) {
            for (ssize_t i = 0; i < k; i++)
                bad += buf[i] != 'x';
            got += (size_t)k;
        }
        if (k == 0)
            eof = 1;
    }
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(pfd[0]);

    if (more) /* the loop broke early */
        flood_collect(t, busy, &out);
    is(out.state, FORKPOOL_SUCCEEDED, "%s: %s: it succeeded (error: %s)", mode, what, out.error);
    is_mem(out.result, out.result_len, "flooded", 7, "%s: %s: with its result", mode, what);
    is(got, STDOUT_BYTES, "%s: %s: all of it reached stdout, stdio buffer flushed", mode, what);
    is(bad, 0, "%s: %s: and nothing else", mode, what);
    ok(out.busy_state == FORKPOOL_SUCCEEDED && out.busy_len == ((size_t)16 << 20),
       "%s: %s: the task alongside got its 16 MiB result", mode, what);
    still_fine(p, mode, what, fds);
}

/* The same with stdout on /dev/null. */
static void case_flood_devnull(forkpool *p, const char *mode, int fds)
{
    const char *what = "task flooded /dev/null stdout";
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved < 0 || null < 0)
        bail_out("dup/open failed");
    dup2(null, STDOUT_FILENO);
    close(null);
    int rc;
    forkpool *q = pool_for_redirect(p, saved);
    forkpool_task *t = run_wait(q, task_flood_stdout, safety_ms(), &rc);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    const forkpool_error *e = forkpool_task_error(t);
    size_t n = 0;
    const void *r = forkpool_task_result(t, &n);
    is(rc, 0, "%s: %s: it succeeded (error: %s)", mode, what, e ? e->message : "none");
    is_mem(r, n, "flooded", 7, "%s: %s: with its result", mode, what);
    forkpool_task_release(t);
    if (q != p)
        forkpool_destroy(q);
    still_fine(p, mode, what, fds);
}

static void case_big_then_crash(forkpool *p, const char *mode, int fds)
{
    const char *what = "256 MiB result then SIGSEGV";
    int rc;
    forkpool_task *t = run_wait(p, task_big_then_crash, safety_ms() * 3, &rc);
    expect_fail(t, rc, FORKPOOL_ERR_SIGNALED, "signal", mode, what);
    const forkpool_error *e = forkpool_task_error(t);
    is(e ? e->code : 0, SIGSEGV, "%s: %s: code SIGSEGV", mode, what);
    size_t n = 1;
    ok(forkpool_task_result(t, &n) == NULL && n == 0, "%s: %s: no result kept", mode, what);
    forkpool_task_release(t);
    still_fine(p, mode, what, fds);
}

static void case_bomb(forkpool *p, const char *mode, int fds)
{
    const char *what = "fork bomb";
    memset(sh->bomb, 0, sizeof sh->bomb);
    forkpool_task *t = forkpool_run(p, task_bomb, NULL, 0);
    forkpool_set_timeout(t, safety_ms());
    pid_t leader = forkpool_task_pid(t);
    int all = TAP_WAIT_UNTIL((forkpool_poll(p, 5), all_bomb_recorded()), 20000);
    ok(all, "%s: %s: all %d descendants started", mode, what, 2 * NBOMB);
    forkpool_set_timeout(t, 300); /* counted from its start: may fall due at once */
    int rc = forkpool_wait(t);
    expect_fail(t, rc, FORKPOOL_ERR_TIMEOUT, "300 ms", mode, what);
    forkpool_task_release(t);
    int dead = 0;
    for (int i = 0; i < 2 * NBOMB; i++) {
        pid_t d = (pid_t)atomic_load(&sh->bomb[i]);
        if (d > 0 && tap_wait_pid_dead(d, 5000))
            dead++;
    }
    is(dead, 2 * NBOMB, "%s: %s: every recorded descendant is dead", mode, what);
    is(count_group(leader), 0, "%s: %s: nothing alive in process group %d", mode, what,
       (int)leader);
    for (int i = 0; i < 2 * NBOMB; i++) { /* never leave orphans behind */
        pid_t d = (pid_t)atomic_load(&sh->bomb[i]);
        if (d > 0 && !tap_pid_dead(d))
            kill(d, SIGKILL);
    }
    still_fine(p, mode, what, fds);
}

static void run_mode(int fallback)
{
    const char *mode = fallback ? "fallback" : "pidfd";
    if (fallback)
        setenv("FORKPOOL_NO_PIDFD", "1", 1);
    else
        unsetenv("FORKPOOL_NO_PIDFD");
    if (!fallback && !tap_have_pidfd())
        diag("no pidfd_open here: the default mode polls too");
    int fds0 = tap_fd_count();
    forkpool_options o = {0};
    o.concurrency = 2;
    o.kill_grace_ms = 100;
    g_opts = o;
    forkpool *p = forkpool_create(&o);
    if (!p)
        bail_out("forkpool_create failed");
    int fds = tap_fd_count();

    case_close_all(p, mode, fds);
    case_grandchild_holds_channel(p, mode, fds);
    case_sigstop(p, mode, fds);
    case_block_all(p, mode, fds);
    case_flood_stdout(p, mode, fds);
    case_flood_devnull(p, mode, fds);
    case_big_then_crash(p, mode, fds);
    case_bomb(p, mode, fds);

    forkpool_stats s = forkpool_get_stats(p);
    is(s.timed_out, 3, "%s: three timeouts counted", mode);
    forkpool_destroy(p);
    is(tap_fd_count(), fds0, "%s: no fd left after destroy", mode);
    ok(tap_no_children(), "%s: no child left after destroy", mode);
}

int main(void)
{
    tap_watchdog(120);
    tap_no_core_dumps();
    sh = tap_shared(sizeof *sh);
    run_mode(0);
    run_mode(1);
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
