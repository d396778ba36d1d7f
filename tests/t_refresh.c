/* forkpool_refresh (issue #11): a table built or changed after a WORKERS
   worker or the fork server was forked is read stale there (the trap
   README's "Pitfalls of fork" describes); after forkpool_refresh every new
   task sees the program as it is now. A busy worker finishes its current
   task undisturbed; the tasks queued behind it run on new workers. */
#include <stdlib.h>
#include <string.h>

#include "forkpool.h"
#include "tap.h"

static int table[16];       /* changed after the pool's processes exist */
static const char *built;   /* built after them                         */

struct shared {
    _Atomic int started, release;
};
static struct shared *sh;

static int task_read(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    char out[64];
    int n = snprintf(out, sizeof out, "%d %s", table[5], built ? built : "(none)");
    return forkpool_return(ctx, out, (size_t)n) == 0 ? 0 : 1;
}

/* Holds its worker until the test releases it, then reads. */
static int task_hold(forkpool_ctx *ctx, const void *arg, size_t len)
{
    atomic_fetch_add(&sh->started, 1);
    if (!TAP_WAIT_UNTIL(atomic_load(&sh->release), 10000))
        return forkpool_throw(ctx, "test", "never released");
    return task_read(ctx, arg, len);
}

/* What a task reads now, as a string (static buffer). */
static const char *read_now(forkpool *p, forkpool_fn fn)
{
    static char buf[64];
    forkpool_task *t = forkpool_run(p, fn, "", 0);
    buf[0] = '\0';
    if (forkpool_wait(t) == 0) {
        size_t n;
        const char *r = forkpool_task_result(t, &n);
        if (r && n < sizeof buf) {
            memcpy(buf, r, n);
            buf[n] = '\0';
        }
    }
    forkpool_task_release(t);
    return buf;
}

static int snapshots(void)
{
    return tap_workers() || tap_server();
}

static void stale_then_fresh(void)
{
    table[5] = 1;
    built = NULL;
    forkpool_options o = {.concurrency = 2};
    forkpool *p = forkpool_create(&o);
    is_str(read_now(p, task_read), "1 (none)", "before any change: the table as it was");
    table[5] = 42;
    built = "site index";
    /* The trap: without refresh, a snapshot taken before the change. */
    is_str(read_now(p, task_read), snapshots() ? "1 (none)" : "42 site index",
           "changed after the pool's processes: %s", snapshots() ? "stale (the trap)" : "seen");
    is(forkpool_refresh(p), 0, "forkpool_refresh: 0");
    is_str(read_now(p, task_read), "42 site index", "after refresh: the program as it is now");
    table[5] = 7;
    is(forkpool_refresh(p), 0, "refresh again: 0");
    is_str(read_now(p, task_read), "7 site index", "and again");
    forkpool_destroy(p);
}

/* A busy worker: its current task runs on; what waited behind it (on the
   same worker, concurrency 1) runs on a new one and sees the change. */
static void busy_worker(void)
{
    table[5] = 100;
    built = "old";
    atomic_store(&sh->started, 0);
    atomic_store(&sh->release, 0);
    forkpool_options o = {.concurrency = 1};
    forkpool *p = forkpool_create(&o);
    forkpool_task *hold = forkpool_run(p, task_hold, "", 0);
    forkpool_task *behind = forkpool_run(p, task_read, "", 0);
    ok(TAP_WAIT_UNTIL((forkpool_poll(p, 5), atomic_load(&sh->started) == 1), 5000),
       "busy: the holding task started");
    table[5] = 200;
    built = "new";
    is(forkpool_refresh(p), 0, "busy: refresh while a task runs: 0");
    is(forkpool_task_state(hold), FORKPOOL_RUNNING, "busy: it runs on");
    atomic_store(&sh->release, 1);
    is(forkpool_wait(hold), 0, "busy: it finished undisturbed");
    size_t n;
    const char *r = forkpool_task_result(hold, &n);
    char what[64] = "";
    if (r && n < sizeof what)
        memcpy(what, r, n);
    is_str(what, "100 old", "busy: it read what its process had when it was forked");
    is(forkpool_wait(behind), 0, "busy: the task behind it ran");
    r = forkpool_task_result(behind, &n);
    memset(what, 0, sizeof what);
    if (r && n < sizeof what)
        memcpy(what, r, n);
    is_str(what, "200 new", "busy: the task behind it saw the change");
    forkpool_task_release(hold);
    forkpool_task_release(behind);
    is(forkpool_await(p), 0, "busy: nothing failed");
    forkpool_destroy(p);
}

static void modes_and_errors(void)
{
    errno = 0;
    ok(forkpool_refresh(NULL) == -1 && errno == EINVAL, "NULL pool: EINVAL");
    forkpool_options o = {.mode = FORKPOOL_INLINE};
    forkpool *p = forkpool_create(&o);
    table[5] = 9;
    is(forkpool_refresh(p), 0, "INLINE: 0 (nothing to do)");
    is_str(read_now(p, task_read), "9 new", "INLINE: reads the live program");
    forkpool_destroy(p);
}

int main(void)
{
    tap_watchdog(60);
    sh = tap_shared(sizeof *sh);
    int fds = tap_fd_count();
    stale_then_fresh();
    busy_worker();
    modes_and_errors();
    is(tap_fd_count(), fds, "no fd left");
    ok(tap_no_children(), "no children left");
    return done_testing();
}
