/* then handlers and results: binary-safe bytes, empty results, handler order,
   chaining, task state/result/pid, zero-length arguments, argument copying. */
#include "forkpool.h"
#include "tap.h"

static const unsigned char BIN[] = {'a', 0, 'b', 0, 0, 0xff, '\n', 0x80, 0};

struct shared {
    _Atomic int pid_seen[4];
    _Atomic int arg_null;
    _Atomic long arg_len;
};
static struct shared *sh;

static int task_bin(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    atomic_store(&sh->pid_seen[0], (int)getpid());
    return forkpool_return(ctx, BIN, sizeof BIN) == 0 ? 0 : 1;
}

static int task_empty(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    return 0; /* no forkpool_return: an empty result */
}

static int task_empty_explicit(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return forkpool_return(ctx, NULL, 0) == 0 ? 0 : 1;
}

static int task_echo(forkpool_ctx *ctx, const void *arg, size_t len)
{
    atomic_store(&sh->arg_null, arg == NULL);
    atomic_store(&sh->arg_len, (long)len);
    return forkpool_return(ctx, arg, len) == 0 ? 0 : 1;
}

/* Returns its argument, then fails with 3: the result must not count. */
static int task_echo_fail(forkpool_ctx *ctx, const void *arg, size_t len)
{
    return forkpool_return(ctx, arg, len) == 0 ? 3 : 1;
}

/* Sizes around the child's thresholds: a result waits for the task's end on
   its stack up to 512 bytes, in its heap up to 4096, and above that goes at
   once. */
static const size_t SIZES[] = {1, 511, 512, 513, 4095, 4096, 4097, 70000};
enum { NSIZES = sizeof SIZES / sizeof SIZES[0] };

/* Each size's result arrives whole, with max_output off and at each size
   exactly; one byte over max_output fails OUTPUT; a result followed by a
   non-zero return fails THROWN with no result. 3 tasks per size succeed. */
static void test_sizes(forkpool *p, forkpool *limited[NSIZES])
{
    static unsigned char in[70001]; /* the largest size, plus one */
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (unsigned char)(i * 31 + 7);
    for (int k = 0; k < NSIZES; k++) {
        size_t n = SIZES[k], got = 0;
        forkpool_task *t = forkpool_run(p, task_echo, in, n);
        is(forkpool_wait(t), 0, "%zu-byte result: succeeded", n);
        const void *r = forkpool_task_result(t, &got);
        is_mem(r, got, in, n, "%zu-byte result: arrived whole", n);
        forkpool_task_release(t);

        t = forkpool_run(limited[k], task_echo, in, n);
        is(forkpool_wait(t), 0, "%zu-byte result, max_output %zu: succeeded", n, n);
        r = forkpool_task_result(t, &got);
        is_mem(r, got, in, n, "%zu-byte result, max_output %zu: arrived whole", n, n);
        forkpool_task_release(t);

        t = forkpool_run(limited[k], task_echo, in, n + 1);
        is(forkpool_wait(t), 1, "%zu-byte result, max_output %zu: failed", n + 1, n);
        const forkpool_error *e = forkpool_task_error(t);
        is(e ? (int)e->kind : -1, FORKPOOL_ERR_OUTPUT, "%zu-byte result, max_output %zu: OUTPUT",
           n + 1, n);
        forkpool_task_release(t);

        t = forkpool_run(p, task_echo_fail, in, n);
        is(forkpool_wait(t), 1, "%zu-byte result, then 3 returned: failed", n);
        e = forkpool_task_error(t);
        ok(e && e->kind == FORKPOOL_ERR_THROWN && e->code == 3,
           "%zu-byte result, then 3 returned: THROWN, code 3", n);
        got = 1;
        ok(forkpool_task_result(t, &got) == NULL && got == 0,
           "%zu-byte result, then 3 returned: no result", n);
        forkpool_task_release(t);

        t = forkpool_run(p, task_echo, in, n);
        is(forkpool_wait(t), 0, "%zu-byte result, again: succeeded", n);
        r = forkpool_task_result(t, &got);
        is_mem(r, got, in, n, "%zu-byte result, again: arrived whole", n);
        forkpool_task_release(t);
    }
}

