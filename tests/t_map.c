/* forkpool_map: results in input order, once each, for many sizes and
   shapes; items that throw, return non-zero, crash, exit, time out or
   exceed max_output, or cannot be forked, fail only themselves, with the
   right kind; bad
   arguments; EDEADLK; ECANCELED from forkpool_stop and forkpool_destroy in
   on_result; other tasks settle meanwhile; INLINE; no fds or children left. */
#include <dlfcn.h>

#include "forkpool.h"
#include "tap.h"

/* The next fail_forks calls of fork() fail with EAGAIN. */
static int fail_forks;
pid_t fork(void)
{
    static pid_t (*real)(void);
    if (fail_forks > 0) {
        fail_forks--;
        errno = EAGAIN;
        return -1;
    }
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "fork");
    return real();
}

/* What an item does: its bytes say it all, so children forked from a fork
   server or a worker (which do not see later globals) behave the same. */
enum {
    A_DOUBLE, /* returns value * 2 (8 bytes)                        */
    A_THROW,  /* forkpool_throw("item.bad", "item %ld is bad")       */
    A_CODE,   /* returns arg without a result                        */
    A_SEGV,   /* raise(SIGSEGV)                                      */
    A_EXIT,   /* exit(arg)                                           */
    A_ABORT,  /* abort()                                             */
    A_HANG,   /* pause() forever                                     */
    A_SLEEP,  /* sleeps arg ms, then as A_DOUBLE                     */
    A_BYTES,  /* returns arg bytes, byte j = (value + j) & 0xff      */
    A_NONE,   /* returns 0 without forkpool_return: empty result     */
    A_EMPTY,  /* forkpool_return(ctx, NULL, 0)                       */
    A_SEND,   /* forkpool_send: returns its errno as 4 bytes         */
    A_TWICE,  /* forkpool_return twice: returns the 2nd's errno      */
    A_RET_THROW, /* forkpool_return, then forkpool_throw             */
    A_PID     /* returns getpid()                                    */
};

typedef struct {
    int64_t value;
    int32_t action, arg;
} item;

static forkpool *pool;
static pid_t parent_pid;

static int item_fn(forkpool_ctx *ctx, const void *arg, size_t len)
{
    item it;
    if (len != sizeof it)
        return forkpool_throw(ctx, "test", "item of %zu bytes", len);
    memcpy(&it, arg, sizeof it);
    int64_t v = it.value * 2;
    int e;
    switch (it.action) {
    case A_THROW:
        return forkpool_throw(ctx, "item.bad", "item %ld is bad", (long)it.value);
    case A_CODE:
        return it.arg;
    case A_SEGV:
        signal(SIGSEGV, SIG_DFL); /* sanitizer runtimes install their own */
        raise(SIGSEGV);
        return 0;
    case A_EXIT:
        exit(it.arg);
    case A_ABORT:
        signal(SIGABRT, SIG_DFL);
        abort();
    case A_HANG:
        tap_pause_forever();
    case A_SLEEP:
        tap_sleep_ms(it.arg);
        break;
    case A_BYTES: {
        unsigned char *p = malloc((size_t)it.arg + 1);
        if (!p)
            return forkpool_throw(ctx, "test", "no memory");
        for (int32_t j = 0; j < it.arg; j++)
            p[j] = (unsigned char)(it.value + j);
        int rc = forkpool_return(ctx, p, (size_t)it.arg);
        free(p);
        return rc;
    }
    case A_NONE:
        return 0;
    case A_EMPTY:
        return forkpool_return(ctx, NULL, 0);
    case A_SEND:
        e = forkpool_send(ctx, "x", 1) == -1 ? errno : 0;
        return forkpool_return(ctx, &e, sizeof e);
    case A_TWICE:
        forkpool_return(ctx, "a", 1);
        e = forkpool_return(ctx, "b", 1) == -1 ? errno : 0;
        return e == EALREADY ? 0 : 1;
    case A_RET_THROW:
        forkpool_return(ctx, &v, sizeof v);
        return forkpool_throw(ctx, "late", "threw after returning");
    case A_PID: {
        int32_t pid = (int32_t)getpid();
        return forkpool_return(ctx, &pid, sizeof pid);
    }
    default:
        break;
    }
    return forkpool_return(ctx, &v, sizeof v);
}

/* ---- what on_result saw ---- */

struct failure {
    size_t index;
    int kind, code;
    char type[64], message[256];
};

