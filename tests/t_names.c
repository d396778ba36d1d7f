/* forkpool_register, and a FORKPOOL_MPI pool without MPI (the plain
   library, no forkpool_mpi_init): its tasks run in children of this
   process as FRESH ones do, under the same rules for names as on a
   cluster: unregistered functions are ENOENT, child_init and fork_server
   are EINVAL. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "forkpool.h"
#include "tap.h"

static int twice(forkpool_ctx *ctx, const void *arg, size_t len)
{
    int v;
    if (len != sizeof v)
        return forkpool_throw(ctx, "app.len", "want an int");
    memcpy(&v, arg, sizeof v);
    v *= 2;
    return forkpool_return(ctx, &v, sizeof v);
}

static int pid_of(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    pid_t p = getpid();
    return forkpool_return(ctx, &p, sizeof p);
}

static int crash(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
    return 0;
}

static int unnamed(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    return 0;
}

static void init(void *arg)
{
    (void)arg;
}

static int sum;
static void add(size_t i, const void *result, size_t len, const forkpool_error *err, void *ud)
{
    (void)i;
    (void)ud;
    int v;
    if (!err && len == sizeof v) {
        memcpy(&v, result, sizeof v);
        sum += v;
    }
}

int main(void)
{
    tap_watchdog(60);
    char long_name[65];
    memset(long_name, 'x', 64);
    long_name[64] = 0;

    errno = 0;
    ok(forkpool_register(NULL, twice) == -1 && errno == EINVAL, "register: NULL name is EINVAL");
    errno = 0;
    ok(forkpool_register("", twice) == -1 && errno == EINVAL, "register: empty name is EINVAL");
    errno = 0;
    ok(forkpool_register("twice", NULL) == -1 && errno == EINVAL, "register: NULL fn is EINVAL");
    errno = 0;
    ok(forkpool_register(long_name, twice) == -1 && errno == EINVAL,
       "register: a 64-byte name is EINVAL");
    long_name[63] = 0;
    is(forkpool_register(long_name, pid_of), 0, "register: a 63-byte name is fine");
    is(forkpool_register("twice", twice), 0, "register twice()");
    errno = 0;
    ok(forkpool_register("twice", crash) == -1 && errno == EEXIST, "the same name again: EEXIST");
    errno = 0;
    ok(forkpool_register("again", twice) == -1 && errno == EEXIST, "the same fn again: EEXIST");
    errno = 0;
    ok(forkpool_register("forkpool.map", crash) == -1 && errno == EEXIST,
       "the library's own name: EEXIST");
    is(forkpool_register("crash", crash), 0, "register crash()");

    forkpool_options bad = {.mode = FORKPOOL_MPI, .child_init = init};
    errno = 0;
    ok(forkpool_create(&bad) == NULL && errno == EINVAL, "MPI with child_init: EINVAL");
    forkpool_options bad2 = {.mode = FORKPOOL_MPI, .fork_server = 1};
    errno = 0;
    ok(forkpool_create(&bad2) == NULL && errno == EINVAL, "MPI with fork_server: EINVAL");

    int fds = tap_fd_count();
    forkpool_options o = {.mode = FORKPOOL_MPI, .concurrency = 2};
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "an MPI pool without MPI");

    errno = 0;
    ok(forkpool_run(p, unnamed, "", 0) == NULL && errno == ENOENT, "unregistered: NULL, ENOENT");
    int v = 21;
    forkpool_task *t = forkpool_run(p, twice, &v, sizeof v);
    is(forkpool_wait(t), 0, "a registered task ran");
    size_t len;
    const int *r = forkpool_task_result(t, &len);
    ok(r && len == sizeof v && *r == 42, "its result");
    forkpool_task_release(t);

    t = forkpool_run(p, pid_of, "", 0);
    is(forkpool_wait(t), 0, "pid_of ran");
    const pid_t *pid = forkpool_task_result(t, &len);
    ok(pid && len == sizeof *pid && *pid != getpid() && *pid == forkpool_task_pid(t),
       "in a child of this process");
    forkpool_task_release(t);

    t = forkpool_run(p, crash, "", 0);
    is(forkpool_wait(t), 1, "a crash fails its task");
    const forkpool_error *e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_SIGNALED, "SIGNALED");
    forkpool_task_release(t);
    is(forkpool_await(p), 1, "await: the crash was unhandled");

    int items[10];
    for (int i = 0; i < 10; i++)
        items[i] = i;
    is(forkpool_map(p, twice, items, 10, sizeof(int), add, NULL), 0, "map of a registered fn");
    is(sum, 90, "every item's result");
    errno = 0;
    ok(forkpool_map(p, unnamed, items, 10, sizeof(int), add, NULL) == -1 && errno == ENOENT,
       "map of an unregistered fn: -1, ENOENT");

    const char *argv[] = {"sh", "-c", "printf ok", NULL};
    forkpool_exec_options xo = {.capture = FORKPOOL_CAPTURE_STDOUT};
    t = forkpool_exec(p, argv, &xo);
    is(forkpool_wait(t), 0, "exec runs");
    const void *out = forkpool_task_result(t, &len);
    is_mem(out, len, "ok", 2, "its stdout");
    forkpool_task_release(t);

    is_str(forkpool_error_kind_name(FORKPOOL_ERR_LOST), "lost", "the LOST kind's name");
    forkpool_destroy(p);
    ok(tap_no_children(), "no child left");
    is(tap_fd_count(), fds, "no fd left");
    return done_testing();
}
