/* forkpool_send / on_message: in order, binary-safe, all before then;
   messages that arrive while the task has no on_message handler are kept
   until one is added; several on_message handlers each get every message. */
#include "forkpool.h"
#include "tap.h"

struct shared {
    _Atomic int sent;
    _Atomic int go;
    _Atomic int send_rc[8];
    _Atomic int null_ctx_rc, null_ctx_errno;
};
static struct shared *sh;

static int task_send5(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg; (void)len;
    char m[32];
    for (int i = 0; i < 5; i++) {
        int n = snprintf(m, sizeof m, "msg%d", i);
        m[n] = '\0';
        /* include the NUL: binary-safe */
        atomic_store(&sh->send_rc[i], forkpool_send(ctx, m, (size_t)n + 1));
    }
    errno = 0;
    atomic_store(&sh->null_ctx_rc, forkpool_send(NULL, "x", 1));
    atomic_store(&sh->null_ctx_errno, errno);
    return forkpool_return(ctx, "end", 3) == 0 ? 0 : 1;
}

/* sends 3 messages, then waits for the parent's go before finishing */
static int task_send_then_wait(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg; (void)len;
    forkpool_send(ctx, "a", 1);
    forkpool_send(ctx, "", 0);
    forkpool_send(ctx, "ccc", 3);
    atomic_store(&sh->sent, 1);
    if (!TAP_WAIT_UNTIL(atomic_load(&sh->go), 10000))
        return forkpool_throw(ctx, "test", "no go");
    return 0;
}

/* sends then fails */
static int task_send_then_throw(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg; (void)len;
    forkpool_send(ctx, "before", 6);
    return forkpool_throw(ctx, "after", "thrown after a message");
}

struct log {
    char ev[32][16]; /* "m:<payload>" or "then" / "catch" */
    size_t mlen[32];
    int n;
};
static void on_msg(forkpool_task *t, const void *m, size_t len, void *ud)
{
    (void)t;
    struct log *l = ud;
    if (l->n >= 32)
        return;
    l->mlen[l->n] = len;
    char *e = l->ev[l->n++];
    e[0] = 'm';
    e[1] = ':';
    size_t k = len < 12 ? len : 12;
    if (k)
        memcpy(e + 2, m, k); /* m may be NULL for an empty message */
    e[2 + k] = '\0';
}
static void on_then(forkpool_task *t, const void *r, size_t len, void *ud)
{
    (void)t; (void)r; (void)len;
    struct log *l = ud;
    if (l->n < 32)
        strcpy(l->ev[l->n++], "then");
}
static void on_catch(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t; (void)e;
    struct log *l = ud;
    if (l->n < 32)
        strcpy(l->ev[l->n++], "catch");
}

int main(void)
{
    tap_watchdog(30);
    sh = tap_shared(sizeof *sh);
    forkpool *p = forkpool_create(NULL);
    ok(p != NULL, "forkpool_create");
    if (!p)
        bail_out("no pool");

    struct log l = {0}, l2 = {0};
    forkpool_task *t = forkpool_run(p, task_send5, NULL, 0);
    forkpool_then(t, on_then, &l);
    ok(forkpool_on_message(t, on_msg, &l) == t, "forkpool_on_message returns t");
    forkpool_on_message(t, on_msg, &l2);
    is(forkpool_wait(t), 0, "task sending 5 messages succeeded");
    is(l.n, 6, "5 messages then the result");
    int inorder = l.n == 6;
    for (int i = 0; i < 5 && inorder; i++) {
        char want[16];
        snprintf(want, sizeof want, "m:msg%d", i);
        if (strcmp(l.ev[i], want) != 0 || l.mlen[i] != 5)
            inorder = 0;
    }
    ok(inorder, "messages arrived in order, with their NUL byte (len 5)");
    is_str(l.ev[5], "then", "then ran after all messages");
    is(l2.n, 5, "a second on_message handler got all 5 messages too");
    int allok = 1;
    for (int i = 0; i < 5; i++)
        if (atomic_load(&sh->send_rc[i]) != 0)
            allok = 0;
    ok(allok, "forkpool_send returned 0 each time");
    ok(atomic_load(&sh->null_ctx_rc) == -1 && atomic_load(&sh->null_ctx_errno) == EINVAL,
       "forkpool_send(NULL ctx): -1/EINVAL");
    forkpool_task_release(t);

    /* messages sent before any on_message handler exists are kept */
    struct log l3 = {0};
    forkpool_task *t3 = forkpool_run(p, task_send_then_wait, NULL, 0);
    int sent = TAP_WAIT_UNTIL((forkpool_poll(p, 5), atomic_load(&sh->sent)), 5000);
    ok(sent, "the task sent its messages while it had no on_message handler");
    /* let the pool read the channel a few more times with no handler */
    for (int i = 0; i < 5; i++)
        forkpool_poll(p, 5);
    is(forkpool_task_state(t3), FORKPOOL_RUNNING, "the task is still running");
    forkpool_then(t3, on_then, &l3);
    forkpool_on_message(t3, on_msg, &l3);
    atomic_store(&sh->go, 1);
    is(forkpool_wait(t3), 0, "task succeeded");
    is(l3.n, 4, "3 kept messages, then the result");
    ok(l3.n == 4 && strcmp(l3.ev[0], "m:a") == 0 && strcmp(l3.ev[1], "m:") == 0 && l3.mlen[1] == 0 &&
           strcmp(l3.ev[2], "m:ccc") == 0,
       "the kept messages were delivered in order (an empty one included)");
    is_str(l3.ev[3], "then", "then ran after them");
    forkpool_task_release(t3);

    /* messages of a failing task come before its catch */
    struct log l4 = {0};
    forkpool_task *t4 = forkpool_run(p, task_send_then_throw, NULL, 0);
    forkpool_catch(forkpool_on_message(t4, on_msg, &l4), on_catch, &l4);
    is(forkpool_wait(t4), 1, "failing task");
    ok(l4.n == 2 && strcmp(l4.ev[0], "m:before") == 0 && strcmp(l4.ev[1], "catch") == 0,
       "its message was delivered before catch");
    forkpool_task_release(t4);

    forkpool_destroy(p);
    ok(tap_no_children(), "no children");
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
