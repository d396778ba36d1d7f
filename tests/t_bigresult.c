/* A 1 GiB result arrives whole, as a mapping of the child's memfd (no
   deadlock, one copy), and is unmapped on release; a task that returns
   1 GiB and then crashes fails with nothing delivered and costs the parent
   no memory; and max_output: a result or message over the limit fails with
   FORKPOOL_ERR_OUTPUT (and the task is killed), exactly at the limit
   succeeds. */
#include "forkpool.h"
#include "tap.h"


#define BIG ((size_t)1 << 30)
#define PAGE 4096

/* The return-then-crash case: 1 GiB, or 64 MiB under valgrind or ASan,
   where filling 1 GiB takes too long. */
static size_t crash_size(void)
{
#ifdef FP_ASAN
    return (size_t)64 << 20;
#else
    return tap_scale() > 1 ? (size_t)64 << 20 : BIG;
#endif
}

static int task_big_then_crash(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    size_t n = crash_size();
    unsigned char *b = malloc(n);
    if (!b)
        return forkpool_throw(ctx, "oom", "malloc failed");
    memset(b, 0xCD, n);
    if (forkpool_return(ctx, b, n) != 0)
        return forkpool_throw(ctx, "return", "forkpool_return: %d", errno);
    raise(SIGSEGV);
    return 0;
}


/* This process's peak RSS so far, KiB. */
static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int task_big(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg; (void)len;
    unsigned char *b = malloc(BIG);
    if (!b)
        return forkpool_throw(ctx, "oom", "malloc(1 GiB) failed");
    memset(b, 0xAB, BIG);
    for (size_t off = 0; off < BIG; off += PAGE) {
        uint32_t page = (uint32_t)(off / PAGE);
        memcpy(b + off, &page, sizeof page);
    }
    b[BIG - 1] = 0x5A;
    int rc = forkpool_return(ctx, b, BIG);
    free(b);
    return rc == 0 ? 0 : forkpool_throw(ctx, "return", "forkpool_return: %d", errno);
}

static int task_n_bytes(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    size_t n = *(const size_t *)arg;
    unsigned char *b = malloc(n ? n : 1);
    if (!b)
        return 1;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(i * 31 + 7);
    int rc = forkpool_return(ctx, b, n);
    free(b);
    return rc == 0 ? 0 : 1;
}

/* sends one message of n bytes, then sleeps: the pool has to kill it */
static int task_big_message(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    size_t n = *(const size_t *)arg;
    unsigned char *b = calloc(1, n);
    if (!b)
        return 1;
    forkpool_send(ctx, b, n);
    free(b);
    tap_pause_forever();
}

static int task_message_at_limit(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    size_t n = *(const size_t *)arg;
    unsigned char *b = calloc(1, n);
    if (!b)
        return 1;
    int rc = forkpool_send(ctx, b, n);
    free(b);
    return rc == 0 ? 0 : 1;
}

struct big {
    int calls;
    size_t len;
    int pages_ok;
    int fill_ok;
    int last_ok;
};
static void then_big(forkpool_task *t, const void *res, size_t len, void *ud)
{
    (void)t;
    struct big *r = ud;
    const unsigned char *b = res;
    r->calls++;
    r->len = len;
    if (len != BIG)
        return;
    r->pages_ok = 1;
    r->fill_ok = 1;
    for (size_t off = 0; off < BIG; off += PAGE) {
        uint32_t page;
        memcpy(&page, b + off, sizeof page);
        if (page != (uint32_t)(off / PAGE))
            r->pages_ok = 0;
        /* sample a byte of the fill in each page, at a moving offset */
        size_t k = off + 4 + (off / PAGE) % (PAGE - 4);
        if (k < BIG - 1 && b[k] != 0xAB)
            r->fill_ok = 0;
    }
    r->last_ok = b[BIG - 1] == 0x5A && b[BIG - 2] == 0xAB;
}

struct rec {
    int then_calls, catch_calls, msg_calls;
    int kind;
    char type[64];
    size_t len;
    int bytes_ok;
};
static void on_then(forkpool_task *t, const void *res, size_t len, void *ud)
{
    (void)t;
    struct rec *r = ud;
    const unsigned char *b = res;
    r->then_calls++;
    r->len = len;
    r->bytes_ok = 1;
    for (size_t i = 0; i < len; i++)
        if (b[i] != (unsigned char)(i * 31 + 7))
            r->bytes_ok = 0;
}
static void on_catch(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t;
    struct rec *r = ud;
    r->catch_calls++;
    r->kind = (int)e->kind;
    snprintf(r->type, sizeof r->type, "%s", e->type);
}
static void on_msg(forkpool_task *t, const void *m, size_t len, void *ud)
{
    (void)t; (void)m;
    struct rec *r = ud;
    r->msg_calls++;
    r->len = len;
}