struct got {
    const item *items;
    size_t calls, next, out_of_order, bad_result;
    size_t nfail;
    struct failure fail[16];
    size_t stop_at, destroy_at; /* 0: never; else index + 1 */
    int nested_rc, nested_errno;
    size_t pid_other; /* A_PID results from another process */
};

/* 1 if result/len is what item it returns. */
static int result_ok(const item *it, const void *result, size_t len)
{
    int64_t v = it->value * 2;
    switch (it->action) {
    case A_BYTES:
        if (len != (size_t)it->arg)
            return 0;
        for (size_t j = 0; j < len; j++)
            if (((const unsigned char *)result)[j] != (unsigned char)(it->value + (int64_t)j))
                return 0;
        return 1;
    case A_NONE:
    case A_EMPTY:
        return len == 0;
    case A_SEND: {
        int e;
        return len == sizeof e && (memcpy(&e, result, sizeof e), e == EINVAL);
    }
    case A_TWICE:
        return len == 1 && *(const char *)result == 'a';
    case A_PID:
        return len == sizeof(int32_t);
    default:
        return len == sizeof v && memcmp(result, &v, sizeof v) == 0;
    }
}

static void on_result(size_t index, const void *result, size_t len, const forkpool_error *err,
                      void *ud)
{
    struct got *g = ud;
    g->calls++;
    if (index != g->next)
        g->out_of_order++;
    g->next = index + 1;
    const item *it = &g->items[index];
    if (err) {
        if (g->nfail < sizeof g->fail / sizeof g->fail[0]) {
            struct failure *f = &g->fail[g->nfail];
            f->index = index;
            f->kind = (int)err->kind;
            f->code = err->code;
            snprintf(f->type, sizeof f->type, "%s", err->type ? err->type : "(null)");
            snprintf(f->message, sizeof f->message, "%s", err->message ? err->message : "(null)");
        }
        g->nfail++;
        if (result != NULL || len != 0)
            g->bad_result++;
    } else if (!result || !result_ok(it, result, len)) {
        g->bad_result++;
    } else if (it->action == A_PID) {
        int32_t pid;
        memcpy(&pid, result, sizeof pid);
        g->pid_other += pid != (int32_t)parent_pid;
    }
    if (g->stop_at == index + 1)
        forkpool_stop(pool);
    if (g->destroy_at == index + 1)
        forkpool_destroy(pool);
    if (index == 0) {
        errno = 0;
        g->nested_rc = forkpool_map(pool, item_fn, g->items, 1, sizeof(item), on_result, g);
        g->nested_errno = errno;
    }
}

static item *make_items(size_t n)
{
    item *v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        bail_out("no memory");
    for (size_t i = 0; i < n; i++)
        v[i].value = (int64_t)i * 3 - 7;
    return v;
}

/* Runs a map over v[0..n) and checks the common promises: every item once,
   in order, every success's bytes right. Returns forkpool_map's value. */
static int run_map(const char *name, item *v, size_t n, struct got *g)
{
    memset(g, 0, sizeof *g);
    g->items = v;
    errno = 0;
    int rc = forkpool_map(pool, item_fn, v, n, sizeof *v, on_result, g);
    int err = errno;
    if (rc >= 0) {
        is(g->calls, n, "%s: on_result ran once per item (%zu)", name, n);
        is(g->out_of_order, 0, "%s: in input order", name);
        is(g->bad_result, 0, "%s: every result right", name);
        is(g->nested_rc == -1 && g->nested_errno == EDEADLK, 1,
           "%s: forkpool_map inside on_result: -1/EDEADLK", name);
    }
    errno = err;
    return rc;
}

static int expect_fail(const struct got *g, size_t k, size_t index, int kind, int code,
                       const char *type, const char *what)
{
    const struct failure *f = &g->fail[k];
    int r = f->index == index && f->kind == kind && f->code == code &&
            strcmp(f->type, type) == 0 && f->message[0] != '\0';
    ok(r, "%s: item %zu failed: %s, code %d, type %s ('%s')", what, index,
       forkpool_error_kind_name((forkpool_error_kind)kind), code, type, f->message);
    if (!r)
        diag("got item %zu, %s, code %d, type %s", f->index,
             forkpool_error_kind_name((forkpool_error_kind)f->kind), f->code, f->type);
    return r;
}

