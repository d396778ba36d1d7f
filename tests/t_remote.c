/* FORKPOOL_MPI's rank-0 side (remote.c) and serving side (agent.c) without
   MPI: two agents forked by the test stand in for the serving ranks
   (loopback.c), so every variant, ASan and valgrind run them. The same
   promises as tests/mpi/m_pool.c under mpirun: results of any size,
   messages, throw, crash, exit, timeout (the pool's and a moved one),
   cancel, stop, max_output, concurrency per rank, forkpool_fd,
   forkpool_map, forkpool_exec, unregistered functions, keep_seed, the
   task's usage measured on its rank; and a lost rank: its started tasks
   fail LOST, the rest run on the other rank. The codec refuses a length
   it cannot hold, and an agent refuses a truncated request. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "forkpool.h"
#include "loopback.h"
#include "rmsg.h"
#include "tap.h"

#define BIG ((size_t)8 << 20)

/* The rank a task runs on: its agent is its parent. */
static int rank_of(forkpool_ctx *ctx, const void *arg, size_t len)
{
    pid_t agent = getppid();
    (void)arg;
    (void)len;
    return forkpool_return(ctx, &agent, sizeof agent);
}

static int which_rank(pid_t agent)
{
    for (int r = 1; r <= 2; r++)
        if (fp_loopback_pid(r) == agent)
            return r;
    return 0;
}

