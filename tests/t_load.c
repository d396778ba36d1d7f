/* Load: many FRESH tasks, released as they finish, with a mix of successes,
   throws, crashes, timeouts and cancels. The books balance (every task ends
   exactly once, in the stat it should), parent RSS stays flat, the fd count
   is constant and no child is left.

   make check runs 10,000 tasks (300 under valgrind, where each fork costs
   ~100x more; the assertions are the same), in every variant. make soak
   runs the same mix for FORKPOOL_SOAK_SECONDS (600), make load for
   FORKPOOL_LOAD_TASKS tasks (100,000 FRESH, 1,000,000 WORKERS), and both
   report the numbers. */
#include <stdint.h>

#include "forkpool.h"
#include "tap.h"

/* RSS growth allowed after warm-up. Under AddressSanitizer freed blocks sit
   in its quarantine (256 MiB by default) before reuse, so RSS grows until
   that is full: the bound there is the quarantine's. */
#ifdef FP_ASAN
#define RSS_BOUND_KIB (300L * 1024)
#else
#define RSS_BOUND_KIB 4096L
#endif

enum { OK, THROW, CRASH, SLOW, CANCEL, NKINDS };

/* Of every 50 tasks: one runs into its timeout, one is cancelled, eight
   throw, eight crash, the rest succeed. */
static int kind_of(uint32_t v)
{
    unsigned k = v % 50;
    return k == 0 ? SLOW : k == 1 ? CANCEL : k < 10 ? THROW : k < 18 ? CRASH : OK;
}

static int task_mixed(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    uint32_t v;
    memcpy(&v, arg, sizeof v);
    switch (kind_of(v)) {
    case THROW:
        return forkpool_throw(ctx, "load", "task %u threw", v);
    case CRASH:
        raise(SIGSEGV);
        return 1;
    case SLOW:
    case CANCEL:
        tap_pause_forever();
    default:
        return forkpool_return(ctx, &v, sizeof v);
    }
}

struct books {
    size_t then, caught[FORKPOOL_ERR_PROTOCOL + 1], wrong;
};

static void on_then(forkpool_task *t, const void *r, size_t n, void *ud)
{
    struct books *b = ud;
    (void)t;
    uint32_t v;
    if (n != sizeof v) {
        b->wrong++;
        return;
    }
    memcpy(&v, r, sizeof v);
    b->then++;
    b->wrong += kind_of(v) != OK;
}

static void on_catch(forkpool_task *t, const forkpool_error *e, void *ud)
{
    struct books *b = ud;
    (void)t;
    b->caught[e->kind]++;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(void)
{
    const char *soak = getenv("FORKPOOL_SOAK_SECONDS");
    const char *count = getenv("FORKPOOL_LOAD_TASKS");
    long seconds = soak ? atol(soak) : 0;
    size_t total = count ? (size_t)atol(count) : tap_scale() > 1 ? 300 : 10000;
    /* RSS is measured from here on: allocator pools are filled by then. */
    size_t warm = total >= 10000 ? 2000 : total / 3;
    /* A hang, not a slow machine: 4 ms a task (a VM where a fork costs
       ~1 ms took ~2.5 ms a task here; 2.2 ms was allowed until 2026-12-07). */
    tap_watchdog(seconds ? (unsigned)seconds + 120 : 120 + (unsigned)(total / 250));
    int fds = tap_fd_count();
    forkpool_options o = {0};
    o.concurrency = 4;
    o.kill_grace_ms = 20;
    forkpool *pool = forkpool_create(&o);
    struct books b = {0};
    size_t n = 0, want[NKINDS] = {0};
    long rss_start = 0, rss_max = 0;
    long long start = tap_now_ms(), end = start + seconds * 1000;
    while (seconds ? tap_now_ms() < end : n < total) {
        /* Keep ~64 queued; cancel every CANCEL task right after it starts. */
        while (forkpool_get_stats(pool).queued < 64) {
            uint32_t v = (uint32_t)n++;
            forkpool_task *t = forkpool_run(pool, task_mixed, &v, sizeof v);
            forkpool_catch(forkpool_then(t, on_then, &b), on_catch, &b);
            /* Only SLOW tasks have a limit: a loaded machine may delay any
               task, and must not turn a crash into a timeout. */
            if (kind_of(v) == SLOW)
                forkpool_set_timeout(t, 50);
            if (kind_of(v) == CANCEL)
                forkpool_cancel(t);
            want[kind_of(v)]++;
            forkpool_task_release(t);
            if (!seconds && n == total)
                break;
        }
        if (forkpool_poll(pool, -1) == -1)
            bail_out("forkpool_poll failed");
        if (n >= (seconds ? 2000 : warm) && !rss_start)
            rss_start = rss_kib(); /* after warm-up: allocator pools filled */
        if (rss_kib() > rss_max)
            rss_max = rss_kib();
    }
    forkpool_await(pool);
    forkpool_stats s = forkpool_get_stats(pool);
    diag("%zu tasks in %lld s; RSS after warm-up %ld KiB, peak %ld KiB, at the end %ld KiB",
         n, (tap_now_ms() - start) / 1000, rss_start, rss_max, rss_kib());
    is(s.succeeded + s.failed + s.timed_out + s.cancelled, n, "every task ended exactly once");
    is(b.then, want[OK], "then ran once per successful task");
    is(b.wrong, 0, "every result was its own task's");
    is(b.caught[FORKPOOL_ERR_THROWN], want[THROW], "each throw was caught as THROWN");
    is(b.caught[FORKPOOL_ERR_SIGNALED], want[CRASH], "each crash was caught as SIGNALED");
    is(b.caught[FORKPOOL_ERR_TIMEOUT], want[SLOW], "each slow task timed out");
    is(b.caught[FORKPOOL_ERR_CANCELLED], want[CANCEL], "each cancelled task was cancelled");
    is(s.timed_out, want[SLOW], "stats: timed_out");
    is(s.cancelled, want[CANCEL], "stats: cancelled");
    /* Under valgrind, memcheck holds freed blocks back from reuse up to
       --freelist-vol (20 MB by default): that is the bound there. */
    const char *pre = getenv("LD_PRELOAD");
    long bound = pre && strstr(pre, "vgpreload") ? 24L * 1024 : RSS_BOUND_KIB;
    ok(rss_start && rss_max - rss_start < bound,
       "parent RSS flat: grew %ld KiB after warm-up (bound %ld KiB)", rss_max - rss_start, bound);
    forkpool_destroy(pool);
    diag("fds: %d before the pool, %d after destroy", fds, tap_fd_count());
    is(tap_fd_count(), fds, "fd count back where it started");
    ok(tap_no_children(), "no child, no zombie");
    return done_testing();
}
