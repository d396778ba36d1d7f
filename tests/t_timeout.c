/* Timeouts: the pool default, timeout handlers vs catch, SIGTERM-ignoring
   tasks (SIGKILL after the grace), forkpool_set_timeout overriding the
   default (including 0: no limit, and moving a running task's deadline). */
#include "forkpool.h"
#include "tap.h"

struct shared {
    _Atomic int started[8];
};
static struct shared *sh;

static int task_sleep_forever(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    int slot = len == sizeof(int) ? *(const int *)arg : 0;
    atomic_store(&sh->started[slot], 1);
    tap_pause_forever();
}

static int task_ignore_term(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    signal(SIGTERM, SIG_IGN);
    int slot = len == sizeof(int) ? *(const int *)arg : 0;
    atomic_store(&sh->started[slot], 1);
    tap_pause_forever();
}

static int task_sleep_ms(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    long ms = *(const long *)arg;
    tap_sleep_ms(ms);
    return forkpool_return(ctx, "done", 4) == 0 ? 0 : 1;
}

struct rec {
    int timeout_calls;
    int catch_calls;
    int then_calls;
    int kind;
    char type[64];
    int msg_ok;
    int seq[8];
    int n;
};

static void on_timeout_1(forkpool_task *t, void *ud)
{
    (void)t;
    struct rec *r = ud;
    r->timeout_calls++;
    r->seq[r->n++] = 1;
}
static void on_timeout_2(forkpool_task *t, void *ud)
{
    (void)t;
    struct rec *r = ud;
    r->timeout_calls++;
    r->seq[r->n++] = 2;
}
static void on_catch(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t;
    struct rec *r = ud;
    r->catch_calls++;
    r->kind = (int)e->kind;
    r->msg_ok = e->message && e->message[0];
    snprintf(r->type, sizeof r->type, "%s", e->type ? e->type : "(null)");
}
static void on_then(forkpool_task *t, const void *res, size_t len, void *ud)
{
    (void)t; (void)res; (void)len;
    ((struct rec *)ud)->then_calls++;
}

