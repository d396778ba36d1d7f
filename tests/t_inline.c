/* FORKPOOL_INLINE: tasks run in the calling process with the same then /
   catch / throw / message behaviour; forkpool_task_pid is getpid();
   child_init runs once, in the calling process, at create; queued tasks can
   be cancelled and never run. */
#include "forkpool.h"
#include "tap.h"

static int init_calls;
static pid_t init_pid;
static void child_init(void *arg)
{
    init_calls++;
    init_pid = getpid();
    *(int *)arg += 1;
}

static int ran[8];
static pid_t task_pid_seen;

static int task_echo(forkpool_ctx *ctx, const void *arg, size_t len)
{
    ran[0]++;
    task_pid_seen = getpid();
    return forkpool_return(ctx, arg, len) == 0 ? 0 : 1;
}

static int task_throw(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg; (void)len;
    ran[1]++;
    return forkpool_throw(ctx, "inline.err", "code %d", 12);
}

static int task_ret3(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    ran[2]++;
    return 3;
}

static int second_rc, second_errno;
static int task_twice_and_send(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg; (void)len;
    ran[3]++;
    forkpool_send(ctx, "m1", 2);
    forkpool_send(ctx, "m2", 2);
    forkpool_return(ctx, "one", 3);
    errno = 0;
    second_rc = forkpool_return(ctx, "two", 3);
    second_errno = errno;
    return 0;
}

static int task_never(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    ran[4]++;
    return 0;
}

struct rec {
    int then_calls, catch_calls, msg_calls;
    char res[16];
    size_t len;
    int kind, code;
    char type[32], message[64];
    char msgs[4][4];
};
static void on_then(forkpool_task *t, const void *r, size_t len, void *ud)
{
    (void)t;
    struct rec *x = ud;
    x->then_calls++;
    x->len = len;
    memcpy(x->res, r, len < sizeof x->res ? len : sizeof x->res);
}
static void on_catch(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t;
    struct rec *x = ud;
    x->catch_calls++;
    x->kind = (int)e->kind;
    x->code = e->code;
    snprintf(x->type, sizeof x->type, "%s", e->type);
    snprintf(x->message, sizeof x->message, "%s", e->message);
}
static void on_msg(forkpool_task *t, const void *m, size_t len, void *ud)
{
    (void)t;
    struct rec *x = ud;
    if (x->msg_calls < 4 && len < 4) {
        memcpy(x->msgs[x->msg_calls], m, len);
        x->msgs[x->msg_calls][len] = '\0';
    }
    x->msg_calls++;
}

int main(void)
{
    tap_watchdog(20);
    int init_arg = 0;
    forkpool_options o = {0};
    o.mode = FORKPOOL_INLINE;
    o.child_init = child_init;
    o.child_init_arg = &init_arg;
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "forkpool_create (INLINE)");
    if (!p)
        bail_out("no pool");
    is(init_calls, 1, "child_init ran once at create");
    is(init_pid, getpid(), "in the calling process");
    is(init_arg, 1, "with child_init_arg");

    struct rec r0 = {0}, r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0};
    forkpool_task *t0 = forkpool_run(p, task_echo, "in\0line", 7);
    forkpool_then(forkpool_catch(t0, on_catch, &r0), on_then, &r0);
    forkpool_task *t1 = forkpool_run(p, task_throw, NULL, 0);
    forkpool_then(forkpool_catch(t1, on_catch, &r1), on_then, &r1);
    forkpool_task *t2 = forkpool_catch(forkpool_run(p, task_ret3, NULL, 0), on_catch, &r2);
    forkpool_task *t3 = forkpool_run(p, task_twice_and_send, NULL, 0);
    forkpool_then(forkpool_on_message(t3, on_msg, &r3), on_then, &r3);
    forkpool_task *t4 = forkpool_run(p, task_never, NULL, 0);
    forkpool_catch(t4, on_catch, &r4);
    forkpool_then(t4, on_then, &r4);
    is(forkpool_task_state(t4), FORKPOOL_QUEUED, "a task queued behind others is QUEUED");
    is(forkpool_cancel(t4), 0, "cancel the queued task");

    is(forkpool_await(p), 0, "await: every failure handled");
    is(init_calls, 1, "child_init did not run again for the tasks");
    is(ran[0], 1, "the echo task ran once");
    is(forkpool_task_pid(t0), getpid(), "forkpool_task_pid == getpid()");
    is(task_pid_seen, getpid(), "the task ran in this process");
    is(r0.then_calls, 1, "then ran");
    is_mem(r0.res, r0.len, "in\0line", 7, "binary-safe result");
    is(forkpool_task_state(t0), FORKPOOL_SUCCEEDED, "state SUCCEEDED");

    is(r1.then_calls, 0, "throw: then did not run");
    is(r1.catch_calls, 1, "throw: catch ran");
    is(r1.kind, FORKPOOL_ERR_THROWN, "kind THROWN");
    is_str(r1.type, "inline.err", "type");
    is_str(r1.message, "code 12", "message formatted");
    is(r1.code, -1, "code -1");

    is(r2.kind, FORKPOOL_ERR_THROWN, "bare return 3: THROWN");
    is_str(r2.type, "forkpool.return", "type forkpool.return");
    is(r2.code, 3, "code 3");

    is(r3.msg_calls, 2, "two messages delivered");
    ok(strcmp(r3.msgs[0], "m1") == 0 && strcmp(r3.msgs[1], "m2") == 0, "in order");
    is_mem(r3.res, r3.len, "one", 3, "first forkpool_return kept");
    ok(second_rc == -1 && second_errno == EALREADY, "second forkpool_return: -1/EALREADY");

    is(ran[4], 0, "the cancelled queued task never ran");
    is(r4.catch_calls, 1, "its catch ran");
    is(r4.kind, FORKPOOL_ERR_CANCELLED, "FORKPOOL_ERR_CANCELLED");
    is(r4.then_calls, 0, "its then did not");

    forkpool_stats s = forkpool_get_stats(p);
    is(s.succeeded, 2, "stats: 2 succeeded");
    is(s.failed, 2, "stats: 2 failed");
    is(s.cancelled, 1, "stats: 1 cancelled");

    forkpool_task *all[] = {t0, t1, t2, t3, t4};
    for (int i = 0; i < 5; i++)
        forkpool_task_release(all[i]);

    /* uncaught failures are counted the same way */
    forkpool_task_release(forkpool_run(p, task_ret3, NULL, 0));
    is(forkpool_await(p), 1, "INLINE: await counts an uncaught failure");
    forkpool_destroy(p);
    ok(tap_no_children(), "INLINE made no child process");
    return done_testing();
}