int main(void)
{
    /* A hang, not a slow machine: 1 GiB is filled twice and, in WORKERS,
       copied; ~20 s alone on a VM where a page fault costs 15-30 us, and
       past 60 s once under make check's -j3. */
    tap_watchdog(180);

    tap_no_core_dumps();
    int fds0 = tap_fd_count();
    forkpool *p = forkpool_create(NULL);
    ok(p != NULL, "forkpool_create");
    if (!p)
        bail_out("no pool");
    /* WORKERS: results cross as bytes (workers cannot hold a memfd yet), and
       a worker keeps its fds open while the pool lives. */
    int fresh = !tap_workers();
    int fds = tap_fd_count();

    /* Returns 1 GiB, then crashes: first, while the parent's peak RSS is
       still small. */
    long peak = peak_rss_kib();
    forkpool_task *tc = forkpool_run(p, task_big_then_crash, NULL, 0);
    is(forkpool_wait(tc), 1, "%zu MiB returned, then SIGSEGV: the task failed",
       crash_size() >> 20);
    const forkpool_error *ec = forkpool_task_error(tc);
    ok(ec && ec->kind == FORKPOOL_ERR_SIGNALED && ec->code == SIGSEGV, "SIGNALED, SIGSEGV (%s)",
       ec ? ec->message : "no error");
    size_t cl = 1;
    ok(forkpool_task_result(tc, &cl) == NULL && cl == 0, "no result delivered");
    forkpool_task_release(tc);
    long grew = peak_rss_kib() - peak;
    ok(!fresh || grew < 64 * 1024, "the parent's peak RSS grew by %ld KiB (< 64 MiB): the "
       "bytes never reached it", grew);
    is(tap_result_mappings(), 0, "no result mapping in the parent");
    ok(!fresh || tap_fd_count() == fds, "no fd left in the parent");

    /* 1 GiB result */
    struct big rb = {0};
    forkpool_task *tb = forkpool_then(forkpool_run(p, task_big, NULL, 0), then_big, &rb);
    is(forkpool_wait(tb), 0, "1 GiB result: task succeeded (no deadlock)");
    is(rb.calls, 1, "then ran");
    ok(rb.len == BIG, "then got exactly 1 GiB (%zu bytes)", rb.len);
    ok(rb.pages_ok, "every page carries its index");
    ok(rb.fill_ok, "sampled fill bytes are intact");
    ok(rb.last_ok, "the last bytes are intact");
    size_t l = 0;
    ok(forkpool_task_result(tb, &l) != NULL && l == BIG, "forkpool_task_result: 1 GiB");
    is(tap_result_mappings(), fresh, "it is %s", fresh ? "a mapping of the child's memfd, not a copy"
                                                   : "bytes (WORKERS)");
    forkpool_task_release(tb); /* unmaps the 1 GiB */
    is(tap_result_mappings(), 0, "released: unmapped");
    ok(!fresh || tap_fd_count() == fds, "no fd left in the parent");
    forkpool_destroy(p);

    /* max_output */
    forkpool_options o = {0};
    o.max_output = 1000;
    o.concurrency = 4;
    o.kill_grace_ms = 50;
    p = forkpool_create(&o);
    ok(p != NULL, "forkpool_create (max_output 1000)");
    if (!p)
        bail_out("no pool");
    size_t at = 1000, over = 1001, huge = 1 << 20, over_msg = 1001, at_msg = 1000;
    struct rec r_at = {0}, r_over = {0}, r_huge = {0}, r_msg = {0}, r_msg_at = {0}, r_msg_at_then = {0};
    forkpool_task *t_at = forkpool_run(p, task_n_bytes, &at, sizeof at);
    forkpool_then(forkpool_catch(t_at, on_catch, &r_at), on_then, &r_at);
    forkpool_task *t_over = forkpool_run(p, task_n_bytes, &over, sizeof over);
    forkpool_then(forkpool_catch(t_over, on_catch, &r_over), on_then, &r_over);
    forkpool_task *t_huge = forkpool_run(p, task_n_bytes, &huge, sizeof huge);
    forkpool_then(forkpool_catch(t_huge, on_catch, &r_huge), on_then, &r_huge);
    forkpool_task *t_msg = forkpool_run(p, task_big_message, &over_msg, sizeof over_msg);
    forkpool_on_message(forkpool_catch(t_msg, on_catch, &r_msg), on_msg, &r_msg);
    forkpool_task *t_msg_at = forkpool_run(p, task_message_at_limit, &at_msg, sizeof at_msg);
    forkpool_on_message(forkpool_catch(t_msg_at, on_catch, &r_msg_at), on_msg, &r_msg_at);
    forkpool_then(t_msg_at, on_then, &r_msg_at_then);

    is(forkpool_await(p), 0, "await");
    is(r_at.then_calls, 1, "result exactly at max_output: succeeded");
    is(r_at.len, 1000, "with all 1000 bytes");
    ok(r_at.bytes_ok, "intact");
    is(r_over.then_calls, 0, "result one byte over max_output: then did not run");
    is(r_over.kind, FORKPOOL_ERR_OUTPUT, "FORKPOOL_ERR_OUTPUT");
    is_str(r_over.type, "forkpool.output", "type forkpool.output");
    is(r_huge.kind, FORKPOOL_ERR_OUTPUT, "1 MiB result over a 1000-byte limit: FORKPOOL_ERR_OUTPUT");
    is(r_msg.msg_calls, 0, "message over max_output was not delivered");
    is(r_msg.kind, FORKPOOL_ERR_OUTPUT, "message over max_output: task failed with FORKPOOL_ERR_OUTPUT");
    ok(tap_pid_dead(forkpool_task_pid(t_msg)), "and was killed (it was sleeping forever)");
    is(r_msg_at.msg_calls, 1, "message exactly at max_output delivered");
    is(r_msg_at.len, 1000, "with 1000 bytes");
    is(r_msg_at_then.then_calls, 1, "and the task succeeded");
    forkpool_stats s = forkpool_get_stats(p);
    is(s.failed, 3, "stats: output failures count as failed");
    forkpool_task *all[] = {t_at, t_over, t_huge, t_msg, t_msg_at};
    for (int i = 0; i < 5; i++)
        forkpool_task_release(all[i]);
    forkpool_destroy(p);
    ok(tap_no_children(), "no children");
    is(tap_fd_count(), fds0, "the parent's fd count is back to where it was");
    return done_testing();
}
