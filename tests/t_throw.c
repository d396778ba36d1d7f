/* forkpool_throw, bare non-zero returns, catch / catch_type matching, error
   fields, forkpool_return misuse (twice, after throw). */
#include "forkpool.h"
#include "tap.h"

struct shared {
    _Atomic int ret2, err2;       /* second forkpool_return */
    _Atomic int ret_after_throw, err_after_throw;
    _Atomic int throw_ret;
};
static struct shared *sh;

static int task_throw_io(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return forkpool_throw(ctx, "io", "cannot open %s: %d", "/nope", 42);
}

static int task_throw_null_type(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return forkpool_throw(ctx, NULL, "untyped %s", "failure");
}

static int task_throw_empty_type(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return forkpool_throw(ctx, "", "empty type");
}

static int task_ret7(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    return 7;
}

static int task_ret_neg(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    return -5;
}

static int task_throw_then_zero(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    atomic_store(&sh->throw_ret, forkpool_throw(ctx, "late", "thrown, then returned 0"));
    errno = 0;
    atomic_store(&sh->ret_after_throw, forkpool_return(ctx, "x", 1));
    atomic_store(&sh->err_after_throw, errno);
    return 0;
}

static int task_return_twice(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    if (forkpool_return(ctx, "first", 5) != 0)
        return 1;
    errno = 0;
    atomic_store(&sh->ret2, forkpool_return(ctx, "second", 6));
    atomic_store(&sh->err2, errno);
    return 0;
}

struct rec {
    int calls;
    int kind;
    char type[64];
    char message[256];
    int code;
    int msg_nonnull;
    forkpool_task *task;
};

static void catch_rec(forkpool_task *t, const forkpool_error *e, void *ud)
{
    struct rec *r = ud;
    r->calls++;
    r->task = t;
    r->kind = e ? (int)e->kind : -1;
    r->code = e ? e->code : -12345;
    r->msg_nonnull = e && e->message != NULL;
    snprintf(r->type, sizeof r->type, "%s", e && e->type ? e->type : "(null)");
    snprintf(r->message, sizeof r->message, "%s", e && e->message ? e->message : "(null)");
}

static int then_calls;
static void then_count(forkpool_task *t, const void *res, size_t len, void *ud)
{
    (void)t; (void)res; (void)len; (void)ud;
    then_calls++;
}

