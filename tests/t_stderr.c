/* capture_stderr (issue #11): a function task's stderr is captured, the
   last 64 KiB kept, forkpool_task_stderr returns it, and the message of a
   task that crashed, exited or threw ends with its last non-empty line
   (spatie/async puts the child's error output in the exception). Each task
   gets only its own, also on a worker that ran others before it; a task
   that writes much more than a pipe holds does not block. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpool.h"
#include "tap.h"

enum { END_OK, END_ABORT, END_EXIT, END_THROW };

struct job {
    int end;
    int tag;      /* written in every line */
    size_t bulk;  /* bytes of filler before the last line */
};

static int task_write(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    struct job j;
    memcpy(&j, arg, sizeof j);
    fprintf(stderr, "task %d: starting\n", j.tag);
    char fill[4096];
    memset(fill, 'x', sizeof fill);
    for (size_t done = 0; done < j.bulk;) {
        size_t n = j.bulk - done < sizeof fill ? j.bulk - done : sizeof fill;
        fill[n - 1] = '\n';
        for (size_t off = 0; off < n;) {
            ssize_t w = write(STDERR_FILENO, fill + off, n - off);
            if (w < 0 && errno != EINTR)
                return forkpool_throw(ctx, "test", "write to stderr: %s", strerror(errno));
            off += w > 0 ? (size_t)w : 0;
        }
        fill[n - 1] = 'x';
        done += n;
    }
    fprintf(stderr, "task %d: reason: bad input\n\n  \n", j.tag);
    switch (j.end) {
    case END_ABORT:
        abort();
    case END_EXIT:
        exit(3);
    case END_THROW:
        return forkpool_throw(ctx, "app.input", "task %d refused its input", j.tag);
    default:
        return 0;
    }
}