static forkpool *make_pool(unsigned conc, long timeout_ms, size_t max_output)
{
    forkpool_options o = {0};
    o.concurrency = conc;
    o.timeout_ms = timeout_ms;
    o.max_output = max_output;
    forkpool *p = forkpool_create(&o);
    if (!p)
        bail_out("forkpool_create failed");
    return p;
}

/* ---- sizes and shapes ---- */

static void test_sizes(void)
{
    struct got g;
    static const size_t sizes[] = {1, 3, 1000, 100000};
    pool = make_pool(4, 0, 0);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        char name[64];
        snprintf(name, sizeof name, "%zu items", sizes[k]);
        item *v = make_items(sizes[k]);
        is(run_map(name, v, sizes[k], &g), 0, "%s: no failures", name);
        free(v);
    }

    /* count 0: nothing is called */
    memset(&g, 0, sizeof g);
    is(forkpool_map(pool, item_fn, NULL, 0, sizeof(item), on_result, &g), 0, "0 items: 0");
    is(g.calls, 0, "0 items: on_result not called");

    /* results of every shape: empty, odd sizes, 1 MiB */
    enum { NS = 300 };
    item *v = make_items(NS);
    for (size_t i = 0; i < NS; i++) {
        v[i].action = A_BYTES;
        v[i].arg = (int32_t)((i * 37) % 5000);
    }
    v[3].action = A_NONE;
    v[4].action = A_EMPTY;
    v[10].arg = 1 << 20;
    v[11].arg = 1 << 20;
    v[200].arg = (1 << 20) + 3;
    v[299].action = A_PID;
    v[100].action = A_SEND;
    v[101].action = A_TWICE;
    is(run_map("mixed result sizes (to 1 MiB)", v, NS, &g), 0, "mixed result sizes: no failures");
    is(g.pid_other, 1, "items run in another process");
    free(v);
    forkpool_destroy(pool);
}

/* item_size 3: the bytes of each item, reversed */
static int rev3(forkpool_ctx *ctx, const void *arg, size_t len)
{
    const unsigned char *p = arg;
    unsigned char r[3] = {p[2], p[1], p[0]};
    return len == 3 ? forkpool_return(ctx, r, 3) : 1;
}

struct odd {
    const unsigned char *items;
    size_t calls, bad;
};
static void on_rev3(size_t index, const void *result, size_t len, const forkpool_error *err,
                    void *ud)
{
    struct odd *o = ud;
    const unsigned char *p = o->items + index * 3, *r = result;
    if (index != o->calls++ || err || len != 3 || r[0] != p[2] || r[1] != p[1] || r[2] != p[0])
        o->bad++;
}

static void test_odd_size(void)
{
    enum { N = 10007 };
    unsigned char *items = malloc(N * 3);
    for (size_t i = 0; i < N * 3; i++)
        items[i] = (unsigned char)(i * 7 + 1);
    struct odd o = {items, 0, 0};
    pool = make_pool(2, 0, 0);
    is(forkpool_map(pool, rev3, items, N, 3, on_rev3, &o), 0, "item_size 3: no failures");
    ok(o.calls == N && o.bad == 0, "item_size 3: %zu results, %zu wrong", o.calls, o.bad);

    /* with fork_server set, children cannot read the caller's memory: the
       items travel in the batches' arguments */
    forkpool_destroy(pool);
    forkpool_options opt = {0};
    opt.concurrency = 2;
    opt.fork_server = 1;
    pool = forkpool_create(&opt);
    if (!pool)
        bail_out("forkpool_create (fork_server) failed");
    o.calls = o.bad = 0;
    is(forkpool_map(pool, rev3, items, N, 3, on_rev3, &o), 0, "fork_server: no failures");
    ok(o.calls == N && o.bad == 0, "fork_server: %zu results, %zu wrong", o.calls, o.bad);
    forkpool_destroy(pool);
    free(items);
}

/* ---- failing items ---- */

