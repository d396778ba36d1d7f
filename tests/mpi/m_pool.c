/* FORKPOOL_MPI under mpirun -np 3: tasks run on the serving ranks, each in
   a child of its own there, with a local pool's semantics: results of any
   size, messages, throw, crash, exit, timeout (the pool's and a moved
   one), cancel, stop, max_output, concurrency per rank, forkpool_fd,
   forkpool_map, forkpool_exec; unregistered functions are ENOENT. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpool.h"
#include "forkpool_mpi.h"
#include "tap.h"

#define BIG ((size_t)8 << 20)

static int rank_of(forkpool_ctx *ctx, const void *arg, size_t len)
{
    int r = forkpool_mpi_rank();
    (void)arg;
    (void)len;
    return forkpool_return(ctx, &r, sizeof r);
}

static int size_of(forkpool_ctx *ctx, const void *arg, size_t len)
{
    int n = forkpool_mpi_size();
    (void)arg;
    (void)len;
    return forkpool_return(ctx, &n, sizeof n);
}

static int echo(forkpool_ctx *ctx, const void *arg, size_t len)
{
    return forkpool_return(ctx, arg, len);
}

static int big(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    unsigned char *p = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        p[i] = (unsigned char)(i * 7);
    int rc = forkpool_return(ctx, p, BIG);
    free(p);
    return rc;
}

static int chatty(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    for (int i = 0; i < 3; i++)
        forkpool_send(ctx, &i, sizeof i);
    return forkpool_return(ctx, "done", 4);
}

static int thrower(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return forkpool_throw(ctx, "app.bad", "bad input %d", 42);
}

static int crasher(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
    return 0;
}

static int exiter(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    exit(3);
}

static int sleeper(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)len;
    int ms;
    memcpy(&ms, arg, sizeof ms);
    usleep((useconds_t)ms * 1000);
    return 0;
}

static int square(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    int v;
    memcpy(&v, arg, sizeof v);
    if (v == 13)
        return forkpool_throw(ctx, "app.thirteen", "unlucky");
    v *= v;
    return forkpool_return(ctx, &v, sizeof v);
}

static int not_registered(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    return 0;
}

static int timeouts, msgs[3], nmsgs;
static void on_timeout(forkpool_task *t, void *ud)
{
    (void)t;
    (void)ud;
    timeouts++;
}
static void on_msg(forkpool_task *t, const void *m, size_t len, void *ud)
{
    (void)t;
    (void)ud;
    if (len == sizeof(int) && nmsgs < 3)
        memcpy(&msgs[nmsgs++], m, sizeof(int));
}

static long map_sum;
static int map_failed_at = -1;
static void on_item(size_t index, const void *result, size_t len, const forkpool_error *err,
                    void *ud)
{
    int v = ((const int *)ud)[index];
    if (err && strcmp(err->type, "app.thirteen") == 0)
        map_failed_at = v;
    else if (result && len == sizeof(int)) {
        int r;
        memcpy(&r, result, sizeof r);
        map_sum += r;
    }
}

static forkpool *make(unsigned concurrency, long timeout_ms, size_t max_output)
{
    forkpool_options o = {.mode = FORKPOOL_MPI, .concurrency = concurrency,
                          .timeout_ms = timeout_ms, .max_output = max_output};
    return forkpool_create(&o);
}

static const forkpool_error *run_fail(forkpool *p, forkpool_fn fn, forkpool_task **out)
{
    forkpool_task *t = forkpool_run(p, fn, "", 0);
    *out = t;
    if (!t || forkpool_wait(t) != 1)
        return NULL;
    return forkpool_task_error(t);
}

int main(int argc, char **argv)
{
    forkpool_fn fns[] = {rank_of, echo, big, chatty, thrower, crasher, exiter, sleeper, square,
                         size_of};
    const char *names[] = {"rank_of", "echo", "big", "chatty", "thrower",
                           "crasher", "exiter", "sleeper", "square", "size_of"};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (forkpool_register(names[i], fns[i]) != 0)
            return 1;
    int rc = forkpool_mpi_init(&argc, &argv);
    if (rc > 0)
        return forkpool_mpi_finalize();
    tap_watchdog(120);
    is(rc, 0, "rank 0: forkpool_mpi_init returns 0");
    is(forkpool_mpi_size(), 3, "three ranks");
    is(forkpool_mpi_rank(), 0, "this is rank 0");

    forkpool *p = make(1, 0, 0);
    ok(p != NULL, "a FORKPOOL_MPI pool");

    /* Results come from the serving ranks, both used. */
    int seen[3] = {0, 0, 0};
    forkpool_task *ts[4];
    for (int i = 0; i < 4; i++)
        ts[i] = forkpool_run(p, rank_of, "", 0);
    forkpool_stats st = forkpool_get_stats(p);
    is(st.running, 2, "concurrency 1 per serving rank: 2 running of 4");
    is(forkpool_await(p), 0, "await: no unhandled failure");
    for (int i = 0; i < 4; i++) {
        size_t len;
        const int *r = forkpool_task_result(ts[i], &len);
        if (r && len == sizeof(int) && *r >= 0 && *r < 3)
            seen[*r]++;
        ok(forkpool_task_pid(ts[i]) > 0, "task %d: the pid of its child on its rank", i);
        forkpool_task_release(ts[i]);
    }
    is(seen[0], 0, "no task ran on rank 0");
    ok(seen[1] > 0 && seen[2] > 0 && seen[1] + seen[2] == 4, "tasks ran on ranks 1 and 2");

    /* In a task's child: the job's size; the usage measured there. */
    forkpool_task *t = forkpool_run(p, size_of, "", 0);
    const int *n = forkpool_wait(t) == 0 ? forkpool_task_result(t, NULL) : NULL;
    ok(n && *n == 3, "forkpool_mpi_size in a task's child: %d", n ? *n : -1);
    forkpool_task_release(t);
    int nap_ms = 200;
    t = forkpool_run(p, sleeper, &nap_ms, sizeof nap_ms);
    forkpool_usage u = {0, 0, 0, 0};
    is(forkpool_wait(t), 0, "a 200 ms task");
    is(forkpool_task_usage(t, &u), 0, "its usage");
    ok(u.wall_s >= 0.199, "wall time from its rank: %.3f s", u.wall_s);
    ok(u.max_rss_kib > 0, "peak RSS from its rank: %ld KiB", (long)u.max_rss_kib);
    forkpool_task_release(t);

    /* Argument bytes cross and come back; a big result. */
    char arg[100];
    for (int i = 0; i < 100; i++)
        arg[i] = (char)i;
    t = forkpool_run(p, echo, arg, sizeof arg);
    is(forkpool_wait(t), 0, "echo succeeded");
    size_t len;
    const void *res = forkpool_task_result(t, &len);
    is_mem(res, len, arg, sizeof arg, "the argument came back");
    forkpool_task_release(t);
    t = forkpool_run(p, big, "", 0);
    is(forkpool_wait(t), 0, "a big result");
    res = forkpool_task_result(t, &len);
    is(len, BIG, "8 MiB of result");
    int good = res && len == BIG;
    for (size_t i = 0; good && i < BIG; i++)
        good = ((const unsigned char *)res)[i] == (unsigned char)(i * 7);
    ok(good, "every byte of it");
    forkpool_task_release(t);

    /* Messages, in order, before then. */
    t = forkpool_on_message(forkpool_run(p, chatty, "", 0), on_msg, NULL);
    is(forkpool_wait(t), 0, "chatty succeeded");
    ok(nmsgs == 3 && msgs[0] == 0 && msgs[1] == 1 && msgs[2] == 2, "its 3 messages in order");
    forkpool_task_release(t);

    /* Failures: each fails its own task only. */
    const forkpool_error *e = run_fail(p, thrower, &t);
    ok(e && e->kind == FORKPOOL_ERR_THROWN, "throw: THROWN");
    is_str(e ? e->type : NULL, "app.bad", "its type");
    is_str(e ? e->message : NULL, "bad input 42", "its message");
    forkpool_task_release(t);
    e = run_fail(p, crasher, &t);
    ok(e && e->kind == FORKPOOL_ERR_SIGNALED && e->code == SIGSEGV, "a crash: SIGNALED, SIGSEGV");
    forkpool_task_release(t);
    e = run_fail(p, exiter, &t);
    ok(e && e->kind == FORKPOOL_ERR_EXITED && e->code == 3, "exit(3): EXITED, code 3");
    forkpool_task_release(t);

    /* Timeouts: the timeout handler takes it; set_timeout on a running
       task moves its deadline on its rank. */
    int ms = 5000;
    t = forkpool_timeout(forkpool_set_timeout(forkpool_run(p, sleeper, &ms, sizeof ms), 200),
                         on_timeout, NULL);
    is(forkpool_wait(t), 1, "a sleeper past its limit failed");
    ok(forkpool_task_error(t) && forkpool_task_error(t)->kind == FORKPOOL_ERR_TIMEOUT, "TIMEOUT");
    is(timeouts, 1, "its timeout handler ran");
    forkpool_task_release(t);

    /* Cancel of a running task, and stop. */
    t = forkpool_run(p, sleeper, &ms, sizeof ms);
    is(forkpool_cancel(t), 0, "cancel a running remote task");
    is(forkpool_wait(t), 1, "it failed");
    ok(forkpool_task_error(t) && forkpool_task_error(t)->kind == FORKPOOL_ERR_CANCELLED,
       "CANCELLED");
    forkpool_task_release(t);
    is(forkpool_await(p), 3, "await: throw, crash and exit were unhandled (a cancel is not counted)");
    for (int i = 0; i < 5; i++)
        forkpool_task_release(forkpool_run(p, sleeper, &ms, sizeof ms));
    forkpool_stop(p);
    is(forkpool_await(p), 0, "stop: cancels are not failures for await");
    st = forkpool_get_stats(p);
    is(st.cancelled, 6, "stats: 6 cancelled in all");
    is(st.timed_out, 1, "stats: 1 timed out");

    /* forkpool_fd in the caller's own poll loop. */
    ms = 100;
    t = forkpool_run(p, sleeper, &ms, sizeof ms);
    int turns = 0;
    while (forkpool_task_state(t) != FORKPOOL_SUCCEEDED && turns < 1000) {
        struct pollfd pfd = {.fd = forkpool_fd(p), .events = POLLIN};
        poll(&pfd, 1, 5000);
        forkpool_poll(p, 0);
        turns++;
    }
    is(forkpool_task_state(t), FORKPOOL_SUCCEEDED, "forkpool_fd: done through poll()");
    ok(turns < 200, "without spinning (%d turns for 100 ms)", turns);
    forkpool_task_release(t);

    /* Unregistered functions, child_init. */
    errno = 0;
    ok(forkpool_run(p, not_registered, "", 0) == NULL && errno == ENOENT,
       "an unregistered function: NULL, ENOENT");
    forkpool_options bad = {.mode = FORKPOOL_MPI, .child_init = (void (*)(void *))abort};
    errno = 0;
    ok(forkpool_create(&bad) == NULL && errno == EINVAL, "child_init: EINVAL");
    forkpool_destroy(p);

    /* forkpool_map over the ranks, a failing item included. */
    p = make(0, 0, 0);
    int items[100];
    long want = 0;
    for (int i = 0; i < 100; i++) {
        items[i] = i;
        if (i != 13)
            want += (long)i * i;
    }
    is(forkpool_map(p, square, items, 100, sizeof(int), on_item, items), 1, "map: 1 item failed");
    is(map_sum, want, "map: every other result");
    is(map_failed_at, 13, "map: item 13 threw its own error");
    errno = 0;
    is(forkpool_map(p, not_registered, items, 1, sizeof(int), on_item, items), -1,
       "map of an unregistered function: -1");
    is(errno, ENOENT, "ENOENT");

    /* Programs run on a serving rank. */
    const char *echo_argv[] = {"sh", "-c", "printf hi; printf oops >&2; exit 0", NULL};
    forkpool_exec_options xo = {.capture = FORKPOOL_CAPTURE_STDOUT | FORKPOOL_CAPTURE_STDERR};
    t = forkpool_exec(p, echo_argv, &xo);
    is(forkpool_wait(t), 0, "exec on a rank succeeded");
    res = forkpool_task_result(t, &len);
    is_mem(res, len, "hi", 2, "its stdout is the result");
    res = forkpool_task_stderr(t, &len);
    is_mem(res, len, "oops", 4, "its stderr");
    forkpool_task_release(t);
    const char *cat_argv[] = {"cat", NULL};
    forkpool_exec_options in = {.input = "abc", .input_len = 3,
                                .capture = FORKPOOL_CAPTURE_STDOUT};
    t = forkpool_exec(p, cat_argv, &in);
    is(forkpool_wait(t), 0, "exec with input");
    res = forkpool_task_result(t, &len);
    is_mem(res, len, "abc", 3, "its stdin reached it");
    forkpool_task_release(t);
    const char *fail_argv[] = {"sh", "-c", "exit 7", NULL};
    t = forkpool_exec(p, fail_argv, NULL);
    is(forkpool_wait(t), 1, "exit 7 failed");
    e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_EXITED && e->code == 7, "EXITED, code 7");
    forkpool_task_release(t);
    const char *missing[] = {"/nonexistent/prog", NULL};
    t = forkpool_exec(p, missing, NULL);
    is(forkpool_wait(t), 1, "a missing program failed");
    e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_SPAWN && e->code == ENOENT, "SPAWN, ENOENT");
    forkpool_task_release(t);
    forkpool_destroy(p);

    /* max_output applies on the serving rank. */
    p = make(0, 0, 1000);
    e = run_fail(p, big, &t);
    ok(e && e->kind == FORKPOOL_ERR_OUTPUT, "max_output: OUTPUT");
    forkpool_task_release(t);
    forkpool_destroy(p);

    /* Rank 0 busy elsewhere past the heartbeat limit (7 s; a rank silent
       for 5 s is lost) while its tasks are out: its heartbeat thread
       beats for it, so no serving rank gives up on it, nor it on them.
       (The thread once ended at its start now and then, and both ranks
       then gave up on rank 0 here.) */
    p = make(1, 0, 0);
    nap_ms = 200;
    for (int i = 0; i < 2; i++)
        forkpool_task_release(forkpool_run(p, sleeper, &nap_ms, sizeof nap_ms));
    sleep(7);
    is(forkpool_await(p), 0, "busy elsewhere for 7 s: the tasks out meanwhile succeeded");
    for (int i = 0; i < 4; i++)
        ts[i] = forkpool_run(p, rank_of, "", 0);
    is(forkpool_await(p), 0, "and the next ones");
    seen[1] = seen[2] = 0;
    for (int i = 0; i < 4; i++) {
        size_t len;
        const int *r = forkpool_task_result(ts[i], &len);
        if (r && len == sizeof(int) && *r >= 1 && *r < 3)
            seen[*r]++;
        forkpool_task_release(ts[i]);
    }
    ok(seen[1] > 0 && seen[2] > 0, "both serving ranks still serve (%d, %d of 4)", seen[1], seen[2]);
    forkpool_destroy(p);

    is(forkpool_mpi_finalize(), 0, "finalize");
    return done_testing();
}