int main(void)
{
    tap_watchdog(20);
    sh = tap_shared(sizeof *sh);
    forkpool *p = forkpool_create(NULL);
    ok(p != NULL, "forkpool_create(NULL) uses defaults");
    if (!p)
        bail_out("no pool");

    /* catch_type: only the first matching handler runs */
    struct rec other = {0}, io1 = {0}, io2 = {0}, any = {0};
    forkpool_task *t = forkpool_run(p, task_throw_io, NULL, 0);
    ok(forkpool_catch_type(t, "other", catch_rec, &other) == t, "catch_type returns t");
    forkpool_then(t, then_count, NULL);
    forkpool_catch_type(t, "io", catch_rec, &io1);
    forkpool_catch_type(t, "io", catch_rec, &io2);
    forkpool_catch(t, catch_rec, &any);
    is(forkpool_wait(t), 1, "forkpool_wait: 1 for a failed task");
    is(then_calls, 0, "then did not run for a failed task");
    is(other.calls, 0, "catch_type for another type did not run");
    is(io1.calls, 1, "first matching catch_type ran");
    is(io2.calls, 0, "second matching catch_type did not run");
    is(any.calls, 0, "later untyped catch did not run");
    is(io1.kind, FORKPOOL_ERR_THROWN, "kind THROWN");
    is_str(io1.type, "io", "type is the thrown type");
    is_str(io1.message, "cannot open /nope: 42", "message is printf-formatted");
    is(io1.code, -1, "forkpool_throw gives code -1");
    ok(io1.task == t, "catch got its task");
    is(forkpool_task_state(t), FORKPOOL_FAILED, "state FAILED");
    const forkpool_error *e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_THROWN && e->type && strcmp(e->type, "io") == 0,
       "forkpool_task_error keeps the error");
    ok(forkpool_task_result(t, NULL) == NULL, "no result on a failed task");
    size_t l = 77;
    forkpool_task_result(t, &l);
    is(l, 0, "result len 0 on a failed task");
    forkpool_task_release(t);

    /* untyped catch first takes it, typed catch after does not run */
    struct rec a = {0}, b = {0};
    t = forkpool_run(p, task_throw_io, NULL, 0);
    forkpool_catch(t, catch_rec, &a);
    forkpool_catch_type(t, "io", catch_rec, &b);
    is(forkpool_await(p), 0, "await: failure was taken by a handler");
    is(a.calls, 1, "untyped catch added first ran");
    is(b.calls, 0, "matching catch_type added later did not run");
    forkpool_task_release(t);

    /* NULL / empty type: "forkpool.thrown" */
    struct rec n1 = {0}, n2 = {0};
    forkpool_task *tn1 = forkpool_catch(forkpool_run(p, task_throw_null_type, NULL, 0), catch_rec, &n1);
    forkpool_task *tn2 = forkpool_catch_type(forkpool_run(p, task_throw_empty_type, NULL, 0),
                                             "forkpool.thrown", catch_rec, &n2);
    is(forkpool_await(p), 0, "await");
    is_str(n1.type, "forkpool.thrown", "NULL type becomes forkpool.thrown");
    is_str(n1.message, "untyped failure", "message");
    is(n1.code, -1, "code -1");
    is(n2.calls, 1, "catch_type(\"forkpool.thrown\") matched an empty type");
    is_str(n2.type, "forkpool.thrown", "empty type becomes forkpool.thrown");
    forkpool_task_release(tn1);
    forkpool_task_release(tn2);

    /* bare non-zero return */
    struct rec rn = {0}, r7typed = {0};
    forkpool_task *t7 = forkpool_run(p, task_ret7, NULL, 0);
    forkpool_catch_type(t7, "forkpool.return", catch_rec, &r7typed);
    forkpool_task *tneg = forkpool_catch(forkpool_run(p, task_ret_neg, NULL, 0), catch_rec, &rn);
    is(forkpool_await(p), 0, "await");
    is(r7typed.calls, 1, "catch_type(\"forkpool.return\") caught a bare return 7");
    is(r7typed.kind, FORKPOOL_ERR_THROWN, "kind THROWN");
    is_str(r7typed.type, "forkpool.return", "type forkpool.return");
    is(r7typed.code, 7, "code is the returned value");
    ok(r7typed.msg_nonnull && r7typed.message[0] != '\0', "message not empty: '%s'", r7typed.message);
    is(rn.code, -5, "negative return value kept as code");
    forkpool_task_release(t7);
    forkpool_task_release(tneg);

    /* throw, then return 0: still a failure; forkpool_return after throw fails */
    struct rec rt = {0};
    then_calls = 0;
    forkpool_task *tt = forkpool_run(p, task_throw_then_zero, NULL, 0);
    forkpool_then(tt, then_count, NULL);
    forkpool_catch(tt, catch_rec, &rt);
    is(forkpool_wait(tt), 1, "throw then return 0: task failed");
    is(then_calls, 0, "then did not run");
    is(rt.calls, 1, "catch ran");
    is_str(rt.type, "late", "error is the thrown one");
    is(rt.code, -1, "code -1");
    is(atomic_load(&sh->throw_ret), -1, "forkpool_throw returns -1");
    is(atomic_load(&sh->ret_after_throw), -1, "forkpool_return after throw: -1");
    is(atomic_load(&sh->err_after_throw), EALREADY, "forkpool_return after throw: EALREADY");
    forkpool_task_release(tt);

    /* forkpool_return twice: the first result stands */
    forkpool_task *t2 = forkpool_run(p, task_return_twice, NULL, 0);
    is(forkpool_wait(t2), 0, "task calling forkpool_return twice succeeded");
    size_t rl = 0;
    const void *res = forkpool_task_result(t2, &rl);
    is_mem(res, rl, "first", 5, "the first result is kept");
    is(atomic_load(&sh->ret2), -1, "second forkpool_return returns -1");
    is(atomic_load(&sh->err2), EALREADY, "second forkpool_return: EALREADY");
    forkpool_task_release(t2);

    /* uncaught failures are counted by await */
    forkpool_task *u1 = forkpool_run(p, task_ret7, NULL, 0);
    forkpool_task *u2 = forkpool_run(p, task_throw_io, NULL, 0);
    is(forkpool_await(p), 2, "await counts 2 uncaught failures");
    is(forkpool_await(p), 0, "next await: 0");
    forkpool_task_release(u1);
    forkpool_task_release(u2);

    forkpool_destroy(p);
    ok(tap_no_children(), "no children after destroy");
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
