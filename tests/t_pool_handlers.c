/* forkpool_pool_then / forkpool_pool_catch: outcomes of tasks released at
   once are collected by type and message; the pool's handlers run after the
   task's own, once per task; a failure pool_catch takes is not counted by
   forkpool_await; cancellations reach it too; forkpool_map's runs do not. */
#include <string.h>

#include "forkpool.h"
#include "tap.h"

static int task_square(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    int v = *(const int *)arg;
    if (v % 3 == 0)
        return forkpool_throw(ctx, "test.div3", "%d is divisible by 3", v);
    int sq = v * v;
    return forkpool_return(ctx, &sq, sizeof sq) == 0 ? 0 : 1;
}

static int task_crash(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    raise(SIGSEGV);
    return 0;
}

static int task_sleep(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    tap_pause_forever();
}

static int task_double(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    int v = *(const int *)arg * 2;
    return forkpool_return(ctx, &v, sizeof v) == 0 ? 0 : 1;
}

struct coll {
    long sum;           /* of the squares pool_then saw */
    int thens, catches; /* pool handler calls */
    int div3, other;    /* failures by type */
    int cancelled;
    char last_msg[128];
    int order_ok;       /* the task's own then ran before pool_then */
    int own_then;       /* the task's own then handler calls */
};

static void pool_then(forkpool_task *t, const void *res, size_t len, void *ud)
{
    (void)t;
    struct coll *c = ud;
    c->thens++;
    if (len == sizeof(int)) {
        int v;
        memcpy(&v, res, sizeof v);
        c->sum += v;
    }
}

static void pool_catch(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t;
    struct coll *c = ud;
    c->catches++;
    if (strcmp(e->type, "test.div3") == 0)
        c->div3++;
    else if (e->kind == FORKPOOL_ERR_CANCELLED)
        c->cancelled++;
    else
        c->other++;
    snprintf(c->last_msg, sizeof c->last_msg, "%s", e->message);
}

/* Released at once: everything is learnt through the pool's handlers. */
static void collect_released(void)
{
    forkpool *p = forkpool_create(&(forkpool_options){.concurrency = 2});
    struct coll c = {0};
    forkpool_pool_then(p, pool_then, &c);
    forkpool_pool_catch(p, pool_catch, &c);
    long want = 0;
    int want_div3 = 0;
    for (int i = 1; i <= 30; i++) {
        forkpool_task *t = forkpool_run(p, task_square, &i, sizeof i);
        if (!t)
            bail_out("forkpool_run failed");
        forkpool_task_release(t);
        if (i % 3 == 0)
            want_div3++;
        else
            want += (long)i * i;
    }
    is(forkpool_await(p), 0, "released: failures pool_catch took are not counted");
    is(c.thens, 30 - want_div3, "released: pool_then once per success");
    is(c.sum, want, "released: pool_then saw every result");
    is(c.div3, want_div3, "released: pool_catch saw every thrown failure, by type");
    is(c.other + c.cancelled, 0, "released: no other failure");
    ok(strstr(c.last_msg, "is divisible by 3") != NULL, "released: with its message (%s)",
       c.last_msg);
    forkpool_destroy(p);
}

static void own_then(forkpool_task *t, const void *res, size_t len, void *ud)
{
    (void)t; (void)res; (void)len;
    struct coll *c = ud;
    c->own_then++;
    if (c->thens == 0)
        c->order_ok++;
}

static void own_catch(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t; (void)e;
    struct coll *c = ud;
    c->own_then += 100;
}

/* The task's own handlers first; a failure they take does not reach
   pool_catch; a failure nobody takes counts when pool_catch is removed. */