struct rec {
    int calls;
    int order[8];
    int n;
    const void *result;
    size_t len;
    unsigned char copy[64];
    forkpool_task *task;
    int catch_calls;
};

static void then_rec(forkpool_task *t, const void *result, size_t len, void *ud)
{
    struct rec *r = ud;
    r->calls++;
    r->task = t;
    r->result = result;
    r->len = len;
    if (result && len <= sizeof r->copy)
        memcpy(r->copy, result, len);
}

static struct rec order_log;
static void then_a(forkpool_task *t, const void *res, size_t len, void *ud)
{
    (void)t; (void)res; (void)len; (void)ud;
    order_log.order[order_log.n++] = 1;
}
static void then_b(forkpool_task *t, const void *res, size_t len, void *ud)
{
    (void)t; (void)res; (void)len; (void)ud;
    order_log.order[order_log.n++] = 2;
}
static void then_c(forkpool_task *t, const void *res, size_t len, void *ud)
{
    (void)t; (void)res; (void)len; (void)ud;
    order_log.order[order_log.n++] = 3;
}
static void catch_count(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t;
    (void)e;
    ((struct rec *)ud)->catch_calls++;
}

int main(void)
{
    tap_watchdog(20);
    sh = tap_shared(sizeof *sh);
    forkpool_options o = {0};
    o.concurrency = 2;
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "forkpool_create");
    if (!p)
        bail_out("no pool");

    /* binary-safe result */
    struct rec r1 = {0};
    forkpool_task *t1 = forkpool_run(p, task_bin, NULL, 0);
    ok(t1 != NULL, "forkpool_run returns a task");
    ok(forkpool_then(t1, then_rec, &r1) == t1, "forkpool_then returns t (chains)");
    ok(forkpool_catch(t1, catch_count, &r1) == t1, "forkpool_catch returns t (chains)");
    forkpool_state st0 = forkpool_task_state(t1);
    ok(st0 == FORKPOOL_QUEUED || st0 == FORKPOOL_RUNNING, "fresh task is queued or running");
    is(forkpool_await(p), 0, "await: no unhandled failures");
    is(r1.calls, 1, "then ran once");
    is(r1.catch_calls, 0, "catch did not run on success");
    ok(r1.task == t1, "then got its own task");
    is_mem(r1.copy, r1.len, BIN, sizeof BIN, "result bytes are binary-safe (NULs, 0xff)");
    is(forkpool_task_state(t1), FORKPOOL_SUCCEEDED, "state SUCCEEDED");
    size_t rl = 12345;
    const void *res = forkpool_task_result(t1, &rl);
    is_mem(res, rl, BIN, sizeof BIN, "forkpool_task_result gives the same bytes");
    ok(forkpool_task_result(t1, NULL) == res, "forkpool_task_result accepts a NULL len");
    ok(forkpool_task_error(t1) == NULL, "no error on a succeeded task");
    is(forkpool_task_pid(t1), atomic_load(&sh->pid_seen[0]), "forkpool_task_pid is the child's pid");
    ok(forkpool_task_pid(t1) != getpid(), "the task ran in another process");
    forkpool_task_release(t1);

    /* empty results: implicit and explicit */
    struct rec r2 = {0}, r3 = {0};
    forkpool_task *t2 = forkpool_then(forkpool_run(p, task_empty, NULL, 0), then_rec, &r2);
    forkpool_task *t3 = forkpool_then(forkpool_run(p, task_empty_explicit, NULL, 0), then_rec, &r3);
    ok(t2 && t3, "tasks with empty results queued");
    is(forkpool_await(p), 0, "await");
    is(r2.calls, 1, "then ran for a task that never called forkpool_return");
    ok(r2.result != NULL, "empty result: then gets a non-NULL pointer");
    is(r2.len, 0, "empty result: len 0");
    is(r3.calls, 1, "then ran for forkpool_return(ctx, NULL, 0)");
    ok(r3.result != NULL, "forkpool_return(NULL, 0): non-NULL pointer");
    is(r3.len, 0, "forkpool_return(NULL, 0): len 0");
    rl = 99;
    ok(forkpool_task_result(t2, &rl) != NULL, "forkpool_task_result non-NULL for an empty result");
    is(rl, 0, "forkpool_task_result len 0");
    forkpool_task_release(t2);
    forkpool_task_release(t3);

    /* several then handlers run in the order added */
    forkpool_task *t4 = forkpool_run(p, task_empty, NULL, 0);
    ok(forkpool_then(forkpool_then(forkpool_then(t4, then_a, NULL), then_b, NULL), then_c, NULL) == t4,
       "chained forkpool_then calls return t");
    is(forkpool_wait(t4), 0, "forkpool_wait: 0 for success");
    is(order_log.n, 3, "all three then handlers ran");
    ok(order_log.order[0] == 1 && order_log.order[1] == 2 && order_log.order[2] == 3,
       "then handlers ran in the order added (%d %d %d)", order_log.order[0], order_log.order[1],
       order_log.order[2]);
    forkpool_task_release(t4);

    /* zero-length argument: the child sees a non-NULL arg and len 0 */
    struct rec r5 = {0};
    char dummy = 'x';
    forkpool_task *t5 = forkpool_then(forkpool_run(p, task_echo, &dummy, 0), then_rec, &r5);
    is(forkpool_wait(t5), 0, "task with a 0-length arg succeeded");
    is(atomic_load(&sh->arg_null), 0, "arg is never NULL in the child, even for len 0");
    is(atomic_load(&sh->arg_len), 0, "len 0 in the child");
    is(r5.calls, 1, "then ran");
    ok(r5.result != NULL && r5.len == 0, "echo of a 0-length arg: empty result");
    forkpool_task_release(t5);

    /* NULL arg with len 0 is allowed too */
    struct rec r5b = {0};
    forkpool_task *t5b = forkpool_then(forkpool_run(p, task_echo, NULL, 0), then_rec, &r5b);
    ok(t5b != NULL, "forkpool_run(NULL arg, len 0) is accepted");
    is(forkpool_wait(t5b), 0, "and succeeds");
    is(atomic_load(&sh->arg_null), 0, "the child still gets a non-NULL arg");
    forkpool_task_release(t5b);

    /* the argument is copied at forkpool_run */
    char buf[16];
    memcpy(buf, "hello\0world", 11);
    struct rec r6 = {0};
    forkpool_task *t6 = forkpool_then(forkpool_run(p, task_echo, buf, 11), then_rec, &r6);
    memset(buf, 'Z', sizeof buf); /* must not affect the task */
    is(forkpool_wait(t6), 0, "echo task succeeded");
    is_mem(r6.copy, r6.len, "hello\0world", 11, "arg bytes were copied at run (binary-safe)");
    forkpool_task_release(t6);

    forkpool_stats s = forkpool_get_stats(p);
    is(s.succeeded, 7, "stats: 7 succeeded");
    is(s.failed + s.timed_out + s.cancelled, 0, "stats: no failures");

    forkpool *limited[NSIZES];
    for (int k = 0; k < NSIZES; k++) {
        limited[k] = forkpool_create(&(forkpool_options){.max_output = SIZES[k]});
        if (!limited[k])
            bail_out("no pool with a max_output");
    }
    test_sizes(p, limited);
    for (int k = 0; k < NSIZES; k++)
        forkpool_destroy(limited[k]);
    s = forkpool_get_stats(p);
    is(s.succeeded, 7 + 2 * NSIZES, "stats: %d succeeded", 7 + 2 * NSIZES);
    is(s.queued + s.running, 0, "stats: nothing queued or running");

    forkpool_destroy(p);
    ok(tap_no_children(), "no children left after destroy");
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
