/* Two pools at once (one using pidfds, one the waitid fallback), each with
   running tasks, each getting its own results; the host program's own
   children are never reaped by the pools, and the host's SIGCHLD handler
   stays installed (and may interrupt the pools' waits). */
#include "forkpool.h"
#include "tap.h"

#define PER_POOL 3

struct shared {
    _Atomic int started;
    _Atomic int all_running;
};
static struct shared *sh;

static volatile sig_atomic_t sigchld_count;
static void on_sigchld(int sig)
{
    (void)sig;
    sigchld_count++; /* counts, does NOT reap */
}

static int task_tagged(forkpool_ctx *ctx, const void *arg, size_t len)
{
    atomic_fetch_add(&sh->started, 1);
    /* every task of both pools is running at the same time */
    if (!TAP_WAIT_UNTIL(atomic_load(&sh->started) >= 2 * PER_POOL, 10000))
        return forkpool_throw(ctx, "barrier", "only %d started", atomic_load(&sh->started));
    atomic_store(&sh->all_running, 1);
    tap_sleep_ms(20);
    return forkpool_return(ctx, arg, len) == 0 ? 0 : 1;
}

struct rec {
    int calls;
    char res[16];
};
static void on_then(forkpool_task *t, const void *r, size_t len, void *ud)
{
    (void)t;
    struct rec *x = ud;
    x->calls++;
    snprintf(x->res, sizeof x->res, "%.*s", (int)len, (const char *)r);
}

int main(void)
{
    tap_watchdog(30);
    sh = tap_shared(sizeof *sh);

    struct sigaction sa, cur;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);

    /* host child 1: exits at once and stays a zombie until we reap it */
    pid_t host1 = fork();
    if (host1 == 0)
        _exit(42);
    ok(host1 > 0, "forked the host's own child");
    ok(TAP_WAIT_UNTIL(tap_proc_state(host1) == 'Z', 5000), "host child exited (zombie, not reaped)");
    /* host child 2: exits while the pools are busy */
    pid_t host2 = fork();
    if (host2 == 0) {
        TAP_WAIT_UNTIL(atomic_load(&sh->all_running), 10000);
        _exit(43);
    }

    forkpool_options o = {0};
    o.concurrency = PER_POOL;
    unsetenv("FORKPOOL_NO_PIDFD");
    forkpool *a = forkpool_create(&o);
    setenv("FORKPOOL_NO_PIDFD", "1", 1);
    forkpool *b = forkpool_create(&o);
    unsetenv("FORKPOOL_NO_PIDFD");
    ok(a && b, "two pools created (pidfd and fallback)");
    if (!a || !b)
        bail_out("no pools");
    ok(forkpool_fd(a) != forkpool_fd(b), "each pool has its own fd");

    struct rec ra[PER_POOL], rb[PER_POOL];
    memset(ra, 0, sizeof ra);
    memset(rb, 0, sizeof rb);
    char tags[2][PER_POOL][4];
    for (int i = 0; i < PER_POOL; i++) {
        snprintf(tags[0][i], 4, "A%d", i);
        snprintf(tags[1][i], 4, "B%d", i);
        forkpool_task_release(forkpool_then(forkpool_run(a, task_tagged, tags[0][i], 2), on_then, &ra[i]));
        forkpool_task_release(forkpool_then(forkpool_run(b, task_tagged, tags[1][i], 2), on_then, &rb[i]));
    }
    int na = 1, nb = 1, err = 0;
    while (na > 0 || nb > 0) {
        if (na > 0)
            na = forkpool_poll(a, 10);
        if (nb > 0)
            nb = forkpool_poll(b, 10);
        if (na < 0 || nb < 0) {
            diag("forkpool_poll failed: errno %d", errno);
            err = 1;
            break;
        }
    }
    ok(!err, "polling both pools until both are idle (no EINTR from the host's SIGCHLD handler)");
    is(forkpool_await(a), 0, "await pool A");
    is(forkpool_await(b), 0, "await pool B");
    ok(atomic_load(&sh->all_running), "all %d tasks of both pools ran at the same time", 2 * PER_POOL);
    int own = 1;
    for (int i = 0; i < PER_POOL; i++) {
        if (ra[i].calls != 1 || strcmp(ra[i].res, tags[0][i]) != 0)
            own = 0;
        if (rb[i].calls != 1 || strcmp(rb[i].res, tags[1][i]) != 0)
            own = 0;
    }
    ok(own, "each task of each pool got its own result");
    forkpool_stats sa_ = forkpool_get_stats(a), sb_ = forkpool_get_stats(b);
    is(sa_.succeeded, PER_POOL, "pool A: %d succeeded", PER_POOL);
    is(sb_.succeeded, PER_POOL, "pool B: %d succeeded", PER_POOL);

    /* an await on an idle pool while the host has a zombie child */
    is(forkpool_await(a), 0, "await on an idle pool returns");

    ok(TAP_WAIT_UNTIL(tap_proc_state(host2) == 'Z', 10000), "host child 2 exited while the pools were busy");
    sigaction(SIGCHLD, NULL, &cur);
    ok(cur.sa_handler == on_sigchld, "the host's SIGCHLD handler is still installed after create");
    forkpool_destroy(a);
    forkpool_destroy(b);
    sigaction(SIGCHLD, NULL, &cur);
    ok(cur.sa_handler == on_sigchld, "and after destroy");
    ok((cur.sa_flags & SA_RESTART) != 0, "with its flags");
    ok(sigchld_count > 0, "the host's handler saw SIGCHLD (%d)", (int)sigchld_count);

    int st = 0;
    pid_t w = waitpid(host1, &st, WNOHANG);
    is(w, host1, "waitpid(host child 1) still finds it: the pools did not reap it");
    ok(w == host1 && WIFEXITED(st) && WEXITSTATUS(st) == 42, "with its status 42");
    st = 0;
    w = waitpid(host2, &st, 0);
    is(w, host2, "waitpid(host child 2) still finds it");
    ok(w == host2 && WIFEXITED(st) && WEXITSTATUS(st) == 43, "with its status 43");
    ok(tap_no_children(), "no other children");
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
