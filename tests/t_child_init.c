/* child_init: runs in each new child (FRESH: per task; WORKERS: per
   worker), before its task(s), with child_init_arg; never in the parent.
   What it starts counts as the first task's: gone when that task ends. */
#include "forkpool.h"
#include "tap.h"

struct shared {
    _Atomic int init_calls;
    _Atomic int init_pids[8];
    _Atomic int helper; /* the process init_spawn started */
};
static struct shared *sh;

static int init_flag; /* set by child_init in the child only */
static void child_init(void *arg)
{
    int i = atomic_fetch_add(&sh->init_calls, 1);
    if (i < 8)
        atomic_store(&sh->init_pids[i], (int)getpid());
    init_flag = *(const int *)arg;
}

static void init_spawn(void *arg)
{
    (void)arg;
    pid_t pid = fork();
    if (pid == 0)
        for (;;)
            pause();
    atomic_store(&sh->helper, (int)pid);
}

static int task_empty(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    return 0;
}

/* A worker skips its end-of-task check for processes after a task too
   short to have started one (tree.h), but never after its first task, as
   child_init ran before it. (An empty task, the shortest there is; a
   worker's first task usually takes longer than the bound anyway.) */
static void init_spawned_gone(void)
{
    forkpool_options o = {.concurrency = 1, .child_init = init_spawn};
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "a pool whose child_init starts a process");
    if (!p)
        return;
    forkpool_task *t = forkpool_run(p, task_empty, NULL, 0);
    is(forkpool_wait(t), 0, "its first task, an empty one, succeeded");
    pid_t helper = (pid_t)atomic_load(&sh->helper);
    ok(helper > 0 && tap_wait_pid_dead(helper, 5000),
       "what child_init started is gone once that task ended, the pool still open");
    forkpool_task_release(t);
    forkpool_destroy(p);
}

static int task_report(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg; (void)len;
    int v[2] = {init_flag, (int)getpid()};
    return forkpool_return(ctx, v, sizeof v) == 0 ? 0 : 1;
}

int main(void)
{
    tap_watchdog(20);
    sh = tap_shared(sizeof *sh);
    static int magic = 4242;
    forkpool_options o = {0};
    o.concurrency = 2;
    o.child_init = child_init;
    o.child_init_arg = &magic;
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "forkpool_create with child_init");
    if (!p)
        bail_out("no pool");
    is(atomic_load(&sh->init_calls), 0, "child_init did not run at create (FRESH mode)");
    forkpool_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = forkpool_run(p, task_report, NULL, 0);
    is(forkpool_await(p), 0, "await");
    if (tap_workers()) {
        int distinct = 0;
        for (int i = 0; i < 4; i++) {
            int seen = 0;
            for (int k = 0; k < i; k++)
                seen |= forkpool_task_pid(t[k]) == forkpool_task_pid(t[i]);
            distinct += !seen;
        }
        ok(distinct >= 1 && distinct <= 2, "WORKERS: at most concurrency (2) workers ran the 4 tasks");
        is(atomic_load(&sh->init_calls), distinct, "WORKERS: child_init ran once per worker");
    } else {
        is(atomic_load(&sh->init_calls), 4, "child_init ran once per task");
    }
    is(init_flag, 0, "child_init never ran in the parent");
    int seen_before = 1, pids_match = 1;
    for (int i = 0; i < 4; i++) {
        size_t len = 0;
        const int *v = forkpool_task_result(t[i], &len);
        if (!v || len != 2 * sizeof(int) || v[0] != magic)
            seen_before = 0;
        int found = 0;
        for (int k = 0; k < 4; k++)
            if (atomic_load(&sh->init_pids[k]) == forkpool_task_pid(t[i]))
                found = 1;
        if (!found || !v || v[1] != forkpool_task_pid(t[i]))
            pids_match = 0;
        forkpool_task_release(t[i]);
    }
    ok(seen_before, "each task saw what child_init set up, with child_init_arg");
    ok(pids_match, "child_init ran in the task's own process");
    forkpool_destroy(p);
    init_spawned_gone();
    ok(tap_no_children(), "no children");
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