int main(void)
{
    tap_watchdog(30);
    sh = tap_shared(sizeof *sh);

    forkpool_options o = {0};
    o.concurrency = 4;
    o.timeout_ms = 150;
    o.kill_grace_ms = 100;
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "forkpool_create with timeout_ms 150");
    if (!p)
        bail_out("no pool");

    int s0 = 0, s1 = 1, s2 = 2;
    /* default timeout, two timeout handlers and a catch: handlers run in
       order, catch does not */
    struct rec ra = {0};
    forkpool_task *ta = forkpool_run(p, task_sleep_forever, &s0, sizeof s0);
    ok(forkpool_timeout(ta, on_timeout_1, &ra) == ta, "forkpool_timeout returns t");
    forkpool_timeout(ta, on_timeout_2, &ra);
    forkpool_catch(ta, on_catch, &ra);
    forkpool_then(ta, on_then, &ra);

    /* no timeout handler: catch gets FORKPOOL_ERR_TIMEOUT */
    struct rec rb = {0};
    forkpool_task *tb = forkpool_run(p, task_sleep_forever, &s1, sizeof s1);
    forkpool_catch(tb, on_catch, &rb);

    /* ignores SIGTERM: still killed (SIGKILL after the grace). It gets its
       limit once it surely ignores SIGTERM, so the SIGKILL path is taken
       however slow the machine. */
    struct rec rc = {0};
    forkpool_task *tc = forkpool_run(p, task_ignore_term, &s2, sizeof s2);
    forkpool_set_timeout(tc, 0);
    forkpool_catch(tc, on_catch, &rc);
    ok(TAP_WAIT_UNTIL((forkpool_poll(p, 5), atomic_load(&sh->started[2])), 5000),
       "SIGTERM-ignoring task started");
    forkpool_set_timeout(tc, 100);

    is(forkpool_await(p), 0, "await returns: all timeouts were taken by handlers");
    is(ra.timeout_calls, 2, "both timeout handlers ran");
    ok(ra.n == 2 && ra.seq[0] == 1 && ra.seq[1] == 2, "timeout handlers ran in the order added");
    is(ra.catch_calls, 0, "catch did not run when a timeout handler exists");
    is(ra.then_calls, 0, "then did not run");
    is(forkpool_task_state(ta), FORKPOOL_FAILED, "timed-out task: FAILED");
    const forkpool_error *ea = forkpool_task_error(ta);
    ok(ea && ea->kind == FORKPOOL_ERR_TIMEOUT, "task error kind TIMEOUT");
    ok(ea && ea->type && strcmp(ea->type, "forkpool.timeout") == 0, "task error type forkpool.timeout");
    ok(ea && ea->code == 0, "TIMEOUT code 0");

    is(rb.catch_calls, 1, "no timeout handler: catch ran");
    is(rb.kind, FORKPOOL_ERR_TIMEOUT, "catch got FORKPOOL_ERR_TIMEOUT");
    is_str(rb.type, "forkpool.timeout", "type forkpool.timeout");
    ok(rb.msg_ok, "message not empty");

    is(rc.catch_calls, 1, "SIGTERM-ignoring task: catch ran");
    is(rc.kind, FORKPOOL_ERR_TIMEOUT, "SIGTERM-ignoring task timed out (killed after the grace)");
    pid_t pc = forkpool_task_pid(tc);
    ok(pc > 0 && tap_pid_dead(pc), "SIGTERM-ignoring task's process is gone");

    forkpool_stats st = forkpool_get_stats(p);
    is(st.timed_out, 3, "stats: 3 timed out");
    is(st.failed, 0, "stats: timeouts are not counted as failed");

    forkpool_task_release(ta);
    forkpool_task_release(tb);
    forkpool_task_release(tc);

    /* set_timeout(0) on a task: no limit, although the default is 150 ms */
    struct rec rd = {0};
    long d_ms = 400;
    forkpool_task *td = forkpool_run(p, task_sleep_ms, &d_ms, sizeof d_ms);
    ok(forkpool_set_timeout(td, 0) == td, "forkpool_set_timeout returns t");
    forkpool_then(td, on_then, &rd);
    forkpool_catch(td, on_catch, &rd);
    is(forkpool_wait(td), 0, "set_timeout(0): a 400 ms task outlives the 150 ms default");
    is(rd.then_calls, 1, "then ran");
    is(rd.catch_calls, 0, "catch did not run");
    forkpool_task_release(td);

    /* set_timeout larger than the default */
    struct rec re = {0};
    forkpool_task *te = forkpool_run(p, task_sleep_ms, &d_ms, sizeof d_ms);
    forkpool_set_timeout(te, 60000);
    forkpool_then(te, on_then, &re);
    is(forkpool_wait(te), 0, "set_timeout(60000) replaces the 150 ms default");
    is(re.then_calls, 1, "then ran");
    forkpool_task_release(te);

    /* negative: NULL, EINVAL */
    forkpool_task *tf = forkpool_run(p, task_sleep_ms, &d_ms, sizeof d_ms);
    errno = 0;
    ok(forkpool_set_timeout(tf, -1) == NULL, "set_timeout(-1) returns NULL");
    is(errno, EINVAL, "set_timeout(-1): EINVAL");
    errno = 0;
    ok(forkpool_set_timeout(NULL, 10) == NULL && errno == EINVAL, "set_timeout(NULL): NULL, EINVAL");
    forkpool_set_timeout(tf, 0);
    is(forkpool_wait(tf), 0, "the task kept its valid limit after a rejected set_timeout");
    forkpool_task_release(tf);
    forkpool_destroy(p);
    ok(tap_no_children(), "no children after destroy");

    /* pool without a default: set_timeout gives a limit; and a running task's
       deadline moves at once */
    o.timeout_ms = 0;
    p = forkpool_create(&o);
    ok(p != NULL, "forkpool_create without a default timeout");
    if (!p)
        bail_out("no pool");
    memset(sh, 0, sizeof *sh);
    struct rec rg = {0}, rh = {0};
    forkpool_task *tg = forkpool_run(p, task_sleep_forever, &s0, sizeof s0);
    forkpool_set_timeout(tg, 100);
    forkpool_catch(tg, on_catch, &rg);
    is(forkpool_wait(tg), 1, "set_timeout(100) on a pool without default: task failed");
    is(rg.kind, FORKPOOL_ERR_TIMEOUT, "with FORKPOOL_ERR_TIMEOUT");

    forkpool_task *th = forkpool_run(p, task_sleep_forever, &s1, sizeof s1);
    forkpool_catch(th, on_catch, &rh);
    int started = TAP_WAIT_UNTIL(forkpool_poll(p, 10) >= 0 && atomic_load(&sh->started[1]), 5000);
    ok(started, "task without a limit is running");
    is(forkpool_task_state(th), FORKPOOL_RUNNING, "state RUNNING");
    forkpool_set_timeout(th, 100);
    is(forkpool_wait(th), 1, "setting a limit on a running task ends it");
    is(rh.kind, FORKPOOL_ERR_TIMEOUT, "with FORKPOOL_ERR_TIMEOUT");
    forkpool_task_release(tg);
    forkpool_task_release(th);
    forkpool_destroy(p);
    ok(tap_no_children(), "no children after destroy");

    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