static void test_failures(void)
{
    struct got g;
    pool = make_pool(2, 0, 0);

    /* the case: 1000 items, 137 segfaults and 500 throws */
    item *v = make_items(1000);
    v[137].action = A_SEGV;
    v[500].action = A_THROW;
    is(run_map("segv+throw", v, 1000, &g), 2, "segv+throw: forkpool_map returns 2 failures");
    if (is(g.nfail, 2, "segv+throw: exactly two items failed")) {
        expect_fail(&g, 0, 137, FORKPOOL_ERR_SIGNALED, SIGSEGV, "forkpool.signaled", "segv+throw");
        expect_fail(&g, 1, 500, FORKPOOL_ERR_THROWN, -1, "item.bad", "segv+throw");
        is_str(g.fail[1].message, "item 1493 is bad", "segv+throw: the thrown message");
    }
    free(v);

    /* every kind of failure an item can have, each failing only itself,
       several in one batch and at batch edges */
    enum { N = 5000 };
    v = make_items(N);
    v[0].action = A_EXIT;
    v[0].arg = 4;
    v[1].action = A_CODE;
    v[1].arg = 7;
    v[2].action = A_SEGV;
    v[700].action = A_ABORT;
    v[701].action = A_SEGV;
    v[702].action = A_THROW;
    v[1500].action = A_RET_THROW;
    v[2600].action = A_CODE;
    v[2600].arg = -3;
    v[N - 1].action = A_SEGV;
    int rc = run_map("mixed failures", v, N, &g);
    is(rc, 9, "mixed failures: 9 failed items");
    if (is(g.nfail, 9, "mixed failures: exactly 9 on_result calls with an error")) {
        const char *w = "mixed failures";
        expect_fail(&g, 0, 0, FORKPOOL_ERR_EXITED, 4, "forkpool.exited", w);
        expect_fail(&g, 1, 1, FORKPOOL_ERR_THROWN, 7, "forkpool.return", w);
        expect_fail(&g, 2, 2, FORKPOOL_ERR_SIGNALED, SIGSEGV, "forkpool.signaled", w);
        expect_fail(&g, 3, 700, FORKPOOL_ERR_SIGNALED, SIGABRT, "forkpool.signaled", w);
        expect_fail(&g, 4, 701, FORKPOOL_ERR_SIGNALED, SIGSEGV, "forkpool.signaled", w);
        expect_fail(&g, 5, 702, FORKPOOL_ERR_THROWN, -1, "item.bad", w);
        expect_fail(&g, 6, 1500, FORKPOOL_ERR_THROWN, -1, "late", w);
        expect_fail(&g, 7, 2600, FORKPOOL_ERR_THROWN, -3, "forkpool.return", w);
        expect_fail(&g, 8, N - 1, FORKPOOL_ERR_SIGNALED, SIGSEGV, "forkpool.signaled", w);
    }
    free(v);

    /* every item crashes */
    v = make_items(20);
    for (size_t i = 0; i < 20; i++)
        v[i].action = A_SEGV;
    is(run_map("all crash", v, 20, &g), 20, "all 20 items crash: 20 failures");
    free(v);
    is(forkpool_await(pool), 0, "await afterwards: no unhandled failures from the batches");
    forkpool_destroy(pool);

    /* max_output applies to each item's result */
    pool = make_pool(2, 0, 100);
    v = make_items(2000);
    for (size_t i = 0; i < 2000; i++) {
        v[i].action = A_BYTES;
        v[i].arg = 100;
    }
    v[1234].arg = 101;
    rc = run_map("max_output", v, 2000, &g);
    is(rc, 1, "max_output 100: one item over it fails");
    if (g.nfail == 1)
        expect_fail(&g, 0, 1234, FORKPOOL_ERR_OUTPUT, 0, "forkpool.output", "max_output");
    free(v);
    forkpool_destroy(pool);
}

static void test_timeouts(void)
{
    struct got g;
    long t = 200L * tap_scale();
    pool = make_pool(1, t, 0);

    /* one batch takes longer than the limit, each item well within it */
    item *v = make_items(100);
    for (size_t i = 0; i < 100; i++) {
        v[i].action = A_SLEEP;
        v[i].arg = (int32_t)(t / 20);
    }
    is(run_map("slow items in limit", v, 100, &g), 0,
       "items of T/20 in batches of 25 (1.25 T each): none times out");
    free(v);
    forkpool_destroy(pool);

    /* an item that hangs times out alone, in a batch and at its end */
    pool = make_pool(2, t, 0);
    v = make_items(3000);
    v[1000].action = A_HANG;
    v[2999].action = A_HANG;
    int rc = run_map("hang", v, 3000, &g);
    is(rc, 2, "two hanging items: 2 failures");
    if (g.nfail == 2) {
        expect_fail(&g, 0, 1000, FORKPOOL_ERR_TIMEOUT, 0, "forkpool.timeout", "hang");
        expect_fail(&g, 1, 2999, FORKPOOL_ERR_TIMEOUT, 0, "forkpool.timeout", "hang");
    }
    free(v);
    forkpool_stats s = forkpool_get_stats(pool);
    is(s.running + s.queued, 0, "hang: nothing left running");
    forkpool_destroy(pool);
}

