/* WORKERS' done queue (issue #13; src/worker.h): the END of a task that
   sent nothing through the channel goes through the ring the worker shares
   with the program. The program must see no difference: results and
   failures as a FRESH pool gives them, messages with their own task, a
   program waiting on forkpool_fd woken, the ENDs of a worker that died
   after them kept, and a ring a task wrote over refused. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>

#include "forkpool.h"
#include "tap.h"
#include "worker.h"

/* arg: {how, n}. how 0: no result; 1: forkpool_return of n bytes; 2: n
   bytes, then return 3; 3: a message, then n bytes; 4: throw. */
static int task_shape(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    int a[2];
    memcpy(a, arg, sizeof a);
    unsigned char buf[200];
    for (int i = 0; i < (int)sizeof buf; i++)
        buf[i] = (unsigned char)(i * 7 + a[1]);
    switch (a[0]) {
    case 0:
        return 0;
    case 1:
        return forkpool_return(ctx, buf, (size_t)a[1]);
    case 2:
        forkpool_return(ctx, buf, (size_t)a[1]);
        return 3;
    case 3:
        forkpool_send(ctx, &a[1], sizeof a[1]);
        return forkpool_return(ctx, buf, (size_t)a[1]);
    default:
        return forkpool_throw(ctx, "ring.test", "threw %d", a[1]);
    }
}

struct outcome {
    int rc, has_result;
    size_t len;
    unsigned char bytes[200];
    int kind;
    char msg[64];
};

static struct outcome run_shape(forkpool_mode mode, int how, int n)
{
    struct outcome o = {0};
    forkpool_options opts = {.mode = mode, .concurrency = 1};
    forkpool *p = forkpool_create(&opts);
    if (!p)
        bail_out("no pool");
    int a[2] = {how, n};
    forkpool_task *t = forkpool_run(p, task_shape, a, sizeof a);
    o.rc = forkpool_wait(t);
    const void *r = forkpool_task_result(t, &o.len);
    o.has_result = r != NULL;
    if (r && o.len <= sizeof o.bytes)
        memcpy(o.bytes, r, o.len);
    const forkpool_error *e = forkpool_task_error(t);
    o.kind = e ? (int)e->kind : -1;
    snprintf(o.msg, sizeof o.msg, "%s", e && e->message ? e->message : "");
    forkpool_task_release(t);
    forkpool_destroy(p);
    return o;
}

/* Each shape of END, around the largest result the ring carries: WORKERS
   gives what FRESH gives (in the workers variants, both pools are WORKERS
   ones: the fresh variants make the comparison). */
static void same_as_fresh(void)
{
    static const int shapes[][2] = {{0, 0},  {1, 0},  {1, 1},   {1, 87}, {1, 88},
                                    {1, 89}, {1, 200}, {2, 10}, {2, 88}, {3, 8},
                                    {4, 5}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int how = shapes[i][0], n = shapes[i][1];
        struct outcome f = run_shape(FORKPOOL_FRESH, how, n);
        struct outcome w = run_shape(FORKPOOL_WORKERS, how, n);
        ok(f.rc == w.rc && f.has_result == w.has_result && f.len == w.len &&
               memcmp(f.bytes, w.bytes, f.len < sizeof f.bytes ? f.len : sizeof f.bytes) == 0 &&
               f.kind == w.kind && strcmp(f.msg, w.msg) == 0,
           "shape %d/%d: WORKERS as FRESH (rc %d/%d, result %d/%d of %zu/%zu bytes, kind %d/%d, "
           "'%s'/'%s')",
           how, n, f.rc, w.rc, f.has_result, w.has_result, f.len, w.len, f.kind, w.kind, f.msg,
           w.msg);
    }
}

/* ---- order: ENDs through the ring and frames through the channel ---- */

enum { ORDER_N = 600 };

