/* The channel is input a crashed or hostile task controls: every malformed
   stream fails only that task, with FORKPOOL_ERR_PROTOCOL or _OUTPUT and a
   message, and the pool goes on working. The task finds its channel as the
   one pipe among its fds and writes raw bytes to it. */
#include <stdint.h>

#include "forkpool.h"
#include "tap.h"


static void header(int fd, uint32_t type, uint64_t len)
{
    unsigned char h[16];
    uint32_t magic = 0x314b5046u;
    memcpy(h, &magic, 4);
    memcpy(h + 4, &type, 4);
    memcpy(h + 8, &len, 8);
    tap_put(fd, h, sizeof h);
}

enum { BAD_MAGIC, HUGE_RESULT, BAD_THROW, TRUNCATED, AFTER_END, UNKNOWN_TYPE, BAD_END, NMODES };

static int task_garbage(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)len;
    int mode, fd = tap_channel_fd();
    int32_t zero = 0;
    memcpy(&mode, arg, sizeof mode);
    if (fd < 0)
        _exit(91);
    switch (mode) {
    case BAD_MAGIC:
        tap_put(fd, "garbage garbage garbage!", 24);
        break;
    case HUGE_RESULT: /* then hang: the parent must not wait for 4 EiB */
        header(fd, 2, (uint64_t)1 << 62);
        tap_pause_forever();
    case BAD_THROW: {
        uint32_t type_len = 0xffffffffu;
        header(fd, 3, 8);
        tap_put(fd, &zero, 4);
        tap_put(fd, &type_len, 4);
        break;
    }
    case TRUNCATED:
        header(fd, 2, 100);
        tap_put(fd, "short", 5);
        break;
    case AFTER_END:
        header(fd, 4, 4);
        tap_put(fd, &zero, 4);
        header(fd, 1, 0);
        break;
    case UNKNOWN_TYPE:
        header(fd, 77, 0);
        break;
    case BAD_END:
        header(fd, 4, 3);
        tap_put(fd, "abc", 3);
        break;
    }
    _exit(0);
}

static int task_ok(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return forkpool_return(ctx, "fine", 4);
}

static void run_modes(int fallback)
{
    static const struct {
        forkpool_error_kind kind;
        const char *words;
    } want[NMODES] = {
        [BAD_MAGIC] = {FORKPOOL_ERR_PROTOCOL, "bad magic"},
        [HUGE_RESULT] = {FORKPOOL_ERR_OUTPUT, "bytes"},
        [BAD_THROW] = {FORKPOOL_ERR_PROTOCOL, "bad error frame"},
        [TRUNCATED] = {FORKPOOL_ERR_PROTOCOL, "middle of a frame"},
        [AFTER_END] = {FORKPOOL_ERR_PROTOCOL, "after its end"},
        [UNKNOWN_TYPE] = {FORKPOOL_ERR_PROTOCOL, "unknown type 77"},
        [BAD_END] = {FORKPOOL_ERR_PROTOCOL, "end frame of 3 bytes"},
    };
    const char *mode_name = fallback ? "fallback" : "default";
    if (fallback)
        setenv("FORKPOOL_NO_PIDFD", "1", 1);
    else
        unsetenv("FORKPOOL_NO_PIDFD");
    int fds = tap_fd_count();
    forkpool_options o = {0};
    o.concurrency = 2;
    o.max_output = (size_t)1 << 30; /* HUGE_RESULT is over it */
    forkpool *pool = forkpool_create(&o);
    ok(pool != NULL, "%s: create", mode_name);
    for (int m = 0; m < NMODES; m++) {
        forkpool_task *t = forkpool_run(pool, task_garbage, &m, sizeof m);
        forkpool_set_timeout(t, 5000L * tap_scale());
        if (m == AFTER_END && tap_workers()) {
            /* A worker's task ends with its END frame; what follows is
               not its own, and ends the worker without blaming anyone. */
            is(forkpool_wait(t), 0, "%s: mode %d: the task ended well at its END", mode_name, m);
            forkpool_task_release(t);
            continue;
        }
        is(forkpool_wait(t), 1, "%s: mode %d fails", mode_name, m);
        const forkpool_error *e = forkpool_task_error(t);
        ok(e && e->kind == want[m].kind, "%s: mode %d kind %s", mode_name, m,
           e ? forkpool_error_kind_name(e->kind) : "none");
        ok(e && strstr(e->message, want[m].words), "%s: mode %d message '%s'", mode_name, m,
           e ? e->message : "");
        forkpool_task_release(t);
    }
    forkpool_task *t = forkpool_run(pool, task_ok, NULL, 0);
    is(forkpool_wait(t), 0, "%s: the pool still works afterwards", mode_name);
    forkpool_task_release(t);
    forkpool_stats s = forkpool_get_stats(pool);
    is(s.failed, NMODES - tap_workers(), "%s: every malformed stream counted as failed",
       mode_name);
    forkpool_destroy(pool);
    is(tap_fd_count(), fds, "%s: no fd left", mode_name);
    ok(tap_no_children(), "%s: no child left", mode_name);
}

int main(void)
{
    tap_watchdog(60);
    run_modes(0);
    run_modes(1);
    return done_testing();
}