/* ---- the loop: EDEADLK, other tasks, stop and destroy ---- */

struct shared {
    _Atomic int then_ran;
};
static struct shared *sh;

static int task_quick(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return forkpool_return(ctx, "q", 1);
}

/* An item that waits (bounded) until the parent ran another task's then. */
static int item_wait_then(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    if (!TAP_WAIT_UNTIL(atomic_load(&sh->then_ran), 10000))
        return forkpool_throw(ctx, "test", "the other task's handler did not run");
    return 0;
}

static void then_mark(forkpool_task *t, const void *res, size_t len, void *ud)
{
    (void)t;
    (void)res;
    (void)len;
    if (ud)
        forkpool_destroy(pool);
    atomic_fetch_add(&sh->then_ran, 1);
}

struct deadlk {
    int rc, err;
};
static void then_map(forkpool_task *t, const void *res, size_t len, void *ud)
{
    (void)t;
    (void)res;
    (void)len;
    struct deadlk *d = ud;
    static const item one = {1, A_DOUBLE, 0};
    struct got g = {.items = &one};
    errno = 0;
    d->rc = forkpool_map(pool, item_fn, &one, 1, sizeof one, on_result, &g);
    d->err = errno;
}

static void count_calls(size_t index, const void *result, size_t len, const forkpool_error *err,
                        void *ud)
{
    (void)index;
    (void)result;
    (void)len;
    (void)err;
    (*(size_t *)ud)++;
}

static void test_loop(void)
{
    struct got g;
    pool = make_pool(3, 0, 0);

    /* from a handler: EDEADLK */
    struct deadlk d = {0, 0};
    forkpool_task *t = forkpool_then(forkpool_run(pool, task_quick, NULL, 0), then_map, &d);
    is(forkpool_wait(t), 0, "task whose then calls forkpool_map succeeded");
    ok(d.rc == -1 && d.err == EDEADLK, "forkpool_map in a handler: -1/EDEADLK (%d/%d)", d.rc,
       d.err);
    forkpool_task_release(t);

    /* other tasks run, and their handlers run, while the map does */
    atomic_store(&sh->then_ran, 0);
    forkpool_task *other = forkpool_then(forkpool_run(pool, task_quick, NULL, 0), then_mark, NULL);
    char items[8] = {0};
    size_t calls = 0;
    is(forkpool_map(pool, item_wait_then, items, 8, 1, count_calls, &calls), 0,
       "map whose items wait for another task's handler: no failures");
    is(calls, 8, "all 8 delivered");
    is(atomic_load(&sh->then_ran), 1, "the other task's then ran once, during the map");
    is(forkpool_task_state(other), FORKPOOL_SUCCEEDED, "the other task settled");
    forkpool_task_release(other);
    is(forkpool_await(pool), 0, "await afterwards: nothing unhandled");

    /* forkpool_stop from on_result: ECANCELED, on_result ran for a prefix */
    item *v = make_items(20000);
    memset(&g, 0, sizeof g);
    g.items = v;
    g.stop_at = 11;
    errno = 0;
    int rc = forkpool_map(pool, item_fn, v, 20000, sizeof *v, on_result, &g);
    ok(rc == -1 && errno == ECANCELED, "forkpool_stop in on_result: -1/ECANCELED");
    ok(g.calls == 11 && g.next == 11 && g.out_of_order == 0 && g.bad_result == 0,
       "on_result ran for items 0..10 only, in order (%zu calls)", g.calls);
    forkpool_stats s = forkpool_get_stats(pool);
    is(s.running + s.queued, 0, "stop: no batch left running or queued");
    is(run_map("after a stop", v, 1000, &g), 0, "the pool maps again after the stop");
    forkpool_destroy(pool);

    /* forkpool_destroy from on_result: ECANCELED, the pool is gone */
    pool = make_pool(2, 0, 0);
    memset(&g, 0, sizeof g);
    g.items = v;
    g.destroy_at = 5;
    errno = 0;
    rc = forkpool_map(pool, item_fn, v, 20000, sizeof *v, on_result, &g);
    ok(rc == -1 && errno == ECANCELED, "forkpool_destroy in on_result: -1/ECANCELED");
    is(g.calls, 5, "on_result ran for items 0..4 only");
    ok(tap_no_children(), "destroy in on_result: no children left");
    free(v);

    /* forkpool_destroy from another task's handler while the map runs */
    pool = make_pool(3, 0, 0);
    atomic_store(&sh->then_ran, 0);
    forkpool_then(forkpool_run(pool, task_quick, NULL, 0), then_mark, "destroy");
    calls = 0;
    errno = 0;
    rc = forkpool_map(pool, item_wait_then, items, 8, 1, count_calls, &calls);
    ok(rc == -1 && errno == ECANCELED, "forkpool_destroy in another task's then: -1/ECANCELED");
    ok(tap_no_children(), "destroy in a handler: no children left");
}