struct order {
    int got_msg[ORDER_N], msg_wrong, msg_late, then_wrong, thens;
    int done[ORDER_N];
};

static struct order ord;

static int task_mixed(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    int i;
    memcpy(&i, arg, sizeof i);
    if (i % 3 == 0 && forkpool_send(ctx, &i, sizeof i) != 0)
        return 1;
    if (i % 3 == 2) { /* a result too large for the ring: the channel */
        unsigned char big[FP_DONE_RESULT + 1];
        memset(big, i & 0xff, sizeof big);
        memcpy(big, &i, sizeof i);
        return forkpool_return(ctx, big, sizeof big);
    }
    return forkpool_return(ctx, &i, sizeof i);
}

static void on_msg(forkpool_task *t, const void *msg, size_t len, void *ud)
{
    (void)t;
    int i = (int)(intptr_t)ud, m = -1;
    if (len == sizeof m)
        memcpy(&m, msg, sizeof m);
    if (m != i)
        ord.msg_wrong++;
    if (ord.done[i])
        ord.msg_late++;
    ord.got_msg[i]++;
}

static void on_then(forkpool_task *t, const void *result, size_t len, void *ud)
{
    (void)t;
    int i = (int)(intptr_t)ud, r = -1;
    size_t want = i % 3 == 2 ? FP_DONE_RESULT + 1 : sizeof r;
    if (len == want)
        memcpy(&r, result, sizeof r);
    if (r != i)
        ord.then_wrong++;
    ord.done[i] = 1;
    ord.thens++;
}

static void order_kept(unsigned conc)
{
    memset(&ord, 0, sizeof ord);
    forkpool_options opts = {.mode = FORKPOOL_WORKERS, .concurrency = conc};
    forkpool *p = forkpool_create(&opts);
    if (!p)
        bail_out("no pool");
    for (int i = 0; i < ORDER_N; i++) {
        forkpool_task *t = forkpool_run(p, task_mixed, &i, sizeof i);
        forkpool_on_message(t, on_msg, (void *)(intptr_t)i);
        forkpool_then(t, on_then, (void *)(intptr_t)i);
        forkpool_task_release(t);
    }
    int unhandled = forkpool_await(p);
    int msgs = 0, twice = 0;
    for (int i = 0; i < ORDER_N; i += 3) {
        msgs += ord.got_msg[i] == 1;
        twice += ord.got_msg[i] > 1;
    }
    is(unhandled, 0, "%u workers: no failure", conc);
    is(ord.thens, ORDER_N, "%u workers: every task's then ran", conc);
    is(ord.then_wrong, 0, "%u workers: every result was its own task's", conc);
    ok(msgs == ORDER_N / 3 && twice == 0 && ord.msg_wrong == 0,
       "%u workers: each message reached its own task once (%d of %d, %d twice, %d wrong)",
       conc, msgs, ORDER_N / 3, twice, ord.msg_wrong);
    is(ord.msg_late, 0, "%u workers: every message came before its task's then", conc);
    forkpool_destroy(p);
}

/* ---- a program that waits on forkpool_fd is woken ---- */

static int task_value(forkpool_ctx *ctx, const void *arg, size_t len)
{
    return forkpool_return(ctx, arg, len);
}

static void fd_wakes(void)
{
    forkpool_options opts = {.mode = FORKPOOL_WORKERS, .concurrency = 1};
    forkpool *p = forkpool_create(&opts);
    if (!p)
        bail_out("no pool");
    int woke = 0, right = 0;
    for (int i = 0; i < 50; i++) {
        forkpool_task *t = forkpool_run(p, task_value, &i, sizeof i);
        /* The program sleeps in its own poll: only a wake-up ends it. */
        while (forkpool_task_state(t) != FORKPOOL_SUCCEEDED &&
               forkpool_task_state(t) != FORKPOOL_FAILED) {
            struct pollfd pf = {forkpool_fd(p), POLLIN, 0};
            if (poll(&pf, 1, 10000) != 1)
                break;
            if (forkpool_poll(p, 0) == -1)
                break;
        }
        woke += forkpool_task_state(t) == FORKPOOL_SUCCEEDED;
        size_t n = 0;
        const int *r = forkpool_task_result(t, &n);
        right += r && n == sizeof i && *r == i;
        forkpool_task_release(t);
    }
    is(woke, 50, "forkpool_fd became readable for each of 50 tasks, one at a time");
    is(right, 50, "each with its result");
    forkpool_destroy(p);
}