static void order_and_taking(void)
{
    forkpool *p = forkpool_create(NULL);
    struct coll c = {0};
    forkpool_pool_then(p, pool_then, &c);
    forkpool_pool_catch(p, pool_catch, &c);
    int two = 2, three = 3;
    forkpool_task *a = forkpool_then(forkpool_run(p, task_square, &two, sizeof two), own_then, &c);
    is(forkpool_wait(a), 0, "order: succeeded");
    is(c.own_then, 1, "order: own then ran once");
    is(c.order_ok, 1, "order: own then ran before pool_then");
    is(c.thens, 1, "order: pool_then ran once");
    forkpool_task *b =
        forkpool_catch(forkpool_run(p, task_square, &three, sizeof three), own_catch, &c);
    is(forkpool_wait(b), 1, "taken: failed");
    is(c.own_then, 101, "taken: own catch took it");
    is(c.catches, 0, "taken: pool_catch did not run");
    forkpool_task_release(a);
    forkpool_task_release(b);

    forkpool_task *cr = forkpool_run(p, task_crash, "", 0);
    is(forkpool_wait(cr), 1, "crash: failed");
    is(c.other, 1, "crash: pool_catch got the SIGNALED failure");
    forkpool_task_release(cr);
    is(forkpool_await(p), 0, "crash: taken, so not counted");

    /* Replaced, then removed. */
    struct coll c2 = {0};
    forkpool_pool_catch(p, pool_catch, &c2);
    forkpool_task_release(forkpool_run(p, task_square, &three, sizeof three));
    is(forkpool_await(p), 0, "replaced: the second pool_catch took it");
    is(c2.div3, 1, "replaced: the second pool_catch ran");
    is(c.div3, 0, "replaced: the first did not");
    forkpool_pool_catch(p, NULL, NULL);
    forkpool_pool_then(p, NULL, &c);
    forkpool_task_release(forkpool_run(p, task_square, &three, sizeof three));
    forkpool_task_release(forkpool_run(p, task_square, &two, sizeof two));
    is(forkpool_await(p), 1, "removed: an untaken failure counts again");
    is(c2.div3, 1, "removed: pool_catch no longer runs");
    is(c.thens, 1, "removed: pool_then no longer runs");
    forkpool_destroy(p);
}

/* Timeouts reach pool_catch unless a timeout handler took them;
   cancellations reach it (and are never counted). */
static void timeouts_and_cancels(void)
{
    forkpool *p = forkpool_create(&(forkpool_options){.concurrency = 2});
    struct coll c = {0};
    forkpool_pool_catch(p, pool_catch, &c);
    forkpool_task *t = forkpool_set_timeout(forkpool_run(p, task_sleep, "", 0), 50);
    is(forkpool_wait(t), 1, "timeout: failed");
    is(c.other, 1, "timeout: pool_catch got it");
    ok(strstr(c.last_msg, "limit") != NULL, "timeout: its message (%s)", c.last_msg);
    forkpool_task_release(t);
    for (int i = 0; i < 4; i++)
        forkpool_task_release(forkpool_run(p, task_sleep, "", 0));
    forkpool_stop(p);
    is(forkpool_await(p), 0, "stop: nothing counted");
    is(c.cancelled, 4, "stop: pool_catch got each cancellation");
    forkpool_destroy(p);
}

static void on_item(size_t index, const void *res, size_t len, const forkpool_error *err,
                    void *ud)
{
    long *sum = ud;
    int v = -1000000;
    if (!err && len == sizeof v)
        memcpy(&v, res, sizeof v);
    *sum += v == 2 * (int)index ? v : -1000000;
}

/* forkpool_map's runs are the library's own: the pool's handlers skip
   them, and an exec task reaches them. */
static void map_and_exec(void)
{
    forkpool *p = forkpool_create(NULL);
    struct coll c = {0};
    forkpool_pool_then(p, pool_then, &c);
    forkpool_pool_catch(p, pool_catch, &c);
    int items[100];
    for (int i = 0; i < 100; i++)
        items[i] = i;
    long sum = 0;
    is(forkpool_map(p, task_double, items, 100, sizeof(int), on_item, &sum), 0, "map: no failure");
    is(sum, 9900, "map: every result");
    is(c.thens + c.catches, 0, "map: its runs do not reach the pool's handlers");
    const char *argv[] = {"sh", "-c", "exit 3", NULL};
    forkpool_task *e = forkpool_exec(p, argv, NULL);
    ok(e != NULL, "exec: started");
    is(forkpool_wait(e), 1, "exec: failed");
    is(c.catches, 1, "exec: pool_catch got it");
    forkpool_task_release(e);
    forkpool_destroy(p);
}

int main(void)
{
    tap_watchdog(120);
    forkpool_pool_then(NULL, pool_then, NULL);
    is(errno, EINVAL, "pool_then: NULL pool is EINVAL");
    errno = 0;
    forkpool_pool_catch(NULL, pool_catch, NULL);
    is(errno, EINVAL, "pool_catch: NULL pool is EINVAL");
    collect_released();
    order_and_taking();
    timeouts_and_cancels();
    map_and_exec();
    ok(tap_no_children(), "no children left");
    return done_testing();
}