/* A batch whose child cannot be forked: its first item fails with SPAWN,
   the rest runs. Forks happen elsewhere with a fork server or workers. */
static void test_spawn(void)
{
    struct got g;
    if (tap_workers() || tap_server()) {
        ok(1, "# SKIP fork failures: the %s variant forks elsewhere", tap_variant());
        return;
    }
    pool = make_pool(1, 0, 0);
    item *v = make_items(10);
    fail_forks = 1;
    int rc = run_map("fork fails", v, 10, &g);
    is(rc, 1, "fork fails once: one failed item");
    if (g.nfail == 1)
        expect_fail(&g, 0, 0, FORKPOOL_ERR_SPAWN, EAGAIN, "forkpool.spawn", "fork fails");
    free(v);
    forkpool_destroy(pool);
}

static void test_bad_args(void)
{
    size_t calls = 0;
    char items[4] = {0};
    pool = make_pool(1, 0, 0);
    struct {
        const char *what;
        forkpool *p;
        forkpool_fn fn;
        const void *items;
        size_t count, size;
        forkpool_map_fn cb;
    } cases[] = {
        {"NULL pool", NULL, rev3, items, 1, 3, count_calls},
        {"NULL fn", pool, NULL, items, 1, 3, count_calls},
        {"NULL on_result", pool, rev3, items, 1, 3, NULL},
        {"NULL items, count 1", pool, rev3, NULL, 1, 3, count_calls},
        {"item_size 0, count 1", pool, rev3, items, 1, 0, count_calls},
        {"count * item_size overflows", pool, rev3, items, SIZE_MAX / 2, 3, count_calls},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errno = 0;
        int rc = forkpool_map(cases[i].p, cases[i].fn, cases[i].items, cases[i].count,
                              cases[i].size, cases[i].cb, &calls);
        ok(rc == -1 && errno == EINVAL, "%s: -1/EINVAL", cases[i].what);
    }
    is(calls, 0, "bad arguments: on_result never called");
    is(forkpool_map(pool, rev3, NULL, 0, 0, count_calls, &calls), 0,
       "count 0 with NULL items and item_size 0: 0");
    forkpool_stats s = forkpool_get_stats(pool);
    is(s.succeeded + s.failed + s.queued + s.running, 0, "bad arguments: no task was made");
    forkpool_destroy(pool);
}

static void test_inline(void)
{
    struct got g;
    forkpool_options o = {0};
    o.mode = FORKPOOL_INLINE;
    pool = forkpool_create(&o);
    if (!pool)
        bail_out("INLINE pool");
    item *v = make_items(3000);
    v[5].action = A_THROW;
    v[6].action = A_CODE;
    v[6].arg = 9;
    v[2000].action = A_PID;
    v[2001].action = A_BYTES;
    v[2001].arg = 1 << 20;
    v[2002].action = A_SEND;
    int rc = run_map("INLINE", v, 3000, &g);
    is(rc, 2, "INLINE: the two failing items fail");
    if (g.nfail == 2) {
        expect_fail(&g, 0, 5, FORKPOOL_ERR_THROWN, -1, "item.bad", "INLINE");
        expect_fail(&g, 1, 6, FORKPOOL_ERR_THROWN, 9, "forkpool.return", "INLINE");
    }
    is(g.pid_other, 0, "INLINE: items ran in the calling process");
    free(v);
    forkpool_destroy(pool);
}

int main(void)
{
    tap_watchdog(120);
    tap_no_core_dumps();
    parent_pid = getpid();
    sh = tap_shared(sizeof *sh);
    int fds = tap_fd_count();

    test_bad_args();
    test_sizes();
    test_odd_size();
    test_failures();
    test_timeouts();
    test_spawn();
    test_loop();
    test_inline();

    is(tap_fd_count(), fds, "no fds left");
    ok(tap_no_children(), "no children left");
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