/* ---- a worker that dies keeps the ENDs it queued ---- */

static int task_die(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    raise(SIGKILL);
    return 0;
}

static void death_keeps_ends(void)
{
    enum { N = 3000, ROUNDS = 5 };
    int good = 0, died_right = 0;
    for (int round = 0; round < ROUNDS; round++) {
        forkpool_options opts = {.mode = FORKPOOL_WORKERS, .concurrency = 1};
        forkpool *p = forkpool_create(&opts);
        if (!p)
            bail_out("no pool");
        forkpool_task *ts[N];
        for (int i = 0; i < N; i++)
            ts[i] = forkpool_run(p, task_value, &i, sizeof i);
        forkpool_task *d = forkpool_run(p, task_die, NULL, 0);
        forkpool_await(p);
        for (int i = 0; i < N; i++) {
            size_t n = 0;
            const int *r = forkpool_task_result(ts[i], &n);
            good += forkpool_task_state(ts[i]) == FORKPOOL_SUCCEEDED && r && n == sizeof i &&
                    *r == i;
            forkpool_task_release(ts[i]);
        }
        const forkpool_error *e = forkpool_task_error(d);
        died_right += e && e->kind == FORKPOOL_ERR_SIGNALED;
        forkpool_task_release(d);
        forkpool_destroy(p);
    }
    is(good, N * ROUNDS, "the %d tasks before a worker's death succeeded, with their results",
       N * ROUNDS);
    is(died_right, ROUNDS, "the task that killed its worker failed SIGNALED");
}

/* ---- a task that writes over the ring ---- */

/* Finds this worker's ring in /proc/self/maps and makes its queue claim
   far more ENDs than it can hold. */
static int task_scribble(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    unsigned long lo = 0;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "forkpool-ring") && sscanf(line, "%lx-", &lo) == 1)
            break;
    if (f)
        fclose(f);
    if (!lo)
        return 9; /* no ring found: the test then fails on the kind */
    fp_ring *ring = (fp_ring *)lo;
    atomic_fetch_add(&ring->done_head, 1000);
    return 0;
}

static void scribbled_ring(void)
{
    forkpool_options opts = {.mode = FORKPOOL_WORKERS, .concurrency = 1};
    forkpool *p = forkpool_create(&opts);
    if (!p)
        bail_out("no pool");
    forkpool_task *t = forkpool_run(p, task_scribble, NULL, 0);
    int rc = forkpool_wait(t);
    const forkpool_error *e = forkpool_task_error(t);
    is(rc, 1, "a task that wrote over its worker's ring failed");
    ok(e && e->kind == FORKPOOL_ERR_PROTOCOL && strstr(e->message, "ring"),
       "as PROTOCOL, saying so ('%s')", e && e->message ? e->message : "none");
    forkpool_task_release(t);
    int i = 7;
    t = forkpool_run(p, task_value, &i, sizeof i);
    size_t n = 0;
    const int *r = forkpool_wait(t) == 0 ? forkpool_task_result(t, &n) : NULL;
    ok(r && n == sizeof i && *r == 7, "the pool still works");
    forkpool_task_release(t);
    forkpool_destroy(p);
}

int main(void)
{
    same_as_fresh();
    order_kept(1);
    order_kept(2);
    fd_wakes();
    death_keeps_ends();
    scribbled_ring();
    return done_testing();
}