static forkpool_task *run_job(forkpool *p, int end, int tag, size_t bulk)
{
    struct job j = {end, tag, bulk};
    forkpool_task *t = forkpool_run(p, task_write, &j, sizeof j);
    if (!t)
        bail_out("forkpool_run failed");
    return t;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void captured(void)
{
    forkpool_options o = {.concurrency = 2, .capture_stderr = 1};
    forkpool *p = forkpool_create(&o);
    forkpool_task *t[4];
    for (int k = 0; k < 4; k++)
        t[k] = run_job(p, k, k, 0);
    const char *what[4] = {"succeeded", "aborted", "exited", "threw"};
    for (int k = 0; k < 4; k++) {
        is(forkpool_wait(t[k]), k == END_OK ? 0 : 1, "%s: ended as it should", what[k]);
        size_t n;
        const char *err = forkpool_task_stderr(t[k], &n);
        char want[128];
        snprintf(want, sizeof want, "task %d: starting\ntask %d: reason: bad input\n\n  \n", k, k);
        is_mem(err, n, want, strlen(want), "%s: its stderr, whole", what[k]);
        const forkpool_error *e = forkpool_task_error(t[k]);
        snprintf(want, sizeof want, "; stderr: task %d: reason: bad input", k);
        if (k == END_OK)
            ok(e == NULL, "%s: no error", what[k]);
        else
            ok(e && ends_with(e->message, want), "%s: the message ends with the last line (%s)",
               what[k], e ? e->message : "");
    }
    const forkpool_error *e = forkpool_task_error(t[END_ABORT]);
    ok(e && e->kind == FORKPOOL_ERR_SIGNALED && e->code == SIGABRT &&
           strstr(e->message, "signal 6"),
       "aborted: still SIGNALED, signal 6, saying so");
    e = forkpool_task_error(t[END_EXIT]);
    ok(e && e->kind == FORKPOOL_ERR_EXITED && e->code == 3, "exited: still EXITED, status 3");
    e = forkpool_task_error(t[END_THROW]);
    ok(e && e->kind == FORKPOOL_ERR_THROWN && strcmp(e->type, "app.input") == 0 &&
           strncmp(e->message, "task 3 refused its input; stderr: ", 34) == 0,
       "threw: its type and own message first (%s)", e ? e->message : "");
    for (int k = 0; k < 4; k++)
        forkpool_task_release(t[k]);
    forkpool_destroy(p);
}

/* 1 MiB of stderr: far past the pipe; the task is not blocked, the last
   64 KiB are kept and end with its last line. */
static void bulk(void)
{
    forkpool_options o = {.concurrency = 2, .capture_stderr = 1};
    forkpool *p = forkpool_create(&o);
    forkpool_task *t = run_job(p, END_ABORT, 7, (size_t)1 << 20);
    is(forkpool_wait(t), 1, "1 MiB of stderr: ran to its abort");
    size_t n;
    const char *err = forkpool_task_stderr(t, &n);
    is(n, (size_t)64 << 10, "1 MiB of stderr: the last 64 KiB kept");
    const char *tail = "task 7: reason: bad input\n\n  \n";
    ok(n >= strlen(tail) && memcmp(err + n - strlen(tail), tail, strlen(tail)) == 0,
       "1 MiB of stderr: ending with what it wrote last");
    const forkpool_error *e = forkpool_task_error(t);
    ok(e && ends_with(e->message, "; stderr: task 7: reason: bad input"),
       "1 MiB of stderr: the message ends with the last line");
    forkpool_task_release(t);
    forkpool_destroy(p);
}

/* Many tasks, one at a time (a worker runs them all in WORKERS): each
   task's stderr is its own. */
static void separate(void)
{
    forkpool_options o = {.concurrency = 1, .capture_stderr = 1};
    forkpool *p = forkpool_create(&o);
    enum { N = 100 }; /* many ENDs with stderr still in the pipe */
    forkpool_task *t[N];
    for (int k = 0; k < N; k++)
        t[k] = run_job(p, END_OK, 100 + k, (size_t)(k % 3) * 10000);
    is(forkpool_await(p), 0, "separate: all succeeded");
    int own = 0;
    for (int k = 0; k < N; k++) {
        const forkpool_error *e = forkpool_task_error(t[k]);
        if (e)
            diag("task %d failed: %s", 100 + k, e->message);
        size_t n;
        const char *err = forkpool_task_stderr(t[k], &n);
        char first[64], last[64];
        snprintf(first, sizeof first, "task %d: starting\n", 100 + k);
        snprintf(last, sizeof last, "task %d: reason: bad input\n\n  \n", 100 + k);
        size_t want = strlen(first) + (size_t)(k % 3) * 10000 + strlen(last);
        own += n == want && memcmp(err, first, strlen(first)) == 0 &&
               memcmp(err + n - strlen(last), last, strlen(last)) == 0;
        forkpool_task_release(t[k]);
    }
    is(own, N, "separate: each task's stderr is exactly its own");
    forkpool_destroy(p);
}

static void not_captured(void)
{
    forkpool *p = forkpool_create(NULL);
    forkpool_task *t = run_job(p, END_EXIT, 9, 0);
    is(forkpool_wait(t), 1, "not captured: exited");
    size_t n = 99;
    const char *err = forkpool_task_stderr(t, &n);
    ok(err && n == 0, "not captured: forkpool_task_stderr is empty");
    const forkpool_error *e = forkpool_task_error(t);
    ok(e && !strstr(e->message, "stderr"), "not captured: the message as before (%s)",
       e ? e->message : "");
    forkpool_task_release(t);
    forkpool_destroy(p);

    forkpool_options o = {.mode = FORKPOOL_INLINE, .capture_stderr = 1};
    p = forkpool_create(&o);
    ok(p != NULL, "INLINE with capture_stderr: made (nothing to capture)");
    t = run_job(p, END_THROW, 10, 0);
    is(forkpool_wait(t), 1, "INLINE: threw");
    err = forkpool_task_stderr(t, &n);
    ok(err && n == 0, "INLINE: nothing captured");
    forkpool_task_release(t);
    forkpool_destroy(p);

    o.mode = FORKPOOL_MPI;
    errno = 0;
    ok(forkpool_create(&o) == NULL && errno == EINVAL, "FORKPOOL_MPI with capture_stderr: EINVAL");
}

int main(void)
{
    tap_watchdog(120);
    int fds = tap_fd_count();
    captured();
    bulk();
    separate();
    not_captured();
    is(tap_fd_count(), fds, "no fd left");
    ok(tap_no_children(), "no children left");
    return done_testing();
}
