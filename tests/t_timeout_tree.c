/* Killing a task kills its whole process group: a grandchild forked inside a
   task is gone after the task times out, is cancelled, or its pool is
   destroyed - also when the grandchild ignores SIGTERM. */
#include "forkpool.h"
#include "tap.h"

struct shared {
    _Atomic int gpid[8];
};
static struct shared *sh;

struct targ {
    int slot;
    int ignore_term; /* the grandchild ignores SIGTERM */
};

static int task_with_grandchild(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)len;
    const struct targ *a = arg;
    pid_t g = fork();
    if (g == 0) {
        if (a->ignore_term)
            signal(SIGTERM, SIG_IGN);
        atomic_store(&sh->gpid[a->slot], (int)tap_pid());
        for (;;)
            pause();
    }
    if (g < 0)
        return forkpool_throw(ctx, "fork", "fork failed: %d", errno);
    tap_pause_forever();
}

static void on_catch(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t;
    *(int *)ud = (int)e->kind;
}

static pid_t wait_gpid(forkpool *p, int slot)
{
    int ok_ = TAP_WAIT_UNTIL((forkpool_poll(p, 5), atomic_load(&sh->gpid[slot]) != 0), 5000);
    return ok_ ? (pid_t)atomic_load(&sh->gpid[slot]) : 0;
}

int main(void)
{
    tap_watchdog(40);
    sh = tap_shared(sizeof *sh);

    forkpool_options o = {0};
    o.concurrency = 4;
    o.kill_grace_ms = 100;
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "forkpool_create");
    if (!p)
        bail_out("no pool");

    /* timeout */
    struct targ a0 = {0, 0};
    int k0 = 0;
    forkpool_task *t0 = forkpool_run(p, task_with_grandchild, &a0, sizeof a0);
    forkpool_catch(t0, on_catch, &k0);
    pid_t g0 = wait_gpid(p, 0);
    forkpool_set_timeout(t0, 100); /* once the grandchild surely exists */
    ok(g0 > 0, "grandchild started (pid %d)", (int)g0);
    is(forkpool_wait(t0), 1, "task with a grandchild timed out");
    is(k0, FORKPOOL_ERR_TIMEOUT, "FORKPOOL_ERR_TIMEOUT");
    ok(g0 > 0 && tap_wait_pid_dead(g0, 5000), "the grandchild is gone after the timeout");
    forkpool_task_release(t0);

    /* timeout, grandchild ignores SIGTERM: the SIGKILL after the grace
       reaches it even though the task itself died of SIGTERM */
    struct targ a1 = {1, 1};
    int k1 = 0;
    forkpool_task *t1 = forkpool_run(p, task_with_grandchild, &a1, sizeof a1);
    forkpool_catch(t1, on_catch, &k1);
    pid_t g1 = wait_gpid(p, 1);
    forkpool_set_timeout(t1, 100); /* once the grandchild surely exists */
    ok(g1 > 0, "SIGTERM-ignoring grandchild started");
    is(forkpool_wait(t1), 1, "task timed out");
    is(k1, FORKPOOL_ERR_TIMEOUT, "FORKPOOL_ERR_TIMEOUT");
    ok(g1 > 0 && tap_wait_pid_dead(g1, 5000), "the SIGTERM-ignoring grandchild is gone too");
    forkpool_task_release(t1);

    /* cancel */
    struct targ a2 = {2, 1};
    int k2 = 0;
    forkpool_task *t2 = forkpool_run(p, task_with_grandchild, &a2, sizeof a2);
    forkpool_catch(t2, on_catch, &k2);
    pid_t g2 = wait_gpid(p, 2);
    ok(g2 > 0, "grandchild started");
    is(forkpool_cancel(t2), 0, "forkpool_cancel on a running task: 0");
    is(forkpool_wait(t2), 1, "cancelled task failed");
    is(k2, FORKPOOL_ERR_CANCELLED, "FORKPOOL_ERR_CANCELLED");
    ok(g2 > 0 && tap_wait_pid_dead(g2, 5000), "the grandchild is gone after cancel");
    forkpool_task_release(t2);

    /* destroy */
    struct targ a3 = {3, 1};
    forkpool_task *t3 = forkpool_run(p, task_with_grandchild, &a3, sizeof a3);
    (void)t3;
    pid_t g3 = wait_gpid(p, 3);
    pid_t c3 = forkpool_task_pid(t3);
    ok(g3 > 0, "grandchild started");
    forkpool_destroy(p);
    ok(tap_no_children(), "no children after destroy");
    ok(c3 > 0 && tap_pid_dead(c3), "the task's process is gone after destroy");
    ok(g3 > 0 && tap_wait_pid_dead(g3, 5000), "the grandchild is gone after destroy");

    /* on failure, do not leave orphans holding the TAP pipe open */
    pid_t gs[] = {g0, g1, g2, g3};
    for (int i = 0; i < 4; i++)
        if (gs[i] > 0 && !tap_pid_dead(gs[i]))
            kill(gs[i], SIGKILL);
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