/* Registered after the agents were forked: they do not know it. */
static int late(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    return 0;
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

/* Counts the SIGHUPs its process gets (shared with the test, mapped before
   the agents were forked). */
static struct hups {
    _Atomic int started, got;
} *hups;

static void on_hup(int sig)
{
    (void)sig;
    atomic_fetch_add(&hups->got, 1);
}

static int hup_counter(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    signal(SIGHUP, on_hup);
    atomic_store(&hups->started, 1);
    tap_pause_forever();
}

static int draw(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    int v = rand();
    return forkpool_return(ctx, &v, sizeof v);
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

static int lost;
static void on_lost(forkpool_task *t, const forkpool_error *err, void *ud)
{
    (void)t;
    (void)err;
    (void)ud;
    lost++;
}

/* A pool's kill sequence reaches its serving ranks: a timed-out task
   there gets its SIGHUP, then SIGKILL. */
static void kill_sequence(void)
{
    const forkpool_kill_step seq[] = {{SIGHUP, 200L * tap_scale()}};
    forkpool_options o = {.mode = FORKPOOL_MPI, .concurrency = 1, .kill_sequence = seq,
                          .kill_steps = 1};
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "a FORKPOOL_MPI pool with a kill sequence");
    if (!p)
        return;
    forkpool_task *t = forkpool_run(p, hup_counter, "", 0);
    ok(TAP_WAIT_UNTIL((forkpool_poll(p, 5), atomic_load(&hups->started)), 10000),
       "its task started on a rank");
    forkpool_set_timeout(t, 1);
    is(forkpool_wait(t), 1, "it failed");
    ok(forkpool_task_error(t) && forkpool_task_error(t)->kind == FORKPOOL_ERR_TIMEOUT, "TIMEOUT");
    is(atomic_load(&hups->got), 1, "it got the sequence's SIGHUP before the SIGKILL");
    forkpool_destroy(p);
}

/* Rank 1's agent dies with two tasks running there. */
static void lost_rank(void)
{
    forkpool *p = make(2, 0, 0);
    int ms = 60000, quick = 0;
    forkpool_task *a = forkpool_catch(forkpool_run(p, sleeper, &ms, sizeof ms), on_lost, NULL);
    forkpool_task *b = forkpool_run(p, rank_of, "", 0); /* rank 2 */
    forkpool_task *c = forkpool_catch(forkpool_run(p, sleeper, &ms, sizeof ms), on_lost, NULL);
    forkpool_task *more[6];
    is(forkpool_wait(b), 0, "a task on rank 2");
    TAP_WAIT_UNTIL((forkpool_poll(p, 10), forkpool_task_pid(a) > 0 && forkpool_task_pid(c) > 0),
                   5000);
    ok(forkpool_task_pid(a) > 0 && forkpool_task_pid(c) > 0, "two long tasks started on rank 1");
    for (int i = 0; i < 6; i++)
        more[i] = forkpool_run(p, sleeper, &quick, sizeof quick);
    pid_t agent1 = fp_loopback_pid(1), pa = forkpool_task_pid(a);
    kill(agent1, SIGKILL);
    is(forkpool_await(p), 0, "await: the lost tasks were caught");
    is(lost, 2, "both tasks on the lost rank failed");
    const forkpool_error *e = forkpool_task_error(a);
    ok(e && e->kind == FORKPOOL_ERR_LOST && strcmp(e->type, "forkpool.lost") == 0,
       "LOST, forkpool.lost: %s", e ? e->message : "(none)");
    int good = 0;
    for (int i = 0; i < 6; i++) {
        good += forkpool_task_state(more[i]) == FORKPOOL_SUCCEEDED;
        forkpool_task_release(more[i]);
    }
    is(good, 6, "the tasks queued meanwhile ran on rank 2");
    ok(TAP_WAIT_UNTIL(kill(pa, 0) == -1, 5000), "the lost rank's task child is gone");
    forkpool_task *d = forkpool_run(p, rank_of, "", 0);
    is(forkpool_wait(d), 0, "a new task after the loss");
    const pid_t *r = forkpool_task_result(d, NULL);
    ok(r && which_rank(*r) == 2, "it ran on rank 2");
    forkpool_task_release(a);
    forkpool_task_release(b);
    forkpool_task_release(c);
    forkpool_task_release(d);
    forkpool_destroy(p);
}

/* A length field of 0xFFFFFFFF with nothing after it is a short message,
   not an absent field. */
static void codec(void)
{
    fp_buf b = {NULL, 0, 0};
    fp_rd r;
    fp_rmsg h;
    size_t n;
    ok(fp_rmsg_begin(&b, FP_R_MSG, 1, 2) == 0 && fp_rmsg_u64(&b, 0xFFFFFFFFu) == 0,
       "codec: a message claiming 4 GiB - 1 bytes");
    is(fp_rmsg_open(&r, &h, b.p, b.len), 0, "codec: its header");
    ok(fp_rd_bytes(&r, &n) == NULL && r.bad, "codec: refused as short, not read as absent");
    ok(fp_rmsg_begin(&b, FP_R_MSG, 1, 2) == 0 && fp_rmsg_bytes(&b, NULL, 0) == 0 &&
           fp_rmsg_open(&r, &h, b.p, b.len) == 0 && fp_rd_bytes(&r, &n) == NULL && !r.bad,
       "codec: an absent field reads back absent");
    fp_buf_free(&b);
}

/* Reads frames from fd until one of type; its fields in *r (msg kept in
   *in). 0, or -1. */
static int read_type(int fd, fp_buf *in, uint32_t type, fp_rd *r)
{
    for (;;) {
        size_t len, used;
        const unsigned char *m;
        while ((m = fp_rmsg_next(in->p, in->len, &len, &used))) {
            fp_rmsg h;
            if (fp_rmsg_open(r, &h, m, len) == 0 && h.type == type) {
                /* (in->p stays valid until the next read) */
                memmove(in->p, m, len);
                r->p = in->p;
                in->len = 0;
                return 0;
            }
            memmove(in->p, in->p + used, in->len - used);
            in->len -= used;
        }
        if (fp_buf_read(in, fd) <= 0)
            return -1;
    }
}

/* A RUN cut short (its item name and argument missing) fails PROTOCOL on
   the agent, not run with an empty argument. */
static void truncated_run(void)
{
    int fd;
    pid_t pid = fp_agent_start(&fd, NULL, 0);
    ok(pid > 0, "an agent on its own");
    fp_buf b = {NULL, 0, 0}, in = {NULL, 0, 0};
    fp_rd r;
    ok(read_type(fd, &in, FP_R_HELLO, &r) == 0, "its HELLO");
    fp_rmsg_begin(&b, FP_R_POOL, 7, 0);
    fp_rmsg_u32(&b, 1);
    for (int i = 0; i < 4; i++)
        fp_rmsg_u64(&b, 0);
    fp_rmsg_u32(&b, 0);
    fp_rmsg_send(fd, b.p, b.len);
    fp_rmsg_begin(&b, FP_R_RUN, 7, 1);
    fp_rmsg_u64(&b, 0);
    fp_rmsg_str(&b, "echo");
    ok(fp_rmsg_send(fd, b.p, b.len) == 0, "a RUN without its item name and argument");
    ok(read_type(fd, &in, FP_R_DONE, &r) == 0, "its DONE");
    (void)fp_rd_u32(&r);
    uint32_t state = fp_rd_u32(&r), kind = fp_rd_u32(&r);
    ok(state == FORKPOOL_FAILED && kind == FORKPOOL_ERR_PROTOCOL, "it failed PROTOCOL (%u, %u)",
       state, kind);
    fp_rmsg_begin(&b, FP_R_END, 0, 0);
    fp_rmsg_send(fd, b.p, b.len);
    ok(read_type(fd, &in, FP_R_BYE, &r) == 0, "END: BYE");
    close(fd);
    int status;
    ok(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "the agent ended");
    fp_buf_free(&b);
    fp_buf_free(&in);
}

int main(int argc, char **argv)
{
    forkpool_fn fns[] = {rank_of, echo, big, chatty, thrower, crasher, exiter, sleeper, square,
                         draw, hup_counter};
    const char *names[] = {"rank_of", "echo", "big", "chatty", "thrower",
                           "crasher", "exiter", "sleeper", "square", "draw", "hup_counter"};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (forkpool_register(names[i], fns[i]) != 0)
            return 1;
    (void)argc;
    (void)argv;
    tap_watchdog(120);
    int fds0 = tap_fd_count();
    codec();
    truncated_run();
    hups = tap_shared(sizeof *hups);
    is(fp_loopback_start(2), 0, "two serving agents");
    is(forkpool_register("late", late), 0, "a function registered after they started");

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
        const pid_t *r = forkpool_task_result(ts[i], &len);
        if (r && len == sizeof(pid_t))
            seen[which_rank(*r)]++;
        ok(forkpool_task_pid(ts[i]) > 0, "task %d: the pid of its child on its rank", i);
        forkpool_task_release(ts[i]);
    }
    is(seen[0], 0, "no task ran here");
    ok(seen[1] > 0 && seen[2] > 0 && seen[1] + seen[2] == 4, "tasks ran on ranks 1 and 2");

    /* Argument bytes cross and come back; a big result. */
    char arg[100];
    for (int i = 0; i < 100; i++)
        arg[i] = (char)i;
    forkpool_task *t = forkpool_run(p, echo, arg, sizeof arg);
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
    t = forkpool_run(p, late, "", 0);
    is(forkpool_wait(t), 1, "a function the serving side does not know fails");
    e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_SPAWN && e->code == ENOENT && strstr(e->message, "late"),
       "SPAWN, ENOENT, naming it: %s", e ? e->message : "(none)");
    forkpool_task_release(t);
    forkpool_await(p);
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

    /* keep_seed applies on the serving rank: its children draw alike. */
    forkpool_options ks = {.mode = FORKPOOL_MPI, .concurrency = 1, .keep_seed = 1};
    p = forkpool_create(&ks);
    forkpool_task *d1 = forkpool_run(p, draw, "", 0), *d2 = forkpool_run(p, draw, "", 0);
    const int *v1 = forkpool_wait(d1) == 0 ? forkpool_task_result(d1, NULL) : NULL;
    const int *v2 = forkpool_wait(d2) == 0 ? forkpool_task_result(d2, NULL) : NULL;
    ok(v1 && v2 && *v1 == *v2, "keep_seed: two children drew the same number");
    forkpool_task_release(d1);
    forkpool_task_release(d2);
    forkpool_destroy(p);

    /* The usage measured on the rank comes back with DONE. */
    p = make(1, 0, 0);
    ms = 200;
    t = forkpool_run(p, sleeper, &ms, sizeof ms);
    forkpool_usage u = {0, 0, 0, 0};
    is(forkpool_wait(t), 0, "a 200 ms task");
    is(forkpool_task_usage(t, &u), 0, "its usage");
    ok(u.wall_s >= 0.199, "wall time from its rank: %.3f s", u.wall_s);
    ok(u.max_rss_kib > 0, "peak RSS from its rank: %ld KiB", (long)u.max_rss_kib);
    forkpool_task_release(t);
    forkpool_destroy(p);

    /* max_output applies on the serving rank. */
    p = make(0, 0, 1000);
    e = run_fail(p, big, &t);
    ok(e && e->kind == FORKPOOL_ERR_OUTPUT, "max_output: OUTPUT");
    forkpool_task_release(t);
    forkpool_destroy(p);

    kill_sequence();
    lost_rank();
    is(fp_loopback_stop(), 0, "the agents ended");
    tap_shared_free(hups, sizeof *hups);
    ok(tap_no_children(), "no child left");
    is(tap_fd_count(), fds0, "no fd left");
    return done_testing();
}
