/*
 * poll_loop: forkpool inside a program's own event loop.
 *
 * The program already has a poll() loop: here it watches stdin (press Enter to
 * cancel the remaining tasks) and a timerfd that redraws a progress line every
 * 200 ms. forkpool adds one more fd to that loop, forkpool_fd(); whenever it
 * is readable the loop calls forkpool_poll(pool, 0), which handles whatever
 * happened and runs the due handlers, without blocking.
 *
 * Six simulated downloads run three at a time; each reports its progress with
 * forkpool_send, which arrives in an on_message handler. One of them fails
 * half way through.
 *
 *   build/examples/poll_loop            (press Enter to cancel)
 *   build/examples/poll_loop </dev/null (runs to the end)
 */
#include <forkpool.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* What the child needs: copied into it by forkpool_run. */
struct job_spec {
    int steps;   /* progress messages to send                      */
    int step_ms; /* simulated work per step                        */
    int fail_at; /* step at which the download "fails"; -1: never   */
};

/* What the parent shows: updated by the handlers. */
struct job_view {
    const char *name;
    int percent;  /* from the last progress message */
    char state;   /* '.' queued/running, 'D' done, 'F' failed, 'C' cancelled */
};

static int sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

/* The task, in the child: "downloads" step by step and reports each percent. */
static int download_task(forkpool_ctx *ctx, const void *arg, size_t len)
{
    struct job_spec spec;
    if (len != sizeof spec)
        return forkpool_throw(ctx, "usage", "bad job spec (%zu bytes)", len);
    memcpy(&spec, arg, sizeof spec);

    for (int step = 1; step <= spec.steps; step++) {
        if (sleep_ms(spec.step_ms) != 0)
            return forkpool_throw(ctx, "os", "nanosleep: %s", strerror(errno));
        if (step == spec.fail_at)
            return forkpool_throw(ctx, "net", "connection reset at step %d of %d",
                                  step, spec.steps);
        unsigned char percent = (unsigned char)(step * 100 / spec.steps);
        /* EPIPE means the parent gave up on us (cancel): stop working. */
        if (forkpool_send(ctx, &percent, 1) != 0)
            return forkpool_throw(ctx, "os", "forkpool_send: %s", strerror(errno));
    }
    return forkpool_return(ctx, "ok", 2);
}

static void on_progress(forkpool_task *t, const void *msg, size_t len, void *ud)
{
    (void)t;
    struct job_view *v = ud;
    if (len == 1)
        v->percent = *(const unsigned char *)msg;
}

static void on_done(forkpool_task *t, const void *result, size_t len, void *ud)
{
    (void)t;
    (void)result;
    (void)len;
    struct job_view *v = ud;
    v->state = 'D';
    printf("%-8s finished\n", v->name);
}

static void on_failed(forkpool_task *t, const forkpool_error *err, void *ud)
{
    (void)t;
    struct job_view *v = ud;
    v->state = err->kind == FORKPOOL_ERR_CANCELLED ? 'C' : 'F';
    printf("%-8s %s: %s\n", v->name, forkpool_error_kind_name(err->kind), err->message);
}

static void draw_progress(const struct job_view *views, size_t n, double elapsed)
{
    printf("[%5.2f s]", elapsed);
    for (size_t i = 0; i < n; i++) {
        if (views[i].state == '.')
            printf("  %s %3d%%", views[i].name, views[i].percent);
        else
            printf("  %s %s", views[i].name,
                   views[i].state == 'D' ? "done" : views[i].state == 'F' ? "FAIL" : "cncl");
    }
    printf("\n");
    fflush(stdout);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail with CLOCK_MONOTONIC */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int make_ticker(int period_ms)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (fd < 0)
        return -1;
    struct timespec period = {period_ms / 1000, (long)(period_ms % 1000) * 1000000L};
    struct itimerspec its = {.it_interval = period, .it_value = period};
    if (timerfd_settime(fd, 0, &its, NULL) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Returns 1 if the user asked to cancel, 0 if not, -1 when stdin is done
   (EOF, error, or not open) and should no longer be watched. */
static int read_stdin(void)
{
    char line[256];
    ssize_t n = read(STDIN_FILENO, line, sizeof line);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    return n > 0 ? 1 : -1;
}

/* Submits one job per view; returns how many were submitted. */
static size_t submit_jobs(forkpool *pool, const struct job_spec *specs,
                          struct job_view *views, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        forkpool_task *t = forkpool_run(pool, download_task, &specs[i], sizeof specs[i]);
        if (t == NULL) {
            perror("forkpool_run");
            return i;
        }
        /* Handlers return t, or NULL (ENOMEM) having added nothing. */
        if (forkpool_catch(forkpool_then(forkpool_on_message(t, on_progress, &views[i]),
                                         on_done, &views[i]),
                           on_failed, &views[i]) == NULL)
            perror("adding handlers"); /* the task runs anyway; await counts it if it fails */
        forkpool_task_release(t);
    }
    return n;
}

int main(void)
{
    static const struct job_spec specs[] = {
        {10, 40, -1}, {10, 70, -1}, {10, 25, 6}, {10, 50, -1}, {10, 30, -1}, {10, 90, -1},
    };
    enum { NJOBS = sizeof specs / sizeof specs[0] };
    struct job_view views[NJOBS] = {
        {"alpha", 0, '.'}, {"bravo", 0, '.'}, {"charlie", 0, '.'},
        {"delta", 0, '.'}, {"echo", 0, '.'},  {"foxtrot", 0, '.'},
    };

    forkpool *pool = forkpool_create(&(forkpool_options){.concurrency = 3});
    if (pool == NULL) {
        perror("forkpool_create");
        return 1;
    }
    int ticker = make_ticker(200);
    if (ticker < 0) {
        perror("timerfd");
        forkpool_destroy(pool);
        return 1;
    }
    int status = submit_jobs(pool, specs, views, NJOBS) == NJOBS ? 0 : 1;
    printf("%d downloads, 3 at a time; press Enter to cancel the rest\n", NJOBS);

    struct pollfd fds[3] = {
        {.fd = forkpool_fd(pool), .events = POLLIN},
        {.fd = ticker, .events = POLLIN},
        {.fd = STDIN_FILENO, .events = POLLIN},
    };
    double start = now_s();
    /* forkpool_poll returns how many tasks are still queued or running. */
    int pending = forkpool_poll(pool, 0);
    while (pending > 0) {
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("poll");
            status = 1;
            break;
        }
        if (fds[0].revents & POLLIN)
            pending = forkpool_poll(pool, 0); /* never blocks with timeout 0 */
        if (fds[1].revents & POLLIN) {
            uint64_t expirations;
            if (read(ticker, &expirations, sizeof expirations) == (ssize_t)sizeof expirations)
                draw_progress(views, NJOBS, now_s() - start);
        }
        if (fds[2].revents) {
            int r = read_stdin();
            if (r > 0) {
                printf("cancelling everything still queued or running\n");
                forkpool_stop(pool); /* the catch handlers get FORKPOOL_ERR_CANCELLED */
            }
            if (r < 0)
                fds[2].fd = -1; /* poll() ignores negative fds */
        }
    }
    if (pending < 0) {
        perror("forkpool_poll");
        status = 1;
    }
    draw_progress(views, NJOBS, now_s() - start);

    /* Everything finished; await returns at once with the count of failures no
       handler took (none: every task has a catch handler). */
    if (forkpool_await(pool) != 0)
        status = 1;
    forkpool_destroy(pool);
    close(ticker);
    return status;
}
