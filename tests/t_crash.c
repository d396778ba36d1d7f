/* Tasks that exit() or crash: FORKPOOL_ERR_EXITED with the exit status,
   FORKPOOL_ERR_SIGNALED with the signal number, non-empty messages, and
   forkpool_error_kind_name. */
#include "forkpool.h"
#include "tap.h"

static int task_exit3(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    exit(3);
}

static int task_exit0(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    exit(0);
}

static int task__exit5(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    _exit(5);
}

static int task_raise_segv(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    signal(SIGSEGV, SIG_DFL); /* sanitizer runtimes install their own handler */
    raise(SIGSEGV);
    return 0;
}

/* A real NULL store, not one that UBSan's null check turns into exit(1) in
   sanitizer builds (-fno-sanitize-recover). */
#if defined(__has_attribute)
#if __has_attribute(no_sanitize)
#define NO_SANITIZE_NULL __attribute__((no_sanitize("null")))
#endif
#endif
#ifndef NO_SANITIZE_NULL
#define NO_SANITIZE_NULL
#endif

static int *volatile null_ptr;
NO_SANITIZE_NULL static int task_null_deref(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    *null_ptr = 1;
    return 0;
}

static int task_abort(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    abort();
}

static int task_sigkill_self(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    kill(getpid(), SIGKILL);
    tap_pause_forever();
}

static int task_result_then_crash(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg; (void)len;
    /* a crash after forkpool_return but before returning still fails */
    signal(SIGSEGV, SIG_DFL);
    forkpool_return(ctx, "partial", 7);
    raise(SIGSEGV);
    return 0;
}

struct rec {
    int calls;
    int kind;
    char type[64];
    char message[256];
    int msg_ok;
    int code;
};

static void catch_rec(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t;
    struct rec *r = ud;
    r->calls++;
    r->kind = (int)e->kind;
    r->code = e->code;
    r->msg_ok = e->message != NULL && e->message[0] != '\0';
    snprintf(r->type, sizeof r->type, "%s", e->type ? e->type : "(null)");
    snprintf(r->message, sizeof r->message, "%s", e->message ? e->message : "(null)");
}

static int then_calls;
static void then_count(forkpool_task *t, const void *res, size_t len, void *ud)
{
    (void)t; (void)res; (void)len; (void)ud;
    then_calls++;
}

struct tcase {
    const char *name;
    forkpool_fn fn;
    int kind;
    int code;
    const char *type;
};

int main(void)
{
    tap_watchdog(30);
    tap_no_core_dumps();

    const struct tcase cases[] = {
        {"exit(3)", task_exit3, FORKPOOL_ERR_EXITED, 3, "forkpool.exited"},
        {"exit(0) before the task finished", task_exit0, FORKPOOL_ERR_EXITED, 0, "forkpool.exited"},
        {"_exit(5)", task__exit5, FORKPOOL_ERR_EXITED, 5, "forkpool.exited"},
        {"raise(SIGSEGV)", task_raise_segv, FORKPOOL_ERR_SIGNALED, SIGSEGV, "forkpool.signaled"},
        {"NULL dereference", task_null_deref, FORKPOOL_ERR_SIGNALED, SIGSEGV, "forkpool.signaled"},
        {"abort()", task_abort, FORKPOOL_ERR_SIGNALED, SIGABRT, "forkpool.signaled"},
        {"kill(getpid(), SIGKILL)", task_sigkill_self, FORKPOOL_ERR_SIGNALED, SIGKILL, "forkpool.signaled"},
        {"forkpool_return then SIGSEGV", task_result_then_crash, FORKPOOL_ERR_SIGNALED, SIGSEGV,
         "forkpool.signaled"},
    };
    enum { N = sizeof cases / sizeof cases[0] };

    forkpool_options o = {0};
    o.concurrency = 4;
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "forkpool_create");
    if (!p)
        bail_out("no pool");

    struct rec recs[N];
    forkpool_task *tasks[N];
    memset(recs, 0, sizeof recs);
    for (int i = 0; i < N; i++) {
        tasks[i] = forkpool_run(p, cases[i].fn, NULL, 0);
        forkpool_then(tasks[i], then_count, NULL);
        forkpool_catch(tasks[i], catch_rec, &recs[i]);
    }
    is(forkpool_await(p), 0, "await: every failure was caught");
    is(then_calls, 0, "no then handler ran");
    for (int i = 0; i < N; i++) {
        const struct tcase *c = &cases[i];
        is(recs[i].calls, 1, "%s: catch ran once", c->name);
        is(recs[i].kind, c->kind, "%s: kind %s", c->name, forkpool_error_kind_name(c->kind));
        is(recs[i].code, c->code, "%s: code %d", c->name, c->code);
        is_str(recs[i].type, c->type, "%s: type", c->name);
        ok(recs[i].msg_ok, "%s: message not NULL/empty ('%s')", c->name, recs[i].message);
        is(forkpool_task_state(tasks[i]), FORKPOOL_FAILED, "%s: state FAILED", c->name);
        ok(forkpool_task_result(tasks[i], NULL) == NULL, "%s: no result", c->name);
        forkpool_task_release(tasks[i]);
    }

    /* catch_type by the library's type names */
    struct rec typed = {0}, fallback = {0};
    forkpool_task *t = forkpool_run(p, task_abort, NULL, 0);
    forkpool_catch_type(t, "forkpool.exited", catch_rec, &fallback);
    forkpool_catch_type(t, "forkpool.signaled", catch_rec, &typed);
    is(forkpool_wait(t), 1, "forkpool_wait: 1");
    is(typed.calls, 1, "catch_type(\"forkpool.signaled\") caught abort()");
    is(fallback.calls, 0, "catch_type(\"forkpool.exited\") did not");
    forkpool_task_release(t);

    forkpool_stats s = forkpool_get_stats(p);
    is(s.failed, N + 1, "stats: crashes count as failed");
    is(s.succeeded + s.timed_out + s.cancelled, 0, "stats: nothing else");

    forkpool_destroy(p);
    ok(tap_no_children(), "no children after destroy");

    is_str(forkpool_error_kind_name(FORKPOOL_ERR_THROWN), "thrown", "kind name thrown");
    is_str(forkpool_error_kind_name(FORKPOOL_ERR_EXITED), "exited", "kind name exited");
    is_str(forkpool_error_kind_name(FORKPOOL_ERR_SIGNALED), "signaled", "kind name signaled");
    is_str(forkpool_error_kind_name(FORKPOOL_ERR_TIMEOUT), "timeout", "kind name timeout");
    is_str(forkpool_error_kind_name(FORKPOOL_ERR_CANCELLED), "cancelled", "kind name cancelled");
    is_str(forkpool_error_kind_name(FORKPOOL_ERR_SPAWN), "spawn", "kind name spawn");
    is_str(forkpool_error_kind_name(FORKPOOL_ERR_OUTPUT), "output", "kind name output");
    is_str(forkpool_error_kind_name(FORKPOOL_ERR_PROTOCOL), "protocol", "kind name protocol");
    is_str(forkpool_error_kind_name((forkpool_error_kind)0), "unknown", "kind name 0: unknown");
    is_str(forkpool_error_kind_name((forkpool_error_kind)99), "unknown", "kind name 99: unknown");
    return done_testing();
}
